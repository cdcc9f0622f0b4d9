package ipvs_test

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vigil-lb/vigil/ipvs"
)

func TestQuorumUp(t *testing.T) {
	tests := []struct {
		alive, quorum, hysteresis int
		was, known                bool
		want                      bool
	}{
		// No previous state: up iff alive >= quorum+hysteresis.
		{alive: 0, quorum: 1, want: false},
		{alive: 1, quorum: 1, want: true},
		{alive: 4, quorum: 4, hysteresis: 1, want: false},
		{alive: 5, quorum: 4, hysteresis: 1, want: true},
		// Quorum 0 is keepalived's default, 1.
		{alive: 0, quorum: 0, want: false},
		{alive: 1, quorum: 0, want: true},
		// Up: stays up down to quorum-hysteresis.
		{alive: 3, quorum: 4, hysteresis: 1, was: true, known: true, want: true},
		{alive: 2, quorum: 4, hysteresis: 1, was: true, known: true, want: false},
		// ...but never with no live weight at all.
		{alive: 0, quorum: 1, hysteresis: 2, was: true, known: true, want: false},
		{alive: 1, quorum: 1, hysteresis: 2, was: true, known: true, want: true},
		// Down: comes up only at quorum+hysteresis.
		{alive: 4, quorum: 4, hysteresis: 1, was: false, known: true, want: false},
		{alive: 5, quorum: 4, hysteresis: 1, was: false, known: true, want: true},
		// Negative hysteresis counts as none.
		{alive: 3, quorum: 4, hysteresis: -2, was: false, known: true, want: false},
	}
	for _, tt := range tests {
		if got := ipvs.QuorumUp(tt.alive, tt.quorum, tt.hysteresis, tt.was, tt.known); got != tt.want {
			t.Errorf("QuorumUp(alive=%d, quorum=%d, hysteresis=%d, was=%v, known=%v) = %v, want %v",
				tt.alive, tt.quorum, tt.hysteresis, tt.was, tt.known, got, tt.want)
		}
	}
}

// healthSet reports the real servers in up as passing, with the dynamic
// weights in weights.
func healthSet(up []string, weights map[string]int) ipvs.HealthFunc {
	return func(vs, rs string) (bool, *int) {
		var w *int
		if x, ok := weights[rs]; ok {
			w = &x
		}
		return slices.Contains(up, rs), w
	}
}

// render shows a desired service as "addr:weight:fwd" destinations and
// "-addr" withdrawals.
func render(s ipvs.Service) string {
	var parts []string
	for _, d := range s.Destinations {
		parts = append(parts, fmt.Sprintf("%s:%d:%s", d.Address, d.Weight, d.Forwarding))
	}
	for _, a := range s.Withdrawn {
		parts = append(parts, "-"+a.String())
	}
	return strings.Join(parts, " ")
}

func threeServers() ipvs.VirtualServer {
	return ipvs.VirtualServer{
		Name: "web",
		Key:  web,
		RealServers: []ipvs.RealServer{
			{Address: ap("10.0.0.1:80"), Weight: 1},
			{Address: ap("10.0.0.2:80"), Weight: 1},
			{Address: ap("10.0.0.3:80"), Weight: 1},
		},
	}
}

