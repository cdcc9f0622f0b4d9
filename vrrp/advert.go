package vrrp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Wire layout shared by VRRPv2 (RFC 3768 5.1) and VRRPv3 (RFC 5798 5.1):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|Version| Type  | Virtual Rtr ID|   Priority    | Count IP Addrs|
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|   Auth Type   |   Adver Int   |          Checksum             |  v2
//	|(rsvd) |     Max Adver Int     |          Checksum             |  v3
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                   IPvX Address(es), Count times               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|          Authentication Data (8 octets, v2 only)              |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
const (
	advertHeaderLen   = 8
	advertAuthDataLen = 8
	advertChecksumOff = 6

	// maxAdvertAddrs is the largest Count IP Addrs an 8-bit field holds.
	maxAdvertAddrs = 255
	// maxV2AdverInt is the largest v2 Adver Int, in seconds (8 bits).
	maxV2AdverInt = 255
	// maxV3AdverInt is the largest v3 Max Adver Int, in centiseconds
	// (12 bits, RFC 5798 5.2.7).
	maxV3AdverInt = 0x0fff
	// v3IntervalUnit is the unit of the v3 Max Adver Int field.
	v3IntervalUnit = 10 * time.Millisecond
)

// advertLen returns the exact length of an advertisement of the given
// version carrying count addresses of addrLen bytes each: the fixed header,
// the addresses and, for VRRPv2, the 8 octets of Authentication Data, which
// RFC 3768 5.1 and 7.1 make part of every v2 message whatever the Auth Type.
func advertLen(version, count, addrLen int) int {
	n := advertHeaderLen + count*addrLen
	if version == 2 {
		n += advertAuthDataLen
	}
	return n
}

