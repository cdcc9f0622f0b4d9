package collector

import (
	"bytes"
	"compress/gzip"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/vigil-lb/vigil/check"
	"github.com/vigil-lb/vigil/ipvs"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/lb_mid.prom.gz from referenceLB (not from NewLB)")

// exposition is the text exposition (format 0.0.4) of c alone, as a
// pedantic registry gathers it: families by name, series sorted by label
// values.
func exposition(t testing.TB, c prometheus.Collector) []byte {
	t.Helper()
	b, err := render(c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func render(c prometheus.Collector) ([]byte, error) {
	r := prometheus.NewPedanticRegistry()
	if err := r.Register(c); err != nil {
		return nil, err
	}
	mfs, err := r.Gather()
	if err != nil {
		return nil, fmt.Errorf("gathering: %w", err)
	}
	var b bytes.Buffer
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
			return nil, err
		}
	}
	return b.Bytes(), nil
}

// diffExposition describes the first lines where got and want differ.
func diffExposition(got, want []byte) string {
	g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := range max(len(g), len(w)) {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("%d lines, want %d; first difference at line %d:\n got: %s\nwant: %s", len(g), len(w), i+1, gl, wl)
		}
	}
	return "identical"
}

// equalitySnapshots are the snapshots NewLB must expose exactly as
// referenceLB does: the fixtures of the other tests, a bench-shaped node,
// and random nodes that mix every case the collector distinguishes.
func equalitySnapshots() map[string]LBSnapshot {
	ipvsDown := testLBSnapshot()
	ipvsDown.IPVSUp = false
	notInKernel := testLBSnapshot()
	notInKernel.VirtualServers[1].InKernel = false
	snaps := map[string]LBSnapshot{
		"fixture":       testLBSnapshot(),
		"ipvs down":     ipvsDown,
		"not in kernel": notInKernel,
		"empty":         {},
		"checks":        checksSnapshot(),
		"sorry shares":  sorrySharesSnapshot(),
		"bench 20x10":   SyntheticLB(20, 10),
	}
	for seed := range uint64(8) {
		snaps[fmt.Sprintf("random %d", seed)] = variedLBSnapshot(seed, 25, 6)
	}
	return snaps
}

// TestLBMatchesReference: for every equality snapshot, NewLB's exposition
// is byte for byte referenceLB's.
func TestLBMatchesReference(t *testing.T) {
	for name, snap := range equalitySnapshots() {
		t.Run(name, func(t *testing.T) {
			want := exposition(t, newReferenceLB(staticLB(snap)))
			got := exposition(t, NewLB(staticLB(snap)))
			if !bytes.Equal(got, want) {
				t.Errorf("exposition differs from the reference: %s", diffExposition(got, want))
			}
		})
	}
}

