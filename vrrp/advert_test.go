package vrrp

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The shared vectors were captured from keepalived 2.2.7 sending from d1 to
// the VRRP multicast group (testdata/vectors/README.md).
var (
	advertVecSrc = netip.MustParseAddr("10.99.0.11")
	advertVecDst = netip.MustParseAddr("224.0.0.18")
	advertV6Src  = netip.MustParseAddr("fe80::99:11")
	advertV6Dst  = netip.MustParseAddr("ff02::12")
)

var advertCmp = cmp.Comparer(func(x, y netip.Addr) bool { return x == y })

func advertAddrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

// advertReadHex reads one hex file from testdata/vectors.
func advertReadHex(t testing.TB, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "vectors", name))
	if err != nil {
		t.Fatal(err)
	}
	b, err := hex.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil {
		t.Fatalf("decoding %s: %v", name, err)
	}
	return b
}

// advertRefChecksum is a reference Internet checksum written differently
// from internetChecksum, so the two check each other: it sums whole 16-bit
// words as integers and reduces modulo 0xffff, which equals the
// end-around-carry sum except that a non-zero sum congruent to 0 is 0xffff.
func advertRefChecksum(data []byte) uint16 {
	if len(data)%2 == 1 {
		data = append(append([]byte(nil), data...), 0)
	}
	total := 0
	for i := 0; i < len(data); i += 2 {
		total += int(data[i])<<8 | int(data[i+1])
	}
	folded := total % 0xffff
	if folded == 0 && total != 0 {
		folded = 0xffff
	}
	return uint16(0xffff - folded)
}

// advertRefPseudo builds a pseudo-header byte by byte, independently of
// pseudoHeader.
func advertRefPseudo(src, dst netip.Addr, n int) []byte {
	var out []byte
	out = append(out, src.AsSlice()...)
	out = append(out, dst.AsSlice()...)
	if src.Is4() {
		return append(out, 0, 112, byte(n>>8), byte(n))
	}
	return append(out, byte(n>>24), byte(n>>16), byte(n>>8), byte(n), 0, 0, 0, 112)
}

// advertFix returns a copy of msg with its checksum recomputed by the
// reference implementation: v2 over the message, v3 with the pseudo-header.
func advertFix(msg []byte, src, dst netip.Addr) []byte {
	out := append([]byte(nil), msg...)
	if len(out) < 8 {
		return out
	}
	out[6], out[7] = 0, 0
	data := out
	if out[0]>>4 == 3 {
		data = append(advertRefPseudo(src, dst, len(out)), out...)
	}
	binary.BigEndian.PutUint16(out[6:], advertRefChecksum(data))
	return out
}

var advertPass = [8]byte{'k', 'a', 'b', '1', '2', '3', '4', '5'}

// advertVectors are the keepalived captures, with the decode written out by
// hand from each .decode.txt.
var advertVectors = []struct {
	name string
	want Advert
}{
	{"v2_pass_prio150", Advert{Version: 2, Type: 1, VRID: 51, Priority: 150, Interval: time.Second,
		AuthType: AuthSimple, AuthData: advertPass, Addrs: advertAddrs("10.99.0.250"), Checksum: 0x0872}},
	{"v2_pass_prio0", Advert{Version: 2, Type: 1, VRID: 51, Priority: 0, Interval: time.Second,
		AuthType: AuthSimple, AuthData: advertPass, Addrs: advertAddrs("10.99.0.250"), Checksum: 0x9e72}},
	{"v2_pass_3vip", Advert{Version: 2, Type: 1, VRID: 51, Priority: 150, Interval: time.Second,
		AuthType: AuthSimple, AuthData: advertPass, Addrs: advertAddrs("10.99.0.250", "10.99.0.251", "10.99.0.252"), Checksum: 0xf1b2}},
	{"v3_prio150_1s", Advert{Version: 3, Type: 1, VRID: 51, Priority: 150, Interval: time.Second,
		Addrs: advertAddrs("10.99.0.250"), Checksum: 0x420d}},
	{"v3_prio150_100ms", Advert{Version: 3, Type: 1, VRID: 51, Priority: 150, Interval: 100 * time.Millisecond,
		Addrs: advertAddrs("10.99.0.250"), Checksum: 0x4267}},
	{"v3_prio0", Advert{Version: 3, Type: 1, VRID: 51, Priority: 0, Interval: time.Second,
		Addrs: advertAddrs("10.99.0.250"), Checksum: 0xd80d}},
	{"v3_3vip", Advert{Version: 3, Type: 1, VRID: 51, Priority: 150, Interval: time.Second,
		Addrs: advertAddrs("10.99.0.250", "10.99.0.251", "10.99.0.252"), Checksum: 0x2b46}},
}

