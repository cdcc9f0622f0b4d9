package vrrp

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// An in-memory network of VRRP routers driven by a discrete-event loop, in
// the spirit of hashicorp/memberlist's mock transport: the clock is virtual,
// adverts are delivered after a configurable latency to every other node
// running the same VRID, and links can drop packets (seeded, so runs are
// reproducible) or be cut by a partition. The loop plays the driver's part:
// it ticks instances at their NextDeadline, syncs groups after every input
// and executes the outputs.

type simNet struct {
	t        *testing.T
	now      time.Time
	latency  time.Duration
	rng      *rand.Rand
	nodes    []*simNode
	drop     map[[2]int]float64 // {from, to} -> probability of loss
	cut      map[[2]int]bool    // {from, to} -> partitioned
	inflight []simPacket
	seq      uint64
	trans    []simTransition
	// heard[to][from] is when node to last accepted an advert from node from.
	heard map[[2]int]time.Time
	// announces lists every Announce and AnnounceLowerPrio, in order.
	announces []simAnnounce
	// check, if set, runs after every executed output and every input;
	// settled, if set, only once an input and all its outputs are done.
	check   func()
	settled func()
}

type simNode struct {
	id      int
	name    string
	addr    netip.Addr
	insts   []*Instance
	groups  []*Group
	crashed bool
	holds   map[uint8]bool // VRID -> the node has the VIPs configured
}

type simPacket struct {
	at       time.Time
	seq      uint64
	from, to int
	advert   Advert
}

type simTransition struct {
	at       time.Time
	node     string
	inst     string
	from, to State
	reason   string
}

// simAnnounce is an announcement of the VIPs of vrid by node.
type simAnnounce struct {
	at        time.Time
	node      string
	vrid      uint8
	lowerPrio bool // AnnounceLowerPrio, not Announce
}

// announcer returns the node that announced the VIPs of vrid last, where
// the clients send their traffic, and when; "" if none did.
func (s *simNet) announcer(vrid uint8) (string, time.Time) {
	for k := len(s.announces) - 1; k >= 0; k-- {
		if a := s.announces[k]; a.vrid == vrid {
			return a.node, a.at
		}
	}
	return "", time.Time{}
}

// lowerPrioAnnounces returns node's AnnounceLowerPrio times for vrid.
func (s *simNet) lowerPrioAnnounces(node string, vrid uint8) []time.Time {
	var out []time.Time
	for _, a := range s.announces {
		if a.node == node && a.vrid == vrid && a.lowerPrio {
			out = append(out, a.at)
		}
	}
	return out
}

func (tr simTransition) String() string {
	return fmt.Sprintf("%v %s/%s %v->%v (%s)", tr.at.Sub(smT0), tr.node, tr.inst, tr.from, tr.to, tr.reason)
}

func newSimNet(t *testing.T, latency time.Duration, seed uint64) *simNet {
	return &simNet{
		t:       t,
		now:     smT0,
		latency: latency,
		rng:     rand.New(rand.NewPCG(seed, seed^0x5eed)),
		drop:    map[[2]int]float64{},
		cut:     map[[2]int]bool{},
		heard:   map[[2]int]time.Time{},
	}
}

// addNode adds a router with primary address addr running cfgs (their
// LocalAddr is set to addr).
func (s *simNet) addNode(name, addr string, cfgs ...InstanceConfig) *simNode {
	n := &simNode{id: len(s.nodes), name: name, addr: netip.MustParseAddr(addr), holds: map[uint8]bool{}}
	for _, c := range cfgs {
		c.LocalAddr = n.addr
		n.insts = append(n.insts, NewInstance(c))
	}
	s.nodes = append(s.nodes, n)
	return n
}

func (n *simNode) inst(name string) *Instance {
	for _, i := range n.insts {
		if i.Config().Name == name {
			return i
		}
	}
	panic("no instance " + name + " on " + n.name)
}

func (n *simNode) addGroup(name string, members ...string) {
	var ms []*Instance
	for _, m := range members {
		ms = append(ms, n.inst(m))
	}
	n.groups = append(n.groups, NewGroup(name, ms))
}

// input runs one input on node n at the current time, then syncs its groups
// and executes every output, as the driver does.
func (s *simNet) input(n *simNode, fn func(now time.Time)) {
	if n.crashed {
		return
	}
	fn(s.now)
	for {
		for _, g := range n.groups {
			g.Sync(s.now)
		}
		any := false
		for _, i := range n.insts {
			for _, o := range i.TakeOutputs() {
				any = true
				s.execute(n, i, o)
			}
		}
		if !any {
			break
		}
	}
	if s.check != nil {
		s.check()
	}
	if s.settled != nil {
		s.settled()
	}
}

