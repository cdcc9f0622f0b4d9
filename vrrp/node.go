package vrrp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sort"
	"sync"
	"time"
)

// NodeConfig describes every VRRP instance a node runs.
type NodeConfig struct {
	Instances     []NodeInstance
	Groups        []NodeGroup
	NotifyTimeout time.Duration // bound for each notify hook; default 10s
}

// NodeInstance is one instance plus what the driver needs beyond the
// protocol: full VIP specs, transport settings, tracking and hooks.
type NodeInstance struct {
	Protocol        InstanceConfig
	VIPs            []VIP
	UnicastSource   netip.Addr
	UnicastPeers    []netip.Addr
	TrackInterfaces []TrackRef
	TrackScripts    []TrackRef
	Notify          map[State][]string // argv per entered state

	GARPRepeat   int           // packets per burst (per address)
	GARPDelay    time.Duration // second burst this long after the first; 0: none
	GARPRefresh  time.Duration // periodic refresh while master; 0: off
	GARPInterval time.Duration // gap between the packets of a burst

	// Announcements while master after hearing a lower priority master
	// (AnnounceLowerPrio; keepalived's garp_lower_prio_*): a burst of
	// GARPLowerPrioRepeat packets per address, GARPInterval apart, and a
	// second one GARPLowerPrioDelay later. Repeat 0 disables them; delay 0
	// leaves out the second burst.
	GARPLowerPrioRepeat int
	GARPLowerPrioDelay  time.Duration
}

// TrackRef ties an instance to a tracked script or interface. Weight 0 means
// failure puts the instance in FAULT; a negative weight is added to the
// priority while failing, a positive one while healthy (keepalived).
type TrackRef struct {
	Name   string
	Weight int
}

// NodeGroup is a sync group by member names.
type NodeGroup struct {
	Name    string
	Members []string
}

// Platform is the node's access to the operating system. Tests substitute
// recording fakes; LinuxPlatform is the real one.
type Platform struct {
	Listen       func(ifname string, ipv6 bool, source netip.Addr, multicast bool) (PacketConn, error)
	Addrs        AddrManager
	NewAnnouncer func(ifname string) (GratuitousAnnouncer, error)
	LinkUp       func(name string) (bool, error)
	WatchLinks   func(ctx context.Context, onChange func(name string, up bool)) error
	WatchAddrs   func(ctx context.Context, onRemoved func(dev string, p netip.Prefix)) error
	RunHook      func(ctx context.Context, argv []string, env []string) error
}

// PacketConn is the VRRP transport as the driver uses it (Conn on Linux).
type PacketConn interface {
	LocalAddr() netip.Addr
	Read(buf []byte) (Received, error)
	Write(payload []byte, dst netip.Addr) error
	Close() error
}

// AddrManager configures virtual addresses (Addrs on Linux).
type AddrManager interface {
	Add(v VIP) error
	Remove(v VIP) error
}

// GratuitousAnnouncer sends gratuitous ARPs and unsolicited NAs
// (Announcer on Linux).
type GratuitousAnnouncer interface {
	GARP(addr netip.Addr) error
	UnsolicitedNA(addr netip.Addr) error
	Close() error
}

type connKey struct {
	ifname string
	ipv6   bool
	source netip.Addr
}

type rxPacket struct {
	key  connKey
	pkt  Received
	err  error
	when time.Time
}

// runtimeInstance is the driver's side of one instance.
type runtimeInstance struct {
	cfg   NodeInstance
	inst  *Instance
	key   connKey
	conn  PacketConn
	ann   GratuitousAnnouncer
	group string

	recvErrors   map[Reason]uint64
	garpsSent    uint64
	nasSent      uint64
	vipsHeld     bool // vigil wants the VIPs configured
	vipPresent   map[netip.Prefix]bool
	vipsRestored uint64
	announceAt   []time.Time // pending announcement rounds
	refreshAt    time.Time
	lastDelta    int
	lastFault    bool
	retiring     bool // replaced or removed by a reload; stopping
	held         bool // SetHolds holds it
}

type trackState struct {
	kind     string
	name     string
	up       bool
	known    bool
	read     bool // interface state read from the kernel
	failures uint64
}

// Node drives a set of VRRP instances: it owns their sockets, timers,
// addresses and hooks. One goroutine (Run) owns all mutable state; other
// goroutines talk to it through channels.
type Node struct {
	logger   *slog.Logger
	platform Platform
	now      func() time.Time

	cmds chan func()
	rx   chan rxPacket

	// Owned by the Run goroutine.
	cfg        NodeConfig
	instances  []*runtimeInstance
	byName     map[string]*runtimeInstance
	groups     []*Group
	conns      map[connKey]PacketConn
	connCancel map[connKey]context.CancelFunc
	ifErrors   map[string]map[Reason]uint64
	tracks     map[string]*trackState // key kind/name
	stopping   bool
	runCtx     context.Context // lives as long as Run; for readers started on reload
	forced     bool            // the stop deadline passed

	hooks   chan hookCall
	readers sync.WaitGroup
}