// Marshal encodes a as a VRRP message (no IP header) sent from src to dst,
// and stores the computed checksum in a.Checksum.
//
// src and dst must be of the same address family, and so must every address
// in a.Addrs: IPv4 addresses are encoded in 4 octets, IPv6 addresses
// (including IPv4-mapped ones) in 16. Zones are not carried.
//
// Version 2 (RFC 3768) is IPv4 only. Its Interval must be a whole number of
// seconds in 1s..255s and its AuthType AuthNone or AuthSimple; the 8 octets of
// Authentication Data are always emitted, zero for AuthNone (RFC 3768
// 5.3.10) and a.AuthData for AuthSimple. The checksum covers the VRRP
// message only (RFC 3768 5.3.8).
//
// Version 3 (RFC 5798) runs over IPv4 or IPv6. Its Interval must be a
// multiple of 10ms in 10ms..40.95s, AuthType must be AuthNone and AuthData is
// not sent. The checksum includes the IPv4 or IPv6 pseudo-header built from
// src and dst (RFC 5798 5.2.8).
//
// Type must be TypeAdvertisement or left zero; the message always carries
// TypeAdvertisement. VRID and Priority are encoded as given: range checks
// against the configuration belong to the caller.
func (a *Advert) Marshal(src, dst netip.Addr) ([]byte, error) {
	if a == nil {
		return nil, errors.New("vrrp: marshal advert: nil advert")
	}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("vrrp: marshal advert vrid %d: "+format, append([]any{a.VRID}, args...)...)
	}

	if a.Type != 0 && a.Type != TypeAdvertisement {
		return nil, fail("type %d, want %d (advertisement)", a.Type, TypeAdvertisement)
	}
	v6, err := endpointsFamily(src, dst)
	if err != nil {
		return nil, fail("%v", err)
	}
	addrLen := 4
	if v6 {
		addrLen = 16
	}

	var intervalField uint16
	switch a.Version {
	case 2:
		// RFC 3768 5.3.7: Adver Int is in seconds.
		if v6 {
			return nil, fail("version 2 over IPv6 (source %s): VRRPv2 (RFC 3768) is IPv4 only, use version 3", src)
		}
		if a.Interval%time.Second != 0 || a.Interval < time.Second || a.Interval > maxV2AdverInt*time.Second {
			return nil, fail("interval %v is not a whole number of seconds in 1s..%ds", a.Interval, maxV2AdverInt)
		}
		if a.AuthType != AuthNone && a.AuthType != AuthSimple {
			return nil, fail("auth type %d, want %d (none) or %d (simple)", a.AuthType, AuthNone, AuthSimple)
		}
		intervalField = uint16(a.AuthType)<<8 | uint16(a.Interval/time.Second)
	case 3:
		// RFC 5798 5.2.7: Max Adver Int is 12 bits of centiseconds.
		if a.Interval%v3IntervalUnit != 0 || a.Interval < v3IntervalUnit || a.Interval > maxV3AdverInt*v3IntervalUnit {
			return nil, fail("interval %v is not a multiple of 10ms in 10ms..%v", a.Interval, maxV3AdverInt*v3IntervalUnit)
		}
		if a.AuthType != AuthNone {
			return nil, fail("auth type %d, but VRRPv3 has no authentication (RFC 5798 9)", a.AuthType)
		}
		intervalField = uint16(a.Interval / v3IntervalUnit) // rsvd nibble zero (RFC 5798 5.2.6)
	default:
		return nil, fail("version %d, want 2 or 3", a.Version)
	}

	if len(a.Addrs) > maxAdvertAddrs {
		return nil, fail("%d addresses, at most %d fit in Count IP Addrs", len(a.Addrs), maxAdvertAddrs)
	}
	for i, addr := range a.Addrs {
		if !addr.IsValid() {
			return nil, fail("address %d is invalid", i)
		}
		if addr.Is6() != v6 {
			return nil, fail("address %d (%s) is not of the family of source %s", i, addr, src)
		}
	}

	b := make([]byte, advertLen(a.Version, len(a.Addrs), addrLen))
	b[0] = byte(a.Version)<<4 | TypeAdvertisement
	b[1] = a.VRID
	b[2] = a.Priority
	b[3] = byte(len(a.Addrs))
	binary.BigEndian.PutUint16(b[4:], intervalField)
	off := advertHeaderLen
	for _, addr := range a.Addrs {
		if v6 {
			a16 := addr.As16()
			off += copy(b[off:], a16[:])
		} else {
			a4 := addr.As4()
			off += copy(b[off:], a4[:])
		}
	}
	if a.Version == 2 && a.AuthType == AuthSimple {
		copy(b[off:], a.AuthData[:])
	}

	a.Checksum = advertChecksum(a.Version, src, dst, b)
	binary.BigEndian.PutUint16(b[advertChecksumOff:], a.Checksum)
	return b, nil
}

