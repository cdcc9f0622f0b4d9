package vrrp

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzParseAdvert checks that ParseAdvert never panics, rejects only with a
// known Reason, and that whatever it accepts Marshal reproduces: byte for
// byte, except for the fields the RFCs say to ignore on reception (v3 rsvd
// bits, v2 Authentication Data under AuthNone) and the negative-zero
// checksum, and that the reproduction parses to the same Advert.
//
// With fix set, the checksum of the input is first made valid by the
// reference implementation, so that mutations reach the checks and decoding
// behind the checksum instead of stopping there.
func FuzzParseAdvert(f *testing.F) {
	for _, v := range advertVectors {
		f.Add(advertReadHex(f, v.name+".vrrp.hex"), false, false)
	}
	v6, err := hex.DecodeString(advertV6Vector)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(v6, true, false)
	f.Add(advertZeroSumV2(), false, false)
	f.Add([]byte{}, false, false)
	f.Add([]byte{0x31, 51, 150, 0, 0xf0, 100, 0, 0}, true, true)
	f.Add([]byte{0x31, 51, 150, 0, 0x0f, 0xff, 0, 0}, false, true)
	f.Add([]byte{0x21, 51, 150, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, false, true)
	f.Add([]byte{0x21, 51, 150, 0, 0, 1, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8}, false, true)

	f.Fuzz(func(t *testing.T, b []byte, ipv6, fix bool) {
		src, dst := advertVecSrc, advertVecDst
		if ipv6 {
			src, dst = advertV6Src, advertV6Dst
		}
		if fix {
			b = advertFix(b, src, dst)
		}
		in := slices.Clone(b)
		a, err := ParseAdvert(b, src, dst)
		if !bytes.Equal(b, in) {
			t.Fatalf("ParseAdvert modified its input")
		}
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v (%T) is not a *ParseError", err, err)
			}
			if !slices.Contains(Reasons, pe.Reason) {
				t.Fatalf("unknown reason %q", pe.Reason)
			}
			if a != nil {
				t.Fatalf("advert %+v returned with error %v", a, err)
			}
			return
		}

		// The canonical form of b: cut to the length Count IP Addrs
		// dictates (ParseAdvert accepts no more), the ignored fields
		// zeroed.
		addrLen := 4
		if ipv6 {
			addrLen = 16
		}
		want := slices.Clone(b[:advertLen(a.Version, len(a.Addrs), addrLen)])
		if a.Version == 3 {
			want[4] &= 0x0f
		} else if a.AuthType == AuthNone {
			clear(want[len(want)-advertAuthDataLen:])
		}
		normalized := !bytes.Equal(want, b)

		parsed := *a
		out, err := a.Marshal(src, dst)
		if err != nil {
			t.Fatalf("Marshal of accepted %x: %v", b, err)
		}
		if len(out) != len(want) || !bytes.Equal(out[:6], want[:6]) || !bytes.Equal(out[8:], want[8:]) {
			t.Fatalf("re-marshal\n got %x\nwant %x", out, want)
		}
		got, carried := binary.BigEndian.Uint16(out[6:]), parsed.Checksum
		switch {
		case got != a.Checksum:
			t.Fatalf("wire checksum %#04x, Advert.Checksum %#04x", got, a.Checksum)
		case normalized, got == carried:
		case got == 0x0000 && carried == 0xffff:
			// RFC 1071 accepts either ones'-complement zero; Marshal
			// sends the positive one.
		default:
			t.Fatalf("re-marshal checksum %#04x, packet carried %#04x", got, carried)
		}
		if fixed := advertFix(out, src, dst); !bytes.Equal(fixed, out) {
			t.Fatalf("Marshal checksum %#04x, reference computes %#04x", got, binary.BigEndian.Uint16(fixed[6:]))
		}

		again, err := ParseAdvert(out, src, dst)
		if err != nil {
			t.Fatalf("re-parse of %x: %v", out, err)
		}
		if diff := cmp.Diff(a, again, advertCmp); diff != "" {
			t.Fatalf("re-parse mismatch (-first +second):\n%s", diff)
		}
		parsed.Checksum = a.Checksum
		if diff := cmp.Diff(&parsed, a, advertCmp); diff != "" {
			t.Fatalf("Marshal changed more than Checksum (-before +after):\n%s", diff)
		}
	})
}
