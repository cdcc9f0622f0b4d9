package ipvsbench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigil-lb/vigil/check"
)

// Targets returns addrs × ports TCP targets on loopback: 127.1.a.b (the
// 127/8 block is local on lo in any network namespace) and ports from
// basePort on.
func Targets(addrs, ports int, basePort uint16) []netip.AddrPort {
	out := make([]netip.AddrPort, 0, addrs*ports)
	for a := range addrs {
		ip := netip.AddrFrom4([4]byte{127, 1, byte((a + 1) >> 8), byte(a + 1)})
		for p := range ports {
			out = append(out, netip.AddrPortFrom(ip, basePort+uint16(p)))
		}
	}
	return out
}

// RaiseNoFile raises RLIMIT_NOFILE to at least n open files, raising the
// hard limit too when it is lower (which needs CAP_SYS_RESOURCE).
func RaiseNoFile(n uint64) error {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("getrlimit: %w", err)
	}
	if lim.Cur >= n {
		return nil
	}
	lim.Cur = max(lim.Cur, n)
	lim.Max = max(lim.Max, n)
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("raising RLIMIT_NOFILE to %d: %w", n, err)
	}
	return nil
}

// CPUTime returns the CPU time (user plus system) the calling process has
// used.
func CPUTime() (user, sys time.Duration) {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		panic(fmt.Sprintf("getrusage: %v", err))
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}

// Serve listens on every target, accepts connections and closes them at
// once, until ctx is done. ready is called once all listeners are open.
// It is the real-server side of the capacity benchmark.
func Serve(ctx context.Context, targets []netip.AddrPort, ready func()) error {
	var lc net.ListenConfig
	ls := make([]net.Listener, 0, len(targets))
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for _, t := range targets {
		l, err := lc.Listen(ctx, "tcp", t.String())
		if err != nil {
			return fmt.Errorf("listening on %s (%d open): %w", t, len(ls), err)
		}
		ls = append(ls, l)
	}
	var wg sync.WaitGroup
	for _, l := range ls {
		wg.Go(func() {
			for {
				c, err := l.Accept()
				if err != nil {
					if errors.Is(err, net.ErrClosed) {
						return
					}
					continue // EMFILE and the like: keep serving
				}
				c.Close()
			}
		})
	}
	ready()
	<-ctx.Done()
	for _, l := range ls {
		l.Close()
	}
	ls = nil
	wg.Wait()
	return nil
}

// ServeStdio is Serve for a child process: it prints "ready" once
// listening, then answers every line read from in with the process's CPU
// time so far in nanoseconds, and returns at end of input.
func ServeStdio(ctx context.Context, targets []netip.AddrPort, in io.Reader, out io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	ready := make(chan struct{})
	go func() { errc <- Serve(ctx, targets, func() { close(ready) }) }()
	select {
	case err := <-errc:
		return err
	case <-ready:
	}
	fmt.Fprintln(out, "ready")
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		u, s := CPUTime()
		fmt.Fprintln(out, int64(u+s))
	}
	cancel()
	return <-errc
}

// CapacityOptions configure RunCapacity.
type CapacityOptions struct {
	Targets  []netip.AddrPort
	Interval time.Duration
	// Warmup passes before the measured Window starts: the scheduler
	// spreads first runs over one interval.
	Warmup time.Duration
	Window time.Duration
	// ListenerCPU, if set, returns the CPU time the listeners' process has
	// used so far; it is read at both ends of the window.
	ListenerCPU func() (time.Duration, error)
}

// CapacityResult is what RunCapacity measured over the window.
type CapacityResult struct {
	Checks     int           `json:"checks"`
	Interval   time.Duration `json:"interval"`
	Warmup     time.Duration `json:"warmup"`
	Window     time.Duration `json:"window"`
	Wall       time.Duration `json:"wall"` // measured length of the window
	GOMAXPROCS int           `json:"gomaxprocs"`
	// User and Sys are the CPU time of the checking process.
	User time.Duration `json:"user"`
	Sys  time.Duration `json:"sys"`
	// ListenerCPU is the CPU time of the listeners' process.
	ListenerCPU time.Duration `json:"listener_cpu"`
	// Lateness is every LatenessObserver observation in the window,
	// summarized.
	Runs         int           `json:"runs"`
	LatenessP50  time.Duration `json:"lateness_p50"`
	LatenessP99  time.Duration `json:"lateness_p99"`
	LatenessP999 time.Duration `json:"lateness_p999"`
	LatenessMax  time.Duration `json:"lateness_max"`
	// Attempts by outcome, and runs skipped, between snapshots at the
	// window's ends.
	Results     map[string]uint64 `json:"results"`
	SkippedRuns uint64            `json:"skipped_runs"`
	// RSS and PeakRSS (VmRSS and VmHWM) at the end of the window, bytes.
	RSS        int64  `json:"rss"`
	PeakRSS    int64  `json:"peak_rss"`
	Goroutines int    `json:"goroutines"`
	GCCycles   uint32 `json:"gc_cycles"`
}

