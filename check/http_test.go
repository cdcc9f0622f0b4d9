package check

import (
	"crypto/md5"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// quietLog keeps the expected TLS handshake failures out of test output.
var quietLog = log.New(io.Discard, "", 0)

const page = "<html><body>vigil real server OK</body></html>\n"

func serverAddr(t *testing.T, s *httptest.Server) netip.AddrPort {
	t.Helper()
	return s.Listener.Addr().(*net.TCPAddr).AddrPort()
}

// statusHandler answers /status/NNN with that status and page as body,
// and records the Host header and X-Check header of each request.
type statusHandler struct {
	mu      sync.Mutex
	hosts   []string
	headers []string
}

func (h *statusHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.hosts = append(h.hosts, r.Host)
	h.headers = append(h.headers, r.Header.Get("X-Check"))
	h.mu.Unlock()
	code := http.StatusOK
	if s, ok := strings.CutPrefix(r.URL.Path, "/status/"); ok {
		code, _ = strconv.Atoi(s)
	}
	if code >= 300 && code < 400 {
		w.Header().Set("Location", "/")
	}
	w.WriteHeader(code)
	fmt.Fprint(w, page)
}

func (h *statusHandler) last() (host, header string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.hosts[len(h.hosts)-1], h.headers[len(h.headers)-1]
}

func TestHTTP(t *testing.T) {
	h := &statusHandler{}
	srv := httptest.NewServer(h)
	defer srv.Close()
	addr := serverAddr(t, srv)
	sum := md5.Sum([]byte(page))
	digest := hex.EncodeToString(sum[:])

	tests := []struct {
		name    string
		probe   HTTP
		wantErr string // empty: must succeed
	}{
		{name: "default 200", probe: HTTP{}},
		{name: "default rejects 500", probe: HTTP{Path: "/status/500"}, wantErr: "status 500, want 200-299"},
		{name: "redirect not followed", probe: HTTP{Path: "/status/302"}, wantErr: "status 302, want 200-299"},
		{name: "redirect expected", probe: HTTP{Path: "/status/302", ExpectStatus: []StatusRange{{300, 399}}}},
		{name: "one of several ranges", probe: HTTP{Path: "/status/404", ExpectStatus: []StatusRange{{200, 200}, {404, 404}}}},
		{name: "outside ranges", probe: HTTP{Path: "/status/204", ExpectStatus: []StatusRange{{200, 200}, {404, 404}}}, wantErr: "status 204, want 200,404"},
		{name: "body regexp", probe: HTTP{BodyRegexp: regexp.MustCompile(`real server (OK|DEGRADED)`)}},
		{name: "body regexp mismatch", probe: HTTP{BodyRegexp: regexp.MustCompile(`DOWN`)}, wantErr: `body does not match "DOWN"`},
		{name: "digest", probe: HTTP{BodyDigest: digest}},
		{name: "digest upper case", probe: HTTP{BodyDigest: strings.ToUpper(digest)}},
		{name: "digest mismatch", probe: HTTP{BodyDigest: "00000000000000000000000000000000"}, wantErr: "body digest " + digest + ", want 00000000000000000000000000000000"},
		{name: "digest over max body", probe: HTTP{BodyDigest: digest, MaxBody: 10}, wantErr: "body longer than 10 bytes"},
		{name: "regexp within max body", probe: HTTP{BodyRegexp: regexp.MustCompile(`^<html>`), MaxBody: 10}},
		{name: "regexp beyond max body", probe: HTTP{BodyRegexp: regexp.MustCompile(`real server`), MaxBody: 10}, wantErr: "body does not match"},
		{name: "status and body", probe: HTTP{Path: "/status/503", BodyRegexp: regexp.MustCompile(`OK`)}, wantErr: "status 503"},
		{name: "bad path", probe: HTTP{Path: "status"}, wantErr: `path "status" does not start with /`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := probeWithin(t, tc.probe, addr, 2*time.Second)
			if tc.wantErr == "" {
				if !res.OK || res.Err != nil {
					t.Fatalf("got %+v, want success", res)
				}
				return
			}
			if res.OK || res.Err == nil || !strings.Contains(res.Err.Error(), tc.wantErr) {
				t.Fatalf("got %+v, want error containing %q", res, tc.wantErr)
			}
			t.Log(res.Err)
			if res.Outcome() != ResultFailure {
				t.Errorf("outcome %s, want failure", res.Outcome())
			}
		})
	}

	t.Run("status detail", func(t *testing.T) {
		res := probeWithin(t, HTTP{Path: "/status/503"}, addr, 2*time.Second)
		if got := res.Detail["http_status_code"]; got != 503 {
			t.Errorf("http_status_code %v, want 503", got)
		}
	})
	t.Run("host header", func(t *testing.T) {
		if res := probeWithin(t, HTTP{}, addr, 2*time.Second); !res.OK {
			t.Fatal(res.Err)
		}
		if host, _ := h.last(); host != addr.String() {
			t.Errorf("default Host %q, want %q", host, addr)
		}
		p := HTTP{Host: "www.no300.com", Headers: map[string]string{"X-Check": "vigil"}}
		if res := probeWithin(t, p, addr, 2*time.Second); !res.OK {
			t.Fatal(res.Err)
		}
		if host, hdr := h.last(); host != "www.no300.com" || hdr != "vigil" {
			t.Errorf("server saw Host %q X-Check %q, want www.no300.com and vigil", host, hdr)
		}
	})
	t.Run("method", func(t *testing.T) {
		var method string
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { method = r.Method }))
		defer srv.Close()
		if res := probeWithin(t, HTTP{Method: http.MethodHead}, serverAddr(t, srv), 2*time.Second); !res.OK {
			t.Fatal(res.Err)
		}
		if method != http.MethodHead {
			t.Errorf("method %q, want HEAD", method)
		}
	})
}

