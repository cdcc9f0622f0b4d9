//go:build vm && linux

// These tests program the real IPVS through NetlinkKernel, each in a
// network namespace of its own (every namespace has its own IPVS table).
// They run in the test VM:
//
//	CGO_ENABLED=0 go test -count=1 -tags vm -exec $PWD/scripts/vm/exec.sh ./ipvs/
package ipvs_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/vigil-lb/vigil/internal/vmtest"
	"github.com/vigil-lb/vigil/ipvs"
	"github.com/vigil-lb/vigil/ipvs/ipvstest"
)

// inNetns runs f on a locked thread inside ns.
func inNetns(t *testing.T, ns netns.NsHandle, f func()) {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatalf("netns.Get: %v", err)
	}
	defer orig.Close()
	if err := netns.Set(ns); err != nil {
		t.Fatalf("netns.Set: %v", err)
	}
	defer func() {
		if err := netns.Set(orig); err != nil {
			panic(fmt.Sprintf("restoring the network namespace: %v", err))
		}
	}()
	f()
}

// newNetns returns a new network namespace with lo up, and a NetlinkKernel
// whose socket lives in it.
func newNetns(t *testing.T) (*ipvs.NetlinkKernel, netns.NsHandle) {
	t.Helper()
	vmtest.Require(t)
	ns, err := func() (netns.NsHandle, error) {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		orig, err := netns.Get()
		if err != nil {
			return 0, err
		}
		defer orig.Close()
		ns, err := netns.New()
		if err != nil {
			return 0, err
		}
		if err := netns.Set(orig); err != nil {
			panic(fmt.Sprintf("restoring the network namespace: %v", err))
		}
		return ns, nil
	}()
	if err != nil {
		t.Fatalf("creating a network namespace: %v", err)
	}
	t.Cleanup(func() { ns.Close() })
	k := ipvs.NewNetlinkKernel()
	t.Cleanup(func() { k.Close() })
	inNetns(t, ns, func() {
		lo, err := netlink.LinkByName("lo")
		if err == nil {
			err = netlink.LinkSetUp(lo)
		}
		if err != nil {
			t.Fatalf("lo up: %v", err)
		}
		// The first call connects, binding the socket to this namespace.
		if svcs, err := k.Services(context.Background()); err != nil || len(svcs) != 0 {
			t.Fatalf("fresh namespace: Services() = %v, %v", svcs, err)
		}
	})
	return k, ns
}

func netnsKernel(t *testing.T) ipvs.Kernel {
	k, _ := newNetns(t)
	return k
}

// TestKernelReconcileScenarios runs the scenarios of the in-memory tests
// through the real adapter and kernel.
func TestKernelReconcileScenarios(t *testing.T) {
	vmtest.Require(t)
	runScenarios(t, netnsKernel)
}

