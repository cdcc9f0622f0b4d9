package lab

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// hostLinks lists the interfaces of the test process's own namespace.
func hostLinks(t *testing.T) []string {
	t.Helper()
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, i := range ifs {
		names = append(names, i.Name+"/"+i.HardwareAddr.String())
	}
	slices.Sort(names)
	return names
}

// reach pings target once from h and waits up to a second for the reply.
func reach(h *Host, target netip.Addr) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := h.Run(ctx, "ping", "-n", "-c", "1", "-W", "1", target.String())
	return err
}

// unreachable pings target once from h and reports whether no reply came
// within 200 ms.
func unreachable(h *Host, target netip.Addr) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := h.Run(ctx, "ping", "-n", "-c", "1", "-W", "0.2", target.String())
	return err != nil
}

// gone reports whether pid has exited (a zombie counts as gone).
func gone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// The state follows the parenthesised command name.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] == 'Z'
}

// linkFlags returns the flags `ip -j link show eth0` reports in h.
func linkFlags(t *testing.T, h *Host) []string {
	t.Helper()
	out, err := h.Run(context.Background(), "ip", "-j", "link", "show", Iface)
	if err != nil {
		t.Fatal(err)
	}
	var links []struct {
		Flags   []string `json:"flags"`
		Address string   `json:"address"`
	}
	if err := json.Unmarshal(out, &links); err != nil || len(links) != 1 {
		t.Fatalf("parsing %s: %v", out, err)
	}
	return links[0].Flags
}

// TestTopology checks addresses, sysctls, reachability and isolation from
// the test's own namespace.
func TestTopology(t *testing.T) {
	t.Parallel()
	Require(t, "root", "ip", "ping", "ipv6")
	before := hostLinks(t)
	topo := New(t, Options{Sysctls: map[string]string{"net.ipv4.conf.all.arp_accept": "1"}})
	if after := hostLinks(t); !slices.Equal(before, after) {
		t.Errorf("the test's own namespace changed:\nbefore %v\nafter  %v", before, after)
	}
	d1, client := topo.Host("director1"), topo.Host("client")

	names := map[string]bool{topo.SwitchNS(): true}
	for _, h := range topo.Hosts() {
		if !strings.HasPrefix(h.NS(), topo.ID()+"-") || names[h.NS()] {
			t.Errorf("host %s: namespace %q not unique under %q", h.Name(), h.NS(), topo.ID())
		}
		names[h.NS()] = true
		if _, err := os.Stat(filepath.Join(netnsDir, h.NS())); err != nil {
			t.Errorf("host %s: %v", h.Name(), err)
		}
		for _, a := range []netip.Addr{h.Addr4(), h.Addr6(), h.LinkLocal6()} {
			if !h.HasAddr(a) {
				t.Errorf("host %s: no %s in %v", h.Name(), a, h.Addrs())
			}
		}
		for key, want := range map[string]string{
			"net.ipv6.conf.eth0.accept_dad":        "0",
			"net.ipv6.conf.eth0.keep_addr_on_down": "1",
			"net.ipv4.conf.all.arp_accept":         "1",
		} {
			if got, err := readSysctl(h.nsH, key); err != nil || got != want {
				t.Errorf("host %s: %s = %q (%v), want %q", h.Name(), key, got, err, want)
			}
		}
	}
	if got, err := readSysctl(topo.swH, "net.ipv6.conf.all.disable_ipv6"); err != nil || got != "1" {
		t.Errorf("switch: disable_ipv6 = %q (%v)", got, err)
	}
	out, err := runCmd(context.Background(), nil, "ip", "-n", topo.SwitchNS(), "-d", "-j", "link", "show", bridgeName)
	if err != nil {
		t.Fatal(err)
	}
	var br []struct {
		Linkinfo struct {
			InfoData struct {
				McastSnooping *int `json:"mcast_snooping"`
				StpState      *int `json:"stp_state"`
			} `json:"info_data"`
		} `json:"linkinfo"`
	}
	if err := json.Unmarshal(out, &br); err != nil || len(br) != 1 {
		t.Fatalf("bridge: %s (%v)", out, err)
	}
	if d := br[0].Linkinfo.InfoData; d.McastSnooping == nil || *d.McastSnooping != 0 || d.StpState == nil || *d.StpState != 0 {
		t.Errorf("bridge: mcast_snooping %v, stp_state %v; want both 0", d.McastSnooping, d.StpState)
	}
	if topo.ID() == New(t, Options{Hosts: Hosts("client")}).ID() {
		t.Errorf("two topologies share the ID %s", topo.ID())
	}

	// Reachability in both families, link-local included, from every host.
	for _, from := range topo.Hosts() {
		for _, to := range topo.Hosts() {
			if from == to {
				continue
			}
			for _, a := range []netip.Addr{to.Addr4(), to.Addr6(), to.LinkLocal6()} {
				if err := reach(from, a); err != nil {
					t.Errorf("%s -> %s %s: %v", from.Name(), to.Name(), a, err)
				}
			}
		}
	}
	for _, a := range []netip.Addr{d1.Addr4(), d1.Addr6()} {
		mac, state, err := client.Neigh(a)
		if err != nil || mac != d1.MAC().String() {
			t.Errorf("client neighbour %s = %s %s (%v), want %s", a, mac, state, err, d1.MAC())
		}
	}
	if _, _, err := client.Neigh(IPv4(77)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Neigh(unused address) error %v, want os.ErrNotExist", err)
	}

	// The pinger loses nothing on a healthy network, in either family.
	var pingers []*Pinger
	for _, a := range []netip.Addr{d1.Addr4(), d1.Addr6(), d1.LinkLocal6()} {
		pingers = append(pingers, client.Pinger(a, 5*time.Millisecond))
	}
	time.Sleep(150 * time.Millisecond)
	for _, p := range pingers {
		s := p.Stop()
		if s.Received < 10 || s.Lost() != 0 || s.SendErrors != 0 || s.Duplicates != 0 {
			t.Errorf("healthy network: %v", s)
		}
		for _, r := range s.Replies {
			if r.RTT() <= 0 || r.RTT() > time.Second {
				t.Errorf("reply %d: RTT %v", r.Seq, r.RTT())
			}
		}
	}
}

