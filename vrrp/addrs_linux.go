//go:build linux

package vrrp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// VIP is one virtual address as configured on an interface.
type VIP struct {
	// Prefix is the address and its prefix length (a /32 or /128 unless
	// configured otherwise).
	Prefix netip.Prefix
	// Dev is the interface the address lives on.
	Dev string
	// Label is the IPv4 address label (as `ip addr add ... label`);
	// empty for the interface name. IPv6 has no labels.
	Label string
	// Broadcast is the IPv4 broadcast address; the zero Addr lets the
	// netlink library derive it from the prefix (as `brd +`) for
	// prefixes shorter than /31.
	Broadcast netip.Addr
	// Scope is "", "global", "site", "link" or "host"; "" is global.
	Scope string
}

// Addrs adds and removes virtual addresses through rtnetlink, in the
// network namespace of the calling thread. It holds no state: every call
// reads or changes the kernel's.
type Addrs struct{}

// NewAddrs returns an Addrs.
func NewAddrs() *Addrs { return &Addrs{} }

// vipScope maps VIP.Scope to the rtnetlink scope.
func vipScope(s string) (netlink.Scope, error) {
	switch s {
	case "", "global":
		return netlink.SCOPE_UNIVERSE, nil
	case "site":
		return netlink.SCOPE_SITE, nil
	case "link":
		return netlink.SCOPE_LINK, nil
	case "host":
		return netlink.SCOPE_HOST, nil
	}
	return 0, fmt.Errorf("unknown scope %q", s)
}

// netlinkAddr validates v and converts it to the netlink form.
func (v VIP) netlinkAddr() (*netlink.Addr, error) {
	if !v.Prefix.IsValid() {
		return nil, fmt.Errorf("invalid prefix %v", v.Prefix)
	}
	ip := v.Prefix.Addr()
	if ip.Is4In6() || ip.Zone() != "" {
		return nil, fmt.Errorf("address %s: want plain IPv4 or IPv6 without zone", ip)
	}
	scope, err := vipScope(v.Scope)
	if err != nil {
		return nil, err
	}
	a := &netlink.Addr{
		IPNet: &net.IPNet{IP: ip.AsSlice(), Mask: net.CIDRMask(v.Prefix.Bits(), ip.BitLen())},
		Scope: int(scope),
	}
	if ip.Is6() {
		if v.Label != "" {
			return nil, fmt.Errorf("label %q on IPv6 address %s: labels are IPv4 only", v.Label, v.Prefix)
		}
		if v.Broadcast.IsValid() {
			return nil, fmt.Errorf("broadcast %s on IPv6 address %s", v.Broadcast, v.Prefix)
		}
		// Usable at once: no tentative period, no DAD probes.
		a.Flags = unix.IFA_F_NODAD
		return a, nil
	}
	a.Label = v.Label
	if v.Broadcast.IsValid() {
		brd := v.Broadcast.Unmap()
		if !brd.Is4() {
			return nil, fmt.Errorf("broadcast %s of %s is not IPv4", v.Broadcast, v.Prefix)
		}
		a.Broadcast = brd.AsSlice()
	}
	return a, nil
}

// Add configures v. An address that is already present (EEXIST) counts as
// added; its attributes are left as they are. IPv6 addresses are added
// with IFA_F_NODAD so they can be used (and announced) immediately.
func (a *Addrs) Add(v VIP) error {
	addr, err := v.netlinkAddr()
	if err != nil {
		return fmt.Errorf("vrrp: adding %s to %q: %w", v.Prefix, v.Dev, err)
	}
	link, err := netlink.LinkByName(v.Dev)
	if err != nil {
		return fmt.Errorf("vrrp: adding %s to %q: %w", v.Prefix, v.Dev, err)
	}
	if err := netlink.AddrAdd(link, addr); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("vrrp: adding %s to %q: %w", v.Prefix, v.Dev, err)
	}
	return nil
}

