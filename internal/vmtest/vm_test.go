//go:build vm

// These tests run inside the vigil test VM (make test-vm): they prove that
// the harness boots a kernel with working IPVS, that cloudflare/ipvs can
// program it, which schedulers the kernel offers, and that the modules and
// namespaces the data-path tests build on are there.
package vmtest_test

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/cloudflare/ipvs"
	"github.com/cloudflare/ipvs/netmask"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/vigil-lb/vigil/internal/vmtest"
)

// schedulers are the IPVS schedulers upstream Linux has (net/netfilter/ipvs
// ip_vs_<name>.c), newest last; a kernel builds some subset of them.
var schedulers = []string{"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos"}

// requiredSchedulers must work in the VM: vigil's configuration accepts them.
var requiredSchedulers = []string{"rr", "wrr", "lc", "wlc", "sh", "mh"}

func kernelRelease(t *testing.T) string {
	t.Helper()
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatalf("uname: %v", err)
	}
	return unix.ByteSliceToString(u.Release[:])
}

func newClient(t *testing.T) ipvs.Client {
	t.Helper()
	c, err := ipvs.New()
	if err != nil {
		t.Fatalf("ipvs.New: %v", err)
	}
	if closer, ok := c.(interface{ Close() error }); ok {
		t.Cleanup(func() { closer.Close() })
	}
	return c
}

// createService creates svc and removes it when the test ends.
func createService(t *testing.T, c ipvs.Client, svc ipvs.Service) {
	t.Helper()
	if err := c.CreateService(svc); err != nil {
		t.Fatalf("CreateService(%+v): %v", svc, err)
	}
	t.Cleanup(func() {
		if err := c.RemoveService(svc); err != nil {
			t.Errorf("RemoveService(%+v): %v", svc, err)
		}
	})
}

func loadedModules(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/modules")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for line := range strings.Lines(string(b)) {
		if name, _, ok := strings.Cut(line, " "); ok {
			names = append(names, name)
		}
	}
	return names
}

func TestInsideVM(t *testing.T) {
	vmtest.Require(t)
	k, err := vmtest.Kernel()
	if err != nil {
		t.Fatal(err)
	}
	release := kernelRelease(t)
	if !strings.HasPrefix(k, release+" ") {
		t.Errorf("marker says %q, uname says %q", k, release)
	}
	if os.Geteuid() != 0 {
		t.Errorf("euid %d, want 0", os.Geteuid())
	}
	t.Logf("kernel: %s", k)
}

// TestWorkingDirectory checks that the binary runs where go test would run
// it, with the package's testdata next to it.
func TestWorkingDirectory(t *testing.T) {
	vmtest.Require(t)
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(wd, filepath.Join("internal", "vmtest")) {
		t.Errorf("working directory %q, want the package directory", wd)
	}
	b, err := os.ReadFile(filepath.Join("testdata", "marker.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(b)); got != "vigil vm testdata" {
		t.Errorf("testdata/marker.txt = %q", got)
	}
	f, err := os.CreateTemp(t.TempDir(), "w")
	if err != nil {
		t.Fatalf("writing a temporary file: %v", err)
	}
	f.Close()
}

func TestProcNetIPVS(t *testing.T) {
	vmtest.Require(t)
	b, err := os.ReadFile("/proc/net/ip_vs")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("IP Virtual Server version ")) {
		t.Errorf("/proc/net/ip_vs starts %q", b[:min(len(b), 60)])
	}
}