// TestPartition checks that Partition cuts exactly one pair of hosts and
// that the pinger measures the cut.
func TestPartition(t *testing.T) {
	t.Parallel()
	Require(t, "root", "ip", "ping", "nft")
	topo := New(t, Options{})
	d1, d2, client := topo.Host("director1"), topo.Host("director2"), topo.Host("client")
	p := client.Pinger(d1.Addr4(), 5*time.Millisecond)
	WaitFor(t, 2*time.Second, func() bool { return p.Stats().Received >= 10 }, "replies from director1")
	d1.Partition(client)
	cut := time.Now()
	if !unreachable(client, d1.Addr4()) {
		t.Errorf("client reaches director1 across the partition")
	}
	if !unreachable(client, d1.Addr6()) {
		t.Errorf("client reaches director1 over IPv6 across the partition")
	}
	for _, pair := range [][2]*Host{{d1, d2}, {client, d2}} {
		if err := reach(pair[0], pair[1].Addr4()); err != nil {
			t.Errorf("%s -> %s broken by an unrelated partition: %v", pair[0].Name(), pair[1].Name(), err)
		}
	}
	time.Sleep(500*time.Millisecond - time.Since(cut))
	healing := time.Now()
	client.Heal(d1)
	WaitFor(t, 2*time.Second, func() bool {
		r := p.Stats().Replies
		return len(r) > 0 && r[len(r)-1].Sent.After(healing)
	}, "replies after healing")
	s := p.Stop()
	t.Logf("%v", s)
	// A reply forwarded just before the rules took effect may be read
	// a little after Partition returned.
	const slack = 20 * time.Millisecond
	want := healing.Sub(cut)
	if s.LongestGap() < want-slack || s.LongestGap() > want+500*time.Millisecond {
		t.Errorf("longest gap %v, want the partition, %v", s.LongestGap(), want)
	}
	if s.Longest.Start.After(cut.Add(slack)) || s.Longest.End.Before(healing) {
		t.Errorf("longest gap [%v, %v] does not cover the partition [%v, %v]",
			s.Longest.Start.Format(time.StampMicro), s.Longest.End.Format(time.StampMicro),
			cut.Format(time.StampMicro), healing.Format(time.StampMicro))
	}
	if err := reach(client, d1.Addr4()); err != nil {
		t.Errorf("client -> director1 after Heal: %v", err)
	}
	// Heal with no arguments removes all of a host's partitions.
	d2.Partition(d1, client)
	if !unreachable(d1, d2.Addr4()) || !unreachable(client, d2.Addr4()) {
		t.Errorf("director2 reachable while partitioned from everyone")
	}
	d2.Heal()
	if err := reach(client, d2.Addr4()); err != nil {
		t.Errorf("client -> director2 after Heal(): %v", err)
	}
	d1.Partition(d2)
	topo.HealAll()
	if err := reach(d1, d2.Addr4()); err != nil {
		t.Errorf("director1 -> director2 after HealAll: %v", err)
	}
}

