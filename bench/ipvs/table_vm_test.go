//go:build vm && linux

// TestIPVSTableBenchmark times programming a 1,000 × 10 IPVS table in the
// test VM, vigil against ipvsadm. It is a benchmark, not a test: it runs
// only with VIGIL_BENCH_IPVS=1, which bench/ipvs/cmd/benchipvs sets
// (`make bench-ipvs`); the driver also brings ipvsadm and its libraries
// into the VM. By hand:
//
//	go run ./bench/ipvs/cmd/benchipvs -only table   # prints the section with the go test command it ran
package ipvsbench_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	ipvsbench "github.com/vigil-lb/vigil/bench/ipvs"
	"github.com/vigil-lb/vigil/internal/vmtest"
	"github.com/vigil-lb/vigil/ipvs"
	"github.com/vigil-lb/vigil/ipvs/ipvstest"
)

// drainGrace is the daemon's (daemon/lb.go); no case here drains.
const drainGrace = 30 * time.Second

// targetedResync is the ResyncInterval of the targeted Reconcilers: the
// daemon's is 5 s; an hour keeps every timed targeted pass between full
// reads however slow TCG is. Full passes use a Reconciler with 0.
const targetedResync = time.Hour

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		t.Fatalf("%s=%q: want a non-negative integer", name, v)
	}
	return n
}

// makeLinks creates the symbolic links listed in spec ("link=target:..."),
// with their directories, and removes them when the test ends.
func makeLinks(t *testing.T, spec string) {
	t.Helper()
	for _, pair := range strings.Split(spec, ":") {
		if pair == "" {
			continue
		}
		link, target, ok := strings.Cut(pair, "=")
		if !ok || !filepath.IsAbs(link) || !filepath.IsAbs(target) {
			t.Fatalf("%s: %q is not link=target with absolute paths", ipvsbench.EnvLinks, pair)
		}
		if _, err := os.Lstat(link); err == nil {
			continue // already there (the image or another include has it)
		}
		if _, err := os.Stat(target); err != nil {
			t.Fatalf("link %s: target: %v (missing from VIGIL_VM_INCLUDE?)", link, err)
		}
		if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Remove(link) })
	}
}

func rusage(who int) (user, sys time.Duration) {
	var ru unix.Rusage
	if err := unix.Getrusage(who, &ru); err != nil {
		panic(fmt.Sprintf("getrusage: %v", err))
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}

// measure times f and the CPU the process (who = RUSAGE_SELF) or its
// waited-for children (RUSAGE_CHILDREN) spent on it. It collects garbage
// first, so that a pass pays for its own garbage only.
func measure(who int, f func() error) (ipvsbench.Sample, error) {
	runtime.GC()
	u0, s0 := rusage(who)
	start := time.Now()
	err := f()
	wall := time.Since(start)
	u1, s1 := rusage(who)
	return ipvsbench.Sample{Wall: wall, User: u1 - u0, Sys: s1 - s0}, err
}

// bench holds what the cases share.
type bench struct {
	t   *testing.T
	ctx context.Context
	// k and ns are the current IPVS table: a network namespace of its
	// own (fresh), and a NetlinkKernel whose socket lives in it.
	k       *ipvs.NetlinkKernel
	ns      netns.NsHandle
	desired []ipvs.Service
	input   []byte // the restore file
	ipvsadm string
	restore string
	cases   map[string]*ipvsbench.Case
}

func (b *bench) add(name string, ops int, s ipvsbench.Sample, err error) {
	b.t.Helper()
	if err != nil {
		b.t.Fatalf("%s: %v", name, err)
	}
	c, ok := b.cases[name]
	if !ok {
		c = &ipvsbench.Case{Name: name, Ops: ops}
		b.cases[name] = c
	}
	c.Samples = append(c.Samples, s)
}

// inNetns runs f on a thread locked into ns; processes f starts are in ns.
func inNetns(ns netns.NsHandle, f func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return err
	}
	defer orig.Close()
	if err := netns.Set(ns); err != nil {
		return err
	}
	defer func() {
		if err := netns.Set(orig); err != nil {
			panic(fmt.Sprintf("restoring the network namespace: %v", err))
		}
	}()
	return f()
}

