package lab

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// direct runs fn in the test's own namespace.
func direct(fn func() error) error { return fn() }

func TestScrapeAnswers(t *testing.T) {
	const exposition = "# TYPE up gauge\nup 1\n"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/metrics":
			w.Write([]byte(exposition))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	if got, err := scrape(direct, addr); err != nil || got != exposition {
		t.Errorf("scrape = %q, %v; want %q", got, err, exposition)
	}

	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusServiceUnavailable)
	}))
	defer failing.Close()
	_, err := scrape(direct, strings.TrimPrefix(failing.URL, "http://"))
	if err == nil || !strings.Contains(err.Error(), "503 Service Unavailable") {
		t.Errorf("scrape of a 503: %v, want an error naming the status", err)
	}

	// The dial goes through do.
	called, dialErr := false, errors.New("not in this namespace")
	_, err = scrape(func(fn func() error) error { called = true; return dialErr }, addr)
	if !called || !errors.Is(err, dialErr) {
		t.Errorf("scrape with a failing do: called %v, err %v", called, err)
	}
}

// TestScrapeTimeout checks that a target that accepts but never answers
// does not hold Scrape longer than scrapeTimeout.
func TestScrapeTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for scrapeTimeout")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	start := time.Now()
	_, err = scrape(direct, ln.Addr().String())
	if took := time.Since(start); err == nil || took > scrapeTimeout+time.Second {
		t.Errorf("scrape of a silent target: %v after %v", err, took)
	}
}

// TestScrape scrapes a server that listens on the loopback of one host:
// that host reaches it, another one does not.
func TestScrape(t *testing.T) {
	t.Parallel()
	topo := New(t, Options{Hosts: Hosts("director1", "director2")})
	d1, d2 := topo.Host("director1"), topo.Host("director2")
	var ln net.Listener
	if err := d1.Do(func() error {
		var err error
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("up 1\n"))
	})}
	go srv.Serve(ln)
	defer srv.Close()

	if got, err := d1.Scrape(ln.Addr().String()); err != nil || got != "up 1\n" {
		t.Errorf("director1: %q, %v", got, err)
	}
	_, err := d2.Scrape(ln.Addr().String())
	if err == nil || !strings.Contains(err.Error(), "director2") {
		t.Errorf("director2 reached director1's loopback, or the error does not name it: %v", err)
	}
}