func TestDesiredQuorumHysteresisAndSorryServer(t *testing.T) {
	vs := threeServers()
	vs.Quorum, vs.Hysteresis = 2, 1
	vs.SorryServer = &ipvs.SorryServer{Address: ap("10.0.9.9:80")}
	steps := []struct {
		up          []string
		quorumUp    bool
		sorryActive bool
		table       string
	}{
		{[]string{"10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"}, true, false,
			"10.0.0.1:80:1:nat 10.0.0.2:80:1:nat 10.0.0.3:80:1:nat -10.0.9.9:80"},
		{[]string{"10.0.0.1:80", "10.0.0.2:80"}, true, false,
			"10.0.0.1:80:1:nat 10.0.0.2:80:1:nat -10.0.0.3:80 -10.0.9.9:80"},
		// 1 >= quorum-hysteresis: still up.
		{[]string{"10.0.0.1:80"}, true, false,
			"10.0.0.1:80:1:nat -10.0.0.2:80 -10.0.0.3:80 -10.0.9.9:80"},
		// 0: lost; the sorry server takes over.
		{nil, false, true,
			"10.0.9.9:80:1:nat -10.0.0.1:80 -10.0.0.2:80 -10.0.0.3:80"},
		// Live servers stay out until quorum+hysteresis = 3.
		{[]string{"10.0.0.1:80"}, false, true,
			"10.0.9.9:80:1:nat -10.0.0.1:80 -10.0.0.2:80 -10.0.0.3:80"},
		{[]string{"10.0.0.1:80", "10.0.0.2:80"}, false, true,
			"10.0.9.9:80:1:nat -10.0.0.1:80 -10.0.0.2:80 -10.0.0.3:80"},
		{[]string{"10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"}, true, false,
			"10.0.0.1:80:1:nat 10.0.0.2:80:1:nat 10.0.0.3:80:1:nat -10.0.9.9:80"},
	}
	var prev []ipvs.VSStatus
	for i, st := range steps {
		svcs, status := ipvs.Desired([]ipvs.VirtualServer{vs}, healthSet(st.up, nil), nil, prev)
		prev = status
		got := status[0]
		if got.QuorumUp != st.quorumUp || got.SorryActive != st.sorryActive {
			t.Errorf("step %d (up %v): quorum up %v sorry %v, want %v %v", i, st.up, got.QuorumUp, got.SorryActive, st.quorumUp, st.sorryActive)
		}
		if got.RealServers != 3 || got.RealServersUp != len(st.up) || got.AliveWeight != len(st.up) {
			t.Errorf("step %d: status %+v", i, got)
		}
		if r := render(svcs[0]); r != st.table {
			t.Errorf("step %d (up %v):\n got %s\nwant %s", i, st.up, r, st.table)
		}
	}
}

func TestDesiredStartsWithQuorumDown(t *testing.T) {
	// keepalived's init: no previous state and alive < quorum+hysteresis
	// starts down, with the sorry server in.
	vs := threeServers()
	vs.Quorum, vs.Hysteresis = 2, 1
	vs.SorryServer = &ipvs.SorryServer{Address: ap("10.0.9.9:80"), Forwarding: ipvs.ForwardDR}
	svcs, status := ipvs.Desired([]ipvs.VirtualServer{vs}, healthSet([]string{"10.0.0.1:80", "10.0.0.2:80"}, nil), nil, nil)
	if status[0].QuorumUp || !status[0].SorryActive {
		t.Errorf("status %+v", status[0])
	}
	if got, want := render(svcs[0]), "10.0.9.9:80:1:dr -10.0.0.1:80 -10.0.0.2:80 -10.0.0.3:80"; got != want {
		t.Errorf("got %s\nwant %s", got, want)
	}
}

func TestDesiredQuorumLostWithoutSorryServerFollowsHealth(t *testing.T) {
	vs := threeServers()
	vs.Quorum = 3
	svcs, status := ipvs.Desired([]ipvs.VirtualServer{vs}, healthSet([]string{"10.0.0.2:80"}, nil), nil, nil)
	if status[0].QuorumUp || status[0].SorryActive {
		t.Errorf("status %+v", status[0])
	}
	if got, want := render(svcs[0]), "10.0.0.2:80:1:nat -10.0.0.1:80 -10.0.0.3:80"; got != want {
		t.Errorf("got %s\nwant %s", got, want)
	}
}

func TestDesiredInhibitOnFailure(t *testing.T) {
	vs := threeServers()
	vs.InhibitOnFailure = true
	vs.Quorum = 2
	vs.SorryServer = &ipvs.SorryServer{Address: ap("10.0.9.9:80"), Inhibit: true}
	tests := []struct {
		up    []string
		table string
	}{
		{[]string{"10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"},
			"10.0.0.1:80:1:nat 10.0.0.2:80:1:nat 10.0.0.3:80:1:nat 10.0.9.9:80:0:nat"},
		{[]string{"10.0.0.1:80", "10.0.0.3:80"},
			"10.0.0.1:80:1:nat 10.0.0.2:80:0:nat 10.0.0.3:80:1:nat 10.0.9.9:80:0:nat"},
		// Quorum lost: every real server at 0, the sorry server at 1.
		{[]string{"10.0.0.3:80"},
			"10.0.0.1:80:0:nat 10.0.0.2:80:0:nat 10.0.0.3:80:0:nat 10.0.9.9:80:1:nat"},
	}
	var prev []ipvs.VSStatus
	for _, tt := range tests {
		svcs, status := ipvs.Desired([]ipvs.VirtualServer{vs}, healthSet(tt.up, nil), nil, prev)
		prev = status
		if got := render(svcs[0]); got != tt.table {
			t.Errorf("up %v:\n got %s\nwant %s", tt.up, got, tt.table)
		}
	}
}