func (s *simNet) execute(n *simNode, i *Instance, o Output) {
	cfg := i.Config()
	switch o := o.(type) {
	case SendAdvert:
		a := Advert{Version: cfg.Version, Type: TypeAdvertisement, VRID: cfg.VRID, Priority: o.Priority,
			Interval: cfg.AdvertInterval, Addrs: slices.Clone(cfg.VIPs)}
		if cfg.Version == 2 && cfg.AuthPass != "" {
			a.AuthType = AuthSimple
			copy(a.AuthData[:], cfg.AuthPass)
		}
		for _, m := range s.nodes {
			if m == n || s.cut[[2]int{n.id, m.id}] {
				continue
			}
			if p := s.drop[[2]int{n.id, m.id}]; p > 0 && s.rng.Float64() < p {
				continue
			}
			s.seq++
			s.inflight = append(s.inflight, simPacket{at: s.now.Add(s.latency), seq: s.seq, from: n.id, to: m.id, advert: a})
		}
	case AddVIPs:
		n.holds[cfg.VRID] = true
	case RemoveVIPs:
		n.holds[cfg.VRID] = false
	case Announce:
		s.announces = append(s.announces, simAnnounce{s.now, n.name, cfg.VRID, false})
	case AnnounceLowerPrio:
		s.announces = append(s.announces, simAnnounce{s.now, n.name, cfg.VRID, true})
	case Transition:
		s.trans = append(s.trans, simTransition{o.At, n.name, cfg.Name, o.From, o.To, o.Reason})
	default:
		s.t.Fatalf("unknown output %T", o)
	}
	if s.check != nil {
		s.check()
	}
}

// deliver hands a packet to every instance of the destination with the
// packet's VRID. A healthy simulation never produces a packet the receiver
// drops.
func (s *simNet) deliver(p simPacket) {
	n := s.nodes[p.to]
	src := s.nodes[p.from].addr
	for _, i := range n.insts {
		if i.Config().VRID != p.advert.VRID {
			continue
		}
		s.input(n, func(now time.Time) {
			a := p.advert
			if r := i.Receive(now, src, &a); r != "" {
				s.t.Fatalf("%v: %s dropped advert from %s: %s", now.Sub(smT0), n.name, src, r)
			}
			s.heard[[2]int{p.to, p.from}] = now
		})
	}
}

// nextEvent returns the earliest pending delivery or timer, or zero.
func (s *simNet) nextEvent() time.Time {
	var next time.Time
	consider := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, p := range s.inflight {
		consider(p.at)
	}
	for _, n := range s.nodes {
		if n.crashed {
			continue
		}
		for _, i := range n.insts {
			consider(i.NextDeadline())
		}
	}
	return next
}

// runUntil processes every event up to and including end, then sets the
// clock to end.
func (s *simNet) runUntil(end time.Time) {
	for {
		next := s.nextEvent()
		if next.IsZero() || next.After(end) {
			s.now = end
			return
		}
		s.now = next
		// Deliveries due now, in the order they were sent.
		sort.Slice(s.inflight, func(a, b int) bool {
			if !s.inflight[a].at.Equal(s.inflight[b].at) {
				return s.inflight[a].at.Before(s.inflight[b].at)
			}
			return s.inflight[a].seq < s.inflight[b].seq
		})
		for len(s.inflight) > 0 && !s.inflight[0].at.After(s.now) {
			p := s.inflight[0]
			s.inflight = s.inflight[1:]
			if !s.nodes[p.to].crashed {
				s.deliver(p)
			}
		}
		// As the driver's handleTick: every instance of a node is ticked in
		// one input, then its groups are synced. (Ticked one by one, two
		// members of a group whose addresses linger until the same
		// deadline would disagree between the two Ticks.)
		for _, n := range s.nodes {
			due := false
			for _, i := range n.insts {
				if d := i.NextDeadline(); !d.IsZero() && !d.After(s.now) {
					due = true
				}
			}
			if due {
				s.input(n, func(now time.Time) {
					for _, i := range n.insts {
						i.Tick(now)
					}
				})
			}
		}
	}
}

func (s *simNet) runFor(d time.Duration) { s.runUntil(s.now.Add(d)) }

func (s *simNet) startAll() {
	for _, n := range s.nodes {
		for _, i := range n.insts {
			s.input(n, func(now time.Time) { i.Start(now) })
		}
	}
}

// masters lists the live nodes whose instance name is Master.
func (s *simNet) masters(name string) []string {
	var out []string
	for _, n := range s.nodes {
		if !n.crashed && n.inst(name).State() == StateMaster {
			out = append(out, n.name)
		}
	}
	return out
}

