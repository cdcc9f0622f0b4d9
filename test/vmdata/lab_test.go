//go:build vm && linux

package vmdata

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	cfipvs "github.com/cloudflare/ipvs"
	"github.com/cloudflare/ipvs/netmask"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/vigil-lb/vigil/internal/vmtest"
)

// The lab: the director is the VM's root network namespace, where the test
// process and the in-process vigil run, so that its IPVS table is the one
// vigil programs. The client and every real server have a namespace of
// their own. The VM has no `ip` binary that could do this (busybox's lacks
// netns), so everything goes through netlink.
//
//	client ns                 root ns (director)                 real-server ns
//	eth0 10.1.0.2/24 ---- vd-cli 10.1.0.1/24, VIP 10.1.0.100
//	                          vd-br 10.2.0.1/24 (bridge)
//	                            vd-rs1 ------------------- eth0 10.2.0.11/24 (rs1)
//	                            vd-rs2 ------------------- eth0 10.2.0.12/24 (rs2)
//	                            vd-sorry ----------------- eth0 10.2.0.99/24 (sorry)
//
// The client's and the real servers' default routes point at the director,
// which forwards (net.ipv4.ip_forward=1): LVS-NAT needs the replies to pass
// through it.
const (
	clientLink = "vd-cli" // the director's end of the client's veth; vigil's VRRP interface
	bridgeName = "vd-br"
	peerName   = "eth0" // every namespace's end of its veth
	rsPort     = 8080
)

var (
	directorClientAddr = netip.MustParsePrefix("10.1.0.1/24")
	clientAddr         = netip.MustParsePrefix("10.1.0.2/24")
	directorRSAddr     = netip.MustParsePrefix("10.2.0.1/24")
	vip                = netip.MustParseAddr("10.1.0.100")
	vipPort            = netip.AddrPortFrom(vip, 80)
)

// rsAddrs are the real servers' addresses by name.
var rsAddrs = map[string]netip.Addr{
	"rs1":   netip.MustParseAddr("10.2.0.11"),
	"rs2":   netip.MustParseAddr("10.2.0.12"),
	"sorry": netip.MustParseAddr("10.2.0.99"),
}

// lab is one test's topology. Its methods fail the test they were made
// with; they are for that test's goroutine only, except where noted.
type lab struct {
	t      *testing.T
	root   *netlink.Handle // netlink in the director's (root) namespace
	client netns.NsHandle
	rs     map[string]*realServer
	nss    []netns.NsHandle // every namespace, closed last
}

// newLab builds the topology with the named real servers (keys of rsAddrs),
// starts their servers, and removes everything when the test ends: the
// servers, the links, the namespaces, and every service in the root
// namespace's IPVS table (vigil leaves its table behind when it stops, and
// the next test must start from an empty one).
func newLab(t *testing.T, servers ...string) *lab {
	t.Helper()
	vmtest.Require(t)
	rootNS, err := netns.Get()
	if err != nil {
		t.Fatalf("netns.Get: %v", err)
	}
	defer rootNS.Close()
	root, err := netlink.NewHandleAt(rootNS, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatalf("netlink in the root namespace: %v", err)
	}
	l := &lab{t: t, root: root, rs: map[string]*realServer{}}
	t.Cleanup(l.close)

	setSysctl(t, "net/ipv4/ip_forward", "1")

	l.client = l.newNetns()
	l.cable(clientLink, 0, l.client, directorClientAddr, clientAddr)

	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: bridgeName}}
	if err := root.LinkAdd(br); err != nil {
		t.Fatalf("adding bridge %s: %v", bridgeName, err)
	}
	l.addr(root, bridgeName, directorRSAddr)
	for _, name := range servers {
		a, ok := rsAddrs[name]
		if !ok {
			t.Fatalf("unknown real server %q", name)
		}
		rs := &realServer{name: name, ns: l.newNetns(), addr: netip.AddrPortFrom(a, rsPort)}
		l.cable("vd-"+name, br.Index, rs.ns, directorRSAddr, netip.PrefixFrom(a, 24))
		l.rs[name] = rs
		rs.start(t)
	}
	return l
}