type hookCall struct {
	argv    []string
	env     []string
	timeout time.Duration
}

// NewNode returns a node for cfg. Run starts it.
func NewNode(cfg NodeConfig, platform Platform, logger *slog.Logger) *Node {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.NotifyTimeout <= 0 {
		cfg.NotifyTimeout = 10 * time.Second
	}
	return &Node{
		logger:     logger.With("component", "vrrp"),
		platform:   platform,
		now:        time.Now,
		cmds:       make(chan func()),
		rx:         make(chan rxPacket, 256),
		cfg:        cfg,
		byName:     map[string]*runtimeInstance{},
		conns:      map[connKey]PacketConn{},
		connCancel: map[connKey]context.CancelFunc{},
		ifErrors:   map[string]map[Reason]uint64{},
		tracks:     map[string]*trackState{},
		hooks:      make(chan hookCall, 64),
	}
}

// Run runs the node until ctx is cancelled, then stops every instance the
// make-before-break way (a master keeps its addresses until a peer has taken
// over and for a short linger after, bounded by Master_Down_Interval) and
// returns once every address is removed.
func (n *Node) Run(ctx context.Context) error { return n.RunNotify(ctx, nil) }

// RunNotify is Run, calling started (if not nil) once every socket is open
// and every instance has started.
func (n *Node) RunNotify(ctx context.Context, started func()) error {
	runCtx, cancelRun := context.WithCancel(context.Background())
	defer cancelRun()

	var hookWG sync.WaitGroup
	hookWG.Add(1)
	go func() { defer hookWG.Done(); n.runHooks() }()
	defer func() { close(n.hooks); hookWG.Wait() }()

	if err := n.setup(runCtx); err != nil {
		n.teardown()
		return err
	}
	n.startWatchers(runCtx)

	now := n.now()
	for _, ri := range n.instances {
		n.removeVIPs(ri) // a stale address from an earlier run must not answer
		n.applyTracks(ri, now)
		ri.inst.Start(now)
	}
	n.afterInput(now)
	if started != nil {
		started()
	}

	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var hardStop <-chan time.Time
	done := ctx.Done()
	for {
		if n.stopping && (n.forced || n.allStopped()) {
			break
		}
		n.resetTimer(timer)
		select {
		case <-done:
			done = nil
			n.beginStop()
			hardStop = time.After(n.maxStopWait())
		case <-hardStop:
			n.logger.Warn("stop deadline passed; removing addresses")
			n.forceStop()
		case p := <-n.rx:
			n.handlePacket(p)
		case f := <-n.cmds:
			f()
		case <-timer.C:
			n.handleTick(n.now())
		}
	}
	n.teardown()
	cancelRun()
	n.readers.Wait()
	return nil
}

func (n *Node) resetTimer(t *time.Timer) {
	next := n.nextDeadline()
	d := time.Hour
	if !next.IsZero() {
		d = time.Until(next)
		if d < 0 {
			d = 0
		}
	}
	t.Reset(d)
}

func (n *Node) nextDeadline() time.Time {
	var next time.Time
	consider := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, ri := range n.instances {
		consider(ri.inst.NextDeadline())
		if len(ri.announceAt) > 0 {
			consider(ri.announceAt[0])
		}
		consider(ri.refreshAt)
	}
	return next
}

func (n *Node) setup(ctx context.Context) error {
	n.runCtx = ctx
	opened, err := n.openInstances(ctx, n.cfg.Instances)
	if err != nil {
		return err
	}
	for _, ri := range opened {
		n.addInstance(ri)
	}
	if err := n.buildGroups(n.cfg.Groups); err != nil {
		return err
	}
	n.refreshTracks()
	return nil
}