// ParseAdvert decodes the VRRP message b received from src and sent to dst.
// b must be the IP payload exactly as bounded by the IPv4 Total Length or
// IPv6 Payload Length, with no link-layer padding.
//
// Checks run in this order, and every rejection is a *ParseError:
//
//   - src and dst are valid and of one family (ReasonFamily);
//   - the fixed header is present (ReasonLength);
//   - Version is 2 or 3, and not 2 over IPv6 (ReasonVersion; RFC 3768 7.1,
//     RFC 5798 7.1);
//   - Type is TypeAdvertisement (ReasonType; RFC 3768 5.3.2, RFC 5798 5.2.2:
//     unknown types MUST be discarded, and their layout is unknown, so this
//     comes before the length check);
//   - the length is exactly that of the header, Count IP Addrs addresses
//     and, for v2, the 8 octets of Authentication Data (ReasonLength);
//   - the checksum verifies, over the message for v2 and over pseudo-header
//     plus message for v3 (ReasonChecksum; RFC 3768 5.3.8, RFC 5798 5.2.8);
//   - the v2 Auth Type is AuthNone or AuthSimple (ReasonAuthType; RFC 3768
//     5.3.6: unknown types MUST be discarded; 2, IP AH, is not supported, and
//     1, the RFC 2338 simple password, is kept for keepalived);
//   - the interval is not zero (ReasonInterval).
//
// Length policy. RFC 3768 7.1 and RFC 5798 7.1 only set a lower bound ("MUST
// verify that the received packet contains the complete VRRP packet
// (including fixed fields, IP Address(es), and Authentication Data)"). vigil
// also rejects bytes beyond that, because keepalived 2.2.7 emits exactly the
// computed length and drops anything longer ("vrrp packet too long"), and
// because trailing bytes would make "the entire VRRP message" covered by the
// checksum ambiguous: keepalived sums only the computed length, while for
// IPv6 the kernel's checksum offload sums the whole payload. Ethernet padding
// that newer keepalived tolerates never reaches this function, since the
// caller cuts b at the IP length.
//
// The checksum is verified as RFC 1071 prescribes, by summing the message
// including the carried field, so both ones'-complement zeros (0x0000 and
// 0xffff) are accepted where the computed checksum is zero.
//
// The returned Advert carries the checksum as received. Fields the RFCs say
// to ignore on reception are not decoded: the v3 rsvd bits (RFC 5798 5.2.6)
// and the v2 Authentication Data when Auth Type is AuthNone (RFC 3768
// 5.3.10), which is left zero.
func ParseAdvert(b []byte, src, dst netip.Addr) (*Advert, error) {
	v6, err := endpointsFamily(src, dst)
	if err != nil {
		return nil, &ParseError{Reason: ReasonFamily, Msg: err.Error()}
	}
	if len(b) < advertHeaderLen {
		return nil, &ParseError{Reason: ReasonLength, Msg: fmt.Sprintf("length %d, want at least %d (header)", len(b), advertHeaderLen)}
	}

	version := int(b[0] >> 4)
	switch {
	case version != 2 && version != 3:
		return nil, &ParseError{Reason: ReasonVersion, Msg: fmt.Sprintf("version %d, want 2 or 3", version)}
	case version == 2 && v6:
		return nil, &ParseError{Reason: ReasonVersion, Msg: fmt.Sprintf("version 2 over IPv6 from %s, VRRPv2 is IPv4 only", src)}
	}
	if typ := int(b[0] & 0x0f); typ != TypeAdvertisement {
		return nil, &ParseError{Reason: ReasonType, Msg: fmt.Sprintf("type %d, want %d (advertisement)", typ, TypeAdvertisement)}
	}

	addrLen := 4
	if v6 {
		addrLen = 16
	}
	count := int(b[3])
	if want := advertLen(version, count, addrLen); len(b) != want {
		return nil, &ParseError{Reason: ReasonLength, Msg: fmt.Sprintf("length %d, want %d for version %d with count %d over %s",
			len(b), want, version, count, familyName(v6))}
	}

	carried := binary.BigEndian.Uint16(b[advertChecksumOff:])
	if !advertChecksumOK(version, src, dst, b) {
		want := advertChecksum(version, src, dst, b)
		return nil, &ParseError{Reason: ReasonChecksum, Msg: fmt.Sprintf("checksum %#04x, want %#04x", carried, want)}
	}

	a := &Advert{
		Version:  version,
		Type:     TypeAdvertisement,
		VRID:     b[1],
		Priority: b[2],
		Checksum: carried,
	}
	if version == 2 {
		a.AuthType = b[4]
		if a.AuthType != AuthNone && a.AuthType != AuthSimple {
			return nil, &ParseError{Reason: ReasonAuthType, Msg: fmt.Sprintf("auth type %d, want %d (none) or %d (simple)", a.AuthType, AuthNone, AuthSimple)}
		}
		if b[5] == 0 {
			return nil, &ParseError{Reason: ReasonInterval, Msg: "adver int 0, want 1..255 seconds"}
		}
		a.Interval = time.Duration(b[5]) * time.Second
		if a.AuthType == AuthSimple {
			copy(a.AuthData[:], b[len(b)-advertAuthDataLen:])
		}
	} else {
		cs := binary.BigEndian.Uint16(b[4:]) & maxV3AdverInt
		if cs == 0 {
			return nil, &ParseError{Reason: ReasonInterval, Msg: "max adver int 0, want 1..4095 centiseconds"}
		}
		a.Interval = time.Duration(cs) * v3IntervalUnit
	}

	if count > 0 {
		a.Addrs = make([]netip.Addr, count)
		for i := range a.Addrs {
			raw := b[advertHeaderLen+i*addrLen : advertHeaderLen+(i+1)*addrLen]
			if v6 {
				a.Addrs[i] = netip.AddrFrom16([16]byte(raw))
			} else {
				a.Addrs[i] = netip.AddrFrom4([4]byte(raw))
			}
		}
	}
	return a, nil
}

