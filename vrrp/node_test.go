package vrrp

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeConn records what the node sends and lets the test inject packets.
type fakeConn struct {
	local netip.Addr
	in    chan Received
	mu    sync.Mutex
	sent  []sentPacket
	once  sync.Once
	done  chan struct{}
}

type sentPacket struct {
	dst    netip.Addr
	advert *Advert
}

func newFakeConn(local string) *fakeConn {
	return &fakeConn{local: netip.MustParseAddr(local), in: make(chan Received, 16), done: make(chan struct{})}
}

func (c *fakeConn) LocalAddr() netip.Addr { return c.local }

func (c *fakeConn) Read(buf []byte) (Received, error) {
	select {
	case r := <-c.in:
		return r, nil
	case <-c.done:
		return Received{}, net.ErrClosed
	}
}

func (c *fakeConn) Write(payload []byte, dst netip.Addr) error {
	a, err := ParseAdvert(payload, c.local, dst)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.sent = append(c.sent, sentPacket{dst: dst, advert: a})
	c.mu.Unlock()
	return nil
}

func (c *fakeConn) Close() error { c.once.Do(func() { close(c.done) }); return nil }

func (c *fakeConn) sentAdverts() []sentPacket {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]sentPacket(nil), c.sent...)
}

// fakeAddrs records address changes.
type fakeAddrs struct {
	mu      sync.Mutex
	present map[netip.Prefix]bool
	log     []string
	delAt   time.Time // last Remove
}

func (a *fakeAddrs) Add(v VIP) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.present[v.Prefix] = true
	a.log = append(a.log, "add "+v.Prefix.String())
	return nil
}

func (a *fakeAddrs) Remove(v VIP) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.present, v.Prefix)
	a.log = append(a.log, "del "+v.Prefix.String())
	a.delAt = time.Now()
	return nil
}

func (a *fakeAddrs) has(p netip.Prefix) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.present[p]
}

type fakeAnnouncer struct {
	mu    sync.Mutex
	garps []netip.Addr
	nas   []netip.Addr
}

func (f *fakeAnnouncer) GARP(a netip.Addr) error {
	f.mu.Lock()
	f.garps = append(f.garps, a)
	f.mu.Unlock()
	return nil
}

func (f *fakeAnnouncer) UnsolicitedNA(a netip.Addr) error {
	f.mu.Lock()
	f.nas = append(f.nas, a)
	f.mu.Unlock()
	return nil
}

func (f *fakeAnnouncer) Close() error { return nil }

func (f *fakeAnnouncer) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.garps) + len(f.nas)
}

type fakePlatform struct {
	conn    *fakeConn
	addrs   *fakeAddrs
	ann     *fakeAnnouncer
	removed chan netip.Prefix
	hooks   chan []string
}

func newFakePlatform() *fakePlatform {
	return &fakePlatform{
		conn:    newFakeConn("10.99.0.11"),
		addrs:   &fakeAddrs{present: map[netip.Prefix]bool{}},
		ann:     &fakeAnnouncer{},
		removed: make(chan netip.Prefix, 4),
		hooks:   make(chan []string, 16),
	}
}

func (f *fakePlatform) platform() Platform {
	return Platform{
		Listen: func(string, bool, netip.Addr, bool) (PacketConn, error) { return f.conn, nil },
		Addrs:  f.addrs,
		NewAnnouncer: func(string) (GratuitousAnnouncer, error) {
			return f.ann, nil
		},
		LinkUp: func(string) (bool, error) { return true, nil },
		WatchAddrs: func(ctx context.Context, onRemoved func(string, netip.Prefix)) error {
			for {
				select {
				case <-ctx.Done():
					return nil
				case p := <-f.removed:
					onRemoved("eth0", p)
				}
			}
		},
		RunHook: func(_ context.Context, argv, env []string) error {
			f.hooks <- append(append([]string(nil), argv...), env...)
			return nil
		},
	}
}

