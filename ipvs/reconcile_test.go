package ipvs_test

import (
	"context"
	"errors"
	"fmt"
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

// TestReconcileScenarios runs the shared scenarios against the in-memory
// kernel.
func TestReconcileScenarios(t *testing.T) {
	runScenarios(t, func(*testing.T) ipvs.Kernel { return ipvstest.New() })
}

// newFixture is a fixture over the in-memory kernel, for the tests that
// need its failure injection.
func newFixture(t *testing.T, grace time.Duration) (*fixture, *ipvstest.Kernel) {
	k := ipvstest.New()
	return newFixtureWith(t, k, grace), k
}

func TestReconcileContinuesPastErrors(t *testing.T) {
	f, k := newFixture(t, 0)
	boom := errors.New("boom")
	k.FailOn("create-dest tcp/192.0.2.1:80 10.0.0.2:80 nat weight 2", boom)
	k.FailOn("create-service udp/[2001:db8::1]:53 rr ops", boom)
	f.rec.Reset()
	res, err := f.r.Reconcile(context.Background(), table())
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	f.wantOps(f.rec.Ops(),
		"create-service tcp/192.0.2.1:80 wlc",
		"create-dest tcp/192.0.2.1:80 10.0.0.1:80 nat weight 1",
		"create-dest tcp/192.0.2.1:80 10.0.0.2:80 nat weight 2 (failed)",
		"create-service udp/[2001:db8::1]:53 rr ops (failed)",
		"create-service fwmark4/10 rr persistent 5m0s mask /24",
		"create-dest fwmark4/10 10.0.0.1:0 dr weight 1",
	)
	wantResult(t, res, ipvs.Result{ServiceCreate: 2, DestCreate: 2})

	// Once the kernel accepts them, the next pass finishes the job; what
	// failed is not mistaken for drift.
	k.FailOn("create-dest tcp/192.0.2.1:80 10.0.0.2:80 nat weight 2", nil)
	k.FailOn("create-service udp/[2001:db8::1]:53 rr ops", nil)
	res, ops := f.reconcile(table())
	f.wantOps(ops,
		"create-dest tcp/192.0.2.1:80 10.0.0.2:80 nat weight 2",
		"create-service udp/[2001:db8::1]:53 rr ops",
		"create-dest udp/[2001:db8::1]:53 [2001:db8::10]:53 nat weight 1",
	)
	wantResult(t, res, ipvs.Result{ServiceCreate: 1, DestCreate: 2})
}

func TestReconcileRemovingWhatIsGoneIsNotAnError(t *testing.T) {
	f, k := newFixture(t, 0)
	f.reconcile(table())
	k.FailOn("remove-service tcp/192.0.2.1:80", fmt.Errorf("raced: %w", os.ErrNotExist))
	res, ops := f.reconcile(table()[1:])
	f.wantOps(ops, "remove-service tcp/192.0.2.1:80 (failed)")
	wantResult(t, res, ipvs.Result{ServiceDelete: 1})
	if slices.Contains(f.r.Owned(), web) {
		t.Error("still owned")
	}
}

func TestReconcileKeepsDrainUntilRemovalSucceeds(t *testing.T) {
	f, k := newFixture(t, 30*time.Second)
	f.reconcile(table())
	next := table()
	next[0].Destinations = next[0].Destinations[:1]
	f.reconcile(next)
	f.clk.Advance(30 * time.Second)
	k.FailOn("remove-dest tcp/192.0.2.1:80 10.0.0.2:80", errors.New("busy"))
	if _, err := f.r.Reconcile(context.Background(), next); err == nil {
		t.Fatal("no error")
	}
	if d, ok := f.r.NextDeadline(); !ok || !d.Equal(t0.Add(30*time.Second)) {
		t.Errorf("NextDeadline = %v, %v; want the passed deadline kept", d, ok)
	}
	k.FailOn("remove-dest tcp/192.0.2.1:80 10.0.0.2:80", nil)
	_, ops := f.reconcile(next)
	f.wantOps(ops, "remove-dest tcp/192.0.2.1:80 10.0.0.2:80")
	if _, ok := f.r.NextDeadline(); ok {
		t.Error("drain still pending")
	}
}

func TestReconcileStopsWhenCancelled(t *testing.T) {
	f, _ := newFixture(t, 0)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := f.r.Reconcile(ctx, table())
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if ops := f.rec.Ops(); len(ops) != 0 {
		t.Errorf("operations after cancellation: %v", ops)
	}
}

func TestReconcileUnavailableIsLoggedOnce(t *testing.T) {
	f, k := newFixture(t, 0)
	k.Unavailable = true
	for range 3 {
		_, err := f.r.Reconcile(context.Background(), table())
		if !errors.Is(err, ipvs.ErrUnavailable) {
			t.Fatalf("err = %v, want ErrUnavailable", err)
		}
	}
	if n := strings.Count(f.logs.String(), "IPVS is not available"); n != 1 {
		t.Errorf("logged %d times:\n%s", n, f.logs)
	}
	k.Unavailable = false
	res, _ := f.reconcile(table())
	if res.ServiceCreate != 3 {
		t.Errorf("result %+v", res)
	}
	if n := strings.Count(f.logs.String(), "IPVS is available"); n != 1 {
		t.Errorf("recovery logged %d times:\n%s", n, f.logs)
	}
}

func TestReconcileRejectsInvalidDesiredTable(t *testing.T) {
	f, k := newFixture(t, 0)
	bad := append(table(), table()[0])
	bad[1].Scheduler = ""
	_, err := f.r.Reconcile(context.Background(), bad)
	if err == nil || !strings.Contains(err.Error(), "listed twice") || !strings.Contains(err.Error(), "needs a scheduler") {
		t.Fatalf("err = %v", err)
	}
	if k.Reads() != 0 || len(f.rec.Ops()) != 0 {
		t.Errorf("kernel used: %d reads, ops %v", k.Reads(), f.rec.Ops())
	}
}

func TestReconcileReportsStateWriteFailureButProgramsKernel(t *testing.T) {
	k := ipvstest.New()
	r, err := ipvs.NewReconciler(ipvs.Options{Kernel: k, StateDir: filepath.Join(t.TempDir(), "missing")})
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Reconcile(context.Background(), table())
	if err == nil || !strings.Contains(err.Error(), "writing ipvs ownership") {
		t.Errorf("err = %v", err)
	}
	if res.ServiceCreate != 3 {
		t.Errorf("result %+v", res)
	}
}

func TestNewReconcilerRejectsCorruptState(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ipvs.StateFile), []byte("not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ipvs.NewReconciler(ipvs.Options{Kernel: ipvstest.New(), StateDir: dir}); err == nil {
		t.Fatal("corrupt state accepted")
	}
	if _, err := ipvs.NewReconciler(ipvs.Options{}); err == nil {
		t.Fatal("missing kernel accepted")
	}
}