// TestUnplug checks that Unplug leaves eth0 up without carrier.
func TestUnplug(t *testing.T) {
	t.Parallel()
	Require(t, "root", "ip", "ping")
	topo := New(t, Options{})
	d2, client := topo.Host("director2"), topo.Host("client")
	d2.Unplug()
	WaitFor(t, time.Second, func() bool { return slices.Contains(linkFlags(t, d2), "NO-CARRIER") }, "director2 eth0 NO-CARRIER")
	if !slices.Contains(linkFlags(t, d2), "UP") {
		t.Errorf("director2 eth0 not administratively up while unplugged: %v", linkFlags(t, d2))
	}
	if !unreachable(client, d2.Addr4()) {
		t.Errorf("client reaches unplugged director2")
	}
	d2.Plug()
	WaitFor(t, 2*time.Second, func() bool { return reach(client, d2.Addr4()) == nil }, "director2 reachable after Plug")
}

// TestLinkDown checks that LinkDown keeps addresses and LinkUp restores
// the host.
func TestLinkDown(t *testing.T) {
	t.Parallel()
	Require(t, "root", "ip", "ping", "ipv6")
	topo := New(t, Options{})
	d2, client := topo.Host("director2"), topo.Host("client")
	d2.LinkDown()
	if slices.Contains(linkFlags(t, d2), "UP") {
		t.Errorf("director2 eth0 still UP after LinkDown")
	}
	if !d2.HasAddr(d2.Addr6()) {
		t.Errorf("director2 lost %s on link down (keep_addr_on_down)", d2.Addr6())
	}
	if !unreachable(client, d2.Addr4()) {
		t.Errorf("client reaches director2 with eth0 down")
	}
	d2.LinkUp()
	WaitFor(t, 2*time.Second, func() bool { return reach(client, d2.Addr6()) == nil }, "director2 reachable over IPv6 after LinkUp")
}

