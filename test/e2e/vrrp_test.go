package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/lab"
)

// pair is the classic deployment: two directors sharing one VIP and a
// client pinging it.
type pair struct {
	topo       *lab.Topology
	d1, d2, cl *lab.Host
}

func newPair(t *testing.T) pair {
	t.Helper()
	lab.Require(t, "root", "ip")
	topo := lab.New(t, lab.Options{})
	return pair{topo: topo, d1: topo.Host("director1"), d2: topo.Host("director2"), cl: topo.Host("client")}
}

func v3(prio int) instanceConf {
	return instanceConf{VRID: 51, Priority: prio, Version: 3, Interval: "100ms", VIPs: []string{lab.VIP4.String() + "/24"}}
}

// Initial election, then kill -9 of the master: the backup takes over and
// the client's neighbour table follows the GARP; then the old master comes
// back and preempts, and the preempted one keeps the VIP until the
// preempting one has announced it, so the client keeps getting answers.
func TestElectionKillAndPreempt(t *testing.T) {
	p := newPair(t)
	v1 := startVigil(t, p.d1, config("d1", "", v3(150)))
	startVigil(t, p.d2, config("d2", "", v3(100)))
	waitHolder(t, lab.VIP4, p.d1, []*lab.Host{p.d2}, 3*time.Second)
	waitState(t, p.d2, "VI_1", "backup", time.Second)
	ping := p.cl.Pinger(lab.VIP4, 10*time.Millisecond)
	waitAnswered(t, ping, 2*time.Second)
	waitNeigh(t, p.cl, lab.VIP4, p.d1, time.Second)

	v1.Kill()
	took := waitState(t, p.d2, "VI_1", "master", 2*time.Second)
	waitNeigh(t, p.cl, lab.VIP4, p.d2, time.Second)
	waitAnswered(t, ping, 2*time.Second)
	t.Logf("kill -9: director2 master after %v; %v", took, ping.Stats())

	before := ping.Stats()
	restartAt := time.Now()
	startVigil(t, p.d1, config("d1", "", v3(150)))
	waitHolder(t, lab.VIP4, p.d1, []*lab.Host{p.d2}, 3*time.Second)
	waitState(t, p.d2, "VI_1", "backup", time.Second)
	waitNeigh(t, p.cl, lab.VIP4, p.d1, time.Second)
	waitAnswered(t, ping, 2*time.Second)
	st := ping.Stats()
	// Lost counts the request in flight at each Stats call.
	lost := st.Lost() - before.Lost()
	t.Logf("preemption: %d pings lost; %v", lost, st)
	if lost > 2 {
		for _, g := range st.Gaps {
			if g.End.After(restartAt) {
				t.Logf("gap from %v to %v after the restart, %d lost", g.Start.Sub(restartAt), g.End.Sub(restartAt), g.Lost)
			}
		}
		t.Fatalf("client lost %d pings during the preemption, want at most 2", lost)
	}
	if v := metric(p.d2, `vigil_vrrp_instance_transitions_total{from="master",to="backup",vrrp_instance="VI_1"}`); v != 1 {
		t.Fatalf("director2 master->backup transitions = %v, want 1", v)
	}
}

// Master's link goes down: the backup takes over; when the link returns the
// higher priority master takes the VIP back and the other steps down.
func TestMasterLinkDown(t *testing.T) {
	p := newPair(t)
	startVigil(t, p.d1, config("d1", "", v3(150)))
	startVigil(t, p.d2, config("d2", "", v3(100)))
	waitHolder(t, lab.VIP4, p.d1, []*lab.Host{p.d2}, 3*time.Second)
	ping := p.cl.Pinger(lab.VIP4, 10*time.Millisecond)
	waitAnswered(t, ping, 2*time.Second)

	p.d1.LinkDown()
	waitState(t, p.d2, "VI_1", "master", 2*time.Second)
	waitNeigh(t, p.cl, lab.VIP4, p.d2, time.Second)
	waitAnswered(t, ping, 2*time.Second)

	p.d1.LinkUp()
	waitState(t, p.d2, "VI_1", "backup", 3*time.Second)
	waitHolder(t, lab.VIP4, p.d1, []*lab.Host{p.d2}, 3*time.Second)
	waitNeigh(t, p.cl, lab.VIP4, p.d1, 2*time.Second)
	waitAnswered(t, ping, 2*time.Second)
}