func TestResultByKind(t *testing.T) {
	r := ipvs.Result{ServiceCreate: 1, ServiceUpdate: 2, ServiceDelete: 3, DestCreate: 4, DestUpdate: 5, DestDelete: 6}
	want := map[string]int{"service_create": 1, "service_update": 2, "service_delete": 3, "dest_create": 4, "dest_update": 5, "dest_delete": 6}
	if diff := cmp.Diff(want, r.ByKind()); diff != "" || r.Changes() != 21 {
		t.Errorf("ByKind (-want +got):\n%s; Changes %d", diff, r.Changes())
	}
}

// bigTable is n services of m destinations each.
func bigTable(n, m int) []ipvs.Service {
	svcs := make([]ipvs.Service, n)
	for i := range svcs {
		s := ipvs.Service{
			Key:       ipvs.AddrKey(ipvs.TCP, netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), 80)),
			Scheduler: "wlc",
		}
		for j := range m {
			s.Destinations = append(s.Destinations, ipvs.Destination{
				Address:    netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 2, byte(i), byte(j)}), 8080),
				Weight:     1 + j,
				Forwarding: ipvs.ForwardDR,
			})
		}
		svcs[i] = s
	}
	return svcs
}

// BenchmarkReconcile1000x10 measures passes over 1000 services of 10 real
// servers against the recording fake: building the table from empty, the
// steady state where nothing changes, and one weight changed, with passes
// that read the whole table and with targeted ones (ResyncInterval).
func BenchmarkReconcile1000x10(b *testing.B) {
	desired := bigTable(1000, 10)
	ctx := context.Background()
	b.Run("from-empty", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			r, _ := ipvs.NewReconciler(ipvs.Options{Kernel: ipvstest.New()})
			b.StartTimer()
			res, err := r.Reconcile(ctx, desired)
			if err != nil || res.DestCreate != 10000 {
				b.Fatalf("%+v %v", res, err)
			}
		}
	})
	for _, mode := range []struct {
		name   string
		resync time.Duration
	}{{"full", 0}, {"targeted", time.Hour}} {
		b.Run("steady-"+mode.name, func(b *testing.B) {
			r, _ := ipvs.NewReconciler(ipvs.Options{Kernel: ipvstest.New(), ResyncInterval: mode.resync})
			if _, err := r.Reconcile(ctx, desired); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				res, err := r.Reconcile(ctx, desired)
				if err != nil || res.Changes() != 0 {
					b.Fatalf("%+v %v", res, err)
				}
			}
		})
		b.Run("weight-"+mode.name, func(b *testing.B) {
			r, _ := ipvs.NewReconciler(ipvs.Options{Kernel: ipvstest.New(), ResyncInterval: mode.resync})
			if _, err := r.Reconcile(ctx, desired); err != nil {
				b.Fatal(err)
			}
			alt := [2][]ipvs.Service{withWeight(desired, 500, 5, 100), withWeight(desired, 500, 5, 101)}
			i := 0
			for b.Loop() {
				res, err := r.Reconcile(ctx, alt[i%2])
				if err != nil || res.DestUpdate != 1 {
					b.Fatalf("%+v %v", res, err)
				}
				i++
			}
		})
	}
}

