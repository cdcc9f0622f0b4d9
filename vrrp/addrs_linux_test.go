//go:build linux

package vrrp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// dummyNS returns a namespace holding an up interface d0 (one end of a
// veth pair: the dummy driver may be missing from test kernels).
func dummyNS(t *testing.T) *testNS {
	ns := newTestNS(t, false)
	veth(t, ns, "d0", "02:00:00:00:0d:00", ns, "d1", "02:00:00:00:0d:01")
	return ns
}

// findAddr returns the netlink view of ip on dev, or nil.
func (n *testNS) findAddr(dev string, ip netip.Addr) *netlink.Addr {
	n.t.Helper()
	addrs, err := n.nl.AddrList(n.link(dev), netlink.FAMILY_ALL)
	if err != nil {
		n.t.Fatal(err)
	}
	for _, a := range addrs {
		if got, _ := netip.AddrFromSlice(a.IP); got.Unmap() == ip {
			return &a
		}
	}
	return nil
}

// TestAddrsAddAttributes adds VIPs with label, broadcast and scope and reads
// them back from the kernel, and checks that IPv6 VIPs skip DAD.
func TestAddrsAddAttributes(t *testing.T) {
	ns := dummyNS(t)
	a := NewAddrs()
	v4 := VIP{Prefix: netip.MustParsePrefix("10.9.0.5/24"), Dev: "d0", Label: "d0:vip",
		Broadcast: netip.MustParseAddr("10.9.0.200"), Scope: "site"}
	v4host := VIP{Prefix: netip.MustParsePrefix("10.9.1.5/32"), Dev: "d0", Scope: "host"}
	v6 := VIP{Prefix: netip.MustParsePrefix("fd00:9::5/64"), Dev: "d0"}
	ns.must(func() error {
		for _, v := range []VIP{v4, v4host, v6} {
			if err := a.Add(v); err != nil {
				return err
			}
		}
		return nil
	})

	got := ns.findAddr("d0", v4.Prefix.Addr())
	if got == nil {
		t.Fatalf("%v not on d0", v4.Prefix)
	}
	if ones, _ := got.Mask.Size(); ones != 24 || got.Label != "d0:vip" ||
		!got.Broadcast.Equal(net.ParseIP("10.9.0.200")) || got.Scope != int(netlink.SCOPE_SITE) {
		t.Errorf("kernel holds %v label %q brd %v scope %d; want /24 label d0:vip brd 10.9.0.200 scope site (%d)",
			got.IPNet, got.Label, got.Broadcast, got.Scope, netlink.SCOPE_SITE)
	}
	if got := ns.findAddr("d0", v4host.Prefix.Addr()); got == nil || got.Scope != int(netlink.SCOPE_HOST) || got.Label != "d0" {
		t.Errorf("host-scoped VIP: %+v, want scope host, label d0", got)
	}
	got6 := ns.findAddr("d0", v6.Prefix.Addr())
	if got6 == nil {
		t.Fatalf("%v not on d0", v6.Prefix)
	}
	if got6.Flags&unix.IFA_F_NODAD == 0 || got6.Flags&unix.IFA_F_TENTATIVE != 0 {
		t.Errorf("IPv6 VIP flags %#x: want NODAD set and not tentative", got6.Flags)
	}
}

// TestAddrsIdempotent adds twice, checks Has, removes twice.
func TestAddrsIdempotent(t *testing.T) {
	ns := dummyNS(t)
	a := NewAddrs()
	for _, v := range []VIP{
		{Prefix: netip.MustParsePrefix("10.9.0.7/32"), Dev: "d0", Label: "d0:x"},
		{Prefix: netip.MustParsePrefix("fd00:9::7/128"), Dev: "d0"},
	} {
		t.Run(v.Prefix.String(), func(t *testing.T) {
			ns.must(func() error {
				has := func(want bool) error {
					got, err := a.Has(v)
					if err != nil {
						return err
					}
					if got != want {
						return fmt.Errorf("Has = %v, want %v", got, want)
					}
					return nil
				}
				steps := []func() error{
					func() error { return has(false) },
					func() error { return a.Add(v) },
					func() error { return a.Add(v) },
					func() error { return has(true) },
					func() error {
						// Same address, other prefix length: not this VIP.
						w := v
						w.Prefix = netip.PrefixFrom(v.Prefix.Addr(), v.Prefix.Bits()-8)
						ok, err := a.Has(w)
						if err == nil && ok {
							err = fmt.Errorf("Has(%v) = true with only %v configured", w.Prefix, v.Prefix)
						}
						return err
					},
					func() error {
						// A removal with another label still removes.
						w := v
						if w.Label != "" {
							w.Label = "d0:other"
						}
						return a.Remove(w)
					},
					func() error { return has(false) },
					func() error { return a.Remove(v) },
				}
				for i, s := range steps {
					if err := s(); err != nil {
						return fmt.Errorf("step %d: %w", i, err)
					}
				}
				return nil
			})
		})
	}
}