// TestLBCacheFollowsSnapshot: one collector scraped over a sequence of
// snapshots, with values changing under the same layout, strings equal
// but stored elsewhere, another layout, and each thing the layout depends
// on changed alone, exposes each as the reference does.
func TestLBCacheFollowsSnapshot(t *testing.T) {
	a := variedLBSnapshot(100, 20, 5)
	aValues := variedLBSnapshot(100, 20, 5) // same layout, fresh strings
	for i := range aValues.VirtualServers {
		vs := &aValues.VirtualServers[i]
		vs.InKernel = !vs.InKernel
		vs.Stats.Connections += 7
		for j := range vs.RealServers {
			r := &vs.RealServers[j]
			r.InKernel, r.Up, r.Drained = !r.InKernel, !r.Up, !r.Drained
			r.KernelWeight++
		}
	}
	for i := range aValues.Checks {
		s := &aValues.Checks[i]
		s.Up = !s.Up
		s.Results = map[string]uint64{check.ResultTimeout: uint64(i), "aborted": 1}
		s.Detail = map[string]float64{"http_status_code": 404}
		s.Weight = nil
	}
	b := variedLBSnapshot(101, 20, 5)
	seq := []LBSnapshot{a, a, aValues, b, a}
	// Then snapshots that differ from a in one thing the layout depends
	// on, each followed by a again.
	var has []int // virtual servers with real servers
	for i, vs := range a.VirtualServers {
		if len(vs.RealServers) > 0 {
			has = append(has, i)
		}
	}
	if len(has) < 2 {
		t.Fatalf("only %d virtual servers have real servers", len(has))
	}
	rs0 := func(s *LBSnapshot) *RealServerState { return &s.VirtualServers[has[0]].RealServers[0] }
	for _, change := range []func(s *LBSnapshot){
		func(s *LBSnapshot) { rs0(s).Address = "192.0.2.99:80" },
		func(s *LBSnapshot) { rs0(s).Sorry = !rs0(s).Sorry },
		func(s *LBSnapshot) { rs0(s).CheckIDs = []string{"elsewhere"} },
		func(s *LBSnapshot) { s.VirtualServers[has[1]].Name = "renamed" },
		func(s *LBSnapshot) { s.VirtualServers[has[1]].Scheduler = "lblc" },
		func(s *LBSnapshot) { s.VirtualServers[has[1]].Key = ipvs.FWMarkKey(ipvs.IPv6, 999) },
		func(s *LBSnapshot) { s.VirtualServers = s.VirtualServers[1:] },
		func(s *LBSnapshot) { s.VirtualServers[has[1]].RealServers = s.VirtualServers[has[1]].RealServers[1:] },
		func(s *LBSnapshot) { s.Checks[4].ID = "renamed" },
		func(s *LBSnapshot) { s.Checks[4].Type += "-other" },
		func(s *LBSnapshot) { s.Checks = s.Checks[1:] },
		func(s *LBSnapshot) { *s = LBSnapshot{} },
	} {
		changed := variedLBSnapshot(100, 20, 5)
		change(&changed)
		seq = append(seq, changed, a)
	}

	i := 0
	coll := NewLB(func() LBSnapshot { return seq[i] })
	for i = range seq {
		want := exposition(t, newReferenceLB(staticLB(seq[i])))
		if got := exposition(t, coll); !bytes.Equal(got, want) {
			t.Errorf("scrape %d: exposition differs from the reference: %s", i, diffExposition(got, want))
		}
	}
}

