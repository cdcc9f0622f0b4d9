//go:build vm && linux

package vmdata

import (
	"context"
	"encoding/binary"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vigil-lb/vigil/internal/spawn"
	"github.com/vigil-lb/vigil/internal/vmtest"
	"github.com/vigil-lb/vigil/ipvs"
)

// restartStreams is the number of long-lived connections open through the
// VIP while a director restarts, as in TestRestartKeepConnections.
const restartStreams = 20

// vrrpOnlyAddr is the VRRP instance's address in the static-VIP cases,
// where the lab holds the VIP itself and VRRP must not touch it.
var vrrpOnlyAddr = netip.MustParseAddr("10.1.0.101")

// restartCase is one way of restarting the director under live streams.
type restartCase struct {
	name string // in the BENCH lines and the subtest's name
	// keepalived runs keepalived as the director instead of vigil.
	keepalived bool
	// dontReleaseIPVS passes --dont-release-ipvs (-I) to keepalived: the
	// only keepalived 2.2.7 setting that leaves its virtual servers in the
	// kernel when it stops.
	dontReleaseIPVS bool
	// staticVIP has the lab hold the VIP on the client link, as an
	// address managed outside VRRP would be; the VRRP instance then holds
	// vrrpOnlyAddr, so that the restart's only effect on the streams is
	// what the director does to the IPVS table.
	staticVIP bool
	// expireNodestConn sets net.ipv4.vs.expire_nodest_conn to 1 (default
	// 0), as kube-proxy's IPVS mode does: the kernel then expires the
	// connections of a destination that is removed instead of dropping
	// their packets until it is back.
	expireNodestConn bool
	// foreign adds a service that is not the director's to the table
	// first (createForeign), so that the director's is not the only one.
	// The kernel registers IPVS's netfilter hooks with the first service
	// of an address family and unregisters them with the last (since
	// "ipvs: register hooks only with services"; the VM's 6.1 has it):
	// while a restart has removed the only service, packets of established
	// connections pass the director as if IPVS were not there.
	foreign bool
}

// conditions names c's kernel settings and table for the report.
func (c restartCase) conditions() string {
	switch {
	case c.expireNodestConn:
		return "expire_nodest_conn=1"
	case c.foreign:
		return "another service in the table"
	}
	return "defaults"
}

// vipName says who holds the VIP in c.
func (c restartCase) vipName() string {
	if c.staticVIP {
		return "static"
	}
	return "VRRP"
}

var restartCases = []restartCase{
	{name: "vigil"},
	{name: "keepalived", keepalived: true},
	{name: "keepalived -I", keepalived: true, dontReleaseIPVS: true},
	{name: "vigil", staticVIP: true},
	{name: "keepalived", keepalived: true, staticVIP: true},
	{name: "keepalived -I", keepalived: true, dontReleaseIPVS: true, staticVIP: true},
	{name: "vigil", staticVIP: true, expireNodestConn: true},
	{name: "keepalived", keepalived: true, staticVIP: true, expireNodestConn: true},
	{name: "keepalived", keepalived: true, staticVIP: true, foreign: true},
}