func TestAdvertVectors(t *testing.T) {
	for _, tc := range advertVectors {
		t.Run(tc.name, func(t *testing.T) {
			msg := advertReadHex(t, tc.name+".vrrp.hex")

			// The VRRP message is exactly the IP payload, from d1 to the
			// group: no padding, no trailing bytes.
			ip := advertReadHex(t, tc.name+".ip.hex")
			if ihl := int(ip[0]&0x0f) * 4; !bytes.Equal(ip[ihl:], msg) {
				t.Fatalf("ip payload %x, want the .vrrp.hex %x", ip[ihl:], msg)
			}
			if got := int(binary.BigEndian.Uint16(ip[2:])); got != len(ip) {
				t.Fatalf("ip total length %d, file holds %d bytes", got, len(ip))
			}
			if src, dst := netip.AddrFrom4([4]byte(ip[12:16])), netip.AddrFrom4([4]byte(ip[16:20])); src != advertVecSrc || dst != advertVecDst {
				t.Fatalf("ip header %s -> %s, want %s -> %s", src, dst, advertVecSrc, advertVecDst)
			}

			a, err := ParseAdvert(msg, advertVecSrc, advertVecDst)
			if err != nil {
				t.Fatalf("ParseAdvert: %v", err)
			}
			if diff := cmp.Diff(&tc.want, a, advertCmp); diff != "" {
				t.Fatalf("ParseAdvert mismatch (-want +got):\n%s", diff)
			}
			advertCrossCheckDecode(t, tc.name, a)

			re := tc.want
			re.Checksum = 0
			out, err := re.Marshal(advertVecSrc, advertVecDst)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			if !bytes.Equal(out, msg) {
				t.Fatalf("Marshal\n got %x\nwant %x", out, msg)
			}
			if re.Checksum != tc.want.Checksum {
				t.Fatalf("Marshal set Checksum %#04x, want %#04x", re.Checksum, tc.want.Checksum)
			}
		})
	}
}

var (
	advertDecodeHeader = regexp.MustCompile(`VRRPv(\d): version (\d) type (\d+) vrid (\d+) priority (\d+) count_ip (\d+)`)
	advertDecodeV2Int  = regexp.MustCompile(`auth_type (\d+) adver_int (\d+)s`)
	advertDecodeV3Int  = regexp.MustCompile(`max_adver_int (\d+) cs`)
	advertDecodeCsum   = regexp.MustCompile(`checksum 0x([0-9a-f]{4}) \(([^)]*)\)`)
	advertDecodeVIPs   = regexp.MustCompile(`VIPs \[([^\]]*)\]`)
	advertDecodeAuth   = regexp.MustCompile(`auth data b'([^']*)'`)
)

// advertCrossCheckDecode compares a parsed vector with the independent
// decode in its .decode.txt, as a check on the hand-written table.
func advertCrossCheckDecode(t *testing.T, name string, a *Advert) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "vectors", name+".decode.txt"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	atoi := func(s string) int {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	h := advertDecodeHeader.FindStringSubmatch(text)
	if h == nil {
		t.Fatalf("%s.decode.txt: no VRRP header line", name)
	}
	if atoi(h[2]) != a.Version || atoi(h[3]) != a.Type || atoi(h[4]) != int(a.VRID) ||
		atoi(h[5]) != int(a.Priority) || atoi(h[6]) != len(a.Addrs) {
		t.Errorf("decode.txt header %q disagrees with %+v", h[0], a)
	}
	if a.Version == 2 {
		m := advertDecodeV2Int.FindStringSubmatch(text)
		if m == nil || atoi(m[1]) != int(a.AuthType) || time.Duration(atoi(m[2]))*time.Second != a.Interval {
			t.Errorf("decode.txt %q disagrees with auth type %d interval %v", m, a.AuthType, a.Interval)
		}
		auth := advertDecodeAuth.FindStringSubmatch(text)
		if auth == nil || auth[1] != string(a.AuthData[:]) {
			t.Errorf("decode.txt auth data %q, parsed %q", auth, a.AuthData[:])
		}
	} else {
		m := advertDecodeV3Int.FindStringSubmatch(text)
		if m == nil || time.Duration(atoi(m[1]))*10*time.Millisecond != a.Interval {
			t.Errorf("decode.txt %q disagrees with interval %v", m, a.Interval)
		}
	}
	c := advertDecodeCsum.FindStringSubmatch(text)
	if c == nil || c[1] != hex.EncodeToString([]byte{byte(a.Checksum >> 8), byte(a.Checksum)}) || !strings.Contains(c[2], "ok") {
		t.Errorf("decode.txt checksum %q, parsed %#04x", c, a.Checksum)
	}
	vips := advertDecodeVIPs.FindStringSubmatch(text)
	if vips == nil {
		t.Fatalf("%s.decode.txt: no VIPs", name)
	}
	var got []string
	for _, v := range a.Addrs {
		got = append(got, "'"+v.String()+"'")
	}
	if strings.Join(got, ", ") != vips[1] {
		t.Errorf("decode.txt VIPs [%s], parsed %v", vips[1], a.Addrs)
	}
}

// TestAdvertChecksumCoverage pins what the vectors show: the v2 checksum
// covers the VRRP message only, the v3 checksum includes the IPv4
// pseudo-header, so only v3 depends on the addresses it travelled between.
func TestAdvertChecksumCoverage(t *testing.T) {
	other := netip.MustParseAddr("10.99.0.12")
	for _, tc := range advertVectors {
		t.Run(tc.name, func(t *testing.T) {
			msg := advertReadHex(t, tc.name+".vrrp.hex")
			plain := advertRefChecksum(append(append(append([]byte(nil), msg[:6]...), 0, 0), msg[8:]...))
			withPseudo := advertRefChecksum(append(advertRefPseudo(advertVecSrc, advertVecDst, len(msg)), append(append(append([]byte(nil), msg[:6]...), 0, 0), msg[8:]...)...))
			carried := binary.BigEndian.Uint16(msg[6:])

			_, err := ParseAdvert(msg, other, advertVecDst)
			if tc.want.Version == 2 {
				if carried != plain {
					t.Fatalf("v2 checksum %#04x, message-only sum %#04x", carried, plain)
				}
				if err != nil {
					t.Fatalf("v2 from another source: %v", err)
				}
				return
			}
			if carried != withPseudo || carried == plain {
				t.Fatalf("v3 checksum %#04x, with pseudo-header %#04x, without %#04x", carried, withPseudo, plain)
			}
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Reason != ReasonChecksum {
				t.Fatalf("v3 from another source: err %v, want reason %q", err, ReasonChecksum)
			}
		})
	}
}

