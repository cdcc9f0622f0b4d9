//go:build linux

package ipvs

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"testing"
	"time"

	cfipvs "github.com/cloudflare/ipvs"
	"github.com/cloudflare/ipvs/netmask"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// fakeClient is a cloudflare/ipvs Client serving canned answers and
// recording mutations. Methods the adapter never calls are left to the
// embedded nil interface.
type fakeClient struct {
	cfipvs.Client
	svcs    []cfipvs.ServiceExtended
	svcsErr error
	dests   map[uint32][]cfipvs.DestinationExtended // by FWMark or Port
	err     error                                   // returned by every mutation
	calls   []string
}

func (c *fakeClient) Services() ([]cfipvs.ServiceExtended, error) { return c.svcs, c.svcsErr }

// Service answers as the kernel does: ESRCH for a missing service.
func (c *fakeClient) Service(s cfipvs.Service) (cfipvs.ServiceExtended, error) {
	c.calls = append(c.calls, fmt.Sprintf("get %v %s:%d fwmark=%d", s.Family, s.Address, s.Port, s.FWMark))
	for _, cs := range c.svcs {
		if cs.Family == s.Family && cs.Protocol == s.Protocol && cs.Address == s.Address && cs.Port == s.Port && cs.FWMark == s.FWMark {
			return cs, nil
		}
	}
	return cfipvs.ServiceExtended{}, unix.ESRCH
}

func (c *fakeClient) Destinations(s cfipvs.Service) ([]cfipvs.DestinationExtended, error) {
	d, ok := c.dests[s.FWMark+uint32(s.Port)]
	if !ok {
		return nil, os.ErrNotExist
	}
	return d, nil
}

func (c *fakeClient) record(op string, s cfipvs.Service, d *cfipvs.Destination) error {
	call := fmt.Sprintf("%s %v %s:%d fwmark=%d sched=%s flags=%#x timeout=%d mask=%s",
		op, s.Family, s.Address, s.Port, s.FWMark, s.Scheduler, uint32(s.Flags), s.Timeout, s.Netmask)
	if d != nil {
		call += fmt.Sprintf(" dest=%v %s:%d fwd=%d w=%d", d.Family, d.Address, d.Port, d.FwdMethod, d.Weight)
	}
	c.calls = append(c.calls, call)
	return c.err
}

func (c *fakeClient) CreateService(s cfipvs.Service) error { return c.record("create", s, nil) }
func (c *fakeClient) UpdateService(s cfipvs.Service) error { return c.record("update", s, nil) }
func (c *fakeClient) RemoveService(s cfipvs.Service) error { return c.record("remove", s, nil) }
func (c *fakeClient) CreateDestination(s cfipvs.Service, d cfipvs.Destination) error {
	return c.record("create-dest", s, &d)
}
func (c *fakeClient) UpdateDestination(s cfipvs.Service, d cfipvs.Destination) error {
	return c.record("update-dest", s, &d)
}
func (c *fakeClient) RemoveDestination(s cfipvs.Service, d cfipvs.Destination) error {
	return c.record("remove-dest", s, &d)
}

func TestNetlinkKernelUnavailableUntilFamilyAppears(t *testing.T) {
	fc := &fakeClient{}
	dials := 0
	k := &NetlinkKernel{dial: func() (cfipvs.Client, error) {
		dials++
		if dials < 3 {
			return nil, fmt.Errorf("genetlink: %w", os.ErrNotExist)
		}
		return fc, nil
	}}
	ctx := context.Background()
	for range 2 {
		if _, err := k.Services(ctx); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("err = %v, want ErrUnavailable", err)
		}
	}
	if err := k.CreateService(ctx, Service{Key: FWMarkKey(IPv4, 1), Scheduler: "rr"}); err != nil {
		t.Fatalf("after the family appeared: %v", err)
	}
	if _, err := k.Services(ctx); err != nil {
		t.Fatal(err)
	}
	if dials != 3 {
		t.Errorf("dialled %d times, want 3 (then reuse)", dials)
	}

	other := &NetlinkKernel{dial: func() (cfipvs.Client, error) { return nil, unix.EPROTONOSUPPORT }}
	if _, err := other.Services(ctx); err == nil || errors.Is(err, ErrUnavailable) {
		t.Errorf("socket error = %v, want a plain error", err)
	}
}

