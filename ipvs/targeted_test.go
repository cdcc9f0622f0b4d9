package ipvs_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vigil-lb/vigil/ipvs"
	"github.com/vigil-lb/vigil/ipvs/ipvstest"
)

// The tests in this file cover passes that read only the services they
// re-plan (Options.ResyncInterval > 0). The scenarios run with such a
// Reconciler too (runScenarios).

// targeted is a Reconciler with a resync interval over a kernel that counts
// reads, on a test clock.
type targeted struct {
	t    *testing.T
	k    ipvs.Kernel // what the Reconciler uses
	fake *ipvstest.Kernel
	clk  *clock
	logs *bytes.Buffer
	r    *ipvs.Reconciler
}

func newTargeted(t *testing.T, grace, resync time.Duration) *targeted {
	k := ipvstest.New()
	return newTargetedOver(t, k, k, grace, resync)
}

func newTargetedOver(t *testing.T, k ipvs.Kernel, fake *ipvstest.Kernel, grace, resync time.Duration) *targeted {
	x := &targeted{t: t, k: k, fake: fake, clk: &clock{t0}, logs: &bytes.Buffer{}}
	r, err := ipvs.NewReconciler(ipvs.Options{
		Kernel:         k,
		StateDir:       t.TempDir(),
		DrainGrace:     grace,
		ResyncInterval: resync,
		Logger:         slog.New(slog.NewTextHandler(x.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:            x.clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	x.r = r
	return x
}

// pass is one pass that must succeed, with what it did to the kernel.
type pass struct {
	res          ipvs.Result
	ops          []string
	fullReads    int
	serviceReads []ipvs.ServiceKey
}

func (x *targeted) pass(desired []ipvs.Service) pass {
	x.t.Helper()
	x.fake.Reset()
	res, err := x.r.Reconcile(context.Background(), desired)
	if err != nil {
		x.t.Fatalf("Reconcile: %v", err)
	}
	return pass{res, x.fake.Ops(), x.fake.Reads(), x.fake.ServiceReads()}
}

// want checks a pass: its result, operations, full reads and the services
// it read one by one.
func (p pass) want(t *testing.T, res ipvs.Result, fullReads int, serviceReads []ipvs.ServiceKey, ops ...string) {
	t.Helper()
	wantResult(t, p.res, res)
	if diff := cmp.Diff(ops, p.ops); diff != "" {
		t.Errorf("kernel operations (-want +got):\n%s", diff)
	}
	if p.fullReads != fullReads {
		t.Errorf("read the whole table %d times, want %d", p.fullReads, fullReads)
	}
	if !slices.Equal(p.serviceReads, serviceReads) {
		t.Errorf("read services %v, want %v", p.serviceReads, serviceReads)
	}
}

func keys(k ...ipvs.ServiceKey) []ipvs.ServiceKey { return k }

// withWeight returns desired with destination (si, di) at weight w.
func withWeight(desired []ipvs.Service, si, di, w int) []ipvs.Service {
	out := slices.Clone(desired)
	out[si].Destinations = slices.Clone(out[si].Destinations)
	out[si].Destinations[di].Weight = w
	return out
}

// TestTargetedPassReadsOnlyChangedServices is the point of the resync
// interval: on a 100 × 10 table a weight change, a drain, its end and a
// withdrawn real server each read and touch only their own service.
func TestTargetedPassReadsOnlyChangedServices(t *testing.T) {
	x := newTargeted(t, 30*time.Second, time.Hour)
	desired := bigTable(100, 10)
	x.pass(desired).want(t, ipvs.Result{ServiceCreate: 100, DestCreate: 1000}, 1, nil, x.fake.Ops()...)
	x.pass(desired).want(t, ipvs.Result{}, 0, nil)

	// One weight.
	desired = withWeight(desired, 50, 3, 9)
	s50 := desired[50]
	x.pass(desired).want(t, ipvs.Result{DestUpdate: 1}, 0, keys(s50.Key),
		ipvstest.UpdateDestinationOp(s50.Key, s50.Destinations[3]))

	// One real server removed from the configuration: drained.
	desired = slices.Clone(desired)
	s7 := desired[7]
	gone := s7.Destinations[2]
	desired[7].Destinations = slices.Delete(slices.Clone(s7.Destinations), 2, 3)
	drained := gone
	drained.Weight = 0
	x.pass(desired).want(t, ipvs.Result{DestUpdate: 1, Draining: 1}, 0, keys(s7.Key),
		ipvstest.UpdateDestinationOp(s7.Key, drained))
	x.clk.Advance(29 * time.Second)
	x.pass(desired).want(t, ipvs.Result{Draining: 1}, 0, nil)

	// Its deadline: removed.
	x.clk.Advance(time.Second)
	x.pass(desired).want(t, ipvs.Result{DestDelete: 1}, 0, keys(s7.Key),
		ipvstest.RemoveDestinationOp(s7.Key, gone.Address))

	// A real server failing its checks: withdrawn at once.
	desired = slices.Clone(desired)
	s9 := desired[9]
	desired[9].Destinations = s9.Destinations[1:]
	desired[9].Withdrawn = []netip.AddrPort{s9.Destinations[0].Address}
	x.pass(desired).want(t, ipvs.Result{DestDelete: 1}, 0, keys(s9.Key),
		ipvstest.RemoveDestinationOp(s9.Key, s9.Destinations[0].Address))

	// A service removed from the configuration, and one added.
	next := slices.Clone(desired[1:])
	added := bigTable(101, 1)[100]
	next = append(next, added)
	x.pass(next).want(t, ipvs.Result{ServiceCreate: 1, DestCreate: 1, DestUpdate: 10, Draining: 1}, 0, keys(added.Key, desired[0].Key),
		append([]string{ipvstest.CreateServiceOp(added), ipvstest.CreateDestinationOp(added.Key, added.Destinations[0])},
			drainOps(desired[0])...)...)

	x.pass(next).want(t, ipvs.Result{Draining: 1}, 0, nil)
}

// drainOps are the operations that drain every destination of s.
func drainOps(s ipvs.Service) []string {
	var out []string
	ds := slices.Clone(s.Destinations)
	slices.SortFunc(ds, func(a, b ipvs.Destination) int { return a.Address.Compare(b.Address) })
	for _, d := range ds {
		d.Weight = 0
		out = append(out, ipvstest.UpdateDestinationOp(s.Key, d))
	}
	return out
}

// A change behind vigil's back to a service no pass re-plans is found by
// the next full read, ResyncInterval after the last one, and repaired as
// drift.
func TestTargetedPassResyncRepairsDrift(t *testing.T) {
	x := newTargeted(t, 0, 5*time.Second)
	ctx := context.Background()
	if _, ok := x.r.NextResync(); ok {
		t.Error("NextResync before the first pass")
	}
	x.pass(table()).want(t, ipvs.Result{ServiceCreate: 3, DestCreate: 4}, 1, nil, x.fake.Ops()...)
	if got, ok := x.r.NextResync(); !ok || !got.Equal(t0.Add(5*time.Second)) {
		t.Errorf("NextResync = %v, %v; want %v", got, ok, t0.Add(5*time.Second))
	}

	// Behind vigil's back: web's weight.
	if err := x.fake.UpdateDestination(ctx, web, nat("10.0.0.1:80", 7)); err != nil {
		t.Fatal(err)
	}
	// A change to dns6 reads dns6 only: web's drift waits for the resync.
	x.clk.Advance(4 * time.Second)
	next := table()
	next[1].Destinations[0].Weight = 3
	x.pass(next).want(t, ipvs.Result{DestUpdate: 1}, 0, keys(dns6), "update-dest udp/[2001:db8::1]:53 [2001:db8::10]:53 nat weight 3")
	if got, ok := x.r.NextResync(); !ok || !got.Equal(t0.Add(5*time.Second)) {
		t.Errorf("NextResync after a targeted pass = %v, %v; want it unchanged", got, ok)
	}

	x.clk.Advance(time.Second)
	x.pass(next).want(t, ipvs.Result{DestUpdate: 1, DriftRepaired: 1}, 1, nil, "update-dest tcp/192.0.2.1:80 10.0.0.1:80 nat weight 1")
	if got, ok := x.r.NextResync(); !ok || !got.Equal(t0.Add(10*time.Second)) {
		t.Errorf("NextResync after the resync = %v, %v", got, ok)
	}

	// Without an interval every pass reads everything.
	x = newTargeted(t, 0, 0)
	x.pass(table())
	x.pass(table()).want(t, ipvs.Result{}, 1, nil)
	if _, ok := x.r.NextResync(); ok {
		t.Error("NextResync without an interval")
	}
}

// racer changes the kernel right after the Reconciler read a service, as
// another program could: the targeted pass's plan is stale. The change is
// not recorded as an operation.
type racer struct {
	*ipvstest.Kernel
	after func()
}

func (r *racer) Service(ctx context.Context, key ipvs.ServiceKey) (ipvs.Service, error) {
	s, err := r.Kernel.Service(ctx, key)
	if r.after != nil {
		r.after()
		r.after = nil
	}
	return s, err
}

// An operation that fails because the kernel is not as the targeted pass
// read it (ENOENT, EEXIST) makes the pass read the whole table and plan
// again: the cache of reads is never trusted over the kernel. (The fake
// records an operation that fails that way like one that succeeds.)
func TestTargetedPassFallsBackToFullRead(t *testing.T) {
	for _, tt := range []struct {
		name   string
		change func([]ipvs.Service) []ipvs.Service
		race   func(k *ipvstest.Kernel)
		ops    []string
		res    ipvs.Result
		sreads []ipvs.ServiceKey
	}{
		{
			name:   "destination removed",
			change: func(d []ipvs.Service) []ipvs.Service { return withWeight(d, 0, 1, 5) },
			race: func(k *ipvstest.Kernel) {
				s, _ := k.Lookup(web)
				s.Destinations = slices.DeleteFunc(s.Destinations, func(d ipvs.Destination) bool { return d.Address == ap("10.0.0.2:80") })
				k.Set(s)
			},
			ops: []string{
				"update-dest tcp/192.0.2.1:80 10.0.0.2:80 nat weight 5", // fails: the kernel changed after the read
				"create-dest tcp/192.0.2.1:80 10.0.0.2:80 nat weight 5",
			},
			res:    ipvs.Result{DestCreate: 1, DriftRepaired: 1},
			sreads: keys(web),
		},
		{
			name: "destination added",
			change: func(d []ipvs.Service) []ipvs.Service {
				d[0].Destinations = append(d[0].Destinations, nat("10.0.0.3:80", 3))
				return d
			},
			race: func(k *ipvstest.Kernel) {
				s, _ := k.Lookup(web)
				s.Destinations = append(s.Destinations, nat("10.0.0.3:80", 8))
				k.Set(s)
			},
			ops: []string{
				"create-dest tcp/192.0.2.1:80 10.0.0.3:80 nat weight 3", // fails: the kernel changed after the read
				"update-dest tcp/192.0.2.1:80 10.0.0.3:80 nat weight 3",
			},
			res:    ipvs.Result{DestUpdate: 1, DriftRepaired: 1},
			sreads: keys(web),
		},
		{
			name:   "service removed",
			change: func(d []ipvs.Service) []ipvs.Service { return withWeight(d, 2, 0, 4) },
			race:   func(k *ipvstest.Kernel) { k.Delete(mark) },
			ops: []string{
				"update-dest fwmark4/10 10.0.0.1:0 dr weight 4", // fails: the kernel changed after the read
				"create-service fwmark4/10 rr persistent 5m0s mask /24",
				"create-dest fwmark4/10 10.0.0.1:0 dr weight 4",
			},
			res:    ipvs.Result{ServiceCreate: 1, DestCreate: 1, DriftRepaired: 1},
			sreads: keys(mark),
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fake := ipvstest.New()
			rc := &racer{Kernel: fake}
			x := newTargetedOver(t, rc, fake, 30*time.Second, time.Hour)
			x.pass(table())
			rc.after = func() { tt.race(fake) }
			desired := tt.change(table())
			x.pass(desired).want(t, tt.res, 1, tt.sreads, tt.ops...)
			if !strings.Contains(x.logs.String(), "differs from what a targeted pass read") {
				t.Errorf("fallback not logged:\n%s", x.logs)
			}
			// And the table is right: the next pass has nothing to do.
			x.pass(desired).want(t, ipvs.Result{}, 0, nil)
		})
	}
}

// ENOENT from creating a service means its scheduler module is missing:
// the read was not stale, and the failure must not cost a full read on
// every pass.
func TestTargetedPassUnknownSchedulerIsNotStale(t *testing.T) {
	x := newTargeted(t, 0, time.Hour)
	x.pass(table())
	odd := ipvs.Service{Key: foreign, Scheduler: "nosuch"}
	x.fake.FailOn(ipvstest.CreateServiceOp(odd), fmt.Errorf("%w: nosuch: %w", ipvs.ErrUnknownScheduler, os.ErrNotExist))
	desired := append(table(), odd)
	for range 2 {
		x.fake.Reset()
		_, err := x.r.Reconcile(context.Background(), desired)
		if !errors.Is(err, ipvs.ErrUnknownScheduler) {
			t.Fatalf("err = %v", err)
		}
		// Read to plan it, and read back after the failure.
		if got := x.fake.ServiceReads(); x.fake.Reads() != 0 || !slices.Equal(got, keys(foreign, foreign)) {
			t.Errorf("reads: %d full, services %v; want 0 and [%s %s]", x.fake.Reads(), got, foreign, foreign)
		}
	}
}

// A failed operation leaves its service unknown: the next pass reads and
// plans it again, and nothing else.
func TestTargetedPassRetriesFailedServices(t *testing.T) {
	x := newTargeted(t, 0, time.Hour)
	boom := errors.New("boom")
	x.fake.FailOn("create-dest tcp/192.0.2.1:80 10.0.0.2:80 nat weight 2", boom)
	x.fake.Reset()
	if _, err := x.r.Reconcile(context.Background(), table()); !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	if x.fake.Reads() != 1 || !slices.Equal(x.fake.ServiceReads(), keys(web)) {
		t.Errorf("first pass: %d full reads, services %v; want 1 and the read back of %s", x.fake.Reads(), x.fake.ServiceReads(), web)
	}
	if s, ok := x.r.Observed(web); !ok || len(s.Destinations) != 1 {
		t.Errorf("Observed(%s) = %v, %v; want what the kernel holds: one destination", web, s, ok)
	}
	x.fake.FailOn("create-dest tcp/192.0.2.1:80 10.0.0.2:80 nat weight 2", nil)
	x.pass(table()).want(t, ipvs.Result{DestCreate: 1}, 0, keys(web), "create-dest tcp/192.0.2.1:80 10.0.0.2:80 nat weight 2")
	x.pass(table()).want(t, ipvs.Result{}, 0, nil)
}

// A drain grace changed by SetDrainGrace applies at the next pass, as it
// does when every pass reads everything.
func TestTargetedPassSetDrainGrace(t *testing.T) {
	x := newTargeted(t, 30*time.Second, time.Hour)
	x.pass(table())
	next := table()
	next[0].Destinations = next[0].Destinations[:1]
	x.pass(next).want(t, ipvs.Result{DestUpdate: 1, Draining: 1}, 0, keys(web), "update-dest tcp/192.0.2.1:80 10.0.0.2:80 nat weight 0")
	x.r.SetDrainGrace(map[ipvs.ServiceKey]time.Duration{web: 30 * time.Second}) // unchanged: nothing to do
	x.pass(next).want(t, ipvs.Result{Draining: 1}, 0, nil)
	x.r.SetDrainGrace(map[ipvs.ServiceKey]time.Duration{web: 0})
	x.pass(next).want(t, ipvs.Result{DestDelete: 1}, 0, keys(web), "remove-dest tcp/192.0.2.1:80 10.0.0.2:80")
}

// Observed is the table as the last pass left it, counters as read: what
// the daemon's metrics show without reading the table again.
func TestObserved(t *testing.T) {
	x := newTargeted(t, 0, time.Hour)
	ctx := context.Background()
	// web exists already (adopted), with counters and a weight to fix.
	x.fake.Set(ipvs.Service{Key: web, Scheduler: "wlc", Netmask: 32, Stats: ipvs.Stats{Connections: 7},
		Destinations: []ipvs.Destination{
			{Address: ap("10.0.0.2:80"), Weight: 9, Forwarding: ipvs.ForwardNAT, Stats: ipvs.DestinationStats{ActiveConnections: 4}},
			{Address: ap("10.0.0.1:80"), Weight: 1, Forwarding: ipvs.ForwardNAT, Stats: ipvs.DestinationStats{ActiveConnections: 3}},
		}})
	x.fake.Set(ipvs.Service{Key: foreign, Scheduler: "rr", Netmask: 32})
	x.pass(table()).want(t, ipvs.Result{ServiceCreate: 2, DestCreate: 2, DestUpdate: 1, Adopted: 1}, 1, nil, x.fake.Ops()...)

	wantObserved := func(key ipvs.ServiceKey, stats ipvs.Stats, dests ...string) {
		t.Helper()
		s, ok := x.r.Observed(key)
		if !ok {
			t.Errorf("Observed(%s): not in the kernel", key)
			return
		}
		var got []string
		for _, d := range s.Destinations {
			got = append(got, fmt.Sprintf("%s active %d", d, d.Stats.ActiveConnections))
		}
		if diff := cmp.Diff(dests, got); diff != "" || s.Stats != stats {
			t.Errorf("Observed(%s) = %s %+v (-want +got):\n%s", key, s, s.Stats, diff)
		}
	}
	wantObserved(web, ipvs.Stats{Connections: 7}, "10.0.0.1:80 nat weight 1 active 3", "10.0.0.2:80 nat weight 2 active 4")
	wantObserved(dns6, ipvs.Stats{}, "[2001:db8::10]:53 nat weight 1 active 0")
	wantObserved(foreign, ipvs.Stats{})
	if _, ok := x.r.Observed(ipvs.AddrKey(ipvs.TCP, ap("192.0.2.99:80"))); ok {
		t.Error("Observed: a service that is not in the kernel")
	}

	// A targeted pass: dns6 read and changed, web as before.
	next := table()
	next[1].Destinations[0].Weight = 5
	x.pass(next).want(t, ipvs.Result{DestUpdate: 1}, 0, keys(dns6), x.fake.Ops()...)
	wantObserved(dns6, ipvs.Stats{}, "[2001:db8::10]:53 nat weight 5 active 0")
	wantObserved(web, ipvs.Stats{Connections: 7}, "10.0.0.1:80 nat weight 1 active 3", "10.0.0.2:80 nat weight 2 active 4")

	// A service removed (no grace) is gone.
	x.pass(next[1:]).want(t, ipvs.Result{ServiceDelete: 1}, 0, keys(web), "remove-service tcp/192.0.2.1:80")
	if _, ok := x.r.Observed(web); ok {
		t.Error("Observed: a removed service")
	}

	// No IPVS: nothing is in the kernel.
	x.fake.Unavailable = true
	if _, err := x.r.Reconcile(ctx, table()); !errors.Is(err, ipvs.ErrUnavailable) {
		t.Fatalf("err = %v", err)
	}
	if _, ok := x.r.Observed(dns6); ok {
		t.Error("Observed without IPVS")
	}
	x.fake.Unavailable = false
	x.pass(next[1:]).want(t, ipvs.Result{}, 1, nil)
	wantObserved(dns6, ipvs.Stats{}, "[2001:db8::10]:53 nat weight 5 active 0")
}