// openInstances does the fallible part of creating instances: it opens the
// sockets and announcers they need (reusing open sockets). On error it
// closes what it opened and returns nothing.
func (n *Node) openInstances(ctx context.Context, ics []NodeInstance) ([]*runtimeInstance, error) {
	var out []*runtimeInstance
	newConns := map[connKey]PacketConn{}
	fail := func(err error) ([]*runtimeInstance, error) {
		for _, ri := range out {
			ri.ann.Close()
		}
		for _, c := range newConns {
			c.Close()
		}
		return nil, err
	}
	for _, ic := range ics {
		ri := &runtimeInstance{
			cfg:        ic,
			recvErrors: map[Reason]uint64{},
			vipPresent: map[netip.Prefix]bool{},
		}
		key := connKey{ifname: ic.Protocol.Interface, ipv6: ic.Protocol.IPv6, source: ic.UnicastSource}
		conn, ok := n.conns[key]
		if !ok {
			conn, ok = newConns[key]
		}
		if !ok {
			multicast := len(ic.UnicastPeers) == 0
			c, err := n.platform.Listen(key.ifname, key.ipv6, key.source, multicast)
			if err != nil {
				return fail(fmt.Errorf("instance %s: opening VRRP socket on %s: %w", ic.Protocol.Name, key.ifname, err))
			}
			conn = c
			newConns[key] = c
		}
		ri.key, ri.conn = key, conn
		if !ic.Protocol.LocalAddr.IsValid() {
			ri.cfg.Protocol.LocalAddr = conn.LocalAddr()
		}
		ann, err := n.platform.NewAnnouncer(ic.Protocol.Interface)
		if err != nil {
			return fail(fmt.Errorf("instance %s: opening announcer on %s: %w", ic.Protocol.Name, ic.Protocol.Interface, err))
		}
		ri.ann = ann
		ri.inst = NewInstance(ri.cfg.Protocol)
		for _, v := range ic.VIPs {
			ri.vipPresent[v.Prefix] = false
		}
		out = append(out, ri)
	}
	for key, c := range newConns {
		n.conns[key] = c
		n.startReader(ctx, key, c)
	}
	return out, nil
}

func (n *Node) addInstance(ri *runtimeInstance) {
	n.instances = append(n.instances, ri)
	n.byName[ri.cfg.Protocol.Name] = ri
}

func (n *Node) buildGroups(groups []NodeGroup) error {
	n.groups = nil
	for _, ri := range n.byName {
		ri.group = ""
	}
	for _, g := range groups {
		var members []*Instance
		for _, m := range g.Members {
			ri, ok := n.byName[m]
			if !ok {
				return fmt.Errorf("sync group %s: unknown instance %q", g.Name, m)
			}
			ri.group = g.Name
			members = append(members, ri.inst)
		}
		n.groups = append(n.groups, NewGroup(g.Name, members))
	}
	return nil
}

// refreshTracks makes the tracked items exactly those the active instances
// reference, reading the state of newly tracked interfaces.
func (n *Node) refreshTracks() {
	used := map[string]bool{}
	for _, ri := range n.byName {
		for _, t := range ri.cfg.TrackInterfaces {
			used["interface/"+t.Name] = true
			n.track("interface", t.Name)
		}
		for _, t := range ri.cfg.TrackScripts {
			used["script/"+t.Name] = true
			n.track("script", t.Name)
		}
	}
	for k, ts := range n.tracks {
		if !used[k] {
			delete(n.tracks, k)
			continue
		}
		if ts.kind == "interface" && !ts.read && n.platform.LinkUp != nil {
			up, err := n.platform.LinkUp(ts.name)
			if err != nil {
				n.logger.Warn("tracked interface not found; treating as down", "interface", ts.name, "err", err)
			}
			ts.up, ts.known, ts.read = up, true, true
		}
	}
}

// Reload applies cfg to the running node. Instances whose configuration is
// unchanged keep running untouched; a change of priority or preempt
// settings is applied in place; hooks, GARP settings and tracking are
// updated in place. Other changed instances, and removed ones, stop the
// make-before-break way (a master hands over to a peer) while their
// replacements start as new instances. Sockets are opened before anything
// changes: on error the running configuration is left as it was. Safe from
// any goroutine.
func (n *Node) Reload(ctx context.Context, cfg NodeConfig) error {
	var err error
	if !n.do(ctx, func() { err = n.reload(cfg) }) {
		return fmt.Errorf("vrrp node not running: %w", ctx.Err())
	}
	return err
}

func (n *Node) reload(cfg NodeConfig) error {
	now := n.now()
	if cfg.NotifyTimeout <= 0 {
		cfg.NotifyTimeout = 10 * time.Second
	}
	type plan struct {
		old *runtimeInstance
		cfg NodeInstance
	}
	var keep, replace []plan
	var fresh []NodeInstance
	seen := map[string]bool{}
	for _, ic := range cfg.Instances {
		name := ic.Protocol.Name
		seen[name] = true
		old, ok := n.byName[name]
		if !ok {
			fresh = append(fresh, ic)
			continue
		}
		if sameEndpoint(old.cfg, ic) && old.inst.Reconfigure(now, withLocal(ic.Protocol, old.cfg.Protocol.LocalAddr)) {
			keep = append(keep, plan{old, ic})
			continue
		}
		replace = append(replace, plan{old, ic})
		fresh = append(fresh, ic)
	}
	opened, err := n.openInstances(n.runCtx, fresh)
	if err != nil {
		return err
	}
	// Nothing below fails.
	n.cfg = cfg
	for _, p := range keep {
		local := p.old.cfg.Protocol.LocalAddr
		p.old.cfg = p.cfg
		p.old.cfg.Protocol = withLocal(p.cfg.Protocol, local)
	}
	retire := func(ri *runtimeInstance, why string) {
		n.logger.Info("reload: stopping instance", "instance", ri.cfg.Protocol.Name, "reason", why)
		delete(n.byName, ri.cfg.Protocol.Name)
		ri.retiring = true
		ri.inst.Shutdown(now)
	}
	for _, p := range replace {
		retire(p.old, "configuration changed")
	}
	for name, ri := range n.byName {
		if !seen[name] {
			retire(ri, "removed from configuration")
		}
	}
	for _, ri := range opened {
		n.addInstance(ri)
	}
	n.buildGroups(cfg.Groups) // validated by config; members all exist
	n.refreshTracks()
	for _, ri := range n.instances {
		if ri.retiring {
			continue
		}
		if ri.inst.State() == StateInit {
			n.removeVIPs(ri)
			n.applyTracks(ri, now)
			ri.inst.Start(now)
		} else {
			n.applyTracks(ri, now)
		}
	}
	n.afterInput(now)
	n.logger.Info("reload applied", "kept", len(keep), "replaced", len(replace), "started", len(opened))
	return nil
}

