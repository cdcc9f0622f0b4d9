package ipvs_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vigil-lb/vigil/ipvs"
	"github.com/vigil-lb/vigil/ipvs/ipvstest"
)

// The scenarios in this file run against the in-memory kernel
// (TestReconcileScenarios) and, in the test VM, against the real IPVS
// through the netlink adapter (TestKernelReconcileScenarios), each with a
// Reconciler that reads the whole table on every pass and with one that
// reads only the services it re-plans (Options.ResyncInterval). They
// program a table through a Reconciler and assert the exact kernel
// operations and the table read back: both Reconcilers must do the same.

var (
	web     = ipvs.AddrKey(ipvs.TCP, ap("192.0.2.1:80"))
	dns6    = ipvs.AddrKey(ipvs.UDP, ap("[2001:db8::1]:53"))
	mark    = ipvs.FWMarkKey(ipvs.IPv4, 10)
	foreign = ipvs.AddrKey(ipvs.TCP, ap("198.51.100.1:443"))
	t0      = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
)

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func nat(a string, w int) ipvs.Destination {
	return ipvs.Destination{Address: ap(a), Weight: w, Forwarding: ipvs.ForwardNAT}
}

// table returns the three services of most tests.
func table() []ipvs.Service {
	return []ipvs.Service{
		{Key: web, Scheduler: "wlc", Destinations: []ipvs.Destination{nat("10.0.0.1:80", 1), nat("10.0.0.2:80", 2)}},
		{Key: dns6, Scheduler: "rr", Flags: ipvs.FlagOnePacket, Destinations: []ipvs.Destination{nat("[2001:db8::10]:53", 1)}},
		{Key: mark, Scheduler: "rr", Timeout: 300 * time.Second, Netmask: 24, Destinations: []ipvs.Destination{
			{Address: ap("10.0.0.1:0"), Weight: 1, Forwarding: ipvs.ForwardDR},
		}},
	}
}

// tableDump is table() as dump renders it.
var tableDump = []string{
	"tcp/192.0.2.1:80 wlc",
	"  -> 10.0.0.1:80 nat weight 1",
	"  -> 10.0.0.2:80 nat weight 2",
	"udp/[2001:db8::1]:53 rr ops",
	"  -> [2001:db8::10]:53 nat weight 1",
	"fwmark4/10 rr persistent 5m0s mask /24",
	"  -> 10.0.0.1:0 dr weight 1",
}

type clock struct{ t time.Time }

func (c *clock) Now() time.Time          { return c.t }
func (c *clock) Advance(d time.Duration) { c.t = c.t.Add(d) }

// scenarioEnv is what a scenario runs against: a kernel, and the
// Reconciler's Options.ResyncInterval.
type scenarioEnv struct {
	newKernel func(t *testing.T) ipvs.Kernel
	resync    time.Duration
}

// fixture returns a fixture over a new kernel.
func (e scenarioEnv) fixture(t *testing.T, grace time.Duration) *fixture {
	return newFixtureResync(t, e.newKernel(t), grace, e.resync)
}

// runScenarios runs every scenario with a Reconciler that reads the whole
// table on every pass ("full") and with one that, between full reads an
// hour apart, reads only the services it re-plans ("targeted").
func runScenarios(t *testing.T, newKernel func(t *testing.T) ipvs.Kernel) {
	for _, mode := range []struct {
		name   string
		resync time.Duration
	}{{"full", 0}, {"targeted", time.Hour}} {
		t.Run(mode.name, func(t *testing.T) {
			for _, sc := range scenarios {
				t.Run(sc.name, func(t *testing.T) { sc.run(t, scenarioEnv{newKernel, mode.resync}) })
			}
		})
	}
}

type fixture struct {
	t      *testing.T
	k      ipvs.Kernel        // the kernel itself, for changes behind vigil's back
	rec    *ipvstest.Recorder // the kernel as the Reconciler sees it
	clk    *clock
	dir    string
	grace  time.Duration
	resync time.Duration
	logs   *bytes.Buffer
	r      *ipvs.Reconciler
	// full is set when the next pass must read the whole table: the first
	// after a (re)start, and, with resync > 0, the first after a change
	// behind vigil's back. Any other pass of a targeted Reconciler must not.
	full bool
}

