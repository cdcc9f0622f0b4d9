package check

import (
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// dnsResponder is a tiny authoritative server for a fixed zone. Before
// every real answer it sends a decoy with the wrong ID, which the probe
// must ignore.
type dnsResponder struct {
	rd atomic.Bool // RD flag of the last query
}

func (z *dnsResponder) reply(t *testing.T, query []byte) [][]byte {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		t.Errorf("responder: bad query: %v", err)
		return nil
	}
	q, err := p.Question()
	if err != nil {
		t.Errorf("responder: bad question: %v", err)
		return nil
	}
	z.rd.Store(h.RecursionDesired)
	build := func(id uint16, rcode dnsmessage.RCode, answer bool) []byte {
		b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: id, Response: true, Authoritative: true, RCode: rcode, RecursionDesired: h.RecursionDesired})
		b.StartQuestions()
		b.Question(q)
		b.StartAnswers()
		if answer {
			hdr := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60}
			b.AResource(hdr, dnsmessage.AResource{A: [4]byte{192, 0, 2, 1}})
		}
		msg, err := b.Finish()
		if err != nil {
			t.Errorf("responder: %v", err)
		}
		return msg
	}
	var out [][]byte
	out = append(out, build(h.ID+1, dnsmessage.RCodeServerFailure, false)) // decoy
	switch name := strings.ToLower(q.Name.String()); {
	case name == "vip.example." && q.Type == dnsmessage.TypeA:
		out = append(out, build(h.ID, dnsmessage.RCodeSuccess, true))
	case name == "vip.example.":
		out = append(out, build(h.ID, dnsmessage.RCodeSuccess, false)) // NODATA
	case name == "broken.example.":
		out = append(out, build(h.ID, dnsmessage.RCodeServerFailure, false))
	case name == "garbage.example.":
		out = append(out, append(build(h.ID, dnsmessage.RCodeSuccess, true)[:12:12], 0xff)) // header only, then junk
	case name == "silent.example.":
		return nil
	default:
		out = append(out, build(h.ID, dnsmessage.RCodeNameError, false))
	}
	return out
}

func startDNS(t *testing.T) (netip.AddrPort, *dnsResponder) {
	t.Helper()
	z := &dnsResponder{}
	return udpServer(t, func(q []byte) [][]byte { return z.reply(t, q) }), z
}

func TestDNS(t *testing.T) {
	addr, z := startDNS(t)
	const timeout = 300 * time.Millisecond
	tests := []struct {
		name    string
		probe   DNS
		outcome string
		errText string
		answers float64
	}{
		{name: "A answered", probe: DNS{Name: "vip.example", Type: "A", ExpectAnswer: true}, outcome: ResultSuccess, answers: 1},
		{name: "default type A, fqdn", probe: DNS{Name: "VIP.example.", ExpectAnswer: true}, outcome: ResultSuccess, answers: 1},
		{name: "lower-case type", probe: DNS{Name: "vip.example", Type: "a", ExpectAnswer: true}, outcome: ResultSuccess, answers: 1},
		{name: "NODATA without answer expected", probe: DNS{Name: "vip.example", Type: "AAAA"}, outcome: ResultSuccess},
		{name: "NODATA with answer expected", probe: DNS{Name: "vip.example", Type: "AAAA", ExpectAnswer: true}, outcome: ResultFailure, errText: "no AAAA record for vip.example. in 0 answers"},
		{name: "NXDOMAIN unexpected", probe: DNS{Name: "nope.example", Type: "A"}, outcome: ResultFailure, errText: "rcode NXDOMAIN, want NOERROR"},
		{name: "NXDOMAIN expected", probe: DNS{Name: "nope.example", Type: "A", ExpectRcode: 3}, outcome: ResultSuccess},
		{name: "SERVFAIL", probe: DNS{Name: "broken.example", Type: "A"}, outcome: ResultFailure, errText: "rcode SERVFAIL, want NOERROR"},
		{name: "malformed answer", probe: DNS{Name: "garbage.example", Type: "A"}, outcome: ResultFailure, errText: "parsing"},
		{name: "no response", probe: DNS{Name: "silent.example", Type: "A"}, outcome: ResultTimeout, errText: "waiting for answer to silent.example. A"},
		{name: "unknown type", probe: DNS{Name: "vip.example", Type: "BOGUS"}, outcome: ResultFailure, errText: `unknown DNS record type "BOGUS"`},
		{name: "bad name", probe: DNS{Name: "a..b", Type: "A"}, outcome: ResultFailure, errText: `building query for "a..b" A: `},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := probeWithin(t, tc.probe, addr, timeout)
			if res.Outcome() != tc.outcome {
				t.Fatalf("outcome %s, want %s (%+v)", res.Outcome(), tc.outcome, res)
			}
			if tc.errText != "" && (res.Err == nil || !strings.Contains(res.Err.Error(), tc.errText)) {
				t.Errorf("error %v, want it to contain %q", res.Err, tc.errText)
			}
			if res.Err != nil {
				t.Log(res.Err)
			}
			if res.OK && res.Detail["dns_answers"] != tc.answers {
				t.Errorf("dns_answers %v, want %v", res.Detail["dns_answers"], tc.answers)
			}
		})
	}
	t.Run("recursion desired", func(t *testing.T) {
		for _, rd := range []bool{true, false} {
			if res := probeWithin(t, DNS{Name: "vip.example", RecursionDesired: rd}, addr, timeout); !res.OK {
				t.Fatal(res.Err)
			}
			if z.rd.Load() != rd {
				t.Errorf("server saw RD=%v, want %v", z.rd.Load(), rd)
			}
		}
	})
	t.Run("port unreachable", func(t *testing.T) {
		res := probeWithin(t, DNS{Name: "vip.example"}, closedUDPPort(t), timeout)
		if res.Outcome() != ResultFailure || !strings.Contains(res.Err.Error(), "connection refused") {
			t.Fatalf("got %+v", res)
		}
	})
}