func TestServiceRoundTrip(t *testing.T) {
	vmtest.Require(t)
	c := newClient(t)
	if _, err := c.Services(); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Services() on a fresh kernel: err = %v, want os.ErrNotExist", err)
	}
	info, err := c.Info()
	if err != nil {
		t.Fatalf("Info: %v", err)
	}
	t.Logf("IPVS %d.%d.%d, connection table size %d", info.Version[0], info.Version[1], info.Version[2], info.ConnectionTableSize)

	tests := []struct {
		name string
		svc  ipvs.Service
		dest ipvs.Destination
		proc string // the service's line in /proc/net/ip_vs
	}{
		{
			name: "ipv4 tcp",
			svc: ipvs.Service{
				Address: netip.MustParseAddr("192.0.2.1"), Port: 80, Protocol: ipvs.TCP, Family: ipvs.INET,
				Netmask: netmask.MaskFrom(32, 32), Scheduler: "rr",
			},
			dest: ipvs.Destination{
				Address: netip.MustParseAddr("198.51.100.10"), Port: 8080, Family: ipvs.INET,
				FwdMethod: ipvs.Masquerade, Weight: 3,
			},
			proc: "TCP  C0000201:0050 rr",
		},
		{
			name: "ipv6 udp persistent",
			svc: ipvs.Service{
				Address: netip.MustParseAddr("2001:db8::1"), Port: 53, Protocol: ipvs.UDP, Family: ipvs.INET6,
				Netmask: netmask.MaskFrom(128, 128), Scheduler: "wrr",
				Flags: ipvs.ServicePersistent, Timeout: 300,
			},
			dest: ipvs.Destination{
				Address: netip.MustParseAddr("2001:db8::10"), Port: 53, Family: ipvs.INET6,
				FwdMethod: ipvs.DirectRoute, Weight: 1,
			},
			proc: "UDP  [2001:0db8:0000:0000:0000:0000:0000:0001]:0035 wrr persistent",
		},
		{
			name: "fwmark",
			svc: ipvs.Service{
				FWMark: 42, Family: ipvs.INET, Netmask: netmask.MaskFrom(32, 32), Scheduler: "sh",
			},
			dest: ipvs.Destination{
				Address: netip.MustParseAddr("198.51.100.11"), Family: ipvs.INET,
				FwdMethod: ipvs.Tunnel, Weight: 2,
			},
			proc: "FWM  0000002A sh",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			createService(t, c, tt.svc)
			got, err := c.Service(tt.svc)
			if err != nil {
				t.Fatalf("Service: %v", err)
			}
			want := tt.svc
			want.Flags |= ipvs.ServiceHashed // the kernel's, set on every service in its table
			if got.Service != want {
				t.Errorf("read back\n%+v\nwant\n%+v", got.Service, want)
			}

			if err := c.CreateDestination(tt.svc, tt.dest); err != nil {
				t.Fatalf("CreateDestination: %v", err)
			}
			dests, err := c.Destinations(tt.svc)
			if err != nil {
				t.Fatalf("Destinations: %v", err)
			}
			if len(dests) != 1 || dests[0].Destination != tt.dest {
				t.Errorf("destinations read back %+v, want [%+v]", dests, tt.dest)
			}

			proc, err := os.ReadFile("/proc/net/ip_vs")
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(proc, []byte(tt.proc)) {
				t.Errorf("/proc/net/ip_vs lacks %q:\n%s", tt.proc, proc)
			}
		})
	}
	if _, err := c.Services(); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Services() after removing everything: err = %v, want os.ErrNotExist", err)
	}
}

// TestSchedulers creates a service with every upstream scheduler and reports
// which ones this kernel has. A scheduler whose module is in the image must
// work; one whose module is not must be refused.
func TestSchedulers(t *testing.T) {
	vmtest.Require(t)
	c := newClient(t)
	moddir := filepath.Join("/lib/modules", kernelRelease(t), "kernel/net/netfilter/ipvs")
	var available, missing []string
	for i, s := range schedulers {
		_, statErr := os.Stat(filepath.Join(moddir, "ip_vs_"+s+".ko"))
		svc := ipvs.Service{
			Address: netip.MustParseAddr("192.0.2.2"), Port: uint16(1000 + i), Protocol: ipvs.TCP, Family: ipvs.INET,
			Netmask: netmask.MaskFrom(32, 32), Scheduler: s,
		}
		err := c.CreateService(svc)
		if err != nil {
			if statErr == nil {
				t.Errorf("scheduler %s: module present but CreateService: %v", s, err)
			}
			missing = append(missing, s)
			continue
		}
		got, err := c.Service(svc)
		if err != nil {
			t.Errorf("scheduler %s: Service: %v", s, err)
		} else if got.Scheduler != s {
			t.Errorf("scheduler %s: read back %q", s, got.Scheduler)
		}
		if err := c.RemoveService(svc); err != nil {
			t.Errorf("scheduler %s: RemoveService: %v", s, err)
		}
		available = append(available, s)
	}
	t.Logf("IPVS schedulers in %s: available: %s; not available: %s",
		kernelRelease(t), strings.Join(available, " "), strings.Join(missing, " "))
	for _, s := range requiredSchedulers {
		if !slices.Contains(available, s) {
			t.Errorf("required scheduler %s is not available", s)
		}
	}
}

