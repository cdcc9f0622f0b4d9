package lab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// Addressing plan. Every topology uses the same subnets inside its own
// namespaces, so parallel topologies do not collide.
var (
	// Net4 is the IPv4 subnet of every topology.
	Net4 = netip.MustParsePrefix("10.99.0.0/24")
	// Net6 is the IPv6 unique-local subnet of every topology.
	Net6 = netip.MustParsePrefix("fd99::/64")
	// VIP4 is the conventional first IPv4 virtual address (as in
	// shared/vectors/vrrp); VIP4+1 and VIP4+2 are also reserved for VIPs.
	VIP4 = IPv4(250)
	// VIP6 is the conventional first IPv6 virtual address.
	VIP6 = IPv6(250)
)

// Reserved host IDs: 250-254 are virtual addresses, 0 and 255 are the
// network and broadcast addresses.
const (
	firstVIPID = 250
	lastVIPID  = 254
)

// IPv4 returns the IPv4 address of host ID id: 10.99.0.<id>.
func IPv4(id uint8) netip.Addr {
	return netip.AddrFrom4([4]byte{10, 99, 0, id})
}

// IPv6 returns the IPv6 address of host ID id: fd99::<id>, where the decimal
// digits of id are written as the last group (ID 11 is fd99::11, ID 100 is
// fd99::100) so that addresses read the same in both families.
func IPv6(id uint8) netip.Addr {
	g := decimalAsHex(id)
	return netip.AddrFrom16([16]byte{0: 0xfd, 1: 0x99, 14: byte(g >> 8), 15: byte(g)})
}

// HostMAC returns the MAC address of host ID id's eth0: locally administered
// 02:99:00:00:HH:LL with the decimal digits of id as HHLL (ID 11 is
// 02:99:00:00:00:11, ID 100 is 02:99:00:00:01:00), as in shared/vectors/vrrp.
func HostMAC(id uint8) net.HardwareAddr {
	g := decimalAsHex(id)
	return net.HardwareAddr{0x02, 0x99, 0, 0, byte(g >> 8), byte(g)}
}

// LinkLocal6 returns the EUI-64 link-local address the kernel derives from
// HostMAC(id).
func LinkLocal6(id uint8) netip.Addr {
	m := HostMAC(id)
	return netip.AddrFrom16([16]byte{
		0: 0xfe, 1: 0x80,
		8: m[0] ^ 0x02, 9: m[1], 10: m[2], 11: 0xff, 12: 0xfe, 13: m[3], 14: m[4], 15: m[5],
	})
}

// decimalAsHex reads the decimal digits of id as a hexadecimal number.
func decimalAsHex(id uint8) uint16 {
	v, _ := strconv.ParseUint(strconv.Itoa(int(id)), 16, 16)
	return uint16(v)
}

// HostSpec declares one host of a topology.
type HostSpec struct {
	// Name is the host's name: 1-12 characters, lowercase letters and
	// digits, starting with a letter. "switch" is reserved.
	Name string
	// ID is the last octet of the host's addresses. Zero picks the
	// well-known ID of Name: director1-9 are 11-19, backend1-9 are 21-29,
	// client is 100 and client1-9 are 101-109. Other names need an ID.
	ID uint8
}

// Hosts is shorthand for a list of well-known hosts.
func Hosts(names ...string) []HostSpec {
	specs := make([]HostSpec, len(names))
	for i, n := range names {
		specs[i] = HostSpec{Name: n}
	}
	return specs
}

// DefaultHosts is the topology used when Options.Hosts is empty.
var DefaultHosts = Hosts("director1", "director2", "client")

// Options configures a topology.
type Options struct {
	// Hosts lists the hosts to create; DefaultHosts when empty.
	Hosts []HostSpec
	// Prefix starts every namespace name; "vigil" when empty. Lowercase
	// letters and digits only.
	Prefix string
	// Sysctls are written in every host namespace after the lab's defaults
	// (see the package documentation), e.g.
	// {"net.ipv4.conf.all.arp_accept": "1"}.
	Sysctls map[string]string
}