// endpointsFamily reports whether src and dst are IPv6, or an error if
// either is invalid or they differ in family. IPv4-mapped IPv6 addresses
// count as IPv6; callers holding socket addresses should Unmap them.
func endpointsFamily(src, dst netip.Addr) (v6 bool, err error) {
	switch {
	case !src.IsValid():
		return false, errors.New("source address is invalid")
	case !dst.IsValid():
		return false, errors.New("destination address is invalid")
	case src.Is6() != dst.Is6():
		return false, fmt.Errorf("source %s and destination %s are of different address families", src, dst)
	}
	return src.Is6(), nil
}

func familyName(v6 bool) string {
	if v6 {
		return "IPv6"
	}
	return "IPv4"
}

// pseudoHeader returns the pseudo-header the VRRPv3 checksum includes
// (RFC 5798 5.2.8): for IPv4 the RFC 768 layout (source, destination, zero,
// protocol, 16-bit length), for IPv6 the RFC 8200 8.1 layout (source,
// destination, 32-bit upper-layer length, 24 zero bits, next header), with
// protocol 112 and the VRRP message length.
func pseudoHeader(src, dst netip.Addr, msgLen int) []byte {
	if src.Is6() {
		ph := make([]byte, 40)
		s, d := src.As16(), dst.As16()
		copy(ph[0:], s[:])
		copy(ph[16:], d[:])
		binary.BigEndian.PutUint32(ph[32:], uint32(msgLen))
		ph[39] = IPProtocol
		return ph
	}
	ph := make([]byte, 12)
	s, d := src.As4(), dst.As4()
	copy(ph[0:], s[:])
	copy(ph[4:], d[:])
	ph[9] = IPProtocol
	binary.BigEndian.PutUint16(ph[10:], uint16(msgLen))
	return ph
}

// advertChecksum returns the checksum msg must carry: the Internet checksum
// of the message with its checksum field taken as zero, preceded for v3 by
// the pseudo-header (RFC 3768 5.3.8, RFC 5798 5.2.8).
func advertChecksum(version int, src, dst netip.Addr, msg []byte) uint16 {
	head, tail := msg[:advertChecksumOff], msg[advertChecksumOff+2:]
	if version == 3 {
		return internetChecksum(pseudoHeader(src, dst, len(msg)), head, tail)
	}
	return internetChecksum(head, tail)
}

// advertChecksumOK verifies msg as RFC 1071 section 1 describes: the sum over
// everything, the carried checksum included, must be all ones.
func advertChecksumOK(version int, src, dst netip.Addr, msg []byte) bool {
	if version == 3 {
		return internetChecksum(pseudoHeader(src, dst, len(msg)), msg) == 0
	}
	return internetChecksum(msg) == 0
}

// internetChecksum returns the RFC 1071 Internet checksum of the
// concatenation of parts: the ones' complement of the ones'-complement sum of
// the bytes taken as big-endian 16-bit words, an odd final byte padded with
// zero. Parts may have any length. Carries are accumulated in a uint64 and
// folded once at the end (RFC 1071 2(B)), which cannot overflow for any
// input Go can hold in memory.
func internetChecksum(parts ...[]byte) uint16 {
	var sum uint64
	odd := false // the previous part ended on the high byte of a word
	for _, p := range parts {
		if odd && len(p) > 0 {
			sum += uint64(p[0])
			p = p[1:]
			odd = false
		}
		for len(p) >= 2 {
			sum += uint64(binary.BigEndian.Uint16(p))
			p = p[2:]
		}
		if len(p) == 1 {
			sum += uint64(p[0]) << 8
			odd = true
		}
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}
