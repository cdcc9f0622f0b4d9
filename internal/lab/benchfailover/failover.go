package main

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"time"

	"github.com/vigil-lb/vigil/internal/lab"
)

// event is a failure injected on the master.
type event string

const (
	evKill     event = "kill -9"
	evLinkDown event = "link down"
	evTerm     event = "SIGTERM"
)

// events lists the events in report order.
var events = []event{evKill, evLinkDown, evTerm}

// describe says what the event does, for the report.
func (ev event) describe() string {
	switch ev {
	case evKill:
		return "SIGKILL to the master daemon's process group (lab `Proc.Kill`): a crash. No priority-0 advert is sent and the virtual address stays configured on director1, whose kernel keeps answering for it."
	case evLinkDown:
		return "director1's own eth0 is set administratively down (lab `Host.LinkDown`): director1 can neither send nor receive."
	case evTerm:
		return "SIGTERM to the master daemon: a planned stop. Both implementations send a priority-0 advert, so the backup takes over after Skew_Time instead of Master_Down_Interval (RFC 3768 6.4.3, RFC 5798 6.4.3)."
	}
	return string(ev)
}

// Roles of the failover runs.
const (
	masterPrio = 150
	backupPrio = 100
	// failoverVRID and failoverInstance name the one virtual router.
	failoverVRID     = 51
	failoverInstance = "VI_1"
)

// bench holds the lab shared by all runs.
type bench struct {
	tb         lab.TB
	log        *slog.Logger
	d1, d2, cl *lab.Host
	cap        *capture
	pingEvery  time.Duration
	linkDown   bool // director1's eth0 is down
}

// runResult is one failover run. Durations are measured from the event
// unless said otherwise; capture timestamps are the kernel's receive times
// on the client.
type runResult struct {
	Event event
	Impl  string
	Proto proto
	Rep   int

	// Phase is the time from director1's last advert before the event
	// to the event.
	Phase time.Duration
	// Advert is director2's first advert with a priority above 0.
	Advert time.Duration
	// GARP is director2's first gratuitous ARP for the VIP.
	GARP time.Duration
	// Outage is the longest interval without echo replies at the client
	// that overlaps the window from the event to the end of the run.
	Outage time.Duration
	// OutageAt is when that interval began (the last reply before it),
	// relative to the event; negative when it began before the event.
	OutageAt time.Duration
	// MaxRTT is the longest round trip of the requests sent from steady
	// state on, and SendGap the longest time between two requests: a gap
	// with nothing lost comes from replies arriving late (MaxRTT) or from
	// the pinger itself not running (SendGap).
	MaxRTT, SendGap time.Duration
	// Lost counts echo requests sent since steady state that got no reply.
	Lost int
	// Detection is the time from the reference advert to director2's
	// first advert: director1's last advert heard (kill -9, link down) or
	// its first priority-0 advert (SIGTERM).
	Detection time.Duration
	// Bound is the RFC's bound on Detection for the backup's priority:
	// Master_Down_Interval, or Skew_Time after a priority-0 advert.
	Bound time.Duration

	HaveAdvert, HaveGARP, HaveDetection bool
	// OldMasterKeptVIP is whether director1 still held the VIP at the end
	// of the run.
	OldMasterKeptVIP bool
	// Busy is the share of all CPUs that was busy from steady state to
	// the end of the run, everything on the machine included.
	Busy float64
	// Err says why the run failed (no takeover, ...); measurements that
	// were made are still set.
	Err string
	// Notes flag conditions that make a run's numbers suspect.
	Notes []string
}

// bound returns the RFC bound for a backup of priority backupPrio.
func bound(ev event, p proto) time.Duration {
	if ev == evTerm {
		return skewTime(p.Version, backupPrio, p.Interval)
	}
	return masterDownInterval(p.Version, backupPrio, p.Interval)
}

// specs returns director1's and director2's daemon specs for one VIP.
func failoverSpecs(p proto) (daemonSpec, daemonSpec) {
	in := []vrInstance{{Name: failoverInstance, VRID: failoverVRID, VIP: netip.PrefixFrom(lab.VIP4, lab.Net4.Bits())}}
	return daemonSpec{Proto: p, Priority: masterPrio, Master: true, Instances: in},
		daemonSpec{Proto: p, Priority: backupPrio, Instances: in}
}