func TestHTTPRefused(t *testing.T) {
	res := probeWithin(t, HTTP{}, closedPort(t), 2*time.Second)
	if res.OK || res.Outcome() != ResultFailure || !strings.Contains(res.Err.Error(), "connection refused") {
		t.Fatalf("got %+v", res)
	}
}

// silentServer accepts connections and never writes a byte.
func silentServer(t *testing.T) netip.AddrPort {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	return l.Addr().(*net.TCPAddr).AddrPort()
}

func TestHTTPTimeout(t *testing.T) {
	addr := silentServer(t)
	const timeout = 300 * time.Millisecond
	for _, tc := range []struct {
		probe HTTP
		phase string
	}{
		{HTTP{}, "waiting for response"},
		{HTTP{TLS: true, InsecureSkipVerify: true}, "TLS handshake"},
	} {
		t.Run(tc.probe.Kind(), func(t *testing.T) {
			res := probeWithin(t, tc.probe, addr, timeout)
			if res.OK || res.Outcome() != ResultTimeout {
				t.Fatalf("got %+v, want a timeout", res)
			}
			if !strings.Contains(res.Err.Error(), ": "+tc.phase+": ") {
				t.Errorf("error %q does not name the phase %q", res.Err, tc.phase)
			}
			if res.Duration < timeout || res.Duration > timeout+250*time.Millisecond {
				t.Errorf("took %s, want about %s", res.Duration, timeout)
			}
		})
	}
}

