package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/lab"
	"github.com/vigil-lb/vigil/vrrp"
)

// Interoperability with the reference implementation: vigil and keepalived
// 2.2.7 share one virtual router, each as master and as backup, in VRRPv2
// with simple-password authentication and in VRRPv3 at 100 ms. What is
// asserted is what a client and an operator see: who holds the VIP, where
// the client's neighbour entry points, whether its pings are answered,
// keepalived's own log and vigil's metrics.

// interopInstance is the instance name on both sides, so keepalived's log
// lines read "(VI_1) Entering MASTER STATE".
const interopInstance = "VI_1"

// interopVRID is the virtual router both implementations run.
const interopVRID = 51

// kaStateRE matches keepalived 2.2.7's state change lines, e.g.
// "Thu Jan  1 00:00:00 1970: (VI_1) Entering MASTER STATE" (with
// --log-detail), or "(VI_1) Entering BACKUP STATE (init)" on start.
var kaStateRE = regexp.MustCompile(`\(([A-Za-z0-9_.-]+)\) Entering (MASTER|BACKUP|FAULT) STATE`)

// kaStates returns the states keepalived has entered for instance, in order,
// read from its log.
func kaStates(ka *lab.Proc, instance string) []string {
	var out []string
	for _, m := range kaStateRE.FindAllStringSubmatch(ka.Log(), -1) {
		if m[1] == instance {
			out = append(out, m[2])
		}
	}
	return out
}

// kaState returns the state keepalived last entered for instance, "" if none
// yet.
func kaState(ka *lab.Proc, instance string) string {
	s := kaStates(ka, instance)
	if len(s) == 0 {
		return ""
	}
	return s[len(s)-1]
}

// waitKAState waits until keepalived's log says it entered state last, and
// returns how long that took.
func waitKAState(t *testing.T, ka *lab.Proc, state string, timeout time.Duration) time.Duration {
	t.Helper()
	took, ok := lab.Within(timeout, func() bool { return kaState(ka, interopInstance) == state })
	if !ok {
		t.Fatalf("keepalived on %s: still %q after %v, want %s; states so far %v",
			ka.Host().Name(), kaState(ka, interopInstance), took, state, kaStates(ka, interopInstance))
	}
	return took
}

// kaCount counts the times keepalived entered state.
func kaCount(ka *lab.Proc, state string) int {
	n := 0
	for _, s := range kaStates(ka, interopInstance) {
		if s == state {
			n++
		}
	}
	return n
}

// interopProto is the protocol flavour both sides run.
type interopProto struct {
	version  int
	interval time.Duration
	auth     string // VRRPv2 PASS password; both sides use it
}

var (
	// v2Pass is the classic keepalived deployment: VRRPv2, one advert a
	// second, simple-password authentication.
	v2Pass = interopProto{version: 2, interval: time.Second, auth: "kab12345"}
	// v3Fast is VRRPv3 at ten adverts a second.
	v3Fast = interopProto{version: 3, interval: 100 * time.Millisecond}
)

// masterDown is Master_Down_Interval for a backup of priority prio.
func (pr interopProto) masterDown(prio int) time.Duration {
	return vrrp.MasterDownInterval(pr.version, uint8(prio), pr.interval)
}

// vigil returns vigil's side of the virtual router.
func (pr interopProto) vigil(prio int) instanceConf {
	return instanceConf{
		Name:     interopInstance,
		VRID:     interopVRID,
		Priority: prio,
		Version:  pr.version,
		Interval: pr.interval.String(),
		Auth:     pr.auth,
		VIPs:     []string{lab.VIP4.String() + "/24"},
	}
}

// keepalived returns keepalived's side of the virtual router.
func (pr interopProto) keepalived(state string, prio int) lab.KeepalivedConf {
	return lab.KeepalivedConf{Version: pr.version, Instances: []lab.KeepalivedInstance{{
		Name:           interopInstance,
		State:          state,
		VRID:           interopVRID,
		Priority:       uint8(prio),
		AdvertInterval: pr.interval,
		AuthPass:       pr.auth,
		VIPs:           []netip.Prefix{netip.PrefixFrom(lab.VIP4, 24)},
	}}}
}

