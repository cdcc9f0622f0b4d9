//go:build linux

package vrrp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// Wire parameters of outgoing advertisements.
const (
	// hopLimit is the IPv4 TTL / IPv6 Hop Limit of every advertisement
	// (RFC 5798 5.1.1.3 and 5.1.2.3, RFC 3768 5.2.3). Receivers drop
	// anything else (RFC 5798 7.1).
	hopLimit = 255
	// trafficClass is the IPv4 TOS / IPv6 Traffic Class byte: DSCP CS6
	// (network control), what keepalived puts on the wire (0xc0).
	trafficClass = 0xc0
	// dadWait bounds how long Listen waits for an IPv6 source address
	// that is still tentative (duplicate address detection in progress).
	dadWait = 3 * time.Second
	// dadPoll is the interval at which Listen re-checks a tentative
	// address.
	dadPoll = 50 * time.Millisecond
)

// Conn is a raw VRRP socket (IP protocol 112) bound to one interface. It
// sends advertisements with the kernel building the IP header and returns
// received advertisements with the IP header fields VRRP validates.
//
// A Conn is safe for one reader and any number of writers at a time.
type Conn struct {
	ifi    *net.Interface
	ipv6   bool
	local  netip.Addr
	ip     *net.IPConn
	p4     *ipv4.PacketConn // nil for IPv6
	p6     *ipv6.PacketConn // nil for IPv4
	closed atomic.Bool
}

// Received is one VRRP packet read from a Conn.
type Received struct {
	// Src and Dst are the IP source and destination addresses, without
	// an IPv6 zone (the interface is the Conn's).
	Src, Dst netip.Addr
	// HopLimit is the IPv4 TTL or the IPv6 Hop Limit the packet arrived
	// with.
	HopLimit int
	// Payload is the VRRP message alone, bounded by the IPv4 total
	// length (frames may be padded). It aliases the buffer passed to
	// Read.
	Payload []byte
}

// Listen opens a VRRP socket on interface ifname.
//
// For IPv4 (ipv6 false) the socket receives protocol 112 on ifname only
// (SO_BINDTODEVICE), joins 224.0.0.18 there when multicast is true, and
// sends with TTL 255, TOS 0xc0, multicast loopback off and the DF bit
// clear, like keepalived. source is the address adverts are sent from; if
// it is the zero Addr, the first primary IPv4 address of ifname is used.
//
// For IPv6 the socket joins ff02::12 when multicast is true and sends with
// Hop Limit 255 and Traffic Class 0xc0. The source defaults to the
// interface's link-local address, which RFC 5798 5.1.2.1 requires for
// multicast adverts (a non-link-local source is rejected when multicast
// is true; unicast peers may use any address of the interface). If the
// source is still tentative (DAD in progress, as right after the link
// comes up) Listen waits up to 3 s for it to become usable. Setting
// net.ipv6.conf.IF.accept_dad=0, or adding the address with IFA_F_NODAD,
// makes it usable at once.
//
// The socket is opened in the network namespace of the calling thread.
func Listen(ifname string, ipv6 bool, source netip.Addr, multicast bool) (*Conn, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("vrrp: interface %q: %w", ifname, err)
	}
	if ipv6 {
		return listen6(ifi, source, multicast)
	}
	return listen4(ifi, source, multicast)
}