// TestRestartComparedWithKeepalived restarts the director under
// restartStreams live streams through the VIP, with vigil and with
// keepalived 2.2.7 (VIGIL_VM_PROGRAMS=keepalived) in the same lab and the
// same run, and reports side by side (log lines starting with BENCH; `make
// bench-restart`) how many streams broke and which kernel IPVS changes the
// restart made, observed by polling the table over netlink from the stop
// until every stream has resumed or failed.
//
// keepalived 2.2.7 removes its virtual servers when it stops: the checker
// process's termination (check/check_daemon.c checker_terminate_phase1)
// calls clear_services() unless --dont-release-ipvs (-I) was given, and
// with the default lvs_flush_on_stop (off) clear_service_vs() deletes
// every real server, then the service, one request each (lvs_flush_on_stop
// would flush the whole table instead). On start init_services() creates
// them anew; lvs_flush (off by default) would flush the table first. With
// -I the stop leaves the table, and the start's creates fail with EEXIST,
// which ipvs_talk() ignores and logs ("IPVS cmd IP_VS_SO_SET_ADD(1154)
// error: Service already exists"). There is no global_defs keyword that
// keeps the table; -I is the only one. systemctl restart is SIGTERM to the
// process group (KillMode=control-group), waiting for the exit, and a new
// start, which is what the test does.
//
// The cases: the VIP held by VRRP, as in TestRestartKeepConnections, where
// both directors also release the VIP while they restart; the VIP held
// outside VRRP (static), so that only the IPVS table matters; the static
// VIP with net.ipv4.vs.expire_nodest_conn=1; and the static VIP with a
// service that is not the director's in the table (see restartCase.foreign
// for why that matters).
//
// Only vigil's numbers are asserted: 0 streams broken or stalled, 0 kernel
// changes. keepalived's are measured and reported; what is asserted of a
// keepalived run is that keepalived programmed the table and served the
// streams before its restart. Outside the VM the test skips (fails with
// CI=true), and so do keepalived's cases when the VM has no keepalived.
//
// VIGIL_BENCH_ITERATIONS runs every case that many times (default 1).
func TestRestartComparedWithKeepalived(t *testing.T) {
	vmtest.Require(t)
	runs := 1
	if s := os.Getenv("VIGIL_BENCH_ITERATIONS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("VIGIL_BENCH_ITERATIONS=%q: want a positive number", s)
		}
		runs = n
	}
	var results []restartResult
	for _, c := range restartCases {
		for range runs {
			t.Run(c.subtestName(), func(t *testing.T) {
				r := runRestart(t, c)
				t.Logf("BENCH restart %s", r)
				results = append(results, r)
			})
		}
	}
	t.Logf("BENCH restart summary, %d streams, %d run(s) per case; times are medians (min–max):", restartStreams, runs)
	for _, l := range restartSummary(results) {
		t.Logf("BENCH %s", l)
	}
}

func (c restartCase) subtestName() string {
	s := c.vipName() + "-VIP/" + strings.ReplaceAll(c.name, " ", "")
	switch {
	case c.expireNodestConn:
		s += "/expire_nodest_conn"
	case c.foreign:
		s += "/foreign-service"
	}
	return s
}

// restartResult is what one restart did.
type restartResult struct {
	c       restartCase
	streams int
	broken  int // streams that ended with an error
	stalled int // streams that neither failed nor resumed
	// worstGap is the longest silence of a surviving stream.
	worstGap time.Duration
	// established is the number of the streams' connection entries in
	// the kernel's IPVS connection table that are ESTABLISHED once the
	// restart is over.
	established int
	changes     kernelChanges
	stopTook    time.Duration
	// Absences over the watch, from the table polls.
	svcAbsent, svcAbsentVIPUp, vipAbsent time.Duration
	// back is from the stop signal to the VRRP address and both
	// destinations being back, resolved from it to every stream having
	// resumed or failed; each zero if that did not happen.
	back, resolved time.Duration
	resolution     time.Duration // the longest interval between two polls
}

func (r restartResult) String() string {
	s := fmt.Sprintf("%s, %s VIP", r.c.name, r.c.vipName())
	if r.c.conditions() != "defaults" {
		s += ", " + r.c.conditions()
	}
	s += fmt.Sprintf(": %d streams, %d broken, %d stalled, longest silence %v; kernel changes %d (%s), %d of their connection entries established after; service absent %v (%v of it with the VIP up), VIP absent %v; stop took %v",
		r.streams, r.broken, r.stalled, r.worstGap.Round(time.Millisecond), r.changes.total(), r.changes,
		r.established, r.svcAbsent.Round(time.Millisecond), r.svcAbsentVIPUp.Round(time.Millisecond), r.vipAbsent.Round(time.Millisecond),
		r.stopTook.Round(time.Millisecond))
	if r.back > 0 {
		s += fmt.Sprintf(", director back %v after the signal", r.back.Round(time.Millisecond))
	} else {
		s += ", director not back"
	}
	if r.resolved > 0 {
		s += fmt.Sprintf(", every stream resumed or failed by %v", r.resolved.Round(time.Millisecond))
	}
	return s + fmt.Sprintf("; table polled at least every %v", r.resolution.Round(100*time.Microsecond))
}

