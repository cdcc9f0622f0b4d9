package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Iface is the name of every host's interface.
const Iface = "eth0"

// Host is one network namespace of a topology, cabled to the switch through
// a veth pair: eth0 inside the host, "p-<name>" on the bridge.
type Host struct {
	topo *Topology
	name string
	id   uint8
	ns   string // namespace name
	port string // switch-side veth name
	nsH  netns.NsHandle
	nl   *netlink.Handle // netlink socket inside the namespace
}

// setup creates the host's namespace, applies sysctls, cables it to the
// bridge and configures eth0.
func (h *Host) setup(brIndex int, sysctls [][2]string) error {
	topo := h.topo
	if err := topo.addNamespace(h.ns); err != nil {
		return err
	}
	var err error
	if h.nsH, err = netns.GetFromName(h.ns); err != nil {
		return fmt.Errorf("opening namespace %s: %w", h.ns, err)
	}
	if h.nl, err = netlinkIn(h.nsH); err != nil {
		return fmt.Errorf("netlink in %s: %w", h.ns, err)
	}
	// Sysctls first: eth0 copies the "default" values when it appears.
	if err := setSysctls(h.nsH, sysctls); err != nil {
		return err
	}
	veth := &netlink.Veth{
		LinkAttrs:        netlink.LinkAttrs{Name: h.port, MasterIndex: brIndex},
		PeerName:         Iface,
		PeerHardwareAddr: h.MAC(),
		PeerNamespace:    netlink.NsFd(int(h.nsH)),
	}
	if err := topo.swNL.LinkAdd(veth); err != nil {
		return fmt.Errorf("adding veth %s/%s: %w", h.port, Iface, err)
	}
	if err := topo.swNL.LinkSetUp(veth); err != nil {
		return fmt.Errorf("%s up: %w", h.port, err)
	}
	lo, err := h.nl.LinkByName("lo")
	if err != nil {
		return err
	}
	if err := h.nl.LinkSetUp(lo); err != nil {
		return fmt.Errorf("lo up: %w", err)
	}
	eth, err := h.nl.LinkByName(Iface)
	if err != nil {
		return err
	}
	for _, p := range []netip.Prefix{
		netip.PrefixFrom(h.Addr4(), Net4.Bits()),
		netip.PrefixFrom(h.Addr6(), Net6.Bits()),
	} {
		a := &netlink.Addr{IPNet: prefixToIPNet(p), Flags: unix.IFA_F_NODAD}
		if err := h.nl.AddrAdd(eth, a); err != nil {
			return fmt.Errorf("adding %s: %w", p, err)
		}
	}
	if err := h.nl.LinkSetUp(eth); err != nil {
		return fmt.Errorf("eth0 up: %w", err)
	}
	return nil
}

// ready reports whether eth0 has carrier and a usable link-local address.
func (h *Host) ready() (bool, error) {
	eth, err := h.nl.LinkByName(Iface)
	if err != nil {
		return false, err
	}
	if eth.Attrs().OperState != netlink.OperUp {
		return false, nil
	}
	addrs, err := h.nl.AddrList(eth, netlink.FAMILY_V6)
	if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
		return false, err
	}
	ll := LinkLocal6(h.id)
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok && ip.Unmap() == ll && a.Flags&unix.IFA_F_TENTATIVE == 0 {
			return true, nil
		}
	}
	return false, nil
}

func (h *Host) closeHandles() {
	if h.nl != nil {
		h.nl.Close()
	}
	if h.nsH.IsOpen() {
		h.nsH.Close()
	}
}

// Name returns the host's name.
func (h *Host) Name() string { return h.name }

// ID returns the host's ID, the last octet of its addresses.
func (h *Host) ID() uint8 { return h.id }

// NS returns the name of the host's network namespace, for `ip netns exec`.
func (h *Host) NS() string { return h.ns }

// Wrapper returns the argv prefix that runs a program inside the host's
// namespace (ip netns exec NS), for code that starts its processes itself.
func (h *Host) Wrapper() []string {
	ip, err := lookPath("ip")
	if err != nil {
		ip = "ip"
	}
	return []string{ip, "netns", "exec", h.ns}
}

// Port returns the name of the host's port on the switch's bridge.
func (h *Host) Port() string { return h.port }

