package vmtest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// useMarker points markerPath at path for the duration of the test.
func useMarker(t *testing.T, path string) {
	t.Helper()
	old := markerPath
	markerPath = path
	t.Cleanup(func() { markerPath = old })
}

func writeMarker(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kernel")
	if err := os.WriteFile(path, []byte("6.1.0-56-cloud-amd64 linux-image-6.1.0-56-cloud-amd64 6.1.192-2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestInVM(t *testing.T) {
	marker := writeMarker(t)
	missing := filepath.Join(t.TempDir(), "absent")
	tests := []struct {
		name   string
		env    string
		marker string
		want   bool
	}{
		{"env and marker", "1", marker, true},
		{"marker without env", "", marker, false},
		{"env other than 1", "true", marker, false},
		{"env without marker", "1", missing, false},
		{"neither", "", missing, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(EnvVar, tt.env)
			useMarker(t, tt.marker)
			if got := InVM(); got != tt.want {
				t.Errorf("InVM() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestKernel(t *testing.T) {
	useMarker(t, writeMarker(t))
	got, err := Kernel()
	if err != nil {
		t.Fatal(err)
	}
	if want := "6.1.0-56-cloud-amd64 linux-image-6.1.0-56-cloud-amd64 6.1.192-2"; got != want {
		t.Errorf("Kernel() = %q, want %q", got, want)
	}

	useMarker(t, filepath.Join(t.TempDir(), "absent"))
	if _, err := Kernel(); !os.IsNotExist(err) {
		t.Errorf("Kernel() without marker: err = %v, want not-exist", err)
	}
}

// fakeTB records how Require reports.
type fakeTB struct {
	skipped, fatal string
}

func (f *fakeTB) Helper()                           {}
func (f *fakeTB) Skipf(format string, args ...any)  { f.skipped = fmt.Sprintf(format, args...) }
func (f *fakeTB) Fatalf(format string, args ...any) { f.fatal = fmt.Sprintf(format, args...) }

func TestRequire(t *testing.T) {
	useMarker(t, filepath.Join(t.TempDir(), "absent"))
	t.Setenv(EnvVar, "")

	t.Setenv("CI", "")
	f := &fakeTB{}
	Require(f)
	if !strings.Contains(f.skipped, "make test-vm") || f.fatal != "" {
		t.Errorf("outside the VM without CI: skipped %q, fatal %q", f.skipped, f.fatal)
	}

	t.Setenv("CI", "true")
	f = &fakeTB{}
	Require(f)
	if !strings.Contains(f.fatal, "make test-vm") || f.skipped != "" {
		t.Errorf("outside the VM with CI=true: skipped %q, fatal %q", f.skipped, f.fatal)
	}

	useMarker(t, writeMarker(t))
	t.Setenv(EnvVar, "1")
	f = &fakeTB{}
	Require(f)
	if f.fatal != "" || f.skipped != "" {
		t.Errorf("inside the VM with CI=true: skipped %q, fatal %q", f.skipped, f.fatal)
	}
}
