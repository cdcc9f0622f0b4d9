package main

import (
	"context"
	"os/exec"
	"runtime"
	"strconv"
	"strings"

	"github.com/vigil-lb/vigil/internal/hostinfo"
)

// Machine describes where the benchmark ran.
type Machine struct {
	Kernel    string
	CPUModel  string
	CPUs      int
	GoVersion string
	Revision  string
	QEMU      string
	LoadStart string
	LoadEnd   string
	// Busy is the busy share of all host CPUs (0..1) while each part ran:
	// the machine may be shared, and other work shows up as noise.
	Busy map[string]float64
	// Waits say how long each part waited for a quiet host.
	Waits []string
}

// cpuTimes is the aggregate "cpu" line of /proc/stat, in clock ticks.
type cpuTimes struct{ busy, total uint64 }

// readCPUTimes reads /proc/stat's first line (proc(5)): user nice system
// idle iowait irq softirq steal; idle and iowait are not busy.
func readCPUTimes() (cpuTimes, bool) {
	f := strings.Fields(firstLine("/proc/stat"))
	if len(f) < 9 || f[0] != "cpu" {
		return cpuTimes{}, false
	}
	var t cpuTimes
	for i := 1; i <= 8; i++ {
		v, err := strconv.ParseUint(f[i], 10, 64)
		if err != nil {
			return cpuTimes{}, false
		}
		t.total += v
		if i != 4 && i != 5 {
			t.busy += v
		}
	}
	return t, true
}

func busyBetween(a, b cpuTimes) float64 {
	if b.total <= a.total {
		return 0
	}
	return float64(b.busy-a.busy) / float64(b.total-a.total)
}

func firstLine(path string) string {
	s, _, _ := strings.Cut(readTrim(path), "\n")
	return s
}

func machineFacts(ctx context.Context, root string) Machine {
	m := Machine{Kernel: readTrim("/proc/sys/kernel/osrelease"), GoVersion: runtime.Version()}
	m.CPUModel, m.CPUs = cpuInfo()
	cmd := exec.CommandContext(ctx, "git", "describe", "--tags", "--always", "--dirty")
	cmd.Dir = root
	if out, err := cmd.Output(); err == nil {
		m.Revision = strings.TrimSpace(string(out))
	} else {
		m.Revision = "unknown (not a git checkout)"
	}
	if out, err := exec.CommandContext(ctx, "qemu-system-x86_64", "--version").Output(); err == nil {
		m.QEMU, _, _ = strings.Cut(strings.TrimSpace(string(out)), "\n")
	}
	return m
}

func readTrim(path string) string { return hostinfo.ReadTrim(path) }
func loadAvg() string             { return hostinfo.LoadAvg() }
func cpuInfo() (string, int)      { return hostinfo.CPU() }