func newFixtureWith(t *testing.T, k ipvs.Kernel, grace time.Duration) *fixture {
	return newFixtureResync(t, k, grace, 0)
}

func newFixtureResync(t *testing.T, k ipvs.Kernel, grace, resync time.Duration) *fixture {
	f := &fixture{t: t, k: k, rec: ipvstest.Record(k), clk: &clock{t0}, dir: t.TempDir(), grace: grace, resync: resync, logs: &bytes.Buffer{}}
	f.restart()
	return f
}

// restart makes a new Reconciler over the same kernel and state directory,
// as a restarted vigil would.
func (f *fixture) restart() {
	f.t.Helper()
	r, err := ipvs.NewReconciler(ipvs.Options{
		Kernel:         f.rec,
		StateDir:       f.dir,
		DrainGrace:     f.grace,
		ResyncInterval: f.resync,
		Logger:         slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:            f.clk.Now,
	})
	if err != nil {
		f.t.Fatal(err)
	}
	f.r = r
	f.full = true
}

// behindBack notes a change made to the kernel behind vigil's back: a
// targeted Reconciler finds it at its next full read, which the fixture
// brings forward to the next pass (what the resync interval does in time).
func (f *fixture) behindBack() {
	if f.resync > 0 {
		ipvs.ForceResync(f.r)
		f.full = true
	}
}

// reconcile runs a pass that must succeed and returns its result and the
// operations it performed.
func (f *fixture) reconcile(desired []ipvs.Service) (ipvs.Result, []string) {
	f.t.Helper()
	f.rec.Reset()
	res, err := f.r.Reconcile(context.Background(), desired)
	if err != nil {
		f.t.Fatalf("Reconcile: %v", err)
	}
	if f.resync > 0 && !f.full && f.rec.Reads() != 0 {
		f.t.Errorf("a targeted pass read the whole table (%d times)", f.rec.Reads())
	}
	f.full = false
	return res, f.rec.Ops()
}

// must fails the test on an error from changing the kernel directly, a
// change behind vigil's back.
func (f *fixture) must(err error) {
	f.t.Helper()
	if err != nil {
		f.t.Fatal(err)
	}
	f.behindBack()
}

func (f *fixture) wantOps(got []string, want ...string) {
	f.t.Helper()
	if diff := cmp.Diff(want, got); diff != "" {
		f.t.Errorf("kernel operations (-want +got):\n%s", diff)
	}
}

func (f *fixture) wantTable(want ...string) {
	f.t.Helper()
	if diff := cmp.Diff(want, dump(f.t, f.k)); diff != "" {
		f.t.Errorf("kernel table (-want +got):\n%s", diff)
	}
}

func wantResult(t *testing.T, got, want ipvs.Result) {
	t.Helper()
	if got != want {
		t.Errorf("result = %+v\nwant     %+v", got, want)
	}
}

// dump renders the kernel table one line per service and destination,
// services in key order, destinations by address.
func dump(t *testing.T, k ipvs.Kernel) []string {
	t.Helper()
	svcs, err := k.Services(context.Background())
	if err != nil {
		t.Fatalf("reading the table: %v", err)
	}
	slices.SortFunc(svcs, func(a, b ipvs.Service) int { return a.Key.Compare(b.Key) })
	var out []string
	for _, s := range svcs {
		out = append(out, s.String())
		ds := slices.Clone(s.Destinations)
		slices.SortFunc(ds, func(a, b ipvs.Destination) int { return a.Address.Compare(b.Address) })
		for _, d := range ds {
			out = append(out, "  -> "+d.String())
		}
	}
	return out
}

func stateFile(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, ipvs.StateFile))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// addForeign creates a service vigil does not own, as an operator with
// ipvsadm would.
func (f *fixture) addForeign() {
	ctx := context.Background()
	f.must(f.k.CreateService(ctx, ipvs.Service{Key: foreign, Scheduler: "rr"}))
	f.must(f.k.CreateDestination(ctx, foreign, nat("10.9.9.9:443", 1)))
}