func testNodeInstance(prio uint8) NodeInstance {
	vip := netip.MustParsePrefix("10.99.0.250/24")
	return NodeInstance{
		Protocol: InstanceConfig{
			Name: "VI_1", Interface: "eth0", VRID: 51, Version: 3, Priority: prio,
			AdvertInterval: 20 * time.Millisecond, Preempt: true,
			VIPs: []netip.Addr{vip.Addr()},
		},
		VIPs:       []VIP{{Prefix: vip, Dev: "eth0"}},
		GARPRepeat: 3,
		GARPDelay:  50 * time.Millisecond,
		Notify:     map[State][]string{StateMaster: {"/bin/on-master"}},
	}
}

func startNode(t *testing.T, cfg NodeConfig, fp *fakePlatform) (*Node, context.CancelFunc, chan error) {
	t.Helper()
	n := NewNode(cfg, fp.platform(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("node did not stop")
		}
	})
	return n, cancel, done
}

func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func snapshotOf(t *testing.T, n *Node) InstanceSnapshot {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	s, ok := n.Snapshot(ctx)
	if !ok || len(s.Instances) != 1 {
		t.Fatalf("snapshot: ok=%v %+v", ok, s)
	}
	return s.Instances[0]
}

// A lone node becomes master after Master_Down_Interval, adds the VIP,
// sends adverts, runs the master hook with its environment, and announces
// in two bursts (3 now, 3 after garp_master_delay).
func TestNodeBecomesMasterAndAnnounces(t *testing.T) {
	fp := newFakePlatform()
	n, _, _ := startNode(t, NodeConfig{Instances: []NodeInstance{testNodeInstance(150)}}, fp)
	vip := netip.MustParsePrefix("10.99.0.250/24")
	waitUntil(t, 2*time.Second, "VIP added", func() bool { return fp.addrs.has(vip) })
	select {
	case h := <-fp.hooks:
		want := []string{"/bin/on-master", "VIGIL_INSTANCE=VI_1", "VIGIL_STATE=master", "VIGIL_FROM_STATE=backup", "VIGIL_PRIORITY=150"}
		if len(h) != len(want) {
			t.Fatalf("hook %q, want %q", h, want)
		}
		for i := range want {
			if h[i] != want[i] {
				t.Fatalf("hook %q, want %q", h, want)
			}
		}
	case <-time.After(2 * time.Second):
		t.Fatal("master hook not run")
	}
	waitUntil(t, 2*time.Second, "first burst", func() bool { return fp.ann.count() >= 3 })
	waitUntil(t, 2*time.Second, "second burst", func() bool { return fp.ann.count() == 6 })
	time.Sleep(100 * time.Millisecond)
	if c := fp.ann.count(); c != 6 {
		t.Fatalf("announcements = %d, want 6 (no refresh configured)", c)
	}
	waitUntil(t, 2*time.Second, "adverts", func() bool { return len(fp.conn.sentAdverts()) >= 3 })
	for _, p := range fp.conn.sentAdverts() {
		if p.dst != MulticastGroupV4 || p.advert.Priority != 150 || p.advert.VRID != 51 {
			t.Fatalf("unexpected advert %+v to %v", p.advert, p.dst)
		}
	}
	s := snapshotOf(t, n)
	if s.State != StateMaster || !s.VIPsPresent[vip] || s.GARPsSent != 6 || s.AdvertsSent == 0 {
		t.Fatalf("snapshot %+v", s)
	}
}

// A higher-priority advert demotes the master: the VIP goes away.
func TestNodeHigherPriorityPeerTakesOver(t *testing.T) {
	fp := newFakePlatform()
	n, _, _ := startNode(t, NodeConfig{Instances: []NodeInstance{testNodeInstance(100)}}, fp)
	vip := netip.MustParsePrefix("10.99.0.250/24")
	waitUntil(t, 2*time.Second, "VIP added", func() bool { return fp.addrs.has(vip) })
	peer := netip.MustParseAddr("10.99.0.12")
	adv := &Advert{Version: 3, Type: 1, VRID: 51, Priority: 200, Interval: 20 * time.Millisecond, Addrs: []netip.Addr{vip.Addr()}}
	b, err := adv.Marshal(peer, MulticastGroupV4)
	if err != nil {
		t.Fatal(err)
	}
	fp.conn.in <- Received{Src: peer, Dst: MulticastGroupV4, HopLimit: 255, Payload: b}
	waitUntil(t, time.Second, "VIP removed", func() bool { return !fp.addrs.has(vip) })
	s := snapshotOf(t, n)
	if s.State != StateBackup || s.MasterAddr != peer || s.MasterPriority != 200 {
		t.Fatalf("snapshot %+v", s)
	}
}