// outlive is how long past a peer's Master_Down_Interval a test waits
// before concluding that the peer did not take over.
const outlive = 300 * time.Millisecond

// interopTopo is two directors and a client; which director runs which
// implementation is up to the test.
type interopTopo struct {
	d1, d2, cl *lab.Host
}

func newInterop(t *testing.T) interopTopo {
	t.Helper()
	lab.Require(t, "root", "ip", "keepalived")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	version, err := lab.KeepalivedVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(version, "2.2.") {
		t.Fatalf("keepalived %s installed: these tests read the log wording of 2.2.7; run scripts/install-deps.sh", version)
	}
	t.Parallel() // every topology has namespaces of its own
	topo := lab.New(t, lab.Options{})
	return interopTopo{d1: topo.Host("director1"), d2: topo.Host("director2"), cl: topo.Host("client")}
}

// receiveErrors returns every vigil_vrrp_instance_receive_errors_total
// series of the instance and every vigil_vrrp_interface_receive_errors_total
// series, by series.
func receiveErrors(t *testing.T, h *lab.Host) map[string]float64 {
	t.Helper()
	m, err := scrape(h)
	if err != nil {
		t.Fatalf("scraping vigil on %s: %v", h.Name(), err)
	}
	out := map[string]float64{}
	for k, v := range m {
		if strings.HasPrefix(k, "vigil_vrrp_interface_receive_errors_total{") ||
			strings.HasPrefix(k, "vigil_vrrp_instance_receive_errors_total{") && strings.Contains(k, fmt.Sprintf("vrrp_instance=%q", interopInstance)) {
			out[k] = v
		}
	}
	return out
}

// instanceReason names one instance drop counter.
func instanceReason(reason vrrp.Reason) string {
	return fmt.Sprintf("vigil_vrrp_instance_receive_errors_total{reason=%q,vrrp_instance=%q}", reason, interopInstance)
}

// assertNoReceiveErrors fails unless vigil on h has dropped nothing, for
// every reason, and exposes a counter for every reason.
func assertNoReceiveErrors(t *testing.T, h *lab.Host) {
	t.Helper()
	errs := receiveErrors(t, h)
	for _, r := range vrrp.Reasons {
		if _, ok := errs[instanceReason(r)]; !ok {
			t.Errorf("vigil on %s exposes no %s", h.Name(), instanceReason(r))
		}
	}
	for k, v := range errs {
		if v != 0 {
			t.Errorf("vigil on %s: %s = %v, want 0", h.Name(), k, v)
		}
	}
}

