package daemon

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/vrrp"
)

// silentConn is a VRRP socket on a network with no peers: it records what
// is sent and never receives.
type silentConn struct {
	once sync.Once
	done chan struct{}
}

func (c *silentConn) LocalAddr() netip.Addr { return netip.MustParseAddr("10.0.0.1") }
func (c *silentConn) Read([]byte) (vrrp.Received, error) {
	<-c.done
	return vrrp.Received{}, net.ErrClosed
}
func (c *silentConn) Write([]byte, netip.Addr) error { return nil }
func (c *silentConn) Close() error                   { c.once.Do(func() { close(c.done) }); return nil }

// recordingAddrs records which virtual addresses are configured.
type recordingAddrs struct {
	mu      sync.Mutex
	present map[netip.Prefix]bool
}

func (a *recordingAddrs) Add(v vrrp.VIP) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.present[v.Prefix] = true
	return nil
}

func (a *recordingAddrs) Remove(v vrrp.VIP) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.present, v.Prefix)
	return nil
}

func (a *recordingAddrs) has(p string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.present[netip.MustParsePrefix(p)]
}

type nopAnnouncer struct{}

func (nopAnnouncer) GARP(netip.Addr) error          { return nil }
func (nopAnnouncer) UnsolicitedNA(netip.Addr) error { return nil }
func (nopAnnouncer) Close() error                   { return nil }

func testPlatform(addrs *recordingAddrs) *vrrp.Platform {
	return &vrrp.Platform{
		Listen: func(string, bool, netip.Addr, bool) (vrrp.PacketConn, error) {
			return &silentConn{done: make(chan struct{})}, nil
		},
		Addrs:        addrs,
		NewAnnouncer: func(string) (vrrp.GratuitousAnnouncer, error) { return nopAnnouncer{}, nil },
	}
}

const goodConfig = `
vrrp_instances:
  - name: VI_1
    interface: eth0
    virtual_router_id: 51
    priority: 150
    advert_interval: 20ms
    virtual_ipaddresses: [10.99.0.250/24]
`

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func scrapeMetrics(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// withStateDir puts the daemon's state (IPVS ownership, overrides, audit)
// into dir.
func withStateDir(cfg, dir string) []byte {
	return []byte("global: { state_dir: " + dir + " }\n" + cfg)
}

func TestRunRejectsBadInitialConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "vigil.yml")
	os.WriteFile(path, withStateDir(strings.Replace(goodConfig, "priority: 150", "priority: 300", 1), dir), 0o644)
	err := Run(context.Background(), Options{ConfigFile: path, Platform: testPlatform(&recordingAddrs{present: map[netip.Prefix]bool{}})})
	if err == nil || !strings.Contains(err.Error(), "vrrp_instances[0].priority: must be 1..255, got 300") {
		t.Fatalf("err = %v", err)
	}
}

// A bad file on reload keeps the running configuration and is reported; a
// good one is applied.
func TestReloadKeepsRunningConfigOnError(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "vigil.yml")
	if err := os.WriteFile(path, withStateDir(goodConfig, dir), 0o644); err != nil {
		t.Fatal(err)
	}
	addrs := &recordingAddrs{present: map[netip.Prefix]bool{}}
	listen := freePort(t)
	reload := make(chan struct{})
	ready := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{ConfigFile: path, ListenAddresses: []string{listen}, Platform: testPlatform(addrs),
			Reload: reload, Ready: func() { close(ready) }})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	<-ready
	waitFor(t, "master with its VIP", func() bool { return addrs.has("10.99.0.250/24") })
	waitFor(t, "metrics", func() bool {
		return strings.Contains(scrapeMetrics(t, listen), `vigil_vrrp_instance_state{state="master",vrrp_instance="VI_1"} 1`)
	})

	os.WriteFile(path, []byte("vrrp_instances: [ {name: VI_1, bogus: 1} ]\n"), 0o644)
	reload <- struct{}{}
	waitFor(t, "failed reload to be reported", func() bool {
		return strings.Contains(scrapeMetrics(t, listen), "vigil_config_last_reload_successful 0")
	})
	m := scrapeMetrics(t, listen)
	if !strings.Contains(m, `vigil_vrrp_instance_state{state="master",vrrp_instance="VI_1"} 1`) || !addrs.has("10.99.0.250/24") {
		t.Fatalf("a failed reload disturbed the running instance:\n%s", m)
	}

	os.WriteFile(path, withStateDir(strings.Replace(goodConfig, "[10.99.0.250/24]", "[10.99.0.250/24, 10.99.0.251/24]", 1), dir), 0o644)
	reload <- struct{}{}
	waitFor(t, "successful reload", func() bool {
		return strings.Contains(scrapeMetrics(t, listen), "vigil_config_last_reload_successful 1")
	})
	waitFor(t, "the new VIP", func() bool { return addrs.has("10.99.0.251/24") && addrs.has("10.99.0.250/24") })
}