// Packets with a bad TTL, a bad checksum or an unknown VRID are counted
// by reason and change nothing.
func TestNodeCountsReceiveErrors(t *testing.T) {
	fp := newFakePlatform()
	cfg := testNodeInstance(100)
	cfg.Protocol.AdvertInterval = time.Second // stay backup during the test
	n, _, _ := startNode(t, NodeConfig{Instances: []NodeInstance{cfg}}, fp)
	peer := netip.MustParseAddr("10.99.0.12")
	mk := func(vrid uint8) []byte {
		adv := &Advert{Version: 3, Type: 1, VRID: vrid, Priority: 200, Interval: time.Second, Addrs: []netip.Addr{netip.MustParseAddr("10.99.0.250")}}
		b, err := adv.Marshal(peer, MulticastGroupV4)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	good := mk(51)
	bad := append([]byte(nil), good...)
	bad[6] ^= 0xff // checksum
	fp.conn.in <- Received{Src: peer, Dst: MulticastGroupV4, HopLimit: 64, Payload: good}
	fp.conn.in <- Received{Src: peer, Dst: MulticastGroupV4, HopLimit: 255, Payload: bad}
	fp.conn.in <- Received{Src: peer, Dst: MulticastGroupV4, HopLimit: 255, Payload: mk(52)}
	waitUntil(t, time.Second, "errors counted", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		s, _ := n.Snapshot(ctx)
		return len(s.Interfaces) == 1 && s.Interfaces[0].RecvErrors[ReasonVRID] == 1 &&
			s.Instances[0].RecvErrors[ReasonTTL] == 1 && s.Instances[0].RecvErrors[ReasonChecksum] == 1
	})
	if s := snapshotOf(t, n); s.AdvertsReceived != 0 || s.State != StateBackup {
		t.Fatalf("bad packets changed state: %+v", s)
	}
}

// A VIP removed behind vigil's back while master is re-added, counted and
// announced again.
func TestNodeRestoresRemovedVIP(t *testing.T) {
	fp := newFakePlatform()
	n, _, _ := startNode(t, NodeConfig{Instances: []NodeInstance{testNodeInstance(150)}}, fp)
	vip := netip.MustParsePrefix("10.99.0.250/24")
	waitUntil(t, 2*time.Second, "VIP added", func() bool { return fp.addrs.has(vip) })
	waitUntil(t, 2*time.Second, "bursts done", func() bool { return fp.ann.count() == 6 })
	fp.addrs.Remove(VIP{Prefix: vip})
	fp.removed <- vip
	waitUntil(t, time.Second, "VIP restored", func() bool { return fp.addrs.has(vip) })
	waitUntil(t, time.Second, "restore counted", func() bool { return snapshotOf(t, n).VIPsRestored == 1 })
	if c := fp.ann.count(); c != 7 {
		t.Fatalf("announcements = %d, want 7 (one for the restored VIP)", c)
	}
}

// A failing weight-0 tracked script puts the instance in FAULT (VIP
// removed); recovery brings it back.
func TestNodeTrackScriptFault(t *testing.T) {
	fp := newFakePlatform()
	cfg := testNodeInstance(150)
	cfg.TrackScripts = []TrackRef{{Name: "chk", Weight: 0}}
	n, _, _ := startNode(t, NodeConfig{Instances: []NodeInstance{cfg}}, fp)
	vip := netip.MustParsePrefix("10.99.0.250/24")
	waitUntil(t, 2*time.Second, "VIP added", func() bool { return fp.addrs.has(vip) })
	ctx := context.Background()
	n.UpdateScript(ctx, "chk", false)
	waitUntil(t, time.Second, "fault", func() bool { return snapshotOf(t, n).State == StateFault })
	if fp.addrs.has(vip) {
		t.Fatal("VIP still present in FAULT")
	}
	n.UpdateScript(ctx, "chk", true)
	waitUntil(t, 2*time.Second, "master again", func() bool { return snapshotOf(t, n).State == StateMaster && fp.addrs.has(vip) })
	ctx2, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	s, _ := n.Snapshot(ctx2)
	if len(s.Tracks) != 1 || s.Tracks[0].Failures != 1 || !s.Tracks[0].Up {
		t.Fatalf("tracks %+v", s.Tracks)
	}
}