var scenarios = []struct {
	name string
	run  func(t *testing.T, env scenarioEnv)
}{
	{"FromEmpty", scenarioFromEmpty},
	{"RestartWithFullTableChangesNothing", scenarioRestart},
	{"RepairsDriftAndLeavesForeignAlone", scenarioDrift},
	{"FirstPassDifferencesAreNotDrift", scenarioFirstPass},
	{"ConfigChangeInPlace", scenarioConfigChange},
	{"DrainCancelledWhenWantedAgain", scenarioDrainCancelled},
	{"DrainSurvivesRestart", scenarioDrainRestart},
	{"ServiceRemoval", scenarioServiceRemoval},
	{"WithdrawnAreRemovedAtOnce", scenarioWithdrawn},
	{"NeverTouchesForeignServices", scenarioForeign},
	{"DesiredThroughReconciler", scenarioDesired},
}

func scenarioFromEmpty(t *testing.T, env scenarioEnv) {
	f := env.fixture(t, 30*time.Second)
	res, ops := f.reconcile(table())
	f.wantOps(ops,
		"create-service tcp/192.0.2.1:80 wlc",
		"create-dest tcp/192.0.2.1:80 10.0.0.1:80 nat weight 1",
		"create-dest tcp/192.0.2.1:80 10.0.0.2:80 nat weight 2",
		"create-service udp/[2001:db8::1]:53 rr ops",
		"create-dest udp/[2001:db8::1]:53 [2001:db8::10]:53 nat weight 1",
		"create-service fwmark4/10 rr persistent 5m0s mask /24",
		"create-dest fwmark4/10 10.0.0.1:0 dr weight 1",
	)
	wantResult(t, res, ipvs.Result{ServiceCreate: 3, DestCreate: 4})
	f.wantTable(tableDump...)
	if got, want := f.r.Owned(), []ipvs.ServiceKey{web, dns6, mark}; !slices.Equal(got, want) {
		t.Errorf("owned = %v, want %v", got, want)
	}
	if got := stateFile(t, f.dir); !strings.Contains(got, `"tcp/192.0.2.1:80",`) || !strings.Contains(got, `"fwmark4/10"`) {
		t.Errorf("state file:\n%s", got)
	}

	// A second pass finds nothing to do.
	res, ops = f.reconcile(table())
	f.wantOps(ops)
	wantResult(t, res, ipvs.Result{})
}

func scenarioRestart(t *testing.T, env scenarioEnv) {
	f := env.fixture(t, 30*time.Second)
	f.addForeign()
	f.reconcile(table())
	before := dump(t, f.k)

	// Restart with the ownership file.
	f.restart()
	res, ops := f.reconcile(table())
	f.wantOps(ops)
	wantResult(t, res, ipvs.Result{})

	// Restart without it (state lost, or a table keepalived built): the
	// desired services are adopted, still without a kernel change.
	if err := os.Remove(filepath.Join(f.dir, ipvs.StateFile)); err != nil {
		t.Fatal(err)
	}
	f.restart()
	res, ops = f.reconcile(table())
	f.wantOps(ops)
	wantResult(t, res, ipvs.Result{Adopted: 3})
	if diff := cmp.Diff(before, dump(t, f.k)); diff != "" {
		t.Errorf("table changed (-before +after):\n%s", diff)
	}
	if got := stateFile(t, f.dir); strings.Contains(got, foreign.String()) || !strings.Contains(got, web.String()) {
		t.Errorf("state file after adoption:\n%s", got)
	}
}

