package vrrp

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"time"
)

// Instance is the state machine of one virtual router (RFC 3768 section 6,
// RFC 5798 section 6) with keepalived's extensions: Fault and Stop states,
// nopreempt, preempt_delay, priority adjustment by tracked objects, and the
// split brain announcements (garp_lower_prio_*, higher_prio_send_advert).
//
// An Instance performs no I/O, starts no goroutines and reads no clock: every
// method takes the current time as an argument, and everything the instance
// wants done is appended to an output queue that the driver drains with
// TakeOutputs and executes in order. Timers are deadlines reported by
// NextDeadline; the driver calls Tick when the earliest one is due. An
// Instance is not safe for concurrent use.
type Instance struct {
	cfg      InstanceConfig
	authData [8]byte // cfg.AuthPass NUL-padded, as carried by v2 adverts

	state  State
	wanted State

	// A fault comes from the instance itself (SetFault) or is imposed by its
	// sync group; the instance stays in Fault while either is set.
	fault            bool
	faultReason      string
	groupFault       bool
	groupFaultReason string
	syncGroup        string

	delta     int
	effective uint8

	// masterAdverInterval is Master_Adver_Interval (RFC 5798 6.1): the
	// configured interval for v2, the interval learnt from the Master's
	// adverts for v3.
	masterAdverInterval time.Duration

	// Timers; the zero Time means not armed.
	masterDownAt    time.Time // Master_Down_Timer (Backup)
	masterDownCause string    // transition reason when it fires
	adverAt         time.Time // Adver_Timer (Master), also paces priority 0 adverts during a handover

	// lingerUntil is when the addresses kept after leaving Master for a
	// router that took over (handover or preemption, see handoverLinger)
	// go; the zero Time means none are kept. Only a Backup or a stopped
	// instance lingers.
	lingerUntil time.Time

	// Planned handover (Shutdown, Resign) of a Master: handoverTo is Stop or
	// Backup while handingOver.
	handingOver      bool
	handoverTo       State
	handoverDeadline time.Time
	handoverHold     time.Duration

	holdUntil         time.Time // no preemption before this (Resign)
	preemptDelayStart time.Time // first lower priority advert of this Backup period

	// Split brain (see lowerPriorityMaster). lowerPrioLast is when this
	// Master last heard a lower priority Master, lowerPrioAnnounced when it
	// last asked for AnnounceLowerPrio (also on behalf of its sync group);
	// both zero at the start of every mastership.
	lowerPrioLast      time.Time
	lowerPrioAnnounced time.Time

	masterAddr     netip.Addr
	masterPriority uint8

	lastTransition   time.Time
	transitions      map[[2]State]uint64
	advertsSent      uint64
	advertsReceived  uint64
	priorityZeroSent uint64
	priorityZeroRcvd uint64

	outputs []Output
}

// NewInstance returns an instance in the Init state. It keeps a copy of cfg.
func NewInstance(cfg InstanceConfig) *Instance {
	cfg.VIPs = slices.Clone(cfg.VIPs)
	i := &Instance{
		cfg:                 cfg,
		state:               StateInit,
		wanted:              StateInit,
		masterAdverInterval: cfg.AdvertInterval,
		transitions:         map[[2]State]uint64{},
	}
	copy(i.authData[:], cfg.AuthPass)
	i.effective = i.effectivePriority()
	return i
}

// Config returns a copy of the instance's configuration.
func (i *Instance) Config() InstanceConfig {
	cfg := i.cfg
	cfg.VIPs = slices.Clone(cfg.VIPs)
	return cfg
}

// State returns the current state.
func (i *Instance) State() State { return i.state }

// TakeOutputs returns the queued outputs in order and empties the queue.
func (i *Instance) TakeOutputs() []Output {
	out := i.outputs
	i.outputs = nil
	return out
}