// upstreamSchedulers are the schedulers of net/netfilter/ipvs.
var upstreamSchedulers = []string{"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "mh", "fo", "ovf", "twos"}

func moduleFile(t *testing.T, name string) bool {
	t.Helper()
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	m, _ := filepath.Glob(filepath.Join("/lib/modules", unix.ByteSliceToString(u.Release[:]),
		"kernel/net/netfilter/ipvs", name+".ko*"))
	return len(m) > 0
}

// TestKernelSchedulers creates a service with every scheduler upstream
// Linux has, with its flags, switches one service through all of them in
// place, and reports which this kernel lacks. A missing scheduler must be
// reported as ErrUnknownScheduler.
func TestKernelSchedulers(t *testing.T) {
	k, _ := newNetns(t)
	ctx := context.Background()
	var available, missing []string
	moving := ipvs.Service{Key: ipvs.AddrKey(ipvs.TCP, ap("192.0.2.9:80")), Scheduler: "rr"}
	if err := k.CreateService(ctx, moving); err != nil {
		t.Fatal(err)
	}
	for i, s := range upstreamSchedulers {
		svc := ipvs.Service{Key: ipvs.AddrKey(ipvs.TCP, netip.AddrPortFrom(netip.MustParseAddr("192.0.2.2"), uint16(1000+i))), Scheduler: s}
		switch s {
		case "sh":
			svc.Flags = ipvs.FlagSHFallback | ipvs.FlagSHPort
		case "mh":
			svc.Flags = ipvs.FlagMHFallback | ipvs.FlagMHPort
		}
		err := k.CreateService(ctx, svc)
		if err != nil {
			if !errors.Is(err, ipvs.ErrUnknownScheduler) {
				t.Errorf("scheduler %s: %v, want ErrUnknownScheduler", s, err)
			}
			if moduleFile(t, "ip_vs_"+s) {
				t.Errorf("scheduler %s: module present but: %v", s, err)
			}
			missing = append(missing, s)
			continue
		}
		available = append(available, s)
		moving.Scheduler, moving.Flags = s, svc.Flags
		if err := k.UpdateService(ctx, moving); err != nil {
			t.Errorf("switching to %s in place: %v", s, err)
		}
		svcs, err := k.Services(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, got := range svcs {
			var want ipvs.Service
			switch got.Key {
			case svc.Key:
				want = svc
			case moving.Key:
				want = moving
			default:
				continue
			}
			if got.Scheduler != want.Scheduler || got.Flags != want.Flags {
				t.Errorf("scheduler %s: read back %s, want %s", s, got, want)
			}
		}
	}
	t.Logf("IPVS schedulers: available: %s; missing: %s", strings.Join(available, " "), strings.Join(missing, " "))
	if len(available) < 10 {
		t.Errorf("only %d schedulers available", len(available))
	}
}

// matrix is a table with every protocol, both families, firewall marks,
// all three forwarding methods, tunnels across families, persistence with
// netmasks, flags and thresholds.
func matrix() []ipvs.Service {
	var svcs []ipvs.Service
	for i, proto := range []ipvs.Protocol{ipvs.TCP, ipvs.UDP, ipvs.SCTP} {
		port := uint16(80 + i)
		v4 := ipvs.Service{
			Key:       ipvs.AddrKey(proto, netip.AddrPortFrom(netip.MustParseAddr("192.0.2.1"), port)),
			Scheduler: "wrr",
			Destinations: []ipvs.Destination{
				{Address: netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), 8080), Weight: 1, Forwarding: ipvs.ForwardNAT},
				{Address: netip.AddrPortFrom(netip.MustParseAddr("10.0.0.2"), port), Weight: 2, Forwarding: ipvs.ForwardDR, UpperThreshold: 1000, LowerThreshold: 800},
				{Address: netip.AddrPortFrom(netip.MustParseAddr("10.0.0.3"), port), Weight: 3, Forwarding: ipvs.ForwardTunnel},
				{Address: netip.AddrPortFrom(netip.MustParseAddr("2001:db8::3"), port), Weight: 4, Forwarding: ipvs.ForwardTunnel},
			},
		}
		v6 := ipvs.Service{
			Key:       ipvs.AddrKey(proto, netip.AddrPortFrom(netip.MustParseAddr("2001:db8::1"), port)),
			Scheduler: "lc", Timeout: 600 * time.Second, Netmask: 64,
			Destinations: []ipvs.Destination{
				{Address: netip.AddrPortFrom(netip.MustParseAddr("2001:db8::10"), 8080), Weight: 1, Forwarding: ipvs.ForwardNAT},
				{Address: netip.AddrPortFrom(netip.MustParseAddr("2001:db8::11"), port), Weight: 0, Forwarding: ipvs.ForwardDR},
				{Address: netip.AddrPortFrom(netip.MustParseAddr("2001:db8::12"), port), Weight: 5, Forwarding: ipvs.ForwardTunnel},
				{Address: netip.AddrPortFrom(netip.MustParseAddr("10.0.0.12"), port), Weight: 6, Forwarding: ipvs.ForwardTunnel},
			},
		}
		if proto == ipvs.UDP {
			v4.Flags = ipvs.FlagOnePacket
		}
		svcs = append(svcs, v4, v6)
	}
	svcs = append(svcs,
		ipvs.Service{Key: ipvs.FWMarkKey(ipvs.IPv4, 10), Scheduler: "sh", Flags: ipvs.FlagSHPort, Timeout: 30 * time.Second, Netmask: 24,
			Destinations: []ipvs.Destination{
				{Address: ap("10.0.0.1:0"), Weight: 1, Forwarding: ipvs.ForwardDR},
				{Address: ap("10.0.0.2:3306"), Weight: 1, Forwarding: ipvs.ForwardNAT},
				{Address: ap("10.0.0.3:0"), Weight: 1, Forwarding: ipvs.ForwardTunnel},
			}},
		ipvs.Service{Key: ipvs.FWMarkKey(ipvs.IPv6, 10), Scheduler: "mh", Flags: ipvs.FlagMHFallback,
			Destinations: []ipvs.Destination{
				{Address: ap("[2001:db8::20]:0"), Weight: 1, Forwarding: ipvs.ForwardDR},
			}},
	)
	return svcs
}