// Stopping a master sends a priority-0 advert and keeps the VIP until a
// peer's advert shows it has taken over, and for the linger after it; Run
// returns only once the VIP is gone.
func TestNodeStopIsMakeBeforeBreak(t *testing.T) {
	fp := newFakePlatform()
	cfg := testNodeInstance(150)
	cfg.Protocol.AdvertInterval = 100 * time.Millisecond
	_, cancel, done := startNode(t, NodeConfig{Instances: []NodeInstance{cfg}}, fp)
	vip := netip.MustParsePrefix("10.99.0.250/24")
	waitUntil(t, 2*time.Second, "VIP added", func() bool { return fp.addrs.has(vip) })
	cancel()
	waitUntil(t, time.Second, "priority 0 advert", func() bool {
		for _, p := range fp.conn.sentAdverts() {
			if p.advert.Priority == 0 {
				return true
			}
		}
		return false
	})
	time.Sleep(50 * time.Millisecond)
	if !fp.addrs.has(vip) {
		t.Fatal("VIP removed before a peer took over")
	}
	peer := netip.MustParseAddr("10.99.0.12")
	adv := &Advert{Version: 3, Type: 1, VRID: 51, Priority: 100, Interval: 100 * time.Millisecond, Addrs: []netip.Addr{vip.Addr()}}
	b, _ := adv.Marshal(peer, MulticastGroupV4)
	sent := time.Now()
	fp.conn.in <- Received{Src: peer, Dst: MulticastGroupV4, HopLimit: 255, Payload: b}
	select {
	case <-done:
		done <- nil
	case <-time.After(2 * time.Second):
		t.Fatal("node did not stop after the peer took over")
	}
	if fp.addrs.has(vip) {
		t.Fatal("VIP left behind after stop")
	}
	fp.addrs.mu.Lock()
	delAt := fp.addrs.delAt
	fp.addrs.mu.Unlock()
	if d := delAt.Sub(sent); d < handoverLinger {
		t.Fatalf("VIP removed %v after the peer's advert, want at least the linger %v", d, handoverLinger)
	}
}

// A master preempted by a higher priority peer reports Backup at once but
// keeps the VIP for the linger after the peer's advert.
func TestNodePreemptedKeepsVIPForLinger(t *testing.T) {
	fp := newFakePlatform()
	cfg := testNodeInstance(150)
	cfg.Protocol.AdvertInterval = 100 * time.Millisecond
	n, _, _ := startNode(t, NodeConfig{Instances: []NodeInstance{cfg}}, fp)
	vip := netip.MustParsePrefix("10.99.0.250/24")
	waitUntil(t, 2*time.Second, "VIP added", func() bool { return fp.addrs.has(vip) })
	peer := netip.MustParseAddr("10.99.0.12")
	adv := &Advert{Version: 3, Type: 1, VRID: 51, Priority: 200, Interval: 100 * time.Millisecond, Addrs: []netip.Addr{vip.Addr()}}
	b, _ := adv.Marshal(peer, MulticastGroupV4)
	sent := time.Now()
	fp.conn.in <- Received{Src: peer, Dst: MulticastGroupV4, HopLimit: 255, Payload: b}
	waitUntil(t, time.Second, "VIP removed", func() bool { return !fp.addrs.has(vip) })
	fp.addrs.mu.Lock()
	delAt := fp.addrs.delAt
	fp.addrs.mu.Unlock()
	if d := delAt.Sub(sent); d < handoverLinger {
		t.Fatalf("VIP removed %v after the peer's advert, want at least the linger %v", d, handoverLinger)
	}
	if s := snapshotOf(t, n); s.State != StateBackup || s.MasterAddr != peer || s.MasterPriority != 200 {
		t.Fatalf("state %v, master %v prio %d", s.State, s.MasterAddr, s.MasterPriority)
	}
}