func TestDesiredWeights(t *testing.T) {
	seven, minus := 7, -3
	vs := threeServers()
	overrides := ipvs.Overrides{
		{VirtualServer: "web", RealServer: "10.0.0.2:80"}:   {Weight: &seven},
		{VirtualServer: "web", RealServer: "10.0.0.3:80"}:   {Weight: &seven, Drain: true},
		{VirtualServer: "other", RealServer: "10.0.0.1:80"}: {Drain: true},
	}
	dyn := map[string]int{"10.0.0.1:80": 5, "10.0.0.2:80": 2}
	all := []string{"10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"}
	svcs, status := ipvs.Desired([]ipvs.VirtualServer{vs}, healthSet(all, dyn), overrides, nil)
	// dynamic 5; override 7 over dynamic 2; drain over override.
	if got, want := render(svcs[0]), "10.0.0.1:80:5:nat 10.0.0.2:80:7:nat 10.0.0.3:80:0:nat"; got != want {
		t.Errorf("got %s\nwant %s", got, want)
	}
	if status[0].AliveWeight != 12 || status[0].RealServersUp != 3 {
		t.Errorf("status %+v", status[0])
	}

	// Negative dynamic weights count as 0; a drained server adds nothing
	// to the quorum.
	vs.Quorum = 2
	svcs, status = ipvs.Desired([]ipvs.VirtualServer{vs}, healthSet(all, map[string]int{"10.0.0.1:80": minus}),
		ipvs.Overrides{{VirtualServer: "web", RealServer: "10.0.0.2:80"}: {Drain: true}}, nil)
	if got, want := render(svcs[0]), "10.0.0.1:80:0:nat 10.0.0.2:80:0:nat 10.0.0.3:80:1:nat"; got != want {
		t.Errorf("got %s\nwant %s", got, want)
	}
	if status[0].AliveWeight != 1 || status[0].QuorumUp {
		t.Errorf("status %+v", status[0])
	}
}

func TestDesiredServiceAttributesAndDefaults(t *testing.T) {
	vs := ipvs.VirtualServer{
		Name:               "mysql",
		Key:                mark,
		Flags:              ipvs.FlagSHPort,
		Persistence:        50 * time.Second,
		PersistenceNetmask: 24,
		Forwarding:         ipvs.ForwardDR,
		RealServers: []ipvs.RealServer{
			{Address: ap("10.0.0.1:0"), Weight: 2, UpperThreshold: 100, LowerThreshold: 10},
			{Address: ap("[2001:db8::5]:0"), Weight: 1, Forwarding: ipvs.ForwardTunnel},
		},
		// The sorry server is also a real server: one entry for both.
		SorryServer: &ipvs.SorryServer{Address: ap("10.0.0.1:0")},
	}
	svcs, _ := ipvs.Desired([]ipvs.VirtualServer{vs}, nil, nil, nil)
	want := ipvs.Service{
		Key: mark, Scheduler: "wlc", Flags: ipvs.FlagSHPort, Timeout: 50 * time.Second, Netmask: 24,
		Destinations: []ipvs.Destination{
			{Address: ap("10.0.0.1:0"), Weight: 2, Forwarding: ipvs.ForwardDR, UpperThreshold: 100, LowerThreshold: 10},
			{Address: ap("[2001:db8::5]:0"), Weight: 1, Forwarding: ipvs.ForwardTunnel},
		},
	}
	if diff := cmp.Diff(want, svcs[0], cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })); diff != "" {
		t.Errorf("service (-want +got):\n%s", diff)
	}
	if err := svcs[0].Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}

	// All down: the sorry server replaces the real server at its address.
	svcs, _ = ipvs.Desired([]ipvs.VirtualServer{vs}, healthSet(nil, nil), nil, nil)
	if got, want := render(svcs[0]), "10.0.0.1:0:1:dr -[2001:db8::5]:0"; got != want {
		t.Errorf("got %s\nwant %s", got, want)
	}
}
