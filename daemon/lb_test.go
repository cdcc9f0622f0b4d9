package daemon

import (
	"context"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"testing"

	"github.com/vigil-lb/vigil/collector"
	"github.com/vigil-lb/vigil/ipvs"
	"github.com/vigil-lb/vigil/ipvs/ipvstest"
)

// The metrics snapshot is built from the table the pass read, with the
// pass's own changes: no second read of the table. A pass started by one
// real server's change reads that service only.
func TestLBReconcileReadsOnceAndOnlyWhatChanged(t *testing.T) {
	k := ipvstest.New()
	l, err := newLB(k, t.TempDir(), nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ap := netip.MustParseAddrPort
	web := ipvs.VirtualServer{Name: "web", Key: ipvs.AddrKey(ipvs.TCP, ap("192.0.2.1:80")), Scheduler: "wlc", Forwarding: ipvs.ForwardNAT,
		RealServers: []ipvs.RealServer{{Address: ap("10.0.0.1:80"), Weight: 1}, {Address: ap("10.0.0.2:80"), Weight: 2}}}
	dns := ipvs.VirtualServer{Name: "dns", Key: ipvs.AddrKey(ipvs.UDP, ap("192.0.2.1:53")), Scheduler: "rr", Forwarding: ipvs.ForwardNAT,
		RealServers: []ipvs.RealServer{{Address: ap("10.0.0.3:53"), Weight: 1}}}
	l.cfg = &lbConfig{virtualServers: []ipvs.VirtualServer{web, dns}}
	l.configured = true
	ctx := context.Background()

	weights := func() map[string]int {
		t.Helper()
		out := map[string]int{}
		for _, vs := range l.snap.Load().VirtualServers {
			if !vs.InKernel {
				t.Errorf("snapshot: %s not in the kernel", vs.Name)
			}
			for _, rs := range vs.RealServers {
				if !rs.InKernel {
					t.Errorf("snapshot: %s %s not in the kernel", vs.Name, rs.Address)
				}
				out[vs.Name+" "+rs.Address] = rs.KernelWeight
			}
		}
		return out
	}
	wantReads := func(full int, services ...ipvs.ServiceKey) {
		t.Helper()
		if k.Reads() != full || !slices.Equal(k.ServiceReads(), services) {
			t.Errorf("reads: %d full, services %v; want %d and %v", k.Reads(), k.ServiceReads(), full, services)
		}
		k.Reset()
	}

	l.reconcile(ctx)
	wantReads(1)
	want := map[string]int{"web 10.0.0.1:80": 1, "web 10.0.0.2:80": 2, "dns 10.0.0.3:53": 1}
	if got := weights(); !maps.Equal(got, want) {
		t.Errorf("kernel weights in the snapshot %v, want %v", got, want)
	}
	if s := l.snap.Load(); !s.IPVSUp || s.Reconcile.Runs != 1 || s.Reconcile.Changes["dest_create"] != 3 {
		t.Errorf("snapshot %+v", snapshotSummary(s))
	}

	// An operator's weight on one real server.
	five := 5
	l.overrides = ipvs.Overrides{{VirtualServer: "web", RealServer: "10.0.0.2:80"}: {Weight: &five}}
	l.reconcile(ctx)
	wantReads(0, web.Key)
	want["web 10.0.0.2:80"] = 5
	if got := weights(); !maps.Equal(got, want) {
		t.Errorf("kernel weights in the snapshot %v, want %v", got, want)
	}
	if got, ok := k.Lookup(web.Key); !ok || got.Destinations[1].Weight != 5 {
		t.Errorf("kernel: %v", got)
	}

	// Nothing changed: nothing read.
	l.reconcile(ctx)
	wantReads(0)
	if got := weights(); !maps.Equal(got, want) {
		t.Errorf("kernel weights in the snapshot %v, want %v", got, want)
	}
}

func snapshotSummary(s *collector.LBSnapshot) any {
	return struct {
		IPVSUp    bool
		Reconcile collector.ReconcileStats
	}{s.IPVSUp, s.Reconcile}
}