// While an instance keeps its addresses after a handover it announces
// nothing: a pending second burst would pull the clients back to it just
// before it removes them.
func TestNodeNoAnnouncementsDuringLinger(t *testing.T) {
	fp := newFakePlatform()
	cfg := testNodeInstance(150)
	n := NewNode(NodeConfig{Instances: []NodeInstance{cfg}}, fp.platform(), nil)
	ri := &runtimeInstance{cfg: cfg, inst: NewInstance(cfg.Protocol), ann: fp.ann,
		recvErrors: map[Reason]uint64{}, vipPresent: map[netip.Prefix]bool{}}
	n.addInstance(ri)
	t0 := time.Unix(1000, 0)
	ri.inst.Start(t0)
	up := ri.inst.NextDeadline()
	ri.inst.Tick(up)
	n.afterInput(up) // master: VIP added, first burst of 3 sent
	if c := fp.ann.count(); c != 3 || !ri.vipsHeld {
		t.Fatalf("announcements %d, held %v", c, ri.vipsHeld)
	}
	// Shutdown and a peer takes over before the second burst (50ms).
	now := up.Add(10 * time.Millisecond)
	ri.inst.Shutdown(now)
	peer := netip.MustParseAddr("10.99.0.12")
	adv := &Advert{Version: 3, Type: 1, VRID: 51, Priority: 100, Interval: 20 * time.Millisecond, Addrs: cfg.Protocol.VIPs}
	now = up.Add(45 * time.Millisecond)
	if r := ri.inst.Receive(now, peer, adv); r != "" {
		t.Fatal(r)
	}
	n.afterInput(now)
	if ri.inst.State() != StateStop || !ri.vipsHeld || ri.inst.Stopped() || n.allStopped() {
		t.Fatalf("state %v held %v", ri.inst.State(), ri.vipsHeld)
	}
	// The second burst falls due during the linger.
	now = up.Add(50 * time.Millisecond)
	n.handleTick(now)
	if c := fp.ann.count(); c != 3 {
		t.Fatalf("announcements %d during the linger, want still 3", c)
	}
	now = up.Add(45*time.Millisecond + handoverLinger)
	n.handleTick(now)
	if ri.vipsHeld || fp.addrs.has(cfg.VIPs[0].Prefix) || !n.allStopped() {
		t.Fatalf("after the linger: held %v", ri.vipsHeld)
	}
	if c := fp.ann.count(); c != 3 {
		t.Fatalf("announcements %d, want 3", c)
	}
}

func reloadNode(t *testing.T, n *Node, cfg NodeConfig) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return n.Reload(ctx, cfg)
}

// A reload that changes only the priority keeps the master running: no
// transition, the VIP stays, and adverts carry the new priority.
func TestNodeReloadPriorityInPlace(t *testing.T) {
	fp := newFakePlatform()
	cfg := testNodeInstance(150)
	n, _, _ := startNode(t, NodeConfig{Instances: []NodeInstance{cfg}}, fp)
	vip := netip.MustParsePrefix("10.99.0.250/24")
	waitUntil(t, 2*time.Second, "master", func() bool { return snapshotOf(t, n).State == StateMaster })
	before := snapshotOf(t, n)
	cfg.Protocol.Priority = 200
	if err := reloadNode(t, n, NodeConfig{Instances: []NodeInstance{cfg}}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, time.Second, "advert with priority 200", func() bool {
		s := fp.conn.sentAdverts()
		return len(s) > 0 && s[len(s)-1].advert.Priority == 200
	})
	after := snapshotOf(t, n)
	if after.State != StateMaster || after.BasePriority != 200 || !fp.addrs.has(vip) ||
		after.LastTransition != before.LastTransition {
		t.Fatalf("after reload: %+v", after)
	}
}