// TestKernelMatrix programs matrix() from empty and reads it back: the
// kernel must hold exactly what the in-memory kernel holds for the same
// desired table, and a second pass must find nothing to change.
func TestKernelMatrix(t *testing.T) {
	k, _ := newNetns(t)
	ctx := context.Background()
	want := ipvstest.New()
	wr, _ := ipvs.NewReconciler(ipvs.Options{Kernel: want})
	if _, err := wr.Reconcile(ctx, matrix()); err != nil {
		t.Fatal(err)
	}
	r, err := ipvs.NewReconciler(ipvs.Options{Kernel: k, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Reconcile(ctx, matrix())
	if err != nil {
		t.Fatal(err)
	}
	wantResult(t, res, ipvs.Result{ServiceCreate: 8, DestCreate: 28})
	f := &fixture{t: t, k: k}
	f.wantTable(dump(t, want)...)
	res, err = r.Reconcile(ctx, matrix())
	if err != nil || res != (ipvs.Result{}) {
		t.Errorf("second pass: %+v, %v", res, err)
	}
	// Reading one service gives what reading them all gives for it.
	all, err := k.Services(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range all {
		one, err := k.Service(ctx, s.Key)
		if err != nil {
			t.Errorf("Service(%s): %v", s.Key, err)
			continue
		}
		if diff := cmp.Diff(s, one, cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })); diff != "" {
			t.Errorf("Service(%s) differs from Services (-all +one):\n%s", s.Key, diff)
		}
	}
	if t.Failed() {
		t.Logf("read back:\n%s", strings.Join(dump(t, k), "\n"))
	}
}

// TestKernelErrors checks the adapter's error mapping against the kernel.
func TestKernelErrors(t *testing.T) {
	k, _ := newNetns(t)
	ctx := context.Background()
	svc := ipvs.Service{Key: web, Scheduler: "rr"}
	d := nat("10.0.0.1:80", 1)
	for _, tt := range []struct {
		name string
		err  error
		want error
	}{
		{"read missing service", errOf(k.Service(ctx, web)), os.ErrNotExist},
		{"remove missing service", k.RemoveService(ctx, web), os.ErrNotExist},
		{"update missing service", k.UpdateService(ctx, svc), os.ErrNotExist},
		{"destination of missing service", k.CreateDestination(ctx, web, d), os.ErrNotExist},
		{"create service", k.CreateService(ctx, svc), nil},
		{"create it again", k.CreateService(ctx, svc), os.ErrExist},
		{"read service without destinations", errOf(k.Service(ctx, web)), nil},
		{"unknown scheduler", k.CreateService(ctx, ipvs.Service{Key: mark, Scheduler: "nosuch"}), ipvs.ErrUnknownScheduler},
		{"update missing destination", k.UpdateDestination(ctx, web, d), os.ErrNotExist},
		{"remove missing destination", k.RemoveDestination(ctx, web, d.Address), os.ErrNotExist},
		{"create destination", k.CreateDestination(ctx, web, d), nil},
		{"create it again", k.CreateDestination(ctx, web, d), os.ErrExist},
	} {
		if (tt.want == nil) != (tt.err == nil) || (tt.want != nil && !errors.Is(tt.err, tt.want)) {
			t.Errorf("%s: err = %v, want %v", tt.name, tt.err, tt.want)
		}
	}
}

func errOf(_ ipvs.Service, err error) error { return err }

// TestKernelLocalDestination: a real server at one of the director's own
// addresses reads back as configured, so reconciling it is stable.
func TestKernelLocalDestination(t *testing.T) {
	k, ns := newNetns(t)
	inNetns(t, ns, func() { addDummy(t, "vs0", "10.99.0.2/24") })
	ctx := context.Background()
	r, _ := ipvs.NewReconciler(ipvs.Options{Kernel: k})
	desired := []ipvs.Service{{Key: web, Scheduler: "rr", Destinations: []ipvs.Destination{
		{Address: ap("10.99.0.2:80"), Weight: 1, Forwarding: ipvs.ForwardDR},
		{Address: ap("127.0.0.1:8080"), Weight: 1, Forwarding: ipvs.ForwardNAT},
	}}}
	if _, err := r.Reconcile(ctx, desired); err != nil {
		t.Fatal(err)
	}
	res, err := r.Reconcile(ctx, desired)
	if err != nil || res != (ipvs.Result{}) {
		t.Errorf("second pass: %+v, %v; table %v", res, err, dump(t, k))
	}
}

func addDummy(t *testing.T, name, cidr string) {
	t.Helper()
	l := &netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: name}}
	if err := netlink.LinkAdd(l); err != nil {
		t.Fatalf("adding %s: %v", name, err)
	}
	a, err := netlink.ParseAddr(cidr)
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.AddrAdd(l, a); err != nil {
		t.Fatalf("adding %s to %s: %v", cidr, name, err)
	}
	if err := netlink.LinkSetUp(l); err != nil {
		t.Fatal(err)
	}
}