// SIGTERM on the master is a make-before-break handover: the client keeps
// getting answers throughout.
func TestSIGTERMHandoverKeepsClientAnswered(t *testing.T) {
	p := newPair(t)
	v1 := startVigil(t, p.d1, config("d1", "", v3(150)))
	startVigil(t, p.d2, config("d2", "", v3(100)))
	waitHolder(t, lab.VIP4, p.d1, []*lab.Host{p.d2}, 3*time.Second)
	ping := p.cl.Pinger(lab.VIP4, 5*time.Millisecond)
	waitAnswered(t, ping, 2*time.Second)
	before := ping.Stats()

	termAt := time.Now()
	v1.Signal(syscall.SIGTERM)
	if err := v1.Wait(5 * time.Second); err != nil {
		t.Fatalf("vigil did not exit cleanly on SIGTERM: %v\n%s", err, v1.Log())
	}
	waitState(t, p.d2, "VI_1", "master", time.Second)
	waitNeigh(t, p.cl, lab.VIP4, p.d2, time.Second)
	time.Sleep(200 * time.Millisecond)
	st := ping.Stop()
	lost := st.Lost() - before.Lost()
	t.Logf("SIGTERM handover: %v", st)
	// keepalived loses every ping for a Master_Down_Interval here (~14 at
	// 5 ms); make-before-break loses at most the one in flight.
	if lost > 2 {
		for _, g := range st.Gaps {
			t.Logf("gap from %v to %v after SIGTERM, %d lost", g.Start.Sub(termAt), g.End.Sub(termAt), g.Lost)
		}
		t.Fatalf("client lost %d pings during a planned handover, want at most 2: %v", lost, st)
	}
	if p.d1.HasAddr(lab.VIP4) {
		t.Fatal("stopped director still holds the VIP")
	}
	if !strings.Contains(v1.Log(), "took over") {
		t.Fatalf("log does not show the make-before-break handover:\n%s", v1.Log())
	}
}

// With preempt false a recovered higher-priority node stays backup.
func TestNoPreempt(t *testing.T) {
	p := newPair(t)
	in1, in2 := v3(150), v3(100)
	in1.Preempt, in2.Preempt = boolp(false), boolp(false)
	v1 := startVigil(t, p.d1, config("d1", "", in1))
	startVigil(t, p.d2, config("d2", "", in2))
	waitHolder(t, lab.VIP4, p.d1, []*lab.Host{p.d2}, 3*time.Second)
	v1.Kill()
	waitState(t, p.d2, "VI_1", "master", 2*time.Second)
	p.d1.Run(context.Background(), "ip", "addr", "del", lab.VIP4.String()+"/24", "dev", lab.Iface)

	startVigil(t, p.d1, config("d1", "", in1))
	waitState(t, p.d1, "VI_1", "backup", 2*time.Second)
	if _, ok := lab.Within(time.Second, func() bool { return stateOf(p.d1, "VI_1") == "master" }); ok {
		t.Fatal("director1 preempted with preempt: false")
	}
	waitHolder(t, lab.VIP4, p.d2, []*lab.Host{p.d1}, time.Second)
}

// A priority 255 address owner takes over at once on start, without
// waiting for Master_Down_Interval.
func TestPriority255Owner(t *testing.T) {
	p := newPair(t)
	in2 := v3(100)
	in2.Interval = "1s"
	startVigil(t, p.d2, config("d2", "", in2))
	waitState(t, p.d2, "VI_1", "master", 5*time.Second)
	ping := p.cl.Pinger(lab.VIP4, 10*time.Millisecond)
	waitAnswered(t, ping, 2*time.Second)
	in1 := v3(255)
	in1.Interval = "1s"
	start := time.Now()
	startVigil(t, p.d1, config("d1", "", in1))
	waitState(t, p.d1, "VI_1", "master", 2*time.Second)
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("owner took %v to become master", took)
	}
	waitState(t, p.d2, "VI_1", "backup", 2*time.Second)
	waitNeigh(t, p.cl, lab.VIP4, p.d1, time.Second)
}