// waitUntil polls cond every `every` until it holds, ctx ends or timeout
// passes.
func waitUntil(ctx context.Context, timeout, every time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return nil
		}
		if time.Now().After(deadline) {
			return lab.ErrTimeout
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(every):
		}
	}
}

// neighIs reports whether h's neighbour entry for addr has mac.
func neighIs(h *lab.Host, addr netip.Addr, mac net.HardwareAddr) bool {
	got, _, err := h.Neigh(addr)
	return err == nil && got == mac.String()
}

// answered reports whether the pinger got a reply within the last four
// intervals.
func answered(p *lab.Pinger, every time.Duration) bool {
	st := p.Stats()
	if len(st.Replies) == 0 {
		return false
	}
	return time.Since(st.Replies[len(st.Replies)-1].Received) < 4*every
}

// reset returns the lab to its idle state: procs killed, director1's link
// up, no virtual address of vips on either director, and no neighbour
// entry for them on the client.
func (b *bench) reset(vips []netip.Prefix, procs ...*lab.Proc) {
	// Not the run's context: an interrupted run must still be undone.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, p := range procs {
		if p == nil {
			continue
		}
		if !p.Exited() {
			p.Kill()
		}
		p.Stop()
	}
	if b.linkDown {
		b.d1.LinkUp()
		b.linkDown = false
		if err := waitUntil(ctx, 5*time.Second, 10*time.Millisecond, func() bool { return linkRunning(b.d1) }); err != nil {
			b.tb.Fatalf("director1's eth0 did not come back up: %v", err)
		}
	}
	for _, h := range []*lab.Host{b.d1, b.d2} {
		for _, have := range h.Addrs() {
			for _, v := range vips {
				if have.Addr() == v.Addr() {
					if _, err := h.Run(ctx, "ip", "addr", "del", have.String(), "dev", lab.Iface); err != nil {
						b.tb.Fatalf("removing %s from %s: %v", have, h.Name(), err)
					}
				}
			}
		}
	}
	for _, v := range vips {
		if _, err := b.cl.Run(ctx, "ip", "neigh", "flush", "to", v.Addr().String(), "dev", lab.Iface); err != nil {
			b.tb.Fatalf("flushing the client's neighbour entry for %s: %v", v.Addr(), err)
		}
	}
}

// linkRunning reports whether h's eth0 is up with carrier.
func linkRunning(h *lab.Host) bool {
	var up bool
	h.Do(func() error {
		ifi, err := net.InterfaceByName(lab.Iface)
		if err == nil {
			up = ifi.Flags&net.FlagRunning != 0
		}
		return err
	})
	return up
}

