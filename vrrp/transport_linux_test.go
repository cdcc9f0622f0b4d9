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
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mdlayher/packet"
	"golang.org/x/sys/unix"
)

func readHexFile(t *testing.T, path string) []byte {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := hex.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return b
}

// TestParseIPv4HeaderVectors parses keepalived's packets: the payload is the
// VRRP message alone, also when the frame carried trailing padding.
func TestParseIPv4HeaderVectors(t *testing.T) {
	files, err := filepath.Glob("testdata/vectors/ip/*.ip.hex")
	if err != nil || len(files) == 0 {
		t.Fatalf("no vectors: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".ip.hex")
		pkt := readHexFile(t, f)
		want := readHexFile(t, strings.TrimSuffix(f, ".ip.hex")+".vrrp.hex")
		for _, pad := range []int{0, 1, 18} {
			t.Run(fmt.Sprintf("%s/pad%d", name, pad), func(t *testing.T) {
				b := append(append([]byte{}, pkt...), make([]byte, pad)...)
				h, payload, err := parseIPv4Header(b)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(payload, want) {
					t.Errorf("payload\n got %x\nwant %x", payload, want)
				}
				if h.ttl != 255 || h.src != netip.MustParseAddr("10.99.0.11") || h.dst != MulticastGroupV4 {
					t.Errorf("header = %+v, want ttl 255 10.99.0.11 -> 224.0.0.18", h)
				}
				if h.headerLen != 20 || h.totalLen != len(pkt) {
					t.Errorf("lengths = %d/%d, want 20/%d", h.headerLen, h.totalLen, len(pkt))
				}
			})
		}
	}
}

// TestParseIPv4HeaderMalformed covers truncation and inconsistent lengths:
// each is dropped with ReasonLength.
func TestParseIPv4HeaderMalformed(t *testing.T) {
	pkt := readHexFile(t, "testdata/vectors/ip/v3_prio150_1s.ip.hex")
	with := func(f func(b []byte) []byte) []byte { return f(append([]byte{}, pkt...)) }
	cases := map[string][]byte{
		"empty":              {},
		"shorter than 20":    pkt[:19],
		"truncated payload":  pkt[:len(pkt)-1],
		"header only":        pkt[:20],
		"IHL 4":              with(func(b []byte) []byte { b[0] = 0x44; return b }),
		"IHL beyond packet":  with(func(b []byte) []byte { b[0] = 0x4f; return b }),
		"total below IHL":    with(func(b []byte) []byte { binary.BigEndian.PutUint16(b[2:], 19); return b }),
		"total beyond bytes": with(func(b []byte) []byte { binary.BigEndian.PutUint16(b[2:], uint16(len(b)+1)); return b }),
		"version 6":          with(func(b []byte) []byte { b[0] = 0x65; return b }),
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			_, payload, err := parseIPv4Header(b)
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Reason != ReasonLength {
				t.Fatalf("err = %v (payload %x), want ParseError with reason %q", err, payload, ReasonLength)
			}
		})
	}
}

// TestParseIPv4HeaderOptions checks that the payload starts after IP
// options (IHL > 5).
func TestParseIPv4HeaderOptions(t *testing.T) {
	pkt := readHexFile(t, "testdata/vectors/ip/v2_pass_prio150.ip.hex")
	want := readHexFile(t, "testdata/vectors/ip/v2_pass_prio150.vrrp.hex")
	// Router Alert option (RFC 2113), 4 bytes: IHL 6.
	b := append(append(append([]byte{}, pkt[:20]...), 0x94, 0x04, 0x00, 0x00), pkt[20:]...)
	b[0] = 0x46
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	h, payload, err := parseIPv4Header(append(b, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if h.headerLen != 24 || !bytes.Equal(payload, want) {
		t.Errorf("headerLen %d payload %x, want 24 %x", h.headerLen, payload, want)
	}
}

func FuzzParseIPv4Header(f *testing.F) {
	files, _ := filepath.Glob("testdata/vectors/ip/*.ip.hex")
	for _, file := range files {
		raw, _ := os.ReadFile(file)
		b, _ := hex.DecodeString(strings.TrimSpace(string(raw)))
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, payload, err := parseIPv4Header(b)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Reason != ReasonLength {
				t.Fatalf("error %v is not a length ParseError", err)
			}
			return
		}
		if h.headerLen < 20 || h.totalLen > len(b) || len(payload) != h.totalLen-h.headerLen {
			t.Fatalf("inconsistent header %+v for %d bytes, payload %d", h, len(b), len(payload))
		}
	})
}