// holders lists the live nodes that have the VIPs of vrid configured.
func (s *simNet) holders(vrid uint8) []string {
	var out []string
	for _, n := range s.nodes {
		if !n.crashed && n.holds[vrid] {
			out = append(out, n.name)
		}
	}
	return out
}

func (s *simNet) expectMasters(name string, want ...string) {
	s.t.Helper()
	if got := s.masters(name); !slices.Equal(got, want) {
		s.t.Fatalf("%v: masters of %s = %v, want %v\ntransitions:\n%s", s.now.Sub(smT0), name, got, want, s.transitionLog())
	}
	vrid := s.nodes[0].inst(name).Config().VRID
	if got := s.holders(vrid); !slices.Equal(got, want) {
		s.t.Fatalf("%v: VIP holders of %s = %v, want %v", s.now.Sub(smT0), name, got, want)
	}
}

func (s *simNet) transitionLog() string {
	var b strings.Builder
	for _, tr := range s.trans {
		fmt.Fprintln(&b, "  "+tr.String())
	}
	return b.String()
}

// transitionsTo returns the transitions of node/inst into state.
func (s *simNet) transitionsTo(node, inst string, to State) []simTransition {
	var out []simTransition
	for _, tr := range s.trans {
		if tr.node == node && tr.inst == inst && tr.to == to {
			out = append(out, tr)
		}
	}
	return out
}

// simThree is three routers with priorities 100, 150, 200 for VI_1.
func simThree(t *testing.T, cfg InstanceConfig, seed uint64) (*simNet, *simNode, *simNode, *simNode) {
	s := newSimNet(t, time.Millisecond, seed)
	c1, c2, c3 := cfg, cfg, cfg
	c1.Priority, c2.Priority, c3.Priority = 100, 150, 200
	return s, s.addNode("r1", "10.0.0.1", c1), s.addNode("r2", "10.0.0.2", c2), s.addNode("r3", "10.0.0.3", c3)
}

func simV3Config() InstanceConfig {
	c := smConfig(100, "10.0.0.1")
	c.Version, c.AdvertInterval = 3, 100*time.Millisecond
	return c
}

func TestSimElectsHighestPriority(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  InstanceConfig
	}{
		{"v2", smConfig(100, "10.0.0.1")},
		{"v3", simV3Config()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _, _, _ := simThree(t, tc.cfg, 1)
			s.startAll()
			s.runFor(100 * tc.cfg.AdvertInterval)
			s.expectMasters("VI_1", "r3")
			up := s.transitionsTo("r3", "VI_1", StateMaster)
			want := smT0.Add(MasterDownInterval(tc.cfg.Version, 200, tc.cfg.AdvertInterval))
			if len(up) != 1 || !up[0].at.Equal(want) {
				t.Fatalf("r3 became master %v, want once at %v\n%s", up, want.Sub(smT0), s.transitionLog())
			}
			for _, r := range []string{"r1", "r2"} {
				if got := s.transitionsTo(r, "VI_1", StateMaster); len(got) != 0 {
					t.Fatalf("%s became master: %v", r, got)
				}
			}
			if len(s.trans) != 4 { // three init->backup, one backup->master
				t.Fatalf("transitions:\n%s", s.transitionLog())
			}
		})
	}
}

func TestSimMasterCrash(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  InstanceConfig
	}{
		{"v2", smConfig(100, "10.0.0.1")},
		{"v3", simV3Config()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, r1, r2, r3 := simThree(t, tc.cfg, 1)
			s.startAll()
			s.runFor(20*tc.cfg.AdvertInterval + tc.cfg.AdvertInterval/2)
			s.expectMasters("VI_1", "r3")

			crash := s.now
			r3.crashed = true
			lastHeard := s.heard[[2]int{r2.id, r3.id}]
			s.runFor(10 * tc.cfg.AdvertInterval)
			s.expectMasters("VI_1", "r2")

			// r2 takes over exactly Master_Down_Interval (its own, with the
			// skew of priority 150) after the last advert it heard, which is
			// within one MDI of the crash.
			mdi := MasterDownInterval(tc.cfg.Version, 150, tc.cfg.AdvertInterval)
			up := s.transitionsTo("r2", "VI_1", StateMaster)
			if len(up) != 1 || !up[0].at.Equal(lastHeard.Add(mdi)) {
				t.Fatalf("r2 master at %v, want once at %v\n%s", up, lastHeard.Add(mdi).Sub(smT0), s.transitionLog())
			}
			if d := up[0].at.Sub(crash); d <= 0 || d > mdi {
				t.Fatalf("takeover %v after the crash, want within (0, %v]", d, mdi)
			}
			if got := s.transitionsTo("r1", "VI_1", StateMaster); len(got) != 0 {
				t.Fatalf("r1 became master: %v", got)
			}
			if r1.inst("VI_1").Snapshot().MasterAddr != r2.addr {
				t.Fatalf("r1 sees master %v", r1.inst("VI_1").Snapshot().MasterAddr)
			}
		})
	}
}

