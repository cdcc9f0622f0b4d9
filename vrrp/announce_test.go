//go:build linux

package vrrp

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mdlayher/ndp"
	"github.com/mdlayher/packet"
	"github.com/vishvananda/netlink"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// readPcap returns the frames of a classic libpcap file with Ethernet link
// type (either byte order, micro- or nanosecond timestamps).
func readPcap(t *testing.T, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 24 {
		t.Fatalf("%s: %d bytes, no pcap header", path, len(b))
	}
	var order binary.ByteOrder
	switch magic := binary.LittleEndian.Uint32(b); magic {
	case 0xa1b2c3d4, 0xa1b23c4d:
		order = binary.LittleEndian
	case 0xd4c3b2a1, 0x4d3cb2a1:
		order = binary.BigEndian
	default:
		t.Fatalf("%s: bad pcap magic %#x", path, magic)
	}
	if lt := order.Uint32(b[20:24]); lt != 1 {
		t.Fatalf("%s: link type %d, want 1 (Ethernet)", path, lt)
	}
	var frames [][]byte
	for off := 24; off < len(b); {
		if off+16 > len(b) {
			t.Fatalf("%s: truncated record header at %d", path, off)
		}
		incl, orig := int(order.Uint32(b[off+8:])), int(order.Uint32(b[off+12:]))
		off += 16
		if incl != orig || off+incl > len(b) {
			t.Fatalf("%s: record of %d/%d bytes at %d: truncated capture", path, incl, orig, off)
		}
		frames = append(frames, b[off:off+incl])
		off += incl
	}
	return frames
}

// recordingConn is a net.PacketConn that records what is written to it.
type recordingConn struct {
	writes []recorded
	closed bool
}

type recorded struct {
	b    []byte
	addr net.Addr
}

func (c *recordingConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if c.closed {
		return 0, net.ErrClosed
	}
	c.writes = append(c.writes, recorded{append([]byte{}, b...), addr})
	return len(b), nil
}
func (c *recordingConn) ReadFrom([]byte) (int, net.Addr, error) {
	return 0, nil, errors.New("not read")
}
func (c *recordingConn) Close() error                     { c.closed = true; return nil }
func (c *recordingConn) LocalAddr() net.Addr              { return &packet.Addr{} }
func (c *recordingConn) SetDeadline(time.Time) error      { return nil }
func (c *recordingConn) SetReadDeadline(time.Time) error  { return nil }
func (c *recordingConn) SetWriteDeadline(time.Time) error { return nil }

// recordingNDP records neighbour discovery messages.
type recordingNDP struct {
	msgs   []ndp.Message
	cms    []*ipv6.ControlMessage
	dsts   []netip.Addr
	closed bool
}

func (c *recordingNDP) WriteTo(m ndp.Message, cm *ipv6.ControlMessage, dst netip.Addr) error {
	c.msgs, c.cms, c.dsts = append(c.msgs, m), append(c.cms, cm), append(c.dsts, dst)
	return nil
}
func (c *recordingNDP) Close() error { c.closed = true; return nil }

// keepalivedIfi is d1 of the shared vectors: 02:99:00:00:00:11.
var keepalivedIfi = &net.Interface{Index: 7, Name: "eth0", MTU: 1500,
	HardwareAddr: net.HardwareAddr{0x02, 0x99, 0, 0, 0, 0x11}}

// TestGARPMatchesKeepalived compares the gratuitous ARP with the one
// keepalived 2.2.7 sent for 10.99.0.250, byte for byte, including its
// length (42 bytes: no padding).
func TestGARPMatchesKeepalived(t *testing.T) {
	frames := readPcap(t, "testdata/garp/garp_v2.pcap")
	if len(frames) != 1 {
		t.Fatalf("%d frames in the capture, want 1", len(frames))
	}
	want := frames[0]
	arpConn := &recordingConn{}
	a := newAnnouncer(keepalivedIfi, arpConn, nil)
	if err := a.GARP(netip.MustParseAddr("10.99.0.250")); err != nil {
		t.Fatal(err)
	}
	if len(arpConn.writes) != 1 {
		t.Fatalf("%d writes, want 1", len(arpConn.writes))
	}
	w := arpConn.writes[0]
	if !bytes.Equal(w.b, want) {
		t.Errorf("GARP frame\n got %x (%d bytes)\nwant %x (%d bytes)", w.b, len(w.b), want, len(want))
	}
	if pa, ok := w.addr.(*packet.Addr); !ok || pa.HardwareAddr.String() != "ff:ff:ff:ff:ff:ff" {
		t.Errorf("sent to %v, want the broadcast hardware address", w.addr)
	}
	// The fields, spelled out, so a wrong capture would show too.
	if got := hex.EncodeToString(want); got != "ffffffffffff"+"029900000011"+"0806"+
		"0001"+"0800"+"06"+"04"+"0001"+"029900000011"+"0a6300fa"+"ffffffffffff"+"0a6300fa" {
		t.Errorf("capture is not the expected gratuitous ARP: %s", got)
	}
}