// pair is two namespaces joined by veth va (in a) <-> vb (in b).
type pair struct {
	a, b *testNS
}

const (
	macA = "02:00:00:00:00:0a"
	macB = "02:00:00:00:00:0b"
)

func newPair(t *testing.T) pair {
	p := pair{a: newTestNS(t, true), b: newTestNS(t, true)}
	veth(t, p.a, "va", macA, p.b, "vb", macB)
	p.a.addAddr("va", "10.200.0.1/24")
	p.b.addAddr("vb", "10.200.0.2/24")
	return p
}

func listenIn(t *testing.T, ns *testNS, ifname string, v6 bool, src netip.Addr, multicast bool) *Conn {
	t.Helper()
	var c *Conn
	ns.must(func() error {
		var err error
		c, err = Listen(ifname, v6, src, multicast)
		return err
	})
	t.Cleanup(func() { c.Close() })
	return c
}

var errReadTimeout = errors.New("read timed out")

// readWithin reads one packet from c, giving up after d. On a timeout the
// reading goroutine stays blocked until c is closed.
func readWithin(c *Conn, d time.Duration) (Received, error) {
	type result struct {
		r   Received
		err error
	}
	ch := make(chan result, 1)
	go func() {
		r, err := c.Read(make([]byte, 1500))
		ch <- result{r, err}
	}()
	select {
	case res := <-ch:
		return res.r, res.err
	case <-time.After(d):
		return Received{}, errReadTimeout
	}
}

func mustRead(t *testing.T, c *Conn) Received {
	t.Helper()
	r, err := readWithin(c, 2*time.Second)
	if err != nil {
		t.Fatalf("read on %s: %v", c.LocalAddr(), err)
	}
	return r
}

func checkReceived(t *testing.T, got Received, src, dst netip.Addr, payload []byte) {
	t.Helper()
	if got.Src != src || got.Dst != dst || got.HopLimit != 255 || !bytes.Equal(got.Payload, payload) {
		t.Errorf("received %v -> %v hop limit %d payload %x\nwant     %v -> %v hop limit 255 payload %x",
			got.Src, got.Dst, got.HopLimit, got.Payload, src, dst, payload)
	}
}

// TestTransportIPv4Multicast sends an advert to 224.0.0.18 from a to b and
// back: each side sees the other's packet with TTL 255 and the exact
// payload, and never its own (multicast loopback is off).
func TestTransportIPv4Multicast(t *testing.T) {
	p := newPair(t)
	ca := listenIn(t, p.a, "va", false, netip.Addr{}, true)
	cb := listenIn(t, p.b, "vb", false, netip.Addr{}, true)
	if got, want := ca.LocalAddr(), netip.MustParseAddr("10.200.0.1"); got != want {
		t.Fatalf("LocalAddr = %v, want %v", got, want)
	}

	fromA := []byte("advert from a, 0123456789")
	if err := ca.Write(fromA, MulticastGroupV4); err != nil {
		t.Fatal(err)
	}
	checkReceived(t, mustRead(t, cb), ca.LocalAddr(), MulticastGroupV4, fromA)

	// Had a's own packet been looped back, it would be read first.
	fromB := []byte("advert from b")
	if err := cb.Write(fromB, MulticastGroupV4); err != nil {
		t.Fatal(err)
	}
	checkReceived(t, mustRead(t, ca), cb.LocalAddr(), MulticastGroupV4, fromB)
}

