package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/tools/mixin"
)

func TestRunWritesEveryFile(t *testing.T) {
	dir := t.TempDir()
	if err := run([]string{"-out", dir, "-job-selector", `job="lb"`, "-override-max-age", "2h"}); err != nil {
		t.Fatal(err)
	}
	cfg := mixin.DefaultConfig()
	cfg.JobSelector = `job="lb"`
	cfg.OverrideMaxAge = 2 * time.Hour
	want, err := cfg.Files()
	if err != nil {
		t.Fatal(err)
	}
	for p, content := range want {
		got, err := os.ReadFile(filepath.Join(dir, p))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, content) {
			t.Errorf("%s differs from Files()", p)
		}
	}
	rules, _ := os.ReadFile(filepath.Join(dir, mixin.RulesPath))
	if !bytes.Contains(rules, []byte(`vigil_actuator_override_age_seconds{job="lb"} > 7200`)) {
		t.Error("flags did not reach the rules")
	}
}

func TestRunRejectsBadInput(t *testing.T) {
	for _, args := range [][]string{
		{"-job-selector", `{job="vigil"}`},
		{"-job-selector", `job=`},
		{"-flap-takeovers", "0"},
		{"-nope"},
		{"extra"},
	} {
		if err := run(append([]string{"-out", t.TempDir()}, args...)); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}
