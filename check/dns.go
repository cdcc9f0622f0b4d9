package check

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// dnsTypes maps the record type names DNS.Type accepts to their codes.
var dnsTypes = map[string]dnsmessage.Type{
	"A": dnsmessage.TypeA, "NS": dnsmessage.TypeNS, "CNAME": dnsmessage.TypeCNAME,
	"SOA": dnsmessage.TypeSOA, "PTR": dnsmessage.TypePTR, "MX": dnsmessage.TypeMX,
	"TXT": dnsmessage.TypeTXT, "AAAA": dnsmessage.TypeAAAA, "SRV": dnsmessage.TypeSRV,
	"SVCB": dnsmessage.TypeSVCB, "HTTPS": dnsmessage.TypeHTTPS, "ANY": dnsmessage.TypeALL,
}

// DNS sends one query over UDP to the target (a DNS server) and checks the
// response code and, optionally, that the answer section holds a record of
// the queried type. Replies with a different ID or question are ignored,
// as a resolver would.
type DNS struct {
	Name string // queried name; a missing final dot is added
	Type string // record type name: A, AAAA, NS, MX, TXT, SOA, SRV, ...; default A
	// ExpectRcode is the required response code (0 = NOERROR, 3 = NXDOMAIN).
	ExpectRcode int
	// ExpectAnswer requires at least one answer record of the queried type.
	ExpectAnswer bool
	// RecursionDesired sets the RD flag, for checking recursive resolvers.
	RecursionDesired bool
	// Source, when valid, is the local address to send from.
	Source netip.Addr
}

// Kind returns "dns".
func (DNS) Kind() string { return "dns" }

// Probe queries target.
func (p DNS) Probe(ctx context.Context, target netip.AddrPort) Result {
	start := time.Now()
	q, err := p.question()
	if err != nil {
		return failf(start, "%w", err)
	}
	id := uint16(rand.Uint32())
	query, err := buildQuery(id, q, p.RecursionDesired)
	if err != nil {
		return failf(start, "building query for %q %s: %w", p.Name, p.typeName(), err)
	}
	c, err := udpDialer(p.Source).DialContext(ctx, "udp", target.String())
	if err != nil {
		return finish(ctx, start, fmt.Errorf("dialing %s: %w", target, err))
	}
	defer c.Close()
	stop := bindConn(ctx, c)
	defer stop()
	if _, err := c.Write(query); err != nil {
		return finish(ctx, start, fmt.Errorf("sending query to %s: %w", target, err))
	}
	buf := make([]byte, maxDatagram)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return finish(ctx, start, fmt.Errorf("waiting for answer to %s %s from %s: %w", q.Name, p.typeName(), target, err))
		}
		resp, err := parseResponse(buf[:n], id, q)
		if errors.Is(err, errNotOurs) {
			continue
		}
		if err != nil {
			return finish(ctx, start, fmt.Errorf("response from %s: %w", target, err))
		}
		res := finish(ctx, start, p.judge(resp, q))
		res.Detail = map[string]float64{
			"dns_rcode":   float64(resp.rcode),
			"dns_answers": float64(resp.answers),
		}
		return res
	}
}

func (p DNS) typeName() string {
	if p.Type == "" {
		return "A"
	}
	return strings.ToUpper(p.Type)
}

func (p DNS) question() (dnsmessage.Question, error) {
	t, ok := dnsTypes[p.typeName()]
	if !ok {
		return dnsmessage.Question{}, fmt.Errorf("unknown DNS record type %q", p.Type)
	}
	name := p.Name
	if !strings.HasSuffix(name, ".") {
		name += "."
	}
	n, err := dnsmessage.NewName(name)
	if err != nil {
		return dnsmessage.Question{}, fmt.Errorf("DNS name %q: %w", p.Name, err)
	}
	return dnsmessage.Question{Name: n, Type: t, Class: dnsmessage.ClassINET}, nil
}

func (p DNS) judge(r dnsResponse, q dnsmessage.Question) error {
	if int(r.rcode) != p.ExpectRcode {
		return fmt.Errorf("rcode %s, want %s", rcodeName(int(r.rcode)), rcodeName(p.ExpectRcode))
	}
	if p.ExpectAnswer && r.matching == 0 {
		if r.truncated {
			return fmt.Errorf("truncated response without a %s record for %s", p.typeName(), q.Name)
		}
		return fmt.Errorf("no %s record for %s in %d answers", p.typeName(), q.Name, r.answers)
	}
	return nil
}

// rcodeName names a response code as dig does (RFC 1035 section 4.1.1).
func rcodeName(rc int) string {
	names := []string{"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED"}
	if rc >= 0 && rc < len(names) {
		return names[rc]
	}
	return fmt.Sprintf("RCODE%d", rc)
}

// buildQuery encodes a query for q with the given ID.
func buildQuery(id uint16, q dnsmessage.Question, rd bool) ([]byte, error) {
	b := dnsmessage.NewBuilder(make([]byte, 0, 512), dnsmessage.Header{ID: id, RecursionDesired: rd})
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(q); err != nil {
		return nil, err
	}
	return b.Finish()
}

// errNotOurs marks a datagram that does not answer our query.
var errNotOurs = errors.New("not a response to our query")

type dnsResponse struct {
	rcode     dnsmessage.RCode
	truncated bool
	answers   int // answer records of any type
	matching  int // answer records of the queried type
}

// parseResponse decodes msg as the response to query id for q.
func parseResponse(msg []byte, id uint16, q dnsmessage.Question) (dnsResponse, error) {
	var p dnsmessage.Parser
	h, err := p.Start(msg)
	if err != nil {
		return dnsResponse{}, errNotOurs // not even a DNS header
	}
	if !h.Response || h.ID != id {
		return dnsResponse{}, errNotOurs
	}
	qs, err := p.AllQuestions()
	if err != nil {
		return dnsResponse{}, fmt.Errorf("parsing question: %w", err)
	}
	if len(qs) != 1 || qs[0].Type != q.Type || qs[0].Class != q.Class || !strings.EqualFold(qs[0].Name.String(), q.Name.String()) {
		return dnsResponse{}, errNotOurs
	}
	r := dnsResponse{rcode: h.RCode, truncated: h.Truncated}
	for {
		ah, err := p.AnswerHeader()
		if errors.Is(err, dnsmessage.ErrSectionDone) {
			break
		}
		if err != nil {
			return dnsResponse{}, fmt.Errorf("parsing answer: %w", err)
		}
		r.answers++
		if ah.Type == q.Type || q.Type == dnsmessage.TypeALL {
			r.matching++
		}
		if err := p.SkipAnswer(); err != nil {
			return dnsResponse{}, fmt.Errorf("parsing answer: %w", err)
		}
	}
	return r, nil
}