// run runs argv in the current table's namespace with stdin, returning
// its combined output in the error.
func (b *bench) run(stdin []byte, argv ...string) error {
	cmd := exec.CommandContext(b.ctx, argv[0], argv[1:]...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out []byte
	err := inNetns(b.ns, func() error {
		var err error
		out, err = cmd.CombinedOutput()
		return err
	})
	if err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, bytes.TrimSpace(out))
	}
	if len(bytes.TrimSpace(out)) > 0 {
		b.t.Logf("%s: %s", strings.Join(argv, " "), bytes.TrimSpace(out))
	}
	return nil
}

// fresh gives the next case an empty IPVS table of its own: a new network
// namespace. Emptying one table (ipvsadm -C) is not the same: the kernel
// keeps removed destinations in a trash list for minutes, and every
// destination added meanwhile scans that list (ip_vs_trash_get_dest), so
// an apply after a flush of 10,000 destinations is quadratic, by an amount
// that depends on the trash timer. The previous namespace is closed, and
// fresh waits for the VM's CPU to settle from tearing it down.
func (b *bench) fresh() {
	b.t.Helper()
	b.closeTable()
	ns, err := func() (netns.NsHandle, error) {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		orig, err := netns.Get()
		if err != nil {
			return 0, err
		}
		defer orig.Close()
		ns, err := netns.New()
		if err != nil {
			return 0, err
		}
		if err := netns.Set(orig); err != nil {
			panic(fmt.Sprintf("restoring the network namespace: %v", err))
		}
		return ns, nil
	}()
	if err != nil {
		b.t.Fatalf("creating a network namespace: %v", err)
	}
	b.ns, b.k = ns, ipvs.NewNetlinkKernel()
	// lo up, as in any namespace a director runs in; the first call
	// connects, binding the socket to the namespace.
	err = inNetns(ns, func() error {
		lo, err := netlink.LinkByName("lo")
		if err == nil {
			err = netlink.LinkSetUp(lo)
		}
		if err != nil {
			return fmt.Errorf("lo up: %w", err)
		}
		svcs, err := b.k.Services(b.ctx)
		if err == nil && len(svcs) != 0 {
			err = fmt.Errorf("%d services", len(svcs))
		}
		return err
	})
	if err != nil {
		b.t.Fatalf("fresh namespace: %v", err)
	}
	waitIdle(b.t)
}

func (b *bench) closeTable() {
	if b.k != nil {
		b.k.Close()
		b.ns.Close()
		b.k = nil
	}
}

// cpuBusy reads the VM's busy and total CPU ticks from /proc/stat.
func cpuBusy(t *testing.T) (busy, total uint64) {
	p, err := os.ReadFile("/proc/stat")
	if err != nil {
		t.Fatal(err)
	}
	line, _, _ := strings.Cut(string(p), "\n")
	f := strings.Fields(line)
	for i := 1; i < len(f) && i <= 8; i++ {
		v, _ := strconv.ParseUint(f[i], 10, 64)
		total += v
		if i != 4 && i != 5 { // idle, iowait
			busy += v
		}
	}
	return busy, total
}

// waitIdle waits (at most 30 s) until the VM's CPU is idle for 200 ms:
// network namespace teardown, estimators and timers of the previous case
// run in kernel threads that would otherwise bill the next case.
func waitIdle(t *testing.T) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		b0, t0 := cpuBusy(t)
		time.Sleep(200 * time.Millisecond)
		b1, t1 := cpuBusy(t)
		if t1 > t0 && float64(b1-b0)/float64(t1-t0) < 0.05 {
			return
		}
	}
	t.Logf("the VM did not become idle within 30 s")
}

// verify checks that the kernel holds exactly want.
func (b *bench) verify(what string, want []ipvs.Service) {
	b.t.Helper()
	have, err := b.k.Services(b.ctx)
	if err != nil {
		b.t.Fatalf("%s: reading the table: %v", what, err)
	}
	if len(have) != len(want) {
		b.t.Fatalf("%s: kernel has %d services, want %d", what, len(have), len(want))
	}
	byKey := make(map[ipvs.ServiceKey]ipvs.Service, len(have))
	for _, s := range have {
		byKey[s.Key] = s
	}
	for _, w := range want {
		h, ok := byKey[w.Key]
		if !ok {
			b.t.Fatalf("%s: service %s missing", what, w.Key)
		}
		if h.Scheduler != w.Scheduler || len(h.Destinations) != len(w.Destinations) {
			b.t.Fatalf("%s: service %s is %s, want %s", what, w.Key, h, w)
		}
		dests := make(map[string]bool, len(h.Destinations))
		for _, d := range h.Destinations {
			dests[fmt.Sprint(d.Address, d.Weight, d.Forwarding)] = true
		}
		for _, d := range w.Destinations {
			if !dests[fmt.Sprint(d.Address, d.Weight, d.Forwarding)] {
				b.t.Fatalf("%s: service %s lacks %s; has %v", what, w.Key, d, h.Destinations)
			}
		}
	}
}

