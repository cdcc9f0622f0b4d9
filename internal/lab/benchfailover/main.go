// Command benchfailover measures failover of vigil and keepalived 2.2.7 in
// the namespace lab (internal/lab) and writes docs/benchmarks.md:
//
//	go run ./internal/lab/benchfailover -out docs/benchmarks.md   # make bench-failover
//	go run ./internal/lab/benchfailover -quick                    # smoke run to stdout
//
// Both implementations run through the same harness: two directors and a
// client, director1 master (priority 150), director2 backup (priority 100),
// one VIP. For each event (kill -9 of the master, the master's link down,
// SIGTERM of the master) and advert interval, it records from the client's
// namespace director2's first advert and first gratuitous ARP, and the
// client's longest ping gap, and compares the takeover with the RFC's
// Master_Down_Interval or Skew_Time. It also measures the idle CPU and
// memory of 1 and 50 virtual routers. It needs root, ip(8) and keepalived
// (scripts/install-deps.sh).
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/vigil-lb/vigil/internal/atomicfile"
	"github.com/vigil-lb/vigil/internal/hostinfo"

	"github.com/vigil-lb/vigil/internal/lab"
)

// options are the command-line flags.
type options struct {
	Reps       int
	Out        string
	Quick      bool
	IdleWindow time.Duration
	PingEvery  time.Duration
	// Only restricts the failover runs to events, implementations and
	// intervals whose names it lists (comma-separated, e.g.
	// "SIGTERM,vigil,v3 100ms"); NoIdle skips the idle measurement. Both
	// are for reproducing one finding quickly.
	Only   string
	NoIdle bool
	Args   []string // as given, for the report
}

func main() {
	var o options
	fs := flag.NewFlagSet("benchfailover", flag.ExitOnError)
	fs.IntVar(&o.Reps, "reps", 5, "repetitions of every failover case")
	fs.StringVar(&o.Out, "out", "", "write the Markdown report to this file (default: standard output)")
	fs.BoolVar(&o.Quick, "quick", false, "smoke run: 1 repetition, VRRPv3 100ms only, shorter idle measurement")
	fs.DurationVar(&o.IdleWindow, "idle-window", 20*time.Second, "how long idle CPU is measured")
	fs.DurationVar(&o.PingEvery, "ping-every", 5*time.Millisecond, "client ping interval")
	fs.StringVar(&o.Only, "only", "", `run only the failover cases matching these comma-separated names of events ("kill -9", "link down", SIGTERM), implementations (vigil, keepalived) and intervals ("v2 1s", "v3 100ms", ...); a dimension not named is not restricted`)
	fs.BoolVar(&o.NoIdle, "no-idle", false, "skip the idle CPU and memory measurement")
	fs.Parse(os.Args[1:])
	o.Args = os.Args[1:]
	if o.Quick {
		o.Reps = 1
		if !flagSet(fs, "idle-window") {
			o.IdleWindow = 5 * time.Second
		}
	}
	if o.Reps < 1 || o.IdleWindow <= 0 || o.PingEvery <= 0 {
		fmt.Fprintln(os.Stderr, "benchfailover: -reps, -idle-window and -ping-every must be positive")
		os.Exit(2)
	}

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, logger); err != nil {
		logger.Error("benchfailover failed", "err", err)
		os.Exit(1)
	}
}

func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// cases returns the advert intervals of the failover runs and the idle
// configurations.
func cases(quick bool) (protos []proto, idleCounts []int, idleProtos []proto) {
	v3 := func(d time.Duration) proto { return proto{Version: 3, Interval: d} }
	if quick {
		return []proto{v3(100 * time.Millisecond)}, []int{1, 50}, []proto{v3(100 * time.Millisecond)}
	}
	return []proto{{Version: 2, Interval: time.Second}, v3(100 * time.Millisecond), v3(50 * time.Millisecond), v3(10 * time.Millisecond)},
		[]int{1, 50}, []proto{v3(time.Second), v3(100 * time.Millisecond)}
}