// TestProcesses covers Start, Signal, Wait, Kill and Run.
func TestProcesses(t *testing.T) {
	t.Parallel()
	Require(t, "root", "ip", "sh", "sleep")
	topo := New(t, Options{})
	d1, d2 := topo.Host("director1"), topo.Host("director2")
	p := d1.Start("sh", "-c", `echo "hello from $(hostname)"; exec sleep 60`)
	WaitFor(t, 2*time.Second, func() bool { return strings.Contains(p.Log(), "hello from") }, "the process's output")
	pids, err := pidsInNamespace(d1.NS())
	if err != nil || !slices.Contains(pids, p.Pid()) {
		t.Errorf("pid %d not in namespace %s (%v, %v)", p.Pid(), d1.NS(), pids, err)
	}
	if p.Exited() {
		t.Fatalf("exited early: %v", p.Wait(0))
	}
	if err := p.Wait(50 * time.Millisecond); !errors.Is(err, ErrTimeout) {
		t.Errorf("Wait on a running process: %v, want ErrTimeout", err)
	}
	p.Signal(syscall.SIGTERM)
	var ee interface{ ExitCode() int }
	if err := p.Wait(2 * time.Second); !errors.As(err, &ee) || ee.ExitCode() != -1 {
		t.Errorf("Wait after SIGTERM: %v, want killed by a signal", err)
	}

	q := d1.Start("sleep", "60")
	q.Kill()
	if !q.Exited() {
		t.Errorf("still running after Kill")
	}
	q.Kill() // idempotent

	out, err := d2.Run(context.Background(), "ip", "-o", "addr", "show", "dev", Iface)
	if err != nil || !strings.Contains(string(out), d2.Addr4().String()+"/24") {
		t.Errorf("Run ip addr in director2: %q, %v", out, err)
	}
	if _, err := d2.Run(context.Background(), "false"); err == nil {
		t.Errorf("Run false succeeded")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := d2.Run(ctx, "sleep", "10"); err == nil {
		t.Errorf("Run ignored its context")
	}
}

func TestTopologyClose(t *testing.T) {
	t.Parallel()
	Require(t, "root", "ip", "setsid")
	topo := New(t, Options{Hosts: []HostSpec{{Name: "box", ID: 5}}, Prefix: "vigiltest"})
	box := topo.Host("box")
	if !strings.HasPrefix(box.NS(), "vigiltest-"+strconv.Itoa(os.Getpid())+"-") {
		t.Errorf("namespace %q does not carry prefix and pid", box.NS())
	}
	// One process started by the lab, one that escaped its process group
	// and session: Close must end both.
	p := box.Start("sh", "-c", `setsid sleep 60 </dev/null >/dev/null 2>&1 & echo "escaped=$!"; exec sleep 60`)
	re := regexp.MustCompile(`escaped=(\d+)`)
	WaitFor(t, 2*time.Second, func() bool { return re.MatchString(p.Log()) }, "the escaped pid")
	escaped, _ := strconv.Atoi(re.FindStringSubmatch(p.Log())[1])
	if gone(escaped) {
		t.Fatalf("escaped process %d not running", escaped)
	}
	if err := topo.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if !p.Exited() || !gone(escaped) {
		t.Errorf("processes survived Close: started %v, escaped %v", !p.Exited(), !gone(escaped))
	}
	for _, ns := range []string{box.NS(), topo.SwitchNS()} {
		if _, err := os.Stat(filepath.Join(netnsDir, ns)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("namespace %s left behind: %v", ns, err)
		}
	}
	if err := topo.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// fakeTB records how Require reports.
type fakeTB struct {
	TB
	skipped, fatal string
}

func (f *fakeTB) Helper()                          {}
func (f *fakeTB) Skipf(format string, args ...any) { f.skipped = fmt.Sprintf(format, args...) }
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.fatal = fmt.Sprintf(format, args...)
}

func TestRequire(t *testing.T) {
	missing := "vigil-no-such-binary"
	t.Setenv("CI", "")
	f := &fakeTB{}
	Require(f, "sh", missing)
	if !strings.Contains(f.skipped, missing) || !strings.Contains(f.skipped, "scripts/install-deps.sh") || f.fatal != "" {
		t.Errorf("without CI: skipped %q, fatal %q", f.skipped, f.fatal)
	}
	if strings.Contains(f.skipped, "sh,") {
		t.Errorf("present binary reported missing: %q", f.skipped)
	}
	t.Setenv("CI", "true")
	f = &fakeTB{}
	Require(f, missing)
	if !strings.Contains(f.fatal, missing) || f.skipped != "" {
		t.Errorf("with CI=true: skipped %q, fatal %q", f.skipped, f.fatal)
	}
	f = &fakeTB{}
	Require(f, "sh")
	if f.fatal != "" || f.skipped != "" {
		t.Errorf("all present: skipped %q, fatal %q", f.skipped, f.fatal)
	}
}

// testFake is a testing.TB (so Require treats it as a test) that records
// how Require reports.
type testFake struct {
	testing.TB
	skipped, fatal string
}

func (f *testFake) Skipf(format string, args ...any)  { f.skipped = fmt.Sprintf(format, args...) }
func (f *testFake) Fatalf(format string, args ...any) { f.fatal = fmt.Sprintf(format, args...) }

// TestRequireShort checks that -short skips whatever is asked for, even
// under CI=true, and that a Session is not skipped for -short.
func TestRequireShort(t *testing.T) {
	if !testing.Short() {
		if err := flag.Set("test.short", "true"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { flag.Set("test.short", "false") })
	}
	t.Setenv("CI", "true")
	for _, what := range [][]string{{"root", "ip"}, {"sh"}, {"vigil-no-such-binary"}, nil} {
		f := &testFake{TB: t}
		Require(f, what...)
		if !strings.Contains(f.skipped, "-short") || f.fatal != "" {
			t.Errorf("Require(%q) with -short and CI=true: skipped %q, fatal %q", what, f.skipped, f.fatal)
		}
	}
	f := &fakeTB{} // not a testing.TB, as a Session
	Require(f, "sh")
	if f.skipped != "" || f.fatal != "" {
		t.Errorf("a program was stopped for -short: skipped %q, fatal %q", f.skipped, f.fatal)
	}
}

// pair is two keepalived directors and a client pinging the VIP.
type pair struct {
	topo           *Topology
	d1, d2, client *Host
	ka1, ka2       *Proc
	vip            netip.Addr
}

func directorConf(name string, version int, state string, prio uint8, every time.Duration, pass string, vip netip.Addr) KeepalivedConf {
	bits := Net4.Bits()
	if vip.Is6() {
		bits = Net6.Bits()
	}
	return KeepalivedConf{RouterID: name, Version: version, Instances: []KeepalivedInstance{{
		State: state, VRID: 51, Priority: prio, AdvertInterval: every, AuthPass: pass,
		VIPs: []netip.Prefix{netip.PrefixFrom(vip, bits)},
	}}}
}

// startPair starts director1 (priority 150, MASTER) and, once it holds the
// VIP, director2 (priority 100, BACKUP).
func startPair(t *testing.T, version int, every time.Duration, pass string, vip netip.Addr) *pair {
	t.Helper()
	Require(t, "root", "ip", "keepalived")
	topo := New(t, Options{})
	p := &pair{topo: topo, d1: topo.Host("director1"), d2: topo.Host("director2"), client: topo.Host("client"), vip: vip}
	start := time.Now()
	p.ka1 = p.d1.StartKeepalived(t, directorConf("director1", version, "MASTER", 150, every, pass, vip))
	WaitFor(t, 4*every+3*time.Second, func() bool { return p.d1.HasAddr(p.vip) }, "director1 to hold the VIP")
	t.Logf("director1 master %v after start", time.Since(start).Round(time.Millisecond))
	p.ka2 = p.d2.StartKeepalived(t, directorConf("director2", version, "BACKUP", 100, every, pass, vip))
	WaitFor(t, 3*time.Second, func() bool { return strings.Contains(p.ka2.Log(), "Entering BACKUP STATE") }, "director2 to enter BACKUP")
	// Longer than director2's Master_Down_Interval (3 intervals plus skew):
	// it stays backup only if it hears director1.
	time.Sleep(4 * every)
	if p.d2.HasAddr(p.vip) || !p.d1.HasAddr(p.vip) {
		t.Fatalf("VIP on director1 %v, director2 %v; want director1 only", p.d1.HasAddr(p.vip), p.d2.HasAddr(p.vip))
	}
	// keepalived runs inside the lab only.
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.Equal(net.IP(vip.AsSlice())) {
			t.Fatalf("the VIP %s appeared in the test's own namespace", vip)
		}
	}
	return p
}