// advertV6Vector is a VRRPv3 advertisement over IPv6 built by hand: VRID 51,
// priority 150, 1 s, the link-local address first (RFC 5798 5.2.9).
const advertV6Vector = "31339602" + "0064" + "0a6a" +
	"fe800000000000000000000000000001" +
	"20010db8009900000000000000000250"

func TestAdvertIPv6Vector(t *testing.T) {
	msg, err := hex.DecodeString(advertV6Vector)
	if err != nil {
		t.Fatal(err)
	}
	// RFC 8200 8.1 pseudo-header written out byte by byte.
	pseudo := []byte{
		0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x99, 0, 0x11, // fe80::99:11
		0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12, // ff02::12
		0, 0, 0, 40, // upper-layer length
		0, 0, 0, 112, // zero, next header
	}
	zeroed := append([]byte(nil), msg...)
	zeroed[6], zeroed[7] = 0, 0
	if got := advertRefChecksum(append(append([]byte(nil), pseudo...), zeroed...)); got != 0x0a6a {
		t.Fatalf("reference checksum of the hand-built vector %#04x, want 0x0a6a", got)
	}
	if got := internetChecksum(pseudoHeader(advertV6Src, advertV6Dst, len(msg)), zeroed); got != 0x0a6a {
		t.Fatalf("internetChecksum %#04x, want 0x0a6a", got)
	}

	want := &Advert{Version: 3, Type: 1, VRID: 51, Priority: 150, Interval: time.Second,
		Addrs: advertAddrs("fe80::1", "2001:db8:99::250"), Checksum: 0x0a6a}
	a, err := ParseAdvert(msg, advertV6Src, advertV6Dst)
	if err != nil {
		t.Fatalf("ParseAdvert: %v", err)
	}
	if diff := cmp.Diff(want, a, advertCmp); diff != "" {
		t.Fatalf("ParseAdvert mismatch (-want +got):\n%s", diff)
	}
	in := *want
	in.Checksum = 0
	out, err := in.Marshal(advertV6Src, advertV6Dst)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	if !bytes.Equal(out, msg) {
		t.Fatalf("Marshal\n got %x\nwant %x", out, msg)
	}
	// A zone on the source does not enter the pseudo-header.
	if _, err := ParseAdvert(msg, advertV6Src.WithZone("eth0"), advertV6Dst); err != nil {
		t.Fatalf("ParseAdvert with zoned source: %v", err)
	}
}

func TestChecksum(t *testing.T) {
	tests := []struct {
		name  string
		parts [][]byte
		want  uint16
	}{
		// RFC 1071 3: the sum of 0001 f203 f4f5 f6f7 is ddf2.
		{"rfc1071 example", [][]byte{{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}}, ^uint16(0xddf2)},
		{"rfc1071 example split at odd offsets", [][]byte{{0x00}, {0x01, 0xf2, 0x03}, {}, {0xf4}, {0xf5, 0xf6, 0xf7}}, ^uint16(0xddf2)},
		{"empty", nil, 0xffff},
		{"odd length pads with zero", [][]byte{{0x12, 0x34, 0x56}}, ^uint16(0x1234 + 0x5600)},
		{"end-around carry", [][]byte{{0xff, 0xff, 0x00, 0x01}}, ^uint16(0x0001)},
		{"all ones sum gives zero", [][]byte{{0xff, 0x00, 0x00, 0xff}}, 0x0000},
		{"many carries", [][]byte{bytes.Repeat([]byte{0xff, 0xfe}, 70000)}, advertRefChecksum(bytes.Repeat([]byte{0xff, 0xfe}, 70000))},
		{"v2 vector with zero field", [][]byte{{0x21, 0x33, 0x96, 0x01, 0x01, 0x01}, {0x0a, 0x63, 0x00, 0xfa}, []byte("kab12345")}, 0x0872},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := internetChecksum(tc.parts...); got != tc.want {
				t.Fatalf("internetChecksum = %#04x, want %#04x", got, tc.want)
			}
			whole := bytes.Join(tc.parts, nil)
			if got := advertRefChecksum(whole); got != tc.want {
				t.Fatalf("reference checksum = %#04x, want %#04x", got, tc.want)
			}
		})
	}
}

func TestChecksumAgreesWithReference(t *testing.T) {
	// A deterministic byte stream of every length up to 300, split in two
	// at every third offset.
	data := make([]byte, 300)
	x := uint32(2463534242)
	for i := range data {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		data[i] = byte(x)
	}
	for n := 0; n <= len(data); n++ {
		want := advertRefChecksum(data[:n])
		for cut := 0; cut <= n; cut += 3 {
			if got := internetChecksum(data[:cut], data[cut:n]); got != want {
				t.Fatalf("length %d cut %d: %#04x, want %#04x", n, cut, got, want)
			}
		}
	}
}