func scenarioDrift(t *testing.T, env scenarioEnv) {
	f := env.fixture(t, 30*time.Second)
	f.addForeign()
	f.reconcile(table())

	// Behind vigil's back: dns6 deleted; web's scheduler changed, a weight
	// changed, a destination removed and a stranger added; the foreign
	// service edited too.
	ctx := context.Background()
	f.must(f.k.RemoveService(ctx, dns6))
	f.must(f.k.UpdateService(ctx, ipvs.Service{Key: web, Scheduler: "rr"}))
	f.must(f.k.UpdateDestination(ctx, web, nat("10.0.0.1:80", 5)))
	f.must(f.k.RemoveDestination(ctx, web, ap("10.0.0.2:80")))
	f.must(f.k.CreateDestination(ctx, web, nat("10.0.0.99:80", 7)))
	f.must(f.k.CreateDestination(ctx, foreign, nat("10.9.9.8:443", 3)))

	res, ops := f.reconcile(table())
	f.wantOps(ops,
		"update-service tcp/192.0.2.1:80 wlc",
		"update-dest tcp/192.0.2.1:80 10.0.0.1:80 nat weight 1",
		"create-dest tcp/192.0.2.1:80 10.0.0.2:80 nat weight 2",
		"update-dest tcp/192.0.2.1:80 10.0.0.99:80 nat weight 0", // drained, not cut
		"create-service udp/[2001:db8::1]:53 rr ops",
		"create-dest udp/[2001:db8::1]:53 [2001:db8::10]:53 nat weight 1",
	)
	wantResult(t, res, ipvs.Result{ServiceCreate: 1, ServiceUpdate: 1, DestCreate: 2, DestUpdate: 2, DriftRepaired: 5, Draining: 1})
	f.wantTable(
		"tcp/192.0.2.1:80 wlc",
		"  -> 10.0.0.1:80 nat weight 1",
		"  -> 10.0.0.2:80 nat weight 2",
		"  -> 10.0.0.99:80 nat weight 0",
		"tcp/198.51.100.1:443 rr",
		"  -> 10.9.9.8:443 nat weight 3",
		"  -> 10.9.9.9:443 nat weight 1",
		"udp/[2001:db8::1]:53 rr ops",
		"  -> [2001:db8::10]:53 nat weight 1",
		"fwmark4/10 rr persistent 5m0s mask /24",
		"  -> 10.0.0.1:0 dr weight 1",
	)
	if !strings.Contains(f.logs.String(), "repaired IPVS drift") {
		t.Errorf("drift not logged:\n%s", f.logs)
	}

	// Repaired: the next pass finds no drift, and the stranger goes at its
	// deadline.
	res, ops = f.reconcile(table())
	f.wantOps(ops)
	wantResult(t, res, ipvs.Result{Draining: 1})
	f.clk.Advance(30 * time.Second)
	res, ops = f.reconcile(table())
	f.wantOps(ops, "remove-dest tcp/192.0.2.1:80 10.0.0.99:80")
	wantResult(t, res, ipvs.Result{DestDelete: 1})
}

func scenarioFirstPass(t *testing.T, env scenarioEnv) {
	f := env.fixture(t, 0)
	ctx := context.Background()
	f.must(f.k.CreateService(ctx, ipvs.Service{Key: web, Scheduler: "wlc"}))
	f.must(f.k.CreateDestination(ctx, web, nat("10.0.0.1:80", 9)))
	res, ops := f.reconcile(table()[:1])
	f.wantOps(ops,
		"update-dest tcp/192.0.2.1:80 10.0.0.1:80 nat weight 1",
		"create-dest tcp/192.0.2.1:80 10.0.0.2:80 nat weight 2",
	)
	wantResult(t, res, ipvs.Result{DestCreate: 1, DestUpdate: 1, Adopted: 1})
}

