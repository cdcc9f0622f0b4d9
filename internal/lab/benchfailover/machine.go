package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"
)

// cpuTimes is the first line of /proc/stat: time every CPU spent, in clock
// ticks.
type cpuTimes struct {
	busy, total uint64
}

// readCPUTimes reads the aggregate "cpu" line of /proc/stat (proc(5)):
// user nice system idle iowait irq softirq steal ...; idle and iowait are
// not busy.
func readCPUTimes() (cpuTimes, error) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return cpuTimes{}, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return cpuTimes{}, errors.New("/proc/stat: empty")
	}
	return parseCPULine(sc.Text())
}

func parseCPULine(line string) (cpuTimes, error) {
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return cpuTimes{}, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	var t cpuTimes
	// Fields 1..8: user nice system idle iowait irq softirq steal. Guest
	// time (9, 10) is already counted in user and nice.
	for i := 1; i <= 8; i++ {
		v, err := strconv.ParseUint(f[i], 10, 64)
		if err != nil {
			return cpuTimes{}, fmt.Errorf("/proc/stat: %w", err)
		}
		t.total += v
		if i != 4 && i != 5 {
			t.busy += v
		}
	}
	return t, nil
}

// busyFraction returns the share of all CPUs' time that was busy between
// two readings, 0..1.
func busyFraction(from, to cpuTimes) float64 {
	if to.total <= from.total {
		return 0
	}
	return float64(to.busy-from.busy) / float64(to.total-from.total)
}

// Quiet-machine guard. The benchmark's own work (two idle daemons, the
// pinger, the capture) is a few percent of one CPU; other work on a shared
// machine (a fuzzer, a race-enabled test run) delays the pinger and the
// daemons alike and turns timings into scheduling noise. Before each run the
// benchmark therefore waits until the machine is quiet, and it records how
// busy the machine was during the run.
const (
	// quietBusy is the busy share of all CPUs below which the machine
	// counts as quiet.
	quietBusy = 0.25
	// quietSample is how long one busy measurement takes.
	quietSample = 500 * time.Millisecond
	// quietMaxWait is how long to wait for quiet before running anyway
	// (the run then carries a note).
	quietMaxWait = 5 * time.Minute
	// busyNote is the busy share during a run above which the run is
	// flagged.
	busyNote = 0.5
)

// waitQuiet waits until the machine is quiet or quietMaxWait passes, and
// returns how long it waited and the last busy share seen.
func waitQuiet(ctx context.Context, logger *slog.Logger) (time.Duration, float64, error) {
	start := time.Now()
	logged := false
	for {
		a, err := readCPUTimes()
		if err != nil {
			return 0, 0, err
		}
		select {
		case <-ctx.Done():
			return time.Since(start), 0, ctx.Err()
		case <-time.After(quietSample):
		}
		b, err := readCPUTimes()
		if err != nil {
			return 0, 0, err
		}
		busy := busyFraction(a, b)
		waited := time.Since(start)
		if busy < quietBusy || waited > quietMaxWait {
			if logged {
				logger.Info("machine quiet again", "waited", waited.Round(time.Second), "busy_pct", fmt.Sprintf("%.0f", busy*100))
			}
			return waited, busy, nil
		}
		if !logged {
			logger.Warn("machine busy with other work; waiting before the next run", "busy_pct", fmt.Sprintf("%.0f", busy*100), "quiet_below_pct", quietBusy*100)
			logged = true
		}
	}
}