// Addr4 returns the host's IPv4 address, IPv4(h.ID()).
func (h *Host) Addr4() netip.Addr { return IPv4(h.id) }

// Addr6 returns the host's unique-local IPv6 address, IPv6(h.ID()).
func (h *Host) Addr6() netip.Addr { return IPv6(h.id) }

// LinkLocal6 returns the host's IPv6 link-local address (zoned to eth0).
func (h *Host) LinkLocal6() netip.Addr { return LinkLocal6(h.id).WithZone(Iface) }

// MAC returns the MAC address of the host's eth0, HostMAC(h.ID()).
func (h *Host) MAC() net.HardwareAddr { return HostMAC(h.id) }

// Do runs fn on an OS thread inside the host's network namespace. Sockets
// and netlink handles fn opens stay in the namespace after it returns and
// may be used from any goroutine.
func (h *Host) Do(fn func() error) error { return inNamespace(h.nsH, fn) }

// Run runs argv to completion inside the host's namespace (`ip netns exec`)
// and returns its standard output. A non-zero exit returns an error holding
// the command line and its standard error.
func (h *Host) Run(ctx context.Context, argv ...string) ([]byte, error) {
	if len(argv) == 0 {
		return nil, errors.New("lab: Run needs a command")
	}
	bin, err := lookPath(argv[0])
	if err != nil {
		return nil, err
	}
	return runCmd(ctx, nil, append([]string{"ip", "netns", "exec", h.ns, bin}, argv[1:]...)...)
}

// Start starts a long-running process in the host's namespace. Its output
// goes to a log file in a temporary directory of the topology's TB; it is
// stopped (Proc.Stop) when the topology closes. A failure to start fails the
// test.
func (h *Host) Start(argv ...string) *Proc {
	h.topo.tb.Helper()
	return h.startProc(h.topo.tb, h.topo.procDir(), argv)
}

// link returns the host's eth0, failing the test on error.
func (h *Host) link() netlink.Link {
	h.topo.tb.Helper()
	l, err := h.nl.LinkByName(Iface)
	if err != nil {
		h.topo.tb.Fatalf("lab: %s: %v", h.name, err)
	}
	return l
}

// LinkDown sets the host's eth0 administratively down, as `ip link set eth0
// down` would inside the host: the host sees its own interface go down.
// Addresses are kept (keep_addr_on_down), so LinkUp restores the host.
func (h *Host) LinkDown() {
	h.topo.tb.Helper()
	if err := h.nl.LinkSetDown(h.link()); err != nil {
		h.topo.tb.Fatalf("lab: %s: eth0 down: %v", h.name, err)
	}
}

// LinkUp sets the host's eth0 administratively up again.
func (h *Host) LinkUp() {
	h.topo.tb.Helper()
	if err := h.nl.LinkSetUp(h.link()); err != nil {
		h.topo.tb.Fatalf("lab: %s: eth0 up: %v", h.name, err)
	}
}

// switchPort returns the host's switch-side veth.
func (h *Host) switchPort() netlink.Link {
	h.topo.tb.Helper()
	l, err := h.topo.swNL.LinkByName(h.port)
	if err != nil {
		h.topo.tb.Fatalf("lab: %s: switch port %s: %v", h.name, h.port, err)
	}
	return l
}

// Unplug pulls the host's cable: the switch-side port goes down, so the
// host's eth0 stays administratively up but loses carrier (NO-CARRIER) and
// the host is cut off from every other host.
func (h *Host) Unplug() {
	h.topo.tb.Helper()
	if err := h.topo.swNL.LinkSetDown(h.switchPort()); err != nil {
		h.topo.tb.Fatalf("lab: %s: unplug: %v", h.name, err)
	}
}

// Plug reconnects a host disconnected by Unplug.
func (h *Host) Plug() {
	h.topo.tb.Helper()
	if err := h.topo.swNL.LinkSetUp(h.switchPort()); err != nil {
		h.topo.tb.Fatalf("lab: %s: plug: %v", h.name, err)
	}
}