// TestTransportIPv4BoundToDevice checks SO_BINDTODEVICE: a Conn on va does
// not see adverts arriving on a's other interface.
func TestTransportIPv4BoundToDevice(t *testing.T) {
	p := newPair(t)
	veth(t, p.a, "va2", "02:00:00:00:02:0a", p.b, "vb2", "02:00:00:00:02:0b")
	p.a.addAddr("va2", "10.200.2.1/24")
	p.b.addAddr("vb2", "10.200.2.2/24")
	ca := listenIn(t, p.a, "va", false, netip.Addr{}, true)
	ca2 := listenIn(t, p.a, "va2", false, netip.Addr{}, true)
	cb := listenIn(t, p.b, "vb", false, netip.Addr{}, true)
	cb2 := listenIn(t, p.b, "vb2", false, netip.Addr{}, true)

	// SO_BINDTODEVICE is set (Read's interface check alone would also
	// pass the traffic test below).
	for _, c := range []*Conn{ca, listenIn(t, p.a, "va", true, netip.Addr{}, true)} {
		if got := boundDevice(t, c); got != "va" {
			t.Errorf("ipv6=%v: SO_BINDTODEVICE = %q, want va", c.ipv6, got)
		}
	}

	other := []byte("on the other link")
	if err := cb2.Write(other, MulticastGroupV4); err != nil {
		t.Fatal(err)
	}
	// Delivered to a (ca2 sees it) before the packet on va is sent.
	checkReceived(t, mustRead(t, ca2), netip.MustParseAddr("10.200.2.2"), MulticastGroupV4, other)
	mine := []byte("on my link")
	if err := cb.Write(mine, MulticastGroupV4); err != nil {
		t.Fatal(err)
	}
	checkReceived(t, mustRead(t, ca), netip.MustParseAddr("10.200.0.2"), MulticastGroupV4, mine)
}

func boundDevice(t *testing.T, c *Conn) string {
	t.Helper()
	rc, err := c.ip.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var dev string
	var serr error
	if err := rc.Control(func(fd uintptr) {
		dev, serr = unix.GetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE)
	}); err != nil {
		t.Fatal(err)
	}
	if serr != nil {
		t.Fatal(serr)
	}
	return dev
}

// TestTransportIPv4Unicast sends to a unicast peer, with an explicit
// source, and checks that a unicast-only Conn does not receive multicast
// adverts even when another socket on the interface joined the group.
func TestTransportIPv4Unicast(t *testing.T) {
	p := newPair(t)
	p.a.addAddr("va", "10.200.0.11/24")
	src := netip.MustParseAddr("10.200.0.11")
	ca := listenIn(t, p.a, "va", false, src, false)
	cbUnicast := listenIn(t, p.b, "vb", false, netip.Addr{}, false)
	cbGroup := listenIn(t, p.b, "vb", false, netip.Addr{}, true)
	if ca.LocalAddr() != src {
		t.Fatalf("LocalAddr = %v, want %v", ca.LocalAddr(), src)
	}

	multi := []byte("to the group")
	if err := ca.Write(multi, MulticastGroupV4); err != nil {
		t.Fatal(err)
	}
	checkReceived(t, mustRead(t, cbGroup), src, MulticastGroupV4, multi)

	peer := netip.MustParseAddr("10.200.0.2")
	uni := []byte("to the peer")
	if err := ca.Write(uni, peer); err != nil {
		t.Fatal(err)
	}
	// The group packet arrived first; a unicast-only Conn must skip it.
	checkReceived(t, mustRead(t, cbUnicast), src, peer, uni)
	checkReceived(t, mustRead(t, cbGroup), src, peer, uni)
}

// capture opens a packet socket on dev in ns for EtherType proto.
func capture(t *testing.T, ns *testNS, dev string, proto int) *packet.Conn {
	t.Helper()
	var c *packet.Conn
	ns.must(func() error {
		ifi, err := net.InterfaceByName(dev)
		if err != nil {
			return err
		}
		c, err = packet.Listen(ifi, packet.Raw, proto, nil)
		return err
	})
	t.Cleanup(func() { c.Close() })
	return c
}

// nextFrame returns the next captured frame that match accepts.
func nextFrame(t *testing.T, c *packet.Conn, match func(frame []byte) bool) []byte {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(3 * time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2048)
	for {
		n, _, err := c.ReadFrom(buf)
		if err != nil {
			t.Fatalf("capturing: %v", err)
		}
		if match(buf[:n]) {
			return append([]byte{}, buf[:n]...)
		}
	}
}

