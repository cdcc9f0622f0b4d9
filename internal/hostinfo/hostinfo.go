// Package hostinfo reads the machine facts the benchmark reports print
// next to their numbers: kernel, CPU model and count, load average.
package hostinfo

import (
	"bufio"
	"os"
	"strings"
)

// ReadTrim returns the trimmed content of a small file, "unknown" if it
// cannot be read.
func ReadTrim(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}

// Kernel returns the running kernel's release.
func Kernel() string { return ReadTrim("/proc/sys/kernel/osrelease") }

// LoadAvg returns the 1, 5 and 15 minute load averages.
func LoadAvg() string {
	f := strings.Fields(ReadTrim("/proc/loadavg"))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// CPU returns the first "model name" of /proc/cpuinfo and the number of
// processors listed.
func CPU() (model string, n int) {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown", 0
	}
	defer f.Close()
	model = "unknown"
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "processor":
			n++
		case "model name":
			if model == "unknown" {
				model = strings.TrimSpace(v)
			}
		}
	}
	return model, n
}