// TestAnnounceFamilyAndClose checks the refusals and Close.
func TestAnnounceFamilyAndClose(t *testing.T) {
	arpConn, ndpConn := &recordingConn{}, &recordingNDP{}
	a := newAnnouncer(keepalivedIfi, arpConn, ndpConn)
	if err := a.GARP(netip.MustParseAddr("fd00::1")); err == nil {
		t.Error("GARP for an IPv6 address succeeded")
	}
	if err := a.UnsolicitedNA(netip.MustParseAddr("10.0.0.1")); err == nil {
		t.Error("UnsolicitedNA for an IPv4 address succeeded")
	}
	if err := a.GARP(netip.MustParseAddr("::ffff:10.99.0.250")); err != nil {
		t.Errorf("GARP for an IPv4-mapped address: %v", err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if !arpConn.closed || !ndpConn.closed {
		t.Error("Close left a connection open")
	}
	if err := a.GARP(netip.MustParseAddr("10.99.0.250")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("GARP after Close: %v, want net.ErrClosed", err)
	}
	if err := a.UnsolicitedNA(netip.MustParseAddr("fd00::1")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("UnsolicitedNA after Close: %v, want net.ErrClosed", err)
	}
	noHW := newAnnouncer(&net.Interface{Index: 1, Name: "tun0"}, &recordingConn{}, &recordingNDP{})
	if err := noHW.GARP(netip.MustParseAddr("10.0.0.1")); err == nil {
		t.Error("GARP without a hardware address succeeded")
	}
}

// TestAnnounceUnsolicitedNA checks the advertisement: ICMPv6 type 136 to
// ff02::1, Override set, Solicited clear, Router from forwarding, target
// link-layer address option, hop limit 255, sourced from the address.
func TestAnnounceUnsolicitedNA(t *testing.T) {
	vip := netip.MustParseAddr("fd00:99::250")
	for _, router := range []bool{false, true} {
		t.Run(fmt.Sprintf("router=%v", router), func(t *testing.T) {
			rec := &recordingNDP{}
			a := newAnnouncer(keepalivedIfi, nil, rec)
			a.router = func() bool { return router }
			if err := a.UnsolicitedNA(vip); err != nil {
				t.Fatal(err)
			}
			if len(rec.msgs) != 1 {
				t.Fatalf("%d messages, want 1", len(rec.msgs))
			}
			b, err := ndp.MarshalMessage(rec.msgs[0])
			if err != nil {
				t.Fatal(err)
			}
			flags := "20"
			if router {
				flags = "a0"
			}
			// type 136, code 0, checksum (the kernel fills it), flags,
			// target, option 2 (target link-layer address) of 8 bytes.
			want := "88" + "00" + "0000" + flags + "000000" + hex.EncodeToString(vip.AsSlice()) +
				"02" + "01" + "029900000011"
			if got := hex.EncodeToString(b); got != want {
				t.Errorf("NA\n got %s\nwant %s", got, want)
			}
			cm := rec.cms[0]
			if cm.HopLimit != 255 || !net.IP(cm.Src).Equal(vip.AsSlice()) || cm.IfIndex != keepalivedIfi.Index {
				t.Errorf("control message %+v, want hop limit 255, src %v, ifindex %d", cm, vip, keepalivedIfi.Index)
			}
			if rec.dsts[0] != netip.MustParseAddr("ff02::1") {
				t.Errorf("sent to %v, want ff02::1", rec.dsts[0])
			}
		})
	}
}

// lan is a client namespace b with bridge br0, on which two routers
// attach: a (link "va", MAC macA) and o, the old master (link "vo", MAC
// macO).
type lan struct {
	a, o, b *testNS
}

const macO = "02:00:00:00:00:0c"

func newLAN(t *testing.T) lan {
	l := lan{a: newTestNS(t, true), o: newTestNS(t, true), b: newTestNS(t, true)}
	off := false
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "br0", HardwareAddr: mustMAC(t, macB)}, MulticastSnooping: &off}
	if err := l.b.nl.LinkAdd(br); err != nil {
		t.Fatalf("creating bridge: %v", err)
	}
	veth(t, l.a, "va", macA, l.b, "pa", "02:00:00:00:01:0a")
	veth(t, l.o, "vo", macO, l.b, "po", "02:00:00:00:01:0c")
	for _, port := range []string{"pa", "po"} {
		if err := l.b.nl.LinkSetMaster(l.b.link(port), l.b.link("br0")); err != nil {
			t.Fatalf("enslaving %s: %v", port, err)
		}
	}
	l.b.setUp("br0", true)
	l.a.addAddr("va", "10.200.1.1/24")
	l.a.addAddr("va", "fd00:1::1/64")
	l.o.addAddr("vo", "10.200.1.3/24")
	l.o.addAddr("vo", "fd00:1::3/64")
	l.b.addAddr("br0", "10.200.1.2/24")
	l.b.addAddr("br0", "fd00:1::2/64")
	return l
}