// vigilMasterKeepalivedBackup: vigil (priority 150) is master and keepalived
// (100) stays backup; a crash of vigil hands the VIP to keepalived, and the
// restarted vigil preempts it back.
func vigilMasterKeepalivedBackup(t *testing.T, pr interopProto) {
	p := newInterop(t)
	cfg := config("d1", "", pr.vigil(150))
	v := startVigil(t, p.d1, cfg)
	ka := p.d2.StartKeepalived(t, pr.keepalived("BACKUP", 100))
	kaStart := time.Now()

	waitState(t, p.d1, interopInstance, "master", pr.masterDown(150)+2*time.Second)
	waitKAState(t, ka, "BACKUP", time.Second)
	waitHolder(t, lab.VIP4, p.d1, []*lab.Host{p.d2}, time.Second)
	// keepalived takes over once its Master_Down_Interval passes without
	// an advert it accepts: outlive that.
	time.Sleep(time.Until(kaStart.Add(pr.masterDown(100) + outlive)))
	if n := kaCount(ka, "MASTER"); n != 0 || kaState(ka, interopInstance) != "BACKUP" {
		t.Fatalf("keepalived entered MASTER %d times (now %q) while vigil was master: it does not accept vigil's adverts", n, kaState(ka, interopInstance))
	}
	assertNoReceiveErrors(t, p.d1)

	ping := p.cl.Pinger(lab.VIP4, 10*time.Millisecond)
	waitAnswered(t, ping, 2*time.Second)
	waitNeigh(t, p.cl, lab.VIP4, p.d1, time.Second)

	// kill -9: no priority-0 advert, keepalived waits out its
	// Master_Down_Interval. The VIP stays behind on director1, so only the
	// client's neighbour entry says who answers.
	v.Kill()
	took := waitKAState(t, ka, "MASTER", pr.masterDown(100)+time.Second)
	lab.WaitFor(t, time.Second, func() bool { return p.d2.HasAddr(lab.VIP4) }, "keepalived to add the VIP")
	waitNeigh(t, p.cl, lab.VIP4, p.d2, time.Second)
	waitAnswered(t, ping, 2*time.Second)
	t.Logf("kill -9 vigil: keepalived master %v later (its Master_Down_Interval is %v)", took.Round(time.Millisecond), pr.masterDown(100))

	// vigil comes back with the higher priority and preempts.
	restart := time.Now()
	startVigil(t, p.d1, cfg)
	waitState(t, p.d1, interopInstance, "master", pr.masterDown(150)+2*time.Second)
	waitKAState(t, ka, "BACKUP", time.Second)
	took = time.Since(restart)
	waitHolder(t, lab.VIP4, p.d1, []*lab.Host{p.d2}, time.Second)
	waitNeigh(t, p.cl, lab.VIP4, p.d1, time.Second)
	waitAnswered(t, ping, 2*time.Second)
	if n := kaCount(ka, "MASTER"); n != 1 {
		t.Errorf("keepalived entered MASTER %d times, want once (after the crash)", n)
	}
	t.Logf("restarted vigil preempted keepalived %v after its start (its Master_Down_Interval is %v)", took.Round(time.Millisecond), pr.masterDown(150))
}

// keepalivedMasterVigilBackup: keepalived (priority 150) is master and vigil
// (100) a backup that accepts its adverts; a crash of keepalived hands the
// VIP to vigil, and the restarted keepalived preempts it back.
func keepalivedMasterVigilBackup(t *testing.T, pr interopProto) {
	p := newInterop(t)
	conf := pr.keepalived("MASTER", 150)
	// keepalived 2.2.7 starts in BACKUP even with "state MASTER" and
	// takes over when its Master_Down_Interval expires.
	ka := p.d1.StartKeepalived(t, conf)
	waitKAState(t, ka, "MASTER", pr.masterDown(150)+2*time.Second)
	lab.WaitFor(t, time.Second, func() bool { return p.d1.HasAddr(lab.VIP4) }, "keepalived to add the VIP")

	v := startVigil(t, p.d2, config("d2", "", pr.vigil(100)))
	waitState(t, p.d2, interopInstance, "backup", time.Second)
	masterInfo := fmt.Sprintf("vigil_vrrp_instance_master_info{address=%q,vrrp_instance=%q}", p.d1.Addr4(), interopInstance)
	masterPrio := fmt.Sprintf("vigil_vrrp_instance_master_priority{vrrp_instance=%q}", interopInstance)
	received := fmt.Sprintf("vigil_vrrp_adverts_received_total{vrrp_instance=%q}", interopInstance)
	toMaster := fmt.Sprintf(`vigil_vrrp_instance_transitions_total{from="backup",to="master",vrrp_instance=%q}`, interopInstance)
	toBackup := fmt.Sprintf(`vigil_vrrp_instance_transitions_total{from="master",to="backup",vrrp_instance=%q}`, interopInstance)
	r0 := metric(p.d2, received)
	lab.WaitFor(t, pr.interval+time.Second, func() bool {
		return metric(p.d2, masterInfo) == 1 && metric(p.d2, masterPrio) == 150
	}, fmt.Sprintf("vigil to see keepalived (%s) as master with priority 150", p.d1.Addr4()))
	lab.WaitFor(t, 2*pr.interval+time.Second, func() bool { return metric(p.d2, received) >= r0+2 },
		"adverts_received_total to grow by 2")
	if s := stateOf(p.d2, interopInstance); s != "backup" {
		t.Fatalf("vigil is %q with keepalived master, want backup", s)
	}
	if n := metric(p.d2, toMaster); n != -1 {
		t.Fatalf("vigil has been master (%v backup->master transitions) while keepalived was", n)
	}
	assertNoReceiveErrors(t, p.d2)
	waitHolder(t, lab.VIP4, p.d1, []*lab.Host{p.d2}, time.Second)

	ping := p.cl.Pinger(lab.VIP4, 10*time.Millisecond)
	waitAnswered(t, ping, 2*time.Second)
	waitNeigh(t, p.cl, lab.VIP4, p.d1, time.Second)

	ka.Kill() // the whole process group: keepalived's VRRP child too
	took := waitState(t, p.d2, interopInstance, "master", pr.masterDown(100)+time.Second)
	waitNeigh(t, p.cl, lab.VIP4, p.d2, time.Second)
	waitAnswered(t, ping, 2*time.Second)
	t.Logf("kill -9 keepalived: vigil master %v later (its Master_Down_Interval is %v)", took.Round(time.Millisecond), pr.masterDown(100))

	restart := time.Now()
	ka = p.d1.StartKeepalived(t, conf)
	waitState(t, p.d2, interopInstance, "backup", pr.masterDown(150)+2*time.Second)
	took = time.Since(restart)
	waitKAState(t, ka, "MASTER", time.Second)
	waitHolder(t, lab.VIP4, p.d1, []*lab.Host{p.d2}, time.Second)
	waitNeigh(t, p.cl, lab.VIP4, p.d1, time.Second)
	waitAnswered(t, ping, 2*time.Second)
	if n, m := metric(p.d2, toMaster), metric(p.d2, toBackup); n != 1 || m != 1 {
		t.Errorf("vigil transitions backup->master %v, master->backup %v; want 1 each", n, m)
	}
	lab.WaitFor(t, pr.interval+time.Second, func() bool { return metric(p.d2, masterInfo) == 1 },
		"vigil to see the restarted keepalived as master")
	assertNoReceiveErrors(t, p.d2)
	t.Logf("restarted keepalived preempted vigil %v after its start (its Master_Down_Interval is %v)", took.Round(time.Millisecond), pr.masterDown(150))
	// A backup stops at once; stopping it after keepalived (the cleanup
	// order) would make it master and wait out a handover nobody answers.
	if err := v.Stop(); err != nil {
		t.Errorf("vigil exited with %v on SIGTERM", err)
	}
}