// TestTransportIPv4WireHeader captures an advert on the wire: the kernel
// built the header keepalived sends (TOS 0xc0, TTL 255, protocol 112, no
// DF) around the payload, with a's MAC and the group's multicast MAC.
func TestTransportIPv4WireHeader(t *testing.T) {
	p := newPair(t)
	ca := listenIn(t, p.a, "va", false, netip.Addr{}, true)
	cap := capture(t, p.b, "vb", unix.ETH_P_IP)
	payload := readHexFile(t, "testdata/vectors/ip/v2_pass_prio150.vrrp.hex")
	if err := ca.Write(payload, MulticastGroupV4); err != nil {
		t.Fatal(err)
	}
	f := nextFrame(t, cap, func(f []byte) bool { return len(f) > 34 && f[14+9] == IPProtocol })
	eth, ip := f[:14], f[14:]
	if want := "01005e000012" + strings.ReplaceAll(macA, ":", "") + "0800"; hex.EncodeToString(eth) != want {
		t.Errorf("ethernet header %x, want %s", eth, want)
	}
	h, got, err := parseIPv4Header(ip)
	if err != nil {
		t.Fatal(err)
	}
	if ip[1] != 0xc0 || ip[8] != 255 || binary.BigEndian.Uint16(ip[6:8]) != 0 {
		t.Errorf("TOS %#x TTL %d flags/fragment %#04x, want 0xc0 255 0", ip[1], ip[8], binary.BigEndian.Uint16(ip[6:8]))
	}
	if h.src != netip.MustParseAddr("10.200.0.1") || h.dst != MulticastGroupV4 || !bytes.Equal(got, payload) {
		t.Errorf("%v -> %v payload %x, want 10.200.0.1 -> 224.0.0.18 %x", h.src, h.dst, got, payload)
	}
}

// TestTransportIPv6Multicast sends to ff02::12 both ways: source is the
// sender's link-local address, hop limit 255, and nobody reads its own.
func TestTransportIPv6Multicast(t *testing.T) {
	p := newPair(t)
	llA, llB := p.a.linkLocal("va"), p.b.linkLocal("vb")
	ca := listenIn(t, p.a, "va", true, netip.Addr{}, true)
	cb := listenIn(t, p.b, "vb", true, netip.Addr{}, true)
	if ca.LocalAddr() != llA || cb.LocalAddr() != llB {
		t.Fatalf("LocalAddr = %v, %v; want link-locals %v, %v", ca.LocalAddr(), cb.LocalAddr(), llA, llB)
	}
	fromA := readHexFile(t, "testdata/vectors/ip/v3_prio150_1s.vrrp.hex")
	if err := ca.Write(fromA, MulticastGroupV6); err != nil {
		t.Fatal(err)
	}
	checkReceived(t, mustRead(t, cb), llA, MulticastGroupV6, fromA)

	fromB := []byte("v6 advert from b")
	if err := cb.Write(fromB, MulticastGroupV6); err != nil {
		t.Fatal(err)
	}
	checkReceived(t, mustRead(t, ca), llB, MulticastGroupV6, fromB)
}

// TestTransportIPv6Unicast sends to the peer's link-local address.
func TestTransportIPv6Unicast(t *testing.T) {
	p := newPair(t)
	llA, llB := p.a.linkLocal("va"), p.b.linkLocal("vb")
	ca := listenIn(t, p.a, "va", true, llA, false)
	cb := listenIn(t, p.b, "vb", true, netip.Addr{}, false)
	payload := []byte("unicast v6")
	if err := ca.Write(payload, llB); err != nil {
		t.Fatal(err)
	}
	checkReceived(t, mustRead(t, cb), llA, llB, payload)
}

// TestTransportIPv6WireHeader captures an IPv6 advert: traffic class 0xc0,
// hop limit 255, next header 112, link-local source, ff02::12.
func TestTransportIPv6WireHeader(t *testing.T) {
	p := newPair(t)
	llA := p.a.linkLocal("va")
	p.b.linkLocal("vb")
	ca := listenIn(t, p.a, "va", true, netip.Addr{}, true)
	cap := capture(t, p.b, "vb", unix.ETH_P_IPV6)
	payload := []byte("v6 on the wire")
	if err := ca.Write(payload, MulticastGroupV6); err != nil {
		t.Fatal(err)
	}
	f := nextFrame(t, cap, func(f []byte) bool { return len(f) >= 54 && f[14+6] == IPProtocol })
	ip := f[14:]
	tc := byte(binary.BigEndian.Uint32(ip[0:4]) >> 20)
	src, _ := netip.AddrFromSlice(ip[8:24])
	dst, _ := netip.AddrFromSlice(ip[24:40])
	plen := int(binary.BigEndian.Uint16(ip[4:6]))
	if tc != 0xc0 || ip[7] != 255 || src != llA || dst != MulticastGroupV6 || !bytes.Equal(ip[40:40+plen], payload) {
		t.Errorf("tc %#x hop limit %d %v -> %v payload %q; want 0xc0 255 %v -> ff02::12 %q",
			tc, ip[7], src, dst, ip[40:40+plen], llA, payload)
	}
	if want := "333300000012" + strings.ReplaceAll(macA, ":", "") + "86dd"; hex.EncodeToString(f[:14]) != want {
		t.Errorf("ethernet header %x, want %s", f[:14], want)
	}
}