func TestSimPartitionAndHeal(t *testing.T) {
	s, r1, r2, r3 := simThree(t, smConfig(100, "10.0.0.1"), 1)
	s.startAll()
	s.runFor(10 * time.Second)
	s.expectMasters("VI_1", "r3")

	// Cut r3 off from the others: both sides elect a master.
	for _, n := range []*simNode{r1, r2} {
		s.cut[[2]int{n.id, r3.id}] = true
		s.cut[[2]int{r3.id, n.id}] = true
	}
	s.runFor(10 * time.Second)
	s.expectMasters("VI_1", "r2", "r3")

	// Heal: r2 yields to r3's first advert it hears, and keeps the VIPs
	// for the linger after it, as a preempted Master does.
	clear(s.cut)
	heal := s.now
	var r2Released time.Time
	s.check = func() {
		if !r2.holds[51] && r2Released.IsZero() {
			r2Released = s.now
		}
	}
	s.runFor(5 * time.Second)
	s.expectMasters("VI_1", "r3")
	down := s.transitionsTo("r2", "VI_1", StateBackup)
	last := down[len(down)-1]
	if last.from != StateMaster || last.at.Sub(heal) > time.Second+s.latency {
		t.Fatalf("r2 yielded at %v (healed at %v)\n%s", last, heal.Sub(smT0), s.transitionLog())
	}
	if want := last.at.Add(handoverLinger); !r2Released.Equal(want) {
		t.Fatalf("r2 removed its VIPs at %v, want %v", r2Released.Sub(smT0), want.Sub(smT0))
	}
	if r3ups := s.transitionsTo("r3", "VI_1", StateBackup); len(r3ups) != 1 { // init->backup only
		t.Fatalf("r3 left master: %v", r3ups)
	}
}

// simSplitBrain returns r1 (priority 200) and r2 (100) that were both Master
// during a partition of 10s, with HigherPrioSendAdvert as given; r2
// announced the VIPs last, so the clients follow r2.
func simSplitBrain(t *testing.T, sendAdvert bool) (*simNet, *simNode, *simNode) {
	t.Helper()
	s := newSimNet(t, time.Millisecond, 1)
	cfg := smConfig(200, "10.0.0.1")
	cfg.HigherPrioSendAdvert = sendAdvert
	r1 := s.addNode("r1", "10.0.0.1", cfg)
	cfg.Priority = 100
	r2 := s.addNode("r2", "10.0.0.2", cfg)
	s.startAll()
	s.runFor(10 * time.Second)
	s.expectMasters("VI_1", "r1")
	s.cut[[2]int{r1.id, r2.id}], s.cut[[2]int{r2.id, r1.id}] = true, true
	s.runFor(10 * time.Second)
	s.expectMasters("VI_1", "r1", "r2")
	if who, _ := s.announcer(51); who != "r2" {
		t.Fatalf("during the partition the clients follow %q, want r2", who)
	}
	if d1, d2 := r1.inst("VI_1").NextDeadline(), r2.inst("VI_1").NextDeadline(); d1.Equal(d2) {
		t.Fatalf("both Masters advertise at %v: the test needs distinct phases", d1.Sub(smT0))
	}
	return s, r1, r2
}

