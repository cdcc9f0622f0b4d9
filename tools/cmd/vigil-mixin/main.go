// Command vigil-mixin writes vigil's Prometheus rules (alerts/vigil.rules.yml)
// and Grafana dashboards (dashboards/*.json) into a vigil checkout.
//
//	cd tools && go run ./cmd/vigil-mixin -job-selector 'job="vigil"'
//
// The committed files are generated with the defaults; the tests of this
// module fail when they are stale. An installation whose vigil targets are
// scraped under another job generates its own copy with -job-selector and
// -out.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/vigil-lb/vigil/tools/mixin"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "vigil-mixin:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	cfg := mixin.DefaultConfig()
	fs := flag.NewFlagSet("vigil-mixin", flag.ContinueOnError)
	fs.StringVar(&cfg.JobSelector, "job-selector", cfg.JobSelector, "label matchers, without braces, selecting vigil's scrape targets in every rule")
	fs.DurationVar(&cfg.OverrideMaxAge, "override-max-age", cfg.OverrideMaxAge, "how long an actuator override may be held before VigilActuatorOverrideHeldTooLong fires")
	fs.DurationVar(&cfg.MySQLMaxReplicaLag, "mysql-max-replica-lag", cfg.MySQLMaxReplicaLag, "replication lag above which VigilMySQLReplicaLagging fires")
	fs.DurationVar(&cfg.CheckLateness, "check-lateness", cfg.CheckLateness, "99th percentile of check scheduling lateness above which VigilCheckSchedulingLate fires")
	fs.IntVar(&cfg.FlapTakeovers, "flap-takeovers", cfg.FlapTakeovers, "takeovers of one VRRP instance per hour above which VigilVRRPFlapping fires")
	out := fs.String("out", "..", "root of the vigil checkout to write alerts/ and dashboards/ into")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	files, err := cfg.Files()
	if err != nil {
		return err
	}
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		full := filepath.Join(*out, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(full, files[p], 0o644); err != nil {
			return fmt.Errorf("writing %q: %w", full, err)
		}
		fmt.Println("wrote", full)
	}
	return nil
}