// runFailover measures one failover of impl at p caused by ev.
func (b *bench) runFailover(ctx context.Context, impl implementation, p proto, ev event, rep int) runResult {
	res := runResult{Event: ev, Impl: impl.Name(), Proto: p, Rep: rep, Bound: bound(ev, p)}
	spec1, spec2 := failoverSpecs(p)
	vip := spec1.Instances[0].VIP
	b.reset([]netip.Prefix{vip})
	b.cap.forget(time.Now())
	if _, err := b.cap.takeDrops(); err != nil {
		res.Err = err.Error()
		return res
	}
	if waited, busy, err := waitQuiet(ctx, b.log); err != nil {
		res.Err = err.Error()
		return res
	} else if waited > quietMaxWait {
		res.Notes = append(res.Notes, fmt.Sprintf("machine still %.0f %% busy after waiting %v for quiet", busy*100, waited.Round(time.Second)))
	}

	sc := newScope(b.tb)
	defer sc.close()
	d1 := impl.Start(sc, b.d1, spec1)
	d2 := impl.Start(sc, b.d2, spec2)
	defer b.reset([]netip.Prefix{vip}, d1.Proc, d2.Proc)
	ping := b.cl.Pinger(vip.Addr(), b.pingEvery)
	defer ping.Stop()

	fromD1 := func(a advert) bool { return a.Src == b.d1.Addr4() && a.VRID == failoverVRID }
	fromD2 := func(a advert) bool { return a.Src == b.d2.Addr4() && a.VRID == failoverVRID }
	mdi1 := masterDownInterval(p.Version, masterPrio, p.Interval)

	// Steady state: director1 master and holding the VIP, director2
	// backup, the client's pings answered by director1.
	err := waitUntil(ctx, 2*mdi1+10*time.Second, 20*time.Millisecond, func() bool {
		return d1.allIn(spec1, "master") && d2.allIn(spec2, "backup") &&
			b.d1.HasAddr(vip.Addr()) && !b.d2.HasAddr(vip.Addr()) &&
			neighIs(b.cl, vip.Addr(), b.d1.MAC()) && answered(ping, b.pingEvery)
	})
	if err != nil {
		res.Err = fmt.Sprintf("no steady state (director1 master, director2 backup, client answered) after %v: %v", 2*mdi1+10*time.Second, err)
		return res
	}
	readyAt := time.Now()
	// director2 has heard director1 as a backup at least once...
	seen, err := b.cap.nextAdvert(ctx, 3*p.Interval+time.Second, readyAt, func(a advert) bool { return fromD1(a) && a.Priority == masterPrio })
	if err != nil {
		res.Err = fmt.Sprintf("no advert from director1 after steady state: %v", err)
		return res
	}
	sentBefore := ping.Stats().Sent
	cpuBefore, err := readCPUTimes()
	if err != nil {
		res.Err = err.Error()
		return res
	}
	// ...and the event comes at a random phase after a fresh advert.
	fresh, err := b.cap.nextAdvert(ctx, 3*p.Interval+time.Second, seen.At, func(a advert) bool { return fromD1(a) && a.Priority == masterPrio })
	if err != nil {
		res.Err = fmt.Sprintf("no advert from director1 after steady state: %v", err)
		return res
	}
	time.Sleep(time.Until(fresh.At.Add(time.Duration(rand.Int64N(int64(p.Interval))))))

	eventAt := time.Now()
	switch ev {
	case evKill:
		d1.Proc.Kill()
	case evLinkDown:
		b.linkDown = true
		b.d1.LinkDown()
	case evTerm:
		d1.Proc.Signal(syscall.SIGTERM)
	}

	// Takeover: director2 advertises and announces, the client's
	// neighbour entry points at it and pings are answered again (and, for
	// SIGTERM, director1 has finished exiting).
	var garpAt time.Time
	takeover := func() bool {
		adverts, arps := b.cap.snapshot()
		if _, ok := firstAdvert(adverts, eventAt, func(a advert) bool { return fromD2(a) && a.Priority > 0 }); !ok {
			return false
		}
		g, ok := firstGARP(arps, eventAt, b.d2.MAC().String(), vip.Addr())
		if !ok {
			return false
		}
		garpAt = g.At
		if ev == evTerm && !d1.Proc.Exited() {
			return false
		}
		if !neighIs(b.cl, vip.Addr(), b.d2.MAC()) {
			return false
		}
		n := 0
		for _, r := range ping.Stats().Replies {
			if r.Received.After(garpAt) {
				n++
			}
		}
		return n >= 3
	}
	limit := res.Bound + 3*p.Interval + 5*time.Second
	if err := waitUntil(ctx, limit, 5*time.Millisecond, takeover); err != nil {
		res.Err = fmt.Sprintf("no complete takeover within %v of the event (%v): %s", limit, err, b.takeoverState(eventAt, vip.Addr(), d1))
	}
	time.Sleep(settle)
	endAt := time.Now()
	if cpuAfter, err := readCPUTimes(); err == nil {
		res.Busy = busyFraction(cpuBefore, cpuAfter)
	}
	st := ping.Stop()
	res.OldMasterKeptVIP = b.d1.HasAddr(vip.Addr())

	adverts, arps := b.cap.snapshot()
	if a, ok := lastAdvert(adverts, eventAt, func(a advert) bool { return fromD1(a) && a.Priority > 0 }); ok {
		res.Phase = eventAt.Sub(a.At)
	}
	first, ok := firstAdvert(adverts, eventAt, func(a advert) bool { return fromD2(a) && a.Priority > 0 })
	if ok {
		res.HaveAdvert = true
		res.Advert = first.At.Sub(eventAt)
		var ref advert
		var haveRef bool
		if ev == evTerm {
			ref, haveRef = firstAdvert(adverts, eventAt, func(a advert) bool { return fromD1(a) && a.Priority == 0 })
		} else {
			ref, haveRef = lastAdvert(adverts, first.At, func(a advert) bool { return fromD1(a) && a.Priority > 0 })
		}
		if haveRef {
			res.HaveDetection = true
			res.Detection = first.At.Sub(ref.At)
		} else {
			res.Notes = append(res.Notes, "no reference advert from director1 captured")
		}
	}
	if g, ok := firstGARP(arps, eventAt, b.d2.MAC().String(), vip.Addr()); ok {
		res.HaveGARP = true
		res.GARP = g.At.Sub(eventAt)
	}
	arrivals := make([]time.Time, len(st.Replies))
	answeredSeqs := 0
	for i, r := range st.Replies {
		arrivals[i] = r.Received
		if r.Seq >= sentBefore {
			answeredSeqs++
		}
	}
	gs, ge := longestGapOverlapping(arrivals, eventAt, endAt)
	res.Outage = ge.Sub(gs)
	res.OutageAt = gs.Sub(eventAt)
	res.SendGap = st.LongestSendGap
	for _, r := range st.Replies {
		if r.Seq >= sentBefore {
			res.MaxRTT = max(res.MaxRTT, r.RTT())
		}
	}
	res.Lost = st.Sent - sentBefore - answeredSeqs
	if st.LongestSendGap > 4*b.pingEvery {
		res.Notes = append(res.Notes, fmt.Sprintf("pinger starved: %s ms between two requests", ms(st.LongestSendGap)))
	}
	if _, ok := firstAdvert(adverts, readyAt, func(a advert) bool { return fromD2(a) && a.At.Before(eventAt) }); ok {
		res.Notes = append(res.Notes, "director2 advertised before the event")
	}
	if res.Busy > busyNote {
		res.Notes = append(res.Notes, fmt.Sprintf("machine %.0f %% busy during the run", res.Busy*100))
	}
	if n, err := b.cap.takeDrops(); err != nil || n > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("capture dropped %d packets (%v): an advert or GARP may be missing", n, err))
	}
	if n, err := b.cap.errors(); n > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("%d capture read errors, last %v", n, err))
	}
	return res
}