func TestAdvertRoundTrip(t *testing.T) {
	var many4, many6 []netip.Addr
	for i := range 255 {
		many4 = append(many4, netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}))
		many6 = append(many6, netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(i >> 8), 15: byte(i)}))
	}
	tests := []struct {
		name     string
		src, dst netip.Addr
		a        Advert
		wantLen  int
	}{
		{"v2 no auth", advertVecSrc, advertVecDst,
			Advert{Version: 2, Type: 1, VRID: 1, Priority: 100, Interval: 3 * time.Second, Addrs: advertAddrs("192.0.2.1")}, 8 + 4 + 8},
		{"v2 simple auth max interval", advertVecSrc, advertVecDst,
			Advert{Version: 2, Type: 1, VRID: 255, Priority: 255, Interval: 255 * time.Second, AuthType: AuthSimple,
				AuthData: [8]byte{'s', 'e', 'c', 'r', 'e', 't'}, Addrs: advertAddrs("192.0.2.1", "192.0.2.2")}, 8 + 8 + 8},
		{"v2 no addresses", advertVecSrc, advertVecDst,
			Advert{Version: 2, Type: 1, VRID: 7, Priority: 1, Interval: time.Second}, 16},
		{"v2 255 addresses", advertVecSrc, advertVecDst,
			Advert{Version: 2, Type: 1, VRID: 7, Priority: 1, Interval: time.Second, Addrs: many4}, 8 + 255*4 + 8},
		{"v2 unicast peer", netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("192.0.2.11"),
			Advert{Version: 2, Type: 1, VRID: 9, Priority: 0, Interval: time.Second, Addrs: advertAddrs("192.0.2.100")}, 20},
		{"v3 ipv4 10ms", advertVecSrc, advertVecDst,
			Advert{Version: 3, Type: 1, VRID: 51, Priority: 150, Interval: 10 * time.Millisecond, Addrs: advertAddrs("10.99.0.250")}, 12},
		{"v3 ipv4 max interval", advertVecSrc, advertVecDst,
			Advert{Version: 3, Type: 1, VRID: 51, Priority: 150, Interval: 40950 * time.Millisecond, Addrs: advertAddrs("10.99.0.250")}, 12},
		{"v3 ipv4 unicast", netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("192.0.2.11"),
			Advert{Version: 3, Type: 1, VRID: 51, Priority: 0, Interval: time.Second, Addrs: advertAddrs("192.0.2.100")}, 12},
		{"v3 ipv4 255 addresses", advertVecSrc, advertVecDst,
			Advert{Version: 3, Type: 1, VRID: 2, Priority: 20, Interval: 2 * time.Second, Addrs: many4}, 8 + 255*4},
		{"v3 ipv6", advertV6Src, advertV6Dst,
			Advert{Version: 3, Type: 1, VRID: 51, Priority: 200, Interval: 350 * time.Millisecond,
				Addrs: advertAddrs("fe80::1", "2001:db8::1", "2001:db8::2")}, 8 + 3*16},
		{"v3 ipv6 no addresses", advertV6Src, advertV6Dst,
			Advert{Version: 3, Type: 1, VRID: 51, Priority: 200, Interval: time.Second}, 8},
		{"v3 ipv6 255 addresses", advertV6Src, advertV6Dst,
			Advert{Version: 3, Type: 1, VRID: 51, Priority: 200, Interval: time.Second, Addrs: many6}, 8 + 255*16},
		{"v3 ipv6 unicast global", netip.MustParseAddr("2001:db8::10"), netip.MustParseAddr("2001:db8::11"),
			Advert{Version: 3, Type: 1, VRID: 51, Priority: 200, Interval: time.Second, Addrs: advertAddrs("fe80::1")}, 24},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.a
			out, err := in.Marshal(tc.src, tc.dst)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			if len(out) != tc.wantLen {
				t.Fatalf("length %d, want %d", len(out), tc.wantLen)
			}
			if got := binary.BigEndian.Uint16(out[6:]); got != in.Checksum {
				t.Fatalf("wire checksum %#04x, Advert.Checksum %#04x", got, in.Checksum)
			}
			if fixed := advertFix(out, tc.src, tc.dst); !bytes.Equal(fixed, out) {
				t.Fatalf("checksum %#04x, reference computes %#04x", in.Checksum, binary.BigEndian.Uint16(fixed[6:]))
			}
			got, err := ParseAdvert(out, tc.src, tc.dst)
			if err != nil {
				t.Fatalf("ParseAdvert: %v", err)
			}
			if diff := cmp.Diff(&in, got, advertCmp); diff != "" {
				t.Fatalf("round trip mismatch (-marshalled +parsed):\n%s", diff)
			}
		})
	}
}