// withWeight returns desired with destination (si, di) at weight w; the
// other services share desired's memory.
func withWeight(desired []ipvs.Service, si, di, w int) []ipvs.Service {
	out := slices.Clone(desired)
	out[si].Destinations = slices.Clone(out[si].Destinations)
	out[si].Destinations[di].Weight = w
	return out
}

// newReconciler returns a Reconciler over k (b.k if nil) whose passes all
// read the whole table (resync 0) or only what they re-plan.
func (b *bench) newReconciler(k ipvs.Kernel, dir string, resync time.Duration) *ipvs.Reconciler {
	b.t.Helper()
	if k == nil {
		k = b.k
	}
	r, err := ipvs.NewReconciler(ipvs.Options{Kernel: k, StateDir: dir, DrainGrace: drainGrace, ResyncInterval: resync})
	if err != nil {
		b.t.Fatal(err)
	}
	return r
}

// wantReads checks what a pass over rec read, and forgets it.
func wantReads(rec *ipvstest.Recorder, full int, services ...ipvs.ServiceKey) error {
	defer rec.Reset()
	if got := rec.ServiceReads(); rec.Reads() != full || !slices.Equal(got, services) {
		return fmt.Errorf("read the whole table %d times and services %v, want %d and %v", rec.Reads(), got, full, services)
	}
	return nil
}

func wantResult(res ipvs.Result, err error, want ipvs.Result) error {
	if err != nil {
		return err
	}
	if res != want {
		return fmt.Errorf("result %+v, want %+v", res, want)
	}
	return nil
}

// vigilRun is one run of vigil's cases, from an empty kernel.
func (b *bench) vigilRun() {
	t := b.t
	nS, nD := len(b.desired), len(b.desired[0].Destinations)
	self := unix.RUSAGE_SELF
	b.fresh()
	dir := t.TempDir()
	// r reads the whole table on every pass, as a resync pass does.
	r := b.newReconciler(nil, dir, 0)
	s, err := measure(self, func() error {
		res, err := r.Reconcile(b.ctx, b.desired)
		return wantResult(res, err, ipvs.Result{ServiceCreate: nS, DestCreate: nS * nD})
	})
	b.add(ipvsbench.ApplyVigil, nS+nS*nD, s, err)
	b.verify("after vigil's apply", b.desired)

	s, err = measure(self, func() error {
		svcs, err := b.k.Services(b.ctx)
		if err == nil && len(svcs) != nS {
			err = fmt.Errorf("read %d services, want %d", len(svcs), nS)
		}
		return err
	})
	b.add(ipvsbench.ReadServices, 0, s, err)

	si, di := nS/2, nD/2
	key := b.desired[si].Key
	s, err = measure(self, func() error {
		svc, err := b.k.Service(b.ctx, key)
		if err == nil && len(svc.Destinations) != nD {
			err = fmt.Errorf("read %d destinations, want %d", len(svc.Destinations), nD)
		}
		return err
	})
	b.add(ipvsbench.ReadService, 0, s, err)

	s, err = measure(self, func() error {
		res, err := r.Reconcile(b.ctx, b.desired)
		return wantResult(res, err, ipvs.Result{})
	})
	b.add(ipvsbench.NoChangeSteady, 0, s, err)

	orig := b.desired[si].Destinations[di]
	changed := withWeight(b.desired, si, di, orig.Weight+1)
	s, err = measure(self, func() error {
		res, err := r.Reconcile(b.ctx, changed)
		return wantResult(res, err, ipvs.Result{DestUpdate: 1})
	})
	b.add(ipvsbench.WeightVigilFull, 1, s, err)
	b.verify("after vigil's weight change (full pass)", changed)

	// A restart: a targeted Reconciler loads the ownership file the first
	// one wrote and finds everything in place; its first pass reads the
	// whole table.
	rec := ipvstest.Record(b.k)
	var r2 *ipvs.Reconciler
	s, err = measure(self, func() error {
		var err error
		if r2, err = ipvs.NewReconciler(ipvs.Options{Kernel: rec, StateDir: dir, DrainGrace: drainGrace, ResyncInterval: targetedResync}); err != nil {
			return err
		}
		res, err := r2.Reconcile(b.ctx, changed)
		return wantResult(res, err, ipvs.Result{})
	})
	if err == nil {
		err = wantReads(rec, 1)
	}
	b.add(ipvsbench.NoChangeRestart, 0, s, err)

	// The daemon's passes between full reads: a weight change reads the
	// one service.
	s, err = measure(self, func() error {
		res, err := r2.Reconcile(b.ctx, b.desired)
		return wantResult(res, err, ipvs.Result{DestUpdate: 1})
	})
	if err == nil {
		err = wantReads(rec, 0, key)
	}
	b.add(ipvsbench.WeightVigil, 1, s, err)
	b.verify("after vigil's weight change (targeted pass)", b.desired)

	s, err = measure(self, func() error {
		res, err := r2.Reconcile(b.ctx, b.desired)
		return wantResult(res, err, ipvs.Result{})
	})
	if err == nil {
		err = wantReads(rec, 0)
	}
	b.add(ipvsbench.NoChangeTargeted, 0, s, err)

	// The floor under a weight change: the one netlink request, no read.
	upd := orig
	upd.Weight++
	s, err = measure(self, func() error {
		return b.k.UpdateDestination(b.ctx, key, upd)
	})
	b.add(ipvsbench.WeightUpdateOnly, 1, s, err)
	b.verify("after UpdateDestination", changed)
}