func listen4(ifi *net.Interface, source netip.Addr, multicast bool) (*Conn, error) {
	source = source.Unmap()
	switch {
	case source.IsValid() && !source.Is4():
		return nil, fmt.Errorf("vrrp: source %s is not an IPv4 address", source)
	case !source.IsValid():
		var err error
		if source, err = primaryIPv4(ifi); err != nil {
			return nil, err
		}
	}

	ipc, err := listenRaw(ifi, "ip4:112", "0.0.0.0", func(fd int) error {
		// Only groups this socket joined: without this Linux delivers
		// every group joined by any socket (IP_MULTICAST_ALL defaults
		// to 1), so a unicast-mode instance would see multicast adverts.
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_ALL, 0); err != nil {
			return os.NewSyscallError("setsockopt IP_MULTICAST_ALL", err)
		}
		// keepalived sends with frag_off 0; the kernel would set DF.
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_DONT); err != nil {
			return os.NewSyscallError("setsockopt IP_MTU_DISCOVER", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	c := &Conn{ifi: ifi, local: source, ip: ipc, p4: ipv4.NewPacketConn(ipc)}
	steps := []sockStep{
		{"TOS", func() error { return c.p4.SetTOS(trafficClass) }},
		{"TTL", func() error { return c.p4.SetTTL(hopLimit) }},
		{"multicast TTL", func() error { return c.p4.SetMulticastTTL(hopLimit) }},
		{"multicast loopback", func() error { return c.p4.SetMulticastLoopback(false) }},
		{"multicast interface", func() error { return c.p4.SetMulticastInterface(ifi) }},
		// The receiving interface, to drop what was queued before
		// SO_BINDTODEVICE took effect.
		{"IP_PKTINFO", func() error { return c.p4.SetControlMessage(ipv4.FlagInterface, true) }},
	}
	if multicast {
		steps = append(steps, sockStep{"joining " + MulticastGroupV4.String(), func() error {
			return c.p4.JoinGroup(ifi, &net.IPAddr{IP: MulticastGroupV4.AsSlice()})
		}})
	}
	if err := applySteps(ifi, steps); err != nil {
		ipc.Close()
		return nil, err
	}
	return c, nil
}

func listen6(ifi *net.Interface, source netip.Addr, multicast bool) (*Conn, error) {
	var want func(netip.Addr) bool
	switch {
	case !source.IsValid():
		want = netip.Addr.IsLinkLocalUnicast
	case !source.Is6() || source.Is4In6():
		return nil, fmt.Errorf("vrrp: source %s is not an IPv6 address", source)
	case multicast && !source.IsLinkLocalUnicast():
		// RFC 5798 5.1.2.1: the source MUST be the link-local address
		// of the interface the packet is sent from.
		return nil, fmt.Errorf("vrrp: source %s is not link-local (RFC 5798 5.1.2.1)", source)
	default:
		source = source.WithZone("")
		want = func(a netip.Addr) bool { return a == source }
	}
	source, err := usableIPv6(ifi, want, dadWait)
	if err != nil {
		return nil, err
	}

	ipc, err := listenRaw(ifi, "ip6:112", "::", func(fd int) error {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_ALL, 0); err != nil {
			return os.NewSyscallError("setsockopt IPV6_MULTICAST_ALL", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// IPV6_CHECKSUM stays off: the VRRP checksum (which covers the IPv6
	// pseudo-header, RFC 5798 5.2.8) is computed by the codec.
	c := &Conn{ifi: ifi, ipv6: true, local: source, ip: ipc, p6: ipv6.NewPacketConn(ipc)}
	steps := []sockStep{
		{"traffic class", func() error { return c.p6.SetTrafficClass(trafficClass) }},
		{"hop limit", func() error { return c.p6.SetHopLimit(hopLimit) }},
		{"multicast hop limit", func() error { return c.p6.SetMulticastHopLimit(hopLimit) }},
		{"multicast loopback", func() error { return c.p6.SetMulticastLoopback(false) }},
		{"multicast interface", func() error { return c.p6.SetMulticastInterface(ifi) }},
		{"control messages", func() error {
			return c.p6.SetControlMessage(ipv6.FlagHopLimit|ipv6.FlagDst|ipv6.FlagInterface, true)
		}},
	}
	if multicast {
		steps = append(steps, sockStep{"joining " + MulticastGroupV6.String(), func() error {
			return c.p6.JoinGroup(ifi, &net.IPAddr{IP: MulticastGroupV6.AsSlice()})
		}})
	}
	if err := applySteps(ifi, steps); err != nil {
		ipc.Close()
		return nil, err
	}
	return c, nil
}

// sockStep is one socket option set by Listen.
type sockStep struct {
	what string
	fn   func() error
}

func applySteps(ifi *net.Interface, steps []sockStep) error {
	for _, s := range steps {
		if err := s.fn(); err != nil {
			return fmt.Errorf("vrrp: %s on %q: %w", s.what, ifi.Name, err)
		}
	}
	return nil
}

// listenRaw opens a raw IP socket bound to ifi with SO_BINDTODEVICE, plus
// the socket options in extra, all set before bind.
func listenRaw(ifi *net.Interface, network, address string, extra func(fd int) error) (*net.IPConn, error) {
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			if err := unix.SetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, ifi.Name); err != nil {
				serr = os.NewSyscallError("setsockopt SO_BINDTODEVICE", err)
				return
			}
			serr = extra(int(fd))
		})
		if err != nil {
			return err
		}
		return serr
	}}
	pc, err := lc.ListenPacket(context.Background(), network, address)
	if err != nil {
		return nil, fmt.Errorf("vrrp: opening %s socket on %q: %w", network, ifi.Name, err)
	}
	return pc.(*net.IPConn), nil
}

// primaryIPv4 returns the first primary (non-secondary) IPv4 address of
// ifi, in the kernel's order: the oldest primary, never an address added
// later as a secondary of its subnet (such as a VIP).
func primaryIPv4(ifi *net.Interface) (netip.Addr, error) {
	link, err := netlink.LinkByIndex(ifi.Index)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("vrrp: interface %q: %w", ifi.Name, err)
	}
	addrs, err := netlink.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("vrrp: listing addresses of %q: %w", ifi.Name, err)
	}
	for _, a := range addrs {
		if a.Flags&unix.IFA_F_SECONDARY != 0 {
			continue
		}
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			return ip.Unmap(), nil
		}
	}
	return netip.Addr{}, fmt.Errorf("vrrp: interface %q has no IPv4 address to send from", ifi.Name)
}

