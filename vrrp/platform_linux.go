package vrrp

import (
	"context"
	"net/netip"
)

// LinuxPlatform returns the Platform that talks to the Linux kernel: raw
// VRRP sockets, netlink addresses and links, packet sockets for GARP/NA, and
// hooks run as argv.
func LinuxPlatform() Platform {
	return Platform{
		Listen: func(ifname string, ipv6 bool, source netip.Addr, multicast bool) (PacketConn, error) {
			c, err := Listen(ifname, ipv6, source, multicast)
			if err != nil {
				return nil, err
			}
			return c, nil
		},
		Addrs: NewAddrs(),
		NewAnnouncer: func(ifname string) (GratuitousAnnouncer, error) {
			a, err := NewAnnouncer(ifname)
			if err != nil {
				return nil, err
			}
			return a, nil
		},
		LinkUp:     LinkUp,
		WatchLinks: WatchLinks,
		WatchAddrs: func(ctx context.Context, onRemoved func(dev string, p netip.Prefix)) error {
			return WatchAddrs(ctx, onRemoved)
		},
		RunHook: RunHook,
	}
}