// TestAdvertMarshalNormalizes covers the fields Marshal does not take
// verbatim.
func TestAdvertMarshalNormalizes(t *testing.T) {
	t.Run("unset type sends advertisement", func(t *testing.T) {
		a := Advert{Version: 3, VRID: 51, Priority: 150, Interval: time.Second, Addrs: advertAddrs("10.99.0.250")}
		out, err := a.Marshal(advertVecSrc, advertVecDst)
		if err != nil {
			t.Fatal(err)
		}
		if want := advertReadHex(t, "v3_prio150_1s.vrrp.hex"); !bytes.Equal(out, want) {
			t.Fatalf("got %x, want %x", out, want)
		}
	})
	t.Run("v2 auth none sends zero auth data", func(t *testing.T) {
		a := Advert{Version: 2, Type: 1, VRID: 51, Priority: 150, Interval: time.Second, AuthType: AuthNone,
			AuthData: advertPass, Addrs: advertAddrs("10.99.0.250")}
		out, err := a.Marshal(advertVecSrc, advertVecDst)
		if err != nil {
			t.Fatal(err)
		}
		want := advertFix([]byte{0x21, 51, 150, 1, 0, 1, 0, 0, 10, 99, 0, 250, 0, 0, 0, 0, 0, 0, 0, 0}, advertVecSrc, advertVecDst)
		if !bytes.Equal(out, want) {
			t.Fatalf("got %x, want %x", out, want)
		}
	})
	t.Run("v3 ignores auth data", func(t *testing.T) {
		a := Advert{Version: 3, Type: 1, VRID: 51, Priority: 150, Interval: time.Second, AuthData: advertPass,
			Addrs: advertAddrs("10.99.0.250")}
		out, err := a.Marshal(advertVecSrc, advertVecDst)
		if err != nil {
			t.Fatal(err)
		}
		if want := advertReadHex(t, "v3_prio150_1s.vrrp.hex"); !bytes.Equal(out, want) {
			t.Fatalf("got %x, want %x", out, want)
		}
	})
	t.Run("zones are not carried", func(t *testing.T) {
		a := Advert{Version: 3, Type: 1, VRID: 51, Priority: 150, Interval: time.Second,
			Addrs: []netip.Addr{netip.MustParseAddr("fe80::1%eth0"), netip.MustParseAddr("2001:db8:99::250")}}
		out, err := a.Marshal(advertV6Src.WithZone("eth0"), advertV6Dst)
		if err != nil {
			t.Fatal(err)
		}
		if want, _ := hex.DecodeString(advertV6Vector); !bytes.Equal(out, want) {
			t.Fatalf("got %x, want %x", out, want)
		}
	})
}

