package lab

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// replyGrace is how long Stop waits for replies to the last echo requests.
const replyGrace = 50 * time.Millisecond

// Pinger sends ICMP echo requests from a host at a fixed interval and
// records when each reply arrives, to measure how long a client cannot reach
// a virtual address during a failover. It uses a raw ICMP socket opened
// inside the host's namespace, and matches replies by echo identifier and
// source address, so several pingers can run on one host.
type Pinger struct {
	host   *Host
	target netip.Addr
	every  time.Duration
	id     int
	conn   *icmp.PacketConn
	dst    net.Addr
	proto  int // IANA protocol number for icmp.ParseMessage
	typ    icmp.Type
	reply  icmp.Type

	mu       sync.Mutex
	sent     []time.Time // by sequence number (not wrapped)
	got      []bool      // by sequence number
	replies  []Reply     // arrival order
	dups     int
	sendErrs int
	lastErr  error

	stopc      chan struct{}
	senderDone chan struct{}
	readerDone chan struct{}
	stopOnce   sync.Once
	final      PingStats
}

// Reply is one echo reply.
type Reply struct {
	Seq      int       // sequence number of the request, counting from 0
	Sent     time.Time // when the request was sent
	Received time.Time // when the reply was read
}

// RTT returns the round-trip time of the reply.
func (r Reply) RTT() time.Duration { return r.Received.Sub(r.Sent) }

// Gap is an interval without replies.
type Gap struct {
	// Start is the arrival of the last reply before the gap, or the first
	// request if no reply came before.
	Start time.Time
	// End is the arrival of the first reply after the gap, or the last
	// request if no reply came after.
	End time.Time
	// Lost counts the requests sent in [Start, End) that got no reply.
	Lost int
}

// Duration returns the length of the gap.
func (g Gap) Duration() time.Duration { return g.End.Sub(g.Start) }

// PingStats summarises a pinger's run.
type PingStats struct {
	Target   netip.Addr
	Interval time.Duration
	// Start and End are the times of the first and last request.
	Start, End time.Time
	// Sent counts requests handed to the kernel or failed to be
	// (SendErrors counts those, e.g. EHOSTUNREACH after failed ARP).
	Sent, SendErrors int
	// Received counts requests that got at least one reply; Duplicates
	// counts additional replies.
	Received, Duplicates int
	// Replies lists the first reply to each request, in arrival order.
	Replies []Reply
	// Longest is the longest interval without replies (see Gap), the
	// client-visible outage. The normal interval between replies is about
	// Interval.
	Longest Gap
	// Gaps lists, in order, every interval without replies longer than
	// GapThreshold (three intervals).
	Gaps         []Gap
	GapThreshold time.Duration
	// LongestSendGap is the longest time between two requests. Far above
	// Interval it means the pinger itself was starved of CPU, and gaps of
	// that size say nothing about the network.
	LongestSendGap time.Duration
}

// LongestGap returns the duration of the longest interval without replies.
func (s PingStats) LongestGap() time.Duration { return s.Longest.Duration() }

// Lost returns the number of requests that got no reply.
func (s PingStats) Lost() int { return s.Sent - s.Received }

// String summarises the statistics on one line.
func (s PingStats) String() string {
	return fmt.Sprintf("ping %s every %v: sent %d, received %d, lost %d, duplicates %d, send errors %d, longest gap %v (%d lost), %d gaps over %v, longest send gap %v",
		s.Target, s.Interval, s.Sent, s.Received, s.Lost(), s.Duplicates, s.SendErrors,
		s.LongestGap().Round(time.Millisecond/10), s.Longest.Lost, len(s.Gaps), s.GapThreshold,
		s.LongestSendGap.Round(time.Millisecond/10))
}