// runRestart builds the lab, starts c's director, opens the streams,
// restarts the director while watching the table, and reports.
func runRestart(t *testing.T, c restartCase) restartResult {
	var ka string
	if c.keepalived {
		ka = keepalivedBinary(t)
	}
	l := newLab(t, "rs1", "rs2", "sorry")
	if c.expireNodestConn {
		setSysctl(t, "net/ipv4/vs/expire_nodest_conn", "1")
	}
	if c.foreign {
		createForeign(t)
	}
	vrrpAddr := vip
	if c.staticVIP {
		l.addr(l.root, clientLink, netip.PrefixFrom(vip, 24))
		vrrpAddr = vrrpOnlyAddr
	}
	var d restartable
	if c.keepalived {
		d = newKeepalived(t, ka, keepalivedOptions{vrrpAddr: vrrpAddr, checkTimeout: restartCheckTimeout, dontReleaseIPVS: c.dontReleaseIPVS})
	} else {
		d = &vigilDirector{d: newDirector(t, vsOptions{quorum: 1, vrrpAddr: vrrpAddr, checkTimeout: restartCheckTimeout})}
	}
	d.start()
	took := waitFor(t, 10*time.Second, c.name+" to become master", func() (bool, string) {
		return hasAddr(l.root, vrrpAddr), "no " + vrrpAddr.String() + " on " + clientLink
	})
	destsAre(t, 5*time.Second, dest("rs1", 1), dest("rs2", 1))
	s, _ := vigilService(t)
	if s.Scheduler != "wrr" || s.Destinations[0].Forwarding != ipvs.ForwardNAT {
		t.Fatalf("%s programmed %s, want wrr over NAT destinations", c.name, tableString([]ipvs.Service{s}))
	}
	t.Logf("%s master %v after its start; table: %s", c.name, took, tableString(kernelTable(t)))

	streams := make([]*stream, 0, restartStreams)
	t.Cleanup(func() {
		for _, s := range streams {
			s.close()
		}
	})
	sc, ports := l.portsClient()
	perServer := map[string]int{}
	for range restartStreams {
		s, err := openStream(sc)
		if err != nil {
			t.Fatalf("%s: opening stream %d: %v", c.name, len(streams), err)
		}
		streams = append(streams, s)
		perServer[s.server]++
	}
	time.Sleep(500 * time.Millisecond)
	for i, s := range streams {
		if st := s.stats(); st.bytes == 0 || st.err != nil {
			t.Fatalf("%s: stream %d (%s) before the restart: %d bytes, err %v", c.name, i, s.server, st.bytes, st.err)
		}
	}
	t.Logf("%d streams open through %s: %v", restartStreams, vipPort, perServer)

	w := watchTable(t, ports)
	time.Sleep(200 * time.Millisecond)
	mark := make([]int, len(streams))
	for i, s := range streams {
		mark[i] = s.stats().bytes
	}
	t.Logf("the streams' connection entries in the kernel before the stop: %v", ipvsConns(t, ports))
	signal := time.Now()
	r := restartResult{c: c, streams: len(streams)}
	r.stopTook = d.stop()
	t.Logf("the streams' connection entries in the kernel after the stop: %v", ipvsConns(t, ports))
	d.start()

	// Back: the VRRP address and both destinations. Not asserted:
	// keepalived's numbers are reported whatever they are.
	deadline := signal.Add(restartObserve)
	for time.Now().Before(deadline) {
		if hasAddr(l.root, vrrpAddr) && slices.Equal(destinations(t), []string{dest("rs1", 1), dest("rs2", 1)}) {
			r.back = time.Since(signal)
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	// Then every stream either resumes (resumeBytes more bytes from the
	// moment the director is back) or fails: a connection whose server
	// end is gone is silent until the client's keepalive probe draws a
	// reset. Up to restartObserve after the signal.
	backMark := make([]int, len(streams))
	for i, s := range streams {
		backMark[i] = s.stats().bytes
	}
	for time.Now().Before(deadline) && !allResolved(streams, backMark) {
		time.Sleep(25 * time.Millisecond)
	}
	if allResolved(streams, backMark) {
		r.resolved = time.Since(signal)
	}
	// A second more for late resets and kernel changes to show.
	time.Sleep(time.Second)
	w.stop()

	for i, s := range streams {
		st := s.stats()
		switch {
		case st.err != nil:
			r.broken++
			t.Logf("%s: stream %d (%s) broke %+.1f ms after the signal: %v after %d bytes (%d after the signal)",
				c.name, i, s.server, ms(st.errAt.Sub(signal)), st.err, st.bytes, st.bytes-mark[i])
		case st.bytes < backMark[i]+resumeBytes:
			r.stalled++
			t.Logf("%s: stream %d (%s) stalled: %d bytes, %d after the signal, silent for %v", c.name, i, s.server, st.bytes, st.bytes-mark[i], st.maxGap)
		default:
			r.worstGap = max(r.worstGap, st.maxGap)
		}
	}
	conns := ipvsConns(t, ports)
	t.Logf("the streams' connection entries in the kernel at the end: %v", conns)
	r.established = conns["ESTABLISHED"]
	r.changes = w.changes
	r.svcAbsent, r.svcAbsentVIPUp, r.vipAbsent = w.svcAbsent, w.svcAbsentVIPUp, w.vipAbsent
	r.resolution = w.maxPoll
	for _, e := range w.events {
		t.Logf("%+8.1f ms  %s", ms(e.at.Sub(signal)), e.what)
	}
	if w.errs > 0 {
		t.Logf("%d of %d table reads failed (a service removed between its dump and its destinations' dump); they are left out", w.errs, w.polls)
	}
	if k, ok := d.(*keepalived); ok {
		t.Logf("keepalived's IPVS log lines:\n%s", k.ipvsLines())
	}

	if !c.keepalived {
		if r.broken+r.stalled != 0 {
			t.Errorf("vigil's restart broke %d and stalled %d of %d streams, want none", r.broken, r.stalled, r.streams)
		}
		if n := r.changes.total(); n != 0 {
			t.Errorf("vigil's restart made %d kernel changes (%s), want none", n, r.changes)
		}
		if r.back == 0 {
			t.Errorf("vigil did not get the VRRP address and the table back within %v of its restart", restartObserve)
		}
	}
	return r
}

// portsClient is httpClient(0) that records the client port of every
// connection it opens, to find them in the kernel's connection table, and
// whose connections send TCP keepalive probes after restartKeepAlive idle.
func (l *lab) portsClient() (*http.Client, func() map[uint16]bool) {
	var mu sync.Mutex
	ports := map[uint16]bool{}
	tr := &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var c net.Conn
			err := inNetns(l.client, func() (err error) {
				d := net.Dialer{KeepAlive: restartKeepAlive}
				c, err = d.DialContext(ctx, network, addr)
				return err
			})
			if err == nil {
				mu.Lock()
				ports[netip.MustParseAddrPort(c.LocalAddr().String()).Port()] = true
				mu.Unlock()
			}
			return c, err
		},
		DisableKeepAlives: true,
	}
	l.t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}, func() map[uint16]bool {
		mu.Lock()
		defer mu.Unlock()
		return maps.Clone(ports)
	}
}