// neighbour returns b's cache entry for ip on br0: its MAC ("" if none).
func (l lan) neighbour(t *testing.T, ip netip.Addr) string {
	t.Helper()
	family := netlink.FAMILY_V4
	if ip.Is6() {
		family = netlink.FAMILY_V6
	}
	neighs, err := l.b.nl.NeighList(l.b.link("br0").Attrs().Index, family)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range neighs {
		if got, _ := netip.AddrFromSlice(n.IP); got.Unmap() == ip && n.HardwareAddr != nil {
			return n.HardwareAddr.String()
		}
	}
	return ""
}

// failover puts vip on o, makes b resolve it (as a client talking to the
// VIP would), moves it to a, calls announce in a and returns b's cache
// entry before and after the announcement.
func (l lan) failover(t *testing.T, vip netip.Prefix, announce func(*Announcer) error) (before, after string) {
	t.Helper()
	addrs := NewAddrs()
	v := VIP{Prefix: vip, Dev: "vo"}
	l.o.must(func() error { return addrs.Add(v) })

	// b talks to the VIP: the kernel resolves it to o's MAC.
	network, dst := "udp4", netip.AddrPortFrom(vip.Addr(), 9)
	if vip.Addr().Is6() {
		network = "udp6"
	}
	l.b.must(func() error {
		c, err := net.Dial(network, dst.String())
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte("hello vip"))
		return err
	})
	if !waitFor(3*time.Second, func() bool { return l.neighbour(t, vip.Addr()) == macO }) {
		t.Fatalf("b never resolved %v to o (%s): entry %q", vip.Addr(), macO, l.neighbour(t, vip.Addr()))
	}

	// Failover: o drops the VIP, a takes it. Nothing tells b yet.
	l.o.must(func() error { return addrs.Remove(v) })
	v.Dev = "va"
	l.a.must(func() error { return addrs.Add(v) })
	before = l.neighbour(t, vip.Addr())

	l.a.must(func() error {
		ann, err := NewAnnouncer("va")
		if err != nil {
			return err
		}
		defer ann.Close()
		return announce(ann)
	})
	waitFor(2*time.Second, func() bool { return l.neighbour(t, vip.Addr()) == macA })
	return before, l.neighbour(t, vip.Addr())
}

// TestAnnounceGARPUpdatesNeighbour: a client's ARP entry for the VIP moves
// from the old master's MAC to the new one's after one gratuitous ARP, and
// the frame on the wire is keepalived's 42 bytes.
func TestAnnounceGARPUpdatesNeighbour(t *testing.T) {
	l := newLAN(t)
	vip := netip.MustParsePrefix("10.200.1.100/32")
	var capConn *packet.Conn
	l.b.must(func() error {
		ifi, err := net.InterfaceByName("br0")
		if err != nil {
			return err
		}
		capConn, err = packet.Listen(ifi, packet.Raw, unix.ETH_P_ARP, nil)
		return err
	})
	defer capConn.Close()

	before, after := l.failover(t, vip, func(a *Announcer) error { return a.GARP(vip.Addr()) })
	if before != macO || after != macA {
		t.Fatalf("b's entry for %v: %q before the GARP, %q after; want %s then %s", vip.Addr(), before, after, macO, macA)
	}

	want, err := garpFrame(mustMAC(t, macA), vip.Addr())
	if err != nil {
		t.Fatal(err)
	}
	got := nextFrame(t, capConn, func(f []byte) bool {
		return len(f) >= 42 && bytes.Equal(f[6:12], mustMAC(t, macA)) && bytes.Equal(f[28:32], vip.Addr().AsSlice())
	})
	if !bytes.Equal(got, want) {
		t.Errorf("GARP on the wire\n got %x\nwant %x", got, want)
	}
}

// TestAnnounceUnsolicitedNAUpdatesNeighbour: the same for IPv6, where the
// advertisement's Override flag replaces the cached link-layer address.
func TestAnnounceUnsolicitedNAUpdatesNeighbour(t *testing.T) {
	l := newLAN(t)
	vip := netip.MustParsePrefix("fd00:1::100/128")
	before, after := l.failover(t, vip, func(a *Announcer) error { return a.UnsolicitedNA(vip.Addr()) })
	if before != macO || after != macA {
		t.Fatalf("b's entry for %v: %q before the NA, %q after; want %s then %s", vip.Addr(), before, after, macO, macA)
	}
}

// TestAnnounceNeedsEthernet refuses an interface without a MAC.
func TestAnnounceNeedsEthernet(t *testing.T) {
	ns := newTestNS(t, true)
	err := ns.run(func() error {
		a, err := NewAnnouncer("lo")
		if err == nil {
			a.Close()
		}
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "Ethernet") {
		t.Errorf("NewAnnouncer(lo) = %v, want an error about the Ethernet address", err)
	}
}
