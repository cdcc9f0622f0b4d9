package check

import (
	"context"
	"crypto/md5"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// DefaultMaxBody bounds how much of a response body an HTTP probe reads
// when HTTP.MaxBody is zero.
const DefaultMaxBody = 1 << 20

// StatusRange is an inclusive range of HTTP status codes.
type StatusRange struct{ Min, Max int }

// Contains reports whether code lies in the range.
func (r StatusRange) Contains(code int) bool { return code >= r.Min && code <= r.Max }

func (r StatusRange) String() string {
	if r.Min == r.Max {
		return fmt.Sprint(r.Min)
	}
	return fmt.Sprintf("%d-%d", r.Min, r.Max)
}

// HTTP sends one request to the target and checks the response
// (keepalived's HTTP_GET, or SSL_GET with TLS set). Every attempt uses a
// fresh connection; redirects are not followed (a 3xx is checked against
// ExpectStatus like any other status).
type HTTP struct {
	Method string // default GET
	Path   string // default "/"; may carry a query
	// Host is the Host header; the target's address by default.
	Host string
	TLS  bool
	// ServerName is the TLS SNI and verification name; the Host header's
	// host part by default (none for an IP address target without Host).
	ServerName string
	// InsecureSkipVerify accepts any certificate. Verification is on by
	// default, unlike keepalived's SSL_GET.
	InsecureSkipVerify bool
	// CAFile is a PEM bundle of roots to verify against instead of the
	// system pool. It is read on every attempt, so a rotated bundle is
	// picked up without a reload.
	CAFile string
	// ExpectStatus lists the acceptable status codes; 200-299 when empty.
	ExpectStatus []StatusRange
	// BodyRegexp must match the body (its first MaxBody bytes).
	BodyRegexp *regexp.Regexp
	// BodyDigest is the hex MD5 of the whole body, as keepalived's digest
	// (genhash output). A body longer than MaxBody fails the check.
	BodyDigest string
	// Headers are added to the request.
	Headers map[string]string
	// MaxBody is how many body bytes are read; DefaultMaxBody when zero.
	MaxBody int64
	// Source, when valid, is the local address to connect from.
	Source netip.Addr
}

// Kind returns "https" when TLS is set, otherwise "http".
func (p HTTP) Kind() string {
	if p.TLS {
		return "https"
	}
	return "http"
}

// Equal reports whether p and o define the same check; regular
// expressions compare by their source text.
func (p HTTP) Equal(o HTTP) bool {
	pr, or := p.BodyRegexp, o.BodyRegexp
	if (pr == nil) != (or == nil) || (pr != nil && pr.String() != or.String()) {
		return false
	}
	return p.Method == o.Method && p.Path == o.Path && p.Host == o.Host && p.TLS == o.TLS &&
		p.ServerName == o.ServerName && p.InsecureSkipVerify == o.InsecureSkipVerify &&
		p.CAFile == o.CAFile && slices.Equal(p.ExpectStatus, o.ExpectStatus) &&
		p.BodyDigest == o.BodyDigest && mapsEqual(p.Headers, o.Headers) &&
		p.MaxBody == o.MaxBody && p.Source == o.Source
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// Probe sends the request to target.
func (p HTTP) Probe(ctx context.Context, target netip.AddrPort) Result {
	start := time.Now()
	req, err := p.request(ctx, target)
	if err != nil {
		return failf(start, "%w", err)
	}
	transport := &http.Transport{
		Proxy:               nil, // never via a proxy: the real server itself is checked
		DialContext:         dialer(p.Source).DialContext,
		DisableKeepAlives:   true,
		DisableCompression:  true, // digests are over the body as served
		MaxIdleConnsPerHost: -1,
		ForceAttemptHTTP2:   false,
	}
	if p.TLS {
		tlsConfig, err := p.tlsConfig(req.Host, target)
		if err != nil {
			return failf(start, "%w", err)
		}
		transport.TLSClientConfig = tlsConfig
	}
	defer transport.CloseIdleConnections()
	client := &http.Client{
		Transport:     transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	var phase atomic.Value // how far the request got, for error messages
	phase.Store("connecting")
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		TLSHandshakeStart:    func() { phase.Store("TLS handshake") },
		WroteRequest:         func(httptrace.WroteRequestInfo) { phase.Store("waiting for response") },
		GotFirstResponseByte: func() { phase.Store("reading response") },
	}))
	resp, err := client.Do(req)
	if err != nil {
		// Strip url.Error's `Get "http://…":` prefix down to the cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return finish(ctx, start, fmt.Errorf("%s %s: %s: %w", req.Method, req.URL, phase.Load(), err))
	}
	defer resp.Body.Close()
	res := p.checkResponse(resp)
	if res.Err != nil {
		res.Err = fmt.Errorf("%s %s: %w", req.Method, req.URL, res.Err)
	}
	out := finish(ctx, start, res.Err)
	out.Detail = res.Detail
	return out
}