// sameEndpoint reports whether two instance configurations use the same
// socket and addresses, so the running instance can be kept.
func sameEndpoint(a, b NodeInstance) bool {
	return a.Protocol.Interface == b.Protocol.Interface && a.UnicastSource == b.UnicastSource &&
		slices.Equal(a.UnicastPeers, b.UnicastPeers) && slices.Equal(a.VIPs, b.VIPs)
}

func withLocal(pc InstanceConfig, local netip.Addr) InstanceConfig {
	if !pc.LocalAddr.IsValid() {
		pc.LocalAddr = local
	}
	return pc
}

// reapRetired drops retired instances once they have stopped, and closes
// the sockets no instance uses any more.
func (n *Node) reapRetired() {
	kept := n.instances[:0]
	for _, ri := range n.instances {
		if ri.retiring && ri.inst.Stopped() {
			if ri.vipsHeld {
				n.removeVIPs(ri)
			}
			ri.ann.Close()
			continue
		}
		kept = append(kept, ri)
	}
	n.instances = kept
	for key, c := range n.conns {
		used := false
		for _, ri := range n.instances {
			used = used || ri.key == key
		}
		if !used {
			c.Close()
			delete(n.conns, key)
		}
	}
}

func (n *Node) track(kind, name string) *trackState {
	k := kind + "/" + name
	ts, ok := n.tracks[k]
	if !ok {
		// Scripts start healthy until fall results say otherwise, as
		// keepalived's scripts do without init_fail; interfaces are read
		// from the kernel in setup.
		ts = &trackState{kind: kind, name: name, up: kind == "script", known: kind == "script"}
		n.tracks[k] = ts
	}
	return ts
}

func (n *Node) startReader(ctx context.Context, key connKey, c PacketConn) {
	n.readers.Add(1)
	go func() {
		defer n.readers.Done()
		buf := make([]byte, 65536)
		for {
			pkt, err := c.Read(buf)
			if err != nil {
				if errors.Is(err, net.ErrClosed) || ctx.Err() != nil {
					return
				}
				var pe *ParseError
				if !errors.As(err, &pe) {
					n.logger.Warn("reading VRRP socket", "interface", key.ifname, "err", err)
					select {
					case <-ctx.Done():
						return
					case <-time.After(100 * time.Millisecond):
					}
					continue
				}
			}
			pkt.Payload = slices.Clone(pkt.Payload)
			select {
			case n.rx <- rxPacket{key: key, pkt: pkt, err: err, when: time.Now()}:
			case <-ctx.Done():
				return
			}
		}
	}()
}

func (n *Node) startWatchers(ctx context.Context) {
	if n.platform.WatchLinks != nil { // always: a reload may add tracked interfaces
		n.readers.Add(1)
		go func() {
			defer n.readers.Done()
			err := n.platform.WatchLinks(ctx, func(name string, up bool) {
				n.do(ctx, func() { n.SetTrack("interface", name, up) })
			})
			if err != nil && ctx.Err() == nil {
				n.logger.Error("watching links failed; tracked interfaces are no longer followed", "err", err)
			}
		}()
	}
	if n.platform.WatchAddrs != nil {
		n.readers.Add(1)
		go func() {
			defer n.readers.Done()
			err := n.platform.WatchAddrs(ctx, func(dev string, p netip.Prefix) {
				n.do(ctx, func() { n.handleAddrRemoved(dev, p) })
			})
			if err != nil && ctx.Err() == nil {
				n.logger.Error("watching addresses failed; removed VIPs will not be restored", "err", err)
			}
		}()
	}
}