// ipvsadmRun is one run of ipvsadm's cases, from an empty kernel.
func (b *bench) ipvsadmRun() {
	t := b.t
	nS, nD := len(b.desired), len(b.desired[0].Destinations)
	children := unix.RUSAGE_CHILDREN
	b.fresh()
	// ipvsadm-restore is a bash script (grep -v '^#', ipvsadm -C, ipvsadm
	// -R); the VM has busybox sh, which runs it as it is.
	s, err := measure(children, func() error { return b.run(b.input, "/bin/sh", b.restore) })
	b.add(ipvsbench.ApplyRestore, nS+nS*nD, s, err)
	b.verify("after ipvsadm-restore", b.desired)

	// vigil adopting a table it did not create: nothing to change.
	s, err = measure(unix.RUSAGE_SELF, func() error {
		r := b.newReconciler(nil, t.TempDir(), targetedResync)
		res, err := r.Reconcile(b.ctx, b.desired)
		return wantResult(res, err, ipvs.Result{Adopted: nS})
	})
	b.add(ipvsbench.NoChangeAdoptIpvsadm, 0, s, err)

	si, di := nS/2, nD/2
	d := b.desired[si].Destinations[di]
	d.Weight++
	s, err = measure(children, func() error {
		return b.run(nil, append([]string{b.ipvsadm}, ipvsbench.EditArgs(b.desired[si], d)...)...)
	})
	b.add(ipvsbench.WeightIpvsadm, 1, s, err)
	b.verify("after ipvsadm -e", withWeight(b.desired, si, di, d.Weight))

	b.fresh()
	s, err = measure(children, func() error { return b.run(b.input, b.ipvsadm, "-R") })
	b.add(ipvsbench.ApplyIpvsadmR, nS+nS*nD, s, err)
	b.verify("after ipvsadm -R", b.desired)
}

// profile CPU-profiles f and prints the profile for the driver.
func (b *bench) profile(name string, f func()) {
	var buf bytes.Buffer
	if err := pprof.StartCPUProfile(&buf); err != nil {
		b.t.Fatal(err)
	}
	f()
	pprof.StopCPUProfile()
	enc := base64.StdEncoding.EncodeToString(buf.Bytes())
	const chunk = 3000
	for len(enc) > 0 {
		n := min(chunk, len(enc))
		fmt.Printf("%s%s %s\n", ipvsbench.ProfilePrefix, name, enc[:n])
		enc = enc[n:]
	}
}