// TestAddrsErrors checks the refusals and the missing-interface rules.
func TestAddrsErrors(t *testing.T) {
	ns := dummyNS(t)
	a := NewAddrs()
	ns.must(func() error {
		gone := VIP{Prefix: netip.MustParsePrefix("10.9.0.8/32"), Dev: "nope0"}
		if err := a.Add(gone); err == nil {
			return errors.New("Add on a missing interface succeeded")
		}
		if err := a.Remove(gone); err != nil {
			return fmt.Errorf("Remove on a missing interface: %w", err)
		}
		if ok, err := a.Has(gone); ok || err != nil {
			return fmt.Errorf("Has on a missing interface = %v, %v", ok, err)
		}
		for _, bad := range []VIP{
			{Prefix: netip.MustParsePrefix("10.9.0.8/32"), Dev: "d0", Scope: "galaxy"},
			{Prefix: netip.MustParsePrefix("fd00::8/128"), Dev: "d0", Label: "d0:v6"},
			{Prefix: netip.MustParsePrefix("fd00::8/128"), Dev: "d0", Broadcast: netip.MustParseAddr("10.0.0.255")},
			{Prefix: netip.MustParsePrefix("10.9.0.8/24"), Dev: "d0", Broadcast: netip.MustParseAddr("fd00::ff")},
			{Dev: "d0"},
		} {
			if err := a.Add(bad); err == nil {
				return fmt.Errorf("Add(%+v) succeeded", bad)
			}
		}
		return nil
	})
}

// TestAddrsWatch deletes a VIP through a separate netlink socket (as
// `ip addr del` would) and expects WatchAddrs to report it within 1 s.
func TestAddrsWatch(t *testing.T) {
	ns := dummyNS(t)
	type removed struct {
		dev string
		p   netip.Prefix
	}
	events := make(chan removed, 64)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- ns.run(func() error {
			return WatchAddrs(ctx, func(dev string, p netip.Prefix) { events <- removed{dev, p} })
		})
	}()

	addDel := func(prefix string) {
		t.Helper()
		a, err := netlink.ParseAddr(prefix)
		if err != nil {
			t.Fatal(err)
		}
		if err := ns.nl.AddrAdd(ns.link("d0"), a); err != nil {
			t.Fatal(err)
		}
		if err := ns.nl.AddrDel(ns.link("d0"), a); err != nil {
			t.Fatal(err)
		}
	}
	// Barrier: the subscription is live once a probe's removal comes back.
	probe := netip.MustParsePrefix("192.0.2.99/32")
	live := false
	for i := 0; i < 50 && !live; i++ {
		addDel(probe.String())
		timeout := time.After(100 * time.Millisecond)
	drain:
		for {
			select {
			case e := <-events:
				if e.p == probe {
					live = true
					break drain
				}
			case <-timeout:
				break drain
			}
		}
	}
	if !live {
		t.Fatal("WatchAddrs never reported the probe address")
	}

	for _, prefix := range []string{"10.9.0.9/24", "fd00:9::9/64"} {
		want := removed{"d0", netip.MustParsePrefix(prefix)}
		a, _ := netlink.ParseAddr(prefix)
		if strings.Contains(prefix, ":") {
			a.Flags = unix.IFA_F_NODAD
		}
		if err := ns.nl.AddrAdd(ns.link("d0"), a); err != nil {
			t.Fatal(err)
		}
		// An addition is not a removal.
		select {
		case e := <-events:
			if e.p == want.p {
				t.Fatalf("reported %v on addition", e)
			}
		case <-time.After(100 * time.Millisecond):
		}
		other, err := netlink.NewHandleAt(ns.h)
		if err != nil {
			t.Fatal(err)
		}
		err = other.AddrDel(ns.link("d0"), a)
		other.Close()
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.After(time.Second)
	wait:
		for {
			select {
			case e := <-events:
				if e == want {
					break wait
				}
			case <-deadline:
				t.Fatalf("removal of %s on d0 not reported within 1s", prefix)
			}
		}
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("WatchAddrs returned %v after cancel, want nil", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("WatchAddrs did not return after cancel")
	}
}