// TestModuleAutoload unloads a scheduler and creates a service that needs
// it: the kernel must load it again through /sbin/modprobe, as it does for
// link types (veth, bridge) that tests create later.
func TestModuleAutoload(t *testing.T) {
	vmtest.Require(t)
	const mod = "ip_vs_nq"
	if out, err := exec.Command("rmmod", mod).CombinedOutput(); err != nil {
		t.Fatalf("rmmod %s: %v: %s", mod, err, out)
	}
	if slices.Contains(loadedModules(t), mod) {
		t.Fatalf("%s still loaded after rmmod", mod)
	}
	c := newClient(t)
	createService(t, c, ipvs.Service{
		Address: netip.MustParseAddr("192.0.2.3"), Port: 80, Protocol: ipvs.TCP, Family: ipvs.INET,
		Netmask: netmask.MaskFrom(32, 32), Scheduler: "nq",
	})
	if !slices.Contains(loadedModules(t), mod) {
		t.Errorf("%s not loaded after creating an nq service", mod)
	}
}

// inNewNetns runs f on a locked thread inside a new network namespace and
// returns the namespace's handle, closed when the test ends.
func inNewNetns(t *testing.T, f func()) netns.NsHandle {
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
	t.Cleanup(func() { ns.Close() })
	defer func() {
		if err := netns.Set(orig); err != nil {
			panic(fmt.Sprintf("restoring the network namespace: %v", err))
		}
	}()
	f()
	return ns
}

// TestNetworkModules builds what the data-path tests will: a bridge, a veth
// pair with one end in another network namespace, a dummy link.
func TestNetworkModules(t *testing.T) {
	vmtest.Require(t)
	add := func(l netlink.Link) netlink.Link {
		t.Helper()
		if err := netlink.LinkAdd(l); err != nil {
			t.Fatalf("adding %s %s: %v", l.Type(), l.Attrs().Name, err)
		}
		t.Cleanup(func() { netlink.LinkDel(l) })
		got, err := netlink.LinkByName(l.Attrs().Name)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	br := add(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "vt-br0"}})
	veth := add(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "vt-veth0"}, PeerName: "vt-veth1"})
	add(&netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: "vt-dummy0"}})
	if err := netlink.LinkSetMaster(veth, br); err != nil {
		t.Fatalf("enslaving veth to the bridge: %v", err)
	}

	ns := inNewNetns(t, func() {})
	peer, err := netlink.LinkByName("vt-veth1")
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetNsFd(peer, int(ns)); err != nil {
		t.Fatalf("moving the veth peer: %v", err)
	}
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if _, err := h.LinkByName("vt-veth1"); err != nil {
		t.Errorf("veth peer not in the new namespace: %v", err)
	}
	for _, m := range []string{"veth", "bridge", "dummy"} {
		if !slices.Contains(loadedModules(t), m) {
			t.Errorf("module %s not loaded", m)
		}
	}
}

// TestIPVSPerNamespace shows that each network namespace has its own IPVS
// table, so data-path tests can each program one of their own.
func TestIPVSPerNamespace(t *testing.T) {
	vmtest.Require(t)
	root := newClient(t)
	createService(t, root, ipvs.Service{
		Address: netip.MustParseAddr("192.0.2.4"), Port: 80, Protocol: ipvs.TCP, Family: ipvs.INET,
		Netmask: netmask.MaskFrom(32, 32), Scheduler: "rr",
	})
	var inner ipvs.Client
	inNewNetns(t, func() { inner = newClient(t) })
	if svcs, err := inner.Services(); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("new namespace: Services() = %+v, %v; want os.ErrNotExist", svcs, err)
	}
	if svcs, err := root.Services(); err != nil || len(svcs) != 1 {
		t.Errorf("root namespace: Services() = %+v, %v; want one service", svcs, err)
	}
}