func scenarioConfigChange(t *testing.T, env scenarioEnv) {
	f := env.fixture(t, 30*time.Second)
	f.reconcile(table())

	// A reload: web switches to sh with sh-port and persistence, one weight
	// changes, one real server changes to DR, one is removed; the fwmark
	// service gets a threshold, dns6 a new scheduler without ops.
	next := table()
	next[0].Scheduler, next[0].Flags, next[0].Timeout = "sh", ipvs.FlagSHPort, time.Minute
	next[0].Destinations = []ipvs.Destination{
		{Address: ap("10.0.0.1:80"), Weight: 3, Forwarding: ipvs.ForwardDR},
	}
	next[1].Scheduler, next[1].Flags, next[1].Timeout, next[1].Netmask = "wrr", 0, 10*time.Second, 64
	next[2].Destinations[0].UpperThreshold = 100
	res, ops := f.reconcile(next)
	f.wantOps(ops,
		"update-service tcp/192.0.2.1:80 sh persistent 1m0s sh-port",
		"update-dest tcp/192.0.2.1:80 10.0.0.1:80 dr weight 3",
		"update-dest tcp/192.0.2.1:80 10.0.0.2:80 nat weight 0",
		"update-service udp/[2001:db8::1]:53 wrr persistent 10s mask /64",
		"update-dest fwmark4/10 10.0.0.1:0 dr weight 1 thresholds 0-100",
	)
	wantResult(t, res, ipvs.Result{ServiceUpdate: 2, DestUpdate: 3, Draining: 1})
	f.wantTable(
		"tcp/192.0.2.1:80 sh persistent 1m0s sh-port",
		"  -> 10.0.0.1:80 dr weight 3",
		"  -> 10.0.0.2:80 nat weight 0",
		"udp/[2001:db8::1]:53 wrr persistent 10s mask /64",
		"  -> [2001:db8::10]:53 nat weight 1",
		"fwmark4/10 rr persistent 5m0s mask /24",
		"  -> 10.0.0.1:0 dr weight 1 thresholds 0-100",
	)
	if d, ok := f.r.NextDeadline(); !ok || !d.Equal(t0.Add(30*time.Second)) {
		t.Errorf("NextDeadline = %v, %v; want %v", d, ok, t0.Add(30*time.Second))
	}

	f.clk.Advance(29 * time.Second)
	res, ops = f.reconcile(next)
	f.wantOps(ops)
	wantResult(t, res, ipvs.Result{Draining: 1})

	f.clk.Advance(time.Second)
	res, ops = f.reconcile(next)
	f.wantOps(ops, "remove-dest tcp/192.0.2.1:80 10.0.0.2:80")
	wantResult(t, res, ipvs.Result{DestDelete: 1})
	if d, ok := f.r.NextDeadline(); ok {
		t.Errorf("NextDeadline = %v after the drain", d)
	}
	if strings.Contains(stateFile(t, f.dir), "10.0.0.2:80") {
		t.Errorf("finished drain still recorded:\n%s", stateFile(t, f.dir))
	}

	// And back: persistence off again.
	res, ops = f.reconcile(table())
	f.wantOps(ops,
		"update-service tcp/192.0.2.1:80 wlc",
		"update-dest tcp/192.0.2.1:80 10.0.0.1:80 nat weight 1",
		"create-dest tcp/192.0.2.1:80 10.0.0.2:80 nat weight 2",
		"update-service udp/[2001:db8::1]:53 rr ops",
		"update-dest fwmark4/10 10.0.0.1:0 dr weight 1",
	)
	f.wantTable(tableDump...)
}

func scenarioDrainCancelled(t *testing.T, env scenarioEnv) {
	f := env.fixture(t, 30*time.Second)
	f.reconcile(table())
	next := table()
	next[0].Destinations = next[0].Destinations[:1]
	f.reconcile(next)
	f.clk.Advance(10 * time.Second)
	res, ops := f.reconcile(table())
	f.wantOps(ops, "update-dest tcp/192.0.2.1:80 10.0.0.2:80 nat weight 2")
	wantResult(t, res, ipvs.Result{DestUpdate: 1})
	if _, ok := f.r.NextDeadline(); ok {
		t.Error("drain still pending")
	}
}

func scenarioDrainRestart(t *testing.T, env scenarioEnv) {
	f := env.fixture(t, 30*time.Second)
	f.reconcile(table())
	next := table()
	next[0].Destinations = next[0].Destinations[:1]
	f.reconcile(next)

	f.clk.Advance(20 * time.Second)
	f.restart()
	res, ops := f.reconcile(next)
	f.wantOps(ops) // neither removed early nor restarted
	wantResult(t, res, ipvs.Result{Draining: 1})
	if d, ok := f.r.NextDeadline(); !ok || !d.Equal(t0.Add(30*time.Second)) {
		t.Errorf("NextDeadline after restart = %v, %v", d, ok)
	}
	f.clk.Advance(10 * time.Second)
	_, ops = f.reconcile(next)
	f.wantOps(ops, "remove-dest tcp/192.0.2.1:80 10.0.0.2:80")
}