func (l *lab) close() {
	for _, rs := range l.rs {
		rs.stop()
	}
	// Deleting one end of a veth deletes the other. The namespaces go when
	// their last handle and socket are closed, taking their ends of the
	// veths along, so they are closed after the links are gone.
	for _, name := range []string{clientLink, bridgeName, "vd-rs1", "vd-rs2", "vd-sorry"} {
		if link, err := l.root.LinkByName(name); err == nil {
			if err := l.root.LinkDel(link); err != nil {
				l.t.Errorf("deleting %s: %v", name, err)
			}
		}
	}
	for _, ns := range l.nss {
		ns.Close()
	}
	flushIPVS(l.t)
	l.root.Close()
}

// newNetns returns a new network namespace, closed by close. The calling
// thread stays in its own namespace.
func (l *lab) newNetns() netns.NsHandle {
	t := l.t
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatalf("netns.Get: %v", err)
	}
	defer orig.Close()
	ns, err := netns.New()
	if err != nil {
		t.Fatalf("netns.New: %v", err)
	}
	if err := netns.Set(orig); err != nil {
		panic(fmt.Sprintf("restoring the network namespace: %v", err))
	}
	l.nss = append(l.nss, ns)
	return ns
}

// inNetns runs f on a thread in ns, then returns the thread to the
// namespace it came from. Sockets f creates stay in ns. Safe for
// concurrent use.
func inNetns(ns netns.NsHandle, f func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return fmt.Errorf("netns.Get: %w", err)
	}
	defer orig.Close()
	if err := netns.Set(ns); err != nil {
		return fmt.Errorf("netns.Set: %w", err)
	}
	defer func() {
		if err := netns.Set(orig); err != nil {
			// The goroutine must not go on in the wrong namespace.
			panic(fmt.Sprintf("restoring the network namespace: %v", err))
		}
	}()
	return f()
}

// cable creates the veth pair name (root namespace, enslaved to the bridge
// with index master unless 0) / eth0 (in ns), addresses both ends (the
// root end only when not a bridge port), brings them up, and routes ns's
// default traffic to gw.
func (l *lab) cable(name string, master int, ns netns.NsHandle, gw, addr netip.Prefix) {
	t := l.t
	t.Helper()
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: name, MasterIndex: master},
		PeerName:      peerName,
		PeerNamespace: netlink.NsFd(int(ns)),
	}
	if err := l.root.LinkAdd(veth); err != nil {
		t.Fatalf("adding veth %s: %v", name, err)
	}
	if master == 0 {
		l.addr(l.root, name, gw)
	} else if err := l.root.LinkSetUp(veth); err != nil {
		t.Fatalf("%s up: %v", name, err)
	}
	if master != 0 {
		br, err := l.root.LinkByIndex(master)
		if err == nil {
			err = l.root.LinkSetUp(br)
		}
		if err != nil {
			t.Fatalf("bridge up: %v", err)
		}
	}

	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatalf("netlink in %s's namespace: %v", name, err)
	}
	defer h.Close()
	l.addr(h, "lo", netip.Prefix{})
	eth := l.addr(h, peerName, addr)
	route := &netlink.Route{LinkIndex: eth.Attrs().Index, Gw: gw.Addr().AsSlice()}
	if err := h.RouteAdd(route); err != nil {
		t.Fatalf("default route via %s: %v", gw.Addr(), err)
	}
}

// addr adds p (unless zero) to link name and brings it up.
func (l *lab) addr(h *netlink.Handle, name string, p netip.Prefix) netlink.Link {
	t := l.t
	t.Helper()
	link, err := h.LinkByName(name)
	if err != nil {
		t.Fatalf("link %s: %v", name, err)
	}
	if p.IsValid() {
		a := &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}}
		if err := h.AddrAdd(link, a); err != nil {
			t.Fatalf("adding %s to %s: %v", p, name, err)
		}
	}
	if err := h.LinkSetUp(link); err != nil {
		t.Fatalf("%s up: %v", name, err)
	}
	return link
}

// hasVIP reports whether the director holds the VIP on the client link.
func (l *lab) hasVIP() bool { return hasAddr(l.root, vip) }