// advertZeroSumV2 builds a v2 message whose correct checksum is 0x0000, by
// choosing the low half of its address to bring the sum to all ones.
func advertZeroSumV2() []byte {
	msg := []byte{0x21, 51, 150, 1, 0, 1, 0, 0, 10, 99, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	partial := ^advertRefChecksum(msg) // folded sum, 0xffff for a non-zero multiple
	binary.BigEndian.PutUint16(msg[10:], 0xffff-partial)
	return msg
}

// TestParseAdvertAccepts covers packets that are valid although Marshal
// would not produce them byte for byte.
func TestParseAdvertAccepts(t *testing.T) {
	v3 := advertReadHex(t, "v3_prio150_1s.vrrp.hex")
	v2 := advertReadHex(t, "v2_pass_prio150.vrrp.hex")

	t.Run("v3 rsvd bits ignored", func(t *testing.T) {
		b := append([]byte(nil), v3...)
		b[4] |= 0xf0
		a, err := ParseAdvert(advertFix(b, advertVecSrc, advertVecDst), advertVecSrc, advertVecDst)
		if err != nil {
			t.Fatal(err)
		}
		if a.Interval != time.Second {
			t.Fatalf("interval %v, want 1s", a.Interval)
		}
	})
	t.Run("v2 auth none data ignored", func(t *testing.T) {
		b := append([]byte(nil), v2...)
		b[4] = AuthNone
		a, err := ParseAdvert(advertFix(b, advertVecSrc, advertVecDst), advertVecSrc, advertVecDst)
		if err != nil {
			t.Fatal(err)
		}
		if a.AuthType != AuthNone || a.AuthData != [8]byte{} {
			t.Fatalf("auth type %d data %q, want 0 and zero", a.AuthType, a.AuthData[:])
		}
	})
	t.Run("v3 with no addresses", func(t *testing.T) {
		b := advertFix([]byte{0x31, 51, 150, 0, 0, 100, 0, 0}, advertVecSrc, advertVecDst)
		a, err := ParseAdvert(b, advertVecSrc, advertVecDst)
		if err != nil {
			t.Fatal(err)
		}
		if a.Addrs != nil {
			t.Fatalf("addrs %v, want none", a.Addrs)
		}
	})
	t.Run("checksum negative zero", func(t *testing.T) {
		b := advertZeroSumV2()
		a, err := ParseAdvert(b, advertVecSrc, advertVecDst)
		if err != nil || a.Checksum != 0x0000 {
			t.Fatalf("canonical zero: advert %+v, err %v", a, err)
		}
		// RFC 1071 verification sums the field too, so 0xffff, the other
		// ones'-complement zero, verifies as well.
		b[6], b[7] = 0xff, 0xff
		a, err = ParseAdvert(b, advertVecSrc, advertVecDst)
		if err != nil || a.Checksum != 0xffff {
			t.Fatalf("negative zero: advert %+v, err %v", a, err)
		}
		out, err := a.Marshal(advertVecSrc, advertVecDst)
		if err != nil || binary.BigEndian.Uint16(out[6:]) != 0 {
			t.Fatalf("re-marshal %x, err %v; want checksum 0x0000", out, err)
		}
	})
}

func TestParseAdvertErrors(t *testing.T) {
	v2 := advertReadHex(t, "v2_pass_prio150.vrrp.hex")
	v3 := advertReadHex(t, "v3_prio150_1s.vrrp.hex")
	v6, err := hex.DecodeString(advertV6Vector)
	if err != nil {
		t.Fatal(err)
	}
	// mod copies b, applies f and recomputes the checksum for src/dst.
	mod := func(b []byte, src, dst netip.Addr, f func([]byte) []byte) []byte {
		return advertFix(f(append([]byte(nil), b...)), src, dst)
	}
	v2mod := func(f func([]byte) []byte) []byte { return mod(v2, advertVecSrc, advertVecDst, f) }
	v3mod := func(f func([]byte) []byte) []byte { return mod(v3, advertVecSrc, advertVecDst, f) }
	set := func(i int, v byte) func([]byte) []byte {
		return func(b []byte) []byte { b[i] = v; return b }
	}
	v2over6 := mod(v6, advertV6Src, advertV6Dst, func(b []byte) []byte {
		b[0] = 0x21
		return append(b, make([]byte, 8)...)
	})

	tests := []struct {
		name     string
		b        []byte
		src, dst netip.Addr
		reason   Reason
		msg      string // exact ParseError.Msg; empty: not checked
	}{
		{"empty", nil, advertVecSrc, advertVecDst, ReasonLength, "length 0, want at least 8 (header)"},
		{"header cut", v2[:7], advertVecSrc, advertVecDst, ReasonLength, "length 7, want at least 8 (header)"},
		{"v2 truncated auth", v2[:len(v2)-1], advertVecSrc, advertVecDst, ReasonLength, "length 19, want 20 for version 2 with count 1 over IPv4"},
		{"v2 without auth data", v2mod(func(b []byte) []byte { return b[:12] }), advertVecSrc, advertVecDst, ReasonLength, ""},
		{"v2 trailing bytes", v2mod(func(b []byte) []byte { return append(b, 0, 0) }), advertVecSrc, advertVecDst, ReasonLength,
			"length 22, want 20 for version 2 with count 1 over IPv4"},
		{"v3 truncated address", v3[:11], advertVecSrc, advertVecDst, ReasonLength, ""},
		{"v3 trailing v2-style auth data", v3mod(func(b []byte) []byte { return append(b, make([]byte, 8)...) }), advertVecSrc, advertVecDst, ReasonLength,
			"length 20, want 12 for version 3 with count 1 over IPv4"},
		{"count larger than addresses", v3mod(set(3, 2)), advertVecSrc, advertVecDst, ReasonLength, ""},
		{"count zero with an address", v3mod(set(3, 0)), advertVecSrc, advertVecDst, ReasonLength, ""},
		{"count 255", v2mod(set(3, 255)), advertVecSrc, advertVecDst, ReasonLength, ""},
		{"ipv6 address cut to ipv4 size", mod(v6, advertV6Src, advertV6Dst, func(b []byte) []byte { return b[:12] }), advertV6Src, advertV6Dst, ReasonLength, ""},
		{"ipv4 vector read as ipv6", v3, advertV6Src, advertV6Dst, ReasonLength, "length 12, want 24 for version 3 with count 1 over IPv6"},
		{"version 0", v3mod(set(0, 0x01)), advertVecSrc, advertVecDst, ReasonVersion, "version 0, want 2 or 3"},
		{"version 1", v2mod(set(0, 0x11)), advertVecSrc, advertVecDst, ReasonVersion, "version 1, want 2 or 3"},
		{"version 4", v3mod(set(0, 0x41)), advertVecSrc, advertVecDst, ReasonVersion, "version 4, want 2 or 3"},
		{"version 15", v3mod(set(0, 0xf1)), advertVecSrc, advertVecDst, ReasonVersion, ""},
		{"version checked before length", []byte{0x41, 51, 150, 1, 0, 1, 0, 0}, advertVecSrc, advertVecDst, ReasonVersion, ""},
		{"v2 over ipv6", v2over6, advertV6Src, advertV6Dst, ReasonVersion, "version 2 over IPv6 from fe80::99:11, VRRPv2 is IPv4 only"},
		{"type 0", v2mod(set(0, 0x20)), advertVecSrc, advertVecDst, ReasonType, "type 0, want 1 (advertisement)"},
		{"type 2", v3mod(set(0, 0x32)), advertVecSrc, advertVecDst, ReasonType, "type 2, want 1 (advertisement)"},
		{"type 15", v3mod(set(0, 0x3f)), advertVecSrc, advertVecDst, ReasonType, ""},
		{"header cut before type", []byte{0x32, 51, 150, 9}, advertVecSrc, advertVecDst, ReasonLength, ""},
		{"type of unknown layout", []byte{0x32, 51, 150, 9, 0, 0, 0, 0}, advertVecSrc, advertVecDst, ReasonType, ""},
		{"v2 bad checksum", func() []byte { b := append([]byte(nil), v2...); b[7]++; return b }(), advertVecSrc, advertVecDst, ReasonChecksum,
			"checksum 0x0873, want 0x0872"},
		{"v2 corrupt priority", func() []byte { b := append([]byte(nil), v2...); b[2] = 151; return b }(), advertVecSrc, advertVecDst, ReasonChecksum,
			"checksum 0x0872, want 0x0772"},
		{"v2 corrupt password", func() []byte { b := append([]byte(nil), v2...); b[19] = '6'; return b }(), advertVecSrc, advertVecDst, ReasonChecksum, ""},
		{"v3 checksum without pseudo-header", func() []byte {
			b := append([]byte(nil), v3...)
			b[6], b[7] = 0, 0
			binary.BigEndian.PutUint16(b[6:], advertRefChecksum(b))
			return b
		}(), advertVecSrc, advertVecDst, ReasonChecksum, "checksum 0x2d0a, want 0x420d"},
		{"v3 checksum for another destination", v3, advertVecSrc, netip.MustParseAddr("10.99.0.12"), ReasonChecksum, ""},
		{"v3 ipv6 bad checksum", func() []byte { b := append([]byte(nil), v6...); b[len(b)-1] ^= 1; return b }(), advertV6Src, advertV6Dst, ReasonChecksum, ""},
		{"v3 ipv6 other source", v6, netip.MustParseAddr("fe80::99:12"), advertV6Dst, ReasonChecksum, ""},
		{"v2 auth type 2", v2mod(set(4, 2)), advertVecSrc, advertVecDst, ReasonAuthType, "auth type 2, want 0 (none) or 1 (simple)"},
		{"v2 auth type 255", v2mod(set(4, 255)), advertVecSrc, advertVecDst, ReasonAuthType, ""},
		{"v2 adver int 0", v2mod(set(5, 0)), advertVecSrc, advertVecDst, ReasonInterval, "adver int 0, want 1..255 seconds"},
		{"v3 max adver int 0", v3mod(func(b []byte) []byte { b[4], b[5] = 0, 0; return b }), advertVecSrc, advertVecDst, ReasonInterval,
			"max adver int 0, want 1..4095 centiseconds"},
		{"v3 max adver int 0 with rsvd set", v3mod(func(b []byte) []byte { b[4], b[5] = 0xf0, 0; return b }), advertVecSrc, advertVecDst, ReasonInterval, ""},
		{"source ipv4 destination ipv6", v3, advertVecSrc, advertV6Dst, ReasonFamily,
			"source 10.99.0.11 and destination ff02::12 are of different address families"},
		{"source ipv6 destination ipv4", v3, advertV6Src, advertVecDst, ReasonFamily, ""},
		{"invalid source", v3, netip.Addr{}, advertVecDst, ReasonFamily, "source address is invalid"},
		{"invalid destination", v2, advertVecSrc, netip.Addr{}, ReasonFamily, "destination address is invalid"},
		{"ipv4-mapped source", v3, netip.MustParseAddr("::ffff:10.99.0.11"), advertVecDst, ReasonFamily, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := ParseAdvert(tc.b, tc.src, tc.dst)
			if err == nil {
				t.Fatalf("ParseAdvert(%x) = %+v, want reason %q", tc.b, a, tc.reason)
			}
			if a != nil {
				t.Fatalf("ParseAdvert returned an advert with error %v", err)
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v (%T) is not a *ParseError", err, err)
			}
			if pe.Reason != tc.reason {
				t.Fatalf("reason %q (%v), want %q", pe.Reason, err, tc.reason)
			}
			if tc.msg != "" && pe.Msg != tc.msg {
				t.Fatalf("message %q, want %q", pe.Msg, tc.msg)
			}
		})
	}
}