var (
	hostNameRE = regexp.MustCompile(`^[a-z][a-z0-9]{0,11}$`)
	prefixRE   = regexp.MustCompile(`^[a-z][a-z0-9]{0,15}$`)
	wellKnown  = regexp.MustCompile(`^(director|backend|client)([1-9]?)$`)
)

// wellKnownID returns the ID a host name implies, or 0.
func wellKnownID(name string) uint8 {
	m := wellKnown.FindStringSubmatch(name)
	if m == nil {
		return 0
	}
	n := 0
	if m[2] != "" {
		n, _ = strconv.Atoi(m[2])
	}
	switch m[1] {
	case "director":
		if n > 0 {
			return uint8(10 + n)
		}
	case "backend":
		if n > 0 {
			return uint8(20 + n)
		}
	case "client":
		return uint8(100 + n)
	}
	return 0
}

// resolveHosts validates the host list and fills in IDs.
func resolveHosts(specs []HostSpec) ([]HostSpec, error) {
	if len(specs) == 0 {
		specs = DefaultHosts
	}
	out := make([]HostSpec, len(specs))
	names := map[string]bool{}
	ids := map[uint8]string{}
	for i, s := range specs {
		if !hostNameRE.MatchString(s.Name) || s.Name == "switch" {
			return nil, fmt.Errorf("host name %q: want 1-12 lowercase letters and digits starting with a letter, not \"switch\"", s.Name)
		}
		if names[s.Name] {
			return nil, fmt.Errorf("host name %q: duplicate", s.Name)
		}
		names[s.Name] = true
		if s.ID == 0 {
			s.ID = wellKnownID(s.Name)
			if s.ID == 0 {
				return nil, fmt.Errorf("host %q: needs an ID (only directorN, backendN and client[N] have well-known ones)", s.Name)
			}
		}
		if s.ID == 255 || (s.ID >= firstVIPID && s.ID <= lastVIPID) {
			return nil, fmt.Errorf("host %q: ID %d is reserved (250-254 are VIPs, 255 is broadcast)", s.Name, s.ID)
		}
		if other, ok := ids[s.ID]; ok {
			return nil, fmt.Errorf("host %q: ID %d already used by %q", s.Name, s.ID, other)
		}
		ids[s.ID] = s.Name
		out[i] = s
	}
	return out, nil
}

// bridgeName is the bridge inside the switch namespace.
const bridgeName = "br0"

// Topology is a set of hosts, each a network namespace with one interface
// eth0, cabled to one bridge that lives in a namespace of its own ("the
// switch"), so the host's network is never touched. Create it with New;
// everything is removed when the TB's cleanups run or Close is called.
type Topology struct {
	tb     TB
	id     string // prefix-pid-random
	swNS   string
	swH    netns.NsHandle
	swNL   *netlink.Handle
	hosts  []*Host
	byName map[string]*Host

	logDirOnce sync.Once
	logDir     string
	procSeq    atomic.Int64

	mu       sync.Mutex
	closed   bool
	procs    map[*Proc]bool
	pingers  map[*Pinger]bool
	blocked  map[[2]string]bool // partitioned host pairs, names sorted
	nftMu    sync.Mutex         // serialises applyPartitions
	created  []string           // namespaces to delete, in creation order
	closeErr error
	once     sync.Once
}

// New builds a topology and registers its removal with t.Cleanup. It skips
// the test (fails it under CI=true) without root or ip(8), and fails it if
// the topology cannot be built.
func New(t TB, opts Options) *Topology {
	t.Helper()
	Require(t, "root", "ip")
	topo, err := build(t, opts)
	if err != nil {
		t.Fatalf("lab: %v", err)
	}
	return topo
}

// sweepOnce removes namespaces left behind by crashed test processes, once
// per process.
var sweepOnce sync.Once

// staleRE matches names the lab gives namespaces: prefix-pid-random-host.
var staleRE = regexp.MustCompile(`^([a-z][a-z0-9]*)-([0-9]+)-[0-9a-f]{6}-[a-z][a-z0-9]*$`)