// NextDeadline returns the earliest armed timer, or the zero Time when no
// timer is armed (Init, Fault, Stop, except during the linger after a
// handover or preemption). Calling Tick before it changes nothing.
func (i *Instance) NextDeadline() time.Time {
	var next time.Time
	for _, t := range []time.Time{i.masterDownAt, i.adverAt, i.handoverDeadline, i.lingerUntil} {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	return next
}

// Start leaves the Init (or Stop) state; it does nothing in any other state.
// With a pending fault the instance goes to Fault. Otherwise it follows the
// Initialize state of RFC 3768 6.4.1 / RFC 5798 6.4.1: the address owner
// (priority 255) becomes Master at once, any other router becomes Backup
// with Master_Down_Timer set to Master_Down_Interval.
func (i *Instance) Start(now time.Time) {
	if i.state != StateInit && i.state != StateStop {
		return
	}
	if i.faulted() {
		i.clearTimers()
		i.transition(now, StateFault, i.faultTransitionReason())
		return
	}
	i.initialize(now, "startup")
}

// Tick fires every timer that is due at now: Master_Down_Timer (Backup),
// Adver_Timer (Master), during a Shutdown or Resign handover the priority 0
// repeat and the handover deadline, and after a handover or preemption the
// end of the linger. The end of a preempt_delay needs no timer of its own:
// as in keepalived, it only changes how later lower priority adverts are
// treated, and the preemption itself is carried out by Master_Down_Timer.
func (i *Instance) Tick(now time.Time) {
	switch i.state {
	case StateBackup:
		// RFC 3768 6.4.2 / RFC 5798 6.4.2: "If the Master_Down_Timer fires"
		// send an advert, announce the addresses, transition to Master.
		if timerDue(i.masterDownAt, now) {
			i.becomeMaster(now, i.masterDownCause)
		}
	case StateMaster:
		switch {
		case i.handingOver && timerDue(i.handoverDeadline, now):
			i.handoverTimedOut(now)
		case timerDue(i.adverAt, now):
			// RFC 3768 6.4.3 / RFC 5798 6.4.3: "If the Adver_Timer fires"
			// send an advert and reset the timer to
			// Advertisement_Interval, counted from when it was due so that
			// a late Tick does not make every later advert late too.
			// During a handover the advert carries priority 0.
			prio := i.effective
			if i.handingOver {
				prio = 0
			}
			i.sendAdvert(prio)
			i.adverAt = nextAdvertAt(i.adverAt, now, i.cfg.AdvertInterval)
		}
	}
	// Checked after Master_Down_Timer: a Backup it made Master again keeps
	// its addresses (becomeMaster ends the linger).
	if timerDue(i.lingerUntil, now) {
		i.lingerUntil = time.Time{}
		i.emit(RemoveVIPs{})
	}
}

// Receive processes one advertisement from src. It returns the reason the
// advert was dropped, or "" when it was accepted; a dropped advert changes
// nothing. Adverts sent from the instance's own LocalAddr (multicast loop)
// are accepted and ignored without being counted.
func (i *Instance) Receive(now time.Time, src netip.Addr, a *Advert) Reason {
	if r := i.check(a); r != "" {
		return r
	}
	if routerAddr(src) == routerAddr(i.cfg.LocalAddr) {
		return ""
	}
	i.advertsReceived++
	if a.Priority == 0 {
		i.priorityZeroRcvd++
	}
	switch i.state {
	case StateBackup:
		i.receiveBackup(now, src, a)
	case StateMaster:
		if i.handingOver {
			i.receiveHandingOver(now, src, a)
		} else {
			i.receiveMaster(now, src, a)
		}
	}
	return ""
}

// check validates an advertisement against the configuration before any
// state logic runs.
func (i *Instance) check(a *Advert) Reason {
	// RFC 3768 7.1 / RFC 5798 7.1: version and VRID must match.
	if a.Version != i.cfg.Version {
		return ReasonVersion
	}
	if a.VRID != i.cfg.VRID {
		return ReasonVRID
	}
	if i.cfg.Version == 2 {
		// RFC 3768 7.1: "MUST verify that the Auth Type matches the locally
		// configured authentication method"; for simple text password (5.3.6.1)
		// the Authentication Data must match the configured password.
		var wantType uint8 = AuthNone
		if i.cfg.AuthPass != "" {
			wantType = AuthSimple
		}
		if a.AuthType != wantType {
			return ReasonAuthType
		}
		if wantType == AuthSimple && a.AuthData != i.authData {
			return ReasonAuth
		}
		// RFC 3768 7.1: "MUST verify that the Adver Interval in the packet is
		// the same as the locally configured for this virtual router".
		if a.Interval != i.cfg.AdvertInterval {
			return ReasonInterval
		}
	} else if a.Interval < 10*time.Millisecond {
		// RFC 5798 5.2.7: Max Adver Int counts centiseconds; 0 would make
		// Master_Down_Interval zero and every Backup take over at once.
		return ReasonInterval
	}
	// RFC 3768 7.1 / RFC 5798 7.1 leave a mismatching address list to the
	// implementation when the priority is not 255; like keepalived, vigil
	// drops every advert whose address set differs from its own.
	if !sameVIPSet(a.Addrs, i.cfg.VIPs) {
		return ReasonAddressList
	}
	return ""
}

// receiveBackup implements the Backup state's advert rules (RFC 3768 6.4.2,
// RFC 5798 6.4.2) with keepalived's preempt_delay and vigil's resign hold.
func (i *Instance) receiveBackup(now time.Time, src netip.Addr, a *Advert) {
	// "If the Priority in the ADVERTISEMENT is Zero, then: Set the
	// Master_Down_Timer to Skew_Time."
	if a.Priority == 0 {
		i.masterDownAt = now.Add(SkewTime(i.cfg.Version, i.effective, i.masterAdverInterval))
		i.masterDownCause = fmt.Sprintf("priority 0 advert from %s", src)
		i.masterAddr, i.masterPriority = netip.Addr{}, 0
		return
	}
	i.masterAddr, i.masterPriority = src, a.Priority
	lower := a.Priority < i.effective
	holding := i.holding(now)
	// The address owner always preempts at once (RFC 3768 6.4.1: it is
	// Master whenever it runs), unless it is holding after a Resign.
	if lower && i.effective == 255 && !holding {
		i.becomeMaster(now, fmt.Sprintf("address owner preempting %s (prio %d)", src, a.Priority))
		return
	}
	// keepalived preempt_delay: lower priority adverts count as valid until
	// PreemptDelay has passed since the first of them in this Backup period.
	delaying := false
	if lower && i.cfg.Preempt && !holding && i.cfg.PreemptDelay > 0 {
		if i.preemptDelayStart.IsZero() {
			i.preemptDelayStart = now
		}
		delaying = now.Before(i.preemptDelayStart.Add(i.cfg.PreemptDelay))
	}
	// "Else: If Preempt_Mode is False, or If the Priority in the
	// ADVERTISEMENT is greater than or equal to the local Priority, then:
	// [RFC 5798: Set Master_Adver_Interval to Adver Interval contained in the
	// ADVERTISEMENT, Recompute the Master_Down_Interval,] Reset the
	// Master_Down_Timer to Master_Down_Interval. Else (preempt, lower
	// priority): Discard the ADVERTISEMENT" -- the Master_Down_Timer will
	// then fire and this router preempts.
	if !lower || !i.cfg.Preempt || holding || delaying {
		if i.cfg.Version == 3 {
			i.masterAdverInterval = a.Interval
		}
		i.masterDownAt = now.Add(i.masterDownInterval())
		i.masterDownCause = "master down timer expired"
	}
	i.wanted = StateBackup
	if lower && i.cfg.Preempt && !holding {
		i.wanted = StateMaster
	}
}

// receiveMaster implements the Master state's advert rules (RFC 3768 6.4.3,
// RFC 5798 6.4.3). Preempted, the instance becomes Backup at once but keeps
// its addresses for handoverLinger, as after a handover: the preempting
// Master announces them only after the advert that preempted this one.
func (i *Instance) receiveMaster(now time.Time, src netip.Addr, a *Advert) {
	// "If the Priority in the ADVERTISEMENT is Zero, then: Send an
	// ADVERTISEMENT, Reset the Adver_Timer to Advertisement_Interval."
	if a.Priority == 0 {
		i.sendAdvert(i.effective)
		i.adverAt = now.Add(i.cfg.AdvertInterval)
		return
	}
	// "If the Priority in the ADVERTISEMENT is greater than the local
	// Priority, or the Priority in the ADVERTISEMENT is equal to the local
	// Priority and the primary IP Address of the sender is greater than the
	// local primary IP Address, then: Cancel Adver_Timer, [RFC 5798: Set
	// Master_Adver_Interval to Adver Interval contained in the ADVERTISEMENT,
	// Recompute the Skew_Time and Master_Down_Interval,] Set
	// Master_Down_Timer to Master_Down_Interval, Transition to the Backup
	// state." Addresses compare as unsigned big-endian integers.
	//
	// Both cases linger (handoverLinger). A higher priority advert mostly
	// comes from a Backup that has just preempted (Master_Down_Timer, or
	// an address owner at once), whose gratuitous ARP follows that advert.
	// Otherwise, and always at equal priority (a Backup of equal priority
	// never preempts), it comes from a router that was Master too: both
	// started together or a partition healed. Its announcements may then
	// still be on their way (a simultaneous start) or long done; 10 ms
	// more of two routers answering, after however long they both did,
	// costs nothing, and dropping the addresses at once would not bring
	// back the clients that still point at this router either.
	//
	// With HigherPrioSendAdvert the instance first sends an advert with
	// its own priority, for the other Master to re-announce the addresses
	// (see lowerPriorityMaster).
	var reason string
	switch {
	case a.Priority > i.effective:
		reason = fmt.Sprintf("higher priority advert from %s (prio %d)", src, a.Priority)
	case a.Priority == i.effective && routerAddr(src).Compare(routerAddr(i.cfg.LocalAddr)) > 0:
		reason = fmt.Sprintf("equal priority advert from higher address %s (prio %d)", src, a.Priority)
	default:
		// "Else: Discard the ADVERTISEMENT." It still tells that the
		// sender is Master too.
		i.lowerPriorityMaster(now, src, a)
		return
	}
	if i.cfg.HigherPrioSendAdvert {
		i.sendAdvert(i.effective)
	}
	if i.cfg.Version == 3 {
		i.masterAdverInterval = a.Interval
	}
	i.becomeBackup(now, reason, now.Add(handoverLinger))
	i.masterAddr, i.masterPriority = src, a.Priority
}

// lowerPriorityMaster handles a Master's discarded advert, one of a lower
// priority or of its own from a lower address: the sender is Master too.
// Either both started at the same time or a partition between them has
// just healed (a split brain); in both cases clients may have followed the
// sender's gratuitous ARPs and still send this router's traffic there after
// the sender becomes Backup, until they resolve the address again. As
// keepalived does with garp_lower_prio_repeat, the instance asks the driver
// to announce the addresses again (AnnounceLowerPrio), from the first such
// advert on, while the sender is still Master.
//
// keepalived announces on every such advert; a sender that stays Master
// (it does not hear this router) would have them announced every interval
// for as long as it stays. vigil announces once per episode: again only
// after lowerPrioQuiet without such an advert, which a router that stepped
// down and became Master again always stays silent for. Against a sender
// that keeps pulling the clients over with announcements of its own, more
// announcements would only make the clients flap between the two: the link
// has to be fixed.
func (i *Instance) lowerPriorityMaster(now time.Time, src netip.Addr, a *Advert) {
	last := i.lowerPrioLast
	i.lowerPrioLast = now
	if !last.IsZero() && now.Sub(last) < lowerPrioQuiet(i.cfg.AdvertInterval, a.Interval) {
		return
	}
	what := "lower priority advert from"
	if a.Priority == i.effective {
		what = "equal priority advert from lower address"
	}
	i.announceLowerPrio(now, fmt.Sprintf("%s %s (prio %d)", what, src, a.Priority))
}

// announceLowerPrio emits AnnounceLowerPrio once per input, from a Master
// that is not handing over.
func (i *Instance) announceLowerPrio(now time.Time, reason string) {
	if i.state != StateMaster || i.handingOver || i.lowerPrioAnnounced.Equal(now) {
		return
	}
	i.lowerPrioAnnounced = now
	i.emit(AnnounceLowerPrio{Reason: reason})
}

// handoverLinger is how long a Master that handed over (Shutdown, Resign,
// Hold) or was preempted keeps its addresses after hearing the new Master's
// first advert. The new Master announces the addresses (gratuitous ARP,
// unsolicited NA) only after that advert, once it has configured them:
// vigil's driver sends the first burst in the same step (garp_master_delay
// only delays the second burst), and so does keepalived. The benchmark
// measured the first GARP 0.2 to 1.4 ms after the advert on a busy two-core
// machine; removing the addresses at the advert left clients' neighbour
// entries pointing at a router without them for that long, and about one
// switchover in twenty lost a ping. 10 ms (one RFC 5798 centisecond) covers
// that gap several times over, also for a new Master that configures many
// addresses before announcing them. Both routers answering that long is
// harmless for IPv4: the GARP overrides the clients' entries, and Linux
// ignores ARP replies for an entry updated less than locktime (1 s) ago. It
// is kept short because neighbour advertisements have no locktime: an IPv6
// client's solicitation answered by the old router in the window would
// point the client back at it.
//
// Nothing lingers where this router must stop answering or no new Master
// will announce the addresses: a fault (its own, or its sync group's)
// removes them at once, also during a linger, and so does a Shutdown that
// nobody took over within Master_Down_Interval. A priority 0 advert makes
// no Master leave (RFC 3768 6.4.3: it answers with an advert); a lingering
// Backup that hears one keeps its deadline, and if its Skew_Time runs out
// first it becomes Master again, which ends the linger.
const handoverLinger = 10 * time.Millisecond

// HandoverLinger is handoverLinger, for reports that explain it (the
// failover benchmark).
const HandoverLinger = handoverLinger

// receiveHandingOver handles adverts while a Master hands over after
// Shutdown or Resign: any other router advertising with a non-zero priority
// has taken over, whatever its priority. The instance leaves Master at once
// but keeps the addresses for handoverLinger, until the new Master has
// announced them (make-before-break).
func (i *Instance) receiveHandingOver(now time.Time, src netip.Addr, a *Advert) {
	if a.Priority == 0 {
		return
	}
	to, hold := i.handoverTo, i.handoverHold
	verb := "resign"
	if to == StateStop {
		verb = "shutdown"
	}
	i.endHandover()
	i.lingerUntil = now.Add(handoverLinger)
	if to == StateStop {
		i.masterAddr, i.masterPriority = netip.Addr{}, 0
		i.transition(now, StateStop, fmt.Sprintf("%s: %s (prio %d) took over", verb, src, a.Priority))
		return
	}
	if i.cfg.Version == 3 {
		i.masterAdverInterval = a.Interval
	}
	i.masterDownAt = now.Add(i.masterDownInterval())
	i.masterDownCause = "master down timer expired"
	i.preemptDelayStart = time.Time{}
	i.holdUntil = now.Add(hold)
	i.masterAddr, i.masterPriority = src, a.Priority
	i.transition(now, StateBackup, fmt.Sprintf("%s: %s (prio %d) took over", verb, src, a.Priority))
}

// handoverTimedOut ends a handover that no other router answered within
// Master_Down_Interval. A Shutdown stops anyway. A Resign is abandoned: the
// instance stays Master and resumes advertising its priority, because
// removing the addresses with no router to take them over would only cause
// an outage.
func (i *Instance) handoverTimedOut(now time.Time) {
	mdi := MasterDownInterval(i.cfg.Version, i.effective, i.cfg.AdvertInterval)
	if i.handoverTo == StateStop {
		i.emit(RemoveVIPs{})
		i.endHandover()
		i.masterAddr, i.masterPriority = netip.Addr{}, 0
		i.transition(now, StateStop, fmt.Sprintf("shutdown: no new master within %v", mdi))
		return
	}
	i.endHandover()
	i.wanted = StateMaster
	i.sendAdvert(i.effective)
	i.adverAt = now.Add(i.cfg.AdvertInterval)
}

// Shutdown stops the instance. A Master hands over make-before-break: it
// sends a priority 0 advert at once (RFC 3768 6.4.3 "If a Shutdown event is
// received"), so that a Backup takes over after Skew_Time, but keeps its
// addresses, repeating the priority 0 advert every advertisement interval,
// until it hears another router advertise or until Master_Down_Interval has
// passed. Hearing the new Master it goes to Stop and removes the addresses
// handoverLinger (10 ms) later, once the new Master has announced them;
// after Master_Down_Interval it removes them and stops at once. (The RFC and
// keepalived remove the addresses at once, leaving the clients without a
// router until the new Master's gratuitous ARP.) Any other instance stops at
// once; addresses still kept after a handover or preemption go when the
// linger ends. Stopped reports when nothing is left to do.
func (i *Instance) Shutdown(now time.Time) {
	switch {
	case i.state == StateStop:
	case i.state == StateMaster && i.handingOver:
		i.handoverTo = StateStop
		i.wanted = StateStop
	case i.state == StateMaster:
		i.startHandover(now, StateStop, 0)
	default:
		i.clearTimers()
		i.masterAddr, i.masterPriority = netip.Addr{}, 0
		i.transition(now, StateStop, "shutdown")
	}
}

// Resign hands mastership over to a peer without stopping: a Master performs
// the same make-before-break handover as Shutdown (the addresses go
// handoverLinger after the new Master's first advert) but ends in Backup, and
// then does not preempt for hold (lower priority adverts are treated as
// valid). If nobody takes over within Master_Down_Interval the instance
// stays Master. An instance that is not Master only starts the hold.
func (i *Instance) Resign(now time.Time, hold time.Duration) {
	if i.state != StateMaster {
		i.holdUntil = now.Add(hold)
		if i.state == StateBackup {
			i.wanted = StateBackup
		}
		return
	}
	if i.handingOver {
		if i.handoverTo == StateBackup {
			i.handoverHold = hold
		}
		return
	}
	i.startHandover(now, StateBackup, hold)
}

// Stopped reports whether the instance is in Stop with nothing left to do:
// no addresses kept after a handover or preemption. A driver that is
// stopping keeps calling Tick until every instance is Stopped.
func (i *Instance) Stopped() bool { return i.state == StateStop && i.lingerUntil.IsZero() }

// SetPriorityDelta sets the sum of the tracked objects' weights. The
// effective priority is the base priority plus delta, clamped to 1..254; an
// address owner (base priority 255) is never adjusted. The new priority is
// carried by the next advert; a preempting Backup now above the Master
// discards its adverts and takes over when Master_Down_Timer fires, as RFC
// 3768 6.4.2 prescribes.
func (i *Instance) SetPriorityDelta(now time.Time, delta int) {
	i.delta = delta
	i.effective = i.effectivePriority()
	switch i.state {
	case StateMaster:
		i.masterPriority = i.effective
	case StateBackup:
		if i.masterAddr.IsValid() {
			i.wanted = StateBackup
			if i.masterPriority < i.effective && (i.cfg.Preempt || i.effective == 255) && !i.holding(now) {
				i.wanted = StateMaster
			}
		}
	}
}

// holdForever is the hold of Hold: until ReleaseHold.
const holdForever = 100 * 365 * 24 * time.Hour

// Hold keeps the instance from being master while a peer can be: a Master
// hands over make-before-break (as Resign), and the instance does not
// preempt until ReleaseHold. It still takes over when no master is heard
// at all (Master_Down_Timer), since no master is worse than a held one.
func (i *Instance) Hold(now time.Time) { i.Resign(now, holdForever) }

// ReleaseHold ends a hold (Hold or Resign): the instance preempts again as
// configured.
func (i *Instance) ReleaseHold(now time.Time) {
	i.holdUntil = time.Time{}
	if i.handingOver && i.handoverTo == StateBackup {
		i.handoverHold = 0
	}
	i.SetPriorityDelta(now, i.delta) // recompute the wanted state
}

// Reconfigure applies cfg in place when it differs from the running
// configuration only in priority (neither side being the address owner's
// 255), preempt, preempt delay or HigherPrioSendAdvert, and reports whether
// it did. The state is kept: a Master stays Master and its next advert
// carries the new priority. Any other difference needs a new Instance.
func (i *Instance) Reconfigure(now time.Time, cfg InstanceConfig) bool {
	cur := i.Config()
	if (cfg.Priority == 255) != (cur.Priority == 255) {
		return false
	}
	cur.Priority, cur.Preempt, cur.PreemptDelay = cfg.Priority, cfg.Preempt, cfg.PreemptDelay
	if cur.Name != cfg.Name || cur.Interface != cfg.Interface || cur.VRID != cfg.VRID ||
		cur.Version != cfg.Version || cur.IPv6 != cfg.IPv6 || cur.AdvertInterval != cfg.AdvertInterval ||
		cur.AuthPass != cfg.AuthPass || cur.LocalAddr != cfg.LocalAddr || !slices.Equal(cur.VIPs, cfg.VIPs) {
		return false
	}
	i.cfg.Priority, i.cfg.Preempt, i.cfg.PreemptDelay = cfg.Priority, cfg.Preempt, cfg.PreemptDelay
	i.cfg.HigherPrioSendAdvert = cfg.HigherPrioSendAdvert
	i.SetPriorityDelta(now, i.delta)
	return true
}

// SetFault sets or clears the instance's own fault (keepalived's FAULT state,
// entered when a tracked interface or script fails). Entering Fault, a Master
// sends a priority 0 advert and removes its addresses; a faulted instance
// sends nothing and runs no timers. Clearing the fault restarts the instance
// as Start does, unless its sync group still holds it in Fault. A fault set
// before Start makes Start go to Fault.
func (i *Instance) SetFault(now time.Time, fault bool, reason string) {
	if fault {
		i.fault, i.faultReason = true, reason
		i.enterFault(now, "fault: "+reason)
		return
	}
	if !i.fault {
		return
	}
	i.fault, i.faultReason = false, ""
	i.recover(now, "fault cleared")
}

// Snapshot returns a copy of the state machine's view. The driver fills in
// the remaining fields.
func (i *Instance) Snapshot() InstanceSnapshot {
	return InstanceSnapshot{
		Name:              i.cfg.Name,
		Interface:         i.cfg.Interface,
		VRID:              i.cfg.VRID,
		Version:           i.cfg.Version,
		IPv6:              i.cfg.IPv6,
		State:             i.state,
		Wanted:            i.wanted,
		BasePriority:      i.cfg.Priority,
		EffectivePriority: i.effective,
		MasterAddr:        i.masterAddr,
		MasterPriority:    i.masterPriority,
		LastTransition:    i.lastTransition,
		Transitions:       maps.Clone(i.transitions),
		AdvertsSent:       i.advertsSent,
		AdvertsReceived:   i.advertsReceived,
		PriorityZeroSent:  i.priorityZeroSent,
		PriorityZeroRecvd: i.priorityZeroRcvd,
		SyncGroup:         i.syncGroup,
	}
}

// Sync group hooks (see Group).

// forceFault puts a running member in Fault on behalf of its sync group and
// keeps it there until clearGroupFault.
func (i *Instance) forceFault(now time.Time, reason string) {
	i.groupFault, i.groupFaultReason = true, reason
	i.enterFault(now, reason)
}

// clearGroupFault lifts the sync group's fault; the instance recovers unless
// it has a fault of its own.
func (i *Instance) clearGroupFault(now time.Time, reason string) {
	if !i.groupFault {
		return
	}
	i.groupFault, i.groupFaultReason = false, ""
	i.recover(now, reason)
}

// announceLowerPrioForGroup asks for AnnounceLowerPrio because the member m
// did (see Group), once per input. The lower priority Master heard by m
// counts as heard by this instance too, so that the adverts of its own peer,
// if they come, belong to the same episode.
func (i *Instance) announceLowerPrioForGroup(now time.Time, group string, m *Instance) {
	if i.state != StateMaster || i.handingOver || i.lowerPrioAnnounced.Equal(now) {
		return
	}
	i.lowerPrioLast = now
	i.announceLowerPrio(now, fmt.Sprintf("sync group %s: member %s heard a lower priority master", group, m.cfg.Name))
}

// forceMaster makes a Backup member Master at once.
func (i *Instance) forceMaster(now time.Time, reason string) {
	if i.state == StateBackup {
		i.becomeMaster(now, reason)
	}
}

// forceBackup makes a Master member Backup at once and extends its
// preemption hold to holdUntil and the linger of its addresses to
// lingerUntil (the hold and linger of the member that resigned or was
// preempted, if any). A member that is shutting down stops instead.
func (i *Instance) forceBackup(now time.Time, reason string, holdUntil, lingerUntil time.Time) {
	if i.state != StateMaster {
		return
	}
	if holdUntil.After(i.holdUntil) {
		i.holdUntil = holdUntil
	}
	if i.handingOver && i.handoverTo == StateStop {
		i.endHandover()
		i.releaseVIPs(now, lingerUntil)
		i.masterAddr, i.masterPriority = netip.Addr{}, 0
		i.transition(now, StateStop, "shutdown: "+reason)
		return
	}
	i.becomeBackup(now, reason, lingerUntil)
}

// Internal transitions.

// initialize leaves Init or Fault for Backup or Master (RFC 3768 6.4.1,
// RFC 5798 6.4.1).
func (i *Instance) initialize(now time.Time, reason string) {
	// "If the Priority = 255 ... Send an ADVERTISEMENT, Broadcast a
	// gratuitous ARP request ..., Set the Adver_Timer to
	// Advertisement_Interval, Transition to the Master state."
	if i.effective == 255 {
		i.becomeMaster(now, reason+" (address owner, priority 255)")
		return
	}
	// "else ... Set the Master_Down_Timer to Master_Down_Interval,
	// Transition to the Backup state." Master_Adver_Interval starts at the
	// configured interval (RFC 5798 6.4.1).
	i.clearTimers()
	i.masterAdverInterval = i.cfg.AdvertInterval
	i.masterDownAt = now.Add(i.masterDownInterval())
	i.masterDownCause = "master down timer expired"
	i.preemptDelayStart = time.Time{}
	i.masterAddr, i.masterPriority = netip.Addr{}, 0
	i.transition(now, StateBackup, reason)
}

// becomeMaster: send an advert, configure and announce the addresses, arm
// Adver_Timer (RFC 3768 6.4.1, 6.4.2).
func (i *Instance) becomeMaster(now time.Time, reason string) {
	i.sendAdvert(i.effective)
	i.emit(AddVIPs{})
	i.emit(Announce{})
	i.clearTimers()
	i.lingerUntil = time.Time{} // the addresses are wanted again
	i.adverAt = now.Add(i.cfg.AdvertInterval)
	i.preemptDelayStart = time.Time{}
	i.lowerPrioLast, i.lowerPrioAnnounced = time.Time{}, time.Time{}
	i.masterAddr, i.masterPriority = i.cfg.LocalAddr, i.effective
	i.transition(now, StateMaster, reason)
}

// becomeBackup leaves Master for Backup: remove the addresses (at
// lingerUntil if that is later than now, see handoverLinger), cancel
// Adver_Timer, set Master_Down_Timer to Master_Down_Interval (RFC 3768
// 6.4.3).
func (i *Instance) becomeBackup(now time.Time, reason string, lingerUntil time.Time) {
	i.releaseVIPs(now, lingerUntil)
	i.endHandover()
	i.clearTimers()
	i.masterDownAt = now.Add(i.masterDownInterval())
	i.masterDownCause = "master down timer expired"
	i.preemptDelayStart = time.Time{}
	i.masterAddr, i.masterPriority = netip.Addr{}, 0
	i.transition(now, StateBackup, reason)
}

// enterFault moves a running instance to Fault (or, if it was handing over
// for a Shutdown, to Stop).
func (i *Instance) enterFault(now time.Time, reason string) {
	to := StateFault
	switch i.state {
	case StateMaster:
		i.sendAdvert(0)
		i.emit(RemoveVIPs{})
		if i.handingOver && i.handoverTo == StateStop {
			to, reason = StateStop, "shutdown: "+reason
		}
	case StateBackup:
		if !i.lingerUntil.IsZero() {
			i.releaseVIPs(now, time.Time{}) // a faulted router must not answer
		}
	default:
		return
	}
	i.endHandover()
	i.clearTimers()
	i.masterAddr, i.masterPriority = netip.Addr{}, 0
	i.transition(now, to, reason)
}

// recover leaves Fault once no fault remains, as Start does.
func (i *Instance) recover(now time.Time, reason string) {
	if i.state != StateFault || i.faulted() {
		return
	}
	i.initialize(now, reason)
}

func (i *Instance) startHandover(now time.Time, to State, hold time.Duration) {
	i.sendAdvert(0)
	i.adverAt = now.Add(i.cfg.AdvertInterval)
	i.handingOver, i.handoverTo, i.handoverHold = true, to, hold
	i.handoverDeadline = now.Add(MasterDownInterval(i.cfg.Version, i.effective, i.cfg.AdvertInterval))
	i.wanted = to
}

// releaseVIPs removes the addresses now, or keeps them until lingerUntil if
// that is later.
func (i *Instance) releaseVIPs(now, lingerUntil time.Time) {
	if lingerUntil.After(now) {
		i.lingerUntil = lingerUntil
		return
	}
	i.lingerUntil = time.Time{}
	i.emit(RemoveVIPs{})
}

func (i *Instance) endHandover() {
	i.handingOver, i.handoverTo, i.handoverHold = false, StateInit, 0
	i.handoverDeadline = time.Time{}
	i.adverAt = time.Time{}
}

func (i *Instance) clearTimers() {
	i.masterDownAt, i.adverAt, i.handoverDeadline = time.Time{}, time.Time{}, time.Time{}
}

func (i *Instance) transition(now time.Time, to State, reason string) {
	from := i.state
	i.state, i.wanted = to, to
	i.lastTransition = now
	i.transitions[[2]State{from, to}]++
	i.emit(Transition{From: from, To: to, At: now, Reason: reason})
}

func (i *Instance) sendAdvert(priority uint8) {
	i.advertsSent++
	if priority == 0 {
		i.priorityZeroSent++
	}
	i.emit(SendAdvert{Priority: priority})
}

func (i *Instance) emit(o Output) { i.outputs = append(i.outputs, o) }

func (i *Instance) masterDownInterval() time.Duration {
	return MasterDownInterval(i.cfg.Version, i.effective, i.masterAdverInterval)
}

func (i *Instance) holding(now time.Time) bool { return now.Before(i.holdUntil) }

func (i *Instance) faulted() bool { return i.fault || i.groupFault }

// faultTransitionReason describes the fault that holds the instance.
func (i *Instance) faultTransitionReason() string {
	if i.fault {
		return "fault: " + i.faultReason
	}
	return i.groupFaultReason
}

func (i *Instance) effectivePriority() uint8 {
	if i.cfg.Priority == 255 {
		return 255
	}
	return uint8(min(max(int(i.cfg.Priority)+i.delta, 1), 254))
}

func timerDue(deadline, now time.Time) bool { return !deadline.IsZero() && !now.Before(deadline) }

// routerAddr strips what does not identify a router: the IPv4-in-IPv6
// mapping and the IPv6 zone of a link-local source.
func routerAddr(a netip.Addr) netip.Addr { return a.Unmap().WithZone("") }

// sameVIPSet reports whether a and b hold the same addresses, ignoring
// order and repetition.
func sameVIPSet(a, b []netip.Addr) bool {
	return vipSubset(a, b) && vipSubset(b, a)
}

func vipSubset(a, b []netip.Addr) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}