func TestAdvertMarshalErrors(t *testing.T) {
	v2 := Advert{Version: 2, Type: 1, VRID: 51, Priority: 150, Interval: time.Second,
		AuthType: AuthSimple, AuthData: advertPass, Addrs: advertAddrs("10.99.0.250")}
	v3 := Advert{Version: 3, Type: 1, VRID: 51, Priority: 150, Interval: time.Second, Addrs: advertAddrs("10.99.0.250")}
	v3v6 := Advert{Version: 3, Type: 1, VRID: 51, Priority: 150, Interval: time.Second, Addrs: advertAddrs("fe80::1")}
	with := func(a Advert, f func(*Advert)) *Advert { f(&a); return &a }
	tooMany := make([]netip.Addr, 256)
	for i := range tooMany {
		tooMany[i] = netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
	}

	tests := []struct {
		name     string
		a        *Advert
		src, dst netip.Addr
		want     string // the error, exactly
	}{
		{"v2 fractional seconds", with(v2, func(a *Advert) { a.Interval = 1500 * time.Millisecond }), advertVecSrc, advertVecDst,
			"vrrp: marshal advert vrid 51: interval 1.5s is not a whole number of seconds in 1s..255s"},
		{"v2 100ms", with(v2, func(a *Advert) { a.Interval = 100 * time.Millisecond }), advertVecSrc, advertVecDst,
			"vrrp: marshal advert vrid 51: interval 100ms is not a whole number of seconds in 1s..255s"},
		{"v2 zero interval", with(v2, func(a *Advert) { a.Interval = 0 }), advertVecSrc, advertVecDst,
			"vrrp: marshal advert vrid 51: interval 0s is not a whole number of seconds in 1s..255s"},
		{"v2 negative interval", with(v2, func(a *Advert) { a.Interval = -time.Second }), advertVecSrc, advertVecDst,
			"vrrp: marshal advert vrid 51: interval -1s is not a whole number of seconds in 1s..255s"},
		{"v2 256s", with(v2, func(a *Advert) { a.Interval = 256 * time.Second }), advertVecSrc, advertVecDst,
			"vrrp: marshal advert vrid 51: interval 4m16s is not a whole number of seconds in 1s..255s"},
		{"v3 5ms", with(v3, func(a *Advert) { a.Interval = 5 * time.Millisecond }), advertVecSrc, advertVecDst,
			"vrrp: marshal advert vrid 51: interval 5ms is not a multiple of 10ms in 10ms..40.95s"},
		{"v3 15ms", with(v3, func(a *Advert) { a.Interval = 15 * time.Millisecond }), advertVecSrc, advertVecDst,
			"vrrp: marshal advert vrid 51: interval 15ms is not a multiple of 10ms in 10ms..40.95s"},
		{"v3 zero interval", with(v3, func(a *Advert) { a.Interval = 0 }), advertVecSrc, advertVecDst,
			"vrrp: marshal advert vrid 51: interval 0s is not a multiple of 10ms in 10ms..40.95s"},
		{"v3 4096cs", with(v3, func(a *Advert) { a.Interval = 40960 * time.Millisecond }), advertVecSrc, advertVecDst,
			"vrrp: marshal advert vrid 51: interval 40.96s is not a multiple of 10ms in 10ms..40.95s"},
		{"too many addresses", with(v3, func(a *Advert) { a.Addrs = tooMany }), advertVecSrc, advertVecDst,
			"vrrp: marshal advert vrid 51: 256 addresses, at most 255 fit in Count IP Addrs"},
		{"ipv6 address in ipv4 advert", with(v3, func(a *Advert) { a.Addrs = advertAddrs("10.99.0.250", "2001:db8::1") }), advertVecSrc, advertVecDst,
			"vrrp: marshal advert vrid 51: address 1 (2001:db8::1) is not of the family of source 10.99.0.11"},
		{"ipv4 address in ipv6 advert", with(v3v6, func(a *Advert) { a.Addrs = advertAddrs("fe80::1", "10.99.0.250") }), advertV6Src, advertV6Dst,
			"vrrp: marshal advert vrid 51: address 1 (10.99.0.250) is not of the family of source fe80::99:11"},
		{"ipv4-mapped address in ipv4 advert", with(v2, func(a *Advert) { a.Addrs = advertAddrs("::ffff:10.99.0.250") }), advertVecSrc, advertVecDst,
			"vrrp: marshal advert vrid 51: address 0 (::ffff:10.99.0.250) is not of the family of source 10.99.0.11"},
		{"invalid address", with(v3, func(a *Advert) { a.Addrs = []netip.Addr{{}} }), advertVecSrc, advertVecDst,
			"vrrp: marshal advert vrid 51: address 0 is invalid"},
		{"mixed endpoints", &v3, advertVecSrc, advertV6Dst,
			"vrrp: marshal advert vrid 51: source 10.99.0.11 and destination ff02::12 are of different address families"},
		{"invalid source", &v3, netip.Addr{}, advertVecDst,
			"vrrp: marshal advert vrid 51: source address is invalid"},
		{"invalid destination", &v3, advertVecSrc, netip.Addr{},
			"vrrp: marshal advert vrid 51: destination address is invalid"},
		{"v2 over ipv6", with(v3v6, func(a *Advert) { a.Version = 2 }), advertV6Src, advertV6Dst,
			"vrrp: marshal advert vrid 51: version 2 over IPv6 (source fe80::99:11): VRRPv2 (RFC 3768) is IPv4 only, use version 3"},
		{"version 4", with(v3, func(a *Advert) { a.Version = 4 }), advertVecSrc, advertVecDst,
			"vrrp: marshal advert vrid 51: version 4, want 2 or 3"},
		{"version unset", with(v3, func(a *Advert) { a.Version = 0 }), advertVecSrc, advertVecDst,
			"vrrp: marshal advert vrid 51: version 0, want 2 or 3"},
		{"type 2", with(v3, func(a *Advert) { a.Type = 2 }), advertVecSrc, advertVecDst,
			"vrrp: marshal advert vrid 51: type 2, want 1 (advertisement)"},
		{"v2 auth type 2", with(v2, func(a *Advert) { a.AuthType = 2 }), advertVecSrc, advertVecDst,
			"vrrp: marshal advert vrid 51: auth type 2, want 0 (none) or 1 (simple)"},
		{"v3 with simple auth", with(v3, func(a *Advert) { a.AuthType = AuthSimple }), advertVecSrc, advertVecDst,
			"vrrp: marshal advert vrid 51: auth type 1, but VRRPv3 has no authentication (RFC 5798 9)"},
		{"nil advert", nil, advertVecSrc, advertVecDst, "vrrp: marshal advert: nil advert"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.a != nil {
				tc.a.Checksum = 0xbeef
			}
			out, err := tc.a.Marshal(tc.src, tc.dst)
			if err == nil {
				t.Fatalf("Marshal = %x, want error %q", out, tc.want)
			}
			if err.Error() != tc.want {
				t.Fatalf("error %q\n want %q", err, tc.want)
			}
			if out != nil {
				t.Fatalf("Marshal returned %x with an error", out)
			}
			if tc.a != nil && tc.a.Checksum != 0xbeef {
				t.Fatalf("failed Marshal changed Checksum to %#04x", tc.a.Checksum)
			}
		})
	}
}