func TestInteropV2PassVigilMaster(t *testing.T)      { vigilMasterKeepalivedBackup(t, v2Pass) }
func TestInteropV2PassKeepalivedMaster(t *testing.T) { keepalivedMasterVigilBackup(t, v2Pass) }
func TestInteropV3VigilMaster(t *testing.T)          { vigilMasterKeepalivedBackup(t, v3Fast) }
func TestInteropV3KeepalivedMaster(t *testing.T)     { keepalivedMasterVigilBackup(t, v3Fast) }

// SIGTERM on a vigil master with a keepalived backup: vigil advertises
// priority 0, keepalived takes over without waiting for its
// Master_Down_Interval, and vigil keeps the VIP until keepalived's first
// advert (make-before-break), so the client loses next to nothing.
func TestInteropSIGTERMHandover(t *testing.T) {
	pr := v3Fast
	p := newInterop(t)
	v := startVigil(t, p.d1, config("d1", "", pr.vigil(150)))
	ka := p.d2.StartKeepalived(t, pr.keepalived("BACKUP", 100))
	waitState(t, p.d1, interopInstance, "master", pr.masterDown(150)+2*time.Second)
	waitKAState(t, ka, "BACKUP", time.Second)
	waitHolder(t, lab.VIP4, p.d1, []*lab.Host{p.d2}, time.Second)
	ping := p.cl.Pinger(lab.VIP4, 5*time.Millisecond)
	waitAnswered(t, ping, 2*time.Second)
	waitNeigh(t, p.cl, lab.VIP4, p.d1, time.Second)
	before := ping.Stats()

	termAt := time.Now()
	v.Signal(syscall.SIGTERM)
	took := waitKAState(t, ka, "MASTER", pr.masterDown(100)+time.Second)
	if err := v.Wait(5 * time.Second); err != nil {
		t.Fatalf("vigil did not exit cleanly on SIGTERM: %v", err)
	}
	waitNeigh(t, p.cl, lab.VIP4, p.d2, time.Second)
	waitAnswered(t, ping, time.Second)
	time.Sleep(100 * time.Millisecond)
	st := ping.Stop()
	lost := st.Lost() - before.Lost()
	t.Logf("SIGTERM vigil: keepalived master %v later (its Master_Down_Interval is %v); %d pings lost; %v",
		took.Round(time.Millisecond), pr.masterDown(100), lost, st)

	if want := fmt.Sprintf("(%s) Backup received priority 0 advertisement", interopInstance); !strings.Contains(ka.Log(), want) {
		t.Errorf("keepalived's log lacks %q: it did not see vigil's priority-0 advert", want)
	}
	// Through the priority-0 advert keepalived takes over after Skew_Time
	// (61 ms); through its timer after Master_Down_Interval (361 ms). The
	// log is polled every 5 ms.
	if took >= pr.masterDown(100) {
		t.Errorf("keepalived took over after %v, no sooner than its Master_Down_Interval %v: the priority-0 advert did not count", took, pr.masterDown(100))
	}
	if !strings.Contains(v.Log(), "took over") {
		t.Errorf("vigil's log does not show the make-before-break handover (\"took over\"):\n%s", v.Log())
	}
	if p.d1.HasAddr(lab.VIP4) {
		t.Error("stopped vigil left the VIP behind")
	}
	// Break-before-make would lose every request for at least Skew_Time
	// (a dozen at 5 ms); make-before-break at most the one in flight.
	if lost > 2 {
		for _, g := range st.Gaps {
			t.Logf("gap from %v to %v after SIGTERM, %d lost", g.Start.Sub(termAt), g.End.Sub(termAt), g.Lost)
		}
		t.Errorf("client lost %d pings during the planned handover to keepalived, want at most 2", lost)
	}
}