// A reload that changes the VIPs replaces the instance: the old one hands
// over (here nobody answers, so after Master_Down_Interval) and the new one
// ends up master with the new address set; the dropped address goes.
func TestNodeReloadReplacesChangedInstance(t *testing.T) {
	fp := newFakePlatform()
	cfg := testNodeInstance(150)
	n, _, _ := startNode(t, NodeConfig{Instances: []NodeInstance{cfg}}, fp)
	waitUntil(t, 2*time.Second, "master", func() bool { return snapshotOf(t, n).State == StateMaster })
	newVIP := netip.MustParsePrefix("10.99.0.251/24")
	cfg.VIPs = []VIP{{Prefix: newVIP, Dev: "eth0"}}
	cfg.Protocol.VIPs = []netip.Addr{newVIP.Addr()}
	if err := reloadNode(t, n, NodeConfig{Instances: []NodeInstance{cfg}}); err != nil {
		t.Fatal(err)
	}
	old := netip.MustParsePrefix("10.99.0.250/24")
	waitUntil(t, 3*time.Second, "new VIP only", func() bool { return fp.addrs.has(newVIP) && !fp.addrs.has(old) })
	waitUntil(t, 2*time.Second, "one master instance", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		s, _ := n.Snapshot(ctx)
		return len(s.Instances) == 1 && s.Instances[0].State == StateMaster && s.Instances[0].VIPsPresent[newVIP]
	})
}