// TestKernelStats sends datagrams to a UDP service and reads the counters
// back: IPVS schedules locally sent packets (LOCAL_OUT), and the NATed
// copies leave through a dummy link that drops them.
func TestKernelStats(t *testing.T) {
	k, ns := newNetns(t)
	inNetns(t, ns, func() { addDummy(t, "vs0", "10.99.0.2/24") })
	ctx := context.Background()
	key := ipvs.AddrKey(ipvs.UDP, ap("10.99.0.1:53"))
	r, _ := ipvs.NewReconciler(ipvs.Options{Kernel: k})
	if _, err := r.Reconcile(ctx, []ipvs.Service{{Key: key, Scheduler: "rr", Destinations: []ipvs.Destination{nat("10.99.0.3:53", 1)}}}); err != nil {
		t.Fatal(err)
	}
	const packets = 5
	inNetns(t, ns, func() {
		c, err := net.Dial("udp", "10.99.0.1:53")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for range packets {
			if _, err := c.Write([]byte("hello")); err != nil {
				t.Fatal(err)
			}
		}
	})

	// Counters are folded in by the kernel's estimator, every two seconds.
	var svc ipvs.Service
	deadline := time.Now().Add(20 * time.Second)
	for {
		svcs, err := k.Services(ctx)
		if err != nil || len(svcs) != 1 || len(svcs[0].Destinations) != 1 {
			t.Fatalf("Services() = %+v, %v", svcs, err)
		}
		svc = svcs[0]
		if svc.Stats.PacketsIn >= packets || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	d := svc.Destinations[0]
	t.Logf("service stats %+v; destination stats %+v", svc.Stats, d.Stats)
	if svc.Stats.Connections != 1 || svc.Stats.PacketsIn != packets || svc.Stats.BytesIn < packets*5 {
		t.Errorf("service stats %+v, want 1 connection, %d packets in", svc.Stats, packets)
	}
	if d.Stats.Connections != 1 || d.Stats.PacketsIn != packets {
		t.Errorf("destination stats %+v", d.Stats)
	}
	if d.Stats.ActiveConnections+d.Stats.InactiveConnections != 1 {
		t.Errorf("destination connections active %d inactive %d, want 1 in all",
			d.Stats.ActiveConnections, d.Stats.InactiveConnections)
	}
}
