package vrrp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"
	"github.com/mdlayher/packet"
	"golang.org/x/net/ipv6"
)

// ndpConn is the part of *ndp.Conn an Announcer uses.
type ndpConn interface {
	WriteTo(m ndp.Message, cm *ipv6.ControlMessage, dst netip.Addr) error
	Close() error
}

// Announcer sends the gratuitous ARPs (IPv4, RFC 5227 3 "ARP
// Announcement", RFC 5798 6.4.2 / RFC 3768 6.4.2) and unsolicited
// Neighbor Advertisements (IPv6, RFC 4861 7.2.6, RFC 5798 6.4.2) a new
// master sends so that hosts update their caches for the virtual
// addresses. It sends one packet per call; bursts and their spacing are
// the driver's business.
//
// An Announcer is safe for concurrent use.
type Announcer struct {
	ifi *net.Interface
	// router reports the NA Router flag: whether the interface forwards
	// IPv6 (keepalived does the same).
	router func() bool
	// openARP and openNDP open the sockets on first use; nil when the
	// connections were supplied up front.
	openARP func() (net.PacketConn, error)
	openNDP func() (ndpConn, error)

	mu     sync.Mutex
	arp    net.PacketConn // raw Ethernet frames, written to a *packet.Addr
	ndp    ndpConn
	closed bool
}

// newAnnouncer returns an Announcer writing gratuitous ARP frames to
// arpConn (whole Ethernet frames, addressed with *packet.Addr as a raw
// mdlayher/packet socket expects) and neighbour advertisements to ndpConn.
// Either may be nil if that family is never announced.
func newAnnouncer(ifi *net.Interface, arpConn net.PacketConn, ndpConn ndpConn) *Announcer {
	return &Announcer{
		ifi:    ifi,
		router: func() bool { return false },
		arp:    arpConn,
		ndp:    ndpConn,
	}
}

// garpFrame returns the gratuitous ARP keepalived sends for ip from
// hardware address hw, byte for byte (42 bytes):
//
//	Ethernet: dst ff:ff:ff:ff:ff:ff, src hw, type 0x0806
//	ARP:      htype 1, ptype 0x0800, hlen 6, plen 4, op 1 (request),
//	          sha hw, spa ip, tha ff:ff:ff:ff:ff:ff, tpa ip
//
// The ARP body comes from mdlayher/arp. The Ethernet header is written
// here because ethernet.Frame.MarshalBinary (which arp.Client uses)
// zero-pads every frame to the 60-byte minimum, and keepalived sends 42
// bytes, leaving padding to the NIC: on a veth the frame stays 42 bytes.
func garpFrame(hw net.HardwareAddr, ip netip.Addr) ([]byte, error) {
	if len(hw) != 6 {
		return nil, fmt.Errorf("hardware address %q is not a 6-byte Ethernet address", hw)
	}
	p, err := arp.NewPacket(arp.OperationRequest, hw, ip, ethernet.Broadcast, ip)
	if err != nil {
		return nil, err
	}
	body, err := p.MarshalBinary()
	if err != nil {
		return nil, err
	}
	const hdrLen = 14
	frame := make([]byte, hdrLen+len(body))
	copy(frame[0:6], ethernet.Broadcast)
	copy(frame[6:12], hw)
	binary.BigEndian.PutUint16(frame[12:14], uint16(ethernet.EtherTypeARP))
	copy(frame[hdrLen:], body)
	return frame, nil
}

// unsolicitedNA returns the neighbour advertisement sent for addr: Override
// set so caches replace the old link-layer address, Solicited clear, and
// the interface's link-layer address as the target link-layer address
// option (RFC 4861 7.2.6).
func unsolicitedNA(hw net.HardwareAddr, addr netip.Addr, router bool) *ndp.NeighborAdvertisement {
	return &ndp.NeighborAdvertisement{
		Router:        router,
		Solicited:     false,
		Override:      true,
		TargetAddress: addr,
		Options: []ndp.Option{&ndp.LinkLayerAddress{
			Direction: ndp.Target,
			Addr:      hw,
		}},
	}
}

// GARP broadcasts one gratuitous ARP request for the IPv4 address addr.
func (a *Announcer) GARP(addr netip.Addr) error {
	addr = addr.Unmap()
	if !addr.Is4() {
		return fmt.Errorf("vrrp: gratuitous ARP for %s: not an IPv4 address", addr)
	}
	frame, err := garpFrame(a.ifi.HardwareAddr, addr)
	if err != nil {
		return fmt.Errorf("vrrp: gratuitous ARP for %s on %q: %w", addr, a.ifi.Name, err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return net.ErrClosed
	}
	if a.arp == nil {
		if a.openARP == nil {
			return fmt.Errorf("vrrp: gratuitous ARP on %q: no ARP connection", a.ifi.Name)
		}
		c, err := a.openARP()
		if err != nil {
			return fmt.Errorf("vrrp: opening ARP socket on %q: %w", a.ifi.Name, err)
		}
		a.arp = c
	}
	if _, err := a.arp.WriteTo(frame, &packet.Addr{HardwareAddr: ethernet.Broadcast}); err != nil {
		return fmt.Errorf("vrrp: gratuitous ARP for %s on %q: %w", addr, a.ifi.Name, err)
	}
	return nil
}

// UnsolicitedNA sends one unsolicited neighbour advertisement for the
// IPv6 address addr to ff02::1, with hop limit 255 and addr itself as the
// source, like keepalived: addr must be configured on the interface.
func (a *Announcer) UnsolicitedNA(addr netip.Addr) error {
	if !addr.Is6() || addr.Is4In6() {
		return fmt.Errorf("vrrp: neighbour advertisement for %s: not an IPv6 address", addr)
	}
	addr = addr.WithZone("")
	if len(a.ifi.HardwareAddr) == 0 {
		return fmt.Errorf("vrrp: neighbour advertisement for %s on %q: no hardware address", addr, a.ifi.Name)
	}
	msg := unsolicitedNA(a.ifi.HardwareAddr, addr, a.router())
	cm := &ipv6.ControlMessage{HopLimit: ndp.HopLimit, Src: addr.AsSlice(), IfIndex: a.ifi.Index}

	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return net.ErrClosed
	}
	if a.ndp == nil {
		if a.openNDP == nil {
			return fmt.Errorf("vrrp: neighbour advertisement on %q: no NDP connection", a.ifi.Name)
		}
		c, err := a.openNDP()
		if err != nil {
			return fmt.Errorf("vrrp: opening NDP socket on %q: %w", a.ifi.Name, err)
		}
		a.ndp = c
	}
	if err := a.ndp.WriteTo(msg, cm, netip.IPv6LinkLocalAllNodes()); err != nil {
		return fmt.Errorf("vrrp: neighbour advertisement for %s on %q: %w", addr, a.ifi.Name, err)
	}
	return nil
}

// Close closes the sockets opened so far. Later calls fail with
// net.ErrClosed.
func (a *Announcer) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil
	}
	a.closed = true
	var errs []error
	if a.arp != nil {
		errs = append(errs, a.arp.Close())
	}
	if a.ndp != nil {
		errs = append(errs, a.ndp.Close())
	}
	return errors.Join(errs...)
}