// A failing tracked script with a negative weight lowers the master's
// priority below the backup's, which preempts; recovery moves it back.
func TestTrackScriptMovesVIP(t *testing.T) {
	p := newPair(t)
	flag := filepath.Join(t.TempDir(), "healthy")
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	scripts := fmt.Sprintf("vrrp_scripts:\n  - { name: chk, command: [/usr/bin/test, -e, %s], interval: 100ms, timeout: 100ms, rise: 2, fall: 2 }\n", flag)
	in1 := v3(150)
	in1.Extra = "    track_scripts: [{ name: chk, weight: -60 }]"
	startVigil(t, p.d1, config("d1", scripts, in1))
	startVigil(t, p.d2, config("d2", "", v3(120)))
	waitHolder(t, lab.VIP4, p.d1, []*lab.Host{p.d2}, 3*time.Second)
	ping := p.cl.Pinger(lab.VIP4, 10*time.Millisecond)
	waitAnswered(t, ping, 2*time.Second)

	os.Remove(flag)
	waitHolder(t, lab.VIP4, p.d2, []*lab.Host{p.d1}, 3*time.Second)
	if v := metric(p.d1, `vigil_vrrp_instance_effective_priority{vrrp_instance="VI_1"}`); v != 90 {
		t.Fatalf("effective priority %v, want 90", v)
	}
	if v := metric(p.d1, `vigil_vrrp_track_script_up{script="chk"}`); v != 0 {
		t.Fatalf("track_script_up %v, want 0", v)
	}
	waitNeigh(t, p.cl, lab.VIP4, p.d2, time.Second)

	os.WriteFile(flag, nil, 0o644)
	waitHolder(t, lab.VIP4, p.d1, []*lab.Host{p.d2}, 3*time.Second)
	if v := metric(p.d1, `vigil_vrrp_track_script_failures_total{script="chk"}`); v != 1 {
		t.Fatalf("track_script_failures_total %v, want 1", v)
	}
}

// Two instances in a sync group move together when one of them faults.
func TestSyncGroupMovesTogether(t *testing.T) {
	p := newPair(t)
	flag := filepath.Join(t.TempDir(), "healthy")
	os.WriteFile(flag, nil, 0o644)
	vip2 := lab.IPv4(251)
	mk := func(prio int, withScript bool) string {
		a := instanceConf{Name: "VI_1", VRID: 51, Priority: prio, Version: 3, Interval: "100ms", VIPs: []string{lab.VIP4.String() + "/24"}}
		b := instanceConf{Name: "VI_2", VRID: 52, Priority: prio, Version: 3, Interval: "100ms", VIPs: []string{vip2.String() + "/24"}}
		extra := ""
		if withScript {
			b.Extra = "    track_scripts: [{ name: chk, weight: 0 }]"
			extra = fmt.Sprintf("vrrp_scripts:\n  - { name: chk, command: [/usr/bin/test, -e, %s], interval: 100ms, timeout: 100ms }\n", flag)
		}
		return config("d", extra, a, b) + "sync_groups:\n  - { name: VG1, instances: [VI_1, VI_2] }\n"
	}
	startVigil(t, p.d1, mk(150, true))
	startVigil(t, p.d2, mk(100, false))
	waitHolder(t, lab.VIP4, p.d1, []*lab.Host{p.d2}, 3*time.Second)
	waitHolder(t, vip2, p.d1, []*lab.Host{p.d2}, time.Second)

	os.Remove(flag) // only VI_2 tracks the script
	waitHolder(t, vip2, p.d2, []*lab.Host{p.d1}, 3*time.Second)
	waitHolder(t, lab.VIP4, p.d2, []*lab.Host{p.d1}, time.Second)
	if s := stateOf(p.d1, "VI_1"); s != "fault" {
		t.Fatalf("VI_1 on director1 is %q, want fault with its group", s)
	}
	os.WriteFile(flag, nil, 0o644)
	waitHolder(t, lab.VIP4, p.d1, []*lab.Host{p.d2}, 3*time.Second)
	waitHolder(t, vip2, p.d1, []*lab.Host{p.d2}, time.Second)
}