// Pinger starts pinging target from the host every interval (5 ms in
// benchmarks). Stop it to get the statistics; the topology stops it at
// close. Failing to open the socket fails the test.
func (h *Host) Pinger(target netip.Addr, every time.Duration) *Pinger {
	tb := h.topo.tb
	tb.Helper()
	if every <= 0 {
		tb.Fatalf("lab: %s: pinger interval %v must be positive", h.name, every)
	}
	var idb [2]byte
	if _, err := rand.Read(idb[:]); err != nil {
		tb.Fatalf("lab: %s: %v", h.name, err)
	}
	p := &Pinger{
		host:       h,
		target:     target,
		every:      every,
		id:         int(binary.BigEndian.Uint16(idb[:])),
		stopc:      make(chan struct{}),
		senderDone: make(chan struct{}),
		readerDone: make(chan struct{}),
	}
	network, laddr := "ip4:icmp", "0.0.0.0"
	p.proto, p.typ, p.reply = 1, ipv4.ICMPTypeEcho, ipv4.ICMPTypeEchoReply
	if target.Is6() && !target.Is4In6() {
		network, laddr = "ip6:ipv6-icmp", "::"
		p.proto, p.typ, p.reply = 58, ipv6.ICMPTypeEchoRequest, ipv6.ICMPTypeEchoReply
	} else {
		target = target.Unmap()
		p.target = target
	}
	err := h.Do(func() error {
		// A zone names an interface of the host's namespace; Go would
		// resolve the name in whatever namespace the sending thread is in,
		// so pin it to the index now.
		zone := target.Zone()
		if zone != "" {
			if _, err := strconv.Atoi(zone); err != nil {
				ifi, err := net.InterfaceByName(zone)
				if err != nil {
					return err
				}
				zone = strconv.Itoa(ifi.Index)
			}
		}
		p.dst = &net.IPAddr{IP: target.AsSlice(), Zone: zone}
		c, err := icmp.ListenPacket(network, laddr)
		if err != nil {
			return err
		}
		if pc := c.IPv6PacketConn(); pc != nil {
			var f ipv6.ICMPFilter
			f.SetAll(true)
			f.Accept(ipv6.ICMPTypeEchoReply)
			if err := pc.SetICMPFilter(&f); err != nil {
				c.Close()
				return err
			}
		}
		p.conn = c
		return nil
	})
	if err != nil {
		tb.Fatalf("lab: %s: opening ICMP socket for %s: %v", h.name, target, err)
	}
	h.topo.mu.Lock()
	if h.topo.closed {
		h.topo.mu.Unlock()
		p.conn.Close()
		tb.Fatalf("lab: %s: topology is closed", h.name)
	}
	h.topo.pingers[p] = true
	h.topo.mu.Unlock()
	go p.read()
	go p.send()
	return p
}

// send sends one request now and then one per interval until stopped.
func (p *Pinger) send() {
	defer close(p.senderDone)
	t := time.NewTicker(p.every)
	defer t.Stop()
	payload := make([]byte, 16)
	for {
		// The request is on the books before it is sent: on a veth the
		// reply can be read before WriteTo returns.
		p.mu.Lock()
		seq := len(p.sent)
		p.sent = append(p.sent, time.Now())
		p.got = append(p.got, false)
		p.mu.Unlock()
		msg := icmp.Message{Type: p.typ, Body: &icmp.Echo{ID: p.id, Seq: seq & 0xffff, Data: payload}}
		b, err := msg.Marshal(nil) // the kernel computes the ICMPv6 checksum
		if err != nil {
			panic(fmt.Sprintf("lab: marshalling echo request: %v", err)) // static message: cannot fail
		}
		if _, err := p.conn.WriteTo(b, p.dst); err != nil {
			p.mu.Lock()
			p.sendErrs++
			p.lastErr = err
			p.mu.Unlock()
		}
		select {
		case <-p.stopc:
			return
		case <-t.C:
		}
	}
}

// read records replies until the socket is closed.
func (p *Pinger) read() {
	defer close(p.readerDone)
	buf := make([]byte, 1500)
	want := p.target.WithZone("")
	for {
		n, peer, err := p.conn.ReadFrom(buf)
		now := time.Now()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		ipa, ok := peer.(*net.IPAddr)
		if !ok {
			continue
		}
		from, ok := netip.AddrFromSlice(ipa.IP)
		if !ok || from.Unmap() != want {
			continue
		}
		msg, err := icmp.ParseMessage(p.proto, buf[:n])
		if err != nil || msg.Type != p.reply {
			continue
		}
		echo, ok := msg.Body.(*icmp.Echo)
		if !ok || echo.ID != p.id {
			continue
		}
		p.record(echo.Seq, now)
	}
}

