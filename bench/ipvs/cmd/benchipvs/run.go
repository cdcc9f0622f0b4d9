package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	ipvsbench "github.com/vigil-lb/vigil/bench/ipvs"
)

// Report is everything one run of the driver measured.
type Report struct {
	Opts     Options
	Date     time.Time
	Took     time.Duration
	Machine  Machine
	Commands []string // what was run, shell-quoted, in order

	Table      *ipvsbench.TableResult
	Profiles   []Profile
	Capacity   *ipvsbench.CapacityResult
	CapTargets string // how the targets were laid out
	Scrape     []ScrapeResult
}

// Run runs the selected parts and writes the report.
func Run(ctx context.Context, o Options, logger *slog.Logger) error {
	root, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	r := &Report{Opts: o, Date: time.Now().UTC()}
	start := time.Now()
	load0 := loadAvg()
	busy := map[string]float64{}
	for _, part := range partNames {
		if !o.Only[part] {
			continue
		}
		waited, quiet, err := waitQuiet(ctx, logger)
		if err != nil {
			return err
		}
		r.Machine.Waits = append(r.Machine.Waits, fmt.Sprintf("%s: waited %s, busy %.0f%% before starting", part, waited.Round(time.Second), 100*quiet))
		c0, ok0 := readCPUTimes()
		if err := partRunners[part](ctx, r, root, logger); err != nil {
			return fmt.Errorf("%s: %w", part, err)
		}
		if c1, ok1 := readCPUTimes(); ok0 && ok1 {
			busy[part] = busyBetween(c0, c1)
		}
	}
	r.Took = time.Since(start)
	waits := r.Machine.Waits
	r.Machine = machineFacts(ctx, root)
	r.Machine.Waits = waits
	r.Machine.LoadStart, r.Machine.LoadEnd = load0, loadAvg()
	r.Machine.Busy = busy

	section := r.render()
	if o.Doc == "" {
		_, err := os.Stdout.WriteString(section)
		return err
	}
	doc := o.Doc
	if !filepath.IsAbs(doc) {
		doc = filepath.Join(root, doc)
	}
	if err := replaceSectionInFile(doc, section); err != nil {
		return err
	}
	logger.Info("done", "took", r.Took.Round(time.Second), "doc", doc)
	return nil
}

// partNames are the parts in the order they run.
var partNames = []string{"table", "capacity", "scrape"}

var partRunners = map[string]func(context.Context, *Report, string, *slog.Logger) error{
	"table": func(ctx context.Context, r *Report, root string, logger *slog.Logger) error {
		logger.Info("table: IPVS table in the test VM, vigil and ipvsadm", "services", r.Opts.Services, "dests", r.Opts.Dests, "runs", r.Opts.Runs)
		return runTable(ctx, r, root, logger)
	},
	"capacity": func(ctx context.Context, r *Report, _ string, logger *slog.Logger) error {
		logger.Info("capacity: TCP checks against listeners in a network namespace",
			"checks", r.Opts.CheckAddrs*r.Opts.CheckPorts, "window", r.Opts.Window)
		return runCapacity(ctx, r, logger)
	},
	"scrape": func(ctx context.Context, r *Report, root string, logger *slog.Logger) error {
		logger.Info("scrape: BenchmarkScrapeLB1000x10")
		return runScrape(ctx, r, root, logger)
	},
}

// Quiet-machine guard: the machine may be shared, and other work slows the
// emulated VM and the host benchmarks alike. Before each part the driver
// waits until the host is quiet, for at most quietMaxWait.
const (
	quietBusy    = 0.30 // busy share of all CPUs below which the host counts as quiet
	quietSample  = time.Second
	quietMaxWait = 5 * time.Minute
)

// waitQuiet waits for a quiet host and returns how long it waited and the
// last busy share seen.
func waitQuiet(ctx context.Context, logger *slog.Logger) (time.Duration, float64, error) {
	start := time.Now()
	logged := false
	for {
		a, ok := readCPUTimes()
		if !ok {
			return 0, 0, nil
		}
		select {
		case <-ctx.Done():
			return time.Since(start), 0, ctx.Err()
		case <-time.After(quietSample):
		}
		b, _ := readCPUTimes()
		busy := busyBetween(a, b)
		if busy < quietBusy || time.Since(start) > quietMaxWait {
			return time.Since(start), busy, nil
		}
		if !logged {
			logger.Warn("host busy with other work; waiting", "busy_pct", fmt.Sprintf("%.0f", 100*busy), "quiet_below_pct", 100*quietBusy)
			logged = true
		}
	}
}

// moduleRoot is the directory of vigil's go.mod: commands run from there.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the vigil module (go env GOMOD is empty)")
	}
	return filepath.Dir(mod), nil
}

// shellQuote quotes a word for sh when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=,+@%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// commandLine renders env and argv as one shell line.
func commandLine(env []string, argv []string) string {
	var w []string
	for _, e := range env {
		k, v, _ := strings.Cut(e, "=")
		w = append(w, k+"="+shellQuote(v))
	}
	for _, a := range argv {
		w = append(w, shellQuote(a))
	}
	return strings.Join(w, " ")
}

// goCmd returns a go command run in root with extra environment.
func goCmd(ctx context.Context, root string, env []string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	return cmd
}

// runLogged runs cmd, returning its standard output; stderr goes to ours.
func runLogged(cmd *exec.Cmd) ([]byte, error) {
	var out bytes.Buffer
	cmd.Stdout = &out
	err := cmd.Run()
	return out.Bytes(), err
}