func TestNetlinkKernelServices(t *testing.T) {
	fc := &fakeClient{
		svcs: []cfipvs.ServiceExtended{
			{
				Service: cfipvs.Service{
					Family: cfipvs.INET, Protocol: cfipvs.TCP, Address: netip.MustParseAddr("192.0.2.1"), Port: 80,
					Scheduler: "sh", Timeout: 300, Netmask: netmask.MaskFrom(24, 32),
					Flags: cfipvs.ServicePersistent | cfipvs.ServiceHashed | cfipvs.ServiceSchedulerOpt2,
				},
				Stats:   cfipvs.Stats{Connections: 1},
				Stats64: cfipvs.Stats{Connections: 1 << 40, IncomingPackets: 2, OutgoingPackets: 3, IncomingBytes: 4, OutgoingBytes: 5, ConnectionRate: 6},
			},
			{
				// Not persistent: a timeout left by the kernel is ignored.
				Service: cfipvs.Service{Family: cfipvs.INET6, FWMark: 7, Scheduler: "rr", Timeout: 300,
					Netmask: netmask.MaskFrom(128, 128), Flags: cfipvs.ServiceHashed},
				Stats: cfipvs.Stats{Connections: 9},
			},
		},
		dests: map[uint32][]cfipvs.DestinationExtended{
			80: {
				{Destination: cfipvs.Destination{Family: cfipvs.INET, Address: netip.MustParseAddr("10.0.0.1"), Port: 80,
					FwdMethod: cfipvs.Local, Weight: 3, UpperThreshold: 10, LowerThreshold: 1},
					ActiveConnections: 4, InactiveConnections: 5, PersistentConnections: 6},
				{Destination: cfipvs.Destination{Family: cfipvs.INET6, Address: netip.MustParseAddr("2001:db8::9"), Port: 80,
					FwdMethod: cfipvs.Tunnel, Weight: 1}},
			},
		},
	}
	k := &NetlinkKernel{dial: func() (cfipvs.Client, error) { return fc, nil }}
	got, err := k.Services(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []Service{
		{
			Key: AddrKey(TCP, netip.MustParseAddrPort("192.0.2.1:80")), Scheduler: "sh", Flags: FlagSHPort,
			Timeout: 300 * time.Second, Netmask: 24,
			Stats: Stats{Connections: 1 << 40, PacketsIn: 2, PacketsOut: 3, BytesIn: 4, BytesOut: 5, ConnectionRate: 6},
			Destinations: []Destination{
				{Address: netip.MustParseAddrPort("10.0.0.1:80"), Weight: 3, Forwarding: ForwardNAT, UpperThreshold: 10, LowerThreshold: 1,
					Stats: DestinationStats{ActiveConnections: 4, InactiveConnections: 5, PersistentConnections: 6}},
				{Address: netip.MustParseAddrPort("[2001:db8::9]:80"), Weight: 1, Forwarding: ForwardTunnel},
			},
		},
		{Key: FWMarkKey(IPv6, 7), Scheduler: "rr", Netmask: 128, Stats: Stats{Connections: 9}, Destinations: []Destination{}},
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })); diff != "" {
		t.Errorf("Services (-want +got):\n%s", diff)
	}

	// One service: the same, from one request and one dump.
	fc.calls = nil
	for i, key := range []ServiceKey{want[0].Key, want[1].Key} {
		got, err := k.Service(context.Background(), key)
		if err != nil {
			t.Fatalf("Service(%s): %v", key, err)
		}
		if diff := cmp.Diff(want[i], got, cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })); diff != "" {
			t.Errorf("Service(%s) (-want +got):\n%s", key, diff)
		}
	}
	if diff := cmp.Diff([]string{"get INET 192.0.2.1:80 fwmark=0", "get INET6 invalid IP:0 fwmark=7"}, fc.calls); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	missing := AddrKey(TCP, netip.MustParseAddrPort("192.0.2.1:81"))
	if _, err := k.Service(context.Background(), missing); !errors.Is(err, os.ErrNotExist) || !errors.Is(err, unix.ESRCH) {
		t.Errorf("Service(missing) = %v, want os.ErrNotExist (ESRCH)", err)
	}

	fc.svcs, fc.svcsErr = nil, os.ErrNotExist
	if got, err := k.Services(context.Background()); err != nil || len(got) != 0 {
		t.Errorf("empty table = %v, %v", got, err)
	}
}