// do runs f on the Run goroutine, or drops it when ctx ends first.
func (n *Node) do(ctx context.Context, f func()) bool {
	done := make(chan struct{})
	select {
	case n.cmds <- func() { f(); close(done) }:
	case <-ctx.Done():
		return false
	}
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}

// Snapshot returns the node's state. It is safe to call from any goroutine;
// ok is false if the node is not running.
func (n *Node) Snapshot(ctx context.Context) (snap NodeSnapshot, ok bool) {
	ok = n.do(ctx, func() { snap = n.snapshot() })
	return snap, ok
}

// ScriptUp reports a tracked script's current status (true for a script
// that has not reported yet). Safe from any goroutine.
func (n *Node) ScriptUp(ctx context.Context, name string) bool {
	up := true
	n.do(ctx, func() {
		if ts, ok := n.tracks["script/"+name]; ok {
			up = ts.up
		}
	})
	return up
}

// UpdateScript records a tracked script's result. Safe from any goroutine.
func (n *Node) UpdateScript(ctx context.Context, name string, up bool) {
	n.do(ctx, func() { n.SetTrack("script", name, up) })
}

// ResignInstance hands mastership of an instance to a peer, make-before-
// break, and holds off preemption for hold. Safe from any goroutine.
func (n *Node) ResignInstance(ctx context.Context, name string, hold time.Duration) error {
	var err error
	if !n.do(ctx, func() {
		ri, ok := n.byName[name]
		if !ok {
			err = fmt.Errorf("unknown vrrp instance %q", name)
			return
		}
		now := n.now()
		ri.inst.Resign(now, hold)
		n.afterInput(now)
	}) {
		return ctx.Err()
	}
	return err
}

// SetHolds replaces the set of held instances (Instance.Hold): newly held
// ones hand over if master and stop preempting, released ones preempt
// again. Unknown names are an error and change nothing. Safe from any
// goroutine.
func (n *Node) SetHolds(ctx context.Context, names []string) error {
	var err error
	if !n.do(ctx, func() {
		want := map[string]bool{}
		for _, name := range names {
			if _, ok := n.byName[name]; !ok {
				err = fmt.Errorf("unknown vrrp instance %q", name)
				return
			}
			want[name] = true
		}
		now := n.now()
		for name, ri := range n.byName {
			switch {
			case want[name] && !ri.held:
				n.logger.Info("holding instance: no mastership while a peer can have it", "instance", name)
				ri.inst.Hold(now)
			case !want[name] && ri.held:
				n.logger.Info("releasing hold", "instance", name)
				ri.inst.ReleaseHold(now)
			}
			ri.held = want[name]
		}
		n.afterInput(now)
	}) {
		return fmt.Errorf("vrrp node not running: %w", ctx.Err())
	}
	return err
}

// InstanceNames lists the running instances. Safe from any goroutine.
func (n *Node) InstanceNames(ctx context.Context) []string {
	var names []string
	n.do(ctx, func() {
		for name := range n.byName {
			names = append(names, name)
		}
	})
	sort.Strings(names)
	return names
}

// SetTrack records a tracked item's status and re-evaluates the instances
// that track it. Only call it on the Run goroutine (UpdateScript and the
// link watcher do).
func (n *Node) SetTrack(kind, name string, up bool) {
	ts, ok := n.tracks[kind+"/"+name]
	if !ok {
		return
	}
	if ts.known && ts.up && !up {
		ts.failures++
	}
	changed := !ts.known || ts.up != up
	ts.up, ts.known = up, true
	if !changed {
		return
	}
	n.logger.Info("tracked "+kind+" changed", "name", name, "up", up)
	now := n.now()
	for _, ri := range n.instances {
		n.applyTracks(ri, now)
	}
	n.afterInput(now)
}

// applyTracks recomputes an instance's priority delta and fault from its
// tracked items (keepalived semantics).
func (n *Node) applyTracks(ri *runtimeInstance, now time.Time) {
	delta, fault, why := 0, false, ""
	eval := func(kind string, refs []TrackRef) {
		for _, r := range refs {
			ts := n.tracks[kind+"/"+r.Name]
			up := ts != nil && ts.known && ts.up
			switch {
			case r.Weight == 0 && !up:
				fault, why = true, fmt.Sprintf("tracked %s %s down", kind, r.Name)
			case r.Weight < 0 && !up:
				delta += r.Weight
			case r.Weight > 0 && up:
				delta += r.Weight
			}
		}
	}
	eval("interface", ri.cfg.TrackInterfaces)
	eval("script", ri.cfg.TrackScripts)
	if delta != ri.lastDelta {
		ri.lastDelta = delta
		ri.inst.SetPriorityDelta(now, delta)
	}
	if fault != ri.lastFault {
		ri.lastFault = fault
		if !fault {
			why = "tracked items recovered"
		}
		ri.inst.SetFault(now, fault, why)
	}
}