// clientPinger starts the client pinging the VIP and waits until director1
// answers.
func (p *pair) clientPinger(t *testing.T) *Pinger {
	t.Helper()
	pg := p.client.Pinger(p.vip, 5*time.Millisecond)
	WaitFor(t, 2*time.Second, func() bool { return pg.Stats().Received >= 10 }, "the client's pings to the VIP to be answered")
	p.wantNeigh(t, p.d1, 0)
	return pg
}

// wantNeigh waits until the client's neighbour entry for the VIP carries
// h's MAC (timeout 0: check once).
func (p *pair) wantNeigh(t *testing.T, h *Host, timeout time.Duration) time.Duration {
	t.Helper()
	var mac, state string
	var err error
	took, ok := Within(timeout, func() bool {
		mac, state, err = p.client.Neigh(p.vip)
		return err == nil && mac == h.MAC().String()
	})
	if !ok {
		t.Fatalf("client neighbour entry for %s: %s %s (%v), want %s's %s", p.vip, mac, state, err, h.Name(), h.MAC())
	}
	return took
}

// answeredAfter waits until the pinger gets a reply to a request sent after
// since.
func answeredAfter(t *testing.T, pg *Pinger, since time.Time, timeout time.Duration) {
	t.Helper()
	WaitFor(t, timeout, func() bool {
		r := pg.Stats().Replies
		return len(r) > 0 && r[len(r)-1].Sent.After(since)
	}, "the VIP to answer the client again")
}