// ipvsConns counts by state the entries of the kernel's IPVS connection
// table from the client's address and one of ports.
func ipvsConns(t *testing.T, ports func() map[uint16]bool) map[string]int {
	t.Helper()
	m, err := readConns(ports())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// readConns counts by state the entries of /proc/net/ip_vs_conn from the
// client's address and one of want.
func readConns(want map[uint16]bool) (map[string]int, error) {
	b, err := os.ReadFile("/proc/net/ip_vs_conn")
	if err != nil {
		return nil, err
	}
	client := fmt.Sprintf("%08X", binary.BigEndian.Uint32(clientAddr.Addr().AsSlice()))
	out := map[string]int{}
	for l := range strings.Lines(string(b)) {
		// Pro FromIP FPrt ToIP TPrt DestIP DPrt State Expires ...
		f := strings.Fields(l)
		if len(f) < 8 || f[1] != client {
			continue
		}
		port, err := strconv.ParseUint(f[2], 16, 16)
		if err == nil && want[uint16(port)] {
			out[f[7]]++
		}
	}
	return out, nil
}

// ms is d in milliseconds.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// restartCheckTimeout is the checks' connect timeout in the restart
// comparison: long enough that the load of 20 streams and the table
// watch on the VM's one emulated CPU does not fail a check, since a check
// that fails changes the table for reasons other than the restart.
const restartCheckTimeout = time.Second

// restartKeepAlive is the idle time after which the client's
// connections send a TCP keepalive probe (Go's default is 15 s): a
// connection that a restart left without a live end is silent until a
// probe draws a reset from the far end.
const restartKeepAlive = 5 * time.Second

// restartObserve is how long after the stop signal a restart is watched
// at most: past the first keepalive probe of a connection silent since
// the stop.
const restartObserve = 12 * time.Second

// resumeBytes is how many bytes (10 ms each) a stream must get after the
// director is back to count as resumed: more than the data in flight.
const resumeBytes = 20

// allResolved reports whether every stream has failed or got resumeBytes
// after its mark.
func allResolved(streams []*stream, mark []int) bool {
	for i, s := range streams {
		if st := s.stats(); st.err == nil && st.bytes < mark[i]+resumeBytes {
			return false
		}
	}
	return true
}

// restartable is a director the test stops, as SIGTERM does, and starts
// again.
type restartable interface {
	start()
	// stop stops the director and returns how long it took.
	stop() time.Duration
}

// vigilDirector runs vigil in-process (director.start); stopping it is
// what vigil does on SIGTERM (main cancels Run's context).
type vigilDirector struct {
	d *director
	v *vigil
}

func (r *vigilDirector) start()              { r.v = r.d.start() }
func (r *vigilDirector) stop() time.Duration { return r.v.stop() }

// keepalivedBinary returns keepalived's path in the VM. Without one it
// fails the test when CI=true and skips it otherwise.
func keepalivedBinary(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("keepalived")
	if err == nil {
		return bin
	}
	const msg = "keepalived is not in the VM: run the test with VIGIL_VM_PROGRAMS=keepalived (make test-vm and make bench-restart do; scripts/install-deps.sh installs keepalived on the host): %v"
	if os.Getenv("CI") == "true" {
		t.Fatalf(msg, err)
	}
	t.Skipf(msg, err)
	return ""
}

// keepalivedOptions vary keepalivedConfig and keepalived's command line.
type keepalivedOptions struct {
	vrrpAddr        netip.Addr
	checkTimeout    time.Duration
	dontReleaseIPVS bool
}

// keepalivedConfig is vigilConfig in keepalived's terms: VRRPv3 every
// 100 ms, priority 150, no initial state (BACKUP, as vigil starts), one
// gratuitous ARP and no second burst; the virtual server VIP:80, wrr over
// NAT, quorum 1 (keepalived's default) with the sorry server, rs1 with a
// TCP_CHECK and rs2 with an HTTP_GET of /healthz, checked every 200 ms
// with o.checkTimeout as connect timeout and no retry (fall 1; keepalived
// adds a server back on its first success, rise 1). Everything else,
// lvs_flush and lvs_flush_on_stop included, is keepalived's default.
func keepalivedConfig(o keepalivedOptions) string {
	timeout := strconv.FormatFloat(o.checkTimeout.Seconds(), 'f', -1, 64)
	// rs renders a real_server block with one checker of kind, whose
	// own lines (indented) are extra.
	rs := func(name, kind, extra string) string {
		a := rsAddr(name)
		return fmt.Sprintf(`    real_server %s %d {
        weight 1
        %s {
%s            connect_timeout %s
            retry 0
        }
    }
`, a.Addr(), a.Port(), kind, extra, timeout)
	}
	return fmt.Sprintf(`global_defs {
    router_id vmdata
    vrrp_version 3
}
vrrp_instance VI_1 {
    interface %[1]s
    virtual_router_id 51
    priority 150
    advert_int 0.1
    garp_master_delay 0
    garp_master_repeat 1
    virtual_ipaddress {
        %[2]s/24 dev %[1]s
    }
}
virtual_server %[3]s %[4]d {
    delay_loop 0.2
    lb_algo wrr
    lb_kind NAT
    protocol TCP
    quorum 1
    sorry_server %[5]s %[6]d
%[7]s%[8]s}
`, clientLink, o.vrrpAddr, vip, vipPort.Port(), rsAddr("sorry").Addr(), rsAddr("sorry").Port(),
		rs("rs1", "TCP_CHECK", ""),
		rs("rs2", "HTTP_GET", `            url {
                path /healthz
                status_code 200
            }
`))
}

// keepalived runs keepalived in the VM's root namespace as the director,
// in the foreground (as systemd's keepalived.service does) with both the
// VRRP and the checker subsystems, logging to the console, its pid files
// in a directory of its own.
type keepalived struct {
	t    *testing.T
	bin  string
	args []string
	logs *syncBuffer
	runs int

	cmd    *exec.Cmd
	exited chan struct{}
}

func newKeepalived(t *testing.T, bin string, o keepalivedOptions) *keepalived {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "keepalived.conf")
	text := keepalivedConfig(o)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "--config-test", "--use-file="+conf).CombinedOutput(); err != nil {
		t.Fatalf("keepalived rejects its configuration: %v\n%s\n%s", err, out, text)
	}
	k := &keepalived{t: t, bin: bin, logs: &syncBuffer{}, args: []string{
		"--dont-fork", "--log-console", "--log-detail", "--no-syslog",
		"--use-file=" + conf,
		"--pid=" + filepath.Join(dir, "keepalived.pid"),
		"--vrrp_pid=" + filepath.Join(dir, "vrrp.pid"),
		"--checkers_pid=" + filepath.Join(dir, "checkers.pid"),
	}}
	if o.dontReleaseIPVS {
		k.args = append(k.args, "--dont-release-ipvs")
	}
	// Registered before any run's stop, so it runs after them.
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("VIGIL_VMDATA_LOGS") == "1" {
			t.Logf("keepalived's configuration:\n%s\nkeepalived's log:\n%s", text, k.logs.String())
		}
	})
	return k
}