// hasAddr reports whether h's namespace holds a on the client link.
func hasAddr(h *netlink.Handle, a netip.Addr) bool {
	link, err := h.LinkByName(clientLink)
	if err != nil {
		return false
	}
	addrs, err := h.AddrList(link, unix.AF_INET)
	if err != nil {
		return false
	}
	for _, x := range addrs {
		if ip, ok := netip.AddrFromSlice(x.IP); ok && ip.Unmap() == a {
			return true
		}
	}
	return false
}

// setSysctl writes value to /proc/sys/<key> and restores the old value when
// the test ends.
func setSysctl(t *testing.T, key, value string) {
	t.Helper()
	path := "/proc/sys/" + key
	old, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
		t.Fatalf("setting %s: %v", key, err)
	}
	t.Cleanup(func() { os.WriteFile(path, bytes.TrimSpace(old), 0o644) })
}

// flushIPVS removes every service from the root namespace's IPVS table.
func flushIPVS(t *testing.T) {
	c, err := cfipvs.New()
	if err != nil {
		t.Errorf("ipvs client: %v", err)
		return
	}
	defer closeClient(c)
	svcs, err := c.Services()
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	if err != nil {
		t.Errorf("listing IPVS services: %v", err)
		return
	}
	for _, s := range svcs {
		if err := c.RemoveService(s.Service); err != nil {
			t.Errorf("removing IPVS service %v:%d: %v", s.Address, s.Port, err)
		}
	}
}

func closeClient(c cfipvs.Client) {
	if cl, ok := c.(io.Closer); ok {
		cl.Close()
	}
}

// realServer is an HTTP server listening in its own namespace. It answers
//
//	/         its name
//	/healthz  "ok"
//	/stream   a byte every 10 ms until the connection closes
//
// and names itself in the X-Server header of every response.
type realServer struct {
	name string
	ns   netns.NsHandle
	addr netip.AddrPort

	mu   sync.Mutex
	srv  *http.Server
	done chan struct{} // closed when srv's Serve returned
}

// start listens inside the server's namespace and serves until stop.
func (rs *realServer) start(t *testing.T) {
	t.Helper()
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.srv != nil {
		t.Fatalf("%s already running", rs.name)
	}
	var ln net.Listener
	err := inNetns(rs.ns, func() (err error) {
		ln, err = net.Listen("tcp4", rs.addr.String())
		return err
	})
	if err != nil {
		t.Fatalf("%s: listening on %s: %v", rs.name, rs.addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, rs.name) })
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })
	mux.HandleFunc("/stream", rs.stream)
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Server", rs.name)
			mux.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	rs.srv, rs.done = srv, done
}

// stop closes the listener and every connection, as a crashed server
// would: new connections are refused.
func (rs *realServer) stop() {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.srv == nil {
		return
	}
	rs.srv.Close()
	<-rs.done
	rs.srv, rs.done = nil, nil
}

func (rs *realServer) stream(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "no flusher", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.WriteHeader(http.StatusOK)
	fl.Flush()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
		}
		if _, err := w.Write([]byte{'.'}); err != nil {
			return
		}
		fl.Flush()
	}
}