func (p HTTP) request(ctx context.Context, target netip.AddrPort) (*http.Request, error) {
	scheme := "http"
	if p.TLS {
		scheme = "https"
	}
	path := p.Path
	if path == "" {
		path = "/"
	}
	if !strings.HasPrefix(path, "/") {
		return nil, fmt.Errorf("path %q does not start with /", path)
	}
	method := p.Method
	if method == "" {
		method = http.MethodGet
	}
	req, err := http.NewRequestWithContext(ctx, method, scheme+"://"+target.String()+path, nil)
	if err != nil {
		return nil, fmt.Errorf("building request: %w", err)
	}
	if p.Host != "" {
		req.Host = p.Host
	}
	req.Header.Set("User-Agent", "vigil-healthcheck")
	for k, v := range p.Headers {
		if strings.EqualFold(k, "Host") {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	return req, nil
}

func (p HTTP) tlsConfig(hostHeader string, target netip.AddrPort) (*tls.Config, error) {
	cfg := &tls.Config{
		ServerName:         p.ServerName,
		InsecureSkipVerify: p.InsecureSkipVerify, //nolint:gosec // opt-in, documented
		MinVersion:         tls.VersionTLS12,
	}
	if cfg.ServerName == "" && hostHeader != target.String() {
		host := hostHeader
		if h, _, err := net.SplitHostPort(hostHeader); err == nil {
			host = h
		}
		cfg.ServerName = host
	}
	if p.CAFile != "" {
		pem, err := os.ReadFile(p.CAFile)
		if err != nil {
			return nil, fmt.Errorf("reading CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %q holds no PEM certificate", p.CAFile)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

func (p HTTP) checkResponse(resp *http.Response) Result {
	res := Result{Detail: map[string]float64{"http_status_code": float64(resp.StatusCode)}}
	expect := p.ExpectStatus
	if len(expect) == 0 {
		expect = []StatusRange{{200, 299}}
	}
	if !slices.ContainsFunc(expect, func(r StatusRange) bool { return r.Contains(resp.StatusCode) }) {
		res.Err = fmt.Errorf("status %d, want %s", resp.StatusCode, joinRanges(expect))
		return res
	}
	if p.BodyRegexp == nil && p.BodyDigest == "" {
		res.OK = true
		return res
	}
	limit := p.MaxBody
	if limit <= 0 {
		limit = DefaultMaxBody
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		res.Err = fmt.Errorf("reading body: %w", err)
		return res
	}
	truncated := int64(len(body)) > limit
	if truncated {
		body = body[:limit]
	}
	res.Detail["http_body_bytes"] = float64(len(body))
	if p.BodyDigest != "" {
		if truncated {
			res.Err = fmt.Errorf("body longer than %d bytes, cannot compute its digest", limit)
			return res
		}
		sum := md5.Sum(body) //nolint:gosec // keepalived's digest is MD5; not a security boundary
		if got := hex.EncodeToString(sum[:]); !strings.EqualFold(got, p.BodyDigest) {
			res.Err = fmt.Errorf("body digest %s, want %s", got, strings.ToLower(p.BodyDigest))
			return res
		}
	}
	if p.BodyRegexp != nil && !p.BodyRegexp.Match(body) {
		res.Err = fmt.Errorf("body does not match %q", p.BodyRegexp)
		return res
	}
	res.OK = true
	return res
}

func joinRanges(rs []StatusRange) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = r.String()
	}
	return strings.Join(s, ",")
}