// Unicast peers instead of multicast, as in clouds without multicast.
func TestUnicastPeers(t *testing.T) {
	p := newPair(t)
	in1, in2 := v3(150), v3(100)
	in1.Source, in1.Peers = p.d1.Addr4().String(), []string{p.d2.Addr4().String()}
	in2.Source, in2.Peers = p.d2.Addr4().String(), []string{p.d1.Addr4().String()}
	v1 := startVigil(t, p.d1, config("d1", "", in1))
	startVigil(t, p.d2, config("d2", "", in2))
	waitHolder(t, lab.VIP4, p.d1, []*lab.Host{p.d2}, 3*time.Second)
	waitState(t, p.d2, "VI_1", "backup", time.Second)
	ping := p.cl.Pinger(lab.VIP4, 10*time.Millisecond)
	waitAnswered(t, ping, 2*time.Second)
	lab.WaitFor(t, time.Second, func() bool {
		return metric(p.d2, `vigil_vrrp_adverts_received_total{vrrp_instance="VI_1"}`) > 3
	}, "director2 to receive unicast adverts")
	v1.Kill()
	waitState(t, p.d2, "VI_1", "master", 2*time.Second)
	waitNeigh(t, p.cl, lab.VIP4, p.d2, time.Second)
}

// A VIP deleted behind vigil's back on the master comes back at once and
// is counted.
func TestExternalVIPRemovalRestored(t *testing.T) {
	p := newPair(t)
	startVigil(t, p.d1, config("d1", "", v3(150)))
	waitState(t, p.d1, "VI_1", "master", 3*time.Second)
	if _, err := p.d1.Run(context.Background(), "ip", "addr", "del", lab.VIP4.String()+"/24", "dev", lab.Iface); err != nil {
		t.Fatal(err)
	}
	lab.WaitFor(t, time.Second, func() bool { return p.d1.HasAddr(lab.VIP4) }, "the VIP to be restored")
	lab.WaitFor(t, time.Second, func() bool {
		return metric(p.d1, `vigil_vrrp_vips_restored_total{vrrp_instance="VI_1"}`) == 1
	}, "vips_restored_total to be 1")
}

// An IPv6 VIP over VRRPv3: failover and the client's neighbour entry
// (unsolicited NA) follow.
func TestIPv6VIP(t *testing.T) {
	p := newPair(t)
	lab.Require(t, "ipv6")
	mk := func(prio int) instanceConf {
		return instanceConf{Name: "VI_6", VRID: 61, Priority: prio, Version: 3, Interval: "100ms", VIPs: []string{lab.VIP6.String() + "/64"}}
	}
	v1 := startVigil(t, p.d1, config("d1", "", mk(150)))
	startVigil(t, p.d2, config("d2", "", mk(100)))
	waitHolder(t, lab.VIP6, p.d1, []*lab.Host{p.d2}, 3*time.Second)
	waitState(t, p.d2, "VI_6", "backup", time.Second)
	ping := p.cl.Pinger(lab.VIP6, 10*time.Millisecond)
	waitAnswered(t, ping, 3*time.Second)
	waitNeigh(t, p.cl, lab.VIP6, p.d1, time.Second)

	v1.Kill()
	waitState(t, p.d2, "VI_6", "master", 2*time.Second)
	waitNeigh(t, p.cl, lab.VIP6, p.d2, 2*time.Second)
	waitAnswered(t, ping, 2*time.Second)
	if v := metric(p.d2, `vigil_vrrp_neighbor_advertisements_sent_total{vrrp_instance="VI_6"}`); v < 1 {
		t.Fatalf("neighbor_advertisements_sent_total = %v", v)
	}
}