// TestTransportIPv6WaitsForDAD opens an IPv6 Conn right after the link comes
// up, with DAD on: Listen must return a link-local address that is no
// longer tentative (sending from a tentative address fails).
func TestTransportIPv6WaitsForDAD(t *testing.T) {
	a, b := newTestNS(t, false), newTestNS(t, false)
	veth(t, a, "da", macA, b, "db", macB)
	start := time.Now()
	c := listenIn(t, a, "da", true, netip.Addr{}, true)
	t.Logf("Listen took %v", time.Since(start))
	if !c.LocalAddr().IsLinkLocalUnicast() {
		t.Fatalf("LocalAddr = %v, want a link-local address", c.LocalAddr())
	}
	addrs, err := a.nl.AddrList(a.link("da"), unix.AF_INET6)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, ad := range addrs {
		if ip, _ := netip.AddrFromSlice(ad.IP); ip == c.LocalAddr() {
			found = true
			if ad.Flags&unix.IFA_F_TENTATIVE != 0 {
				t.Errorf("%v still tentative when Listen returned", ip)
			}
		}
	}
	if !found {
		t.Errorf("%v not on da", c.LocalAddr())
	}
	if err := c.Write([]byte("after DAD"), MulticastGroupV6); err != nil {
		t.Errorf("Write: %v", err)
	}
}

// TestTransportCloseUnblocksRead closes a Conn while Read blocks.
func TestTransportCloseUnblocksRead(t *testing.T) {
	p := newPair(t)
	for _, v6 := range []bool{false, true} {
		t.Run(fmt.Sprintf("ipv6=%v", v6), func(t *testing.T) {
			c := listenIn(t, p.a, "va", v6, netip.Addr{}, true)
			errc := make(chan error, 1)
			go func() {
				_, err := c.Read(make([]byte, 1500))
				errc <- err
			}()
			time.Sleep(50 * time.Millisecond)
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-errc:
				if !errors.Is(err, net.ErrClosed) {
					t.Errorf("Read after Close: %v, want net.ErrClosed", err)
				}
			case <-time.After(time.Second):
				t.Fatal("Read still blocked 1s after Close")
			}
			if err := c.Write([]byte("x"), MulticastGroupV4); !errors.Is(err, net.ErrClosed) {
				t.Errorf("Write after Close: %v, want net.ErrClosed", err)
			}
		})
	}
}

// TestTransportListenErrors covers the refusals: unknown interface, no
// IPv4 address, wrong source families, a non-link-local IPv6 multicast
// source (RFC 5798 5.1.2.1) and an IPv6 source that is not on the link.
func TestTransportListenErrors(t *testing.T) {
	a, b := newTestNS(t, true), newTestNS(t, true)
	veth(t, a, "ea", macA, b, "eb", macB)
	a.linkLocal("ea")
	cases := []struct {
		name   string
		ifname string
		v6     bool
		src    string
		mc     bool
		errHas string
	}{
		{"no such interface", "nope0", false, "", true, "nope0"},
		{"no IPv4 address", "ea", false, "", true, "no IPv4 address"},
		{"IPv6 source for IPv4", "ea", false, "fe80::1", true, "not an IPv4"},
		{"IPv4 source for IPv6", "ea", true, "10.0.0.1", true, "not an IPv6"},
		{"global IPv6 multicast source", "ea", true, "fd00::1", true, "RFC 5798 5.1.2.1"},
		{"IPv6 source not on the link", "ea", true, "fd00::1", false, "no usable IPv6"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var src netip.Addr
			if tc.src != "" {
				src = netip.MustParseAddr(tc.src)
			}
			err := a.run(func() error {
				c, err := Listen(tc.ifname, tc.v6, src, tc.mc)
				if err == nil {
					c.Close()
				}
				return err
			})
			if err == nil || !strings.Contains(err.Error(), tc.errHas) {
				t.Errorf("err = %v, want one mentioning %q", err, tc.errHas)
			}
		})
	}
}