// record notes a reply with 16-bit sequence number seq16: it belongs to the
// most recent request carrying that number.
func (p *Pinger) record(seq16 int, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	last := len(p.sent) - 1
	if last < 0 {
		return
	}
	seq := last - ((last - seq16) & 0xffff)
	if seq < 0 {
		return
	}
	if p.got[seq] {
		p.dups++
		return
	}
	p.got[seq] = true
	p.replies = append(p.replies, Reply{Seq: seq, Sent: p.sent[seq], Received: at})
}

// Stats returns the statistics so far without stopping the pinger.
func (p *Pinger) Stats() PingStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return summarize(p.target, p.every, p.sent, p.replies, p.dups, p.sendErrs)
}

// LastError returns the last error sending a request, if any.
func (p *Pinger) LastError() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastErr
}

// Stop stops sending, waits 50 ms for outstanding replies, closes the socket
// and returns the statistics. Later calls return the same statistics.
func (p *Pinger) Stop() PingStats {
	p.stopOnce.Do(func() {
		close(p.stopc)
		<-p.senderDone
		time.Sleep(replyGrace)
		p.conn.Close()
		<-p.readerDone
		p.final = p.Stats()
		p.host.topo.mu.Lock()
		delete(p.host.topo.pingers, p)
		p.host.topo.mu.Unlock()
	})
	return p.final
}

// summarize computes PingStats from the request times (by sequence number)
// and the first reply to each request.
func summarize(target netip.Addr, every time.Duration, sent []time.Time, replies []Reply, dups, sendErrs int) PingStats {
	s := PingStats{
		Target:       target,
		Interval:     every,
		Sent:         len(sent),
		SendErrors:   sendErrs,
		Received:     len(replies),
		Duplicates:   dups,
		Replies:      slices.Clone(replies),
		GapThreshold: 3 * every,
	}
	if len(sent) == 0 {
		return s
	}
	s.Start, s.End = sent[0], sent[len(sent)-1]
	for i := 1; i < len(sent); i++ {
		s.LongestSendGap = max(s.LongestSendGap, sent[i].Sub(sent[i-1]))
	}

	// The timeline: first request, every reply arrival, last request.
	arrivals := make([]time.Time, 0, len(replies))
	answered := make([]bool, len(sent))
	for _, r := range replies {
		arrivals = append(arrivals, r.Received)
		if r.Seq >= 0 && r.Seq < len(answered) {
			answered[r.Seq] = true
		}
	}
	slices.SortFunc(arrivals, func(a, b time.Time) int { return a.Compare(b) })
	points := append([]time.Time{s.Start}, arrivals...)
	if s.End.After(points[len(points)-1]) {
		points = append(points, s.End)
	}
	// lost counts unanswered requests sent in [from, to), or [from, to]
	// when to is the last request (a gap still open at the end).
	lost := func(from, to time.Time) int {
		if to.Equal(s.End) {
			to = to.Add(1)
		}
		n := 0
		for i, t := range sent {
			if !answered[i] && !t.Before(from) && t.Before(to) {
				n++
			}
		}
		return n
	}
	for i := 1; i < len(points); i++ {
		g := Gap{Start: points[i-1], End: points[i]}
		d := g.Duration()
		if d <= s.Longest.Duration() && d <= s.GapThreshold {
			continue
		}
		g.Lost = lost(g.Start, g.End)
		if d > s.Longest.Duration() {
			s.Longest = g
		}
		if d > s.GapThreshold {
			s.Gaps = append(s.Gaps, g)
		}
	}
	if len(points) == 1 { // a single request and no reply
		s.Longest = Gap{Start: s.Start, End: s.End, Lost: lost(s.Start, s.End)}
	}
	return s
}