// When a split brain heals, the Master that stays (r1, the higher priority)
// announces the VIPs again once it hears the other (AnnounceLowerPrio), so
// the clients that followed r2 during the partition come back. Whichever
// Master's advert crosses the healed link first, r1 hears r2: r2's own
// regular advert, or the advert r2 sends as it yields (HigherPrioSendAdvert).
// Without HigherPrioSendAdvert (keepalived's default) r1 hears nothing when
// its advert reaches r2 first, and the clients stay with r2.
func TestSimSplitBrainHealReannounces(t *testing.T) {
	for _, tt := range []struct {
		name        string
		sendAdvert  bool
		loserFirst  bool // r2's advert crosses the healed link first
		reannounced bool
	}{
		{"loser's advert first", true, true, true},
		{"winner's advert first", true, false, true},
		{"loser's advert first, no higher_prio_send_advert", false, true, true},
		{"winner's advert first, no higher_prio_send_advert", false, false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, r1, r2 := simSplitBrain(t, tt.sendAdvert)
			// Heal just after one Master's advert went into the cut, so
			// that the other's crosses first.
			first := r1
			if tt.loserFirst {
				first = r2
			}
			other := map[*simNode]*simNode{r1: r2, r2: r1}[first]
			s.runUntil(other.inst("VI_1").NextDeadline())
			clear(s.cut)
			heal := s.now
			s.runFor(10 * time.Second)
			s.expectMasters("VI_1", "r1")
			who, at := s.announcer(51)
			if !tt.reannounced {
				if who != "r2" || len(s.lowerPrioAnnounces("r1", 51)) != 0 {
					t.Fatalf("clients follow %s from %v; r1 announced again at %v", who, at.Sub(smT0), s.lowerPrioAnnounces("r1", 51))
				}
				return
			}
			// Within an interval of the heal (plus the latency, twice when
			// r1 hears r2's yielding advert).
			if who != "r1" || at.Sub(heal) > time.Second+2*s.latency {
				t.Fatalf("clients follow %s from %v (healed at %v)\n%s", who, at.Sub(smT0), heal.Sub(smT0), s.transitionLog())
			}
			if got := s.lowerPrioAnnounces("r1", 51); len(got) != 1 {
				t.Fatalf("r1 announced again at %v, want once", got)
			}
		})
	}
}

// A lower priority router that never hears the Master stays Master and
// advertises every interval; the Master announces the VIPs again once, not
// at every advert, and once more each time the other router yields and
// comes back.
func TestSimLowerPriorityMasterThatStays(t *testing.T) {
	s, r1, r2 := simSplitBrain(t, true)
	s.cut[[2]int{r2.id, r1.id}] = false // r1 hears r2; r2 still does not hear r1
	heal := s.now
	s.runFor(100 * time.Second)
	s.expectMasters("VI_1", "r1", "r2")
	got := s.lowerPrioAnnounces("r1", 51)
	if len(got) != 1 || got[0].Sub(heal) > time.Second+s.latency {
		t.Fatalf("r1 announced again at %v after hearing r2 from %v, want once at once", got, heal.Sub(smT0))
	}
	if who, _ := s.announcer(51); who != "r1" {
		t.Fatalf("clients follow %s, want r1", who)
	}

	// r2 hears r1 for a moment: it yields, and becomes Master again a
	// Master_Down_Interval after the link breaks again, announcing the VIPs;
	// r1 answers with a new announcement.
	s.cut[[2]int{r1.id, r2.id}] = false
	s.runFor(1500 * time.Millisecond)
	s.expectMasters("VI_1", "r1")
	s.cut[[2]int{r1.id, r2.id}] = true
	s.runFor(10 * time.Second)
	s.expectMasters("VI_1", "r1", "r2")
	got = s.lowerPrioAnnounces("r1", 51)
	up := s.transitionsTo("r2", "VI_1", StateMaster)
	back := up[len(up)-1].at
	if len(got) != 2 || got[1].Sub(back) != s.latency {
		t.Fatalf("r1 announced again at %v; r2 became Master again at %v", got, back.Sub(smT0))
	}
	if who, _ := s.announcer(51); who != "r1" {
		t.Fatalf("clients follow %s, want r1", who)
	}
}

// A higher priority router that comes up preempts the Master: the Master
// becomes Backup when the preempting advert reaches it and removes its VIPs
// handoverLinger later, when the new Master has announced them; at every
// step someone holds the VIPs.
func TestSimPreemptionLingers(t *testing.T) {
	for _, cfg := range []InstanceConfig{smConfig(100, "10.0.0.1"), simV3Config()} {
		t.Run(fmt.Sprintf("v%d", cfg.Version), func(t *testing.T) {
			s := newSimNet(t, time.Millisecond, 1)
			r1 := s.addNode("r1", "10.0.0.1", cfg)
			cfg.Priority = 200
			r2 := s.addNode("r2", "10.0.0.2", cfg)
			s.input(r1, func(now time.Time) { r1.inst("VI_1").Start(now) })
			s.runFor(10 * time.Second)
			s.expectMasters("VI_1", "r1")

			gap := ""
			var released time.Time
			s.check = func() {
				if len(s.holders(51)) == 0 && gap == "" {
					gap = fmt.Sprintf("%v: VIPs unheld", s.now.Sub(smT0))
				}
				if !r1.holds[51] && released.IsZero() {
					released = s.now
				}
			}
			start := s.now
			s.input(r2, func(now time.Time) { r2.inst("VI_1").Start(now) })
			s.runFor(10 * time.Second)
			s.expectMasters("VI_1", "r2")
			if gap != "" {
				t.Fatalf("%s\n%s", gap, s.transitionLog())
			}
			// r2 discards r1's lower adverts and takes over when its
			// Master_Down_Timer (set at startup) fires.
			up := s.transitionsTo("r2", "VI_1", StateMaster)
			down := s.transitionsTo("r1", "VI_1", StateBackup)
			wantUp := start.Add(MasterDownInterval(cfg.Version, 200, cfg.AdvertInterval))
			if len(up) != 1 || !up[0].at.Equal(wantUp) || len(down) != 2 || !down[1].at.Equal(wantUp.Add(s.latency)) {
				t.Fatalf("r2 master %v (want %v), r1 backup %v\n%s", up, wantUp.Sub(smT0), down, s.transitionLog())
			}
			if want := down[1].at.Add(handoverLinger); !released.Equal(want) {
				t.Fatalf("r1 removed its VIPs at %v, want %v", released.Sub(smT0), want.Sub(smT0))
			}
		})
	}
}