// sweepStale deletes lab namespaces whose creating process no longer exists,
// killing whatever still runs in them (keepalived orphaned by a SIGKILLed
// test binary). Namespaces of live processes, other test binaries running in
// parallel included, are left alone.
func sweepStale(t TB) {
	ents, err := os.ReadDir(netnsDir)
	if err != nil {
		return
	}
	for _, e := range ents {
		m := staleRE.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		pid, err := strconv.Atoi(m[2])
		if err != nil || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		if err := killNamespace(e.Name(), 2*time.Second); err != nil {
			t.Logf("lab: sweeping stale namespace %s: %v", e.Name(), err)
			continue
		}
		if err := ip("netns", "del", e.Name()); err != nil {
			t.Logf("lab: sweeping stale namespace %s: %v", e.Name(), err)
			continue
		}
		t.Logf("lab: removed stale namespace %s (pid %d is gone)", e.Name(), pid)
	}
}

// build creates the namespaces, bridge, veth pairs, addresses and sysctls.
// On error the partial topology is removed by the already registered
// cleanup.
func build(t TB, opts Options) (*Topology, error) {
	specs, err := resolveHosts(opts.Hosts)
	if err != nil {
		return nil, err
	}
	prefix := opts.Prefix
	if prefix == "" {
		prefix = "vigil"
	}
	if !prefixRE.MatchString(prefix) {
		return nil, fmt.Errorf("prefix %q: want 1-16 lowercase letters and digits starting with a letter", prefix)
	}
	sweepOnce.Do(func() { sweepStale(t) })

	var rnd [3]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, err
	}
	topo := &Topology{
		tb:      t,
		id:      fmt.Sprintf("%s-%d-%s", prefix, os.Getpid(), hex.EncodeToString(rnd[:])),
		byName:  map[string]*Host{},
		procs:   map[*Proc]bool{},
		pingers: map[*Pinger]bool{},
		blocked: map[[2]string]bool{},
		swH:     netns.None(),
	}
	topo.swNS = topo.id + "-switch"
	t.Cleanup(func() {
		if err := topo.Close(); err != nil {
			t.Errorf("lab: %v", err)
		}
	})

	// The switch: IPv6 off so it sends nothing of its own (no router
	// solicitations, no MLD), one bridge without multicast snooping so VRRP
	// and NDP multicast are flooded to every port like on a dumb switch.
	if err := topo.addNamespace(topo.swNS); err != nil {
		return topo, err
	}
	if topo.swH, err = netns.GetFromName(topo.swNS); err != nil {
		return topo, fmt.Errorf("opening namespace %s: %w", topo.swNS, err)
	}
	if topo.swNL, err = netlinkIn(topo.swH); err != nil {
		return topo, fmt.Errorf("netlink in %s: %w", topo.swNS, err)
	}
	if err := setSysctls(topo.swH, [][2]string{
		{"net.ipv6.conf.all.disable_ipv6", "1"},
		{"net.ipv6.conf.default.disable_ipv6", "1"},
	}); err != nil {
		return topo, fmt.Errorf("%s: %w", topo.swNS, err)
	}
	off := false
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: bridgeName}, MulticastSnooping: &off}
	if err := topo.swNL.LinkAdd(br); err != nil {
		return topo, fmt.Errorf("%s: adding bridge: %w", topo.swNS, err)
	}
	if err := topo.swNL.LinkSetUp(br); err != nil {
		return topo, fmt.Errorf("%s: bridge up: %w", topo.swNS, err)
	}
	brLink, err := topo.swNL.LinkByName(bridgeName)
	if err != nil {
		return topo, fmt.Errorf("%s: %w", topo.swNS, err)
	}

	sysctls := hostSysctls(opts.Sysctls)
	for _, s := range specs {
		h := &Host{
			topo: topo,
			name: s.Name,
			id:   s.ID,
			ns:   topo.id + "-" + s.Name,
			port: "p-" + s.Name,
			nsH:  netns.None(),
		}
		topo.hosts = append(topo.hosts, h)
		topo.byName[h.name] = h
		if err := h.setup(brLink.Attrs().Index, sysctls); err != nil {
			return topo, fmt.Errorf("host %s: %w", h.name, err)
		}
	}
	// Ready means: carrier on every eth0 and the link-local address usable,
	// so the first packet a test sends is not lost to setup.
	deadline := time.Now().Add(5 * time.Second)
	for _, h := range topo.hosts {
		for {
			ok, err := h.ready()
			if err != nil {
				return topo, fmt.Errorf("host %s: %w", h.name, err)
			}
			if ok {
				break
			}
			if time.Now().After(deadline) {
				return topo, fmt.Errorf("host %s: eth0 not up with %s after 5s", h.name, h.LinkLocal6())
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	return topo, nil
}

// hostSysctls returns the lab's per-host defaults followed by the caller's
// extras in sorted order. Defaults (see the package documentation):
// no duplicate address detection, so addresses (VIPs included) are usable at
// once; addresses kept across link down, so LinkUp restores a host fully.
func hostSysctls(extra map[string]string) [][2]string {
	kv := [][2]string{
		{"net.ipv6.conf.all.accept_dad", "0"},
		{"net.ipv6.conf.default.accept_dad", "0"},
		{"net.ipv6.conf.all.keep_addr_on_down", "1"},
		{"net.ipv6.conf.default.keep_addr_on_down", "1"},
	}
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		kv = append(kv, [2]string{k, extra[k]})
	}
	return kv
}

// addNamespace creates a named namespace and records it for deletion.
func (topo *Topology) addNamespace(name string) error {
	if err := ip("netns", "add", name); err != nil {
		return err
	}
	topo.mu.Lock()
	topo.created = append(topo.created, name)
	topo.mu.Unlock()
	return nil
}

// ID returns the unique part of the topology's namespace names
// (prefix-pid-random).
func (topo *Topology) ID() string { return topo.id }

// SwitchNS returns the name of the namespace that holds the bridge.
func (topo *Topology) SwitchNS() string { return topo.swNS }

// Hosts returns the hosts in declaration order.
func (topo *Topology) Hosts() []*Host { return slices.Clone(topo.hosts) }

// Host returns the named host; an unknown name fails the test.
func (topo *Topology) Host(name string) *Host {
	topo.tb.Helper()
	h, ok := topo.byName[name]
	if !ok {
		names := make([]string, len(topo.hosts))
		for i, h := range topo.hosts {
			names[i] = h.name
		}
		topo.tb.Fatalf("lab: no host %q (have %s)", name, strings.Join(names, ", "))
	}
	return h
}

// track records a process for Close; false if the topology is closed.
func (topo *Topology) track(p *Proc) bool {
	topo.mu.Lock()
	defer topo.mu.Unlock()
	if topo.closed {
		return false
	}
	topo.procs[p] = true
	return true
}

func (topo *Topology) untrack(p *Proc) {
	topo.mu.Lock()
	defer topo.mu.Unlock()
	delete(topo.procs, p)
}

// procDir returns the directory for logs of processes started with Start.
func (topo *Topology) procDir() string {
	topo.logDirOnce.Do(func() { topo.logDir = topo.tb.TempDir() })
	return topo.logDir
}

// Close stops every pinger and process started in the topology, kills
// anything else still running in its namespaces and deletes them. It is
// idempotent and registered as a cleanup by New; programs call it (or their
// Session's Close) when done.
func (topo *Topology) Close() error {
	topo.once.Do(func() {
		topo.mu.Lock()
		topo.closed = true
		pingers := make([]*Pinger, 0, len(topo.pingers))
		for p := range topo.pingers {
			pingers = append(pingers, p)
		}
		procs := make([]*Proc, 0, len(topo.procs))
		for p := range topo.procs {
			procs = append(procs, p)
		}
		created := slices.Clone(topo.created)
		topo.mu.Unlock()

		var errs []error
		for _, p := range pingers {
			p.Stop()
		}
		var wg sync.WaitGroup
		for _, p := range procs {
			wg.Go(func() { p.Stop() })
		}
		wg.Wait()
		for _, h := range topo.hosts {
			h.closeHandles()
		}
		if topo.swNL != nil {
			topo.swNL.Close()
		}
		if topo.swH.IsOpen() {
			topo.swH.Close()
		}
		// Hosts first (their veths go with them), the switch last.
		slices.Reverse(created)
		for _, ns := range created {
			if err := killNamespace(ns, 3*time.Second); err != nil {
				errs = append(errs, err)
			}
			if err := ip("netns", "del", ns); err != nil {
				errs = append(errs, err)
			}
		}
		if len(errs) > 0 {
			topo.closeErr = fmt.Errorf("removing topology %s: %w", topo.id, errors.Join(errs...))
		}
	})
	return topo.closeErr
}

// nftTable is the nftables table the lab owns inside the switch namespace.
const nftTable = "vigil_lab"

// pairKey orders a pair of host names.
func pairKey(a, b string) [2]string {
	if a > b {
		a, b = b, a
	}
	return [2]string{a, b}
}

// setBlocked adds or removes partitions between h and others and programs
// the switch to match.
func (topo *Topology) setBlocked(h *Host, others []*Host, block bool) {
	topo.tb.Helper()
	topo.mu.Lock()
	for _, o := range others {
		if o.topo != topo {
			topo.mu.Unlock()
			topo.tb.Fatalf("lab: %s and %s are in different topologies", h.name, o.name)
		}
		if o == h {
			topo.mu.Unlock()
			topo.tb.Fatalf("lab: cannot partition %s from itself", h.name)
		}
		if block {
			topo.blocked[pairKey(h.name, o.name)] = true
		} else {
			delete(topo.blocked, pairKey(h.name, o.name))
		}
	}
	if !block && len(others) == 0 {
		for k := range topo.blocked {
			if k[0] == h.name || k[1] == h.name {
				delete(topo.blocked, k)
			}
		}
	}
	topo.mu.Unlock()
	topo.applyPartitions()
}

// HealAll removes every partition.
func (topo *Topology) HealAll() {
	topo.tb.Helper()
	topo.mu.Lock()
	clear(topo.blocked)
	topo.mu.Unlock()
	topo.applyPartitions()
}

// applyPartitions programs the switch with the current partitions.
func (topo *Topology) applyPartitions() {
	topo.tb.Helper()
	topo.nftMu.Lock() // render and apply in order
	defer topo.nftMu.Unlock()
	topo.mu.Lock()
	ruleset := renderPartitions(topo.blocked)
	topo.mu.Unlock()
	nft := mustLookPath(topo.tb, "nft")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := runCmd(ctx, []byte(ruleset), "ip", "netns", "exec", topo.swNS, nft, "-f", "-"); err != nil {
		topo.tb.Fatalf("lab: programming partitions: %v", err)
	}
}

// renderPartitions returns an nft script that replaces the lab's table with
// one dropping bridged frames in both directions between each blocked pair.
// The forward hook of the bridge family sees every copy of a flooded frame
// per egress port, so broadcast (ARP) and multicast (VRRP, NDP) are cut too.
// The whole script is one transaction.
func renderPartitions(blocked map[[2]string]bool) string {
	pairs := make([][2]string, 0, len(blocked))
	for k := range blocked {
		pairs = append(pairs, k)
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i][0] != pairs[j][0] {
			return pairs[i][0] < pairs[j][0]
		}
		return pairs[i][1] < pairs[j][1]
	})
	var b strings.Builder
	fmt.Fprintf(&b, "table bridge %s\ndelete table bridge %s\n", nftTable, nftTable)
	if len(pairs) == 0 {
		return b.String()
	}
	fmt.Fprintf(&b, "table bridge %s {\n\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n", nftTable)
	for _, p := range pairs {
		fmt.Fprintf(&b, "\t\tiifname \"p-%s\" oifname \"p-%s\" drop\n", p[0], p[1])
		fmt.Fprintf(&b, "\t\tiifname \"p-%s\" oifname \"p-%s\" drop\n", p[1], p[0])
	}
	b.WriteString("\t}\n}\n")
	return b.String()
}

// mustLookPath resolves a binary or fails t pointing at install-deps.sh.
func mustLookPath(t TB, name string) string {
	t.Helper()
	p, err := lookPath(name)
	if err != nil {
		t.Fatalf("lab: %v; run scripts/install-deps.sh", err)
	}
	return p
}