func (n *Node) handlePacket(p rxPacket) {
	if p.err != nil {
		var pe *ParseError
		errors.As(p.err, &pe)
		n.countIfError(p.key.ifname, pe.Reason)
		return
	}
	pkt := p.pkt
	// RFC 3768 7.1 / RFC 5798 7.1: the TTL / hop limit must be 255.
	if pkt.HopLimit != 255 {
		n.attributeError(p.key, pkt.Payload, ReasonTTL)
		return
	}
	adv, err := ParseAdvert(pkt.Payload, pkt.Src, pkt.Dst)
	if err != nil {
		var pe *ParseError
		reason := ReasonLength
		if errors.As(err, &pe) {
			reason = pe.Reason
		}
		n.attributeError(p.key, pkt.Payload, reason)
		return
	}
	now := n.now()
	matched := false
	for _, ri := range n.instances {
		if ri.key != p.key || ri.cfg.Protocol.VRID != adv.VRID {
			continue
		}
		// A retiring instance and its replacement share the VRID
		// during a reload; both must hear the peer.
		matched = true
		if reason := ri.inst.Receive(now, pkt.Src, adv); reason != "" {
			ri.recvErrors[reason]++
		}
	}
	if !matched {
		n.countIfError(p.key.ifname, ReasonVRID)
		return
	}
	n.afterInput(now)
}

// attributeError counts a receive error against the instance the packet's
// VRID names, if any, else against the interface.
func (n *Node) attributeError(key connKey, payload []byte, reason Reason) {
	if len(payload) >= 2 {
		for _, ri := range n.instances {
			if ri.key == key && ri.cfg.Protocol.VRID == payload[1] {
				ri.recvErrors[reason]++
				return
			}
		}
	}
	n.countIfError(key.ifname, reason)
}

func (n *Node) countIfError(ifname string, r Reason) {
	m := n.ifErrors[ifname]
	if m == nil {
		m = map[Reason]uint64{}
		n.ifErrors[ifname] = m
	}
	m[r]++
}

func (n *Node) handleTick(now time.Time) {
	for _, ri := range n.instances {
		ri.inst.Tick(now)
		n.runAnnouncements(ri, now)
	}
	n.afterInput(now)
}

// afterInput synchronises groups and executes every pending output.
func (n *Node) afterInput(now time.Time) {
	for range 4 { // group sync can cause further outputs; bounded
		for _, g := range n.groups {
			g.Sync(now)
		}
		any := false
		for _, ri := range n.instances {
			outs := ri.inst.TakeOutputs()
			if len(outs) > 0 {
				any = true
			}
			for _, o := range outs {
				n.execute(ri, o, now)
			}
		}
		if !any {
			break
		}
	}
	for _, ri := range n.instances {
		if ri.retiring && ri.inst.Stopped() {
			n.reapRetired()
			break
		}
	}
}

func (n *Node) execute(ri *runtimeInstance, o Output, now time.Time) {
	name := ri.cfg.Protocol.Name
	switch o := o.(type) {
	case SendAdvert:
		n.sendAdvert(ri, o.Priority)
	case AddVIPs:
		ri.vipsHeld = true
		for _, v := range ri.cfg.VIPs {
			if err := n.platform.Addrs.Add(v); err != nil {
				n.logger.Error("adding virtual address", "instance", name, "address", v.Prefix, "err", err)
				continue
			}
			ri.vipPresent[v.Prefix] = true
		}
	case RemoveVIPs:
		ri.vipsHeld = false
		n.removeVIPs(ri)
		ri.announceAt, ri.refreshAt = nil, time.Time{}
	case Announce:
		n.scheduleAnnouncements(ri, now)
		n.runAnnouncements(ri, now)
	case AnnounceLowerPrio:
		if ri.cfg.GARPLowerPrioRepeat <= 0 {
			n.logger.Debug("lower priority master heard; garp_lower_prio_repeat is 0, not announcing", "instance", name, "reason", o.Reason)
			break
		}
		n.logger.Info("another router was master too; announcing the addresses again", "instance", name, "reason", o.Reason)
		n.scheduleLowerPrioAnnouncements(ri, now)
		n.runAnnouncements(ri, now)
	case Transition:
		n.logger.Info("state transition", "instance", name, "from", o.From.String(), "to", o.To.String(), "reason", o.Reason)
		if argv := ri.cfg.Notify[o.To]; len(argv) > 0 {
			n.queueHook(argv, []string{
				"VIGIL_INSTANCE=" + name,
				"VIGIL_STATE=" + o.To.String(),
				"VIGIL_FROM_STATE=" + o.From.String(),
				fmt.Sprintf("VIGIL_PRIORITY=%d", ri.inst.Snapshot().EffectivePriority),
			})
		}
	}
}