// settle is how long a run keeps pinging after the takeover is complete,
// so that an outage that is not over yet shows up.
const settle = 250 * time.Millisecond

// takeoverState describes what an incomplete takeover lacks.
func (b *bench) takeoverState(eventAt time.Time, vip netip.Addr, d1 *daemon) string {
	adverts, arps := b.cap.snapshot()
	_, adv := firstAdvert(adverts, eventAt, func(a advert) bool { return a.Src == b.d2.Addr4() && a.Priority > 0 })
	_, garp := firstGARP(arps, eventAt, b.d2.MAC().String(), vip)
	mac, state, err := b.cl.Neigh(vip)
	var parts []string
	parts = append(parts, fmt.Sprintf("director2 advert seen %v", adv), fmt.Sprintf("director2 GARP seen %v", garp))
	if err != nil {
		parts = append(parts, fmt.Sprintf("client neighbour entry: %v", err))
	} else {
		parts = append(parts, fmt.Sprintf("client neighbour entry %s %s", mac, state))
	}
	parts = append(parts, fmt.Sprintf("director1 daemon exited %v", d1.Proc.Exited()))
	return strings.Join(parts, ", ")
}

// firstAdvert returns the first advert after t that match accepts.
func firstAdvert(adverts []advert, t time.Time, match func(advert) bool) (advert, bool) {
	for _, a := range adverts {
		if a.At.After(t) && match(a) {
			return a, true
		}
	}
	return advert{}, false
}

// lastAdvert returns the last advert before t that match accepts.
func lastAdvert(adverts []advert, t time.Time, match func(advert) bool) (advert, bool) {
	for i := len(adverts) - 1; i >= 0; i-- {
		if a := adverts[i]; a.At.Before(t) && match(a) {
			return a, true
		}
	}
	return advert{}, false
}

// firstGARP returns the first gratuitous ARP for vip from mac after t.
func firstGARP(arps []arpFrame, t time.Time, mac string, vip netip.Addr) (arpFrame, bool) {
	for _, f := range arps {
		if f.At.After(t) && f.SenderMAC == mac && f.SenderIP == vip && f.gratuitous() {
			return f, true
		}
	}
	return arpFrame{}, false
}