// SIGHUP with a broken file keeps the running configuration and says so in
// metrics; a good file is applied.
func TestReload(t *testing.T) {
	p := newPair(t)
	v1 := startVigil(t, p.d1, config("d1", "", v3(150)))
	waitState(t, p.d1, "VI_1", "master", 3*time.Second)

	v1.rewrite(t, "vrrp_instances:\n  - name: VI_1\n    priority: 300\n")
	v1.Signal(syscall.SIGHUP)
	lab.WaitFor(t, 2*time.Second, func() bool { return metric(p.d1, "vigil_config_last_reload_successful") == 0 }, "reload failure to be reported")
	if s := stateOf(p.d1, "VI_1"); s != "master" || !p.d1.HasAddr(lab.VIP4) {
		t.Fatalf("after a failed reload VI_1 is %q (VIP held: %v), want master with the VIP", s, p.d1.HasAddr(lab.VIP4))
	}
	if !strings.Contains(v1.Log(), "priority: must be 1..255, got 300") {
		t.Fatalf("log does not name the bad field:\n%s", v1.Log())
	}

	vip2 := lab.IPv4(251)
	in := v3(150)
	in.VIPs = append(in.VIPs, vip2.String()+"/24")
	v1.rewrite(t, config("d1", "", in))
	v1.Signal(syscall.SIGHUP)
	lab.WaitFor(t, 2*time.Second, func() bool { return metric(p.d1, "vigil_config_last_reload_successful") == 1 }, "reload success")
	lab.WaitFor(t, 3*time.Second, func() bool { return p.d1.HasAddr(vip2) && p.d1.HasAddr(lab.VIP4) }, "both VIPs after reload")
}

// A tracked interface with weight 0 puts the instance in FAULT when it goes
// down: the VIP leaves at once; when it returns the instance recovers and
// preempts back.
func TestTrackInterfaceFault(t *testing.T) {
	p := newPair(t)
	in1 := v3(150)
	in1.Extra = "    track_interfaces: [{ name: eth0, weight: 0 }]"
	startVigil(t, p.d1, config("d1", "", in1))
	startVigil(t, p.d2, config("d2", "", v3(100)))
	waitHolder(t, lab.VIP4, p.d1, []*lab.Host{p.d2}, 3*time.Second)

	p.d1.LinkDown()
	waitState(t, p.d1, "VI_1", "fault", 2*time.Second)
	if p.d1.HasAddr(lab.VIP4) {
		t.Fatal("VIP still on director1 in FAULT")
	}
	if v := metric(p.d1, `vigil_vrrp_track_interface_up{interface="eth0"}`); v != 0 {
		t.Fatalf("track_interface_up = %v, want 0", v)
	}
	waitState(t, p.d2, "VI_1", "master", 2*time.Second)

	p.d1.LinkUp()
	waitHolder(t, lab.VIP4, p.d1, []*lab.Host{p.d2}, 3*time.Second)
	if v := metric(p.d1, `vigil_vrrp_track_interface_failures_total{interface="eth0"}`); v != 1 {
		t.Fatalf("track_interface_failures_total = %v, want 1", v)
	}
}

// splitBrainHealBound is how soon after a split brain heals the client's
// neighbour entry for the VIP must point at the winner again: ten advert
// intervals. The winner announces within an interval of the heal (when it
// hears the loser); a client left to re-resolve on its own needs at least
// the kernel's delay_first_probe_time (5 s) once its traffic goes
// unanswered.
const splitBrainHealBound = time.Second

