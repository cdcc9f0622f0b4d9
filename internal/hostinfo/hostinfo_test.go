package hostinfo

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadTrim(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	os.WriteFile(p, []byte("  6.1.0\n"), 0o644)
	if got := ReadTrim(p); got != "6.1.0" {
		t.Fatalf("ReadTrim = %q", got)
	}
	if got := ReadTrim(p + ".missing"); got != "unknown" {
		t.Fatalf("missing file: %q", got)
	}
}

func TestMachine(t *testing.T) {
	if model, n := CPU(); model == "unknown" || n < 1 {
		t.Fatalf("CPU() = %q, %d", model, n)
	}
	if l := strings.Fields(LoadAvg()); len(l) != 3 {
		t.Fatalf("LoadAvg = %v", l)
	}
	if Kernel() == "unknown" {
		t.Fatal("Kernel unknown")
	}
}