func scenarioServiceRemoval(t *testing.T, env scenarioEnv) {
	t.Run("drained", func(t *testing.T) {
		f := env.fixture(t, 30*time.Second)
		f.reconcile(table())
		res, ops := f.reconcile(table()[1:])
		f.wantOps(ops,
			"update-dest tcp/192.0.2.1:80 10.0.0.1:80 nat weight 0",
			"update-dest tcp/192.0.2.1:80 10.0.0.2:80 nat weight 0",
		)
		wantResult(t, res, ipvs.Result{DestUpdate: 2, Draining: 1})
		if got := f.r.Drains(); len(got) != 1 || got[0].Service != web || got[0].Destination.IsValid() {
			t.Errorf("Drains() = %v", got)
		}
		f.clk.Advance(30 * time.Second)
		res, ops = f.reconcile(table()[1:])
		f.wantOps(ops, "remove-service tcp/192.0.2.1:80")
		wantResult(t, res, ipvs.Result{ServiceDelete: 1})
		f.wantTable(tableDump[3:]...)
		if slices.Contains(f.r.Owned(), web) || strings.Contains(stateFile(t, f.dir), web.String()) {
			t.Errorf("removed service still owned:\n%s", stateFile(t, f.dir))
		}
	})
	t.Run("no grace", func(t *testing.T) {
		f := env.fixture(t, 0)
		f.reconcile(table())
		res, ops := f.reconcile(table()[1:])
		f.wantOps(ops, "remove-service tcp/192.0.2.1:80")
		wantResult(t, res, ipvs.Result{ServiceDelete: 1})
	})
	t.Run("key change creates before it drains", func(t *testing.T) {
		f := env.fixture(t, 30*time.Second)
		f.reconcile(table()[:1])
		moved := table()[:1]
		moved[0].Key = ipvs.AddrKey(ipvs.TCP, ap("192.0.2.1:8080"))
		_, ops := f.reconcile(moved)
		f.wantOps(ops,
			"create-service tcp/192.0.2.1:8080 wlc",
			"create-dest tcp/192.0.2.1:8080 10.0.0.1:80 nat weight 1",
			"create-dest tcp/192.0.2.1:8080 10.0.0.2:80 nat weight 2",
			"update-dest tcp/192.0.2.1:80 10.0.0.1:80 nat weight 0",
			"update-dest tcp/192.0.2.1:80 10.0.0.2:80 nat weight 0",
		)
		f.clk.Advance(30 * time.Second)
		_, ops = f.reconcile(moved)
		f.wantOps(ops, "remove-service tcp/192.0.2.1:80")
	})
	t.Run("wanted again during the drain", func(t *testing.T) {
		f := env.fixture(t, 30*time.Second)
		f.reconcile(table())
		f.reconcile(table()[1:])
		_, ops := f.reconcile(table())
		f.wantOps(ops,
			"update-dest tcp/192.0.2.1:80 10.0.0.1:80 nat weight 1",
			"update-dest tcp/192.0.2.1:80 10.0.0.2:80 nat weight 2",
		)
		if _, ok := f.r.NextDeadline(); ok {
			t.Error("drain still pending")
		}
	})
	t.Run("owned service already gone is forgotten", func(t *testing.T) {
		f := env.fixture(t, 30*time.Second)
		f.reconcile(table())
		f.must(f.k.RemoveService(context.Background(), web))
		res, ops := f.reconcile(table()[1:])
		f.wantOps(ops)
		wantResult(t, res, ipvs.Result{})
		if slices.Contains(f.r.Owned(), web) {
			t.Error("still owned")
		}
	})
}

func scenarioWithdrawn(t *testing.T, env scenarioEnv) {
	f := env.fixture(t, 30*time.Second)
	f.reconcile(table())
	next := table()
	next[0].Destinations = next[0].Destinations[:1]
	next[0].Withdrawn = []netip.AddrPort{ap("10.0.0.2:80")}
	res, ops := f.reconcile(next)
	f.wantOps(ops, "remove-dest tcp/192.0.2.1:80 10.0.0.2:80")
	wantResult(t, res, ipvs.Result{DestDelete: 1})
}