// usableIPv6 returns the first IPv6 address of ifi accepted by want that
// is not tentative, waiting up to wait for duplicate address detection to
// finish (or for a link-local address to appear at all, as it does only
// once the link has carrier). An address whose DAD failed is never used.
func usableIPv6(ifi *net.Interface, want func(netip.Addr) bool, wait time.Duration) (netip.Addr, error) {
	deadline := time.Now().Add(wait)
	for {
		link, err := netlink.LinkByIndex(ifi.Index)
		if err != nil {
			return netip.Addr{}, fmt.Errorf("vrrp: interface %q: %w", ifi.Name, err)
		}
		addrs, err := netlink.AddrList(link, netlink.FAMILY_V6)
		if err != nil {
			return netip.Addr{}, fmt.Errorf("vrrp: listing addresses of %q: %w", ifi.Name, err)
		}
		var tentative netip.Addr
		for _, a := range addrs {
			ip, ok := netip.AddrFromSlice(a.IP)
			if !ok || !want(ip) || a.Flags&unix.IFA_F_DADFAILED != 0 {
				continue
			}
			if a.Flags&unix.IFA_F_TENTATIVE == 0 {
				return ip, nil
			}
			tentative = ip
		}
		if time.Now().After(deadline) {
			if tentative.IsValid() {
				return netip.Addr{}, fmt.Errorf("vrrp: %s on %q still tentative (DAD) after %v", tentative, ifi.Name, wait)
			}
			return netip.Addr{}, fmt.Errorf("vrrp: interface %q has no usable IPv6 source address", ifi.Name)
		}
		time.Sleep(dadPoll)
	}
}

// LocalAddr returns the address adverts are sent from.
func (c *Conn) LocalAddr() netip.Addr { return c.local }

// Read blocks until a VRRP packet arrives on the Conn's interface and
// returns it; Payload aliases buf. A packet whose IPv4 header is malformed,
// or that did not fit in buf, yields a *ParseError with ReasonLength; the
// Conn stays usable. After Close, Read returns net.ErrClosed.
func (c *Conn) Read(buf []byte) (Received, error) {
	if c.ipv6 {
		return c.read6(buf)
	}
	return c.read4(buf)
}

func (c *Conn) read4(buf []byte) (Received, error) {
	oob := ipv4.NewControlMessage(ipv4.FlagInterface)
	for {
		// ReadMsgIP, unlike ReadFrom, leaves the IPv4 header in place.
		n, oobn, flags, _, err := c.ip.ReadMsgIP(buf, oob)
		if err != nil {
			return Received{}, c.readErr(err)
		}
		if !c.onInterface4(oob[:oobn]) {
			continue
		}
		if flags&unix.MSG_TRUNC != 0 {
			return Received{}, &ParseError{Reason: ReasonLength,
				Msg: fmt.Sprintf("packet larger than the %d-byte read buffer", len(buf))}
		}
		h, payload, err := parseIPv4Header(buf[:n])
		if err != nil {
			return Received{}, err
		}
		return Received{Src: h.src, Dst: h.dst, HopLimit: h.ttl, Payload: payload}, nil
	}
}

func (c *Conn) read6(buf []byte) (Received, error) {
	oob := ipv6.NewControlMessage(ipv6.FlagHopLimit | ipv6.FlagDst | ipv6.FlagInterface)
	for {
		n, oobn, flags, from, err := c.ip.ReadMsgIP(buf, oob)
		if err != nil {
			return Received{}, c.readErr(err)
		}
		var cm ipv6.ControlMessage
		if err := cm.Parse(oob[:oobn]); err != nil {
			return Received{}, fmt.Errorf("vrrp: parsing control message on %q: %w", c.ifi.Name, err)
		}
		if cm.IfIndex != 0 && cm.IfIndex != c.ifi.Index {
			continue
		}
		if flags&unix.MSG_TRUNC != 0 {
			return Received{}, &ParseError{Reason: ReasonLength,
				Msg: fmt.Sprintf("packet larger than the %d-byte read buffer", len(buf))}
		}
		src, _ := netip.AddrFromSlice(from.IP)
		dst, _ := netip.AddrFromSlice(cm.Dst)
		return Received{Src: src.WithZone(""), Dst: dst, HopLimit: cm.HopLimit, Payload: buf[:n]}, nil
	}
}

