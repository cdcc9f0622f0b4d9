//go:build linux

package vrrp

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// testNS is a throwaway network namespace. It is anonymous: it lives as
// long as its handle (and any socket opened in it) and needs no cleanup
// on disk even if the test binary dies.
type testNS struct {
	t  *testing.T
	h  netns.NsHandle
	nl *netlink.Handle
}

// newTestNS creates a network namespace with lo up, removed when the test
// ends. With noDAD, IPv6 duplicate address detection is off for every
// interface created in it, so addresses (and link-locals) are usable at
// once. Tests that need namespaces are integration tests: they are skipped
// under go test -short (make unit), CI=true or not, as internal/lab's
// Require does, and otherwise unless run as root (with CI=true a missing
// root fails them instead).
func newTestNS(t *testing.T, noDAD bool) *testNS {
	t.Helper()
	if testing.Short() {
		t.Skip("network namespace test, skipped with -short")
	}
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("network namespace tests need root (CI=true: a missing prerequisite fails)")
		}
		t.Skip("network namespace tests need root")
	}
	type result struct {
		h   netns.NsHandle
		err error
	}
	ch := make(chan result, 1)
	go func() {
		// Never unlocked: this thread ends up in the new namespace and
		// the runtime discards it when the goroutine exits.
		runtime.LockOSThread()
		h, err := netns.New()
		ch <- result{h, err}
	}()
	r := <-ch
	if r.err != nil {
		t.Fatalf("creating network namespace: %v", r.err)
	}
	nlh, err := netlink.NewHandleAt(r.h)
	if err != nil {
		r.h.Close()
		t.Fatalf("netlink handle in namespace: %v", err)
	}
	ns := &testNS{t: t, h: r.h, nl: nlh}
	t.Cleanup(func() {
		nlh.Close()
		r.h.Close()
	})
	lo, err := nlh.LinkByName("lo")
	if err != nil {
		t.Fatalf("lo: %v", err)
	}
	if err := nlh.LinkSetUp(lo); err != nil {
		t.Fatalf("lo up: %v", err)
	}
	if noDAD {
		ns.sysctl("net/ipv6/conf/all/accept_dad", "0")
		ns.sysctl("net/ipv6/conf/default/accept_dad", "0")
	}
	return ns
}

// run calls fn on a fresh OS thread inside the namespace, so that sockets
// and netlink requests fn makes happen there. The thread is discarded
// afterwards. fn must not call t.Fatal; it returns an error instead.
func (n *testNS) run(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked; see newTestNS
		if err := netns.Set(n.h); err != nil {
			errc <- fmt.Errorf("entering namespace: %w", err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// must runs fn in the namespace and fails the test on error.
func (n *testNS) must(fn func() error) {
	n.t.Helper()
	if err := n.run(fn); err != nil {
		n.t.Fatal(err)
	}
}

// sysctl writes value to /proc/sys/<key> of the namespace.
func (n *testNS) sysctl(key, value string) {
	n.t.Helper()
	n.must(func() error {
		return os.WriteFile(filepath.Join("/proc/sys", key), []byte(value), 0o644)
	})
}

// link returns the namespace's link called name.
func (n *testNS) link(name string) netlink.Link {
	n.t.Helper()
	l, err := n.nl.LinkByName(name)
	if err != nil {
		n.t.Fatalf("link %q: %v", name, err)
	}
	return l
}

// addAddr adds prefix (as "10.0.0.1/24") to dev in the namespace.
func (n *testNS) addAddr(dev, prefix string) {
	n.t.Helper()
	a, err := netlink.ParseAddr(prefix)
	if err != nil {
		n.t.Fatal(err)
	}
	if netip.MustParsePrefix(prefix).Addr().Is6() {
		a.Flags = 0x02 // IFA_F_NODAD
	}
	if err := n.nl.AddrAdd(n.link(dev), a); err != nil {
		n.t.Fatalf("adding %s to %s: %v", prefix, dev, err)
	}
}

// setUp sets dev administratively up or down.
func (n *testNS) setUp(dev string, up bool) {
	n.t.Helper()
	var err error
	if up {
		err = n.nl.LinkSetUp(n.link(dev))
	} else {
		err = n.nl.LinkSetDown(n.link(dev))
	}
	if err != nil {
		n.t.Fatalf("setting %s up=%v: %v", dev, up, err)
	}
}

// linkLocal waits for dev's non-tentative IPv6 link-local address.
func (n *testNS) linkLocal(dev string) netip.Addr {
	n.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		addrs, err := n.nl.AddrList(n.link(dev), netlink.FAMILY_V6)
		if err != nil {
			n.t.Fatal(err)
		}
		for _, a := range addrs {
			ip, _ := netip.AddrFromSlice(a.IP)
			if ip.IsLinkLocalUnicast() && a.Flags&0x40 == 0 { // IFA_F_TENTATIVE
				return ip
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	n.t.Fatalf("%s: no usable link-local address", dev)
	return netip.Addr{}
}

// veth creates a veth pair, aName (MAC aMAC) in a and bName (MAC bMAC) in
// b, and sets both ends up.
func veth(t *testing.T, a *testNS, aName, aMAC string, b *testNS, bName, bMAC string) {
	t.Helper()
	la := &netlink.Veth{
		LinkAttrs: netlink.LinkAttrs{
			Name:         aName,
			HardwareAddr: mustMAC(t, aMAC),
			Namespace:    netlink.NsFd(a.h),
		},
		PeerName:         bName,
		PeerHardwareAddr: mustMAC(t, bMAC),
		PeerNamespace:    netlink.NsFd(b.h),
	}
	if err := a.nl.LinkAdd(la); err != nil {
		t.Fatalf("creating veth %s/%s: %v", aName, bName, err)
	}
	a.setUp(aName, true)
	b.setUp(bName, true)
}

func mustMAC(t *testing.T, s string) net.HardwareAddr {
	t.Helper()
	hw, err := net.ParseMAC(s)
	if err != nil {
		t.Fatal(err)
	}
	return hw
}

// waitFor polls cond every 20ms until it holds or timeout passes.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestTransportNamespaceHelper checks the helper itself: a command run in
// one namespace sees that namespace's links and sysctls, not the host's
// or another namespace's.
func TestTransportNamespaceHelper(t *testing.T) {
	a := newTestNS(t, true)
	b := newTestNS(t, false)
	veth(t, a, "ha", "02:00:00:00:01:01", b, "hb", "02:00:00:00:01:02")
	a.must(func() error {
		if _, err := net.InterfaceByName("ha"); err != nil {
			return fmt.Errorf("ha not visible in its namespace: %w", err)
		}
		if _, err := net.InterfaceByName("hb"); err == nil {
			return fmt.Errorf("hb visible in the wrong namespace")
		}
		v, err := os.ReadFile("/proc/sys/net/ipv6/conf/ha/accept_dad")
		if err != nil {
			return err
		}
		if string(v) != "0\n" {
			return fmt.Errorf("accept_dad in namespace a = %q, want 0", v)
		}
		return nil
	})
	b.must(func() error {
		v, err := os.ReadFile("/proc/sys/net/ipv6/conf/hb/accept_dad")
		if err != nil {
			return err
		}
		if string(v) == "0\n" {
			return fmt.Errorf("accept_dad in namespace b = 0, want the default")
		}
		return nil
	})
}