func (n *Node) removeVIPs(ri *runtimeInstance) {
	for _, v := range ri.cfg.VIPs {
		if n.heldByOther(ri, v.Prefix) {
			// A reload's replacement instance holds it now.
			ri.vipPresent[v.Prefix] = false
			continue
		}
		if err := n.platform.Addrs.Remove(v); err != nil {
			n.logger.Error("removing virtual address", "instance", ri.cfg.Protocol.Name, "address", v.Prefix, "err", err)
			continue
		}
		ri.vipPresent[v.Prefix] = false
	}
}

func (n *Node) heldByOther(ri *runtimeInstance, p netip.Prefix) bool {
	for _, o := range n.instances {
		if o != ri && o.vipsHeld && o.vipPresent[p] {
			return true
		}
	}
	return false
}

func (n *Node) sendAdvert(ri *runtimeInstance, prio uint8) {
	pc := ri.cfg.Protocol
	adv := &Advert{
		Version:  pc.Version,
		Type:     TypeAdvertisement,
		VRID:     pc.VRID,
		Priority: prio,
		Interval: pc.AdvertInterval,
		Addrs:    pc.VIPs,
	}
	if pc.Version == 2 && pc.AuthPass != "" {
		adv.AuthType = AuthSimple
		copy(adv.AuthData[:], pc.AuthPass)
	}
	dsts := ri.cfg.UnicastPeers
	if len(dsts) == 0 {
		dsts = []netip.Addr{MulticastGroupV4}
		if pc.IPv6 {
			dsts = []netip.Addr{MulticastGroupV6}
		}
	}
	for _, dst := range dsts {
		b, err := adv.Marshal(pc.LocalAddr, dst)
		if err != nil {
			n.logger.Error("encoding advert", "instance", pc.Name, "err", err)
			return
		}
		if err := ri.conn.Write(b, dst); err != nil {
			n.logger.Debug("sending advert", "instance", pc.Name, "dst", dst, "err", err)
		}
	}
}

// scheduleAnnouncements plans a burst now, a second burst after GARPDelay,
// and periodic refreshes (keepalived's garp_master_* settings).
func (n *Node) scheduleAnnouncements(ri *runtimeInstance, now time.Time) {
	c := ri.cfg
	repeat := max(c.GARPRepeat, 1)
	var at []time.Time
	burst := func(start time.Time) {
		for k := range repeat {
			at = append(at, start.Add(time.Duration(k)*c.GARPInterval))
		}
	}
	burst(now)
	if c.GARPDelay > 0 {
		burst(now.Add(c.GARPDelay))
	}
	sort.Slice(at, func(a, b int) bool { return at[a].Before(at[b]) })
	ri.announceAt = at
	if c.GARPRefresh > 0 {
		ri.refreshAt = now.Add(c.GARPRefresh)
	}
}

// scheduleLowerPrioAnnouncements adds a burst now and a second one after
// GARPLowerPrioDelay to the pending announcements (keepalived's
// garp_lower_prio_* settings), keeping those already planned.
func (n *Node) scheduleLowerPrioAnnouncements(ri *runtimeInstance, now time.Time) {
	c := ri.cfg
	at := ri.announceAt
	burst := func(start time.Time) {
		for k := range c.GARPLowerPrioRepeat {
			at = append(at, start.Add(time.Duration(k)*c.GARPInterval))
		}
	}
	burst(now)
	if c.GARPLowerPrioDelay > 0 {
		burst(now.Add(c.GARPLowerPrioDelay))
	}
	slices.SortStableFunc(at, func(a, b time.Time) int { return a.Compare(b) })
	ri.announceAt = at
}

// runAnnouncements sends the announcements that are due. Only a Master
// announces: an instance that keeps its addresses for a moment after a
// handover or preemption must not pull the clients back from the new
// Master.
func (n *Node) runAnnouncements(ri *runtimeInstance, now time.Time) {
	if !ri.vipsHeld || ri.inst.State() != StateMaster {
		ri.announceAt, ri.refreshAt = nil, time.Time{}
		return
	}
	for len(ri.announceAt) > 0 && !ri.announceAt[0].After(now) {
		ri.announceAt = ri.announceAt[1:]
		n.announceOnce(ri)
	}
	if !ri.refreshAt.IsZero() && !ri.refreshAt.After(now) {
		n.announceOnce(ri)
		ri.refreshAt = now.Add(ri.cfg.GARPRefresh)
	}
}

func (n *Node) announceOnce(ri *runtimeInstance) {
	for _, v := range ri.cfg.VIPs {
		n.announceAddr(ri, v.Prefix.Addr())
	}
}

func (n *Node) announceAddr(ri *runtimeInstance, a netip.Addr) {
	var err error
	if a.Is4() {
		if err = ri.ann.GARP(a); err == nil {
			ri.garpsSent++
		}
	} else {
		if err = ri.ann.UnsolicitedNA(a); err == nil {
			ri.nasSent++
		}
	}
	if err != nil {
		n.logger.Debug("announcing address", "instance", ri.cfg.Protocol.Name, "address", a, "err", err)
	}
}