// Partition drops every frame between this host and each of others in both
// directions (unicast, broadcast and multicast alike) while both keep their
// links and their connectivity to everyone else: a split brain. It is
// programmed as nftables rules in the switch namespace and needs nft(8).
func (h *Host) Partition(others ...*Host) {
	h.topo.tb.Helper()
	if len(others) == 0 {
		h.topo.tb.Fatalf("lab: %s: Partition needs at least one other host", h.name)
	}
	h.topo.setBlocked(h, others, true)
}

// Heal removes the partitions between this host and others; with no
// arguments, every partition involving this host.
func (h *Host) Heal(others ...*Host) {
	h.topo.tb.Helper()
	h.topo.setBlocked(h, others, false)
}

// Addrs returns the addresses on the host's eth0.
func (h *Host) Addrs() []netip.Prefix {
	h.topo.tb.Helper()
	addrs, err := h.addrs()
	if err != nil {
		h.topo.tb.Fatalf("lab: %s: listing addresses: %v", h.name, err)
	}
	return addrs
}

func (h *Host) addrs() ([]netip.Prefix, error) {
	eth, err := h.nl.LinkByName(Iface)
	if err != nil {
		return nil, err
	}
	var list []netlink.Addr
	for range 3 { // a dump interrupted by a concurrent change is retried
		list, err = h.nl.AddrList(eth, netlink.FAMILY_ALL)
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	out := make([]netip.Prefix, 0, len(list))
	for _, a := range list {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			continue
		}
		ones, _ := a.Mask.Size()
		out = append(out, netip.PrefixFrom(ip.Unmap(), ones))
	}
	return out, nil
}

// HasAddr reports whether the host's eth0 holds addr (the zone is ignored).
func (h *Host) HasAddr(addr netip.Addr) bool {
	h.topo.tb.Helper()
	addr = addr.WithZone("")
	for _, p := range h.Addrs() {
		if p.Addr() == addr {
			return true
		}
	}
	return false
}

// Neigh returns the MAC address and NUD state ("REACHABLE", "STALE",
// "DELAY", "PROBE", "INCOMPLETE", "FAILED", "PERMANENT", "NOARP", "NONE") of
// the host's neighbour (ARP or NDP) entry for addr on eth0. The error wraps
// os.ErrNotExist when there is no entry. An INCOMPLETE or FAILED entry has
// an empty MAC.
func (h *Host) Neigh(addr netip.Addr) (mac, state string, err error) {
	eth, err := h.nl.LinkByName(Iface)
	if err != nil {
		return "", "", err
	}
	family := netlink.FAMILY_V4
	if addr.Is6() && !addr.Is4In6() {
		family = netlink.FAMILY_V6
	}
	var list []netlink.Neigh
	for range 3 {
		list, err = h.nl.NeighList(eth.Attrs().Index, family)
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	if err != nil {
		return "", "", fmt.Errorf("%s: listing neighbours: %w", h.name, err)
	}
	want := addr.WithZone("").Unmap()
	for _, n := range list {
		ip, ok := netip.AddrFromSlice(n.IP)
		if !ok || ip.Unmap() != want {
			continue
		}
		if len(n.HardwareAddr) > 0 {
			mac = n.HardwareAddr.String()
		}
		return mac, neighState(n.State), nil
	}
	return "", "", fmt.Errorf("%s: neighbour %s: %w", h.name, addr, os.ErrNotExist)
}

// neighState names a NUD state bit set the way ip-neighbour(8) does.
func neighState(s int) string {
	names := []struct {
		bit  int
		name string
	}{
		{netlink.NUD_INCOMPLETE, "INCOMPLETE"},
		{netlink.NUD_REACHABLE, "REACHABLE"},
		{netlink.NUD_STALE, "STALE"},
		{netlink.NUD_DELAY, "DELAY"},
		{netlink.NUD_PROBE, "PROBE"},
		{netlink.NUD_FAILED, "FAILED"},
		{netlink.NUD_NOARP, "NOARP"},
		{netlink.NUD_PERMANENT, "PERMANENT"},
	}
	var parts []string
	for _, n := range names {
		if s&n.bit != 0 {
			parts = append(parts, n.name)
		}
	}
	if len(parts) == 0 {
		return "NONE"
	}
	return strings.Join(parts, ",")
}

func prefixToIPNet(p netip.Prefix) *net.IPNet {
	bits := 32
	if p.Addr().Is6() {
		bits = 128
	}
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), bits)}
}