func TestNetlinkKernelRequests(t *testing.T) {
	fc := &fakeClient{}
	k := &NetlinkKernel{dial: func() (cfipvs.Client, error) { return fc, nil }}
	ctx := context.Background()
	web := AddrKey(TCP, netip.MustParseAddrPort("192.0.2.1:80"))
	v6 := FWMarkKey(IPv6, 7)
	calls := []func() error{
		func() error {
			return k.CreateService(ctx, Service{Key: web, Scheduler: "wlc", Timeout: 1500 * time.Millisecond, Flags: FlagOnePacket})
		},
		func() error {
			return k.UpdateService(ctx, Service{Key: v6, Scheduler: "mh", Flags: FlagMHPort, Netmask: 64})
		},
		func() error { return k.RemoveService(ctx, v6) },
		func() error {
			return k.CreateDestination(ctx, web, Destination{Address: netip.MustParseAddrPort("[::ffff:10.0.0.1]:8080"), Weight: 2, Forwarding: ForwardDR})
		},
		func() error {
			return k.UpdateDestination(ctx, v6, Destination{Address: netip.MustParseAddrPort("10.0.0.2:0"), Weight: 0, Forwarding: ForwardTunnel})
		},
		func() error { return k.RemoveDestination(ctx, web, netip.MustParseAddrPort("10.0.0.1:8080")) },
	}
	for _, c := range calls {
		if err := c(); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{
		// Persistent bit from Timeout (rounded up), full netmask by default.
		"create INET 192.0.2.1:80 fwmark=0 sched=wlc flags=0x5 timeout=2 mask=255.255.255.255",
		"update INET6 invalid IP:0 fwmark=7 sched=mh flags=0x10 timeout=0 mask=64",
		"remove INET6 invalid IP:0 fwmark=7 sched= flags=0x0 timeout=0 mask=128",
		"create-dest INET 192.0.2.1:80 fwmark=0 sched= flags=0x0 timeout=0 mask=255.255.255.255 dest=INET 10.0.0.1:8080 fwd=3 w=2",
		"update-dest INET6 invalid IP:0 fwmark=7 sched= flags=0x0 timeout=0 mask=128 dest=INET 10.0.0.2:0 fwd=2 w=0",
		"remove-dest INET 192.0.2.1:80 fwmark=0 sched= flags=0x0 timeout=0 mask=255.255.255.255 dest=INET 10.0.0.1:8080 fwd=0 w=0",
	}
	if diff := cmp.Diff(want, fc.calls); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}

	// Kernel errors.
	fc.err = unix.ESRCH
	if err := k.RemoveService(ctx, web); !errors.Is(err, os.ErrNotExist) || !errors.Is(err, unix.ESRCH) {
		t.Errorf("ESRCH = %v, want os.ErrNotExist", err)
	}
	fc.err = unix.ENOENT
	if err := k.CreateService(ctx, Service{Key: web, Scheduler: "nope"}); !errors.Is(err, ErrUnknownScheduler) {
		t.Errorf("ENOENT creating = %v, want ErrUnknownScheduler", err)
	}
	if err := k.RemoveDestination(ctx, web, netip.MustParseAddrPort("10.0.0.1:80")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ENOENT removing a destination = %v, want os.ErrNotExist", err)
	}
	fc.err = unix.EEXIST
	if err := k.CreateDestination(ctx, web, Destination{Address: netip.MustParseAddrPort("10.0.0.1:80"), Forwarding: ForwardNAT}); !errors.Is(err, os.ErrExist) {
		t.Errorf("EEXIST = %v, want os.ErrExist", err)
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := k.RemoveService(cctx, web); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
}

// TestNetlinkKernelOnThisHost talks to the real generic netlink: where the
// kernel has no IPVS it must report ErrUnavailable, not fail otherwise.
// With IPVS, the vm-tagged tests cover the adapter.
func TestNetlinkKernelOnThisHost(t *testing.T) {
	if _, err := os.Stat("/proc/net/ip_vs"); err == nil {
		t.Skip("this kernel has IPVS; see kernel_vm_test.go")
	}
	k := NewNetlinkKernel()
	defer k.Close()
	_, err := k.Services(context.Background())
	if _, statErr := os.Stat("/proc/net/ip_vs"); statErr == nil {
		t.Skipf("looking up the family loaded ip_vs (err %v)", err)
	}
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Services() = %v, want ErrUnavailable", err)
	}
}