// A partition between the directors makes both master (a split brain), and
// the client follows director2's gratuitous ARPs. When the partition heals,
// director1 (the higher priority) stays master and director2 yields and
// drops the VIP. director1 hears director2's advert (its last, if its own
// crossed first: higher_prio_send_advert) and announces the VIP again
// (garp_lower_prio_repeat now, again after garp_lower_prio_delay), so the
// client comes back at once. With garp_lower_prio_repeat: 0 (the control)
// nothing announces it and the client keeps sending to director2, which no
// longer answers, past the bound: the bound measures the announcement, not
// the kernel re-resolving.
func TestSplitBrainHealReannounces(t *testing.T) {
	for _, tt := range []struct {
		name  string
		extra string // director1's instance
		on    bool
	}{
		{name: "garp_lower_prio", on: true},
		{name: "control: garp_lower_prio_repeat 0", extra: "    garp_lower_prio_repeat: 0"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := newPair(t)
			lab.Require(t, "nft")
			in1 := v3(150)
			in1.Extra = tt.extra
			v1 := startVigil(t, p.d1, config("d1", "", in1))
			startVigil(t, p.d2, config("d2", "", v3(100)))
			waitHolder(t, lab.VIP4, p.d1, []*lab.Host{p.d2}, 3*time.Second)
			waitState(t, p.d2, "VI_1", "backup", time.Second)
			ping := p.cl.Pinger(lab.VIP4, 10*time.Millisecond)
			waitAnswered(t, ping, 2*time.Second)
			waitNeigh(t, p.cl, lab.VIP4, p.d1, time.Second)

			p.d1.Partition(p.d2)
			waitState(t, p.d2, "VI_1", "master", 2*time.Second)
			waitNeigh(t, p.cl, lab.VIP4, p.d2, time.Second)
			// Both stay master past director2's second burst
			// (garp_master_delay 1s): nothing is pending on either side.
			time.Sleep(1500 * time.Millisecond)
			if s := stateOf(p.d1, "VI_1"); s != "master" || !p.d1.HasAddr(lab.VIP4) {
				t.Fatalf("director1 is %q (VIP held: %v) during the partition, want master with the VIP", s, p.d1.HasAddr(lab.VIP4))
			}
			waitNeigh(t, p.cl, lab.VIP4, p.d2, time.Second)
			garps := `vigil_vrrp_gratuitous_arps_sent_total{vrrp_instance="VI_1"}`
			adverts := `vigil_vrrp_adverts_received_total{vrrp_instance="VI_1"}`
			before := metric(p.d1, garps)

			// Heal at a random phase of the advert timers, so that either
			// director's advert may cross first. (director2's timer runs a
			// Skew_Time after director1's since it took over, and the
			// steps above take about the same time every run.)
			time.Sleep(rand.N(100 * time.Millisecond))
			// Times count from before Heal, which returns once the
			// nftables rules are gone: adverts may cross before it does.
			healAt := time.Now()
			p.d1.Heal(p.d2)
			healed := time.Since(healAt)
			want := p.d1.MAC().String()
			var last string
			var took time.Duration
			_, back := lab.Within(splitBrainHealBound-healed, func() bool {
				mac, state, err := p.cl.Neigh(lab.VIP4)
				took, last = time.Since(healAt), fmt.Sprintf("%s (%s, err %v)", mac, state, err)
				return err == nil && mac == want
			})
			waitState(t, p.d2, "VI_1", "backup", time.Second)
			waitHolder(t, lab.VIP4, p.d1, []*lab.Host{p.d2}, time.Second)
			if !tt.on {
				if back {
					t.Fatalf("control: client neighbour entry back on director1 %v after the heal without garp_lower_prio", took)
				}
				if n := metric(p.d1, garps); n != before {
					t.Errorf("control: director1 sent %v gratuitous ARPs after the heal, want none", n-before)
				}
				t.Logf("control: client neighbour entry still %s %v after the heal; %v", last, took.Round(time.Millisecond), ping.Stats())
				return
			}
			if !back {
				t.Fatalf("client neighbour entry for %s is %s %v after the heal, want %s (director1)", lab.VIP4, last, took, want)
			}
			// 1: director1's advert crossed first and director2's yielding
			// advert told director1; 2 or more: director2's came first.
			t.Logf("split brain healed: client neighbour entry back on director1 %v after the heal began (Heal took %v); director1 heard %v adverts from director2",
				took.Round(time.Millisecond), healed.Round(time.Millisecond), metric(p.d1, adverts))
			waitAnswered(t, ping, time.Second)
			// One announcement for the episode: a burst of 5 now and 5
			// after garp_lower_prio_delay (garp_master_delay, 1s).
			lab.WaitFor(t, 2*time.Second, func() bool { return metric(p.d1, garps) == before+10 },
				"director1 to send 5+5 gratuitous ARPs after the heal")
			time.Sleep(300 * time.Millisecond)
			if n := metric(p.d1, garps); n != before+10 {
				t.Fatalf("director1 sent %v gratuitous ARPs after the heal, want 10", n-before)
			}
			if !strings.Contains(v1.Log(), "another router was master too") {
				t.Errorf("director1's log does not say why it announced again")
			}
			t.Logf("%v (healed at +%v)", ping.Stats(), time.Since(healAt).Round(time.Millisecond))
		})
	}
}