// onInterface4 reports whether the IP_PKTINFO in oob names the Conn's
// interface. Packets queued between socket creation and SO_BINDTODEVICE
// may come from elsewhere.
func (c *Conn) onInterface4(oob []byte) bool {
	var cm ipv4.ControlMessage
	if err := cm.Parse(oob); err != nil || cm.IfIndex == 0 {
		return true
	}
	return cm.IfIndex == c.ifi.Index
}

func (c *Conn) readErr(err error) error {
	if c.closed.Load() || errors.Is(err, net.ErrClosed) {
		return net.ErrClosed
	}
	return fmt.Errorf("vrrp: reading on %q: %w", c.ifi.Name, err)
}

// Write sends payload, a marshalled VRRP message, to dst (the family's
// multicast group or a unicast peer) from LocalAddr through the Conn's
// interface. The kernel builds the IP header with protocol 112.
func (c *Conn) Write(payload []byte, dst netip.Addr) error {
	if c.closed.Load() {
		return net.ErrClosed
	}
	var err error
	if c.ipv6 {
		if !dst.Is6() || dst.Is4In6() {
			return fmt.Errorf("vrrp: destination %s is not an IPv6 address", dst)
		}
		to := &net.IPAddr{IP: dst.AsSlice()}
		if dst.IsLinkLocalUnicast() || dst.IsLinkLocalMulticast() {
			to.Zone = c.ifi.Name
		}
		cm := &ipv6.ControlMessage{Src: c.local.AsSlice(), IfIndex: c.ifi.Index}
		_, err = c.p6.WriteTo(payload, cm, to)
	} else {
		dst = dst.Unmap()
		if !dst.Is4() {
			return fmt.Errorf("vrrp: destination %s is not an IPv4 address", dst)
		}
		// IP_PKTINFO: ipi_spec_dst picks the source, ipi_ifindex the
		// interface. Binding the socket to the source instead would
		// filter out packets sent to the multicast group.
		cm := &ipv4.ControlMessage{Src: c.local.AsSlice(), IfIndex: c.ifi.Index}
		_, err = c.p4.WriteTo(payload, cm, &net.IPAddr{IP: dst.AsSlice()})
	}
	if err != nil {
		if c.closed.Load() || errors.Is(err, net.ErrClosed) {
			return net.ErrClosed
		}
		return fmt.Errorf("vrrp: sending to %s on %q: %w", dst, c.ifi.Name, err)
	}
	return nil
}

// Close closes the socket, unblocking a pending Read.
func (c *Conn) Close() error {
	c.closed.Store(true)
	return c.ip.Close()
}

// ipv4Header holds the IPv4 header fields VRRP validates.
type ipv4Header struct {
	headerLen int
	totalLen  int
	ttl       int
	src, dst  netip.Addr
}

// parseIPv4Header parses the IPv4 header at the start of b (as a raw
// socket returns it) and returns the payload bounded by the header's total
// length, so trailing padding is ignored. Malformed or truncated headers
// yield a *ParseError with ReasonLength.
func parseIPv4Header(b []byte) (ipv4Header, []byte, error) {
	const minLen = 20
	if len(b) < minLen {
		return ipv4Header{}, nil, &ParseError{Reason: ReasonLength,
			Msg: fmt.Sprintf("%d bytes, shorter than an IPv4 header", len(b))}
	}
	if v := b[0] >> 4; v != 4 {
		return ipv4Header{}, nil, &ParseError{Reason: ReasonLength,
			Msg: fmt.Sprintf("IP version %d in an IPv4 header", v)}
	}
	h := ipv4Header{
		headerLen: int(b[0]&0x0f) * 4,
		totalLen:  int(binary.BigEndian.Uint16(b[2:4])),
		ttl:       int(b[8]),
		src:       netip.AddrFrom4([4]byte(b[12:16])),
		dst:       netip.AddrFrom4([4]byte(b[16:20])),
	}
	switch {
	case h.headerLen < minLen:
		return ipv4Header{}, nil, &ParseError{Reason: ReasonLength,
			Msg: fmt.Sprintf("IPv4 header length %d below %d", h.headerLen, minLen)}
	case h.headerLen > len(b):
		return ipv4Header{}, nil, &ParseError{Reason: ReasonLength,
			Msg: fmt.Sprintf("IPv4 header length %d but %d bytes received", h.headerLen, len(b))}
	case h.totalLen < h.headerLen:
		return ipv4Header{}, nil, &ParseError{Reason: ReasonLength,
			Msg: fmt.Sprintf("IPv4 total length %d below header length %d", h.totalLen, h.headerLen)}
	case h.totalLen > len(b):
		return ipv4Header{}, nil, &ParseError{Reason: ReasonLength,
			Msg: fmt.Sprintf("IPv4 total length %d but %d bytes received", h.totalLen, len(b))}
	}
	return h, b[h.headerLen:h.totalLen], nil
}
