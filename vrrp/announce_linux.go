//go:build linux

package vrrp

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/mdlayher/ndp"
	"github.com/mdlayher/packet"
	"golang.org/x/net/bpf"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// NewAnnouncer returns an Announcer for interface ifname, which must have
// an Ethernet hardware address. Sockets are opened on first use, per
// family, in the network namespace of the thread that first uses them:
// a raw AF_PACKET socket for ARP (keepalived builds its frames the same
// way) and an ICMPv6 socket through mdlayher/ndp for neighbour
// advertisements. Neither socket receives anything.
func NewAnnouncer(ifname string) (*Announcer, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("vrrp: interface %q: %w", ifname, err)
	}
	if len(ifi.HardwareAddr) != 6 {
		return nil, fmt.Errorf("vrrp: interface %q has no Ethernet address to announce", ifname)
	}
	a := newAnnouncer(ifi, nil, nil)
	a.router = func() bool { return ipv6Forwarding(ifi.Name) }
	a.openARP = func() (net.PacketConn, error) {
		// Sending only: a filter that accepts nothing keeps the
		// socket's queue empty.
		drop, err := bpf.Assemble([]bpf.Instruction{bpf.RetConstant{Val: 0}})
		if err != nil {
			return nil, err
		}
		return packet.Listen(ifi, packet.Raw, unix.ETH_P_ARP, &packet.Config{Filter: drop})
	}
	a.openNDP = func() (ndpConn, error) {
		// Unspecified: the source is set per message (the announced
		// address), so no link-local address is needed to open it.
		c, _, err := ndp.Listen(ifi, ndp.Unspecified)
		if err != nil {
			return nil, err
		}
		var f ipv6.ICMPFilter
		f.SetAll(true) // block every incoming ICMPv6 type
		if err := c.SetICMPFilter(&f); err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	}
	return a, nil
}

// ipv6Forwarding reports whether IPv6 forwarding is on for ifname, which
// sets the Router flag of neighbour advertisements (RFC 4861 4.4).
func ipv6Forwarding(ifname string) bool {
	b, err := os.ReadFile(filepath.Join("/proc/sys/net/ipv6/conf", ifname, "forwarding"))
	if err != nil {
		return false
	}
	return string(bytes.TrimSpace(b)) == "1"
}