func scenarioForeign(t *testing.T, env scenarioEnv) {
	f := env.fixture(t, 0)
	f.addForeign()
	f.must(f.k.CreateService(context.Background(), ipvs.Service{Key: mark, Scheduler: "rr"})) // foreign until desired
	_, ops := f.reconcile(nil)
	f.wantOps(ops)
	_, ops = f.reconcile(table()[:1])
	f.wantOps(ops,
		"create-service tcp/192.0.2.1:80 wlc",
		"create-dest tcp/192.0.2.1:80 10.0.0.1:80 nat weight 1",
		"create-dest tcp/192.0.2.1:80 10.0.0.2:80 nat weight 2",
	)
	f.wantTable(
		"tcp/192.0.2.1:80 wlc",
		"  -> 10.0.0.1:80 nat weight 1",
		"  -> 10.0.0.2:80 nat weight 2",
		"tcp/198.51.100.1:443 rr",
		"  -> 10.9.9.9:443 nat weight 1",
		"fwmark4/10 rr",
	)
	if len(f.r.Owned()) != 1 {
		t.Errorf("owned = %v", f.r.Owned())
	}
}

// scenarioDesired runs keepalived's behaviour end to end: a failed real
// server leaves at once, quorum loss swaps in the sorry server at once, and
// only a real server removed from the configuration is drained.
func scenarioDesired(t *testing.T, env scenarioEnv) {
	f := env.fixture(t, 30*time.Second)
	vs := threeServers()
	vs.Quorum = 2
	vs.SorryServer = &ipvs.SorryServer{Address: ap("10.0.9.9:80")}
	all := []string{"10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"}
	var status []ipvs.VSStatus
	pass := func(vss []ipvs.VirtualServer, up []string) []string {
		t.Helper()
		var svcs []ipvs.Service
		svcs, status = ipvs.Desired(vss, healthSet(up, nil), nil, status)
		_, ops := f.reconcile(svcs)
		return ops
	}

	f.wantOps(pass([]ipvs.VirtualServer{vs}, all),
		"create-service tcp/192.0.2.1:80 wlc",
		"create-dest tcp/192.0.2.1:80 10.0.0.1:80 nat weight 1",
		"create-dest tcp/192.0.2.1:80 10.0.0.2:80 nat weight 1",
		"create-dest tcp/192.0.2.1:80 10.0.0.3:80 nat weight 1",
	)
	f.wantOps(pass([]ipvs.VirtualServer{vs}, all[:2]),
		"remove-dest tcp/192.0.2.1:80 10.0.0.3:80")
	f.wantOps(pass([]ipvs.VirtualServer{vs}, all[:1]),
		"create-dest tcp/192.0.2.1:80 10.0.9.9:80 nat weight 1",
		"remove-dest tcp/192.0.2.1:80 10.0.0.1:80",
		"remove-dest tcp/192.0.2.1:80 10.0.0.2:80",
	)
	f.wantTable("tcp/192.0.2.1:80 wlc", "  -> 10.0.9.9:80 nat weight 1")
	f.wantOps(pass([]ipvs.VirtualServer{vs}, all),
		"create-dest tcp/192.0.2.1:80 10.0.0.1:80 nat weight 1",
		"create-dest tcp/192.0.2.1:80 10.0.0.2:80 nat weight 1",
		"create-dest tcp/192.0.2.1:80 10.0.0.3:80 nat weight 1",
		"remove-dest tcp/192.0.2.1:80 10.0.9.9:80",
	)
	// The operator removes 10.0.0.3 from the configuration.
	vs.RealServers = vs.RealServers[:2]
	f.wantOps(pass([]ipvs.VirtualServer{vs}, all),
		"update-dest tcp/192.0.2.1:80 10.0.0.3:80 nat weight 0")
	f.clk.Advance(30 * time.Second)
	f.wantOps(pass([]ipvs.VirtualServer{vs}, all),
		"remove-dest tcp/192.0.2.1:80 10.0.0.3:80")
	f.wantTable("tcp/192.0.2.1:80 wlc", "  -> 10.0.0.1:80 nat weight 1", "  -> 10.0.0.2:80 nat weight 1")
}