// handleAddrRemoved restores a VIP removed behind vigil's back while the
// instance is Master, and announces it again. One removed while the
// instance keeps its addresses after a handover or preemption is left
// removed.
func (n *Node) handleAddrRemoved(dev string, p netip.Prefix) {
	for _, ri := range n.instances {
		for _, v := range ri.cfg.VIPs {
			if v.Prefix.Addr() != p.Addr() || v.Dev != dev {
				continue
			}
			if !ri.vipsHeld || ri.inst.State() != StateMaster {
				ri.vipPresent[v.Prefix] = false
				continue
			}
			n.logger.Warn("virtual address removed behind vigil's back; restoring", "instance", ri.cfg.Protocol.Name, "address", v.Prefix, "dev", dev)
			ri.vipPresent[v.Prefix] = false
			if err := n.platform.Addrs.Add(v); err != nil {
				n.logger.Error("restoring virtual address", "address", v.Prefix, "err", err)
				continue
			}
			ri.vipPresent[v.Prefix] = true
			ri.vipsRestored++
			n.announceAddr(ri, v.Prefix.Addr())
		}
	}
}

func (n *Node) beginStop() {
	n.stopping = true
	now := n.now()
	for _, ri := range n.instances {
		ri.inst.Shutdown(now)
	}
	n.afterInput(now)
}

func (n *Node) maxStopWait() time.Duration {
	var d time.Duration
	for _, ri := range n.instances {
		pc := ri.cfg.Protocol
		d = max(d, MasterDownInterval(pc.Version, pc.Priority, pc.AdvertInterval))
	}
	return d + time.Second
}

func (n *Node) allStopped() bool {
	for _, ri := range n.instances {
		if !ri.inst.Stopped() {
			return false
		}
	}
	return true
}

func (n *Node) forceStop() {
	for _, ri := range n.instances {
		n.removeVIPs(ri)
		ri.vipsHeld = false
	}
	n.forced = true
}

func (n *Node) teardown() {
	for _, ri := range n.instances {
		if ri.vipsHeld {
			n.removeVIPs(ri)
		}
		if ri.ann != nil {
			ri.ann.Close()
		}
	}
	for _, c := range n.conns {
		c.Close()
	}
}

func (n *Node) snapshot() NodeSnapshot {
	var s NodeSnapshot
	for _, ri := range n.instances {
		if ri.retiring {
			continue
		}
		is := ri.inst.Snapshot()
		is.RecvErrors = map[Reason]uint64{}
		for k, v := range ri.recvErrors {
			is.RecvErrors[k] = v
		}
		is.GARPsSent, is.NAsSent = ri.garpsSent, ri.nasSent
		is.VIPsPresent = map[netip.Prefix]bool{}
		for k, v := range ri.vipPresent {
			is.VIPsPresent[k] = v
		}
		is.VIPsRestored = ri.vipsRestored
		is.SyncGroup = ri.group
		s.Instances = append(s.Instances, is)
	}
	ifnames := make([]string, 0, len(n.ifErrors))
	for name := range n.ifErrors {
		ifnames = append(ifnames, name)
	}
	for _, ri := range n.instances {
		if _, ok := n.ifErrors[ri.key.ifname]; !ok && !slices.Contains(ifnames, ri.key.ifname) {
			ifnames = append(ifnames, ri.key.ifname)
		}
	}
	sort.Strings(ifnames)
	for _, name := range ifnames {
		m := map[Reason]uint64{}
		for k, v := range n.ifErrors[name] {
			m[k] = v
		}
		s.Interfaces = append(s.Interfaces, InterfaceSnapshot{Name: name, RecvErrors: m})
	}
	keys := make([]string, 0, len(n.tracks))
	for k := range n.tracks {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		t := n.tracks[k]
		s.Tracks = append(s.Tracks, TrackSnapshot{Kind: t.kind, Name: t.name, Up: t.known && t.up, Failures: t.failures})
	}
	return s
}

func (n *Node) queueHook(argv, env []string) {
	select {
	case n.hooks <- hookCall{argv: argv, env: env, timeout: n.cfg.NotifyTimeout}:
	default:
		n.logger.Error("notify queue full; hook dropped", "argv", argv)
	}
}

// runHooks runs notify hooks one at a time, in order, each bounded by the
// notify timeout.
func (n *Node) runHooks() {
	for h := range n.hooks {
		if n.platform.RunHook == nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), h.timeout)
		err := n.platform.RunHook(ctx, h.argv, h.env)
		cancel()
		if err != nil {
			n.logger.Error("notify hook failed", "argv", h.argv, "err", err)
		}
	}
}