// A reload whose sockets cannot be opened changes nothing.
func TestNodeReloadFailureKeepsRunning(t *testing.T) {
	fp := newFakePlatform()
	cfg := testNodeInstance(150)
	p := fp.platform()
	listen := p.Listen
	p.Listen = func(ifname string, v6 bool, src netip.Addr, mc bool) (PacketConn, error) {
		if ifname == "eth9" {
			return nil, errors.New("no such device")
		}
		return listen(ifname, v6, src, mc)
	}
	n := NewNode(NodeConfig{Instances: []NodeInstance{cfg}}, p, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitUntil(t, 2*time.Second, "master", func() bool { return snapshotOf(t, n).State == StateMaster })
	other := testNodeInstance(100)
	other.Protocol.Name, other.Protocol.Interface, other.Protocol.VRID = "VI_9", "eth9", 9
	err := reloadNode(t, n, NodeConfig{Instances: []NodeInstance{cfg, other}})
	if err == nil || !strings.Contains(err.Error(), "instance VI_9: opening VRRP socket on eth9: no such device") {
		t.Fatalf("err = %v", err)
	}
	if s := snapshotOf(t, n); s.State != StateMaster || s.Name != "VI_1" {
		t.Fatalf("running instance disturbed: %+v", s)
	}
}

// Holding a master makes it hand over (priority-0 advert, VIP kept until a
// peer answers); a higher-priority held backup does not preempt until the
// hold is released. Unknown instances are refused.
func TestNodeSetHolds(t *testing.T) {
	fp := newFakePlatform()
	cfg := testNodeInstance(150)
	cfg.Protocol.AdvertInterval = 100 * time.Millisecond
	n, _, _ := startNode(t, NodeConfig{Instances: []NodeInstance{cfg}}, fp)
	vip := netip.MustParsePrefix("10.99.0.250/24")
	waitUntil(t, 3*time.Second, "master", func() bool { return snapshotOf(t, n).State == StateMaster })
	ctx := context.Background()
	if err := n.SetHolds(ctx, []string{"VI_9"}); err == nil || !strings.Contains(err.Error(), `unknown vrrp instance "VI_9"`) {
		t.Fatalf("err = %v", err)
	}
	if err := n.SetHolds(ctx, []string{"VI_1"}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, time.Second, "priority 0 advert", func() bool {
		for _, p := range fp.conn.sentAdverts() {
			if p.advert.Priority == 0 {
				return true
			}
		}
		return false
	})
	if !fp.addrs.has(vip) {
		t.Fatal("VIP dropped before a peer took over")
	}
	peer := netip.MustParseAddr("10.99.0.12")
	adv := &Advert{Version: 3, Type: 1, VRID: 51, Priority: 100, Interval: 100 * time.Millisecond, Addrs: []netip.Addr{vip.Addr()}}
	b, _ := adv.Marshal(peer, MulticastGroupV4)
	send := func() { fp.conn.in <- Received{Src: peer, Dst: MulticastGroupV4, HopLimit: 255, Payload: b} }
	send()
	waitUntil(t, time.Second, "backup", func() bool { return snapshotOf(t, n).State == StateBackup && !fp.addrs.has(vip) })
	// The lower-priority peer keeps advertising; held, we do not preempt.
	for range 8 {
		send()
		time.Sleep(50 * time.Millisecond)
	}
	if s := snapshotOf(t, n); s.State != StateBackup {
		t.Fatalf("held instance preempted: %v", s.State)
	}
	if err := n.SetHolds(ctx, nil); err != nil {
		t.Fatal(err)
	}
	// Released, it discards the lower-priority adverts and takes over.
	waitUntil(t, 2*time.Second, "master again", func() bool {
		send()
		time.Sleep(20 * time.Millisecond)
		return snapshotOf(t, n).State == StateMaster
	})
}

// fakeTimeNode returns a node driving cfg whose instance the test drives
// with explicit times (no Run goroutine), Master at the returned time with
// the first burst of announcements sent.
func fakeTimeNode(t *testing.T, cfg NodeInstance, fp *fakePlatform) (*Node, *runtimeInstance, time.Time) {
	t.Helper()
	cfg.Protocol.LocalAddr = fp.conn.LocalAddr()
	n := NewNode(NodeConfig{Instances: []NodeInstance{cfg}}, fp.platform(), nil)
	ri := &runtimeInstance{cfg: cfg, inst: NewInstance(cfg.Protocol), conn: fp.conn, ann: fp.ann,
		recvErrors: map[Reason]uint64{}, vipPresent: map[netip.Prefix]bool{}}
	n.addInstance(ri)
	t0 := time.Unix(1000, 0)
	ri.inst.Start(t0)
	up := ri.inst.NextDeadline()
	n.handleTick(up)
	if ri.inst.State() != StateMaster || !ri.vipsHeld {
		t.Fatalf("setup: state %v, held %v", ri.inst.State(), ri.vipsHeld)
	}
	return n, ri, up
}

// receiveAt delivers an advert of prio from src to ri at now, as
// handlePacket does.
func receiveAt(t *testing.T, n *Node, ri *runtimeInstance, now time.Time, src string, prio uint8) {
	t.Helper()
	pc := ri.cfg.Protocol
	adv := &Advert{Version: pc.Version, Type: 1, VRID: pc.VRID, Priority: prio, Interval: pc.AdvertInterval, Addrs: pc.VIPs}
	if r := ri.inst.Receive(now, netip.MustParseAddr(src), adv); r != "" {
		t.Fatal(r)
	}
	n.afterInput(now)
}

// A Master that hears a lower priority Master announces its addresses
// again: garp_lower_prio_repeat packets at once and as many after
// garp_lower_prio_delay, alongside the bursts still pending from becoming
// Master. More adverts from that Master add nothing.
func TestNodeLowerPriorityMasterAnnounces(t *testing.T) {
	fp := newFakePlatform()
	cfg := testNodeInstance(150) // GARPRepeat 3, GARPDelay 50ms
	cfg.GARPLowerPrioRepeat, cfg.GARPLowerPrioDelay = 2, 200*time.Millisecond
	n, ri, up := fakeTimeNode(t, cfg, fp)
	if c := fp.ann.count(); c != 3 {
		t.Fatalf("announcements %d on becoming master, want 3", c)
	}
	ms := func(d int) time.Time { return up.Add(time.Duration(d) * time.Millisecond) }
	receiveAt(t, n, ri, ms(10), "10.99.0.12", 100)
	if c := fp.ann.count(); c != 5 {
		t.Fatalf("announcements %d after a lower priority advert, want 3+2", c)
	}
	n.handleTick(ms(50))
	if c := fp.ann.count(); c != 8 {
		t.Fatalf("announcements %d after garp_master_delay, want 3+2+3", c)
	}
	for d := 30; d < 300; d += 20 { // the other Master stays (20ms interval)
		n.handleTick(ms(d))
		receiveAt(t, n, ri, ms(d), "10.99.0.12", 100)
	}
	if c := fp.ann.count(); c != 10 {
		t.Fatalf("announcements %d after garp_lower_prio_delay, want 3+2+3+2", c)
	}
	if s := n.snapshot().Instances[0]; s.GARPsSent != 10 || s.State != StateMaster {
		t.Fatalf("snapshot: %d GARPs, state %v", s.GARPsSent, s.State)
	}
}

// garp_lower_prio_repeat 0 turns the announcements off; a Master that
// leaves before garp_lower_prio_delay sends no second burst.
func TestNodeLowerPriorityAnnouncementsOffOrCancelled(t *testing.T) {
	t.Run("repeat 0", func(t *testing.T) {
		fp := newFakePlatform()
		cfg := testNodeInstance(150)
		cfg.GARPDelay = 0
		cfg.GARPLowerPrioRepeat, cfg.GARPLowerPrioDelay = 0, 200*time.Millisecond
		n, ri, up := fakeTimeNode(t, cfg, fp)
		receiveAt(t, n, ri, up.Add(10*time.Millisecond), "10.99.0.12", 100)
		n.handleTick(up.Add(time.Second))
		if c := fp.ann.count(); c != 3 {
			t.Fatalf("announcements %d, want the 3 of becoming master", c)
		}
	})
	t.Run("preempted", func(t *testing.T) {
		fp := newFakePlatform()
		cfg := testNodeInstance(150)
		cfg.GARPDelay = 0
		cfg.GARPLowerPrioRepeat, cfg.GARPLowerPrioDelay = 2, 200*time.Millisecond
		cfg.Protocol.AdvertInterval = 100 * time.Millisecond
		n, ri, up := fakeTimeNode(t, cfg, fp)
		receiveAt(t, n, ri, up.Add(10*time.Millisecond), "10.99.0.12", 100)
		receiveAt(t, n, ri, up.Add(100*time.Millisecond), "10.99.0.13", 200)
		n.handleTick(up.Add(100*time.Millisecond + handoverLinger))
		// The second burst was due at 210ms; Master_Down_Interval (340ms)
		// has not passed.
		n.handleTick(up.Add(300 * time.Millisecond))
		if c := fp.ann.count(); c != 5 || ri.inst.State() != StateBackup || ri.vipsHeld {
			t.Fatalf("announcements %d (want 3+2), state %v, held %v", c, ri.inst.State(), ri.vipsHeld)
		}
	})
}

// In a sync group, a member that hears a lower priority Master makes every
// Master member announce again (keepalived does the same).
func TestNodeLowerPriorityAnnouncesSyncGroup(t *testing.T) {
	fp := newFakePlatform()
	c1 := testNodeInstance(150)
	c1.GARPDelay = 0
	c1.GARPLowerPrioRepeat = 2
	c1.Protocol.LocalAddr = fp.conn.LocalAddr()
	c2 := c1
	vip2 := netip.MustParsePrefix("10.99.0.251/24")
	c2.Protocol.Name, c2.Protocol.VRID, c2.Protocol.VIPs = "VI_2", 52, []netip.Addr{vip2.Addr()}
	c2.VIPs = []VIP{{Prefix: vip2, Dev: "eth0"}}
	ann2 := &fakeAnnouncer{}
	n := NewNode(NodeConfig{Instances: []NodeInstance{c1, c2}, Groups: []NodeGroup{{Name: "VG1", Members: []string{"VI_1", "VI_2"}}}}, fp.platform(), nil)
	ri1 := &runtimeInstance{cfg: c1, inst: NewInstance(c1.Protocol), conn: fp.conn, ann: fp.ann,
		recvErrors: map[Reason]uint64{}, vipPresent: map[netip.Prefix]bool{}}
	ri2 := &runtimeInstance{cfg: c2, inst: NewInstance(c2.Protocol), conn: fp.conn, ann: ann2,
		recvErrors: map[Reason]uint64{}, vipPresent: map[netip.Prefix]bool{}}
	n.addInstance(ri1)
	n.addInstance(ri2)
	if err := n.buildGroups(n.cfg.Groups); err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1000, 0)
	ri1.inst.Start(t0)
	ri2.inst.Start(t0)
	n.afterInput(t0)
	up := ri1.inst.NextDeadline()
	n.handleTick(up)
	if ri1.inst.State() != StateMaster || ri2.inst.State() != StateMaster || fp.ann.count() != 3 || ann2.count() != 3 {
		t.Fatalf("setup: %v %v, announcements %d %d", ri1.inst.State(), ri2.inst.State(), fp.ann.count(), ann2.count())
	}
	receiveAt(t, n, ri1, up.Add(10*time.Millisecond), "10.99.0.12", 100)
	if fp.ann.count() != 5 || ann2.count() != 5 {
		t.Fatalf("announcements %d %d, want 5 each", fp.ann.count(), ann2.count())
	}
}