func TestIPVSTableBenchmark(t *testing.T) {
	vmtest.Require(t)
	if os.Getenv(ipvsbench.EnvRun) != "1" {
		t.Skipf("a benchmark: run it with `make bench-ipvs` (%s=1)", ipvsbench.EnvRun)
	}
	start := time.Now()
	runs := envInt(t, ipvsbench.EnvRuns, 5)
	nS := envInt(t, ipvsbench.EnvServices, 1000)
	nD := envInt(t, ipvsbench.EnvDests, 10)
	rounds := envInt(t, ipvsbench.EnvProfileRounds, 3)
	if runs < 1 || nS < 2 || nD < 2 {
		t.Fatalf("runs %d, table %d × %d: want at least 1 run and 2 × 2", runs, nS, nD)
	}
	makeLinks(t, os.Getenv(ipvsbench.EnvLinks))
	b := &bench{
		t:       t,
		ctx:     context.Background(),
		desired: ipvsbench.Table(nS, nD),
		ipvsadm: os.Getenv(ipvsbench.EnvIpvsadm),
		restore: os.Getenv(ipvsbench.EnvRestore),
		cases:   map[string]*ipvsbench.Case{},
	}
	t.Cleanup(b.closeTable)
	b.input = ipvsbench.RestoreInput(b.desired)
	if b.ipvsadm == "" || b.restore == "" {
		t.Fatalf("%s and %s must name ipvsadm and ipvsadm-restore", ipvsbench.EnvIpvsadm, ipvsbench.EnvRestore)
	}

	res := ipvsbench.TableResult{Services: nS, Dests: nD, Runs: runs, CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
	var err error
	if res.Kernel, err = vmtest.Kernel(); err != nil {
		t.Fatal(err)
	}
	if p, err := os.ReadFile("/proc/net/ip_vs"); err == nil {
		res.IPVS, _, _ = strings.Cut(string(p), "\n")
	}
	out, err := exec.Command(b.ipvsadm, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("ipvsadm --version: %v: %s", err, out)
	}
	res.Ipvsadm = strings.TrimSpace(string(out))
	t.Logf("%s; %s; %s", res.Kernel, res.IPVS, res.Ipvsadm)

	for i := range runs {
		// Alternate who goes first, so that neither always follows the
		// other's garbage or cache state.
		if i%2 == 0 {
			b.vigilRun()
			b.ipvsadmRun()
		} else {
			b.ipvsadmRun()
			b.vigilRun()
		}
		t.Logf("run %d/%d done after %s", i+1, runs, time.Since(start).Round(time.Second))
	}

	// Profiles, untimed: vigil's apply from empty (one profile per pass,
	// so that making fresh tables between them is not in it), weight-change
	// passes of a targeted Reconciler (many: each is short), and
	// weight-change passes that read the whole table.
	for i := range rounds {
		b.fresh()
		dir := t.TempDir()
		r := b.newReconciler(nil, dir, 0)
		b.profile(fmt.Sprintf("apply-%d", i+1), func() {
			if _, err := r.Reconcile(b.ctx, b.desired); err != nil {
				t.Fatal(err)
			}
		})
		if i == rounds-1 {
			b.profile("resync", func() {
				for j := range 3 * rounds {
					if _, err := r.Reconcile(b.ctx, withWeight(b.desired, nS/2, nD/2, 100+j%2)); err != nil {
						t.Fatal(err)
					}
				}
			})
			r2 := b.newReconciler(nil, dir, targetedResync)
			if _, err := r2.Reconcile(b.ctx, b.desired); err != nil {
				t.Fatal(err)
			}
			b.profile("weight", func() {
				for j := range 100 * rounds {
					if _, err := r2.Reconcile(b.ctx, withWeight(b.desired, nS/2, nD/2, 100+j%2)); err != nil {
						t.Fatal(err)
					}
				}
			})
		}
	}
	b.closeTable()

	for _, name := range []string{
		ipvsbench.ApplyVigil, ipvsbench.ApplyRestore, ipvsbench.ApplyIpvsadmR,
		ipvsbench.WeightVigil, ipvsbench.WeightVigilFull, ipvsbench.WeightIpvsadm, ipvsbench.WeightUpdateOnly,
		ipvsbench.ReadServices, ipvsbench.ReadService,
		ipvsbench.NoChangeSteady, ipvsbench.NoChangeTargeted, ipvsbench.NoChangeRestart, ipvsbench.NoChangeAdoptIpvsadm,
	} {
		c, ok := b.cases[name]
		if !ok {
			t.Fatalf("case %s has no samples", name)
		}
		res.Cases = append(res.Cases, *c)
	}
	res.Took = time.Since(start)
	j, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("%s%s\n", ipvsbench.ResultPrefix, j)
}