// run builds vigil, builds the lab, runs every case and writes the report.
func run(ctx context.Context, o options, logger *slog.Logger) error {
	started := time.Now()
	loadStart := loadAvg()
	// The session removes everything the benchmark created, also when a
	// lab step fails (Fatalf exits through it).
	s := lab.NewSession(logger)
	defer s.Close()
	lab.Require(s, "root", "ip", "keepalived")
	hz, err := clockTicks()
	if err != nil {
		return fmt.Errorf("reading USER_HZ: %w", err)
	}

	vigilBin := filepath.Join(s.TempDir(), "vigil")
	logger.Info("building vigil", "path", vigilBin)
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", vigilBin, "github.com/vigil-lb/vigil/cmd/vigil").CombinedOutput(); err != nil {
		return fmt.Errorf("building vigil: %w\n%s", err, out)
	}

	topo := lab.New(s, lab.Options{})
	b := &bench{tb: s, log: logger, d1: topo.Host("director1"), d2: topo.Host("director2"), cl: topo.Host("client"), pingEvery: o.PingEvery}
	b.cap, err = startCapture(b.cl)
	if err != nil {
		return err
	}
	defer b.cap.close()

	impls := []implementation{vigilImpl{bin: vigilBin}, keepalivedImpl{}}
	protos, idleCounts, idleProtos := cases(o.Quick)
	r := &report{
		Reps:       o.Reps,
		ClockTicks: hz,
		PingEvery:  o.PingEvery,
		IdleWindow: o.IdleWindow,
		Protos:     protos,
		Command:    "go run ./internal/lab/benchfailover " + strings.Join(o.Args, " "),
	}
	for _, impl := range impls {
		r.Impls = append(r.Impls, impl.Name())
	}

	// Which implementation accepts which interval.
	rejected := map[string]string{}
	key := func(impl implementation, p proto) string { return impl.Name() + " " + p.String() }
	for _, impl := range impls {
		for _, p := range protos {
			spec, _ := failoverSpecs(p)
			if err := impl.Check(ctx, b.d1, spec); err != nil {
				rejected[key(impl, p)] = err.Error()
				logger.Warn("implementation refuses interval", "impl", impl.Name(), "proto", p, "err", err)
			}
		}
	}
	sel := newSelection(o.Only)
	for n := range sel.names {
		if dimensionOf(n) < 0 {
			return fmt.Errorf("-only: unknown name %q", n)
		}
	}
	for _, ev := range events {
		for _, p := range protos {
			for _, impl := range impls {
				if sel.match(string(ev), impl.Name(), p.String()) {
					r.Cases = append(r.Cases, failoverCase{Event: ev, Impl: impl.Name(), Proto: p, Rejected: rejected[key(impl, p)]})
				}
			}
		}
	}
	if len(r.Cases) == 0 {
		return fmt.Errorf("-only %q matches no failover case", o.Only)
	}
	if o.NoIdle {
		idleProtos = nil
	}

	total := 0
	for _, c := range r.Cases {
		if c.Rejected == "" {
			total += o.Reps
		}
	}
	done := 0
	// Repetitions outermost, so that slow drift of the machine spreads
	// over every case instead of biasing one.
	for rep := 1; rep <= o.Reps; rep++ {
		for i := range r.Cases {
			c := &r.Cases[i]
			if c.Rejected != "" {
				continue
			}
			impl := implByName(impls, c.Impl)
			res := b.runFailover(ctx, impl, c.Proto, c.Event, rep)
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("interrupted: %w", err)
			}
			c.Runs = append(c.Runs, res)
			done++
			logger.Info("run", "n", fmt.Sprintf("%d/%d", done, total), "event", c.Event, "impl", c.Impl, "proto", c.Proto,
				"advert_ms", optMS(res.HaveAdvert, res.Advert), "garp_ms", optMS(res.HaveGARP, res.GARP),
				"outage_ms", ms(res.Outage), "lost", res.Lost, "over_bound_ms", optMS(res.HaveDetection, res.Detection-res.Bound),
				"err", res.Err, "notes", strings.Join(res.Notes, "; "))
		}
	}

	for _, p := range idleProtos {
		for _, n := range idleCounts {
			for _, impl := range impls {
				spec, _, _ := idleSpecs(n, p)
				var ir idleResult
				if err := impl.Check(ctx, b.d1, spec); err != nil {
					ir = idleResult{Impl: impl.Name(), Instances: n, Proto: p, Err: "refused: " + err.Error()}
				} else {
					logger.Info("idle", "impl", impl.Name(), "instances", n, "proto", p, "window", o.IdleWindow)
					ir = b.runIdle(ctx, impl, n, p, o.IdleWindow, hz)
				}
				if err := ctx.Err(); err != nil {
					return fmt.Errorf("interrupted: %w", err)
				}
				logger.Info("idle", "impl", ir.Impl, "instances", n, "proto", p,
					"master_cpu_pct", fmt.Sprintf("%.2f", ir.MasterCPU), "master_rss_mib", fmt.Sprintf("%.1f", mib(ir.MasterRSS)),
					"backup_cpu_pct", fmt.Sprintf("%.2f", ir.BackupCPU), "adverts_per_s", fmt.Sprintf("%.1f", ir.AdvertRate), "err", ir.Err)
				r.Idle = append(r.Idle, ir)
			}
		}
	}

	r.Date = time.Now()
	r.Took = time.Since(started)
	r.LoadStart, r.LoadEnd = loadStart, loadAvg()
	r.Kernel = readTrim("/proc/sys/kernel/osrelease")
	r.CPUModel, r.CPUs = cpuInfo()
	r.GoVersion = runtime.Version()
	r.VigilRevision = gitRevision(ctx)
	if v, err := lab.KeepalivedVersion(ctx); err == nil {
		r.KeepalivedVersion = v
	} else {
		r.KeepalivedVersion = "unknown: " + err.Error()
	}

	var buf bytes.Buffer
	if err := r.render(&buf); err != nil {
		return fmt.Errorf("writing the report: %w", err)
	}
	if o.Out == "" {
		if _, err := os.Stdout.Write(buf.Bytes()); err != nil {
			return err
		}
	} else {
		// Other benchmarks (make bench-ipvs, bench-actuator) own sections
		// of the same file between <!-- NAME:start --> and <!-- NAME:end -->
		// markers: keep them. The file is replaced atomically, so an
		// interrupted write cannot lose them.
		if old, err := os.ReadFile(o.Out); err == nil {
			if kept := markedSections(old); len(kept) > 0 {
				buf.WriteString("\n")
				buf.Write(kept)
			}
		}
		if err := atomicfile.WriteFile(o.Out, buf.Bytes(), 0o644); err != nil {
			return fmt.Errorf("writing the report: %w", err)
		}
	}
	for _, f := range r.findings() {
		logger.Warn("finding", "what", f)
	}
	logger.Info("done", "took", r.Took.Round(time.Second), "out", o.Out)
	return nil
}