// Remove deletes v, matched by address and prefix length (not label). An
// address or interface that is already gone counts as removed.
func (a *Addrs) Remove(v VIP) error {
	addr, err := v.netlinkAddr()
	if err != nil {
		return fmt.Errorf("vrrp: removing %s from %q: %w", v.Prefix, v.Dev, err)
	}
	link, err := netlink.LinkByName(v.Dev)
	if err != nil {
		if _, ok := err.(netlink.LinkNotFoundError); ok {
			return nil
		}
		return fmt.Errorf("vrrp: removing %s from %q: %w", v.Prefix, v.Dev, err)
	}
	// The kernel matches an IPv4 deletion on IFA_LABEL when present;
	// a stale label must not make a present address look absent.
	addr.Label = ""
	err = netlink.AddrDel(link, addr)
	if err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("vrrp: removing %s from %q: %w", v.Prefix, v.Dev, err)
	}
	return nil
}

// Has reports whether v's address with v's prefix length is configured on
// v.Dev. A missing interface holds no address.
func (a *Addrs) Has(v VIP) (bool, error) {
	addr, err := v.netlinkAddr()
	if err != nil {
		return false, fmt.Errorf("vrrp: checking %s on %q: %w", v.Prefix, v.Dev, err)
	}
	link, err := netlink.LinkByName(v.Dev)
	if err != nil {
		if _, ok := err.(netlink.LinkNotFoundError); ok {
			return false, nil
		}
		return false, fmt.Errorf("vrrp: checking %s on %q: %w", v.Prefix, v.Dev, err)
	}
	family := netlink.FAMILY_V4
	if v.Prefix.Addr().Is6() {
		family = netlink.FAMILY_V6
	}
	present, err := netlink.AddrList(link, family)
	if err != nil {
		return false, fmt.Errorf("vrrp: listing addresses of %q: %w", v.Dev, err)
	}
	wantBits, _ := addr.Mask.Size()
	for _, p := range present {
		bits, _ := p.Mask.Size()
		if bits == wantBits && p.IP.Equal(addr.IP) {
			return true, nil
		}
	}
	return false, nil
}

// WatchAddrs calls onRemoved for every address deleted from any interface
// of the calling thread's network namespace (RTM_DELADDR), from a netlink
// subscription, until ctx is done; it then returns nil. Any error the
// subscription reports (including ENOBUFS, when events were lost) ends
// the watch and is returned: the caller should re-check its addresses.
//
// dev is the interface name, looked up by index when the event arrives;
// it is empty only for an interface created and deleted since the watch
// began whose name was never seen.
func WatchAddrs(ctx context.Context, onRemoved func(dev string, p netip.Prefix)) error {
	names := map[int]string{}
	links, err := netlink.LinkList()
	if err != nil {
		return fmt.Errorf("vrrp: listing links: %w", err)
	}
	for _, l := range links {
		names[l.Attrs().Index] = l.Attrs().Name
	}

	updates := make(chan netlink.AddrUpdate, 64)
	done := make(chan struct{})
	errc := make(chan error, 1)
	err = netlink.AddrSubscribeWithOptions(updates, done, netlink.AddrSubscribeOptions{
		ErrorCallback: func(err error) {
			select {
			case errc <- err:
			default:
			}
		},
		ReceiveBufferSize: 1 << 20,
	})
	if err != nil {
		return fmt.Errorf("vrrp: subscribing to address changes: %w", err)
	}
	// stop ends the subscription and drains updates so the library's
	// reader, blocked on a send, can exit.
	stop := func() {
		close(done)
		for range updates {
		}
	}

	for {
		select {
		case <-ctx.Done():
			stop()
			return nil
		case err := <-errc:
			stop()
			return fmt.Errorf("vrrp: address subscription: %w", err)
		case u, ok := <-updates:
			if !ok {
				select {
				case err := <-errc:
					return fmt.Errorf("vrrp: address subscription: %w", err)
				default:
					return errors.New("vrrp: address subscription closed")
				}
			}
			if u.NewAddr {
				continue
			}
			ip, ok := netip.AddrFromSlice(u.LinkAddress.IP)
			if !ok {
				continue
			}
			bits, _ := u.LinkAddress.Mask.Size()
			ip = ip.Unmap()
			if ip.Is4() && bits > 32 {
				bits -= 96
			}
			if l, err := netlink.LinkByIndex(u.LinkIndex); err == nil {
				names[u.LinkIndex] = l.Attrs().Name
			}
			onRemoved(names[u.LinkIndex], netip.PrefixFrom(ip, bits))
		}
	}
}