func TestSimShutdownMakeBeforeBreak(t *testing.T) {
	s, r1, _, r3 := simThree(t, smConfig(100, "10.0.0.1"), 1)
	s.startAll()
	s.runFor(10*time.Second + 300*time.Millisecond)
	s.expectMasters("VI_1", "r3")

	// From here on, at every executed output, someone holds the VIPs.
	gap := false
	var r3Released time.Time
	s.check = func() {
		if len(s.holders(51)) == 0 {
			gap = true
		}
		if !r3.holds[51] && r3Released.IsZero() {
			r3Released = s.now
		}
	}
	shutdown := s.now
	s.input(r3, func(now time.Time) { r3.inst("VI_1").Shutdown(now) })
	s.runFor(10 * time.Second)
	if gap {
		t.Fatalf("an instant without VIP holder during the handover\n%s", s.transitionLog())
	}
	s.expectMasters("VI_1", "r2")
	if r3.inst("VI_1").State() != StateStop || r1.inst("VI_1").State() != StateBackup {
		t.Fatalf("states r1 %v r3 %v", r1.inst("VI_1").State(), r3.inst("VI_1").State())
	}
	// r2 takes over Skew_Time after the priority 0 advert reaches it; r3
	// stops when r2's first advert reaches it and removes its VIPs
	// handoverLinger later, when r2 has announced them: both held the VIPs
	// for one link latency plus the linger.
	up := s.transitionsTo("r2", "VI_1", StateMaster)
	stop := s.transitionsTo("r3", "VI_1", StateStop)
	wantUp := shutdown.Add(s.latency + SkewTime(2, 150, time.Second))
	if len(up) != 1 || !up[0].at.Equal(wantUp) || len(stop) != 1 || !stop[0].at.Equal(wantUp.Add(s.latency)) {
		t.Fatalf("r2 master %v (want %v), r3 stop %v\n%s", up, wantUp.Sub(smT0), stop, s.transitionLog())
	}
	if want := stop[0].at.Add(handoverLinger); !r3Released.Equal(want) {
		t.Fatalf("r3 removed its VIPs at %v, want %v", r3Released.Sub(smT0), want.Sub(smT0))
	}
	if got := s.transitionsTo("r1", "VI_1", StateMaster); len(got) != 0 {
		t.Fatalf("r1 became master: %v", got)
	}
}

// TestSimShutdownGapWithoutMakeBeforeBreak shows that the gap check above
// can fail: removing the VIPs together with the priority 0 advert (RFC 3768
// 6.4.3 and keepalived) leaves the address unserved for Skew_Time.
func TestSimShutdownGapWithoutMakeBeforeBreak(t *testing.T) {
	s, _, _, r3 := simThree(t, smConfig(100, "10.0.0.1"), 1)
	s.startAll()
	s.runFor(10 * time.Second)
	var gapStart, gapEnd time.Time
	s.check = func() {
		if len(s.holders(51)) == 0 && gapStart.IsZero() {
			gapStart = s.now
		}
		if len(s.holders(51)) > 0 && !gapStart.IsZero() && gapEnd.IsZero() {
			gapEnd = s.now
		}
	}
	// A fault behaves like the RFC's shutdown: priority 0 and VIPs removed.
	s.input(r3, func(now time.Time) { r3.inst("VI_1").SetFault(now, true, "test") })
	s.runFor(5 * time.Second)
	if want := s.latency + SkewTime(2, 150, time.Second); gapStart.IsZero() || gapEnd.Sub(gapStart) != want {
		t.Fatalf("gap %v..%v, want %v", gapStart.Sub(smT0), gapEnd.Sub(smT0), want)
	}
}