// dialClient dials from the client's namespace. Safe for concurrent use.
func (l *lab) dialClient(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := inNetns(l.client, func() (err error) {
		var d net.Dialer
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// httpClient returns an HTTP client in the client's namespace that opens a
// new connection for every request, so that IPVS schedules each one.
func (l *lab) httpClient(timeout time.Duration) *http.Client {
	tr := &http.Transport{
		Proxy:             nil,
		DialContext:       l.dialClient,
		DisableKeepAlives: true,
	}
	l.t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: timeout}
}

// get asks the VIP who answers: the body of GET / through the VIP.
func get(c *http.Client) (string, error) {
	resp, err := c.Get("http://" + vipPort.String() + "/")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %s: %s", resp.Status, b)
	}
	return strings.TrimSpace(string(b)), nil
}

// requests makes n requests to the VIP and counts the answers by server;
// failed requests count under "error: ...".
func requests(c *http.Client, n int) map[string]int {
	got := map[string]int{}
	for range n {
		who, err := get(c)
		if err != nil {
			who = "error: " + err.Error()
		}
		got[who]++
	}
	return got
}

// waitFor polls cond every 25 ms until it holds, and returns how long that
// took; after timeout it fails the test with what and cond's last reason.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		ok, why := cond()
		if ok {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			t.Fatalf("timed out after %v waiting for %s: %s", timeout, what, why)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// stream is a long-lived GET /stream through the VIP, read in its own
// goroutine, which records the longest silence between bytes.
type stream struct {
	server string // X-Server of the response
	body   io.ReadCloser
	done   chan struct{}

	mu      sync.Mutex
	bytes   int
	last    time.Time
	maxGap  time.Duration
	err     error
	errAt   time.Time
	closing bool
}

// streamStats are a stream's counters; maxGap includes the silence since
// the last byte.
type streamStats struct {
	bytes  int
	maxGap time.Duration
	err    error
	errAt  time.Time // when err came
}

// openStream starts a stream with c, which must not have a timeout.
func openStream(c *http.Client) (*stream, error) {
	resp, err := c.Get("http://" + vipPort.String() + "/stream")
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("GET /stream: %s", resp.Status)
	}
	s := &stream{server: resp.Header.Get("X-Server"), body: resp.Body, done: make(chan struct{}), last: time.Now()}
	go s.read()
	return s, nil
}

func (s *stream) read() {
	defer close(s.done)
	buf := make([]byte, 512)
	for {
		n, err := s.body.Read(buf)
		now := time.Now()
		s.mu.Lock()
		if n > 0 {
			s.maxGap = max(s.maxGap, now.Sub(s.last))
			s.last = now
			s.bytes += n
		}
		if err != nil {
			if !s.closing {
				s.err, s.errAt = err, now
			}
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
	}
}

func (s *stream) stats() streamStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := streamStats{bytes: s.bytes, maxGap: s.maxGap, err: s.err, errAt: s.errAt}
	if s.err == nil {
		st.maxGap = max(st.maxGap, time.Since(s.last))
	}
	return st
}

// close ends the stream from the client's side.
func (s *stream) close() {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	s.body.Close()
	<-s.done
}

// createForeign creates 10.1.0.200:80 (sh, persistent for 5 minutes, one
// NAT destination of weight 3) with cloudflare/ipvs, as another tool would,
// and returns its line in tableString's form.
func createForeign(t *testing.T) string {
	t.Helper()
	c, err := cfipvs.New()
	if err != nil {
		t.Fatal(err)
	}
	defer closeClient(c)
	svc := cfipvs.Service{
		Address: netip.MustParseAddr("10.1.0.200"), Port: 80, Protocol: cfipvs.TCP, Family: cfipvs.INET,
		Netmask: netmask.MaskFrom(32, 32), Scheduler: "sh", Flags: cfipvs.ServicePersistent, Timeout: 300,
	}
	dst := cfipvs.Destination{
		Address: rsAddrs["rs2"], Port: rsPort, Family: cfipvs.INET, FwdMethod: cfipvs.Masquerade, Weight: 3,
	}
	if err := c.CreateService(svc); err != nil {
		t.Fatalf("creating the foreign service: %v", err)
	}
	if err := c.CreateDestination(svc, dst); err != nil {
		t.Fatalf("adding the foreign destination: %v", err)
	}
	return "tcp/10.1.0.200:80 sh flags= timeout=5m0s netmask=32: 10.2.0.12:8080/nat/w3/u0/l0\n"
}

// removeDestination removes addr from the VIP's service behind vigil's back.
func removeDestination(t *testing.T, addr netip.AddrPort) {
	t.Helper()
	c, err := cfipvs.New()
	if err != nil {
		t.Fatal(err)
	}
	defer closeClient(c)
	svc := cfipvs.Service{Address: vip, Port: vipPort.Port(), Protocol: cfipvs.TCP, Family: cfipvs.INET}
	dst := cfipvs.Destination{Address: addr.Addr(), Port: addr.Port(), Family: cfipvs.INET}
	if err := c.RemoveDestination(svc, dst); err != nil {
		t.Fatalf("removing %s from %s: %v", addr, vipPort, err)
	}
}