// A per-service drain grace overrides the default one.
func TestSetDrainGracePerService(t *testing.T) {
	k := ipvstest.New()
	now := time.Unix(1000, 0)
	r, err := ipvs.NewReconciler(ipvs.Options{Kernel: k, DrainGrace: time.Hour, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	svc := ipvs.Service{Key: ipvs.ServiceKey{Family: ipvs.IPv4, Protocol: ipvs.TCP, Address: netip.MustParseAddrPort("10.0.0.1:80")}, Scheduler: "rr",
		Destinations: []ipvs.Destination{{Address: netip.MustParseAddrPort("10.0.0.2:80"), Weight: 1, Forwarding: ipvs.ForwardNAT}, {Address: netip.MustParseAddrPort("10.0.0.3:80"), Weight: 1, Forwarding: ipvs.ForwardNAT}}}
	r.SetDrainGrace(map[ipvs.ServiceKey]time.Duration{svc.Key: 10 * time.Second})
	if _, err := r.Reconcile(context.Background(), []ipvs.Service{svc}); err != nil {
		t.Fatal(err)
	}
	svc.Destinations = svc.Destinations[:1]
	if _, err := r.Reconcile(context.Background(), []ipvs.Service{svc}); err != nil {
		t.Fatal(err)
	}
	if d, ok := r.NextDeadline(); !ok || !d.Equal(now.Add(10*time.Second)) {
		t.Fatalf("drain deadline %v %v, want %v", d, ok, now.Add(10*time.Second))
	}
}