// At a 10 ms advert interval (the VRRPv3 minimum) the Backups still take
// over in priority order: only the highest priority one becomes Master when
// the Master stops with a priority 0 advert, or crashes. With Skew_Time in
// RFC 5798's whole centiseconds, ((256 - Priority) * 1cs) / 256 = 0 for
// every priority, all three Backups became Master at the same instant; in
// microseconds priorities 100, 90 and 80 have 6093, 6484 and 6875 µs. The
// link latency, 100 µs as on a LAN, is below the 391 µs between two of
// them, so the new Master's first advert reaches the others before their
// own timers run out.
func TestSimTenMillisecondAdvertsTakeOverInPriorityOrder(t *testing.T) {
	for _, stop := range []string{"priority 0 advert", "crash"} {
		t.Run(stop, func(t *testing.T) {
			cfg := smConfig(200, "10.0.0.1")
			cfg.Version, cfg.AdvertInterval = 3, 10*time.Millisecond
			s := newSimNet(t, 100*time.Microsecond, 1)
			m := s.addNode("m", "10.0.0.1", cfg)
			for k, prio := range []uint8{100, 90, 80} {
				c := cfg
				c.Priority = prio
				s.addNode(fmt.Sprintf("r%d", prio), fmt.Sprintf("10.0.0.%d", k+2), c)
			}
			s.startAll()
			s.runFor(time.Second + 3*time.Millisecond)
			s.expectMasters("VI_1", "m")

			at := s.now
			lastHeard := s.heard[[2]int{1, m.id}]
			if stop == "crash" {
				m.crashed = true
			} else {
				s.input(m, func(now time.Time) { m.inst("VI_1").Shutdown(now) })
			}
			s.runFor(time.Second)
			s.expectMasters("VI_1", "r100")
			for _, r := range []string{"r90", "r80"} {
				if got := s.transitionsTo(r, "VI_1", StateMaster); len(got) != 0 {
					t.Fatalf("%s became master: %v\n%s", r, got, s.transitionLog())
				}
			}
			want := at.Add(s.latency + SkewTime(3, 100, cfg.AdvertInterval))
			if stop == "crash" {
				want = lastHeard.Add(MasterDownInterval(3, 100, cfg.AdvertInterval))
			}
			if up := s.transitionsTo("r100", "VI_1", StateMaster); len(up) != 1 || !up[0].at.Equal(want) {
				t.Fatalf("r100 master %v, want once at %v\n%s", up, want.Sub(smT0), s.transitionLog())
			}
		})
	}
}

func TestSimLossyLinksNoFlap(t *testing.T) {
	s, _, _, r3 := simThree(t, smConfig(100, "10.0.0.1"), 42)
	for _, a := range s.nodes {
		for _, b := range s.nodes {
			if a != b {
				s.drop[[2]int{a.id, b.id}] = 0.3
			}
		}
	}
	s.startAll()
	s.runFor(10 * time.Second)
	s.expectMasters("VI_1", "r3")
	lost := false
	s.check = func() {
		if !r3.holds[51] || r3.inst("VI_1").State() != StateMaster {
			lost = true
		}
	}
	s.runFor(1000 * time.Second)
	if lost {
		t.Fatalf("r3 (priority 200) lost mastership under 30%% loss\n%s", s.transitionLog())
	}
	if got := s.transitionsTo("r3", "VI_1", StateMaster); len(got) != 1 {
		t.Fatalf("r3 became master %d times", len(got))
	}
	// Lower priority backups may briefly claim mastership after three lost
	// adverts in a row (p = 0.3^3), but always yield to r3 again.
	spurious := len(s.transitionsTo("r1", "VI_1", StateMaster)) + len(s.transitionsTo("r2", "VI_1", StateMaster))
	t.Logf("spurious takeovers by backups in 1000 intervals: %d", spurious)
	if spurious == 0 {
		t.Fatalf("the lossy links lost nothing that mattered: the test does not exercise loss")
	}
	clear(s.drop)
	s.runFor(3 * time.Second)
	s.expectMasters("VI_1", "r3")
}