// Mismatched passwords: neither side accepts the other's adverts, so both
// become master (a split brain, as between two keepalived), and vigil
// counts keepalived's adverts as authentication failures.
func TestInteropPasswordMismatch(t *testing.T) {
	pr := v2Pass
	p := newInterop(t)
	v := startVigil(t, p.d1, config("d1", "", pr.vigil(150)))
	other := pr
	other.auth = "other123"
	ka := p.d2.StartKeepalived(t, other.keepalived("BACKUP", 100))

	waitState(t, p.d1, interopInstance, "master", pr.masterDown(150)+2*time.Second)
	waitKAState(t, ka, "MASTER", pr.masterDown(100)+2*time.Second)
	auth := instanceReason(vrrp.ReasonAuth)
	lab.WaitFor(t, 2*pr.interval+time.Second, func() bool { return metric(p.d1, auth) >= 1 },
		"vigil to count keepalived's adverts as auth errors")
	if !p.d1.HasAddr(lab.VIP4) || !p.d2.HasAddr(lab.VIP4) {
		t.Errorf("VIP held by director1 %v, director2 %v: want both (split brain)", p.d1.HasAddr(lab.VIP4), p.d2.HasAddr(lab.VIP4))
	}
	if s := stateOf(p.d1, interopInstance); s != "master" {
		t.Errorf("vigil is %q, want master", s)
	}
	for k, v := range receiveErrors(t, p.d1) {
		if k != auth && v != 0 {
			t.Errorf("vigil: %s = %v, want 0 (only the password differs)", k, v)
		}
	}
	received := fmt.Sprintf("vigil_vrrp_adverts_received_total{vrrp_instance=%q}", interopInstance)
	if n := metric(p.d1, received); n != 0 {
		t.Errorf("vigil accepted %v adverts with the wrong password", n)
	}
	if want := fmt.Sprintf("(%s) received an invalid passwd!", interopInstance); !strings.Contains(ka.Log(), want) {
		t.Errorf("keepalived's log lacks %q: it did not reject vigil's adverts for their password", want)
	}
	t.Logf("vigil counted %v auth errors", metric(p.d1, auth))
	// A master that nobody can take over from would wait out its
	// Master_Down_Interval on SIGTERM at cleanup.
	v.Kill()
}