// selection is the parsed -only flag.
type selection struct{ names map[string]bool }

func newSelection(only string) selection {
	s := selection{names: map[string]bool{}}
	for _, n := range strings.Split(only, ",") {
		if n = strings.TrimSpace(n); n != "" {
			s.names[n] = true
		}
	}
	return s
}

// match reports whether a case with these names (one per dimension:
// event, implementation, interval) is selected: in each dimension, either
// its name is listed or no name of that dimension is.
func (s selection) match(dims ...string) bool {
	for i, name := range dims {
		if s.names[name] {
			continue
		}
		listed := false
		for n := range s.names {
			if dimensionOf(n) == i {
				listed = true
			}
		}
		if listed {
			return false
		}
	}
	return true
}

// dimensionOf says which dimension a name belongs to: 0 event, 1
// implementation, 2 interval, -1 unknown.
func dimensionOf(name string) int {
	for _, ev := range events {
		if string(ev) == name {
			return 0
		}
	}
	switch {
	case name == "vigil" || name == "keepalived":
		return 1
	case strings.HasPrefix(name, "v2 ") || strings.HasPrefix(name, "v3 "):
		return 2
	}
	return -1
}

func implByName(impls []implementation, name string) implementation {
	for _, i := range impls {
		if i.Name() == name {
			return i
		}
	}
	panic("benchfailover: no implementation " + name)
}

// gitRevision describes the working tree the benchmarked vigil was built
// from.
func gitRevision(ctx context.Context) string {
	out, err := exec.CommandContext(ctx, "git", "describe", "--tags", "--always", "--dirty").Output()
	if err != nil {
		return "unknown (not a git checkout)"
	}
	return strings.TrimSpace(string(out))
}

// markedSectionRE matches a section another tool owns.
var markedSectionRE = regexp.MustCompile(`(?s)<!-- ([a-z0-9-]+):start -->.*?<!-- ([a-z0-9-]+):end -->\n?`)

// markedSections returns the marked sections of an earlier report, in
// order.
func markedSections(b []byte) []byte {
	var out []byte
	for _, m := range markedSectionRE.FindAll(b, -1) {
		out = append(out, m...)
		if out[len(out)-1] != '\n' {
			out = append(out, '\n')
		}
		out = append(out, '\n')
	}
	return out
}

func readTrim(path string) string { return hostinfo.ReadTrim(path) }
func loadAvg() string             { return hostinfo.LoadAvg() }
func cpuInfo() (string, int)      { return hostinfo.CPU() }