// writeCert writes the server's certificate as a PEM CA bundle.
func writeCert(t *testing.T, cert *x509.Certificate) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestHTTPS(t *testing.T) {
	// httptest's self-signed certificate is valid for example.com,
	// 127.0.0.1 and ::1.
	srv := httptest.NewUnstartedServer(&statusHandler{})
	srv.Config.ErrorLog = quietLog
	srv.StartTLS()
	defer srv.Close()
	addr := serverAddr(t, srv)
	ca := writeCert(t, srv.Certificate())
	notPEM := filepath.Join(t.TempDir(), "empty.pem")
	if err := os.WriteFile(notPEM, []byte("nothing here\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		probe   HTTP
		wantErr string
	}{
		{name: "verified against CA file", probe: HTTP{TLS: true, CAFile: ca}},
		{name: "verified with server name", probe: HTTP{TLS: true, CAFile: ca, ServerName: "example.com"}},
		{name: "server name from Host", probe: HTTP{TLS: true, CAFile: ca, Host: "example.com:8443"}},
		{name: "unknown authority", probe: HTTP{TLS: true}, wantErr: "certificate signed by unknown authority"},
		{name: "verification off", probe: HTTP{TLS: true, InsecureSkipVerify: true}},
		{name: "name mismatch", probe: HTTP{TLS: true, CAFile: ca, ServerName: "db.example.net"}, wantErr: "not db.example.net"},
		{name: "missing CA file", probe: HTTP{TLS: true, CAFile: filepath.Join(t.TempDir(), "nope.pem")}, wantErr: "reading CA file"},
		{name: "CA file without certificates", probe: HTTP{TLS: true, CAFile: notPEM}, wantErr: "holds no PEM certificate"},
		{name: "plain HTTP to TLS port", probe: HTTP{}, wantErr: "status 400"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := probeWithin(t, tc.probe, addr, 2*time.Second)
			if tc.wantErr == "" {
				if !res.OK {
					t.Fatalf("got %+v, want success", res)
				}
				return
			}
			if res.OK || res.Err == nil || !strings.Contains(res.Err.Error(), tc.wantErr) {
				t.Fatalf("got %+v, want error containing %q", res, tc.wantErr)
			}
			t.Log(res.Err)
		})
	}
	t.Run("unknown authority error type", func(t *testing.T) {
		res := probeWithin(t, HTTP{TLS: true}, addr, 2*time.Second)
		var ua x509.UnknownAuthorityError
		if !errors.As(res.Err, &ua) {
			t.Fatalf("error %v (%T) does not wrap x509.UnknownAuthorityError", res.Err, res.Err)
		}
	})
}

func TestHTTPSNI(t *testing.T) {
	// The server only completes handshakes that carry the expected SNI, as
	// a TLS-terminating real server with several virtual hosts would.
	srv := httptest.NewUnstartedServer(&statusHandler{})
	var (
		mu  sync.Mutex
		sni []string
	)
	srv.TLS = &tls.Config{GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		mu.Lock()
		sni = append(sni, hello.ServerName)
		mu.Unlock()
		if hello.ServerName != "vip.example" {
			return nil, fmt.Errorf("unknown server name %q", hello.ServerName)
		}
		return nil, nil
	}}
	srv.Config.ErrorLog = quietLog
	srv.StartTLS()
	defer srv.Close()
	addr := serverAddr(t, srv)

	if res := probeWithin(t, HTTP{TLS: true, InsecureSkipVerify: true, ServerName: "vip.example"}, addr, 2*time.Second); !res.OK {
		t.Fatalf("with SNI vip.example: %+v", res)
	}
	if res := probeWithin(t, HTTP{TLS: true, InsecureSkipVerify: true, Host: "vip.example"}, addr, 2*time.Second); !res.OK {
		t.Fatalf("with SNI from Host: %+v", res)
	}
	res := probeWithin(t, HTTP{TLS: true, InsecureSkipVerify: true}, addr, 2*time.Second)
	if res.OK || !strings.Contains(res.Err.Error(), "tls") {
		t.Fatalf("without SNI: %+v, want a handshake failure", res)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"vip.example", "vip.example", ""}; strings.Join(sni, ",") != strings.Join(want, ",") {
		t.Errorf("server saw SNI %q, want %q", sni, want)
	}
}

func TestHTTPEqual(t *testing.T) {
	a := HTTP{Path: "/", BodyRegexp: regexp.MustCompile("OK"), Headers: map[string]string{"A": "1"}}
	b := HTTP{Path: "/", BodyRegexp: regexp.MustCompile("OK"), Headers: map[string]string{"A": "1"}}
	if !a.Equal(b) || !proberEqual(a, b) {
		t.Error("identical definitions compare unequal")
	}
	for name, c := range map[string]HTTP{
		"regexp":    {Path: "/", BodyRegexp: regexp.MustCompile("DOWN"), Headers: map[string]string{"A": "1"}},
		"no regexp": {Path: "/", Headers: map[string]string{"A": "1"}},
		"header":    {Path: "/", BodyRegexp: regexp.MustCompile("OK"), Headers: map[string]string{"A": "2"}},
		"path":      {Path: "/x", BodyRegexp: regexp.MustCompile("OK"), Headers: map[string]string{"A": "1"}},
	} {
		if a.Equal(c) || proberEqual(a, c) {
			t.Errorf("%s: different definitions compare equal", name)
		}
	}
}