// start runs keepalived in a process group of its own until stop or the
// end of the test.
func (k *keepalived) start() {
	t := k.t
	t.Helper()
	if k.cmd != nil {
		t.Fatal("keepalived already running")
	}
	k.runs++
	fmt.Fprintf(k.logs, "--- run %d: keepalived %s\n", k.runs, strings.Join(k.args, " "))
	cmd := exec.Command(k.bin, k.args...)
	cmd.Stdout, cmd.Stderr = k.logs, k.logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := spawn.Start(cmd); err != nil {
		t.Fatalf("starting keepalived: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	k.cmd, k.exited = cmd, exited
	t.Cleanup(func() { k.stop() })
}

// stop sends SIGTERM to keepalived's process group, as systemctl stop
// does (KillMode=control-group), waits for the parent to exit (it reaps
// its VRRP and checker children first), and returns how long that took.
func (k *keepalived) stop() time.Duration {
	if k.cmd == nil {
		return 0
	}
	cmd, exited := k.cmd, k.exited
	k.cmd, k.exited = nil, nil
	start := time.Now()
	pgid := cmd.Process.Pid
	if err := syscall.Kill(-pgid, syscall.SIGTERM); err != nil {
		k.t.Errorf("SIGTERM to keepalived: %v", err)
	}
	select {
	case <-exited:
	case <-time.After(15 * time.Second):
		k.t.Errorf("keepalived did not exit within 15s of SIGTERM; killing it")
		syscall.Kill(-pgid, syscall.SIGKILL)
		<-exited
	}
	took := time.Since(start)
	fmt.Fprintf(k.logs, "--- run %d: %v after SIGTERM: %v\n", k.runs, took, cmd.ProcessState)
	return took
}

// ipvsLines returns the lines of keepalived's log about the IPVS table.
func (k *keepalived) ipvsLines() string {
	var b strings.Builder
	for l := range strings.Lines(k.logs.String()) {
		if strings.HasPrefix(l, "--- ") || strings.Contains(l, "IPVS") || strings.Contains(l, "service") ||
			strings.Contains(l, "VS [") || strings.Contains(l, "Stopped") || strings.Contains(l, "Starting") {
			b.WriteString("    " + l)
		}
	}
	return b.String()
}

// kernelChanges counts the changes seen between successive polls of the
// table: services and destinations removed, added, or changed in place. A
// destination leaves and arrives with its service. Changes undone between
// two polls are not seen, except a service recreated between them, which
// its connection counter going backwards gives away.
type kernelChanges struct {
	svcRemoved, svcAdded, svcChanged int
	dstRemoved, dstAdded, dstChanged int
}

func (c kernelChanges) total() int {
	return c.svcRemoved + c.svcAdded + c.svcChanged + c.dstRemoved + c.dstAdded + c.dstChanged
}

func (c kernelChanges) String() string {
	return fmt.Sprintf("services -%d +%d ~%d, destinations -%d +%d ~%d",
		c.svcRemoved, c.svcAdded, c.svcChanged, c.dstRemoved, c.dstAdded, c.dstChanged)
}

// tableWatch polls the kernel's IPVS table and the VIP on the client link
// in a goroutine of its own, pausing watchPause between polls, until stop;
// every tenth poll also reads the streams' entries in the connection
// table.
type tableWatch struct {
	stopc chan struct{}
	done  chan struct{}

	// Written by the goroutine; read after done.
	polls, errs int
	maxPoll     time.Duration
	changes     kernelChanges
	events      []watchEvent
	// svcAbsent is how long the VIP's service was missing from the table,
	// svcAbsentVIPUp the part of that with the VIP on the client link,
	// vipAbsent how long the VIP was not there.
	svcAbsent, svcAbsentVIPUp, vipAbsent time.Duration
}

// watchPause is the pause between two polls of a tableWatch: the VM has
// one emulated CPU, which polling without a pause would take from the
// directors and their checks.
const watchPause = 10 * time.Millisecond

type watchEvent struct {
	at   time.Time
	what string
}

// watchTable starts a watch; it fails the test if the first read fails.
func watchTable(t *testing.T, ports func() map[uint16]bool) *tableWatch {
	t.Helper()
	k := ipvs.NewNetlinkKernel()
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		k.Close()
		t.Fatalf("netlink: %v", err)
	}
	read := func() (map[ipvs.ServiceKey]ipvs.Service, bool, error) {
		svcs, err := k.Services(context.Background())
		if err != nil {
			return nil, false, err
		}
		m := make(map[ipvs.ServiceKey]ipvs.Service, len(svcs))
		for _, s := range svcs {
			m[s.Key] = s
		}
		return m, hasAddr(h, vip), nil
	}
	streamPorts := ports()
	prevConns := ipvsConns(t, ports)
	prev, prevVIP, err := read()
	if err != nil {
		k.Close()
		h.Close()
		t.Fatalf("reading the IPVS table: %v", err)
	}
	w := &tableWatch{stopc: make(chan struct{}), done: make(chan struct{})}
	key := ipvs.AddrKey(ipvs.TCP, vipPort)
	go func() {
		defer close(w.done)
		defer k.Close()
		defer h.Close()
		prevAt := time.Now()
		for {
			select {
			case <-w.stopc:
				return
			default:
			}
			time.Sleep(watchPause)
			cur, curVIP, err := read()
			now := time.Now()
			w.polls++
			if err != nil {
				w.errs++
				continue
			}
			dt := now.Sub(prevAt)
			w.maxPoll = max(w.maxPoll, dt)
			if _, ok := prev[key]; !ok {
				w.svcAbsent += dt
				if prevVIP {
					w.svcAbsentVIPUp += dt
				}
			}
			if !prevVIP {
				w.vipAbsent += dt
			}
			note := func(format string, args ...any) {
				w.events = append(w.events, watchEvent{at: now, what: fmt.Sprintf(format, args...)})
			}
			w.changes.add(diffTables(prev, cur, note))
			if w.polls%10 != 0 {
				// The connection table every tenth poll only: it is long.
			} else if conns, err := readConns(streamPorts); err == nil && !maps.Equal(conns, prevConns) {
				note("the streams' connection entries: %v", conns)
				prevConns = conns
			}
			if curVIP != prevVIP {
				note("VIP %s %s", vip, map[bool]string{true: "added", false: "removed"}[curVIP])
			}
			prev, prevVIP, prevAt = cur, curVIP, now
		}
	}()
	return w
}

// stop ends the watch and waits for its goroutine.
func (w *tableWatch) stop() {
	close(w.stopc)
	<-w.done
}

func (c *kernelChanges) add(d kernelChanges) {
	c.svcRemoved += d.svcRemoved
	c.svcAdded += d.svcAdded
	c.svcChanged += d.svcChanged
	c.dstRemoved += d.dstRemoved
	c.dstAdded += d.dstAdded
	c.dstChanged += d.dstChanged
}

// diffTables counts the changes from prev to cur and describes each to
// note.
func diffTables(prev, cur map[ipvs.ServiceKey]ipvs.Service, note func(string, ...any)) kernelChanges {
	var c kernelChanges
	for k, p := range prev {
		n, ok := cur[k]
		if !ok {
			c.svcRemoved++
			c.dstRemoved += len(p.Destinations)
			note("service %s removed (with %d destinations)", k, len(p.Destinations))
			continue
		}
		if n.Scheduler != p.Scheduler || n.Flags != p.Flags || n.Timeout != p.Timeout || n.Netmask != p.Netmask {
			c.svcChanged++
			note("service %s changed: %s %s %v /%d -> %s %s %v /%d", k, p.Scheduler, p.Flags, p.Timeout, p.Netmask, n.Scheduler, n.Flags, n.Timeout, n.Netmask)
		}
		if n.Stats.Connections < p.Stats.Connections {
			c.svcRemoved++
			c.svcAdded++
			note("service %s recreated between two polls (its connection counter went from %d to %d)", k, p.Stats.Connections, n.Stats.Connections)
		}
		pd, nd := destsByAddr(p), destsByAddr(n)
		for a, x := range pd {
			y, ok := nd[a]
			switch {
			case !ok:
				c.dstRemoved++
				note("destination %s of %s removed", a, k)
			case x.Weight != y.Weight || x.Forwarding != y.Forwarding || x.UpperThreshold != y.UpperThreshold || x.LowerThreshold != y.LowerThreshold:
				c.dstChanged++
				note("destination %s of %s changed: weight %d -> %d, %s -> %s", a, k, x.Weight, y.Weight, x.Forwarding, y.Forwarding)
			}
		}
		for a := range nd {
			if _, ok := pd[a]; !ok {
				c.dstAdded++
				note("destination of %s added: %s", k, destsNote([]ipvs.Destination{nd[a]}))
			}
		}
	}
	for k, n := range cur {
		if _, ok := prev[k]; !ok {
			c.svcAdded++
			c.dstAdded += len(n.Destinations)
			note("service %s added with %s", k, destsNote(n.Destinations))
		}
	}
	return c
}

// destsNote describes ds with the connection entries the kernel counts
// on each: a destination revived from the kernel's trash brings back the
// entries that still point at it.
func destsNote(ds []ipvs.Destination) string {
	if len(ds) == 0 {
		return "no destinations"
	}
	var parts []string
	for _, d := range ds {
		parts = append(parts, fmt.Sprintf("%s w%d (%d active, %d inactive connections)", d.Address, d.Weight, d.Stats.ActiveConnections, d.Stats.InactiveConnections))
	}
	return strings.Join(parts, ", ")
}

func destsByAddr(s ipvs.Service) map[netip.AddrPort]ipvs.Destination {
	m := make(map[netip.AddrPort]ipvs.Destination, len(s.Destinations))
	for _, d := range s.Destinations {
		m[d.Address] = d
	}
	return m
}

// restartSummary renders the results as a Markdown table, one row per
// case, every line for a BENCH log line.
func restartSummary(results []restartResult) []string {
	type agg struct {
		c                                           restartCase
		runs, streams, broken, stalled, established int
		changes                                     []int
		svcAbsent, svcAbsentVIPUp, vipAbsent, gap   []time.Duration
	}
	var order []string
	by := map[string]*agg{}
	for _, r := range results {
		k := r.c.subtestName()
		a := by[k]
		if a == nil {
			a = &agg{c: r.c}
			by[k] = a
			order = append(order, k)
		}
		a.runs++
		a.streams += r.streams
		a.broken += r.broken
		a.stalled += r.stalled
		a.established += r.established
		a.changes = append(a.changes, r.changes.total())
		a.svcAbsent = append(a.svcAbsent, r.svcAbsent)
		a.svcAbsentVIPUp = append(a.svcAbsentVIPUp, r.svcAbsentVIPUp)
		a.vipAbsent = append(a.vipAbsent, r.vipAbsent)
		if r.broken+r.stalled < r.streams {
			a.gap = append(a.gap, r.worstGap)
		}
	}
	lines := []string{
		"| VIP | director | kernel | streams broken | streams stalled | kernel changes per restart | connection entries established after | service absent | … with the VIP up | VIP absent | longest silence of a surviving stream |",
		"|---|---|---|---|---|---|---|---|---|---|---|",
	}
	for _, k := range order {
		a := by[k]
		sysctl := a.c.conditions()
		slices.Sort(a.changes)
		changes := strconv.Itoa(a.changes[0])
		if a.changes[0] != a.changes[len(a.changes)-1] {
			changes += fmt.Sprintf("–%d", a.changes[len(a.changes)-1])
		}
		lines = append(lines, fmt.Sprintf("| %s | %s | %s | %d of %d | %d | %s | %d of %d | %s | %s | %s | %s |",
			a.c.vipName(), a.c.name, sysctl, a.broken, a.streams, a.stalled, changes, a.established, a.streams,
			medianRange(a.svcAbsent), medianRange(a.svcAbsentVIPUp), medianRange(a.vipAbsent), medianRange(a.gap)))
	}
	return lines
}

// medianRange renders ds as "median (min–max)" in milliseconds, just the
// value for one run, or "–" for none.
func medianRange(ds []time.Duration) string {
	if len(ds) == 0 {
		return "–"
	}
	s := slices.Sorted(slices.Values(ds))
	ms := func(d time.Duration) string { return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 0, 64) }
	if len(s) == 1 {
		return ms(s[0]) + " ms"
	}
	return fmt.Sprintf("%s ms (%s–%s)", ms(s[len(s)/2]), ms(s[0]), ms(s[len(s)-1]))
}