// TestLBConcurrentScrapes: scrapes running at once, over snapshots whose
// layouts alternate, each see their own snapshot (run with -race).
func TestLBConcurrentScrapes(t *testing.T) {
	snaps := []LBSnapshot{variedLBSnapshot(200, 10, 4), variedLBSnapshot(201, 12, 3)}
	want := [][]byte{
		exposition(t, newReferenceLB(staticLB(snaps[0]))),
		exposition(t, newReferenceLB(staticLB(snaps[1]))),
	}
	var mu sync.Mutex
	next := 0
	coll := NewLB(func() LBSnapshot {
		mu.Lock()
		defer mu.Unlock()
		next++
		return snaps[next%2]
	})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 10 {
				got, err := render(coll)
				if err != nil {
					t.Error(err)
					return
				}
				if !bytes.Equal(got, want[0]) && !bytes.Equal(got, want[1]) {
					t.Errorf("exposition is neither snapshot's: %s", diffExposition(got, want[0]))
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestLBGoldenMid compares the exposition of a mid-sized random node (40
// virtual servers) with testdata/lb_mid.prom.gz, which referenceLB wrote
// (go test -run TestLBGoldenMid -update): unlike TestLBMatchesReference it
// also holds the names, help texts and label names.
func TestLBGoldenMid(t *testing.T) {
	const path = "testdata/lb_mid.prom.gz"
	snap := variedLBSnapshot(7, 40, 6)
	if *updateGolden {
		var b bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
		zw.Write(exposition(t, newReferenceLB(staticLB(snap))))
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	want, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if got := exposition(t, NewLB(staticLB(snap))); !bytes.Equal(got, want) {
		t.Errorf("exposition differs from %s: %s", path, diffExposition(got, want))
	}
}

// checksSnapshot is TestLBChecks's node: a check before its first attempt,
// an outcome the collector does not list, and a check no real server
// lists.
func checksSnapshot() LBSnapshot {
	return LBSnapshot{
		IPVSUp: true,
		VirtualServers: []VirtualServerState{{
			Name: "dns", Key: ipvs.AddrKey(ipvs.UDP, netip.MustParseAddrPort("192.0.2.53:53")),
			RealServers: []RealServerState{{Address: "10.0.2.1:53", CheckIDs: []string{"c-new"}}},
		}},
		Checks: []check.Snapshot{
			{ID: "c-new", Type: "dns", Results: map[string]uint64{}},
			{ID: "c-orphan", Type: "tcp", Up: true, Results: map[string]uint64{check.ResultSuccess: 2, "cancelled": 1}},
		},
	}
}

// sorrySharesSnapshot is TestLBSorrySharesAddress's node: a sorry server
// at a real server's address, and a real server listed twice.
func sorrySharesSnapshot() LBSnapshot {
	key := ipvs.AddrKey(ipvs.TCP, netip.MustParseAddrPort("192.0.2.10:443"))
	return LBSnapshot{
		IPVSUp: true,
		VirtualServers: []VirtualServerState{{
			Name: "tls", Key: key, InKernel: true,
			RealServers: []RealServerState{
				{Address: "10.0.0.9:443", Sorry: true, ConfiguredWeight: 1, InKernel: true, KernelWeight: 1, Up: true},
				{Address: "10.0.0.9:443", ConfiguredWeight: 5, InKernel: true, KernelWeight: 5, Up: true},
				{Address: "10.0.0.8:443", ConfiguredWeight: 3},
				{Address: "10.0.0.8:443", ConfiguredWeight: 4},
			},
		}},
	}
}

// variedLBSnapshot is a random node of vss virtual servers with up to rss
// real servers each, reproducible from seed. It mixes what changes which
// series exist and what they are named: IPv4, IPv6 and firewall-mark
// services, default and explicit schedulers, virtual and real servers in
// and out of the kernel, real servers listed twice, shared between
// virtual servers, without checks or with several, sorry servers on their
// own address or a real server's, checks listed by two real servers, by
// none, or listed but missing, extra results, dynamic weights, and detail
// keys exposed or not.
func variedLBSnapshot(seed uint64, vss, rss int) LBSnapshot {
	rnd := rand.New(rand.NewPCG(seed, 0x5eed))
	pct := func(p int) bool { return rnd.IntN(100) < p }
	last := time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)
	snap := LBSnapshot{
		IPVSUp: seed%5 != 4,
		Reconcile: ReconcileStats{
			Runs: rnd.Uint64N(1000), Errors: rnd.Uint64N(3), DriftRepaired: rnd.Uint64N(3),
			Changes:      map[string]uint64{"dest_update": rnd.Uint64N(50), "dest_adopt": 1},
			LastDuration: time.Duration(rnd.Int64N(int64(time.Second))), LastSuccess: last,
		},
	}
	types := []string{"tcp", "http", "https", "mysql", "exec", "udp", "dns"}
	schedulers := []string{"", "wlc", "sh", "rr"}
	var ids []string
	addr := func(v6 bool, a, b int) string {
		if v6 {
			return netip.AddrPortFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(b), 14: byte(a)}), 80).String()
		}
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(a), byte(b)}), uint16(80+b%3)).String()
	}
	for i := range vss {
		var key ipvs.ServiceKey
		v6 := false
		switch i % 4 {
		case 0, 1:
			key = ipvs.AddrKey(ipvs.TCP, netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), 80))
		case 2:
			v6 = true
			key = ipvs.AddrKey(ipvs.UDP, netip.AddrPortFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i)}), 53))
		case 3:
			key = ipvs.FWMarkKey([]ipvs.Family{ipvs.IPv4, ipvs.IPv6}[i/4%2], uint32(i))
		}
		vs := VirtualServerState{
			// Names sort unlike the services and the order of the list.
			Name: fmt.Sprintf("vs-%c%d", 'a'+rune(rnd.IntN(26)), i), Key: key,
			Scheduler: schedulers[rnd.IntN(len(schedulers))],
			InKernel:  pct(85),
			Status: ipvs.VSStatus{QuorumUp: pct(80), SorryActive: pct(20),
				RealServers: rnd.IntN(10), RealServersUp: rnd.IntN(10), AliveWeight: rnd.IntN(100)},
			Stats: ipvs.Stats{Connections: rnd.Uint64(), PacketsIn: rnd.Uint64N(1e9), PacketsOut: rnd.Uint64N(1e6),
				BytesIn: rnd.Uint64N(1 << 50), BytesOut: 0},
		}
		n := rnd.IntN(rss + 1)
		for j := range n {
			r := RealServerState{
				// Small ranges, so that addresses repeat within and
				// across virtual servers.
				Address:          addr(v6, rnd.IntN(4), rnd.IntN(rss+2)),
				ConfiguredWeight: rnd.IntN(20), InKernel: pct(80), KernelWeight: rnd.IntN(20),
				Up: pct(70), Drained: pct(10),
				Stats: ipvs.DestinationStats{
					Stats:             ipvs.Stats{Connections: rnd.Uint64N(1e12), PacketsIn: rnd.Uint64(), BytesOut: rnd.Uint64N(1e3)},
					ActiveConnections: rnd.Uint32N(100), InactiveConnections: rnd.Uint32N(100), PersistentConnections: rnd.Uint32N(3),
				},
			}
			for k := range rnd.IntN(3) {
				id := fmt.Sprintf("%s/%s/%d-%d", vs.Name, r.Address, j, k)
				if len(ids) > 0 && pct(5) {
					id = ids[rnd.IntN(len(ids))] // listed by another real server too
				} else if pct(5) {
					id = "missing/" + id // no such check
				} else {
					ids = append(ids, id)
				}
				r.CheckIDs = append(r.CheckIDs, id)
			}
			vs.RealServers = append(vs.RealServers, r)
		}
		if pct(30) {
			sorry := RealServerState{Address: addr(v6, 9, rnd.IntN(4)), Sorry: true, ConfiguredWeight: 1, Up: true,
				InKernel: pct(50), KernelWeight: 1}
			if n > 0 && pct(40) {
				sorry.Address = vs.RealServers[rnd.IntN(n)].Address
			}
			at := rnd.IntN(len(vs.RealServers) + 1)
			vs.RealServers = slices.Insert(vs.RealServers, at, sorry)
		}
		snap.VirtualServers = append(snap.VirtualServers, vs)
	}
	for i := range 3 {
		ids = append(ids, fmt.Sprintf("orphan-%d", i))
	}
	details := []string{"replica_lag_seconds", "replica_io_running", "replica_sql_running", "mysql_read_only", "http_status_code", "http_body_bytes"}
	for _, id := range ids {
		s := check.Snapshot{
			ID: id, Type: types[rnd.IntN(len(types))], Up: pct(70),
			ConsecutiveFailures: rnd.IntN(5), LastDuration: time.Duration(rnd.Int64N(int64(5 * time.Second))),
			Results: map[string]uint64{}, Retries: rnd.Uint64N(10), Transitions: rnd.Uint64N(10), SkippedRuns: rnd.Uint64N(2),
		}
		if pct(90) {
			s.LastCheck = last.Add(time.Duration(rnd.Int64N(int64(time.Hour))))
		}
		for _, r := range []string{check.ResultSuccess, check.ResultFailure, check.ResultTimeout, "cancelled"} {
			if pct(60) {
				s.Results[r] = rnd.Uint64N(1e6)
			}
		}
		if pct(20) {
			w := rnd.IntN(256)
			s.Weight = &w
		}
		if pct(50) {
			s.Detail = map[string]float64{}
			for _, k := range details {
				if pct(40) {
					s.Detail[k] = float64(rnd.IntN(600)) / 4
				}
			}
		}
		snap.Checks = append(snap.Checks, s)
	}
	rnd.Shuffle(len(snap.Checks), func(i, j int) { snap.Checks[i], snap.Checks[j] = snap.Checks[j], snap.Checks[i] })
	return snap
}