// CPUPercent is the checking process's CPU use in percent of one core.
func (r CapacityResult) CPUPercent() float64 {
	if r.Wall <= 0 {
		return 0
	}
	return 100 * float64(r.User+r.Sys) / float64(r.Wall)
}

// ListenerCPUPercent is the listeners' CPU use in percent of one core.
func (r CapacityResult) ListenerCPUPercent() float64 {
	if r.Wall <= 0 {
		return 0
	}
	return 100 * float64(r.ListenerCPU) / float64(r.Wall)
}

// RunCapacity runs one TCP check per target on a check.Scheduler, as the
// daemon would, and measures the checking process over opts.Window after
// opts.Warmup. Lateness observations are recorded in memory (a mutex and
// an append, about what a histogram's Observe costs).
func RunCapacity(ctx context.Context, opts CapacityOptions) (CapacityResult, error) {
	res := CapacityResult{Checks: len(opts.Targets), Interval: opts.Interval, Warmup: opts.Warmup,
		Window: opts.Window, GOMAXPROCS: runtime.GOMAXPROCS(0)}
	var (
		recording atomic.Bool
		mu        sync.Mutex
		lateness  = make([]time.Duration, 0, int(float64(len(opts.Targets))*opts.Window.Seconds()/opts.Interval.Seconds()*1.2))
	)
	s := &check.Scheduler{
		LatenessObserver: func(_ string, d time.Duration) {
			if !recording.Load() {
				return
			}
			mu.Lock()
			lateness = append(lateness, d)
			mu.Unlock()
		},
	}
	checks := make([]check.Check, len(opts.Targets))
	for i, t := range opts.Targets {
		checks[i] = check.Check{ID: "rs-" + strconv.Itoa(i) + "-tcp", Target: t, Prober: check.TCP{}, Interval: opts.Interval, InitialUp: true}
	}
	if err := s.Set(checks); err != nil {
		return res, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()

	sleep := func(d time.Duration) error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
			return nil
		}
	}
	if err := sleep(opts.Warmup); err != nil {
		return res, err
	}
	before := totals(s.Snapshot())
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	var l0, l1 time.Duration
	if opts.ListenerCPU != nil {
		var err error
		if l0, err = opts.ListenerCPU(); err != nil {
			return res, err
		}
	}
	u0, s0 := CPUTime()
	t0 := time.Now()
	recording.Store(true)
	if err := sleep(opts.Window); err != nil {
		return res, err
	}
	recording.Store(false)
	res.Wall = time.Since(t0)
	u1, s1 := CPUTime()
	if opts.ListenerCPU != nil {
		var err error
		if l1, err = opts.ListenerCPU(); err != nil {
			return res, err
		}
	}
	res.User, res.Sys, res.ListenerCPU = u1-u0, s1-s0, l1-l0
	res.RSS, res.PeakRSS = procStatusBytes("VmRSS"), procStatusBytes("VmHWM")
	res.Goroutines = runtime.NumGoroutine()
	runtime.ReadMemStats(&ms1)
	res.GCCycles = ms1.NumGC - ms0.NumGC
	after := totals(s.Snapshot())
	cancel()
	<-done

	mu.Lock()
	obs := slices.Clone(lateness)
	mu.Unlock()
	slices.Sort(obs)
	res.Runs = len(obs)
	if len(obs) > 0 {
		res.LatenessP50 = quantileSorted(obs, 0.50)
		res.LatenessP99 = quantileSorted(obs, 0.99)
		res.LatenessP999 = quantileSorted(obs, 0.999)
		res.LatenessMax = obs[len(obs)-1]
	}
	res.Results = map[string]uint64{}
	for k, v := range after.results {
		res.Results[k] = v - before.results[k]
	}
	res.SkippedRuns = after.skipped - before.skipped
	return res, nil
}

type snapTotals struct {
	results map[string]uint64
	skipped uint64
}

func totals(snaps []check.Snapshot) snapTotals {
	t := snapTotals{results: map[string]uint64{}}
	for _, s := range snaps {
		for k, v := range s.Results {
			t.results[k] += v
		}
		t.skipped += s.SkippedRuns
	}
	return t
}

// procStatusBytes reads a "kB" field of /proc/self/status in bytes; -1 if
// it cannot.
func procStatusBytes(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for line := range strings.Lines(string(b)) {
		k, v, ok := strings.Cut(line, ":")
		if !ok || k != field {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			return -1
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return -1
		}
		return n * 1024
	}
	return -1
}