// TestLinksUpRule checks the rule on the attributes alone.
func TestLinksUpRule(t *testing.T) {
	cases := []struct {
		name  string
		attrs netlink.LinkAttrs
		want  bool
	}{
		{"oper up", netlink.LinkAttrs{OperState: netlink.OperUp, Flags: net.FlagUp, RawFlags: unix.IFF_UP | unix.IFF_LOWER_UP}, true},
		{"unknown with carrier", netlink.LinkAttrs{OperState: netlink.OperUnknown, Flags: net.FlagUp, RawFlags: unix.IFF_UP | unix.IFF_LOWER_UP}, true},
		{"unknown without carrier", netlink.LinkAttrs{OperState: netlink.OperUnknown, Flags: net.FlagUp, RawFlags: unix.IFF_UP}, false},
		{"unknown admin down", netlink.LinkAttrs{OperState: netlink.OperUnknown, RawFlags: unix.IFF_LOWER_UP}, false},
		{"down", netlink.LinkAttrs{OperState: netlink.OperDown, Flags: net.FlagUp, RawFlags: unix.IFF_UP | unix.IFF_LOWER_UP}, false},
		{"lower layer down", netlink.LinkAttrs{OperState: netlink.OperLowerLayerDown, Flags: net.FlagUp, RawFlags: unix.IFF_UP}, false},
		{"dormant", netlink.LinkAttrs{OperState: netlink.OperDormant, Flags: net.FlagUp, RawFlags: unix.IFF_UP | unix.IFF_LOWER_UP}, false},
	}
	for _, tc := range cases {
		if got := linkIsUp(&tc.attrs); got != tc.want {
			t.Errorf("%s: linkIsUp = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestLinksUp checks LinkUp on a veth (oper state up/lowerlayerdown), lo
// (oper state unknown, like dummy) and a missing interface.
func TestLinksUp(t *testing.T) {
	ns := newTestNS(t, true)
	veth(t, ns, "la", macA, ns, "lb", macB)
	if st := ns.link("lo").Attrs().OperState; st != netlink.OperUnknown {
		t.Fatalf("lo oper state %v, want unknown", st)
	}
	check := func(name string, want bool) {
		t.Helper()
		var got bool
		ns.must(func() error {
			var err error
			got, err = LinkUp(name)
			return err
		})
		if got != want {
			t.Errorf("LinkUp(%q) = %v, want %v", name, got, want)
		}
	}
	if !waitFor(2*time.Second, func() bool { return ns.link("la").Attrs().OperState == netlink.OperUp }) {
		t.Fatalf("veth la never came up: %v", ns.link("la").Attrs().OperState)
	}
	check("la", true)
	check("lo", true)
	ns.setUp("lb", false)
	check("la", false) // up, but no carrier: its peer is down
	check("lb", false)
	err := ns.run(func() error { _, err := LinkUp("nope0"); return err })
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LinkUp(nope0) error = %v, want os.ErrNotExist", err)
	}
}

// TestLinksWatch takes a veth's peer down and up, then deletes the pair,
// and expects WatchLinks to report each change of la exactly once.
func TestLinksWatch(t *testing.T) {
	ns := newTestNS(t, true)
	veth(t, ns, "la", macA, ns, "lb", macB)
	if !waitFor(2*time.Second, func() bool { return ns.link("la").Attrs().OperState == netlink.OperUp }) {
		t.Fatal("veth la never came up")
	}
	type change struct {
		name string
		up   bool
	}
	events := make(chan change, 64)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- ns.run(func() error {
			return WatchLinks(ctx, func(name string, up bool) { events <- change{name, up} })
		})
	}()

	// expect waits for la's next report, skipping other interfaces.
	expect := func(up bool) {
		t.Helper()
		deadline := time.After(2 * time.Second)
		for {
			select {
			case e := <-events:
				if e.name != "la" {
					continue
				}
				if e.up != up {
					t.Fatalf("la reported up=%v, want %v", e.up, up)
				}
				return
			case <-deadline:
				t.Fatalf("no report of la up=%v", up)
			}
		}
	}
	expect(true) // the initial listing
	ns.setUp("lb", false)
	expect(false)
	ns.setUp("lb", true)
	expect(true)
	if err := ns.nl.LinkDel(ns.link("la")); err != nil {
		t.Fatal(err)
	}
	expect(false)

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("WatchLinks returned %v after cancel, want nil", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("WatchLinks did not return after cancel")
	}
	for len(events) > 0 {
		if e := <-events; e.name == "la" {
			t.Errorf("extra report %+v", e)
		}
	}
}