func TestSimSyncGroupAcrossNodes(t *testing.T) {
	s := newSimNet(t, time.Millisecond, 1)
	vi1 := smConfig(200, "10.0.0.1")
	vi2 := smConfig(200, "10.0.0.1")
	vi2.Name, vi2.VRID = "VI_2", 52
	vi2.VIPs = []netip.Addr{netip.MustParseAddr("198.51.100.10")}
	r1 := s.addNode("r1", "10.0.0.1", vi1, vi2)
	vi1.Priority, vi2.Priority = 100, 100
	r2 := s.addNode("r2", "10.0.0.2", vi1, vi2)
	r1.addGroup("VG1", "VI_1", "VI_2")
	r2.addGroup("VG1", "VI_1", "VI_2")

	// Once each input is processed, each node's members agree.
	split := ""
	s.settled = func() {
		for _, n := range s.nodes {
			a, b := n.inst("VI_1"), n.inst("VI_2")
			if (a.State() == StateMaster) != (b.State() == StateMaster) || n.holds[51] != n.holds[52] {
				if split == "" {
					split = fmt.Sprintf("%v: %s VI_1 %v VI_2 %v", s.now.Sub(smT0), n.name, a.State(), b.State())
				}
			}
		}
	}
	s.startAll()
	s.runFor(10 * time.Second)
	s.expectMasters("VI_1", "r1")
	s.expectMasters("VI_2", "r1")

	// A fault on r1's VI_2 takes VI_1 down with it; r2 takes both.
	s.input(r1, func(now time.Time) { r1.inst("VI_2").SetFault(now, true, "eth1 down") })
	if st := r1.inst("VI_1").State(); st != StateFault {
		t.Fatalf("r1 VI_1 %v, want fault", st)
	}
	s.runFor(5 * time.Second)
	s.expectMasters("VI_1", "r2")
	s.expectMasters("VI_2", "r2")

	// Recovery: r1 preempts both back.
	s.input(r1, func(now time.Time) { r1.inst("VI_2").SetFault(now, false, "") })
	s.runFor(10 * time.Second)
	s.expectMasters("VI_1", "r1")
	s.expectMasters("VI_2", "r1")

	// A tracked object on r1 lowers both members below r2 (the weights of a
	// sync group's tracking normally apply to every member): r2's timers
	// preempt and both move together again.
	s.input(r1, func(now time.Time) {
		r1.inst("VI_1").SetPriorityDelta(now, -150)
		r1.inst("VI_2").SetPriorityDelta(now, -150)
	})
	s.runFor(10 * time.Second)
	s.expectMasters("VI_1", "r2")
	s.expectMasters("VI_2", "r2")
	if split != "" {
		t.Fatalf("group members disagreed: %s\n%s", split, s.transitionLog())
	}
}

// Resigning a sync group hands both members over make-before-break: the
// member that hears the peer first lingers, and so does the member the
// group moves with it, so each keeps its addresses until the peer (whose
// members become Master together) has announced them.
func TestSimSyncGroupResignLingers(t *testing.T) {
	s := newSimNet(t, time.Millisecond, 1)
	vi1 := smConfig(200, "10.0.0.1")
	vi2 := smConfig(200, "10.0.0.1")
	vi2.Name, vi2.VRID = "VI_2", 52
	vi2.VIPs = []netip.Addr{netip.MustParseAddr("198.51.100.10")}
	r1 := s.addNode("r1", "10.0.0.1", vi1, vi2)
	vi1.Priority, vi2.Priority = 100, 100
	r2 := s.addNode("r2", "10.0.0.2", vi1, vi2)
	r1.addGroup("VG1", "VI_1", "VI_2")
	r2.addGroup("VG1", "VI_1", "VI_2")
	s.startAll()
	s.runFor(10 * time.Second)
	s.expectMasters("VI_1", "r1")
	s.expectMasters("VI_2", "r1")

	released := map[uint8]time.Time{}
	gap := ""
	s.check = func() {
		for _, vrid := range []uint8{51, 52} {
			if len(s.holders(vrid)) == 0 && gap == "" {
				gap = fmt.Sprintf("%v: VRID %d unheld", s.now.Sub(smT0), vrid)
			}
			if !r1.holds[vrid] && released[vrid].IsZero() {
				released[vrid] = s.now
			}
		}
	}
	s.input(r1, func(now time.Time) {
		r1.inst("VI_1").Resign(now, time.Minute)
		r1.inst("VI_2").Resign(now, time.Minute)
	})
	s.runFor(5 * time.Second)
	if gap != "" {
		t.Fatalf("%s\n%s", gap, s.transitionLog())
	}
	s.expectMasters("VI_1", "r2")
	s.expectMasters("VI_2", "r2")
	down := s.transitionsTo("r1", "VI_1", StateBackup)
	want := down[len(down)-1].at.Add(handoverLinger)
	if !released[51].Equal(want) || !released[52].Equal(want) {
		t.Fatalf("r1 removed VI_1's VIPs at %v and VI_2's at %v, want both at %v\n%s",
			released[51].Sub(smT0), released[52].Sub(smT0), want.Sub(smT0), s.transitionLog())
	}
}