func TestKeepalivedFailover(t *testing.T) {
	Require(t, "keepalived")
	version, err := KeepalivedVersion(t.Context())
	if err != nil || !regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+$`).MatchString(version) {
		t.Fatalf("KeepalivedVersion = %q, %v", version, err)
	}
	if version != "2.2.7" {
		t.Logf("WARNING: keepalived %s; the reference is 2.2.7 (shared/vectors/vrrp)", version)
	}
	tests := []struct {
		name    string
		version int
		every   time.Duration
		pass    string
		vip     netip.Addr // VIP4 when invalid
		// fail injects the failure of director1.
		fail func(t *testing.T, p *pair)
		// bound is the most director2 may take to hold the VIP.
		bound time.Duration
		// outage: director1 stops answering, so the client must see a gap
		// of at least two advert intervals. Not after kill -9: director1's
		// kernel keeps the VIP and answers until the gratuitous ARP.
		outage bool
		// recover undoes the failure; director1 (priority 150) then preempts.
		recover func(t *testing.T, p *pair)
	}{
		{
			name: "v3_100ms_kill", version: 3, every: 100 * time.Millisecond,
			fail:  func(t *testing.T, p *pair) { p.ka1.Kill() },
			bound: time.Second,
		},
		{
			name: "v2_pass_1s_kill", version: 2, every: time.Second, pass: "kab12345",
			fail: func(t *testing.T, p *pair) { p.ka1.Kill() },
			// Master_Down_Interval = 3 s + (256-100)/256 s.
			bound: 5 * time.Second,
		},
		{
			name: "v3_100ms_ipv6_kill", version: 3, every: 100 * time.Millisecond, vip: VIP6,
			fail:  func(t *testing.T, p *pair) { p.ka1.Kill() },
			bound: time.Second,
		},
		{
			name: "v3_100ms_linkdown", version: 3, every: 100 * time.Millisecond,
			fail:    func(t *testing.T, p *pair) { p.d1.LinkDown() },
			bound:   time.Second,
			outage:  true,
			recover: func(t *testing.T, p *pair) { p.d1.LinkUp() },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			vip := tt.vip
			if !vip.IsValid() {
				vip = VIP4
			}
			p := startPair(t, tt.version, tt.every, tt.pass, vip)
			pg := p.clientPinger(t)

			failed := time.Now()
			tt.fail(t, p)
			took := WaitFor(t, tt.bound, func() bool { return p.d2.HasAddr(p.vip) }, "director2 to take over the VIP")
			garp := p.wantNeigh(t, p.d2, time.Second)
			answeredAfter(t, pg, failed.Add(took), 2*time.Second)
			time.Sleep(50 * time.Millisecond)
			s := pg.Stop()
			t.Logf("failover: director2 holds the VIP %v after the failure; client neighbour on director2 %v later", took.Round(time.Millisecond), garp.Round(time.Millisecond))
			t.Logf("client: %v", s)
			if !strings.Contains(p.ka2.Log(), "Entering MASTER STATE") {
				t.Errorf("director2's log does not show the MASTER transition:\n%s", p.ka2.Log())
			}
			if s.LongestGap() >= 2*time.Second {
				t.Errorf("client outage %v, want < 2s", s.LongestGap())
			}
			if tt.outage && s.LongestGap() < 2*tt.every {
				t.Errorf("client outage %v, want at least two advert intervals: the pinger missed the outage", s.LongestGap())
			}
			if !tt.outage && !p.d1.HasAddr(p.vip) {
				t.Errorf("director1 lost the VIP: a SIGKILLed keepalived cannot remove it")
			}
			if tt.recover == nil {
				return
			}

			if tt.outage {
				WaitFor(t, time.Second, func() bool { return !p.d1.HasAddr(p.vip) }, "director1 (FAULT) to drop the VIP")
			}
			pg = p.client.Pinger(p.vip, 5*time.Millisecond)
			recovered := time.Now()
			tt.recover(t, p)
			took = WaitFor(t, 3*time.Second, func() bool { return p.d1.HasAddr(p.vip) && !p.d2.HasAddr(p.vip) }, "director1 to preempt")
			garp = p.wantNeigh(t, p.d1, time.Second)
			answeredAfter(t, pg, recovered.Add(took), 2*time.Second)
			time.Sleep(50 * time.Millisecond)
			s = pg.Stop()
			t.Logf("preemption: director1 holds the VIP %v after recovery; client neighbour on director1 %v later", took.Round(time.Millisecond), garp.Round(time.Millisecond))
			t.Logf("client: %v", s)
			if s.LongestGap() >= 2*time.Second {
				t.Errorf("client outage during preemption %v, want < 2s", s.LongestGap())
			}
		})
	}
}

// TestKeepalivedSplitBrain checks Partition against VRRP: with the directors
// cut off from each other, both become master; healing returns director2 to
// backup.
func TestKeepalivedSplitBrain(t *testing.T) {
	t.Parallel()
	Require(t, "nft")
	p := startPair(t, 3, 100*time.Millisecond, "", VIP4)
	p.d1.Partition(p.d2)
	took := WaitFor(t, time.Second, func() bool { return p.d2.HasAddr(VIP4) }, "director2 to become master too")
	if !p.d1.HasAddr(VIP4) {
		t.Errorf("director1 lost the VIP during the partition")
	}
	t.Logf("split brain after %v", took.Round(time.Millisecond))
	p.d1.Heal(p.d2)
	took = WaitFor(t, 2*time.Second, func() bool { return !p.d2.HasAddr(VIP4) }, "director2 to return to backup")
	t.Logf("healed: director2 released the VIP after %v", took.Round(time.Millisecond))
	if !p.d1.HasAddr(VIP4) {
		t.Errorf("director1 lost the VIP after healing")
	}
}

func TestSession(t *testing.T) {
	s := NewSession(nil)
	var order []int
	s.Cleanup(func() { order = append(order, 1) })
	s.Cleanup(func() { order = append(order, 2) })
	dir := s.TempDir()
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Fatalf("TempDir %s: %v", dir, err)
	}
	if s.Failed() {
		t.Errorf("new session failed")
	}
	s.Errorf("recorded %d", 1)
	if !s.Failed() {
		t.Errorf("Errorf did not mark the session failed")
	}
	s.Close()
	s.Close()
	if !slices.Equal(order, []int{2, 1}) {
		t.Errorf("cleanups ran in order %v, want [2 1] once", order)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("TempDir survived Close: %v", err)
	}
}

// TestSessionTopology builds a topology the way a program does.
func TestSessionTopology(t *testing.T) {
	t.Parallel()
	Require(t, "root", "ip", "sleep")
	s := NewSession(nil)
	topo := New(s, Options{Hosts: Hosts("client")})
	p := topo.Host("client").Start("sleep", "60")
	ns := topo.Host("client").NS()
	s.Close()
	if !p.Exited() {
		t.Errorf("process survived Session.Close")
	}
	if _, err := os.Stat(filepath.Join(netnsDir, ns)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("namespace %s survived Session.Close: %v", ns, err)
	}
	if s.Failed() {
		t.Errorf("session failed")
	}
}

// TestSweepStale checks that namespaces of a dead test process, and what
// runs in them, are removed, and that those of a live one are not.
func TestSweepStale(t *testing.T) {
	t.Parallel()
	Require(t, "root", "ip", "sleep", "true")
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	stale := fmt.Sprintf("vigilsweep-%d-abcdef-client", dead.Process.Pid)
	live := fmt.Sprintf("vigilsweep-%d-abcdef-client", os.Getppid())
	for _, ns := range []string{stale, live} {
		if err := ip("netns", "add", ns); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { killNamespace(ns, time.Second); ip("netns", "del", ns) })
	}
	ipBin, err := lookPath("ip")
	if err != nil {
		t.Fatal(err)
	}
	orphan := exec.Command(ipBin, "netns", "exec", stale, "sleep", "60")
	if err := orphan.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan struct{})
	go func() { orphan.Wait(); close(waited) }()
	WaitFor(t, 2*time.Second, func() bool {
		pids, _ := pidsInNamespace(stale)
		return slices.Contains(pids, orphan.Process.Pid)
	}, "the orphan to enter its namespace")

	sweepStale(t)
	if _, err := os.Stat(filepath.Join(netnsDir, stale)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale namespace %s not removed: %v", stale, err)
	}
	select {
	case <-waited:
	case <-time.After(2 * time.Second):
		t.Errorf("process in the stale namespace survived the sweep")
	}
	if _, err := os.Stat(filepath.Join(netnsDir, live)); err != nil {
		t.Errorf("namespace %s of a live process was swept: %v", live, err)
	}
}
