package ipvs

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Family is the address family of a virtual service: 4 or 6.
type Family uint8

// Address families.
const (
	IPv4 Family = 4
	IPv6 Family = 6
)

// String returns "ipv4" or "ipv6".
func (f Family) String() string {
	switch f {
	case IPv4:
		return "ipv4"
	case IPv6:
		return "ipv6"
	}
	return "family(" + strconv.Itoa(int(f)) + ")"
}

func (f Family) bits() int {
	if f == IPv6 {
		return 128
	}
	return 32
}

func familyOf(a netip.Addr) Family {
	if a.Unmap().Is4() {
		return IPv4
	}
	return IPv6
}

// Protocol is the transport protocol of a virtual service; the values are
// the IANA protocol numbers the kernel uses.
type Protocol uint8

// Protocols IPVS balances.
const (
	TCP  Protocol = 6
	UDP  Protocol = 17
	SCTP Protocol = 132
)

// String returns "tcp", "udp" or "sctp".
func (p Protocol) String() string {
	switch p {
	case TCP:
		return "tcp"
	case UDP:
		return "udp"
	case SCTP:
		return "sctp"
	}
	return "proto(" + strconv.Itoa(int(p)) + ")"
}

// ParseProtocol parses "tcp", "udp" or "sctp" (any case).
func ParseProtocol(s string) (Protocol, error) {
	switch strings.ToLower(s) {
	case "tcp":
		return TCP, nil
	case "udp":
		return UDP, nil
	case "sctp":
		return SCTP, nil
	}
	return 0, fmt.Errorf("unknown protocol %q (want tcp, udp or sctp)", s)
}

// Forwarding is how IPVS forwards packets to a real server.
type Forwarding uint8

// Forwarding methods. The zero value means "not set": a real server
// inherits its virtual server's method, and a virtual server defaults to NAT
// as keepalived does. A Destination handed to the kernel must name one.
const (
	ForwardUnset Forwarding = iota
	// ForwardNAT rewrites the destination address (LVS-NAT, ipvsadm -m,
	// "Masq"); replies must route back through the director.
	ForwardNAT
	// ForwardDR rewrites only the MAC address (LVS-DR, ipvsadm -g,
	// "Route"); the real server holds the VIP on a non-ARPing interface.
	ForwardDR
	// ForwardTunnel encapsulates in IPIP (LVS-TUN, ipvsadm -i, "Tunnel").
	ForwardTunnel
)

// String returns keepalived's lb_kind word: "nat", "dr" or "tun".
func (f Forwarding) String() string {
	switch f {
	case ForwardUnset:
		return "unset"
	case ForwardNAT:
		return "nat"
	case ForwardDR:
		return "dr"
	case ForwardTunnel:
		return "tun"
	}
	return "forwarding(" + strconv.Itoa(int(f)) + ")"
}

// ParseForwarding parses keepalived's and ipvsadm's names for a forwarding
// method: nat/masq, dr/route, tun/tunnel (any case).
func ParseForwarding(s string) (Forwarding, error) {
	switch strings.ToLower(s) {
	case "nat", "masq", "masquerade":
		return ForwardNAT, nil
	case "dr", "route", "droute":
		return ForwardDR, nil
	case "tun", "tunnel":
		return ForwardTunnel, nil
	}
	return ForwardUnset, fmt.Errorf("unknown forwarding method %q (want nat, dr or tun)", s)
}

// Flags are a virtual service's scheduling flags. The values are the
// kernel's IP_VS_SVC_F_* bits (include/uapi/linux/ip_vs.h); the kernel's
// PERSISTENT and HASHED bits are not flags here: persistence is
// Service.Timeout > 0 and hashing is kernel bookkeeping.
type Flags uint32

// Scheduling flags. The sh and mh schedulers give the same bits their own
// names (IP_VS_SVC_F_SCHED_SH_FALLBACK == IP_VS_SVC_F_SCHED1, ...).
const (
	// FlagOnePacket is one-packet scheduling ("ops"): every UDP datagram
	// is scheduled on its own, no connection entry is kept.
	FlagOnePacket Flags = 0x0004
	FlagSched1    Flags = 0x0008
	FlagSched2    Flags = 0x0010
	FlagSched3    Flags = 0x0020

	// FlagSHFallback makes sh pick another server when the hashed one is
	// unavailable (weight 0 or over its upper threshold).
	FlagSHFallback = FlagSched1
	// FlagSHPort makes sh hash the source port as well as the address.
	FlagSHPort = FlagSched2
	// FlagMHFallback is sh-fallback for the maglev scheduler.
	FlagMHFallback = FlagSched1
	// FlagMHPort is sh-port for the maglev scheduler.
	FlagMHPort = FlagSched2

	// flagsMask is every bit a Flags value may hold.
	flagsMask = FlagOnePacket | FlagSched1 | FlagSched2 | FlagSched3

	// Kernel bits that are not Flags.
	kernelFlagPersistent uint32 = 0x0001
	kernelFlagHashed     uint32 = 0x0002
)

// ParseFlag parses one flag name as keepalived and ipvsadm spell them: ops,
// sh-fallback, sh-port, mh-fallback, mh-port, flag-1, flag-2, flag-3.
func ParseFlag(s string) (Flags, error) {
	switch strings.ToLower(s) {
	case "ops":
		return FlagOnePacket, nil
	case "sh-fallback", "mh-fallback", "flag-1":
		return FlagSched1, nil
	case "sh-port", "mh-port", "flag-2":
		return FlagSched2, nil
	case "flag-3":
		return FlagSched3, nil
	}
	return 0, fmt.Errorf("unknown scheduler flag %q", s)
}

// String lists the flags with their generic names ("ops|flag-1").
func (f Flags) String() string { return f.Format("") }

// Format lists the flags, naming the scheduler bits as the given scheduler
// does ("sh-fallback|sh-port" for sh, "mh-port" for mh, "flag-2" otherwise).
// It returns "" for no flags.
func (f Flags) Format(scheduler string) string {
	var names []string
	if f&FlagOnePacket != 0 {
		names = append(names, "ops")
	}
	sched := map[Flags][3]string{
		FlagSched1: {"sh-fallback", "mh-fallback", "flag-1"},
		FlagSched2: {"sh-port", "mh-port", "flag-2"},
		FlagSched3: {"flag-3", "flag-3", "flag-3"},
	}
	i := 2
	switch scheduler {
	case "sh":
		i = 0
	case "mh":
		i = 1
	}
	for _, b := range []Flags{FlagSched1, FlagSched2, FlagSched3} {
		if f&b != 0 {
			names = append(names, sched[b][i])
		}
	}
	if rest := f &^ flagsMask; rest != 0 {
		names = append(names, fmt.Sprintf("%#x", uint32(rest)))
	}
	return strings.Join(names, "|")
}

// ServiceKey identifies a virtual service: either a protocol and address
// (Family, Protocol, Address) or a firewall mark (Family, FWMark; Protocol
// and Address zero). It is comparable and usable as a map key.
type ServiceKey struct {
	Family   Family
	Protocol Protocol
	Address  netip.AddrPort
	FWMark   uint32
}

// AddrKey returns the key of the service on proto at addr.
func AddrKey(proto Protocol, addr netip.AddrPort) ServiceKey {
	a := addr.Addr().Unmap()
	return ServiceKey{Family: familyOf(a), Protocol: proto, Address: netip.AddrPortFrom(a, addr.Port())}
}

// FWMarkKey returns the key of the firewall-mark service mark for family.
func FWMarkKey(family Family, mark uint32) ServiceKey {
	return ServiceKey{Family: family, FWMark: mark}
}

// IsFWMark reports whether k is a firewall-mark service.
func (k ServiceKey) IsFWMark() bool { return k.FWMark != 0 }

// normalize unmaps IPv4-mapped addresses and fills Family from the address.
func (k ServiceKey) normalize() ServiceKey {
	if k.IsFWMark() {
		return ServiceKey{Family: k.Family, FWMark: k.FWMark}
	}
	if !k.Address.IsValid() {
		return k
	}
	a := k.Address.Addr().Unmap()
	k.Address = netip.AddrPortFrom(a, k.Address.Port())
	if k.Family == 0 {
		k.Family = familyOf(a)
	}
	return k
}

// Validate reports what is wrong with k, if anything.
func (k ServiceKey) Validate() error {
	if k.Family != IPv4 && k.Family != IPv6 {
		return fmt.Errorf("service %s: address family must be 4 or 6", k)
	}
	if k.IsFWMark() {
		if k.Protocol != 0 || k.Address.IsValid() {
			return fmt.Errorf("service %s: a firewall-mark service has no protocol or address", k)
		}
		return nil
	}
	switch k.Protocol {
	case TCP, UDP, SCTP:
	default:
		return fmt.Errorf("service %s: protocol must be tcp, udp or sctp", k)
	}
	if !k.Address.IsValid() || k.Address.Addr().IsUnspecified() {
		return fmt.Errorf("service %s: needs an address", k)
	}
	if familyOf(k.Address.Addr()) != k.Family {
		return fmt.Errorf("service %s: address is not %s", k, k.Family)
	}
	if k.Address.Port() == 0 {
		return fmt.Errorf("service %s: needs a port", k)
	}
	return nil
}

// Compare orders keys: address services before firewall-mark services, then
// by family, protocol, address, mark.
func (k ServiceKey) Compare(o ServiceKey) int {
	b2i := func(b bool) int {
		if b {
			return 1
		}
		return 0
	}
	return cmp.Or(
		cmp.Compare(b2i(k.IsFWMark()), b2i(o.IsFWMark())),
		cmp.Compare(k.Family, o.Family),
		cmp.Compare(k.Protocol, o.Protocol),
		k.Address.Compare(o.Address),
		cmp.Compare(k.FWMark, o.FWMark),
	)
}

// String returns the key's text form, used in logs, metrics labels and the
// ownership file: "tcp/192.0.2.1:80", "udp/[2001:db8::1]:53",
// "fwmark4/10", "fwmark6/10".
func (k ServiceKey) String() string {
	if k.IsFWMark() {
		return "fwmark" + strconv.Itoa(int(k.Family)) + "/" + strconv.FormatUint(uint64(k.FWMark), 10)
	}
	return k.Protocol.String() + "/" + k.Address.String()
}

// MarshalText implements encoding.TextMarshaler with String's form.
func (k ServiceKey) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler with ParseServiceKey.
func (k *ServiceKey) UnmarshalText(b []byte) error {
	p, err := ParseServiceKey(string(b))
	if err != nil {
		return err
	}
	*k = p
	return nil
}

// ParseServiceKey parses String's form.
func ParseServiceKey(s string) (ServiceKey, error) {
	kind, rest, ok := strings.Cut(s, "/")
	if !ok {
		return ServiceKey{}, fmt.Errorf("parsing service key %q: missing '/'", s)
	}
	var k ServiceKey
	switch kind {
	case "fwmark4", "fwmark6":
		m, err := strconv.ParseUint(rest, 10, 32)
		if err != nil || m == 0 {
			return ServiceKey{}, fmt.Errorf("parsing service key %q: bad firewall mark", s)
		}
		k = FWMarkKey(Family(kind[6]-'0'), uint32(m))
	default:
		p, err := ParseProtocol(kind)
		if err != nil {
			return ServiceKey{}, fmt.Errorf("parsing service key %q: %w", s, err)
		}
		ap, err := netip.ParseAddrPort(rest)
		if err != nil {
			return ServiceKey{}, fmt.Errorf("parsing service key %q: %w", s, err)
		}
		k = AddrKey(p, ap)
	}
	if err := k.Validate(); err != nil {
		return ServiceKey{}, fmt.Errorf("parsing service key %q: %w", s, err)
	}
	return k, nil
}

// Service is a virtual service and its real servers, as desired or as read
// from the kernel.
type Service struct {
	Key ServiceKey
	// Scheduler is the scheduler's name: rr, wrr, lc, wlc, lblc, lblcr, dh,
	// sh, sed, nq, mh, fo, ovf, twos.
	Scheduler string
	Flags     Flags
	// Timeout is the persistence timeout, in whole seconds; 0 means not
	// persistent.
	Timeout time.Duration
	// Netmask is the persistence granularity as a prefix length: clients
	// in the same prefix stick to the same real server. 0 means a single
	// host (32 or 128), which is also what the kernel holds for services
	// that are not persistent.
	Netmask int
	// Destinations are the real servers.
	Destinations []Destination
	// Withdrawn names real servers that are configured but must not be in
	// the kernel right now: they failed their health checks, or the sorry
	// server replaced them. The Reconciler removes them at once. Any other
	// destination that is in the kernel but not in Destinations (removed
	// from the configuration) is drained first: weight 0, then removed
	// after the drain grace. Draining a dead server would only keep
	// persistent clients pinned to it.
	Withdrawn []netip.AddrPort

	// Stats are the kernel's counters; only the Kernel's reads fill them.
	Stats Stats
}

// Destination is a real server of a virtual service.
type Destination struct {
	Address    netip.AddrPort
	Weight     int
	Forwarding Forwarding
	// UpperThreshold and LowerThreshold bound the connections the kernel
	// sends to this server (0 = no limit).
	UpperThreshold, LowerThreshold uint32

	// Stats are the kernel's counters; only the Kernel's reads fill them.
	Stats DestinationStats
}

// maxWeight is the largest weight the kernel accepts (a signed 32-bit int).
const maxWeight = math.MaxInt32

// maxTimeout is the largest persistence timeout the kernel holds (seconds in
// a u32, times HZ in an unsigned int; keep well inside both).
const maxTimeout = 31 * 24 * time.Hour

// normalized returns s in the canonical form the Reconciler compares:
// addresses unmapped, Netmask 0 as the full prefix, Timeout rounded up to
// whole seconds, Destinations sorted by address, Withdrawn sorted and
// deduplicated, Stats cleared.
func (s Service) normalized() Service {
	s.Key = s.Key.normalize()
	if s.Netmask == 0 {
		s.Netmask = s.Key.Family.bits()
	}
	if s.Timeout > 0 {
		s.Timeout = (s.Timeout + time.Second - 1).Truncate(time.Second)
	}
	s.Stats = Stats{}
	d := make([]Destination, len(s.Destinations))
	for i, x := range s.Destinations {
		x.Address = netip.AddrPortFrom(x.Address.Addr().Unmap(), x.Address.Port())
		x.Stats = DestinationStats{}
		d[i] = x
	}
	slices.SortFunc(d, func(a, b Destination) int { return a.Address.Compare(b.Address) })
	s.Destinations = d
	w := make([]netip.AddrPort, len(s.Withdrawn))
	for i, a := range s.Withdrawn {
		w[i] = netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
	}
	slices.SortFunc(w, netip.AddrPort.Compare)
	s.Withdrawn = slices.Compact(w)
	return s
}

// Validate reports what is wrong with s, if anything.
func (s Service) Validate() error {
	if err := s.Key.Validate(); err != nil {
		return err
	}
	var errs []error
	if s.Scheduler == "" {
		errs = append(errs, fmt.Errorf("service %s: needs a scheduler", s.Key))
	}
	if f := s.Flags &^ flagsMask; f != 0 {
		errs = append(errs, fmt.Errorf("service %s: unknown flags %#x", s.Key, uint32(f)))
	}
	if s.Timeout < 0 || s.Timeout > maxTimeout {
		errs = append(errs, fmt.Errorf("service %s: persistence timeout %s out of range [0s, %s]", s.Key, s.Timeout, maxTimeout))
	}
	if s.Netmask < 0 || s.Netmask > s.Key.Family.bits() {
		errs = append(errs, fmt.Errorf("service %s: persistence netmask /%d out of range", s.Key, s.Netmask))
	}
	seen := make(map[netip.AddrPort]bool, len(s.Destinations))
	for _, d := range s.Destinations {
		a := netip.AddrPortFrom(d.Address.Addr().Unmap(), d.Address.Port())
		if seen[a] {
			errs = append(errs, fmt.Errorf("service %s: destination %s listed twice", s.Key, a))
		}
		seen[a] = true
		if err := d.validate(s.Key); err != nil {
			errs = append(errs, fmt.Errorf("service %s: %w", s.Key, err))
		}
	}
	return errors.Join(errs...)
}

func (d Destination) validate(k ServiceKey) error {
	if !d.Address.IsValid() || d.Address.Addr().IsUnspecified() {
		return fmt.Errorf("destination %s: needs an address", d.Address)
	}
	if d.Weight < 0 || d.Weight > maxWeight {
		return fmt.Errorf("destination %s: weight %d out of range [0, %d]", d.Address, d.Weight, maxWeight)
	}
	switch d.Forwarding {
	case ForwardNAT, ForwardDR, ForwardTunnel:
	default:
		return fmt.Errorf("destination %s: needs a forwarding method (nat, dr or tun)", d.Address)
	}
	// The kernel accepts a destination of the other family only when
	// tunnelling (ip_vs_ctl.c, -EAFNOSUPPORT otherwise).
	if familyOf(d.Address.Addr()) != k.Family && d.Forwarding != ForwardTunnel {
		return fmt.Errorf("destination %s: only tunnelling can reach a %s real server from a %s service",
			d.Address, familyOf(d.Address.Addr()), k.Family)
	}
	if d.Address.Port() == 0 && d.Forwarding == ForwardNAT && !k.IsFWMark() {
		return fmt.Errorf("destination %s: NAT needs a real server port", d.Address)
	}
	if d.LowerThreshold > 0 && d.UpperThreshold > 0 && d.LowerThreshold > d.UpperThreshold {
		return fmt.Errorf("destination %s: lower threshold %d above upper threshold %d", d.Address, d.LowerThreshold, d.UpperThreshold)
	}
	return nil
}

// sameAttrs reports whether s and o have the same service attributes (not
// key, destinations or stats).
func (s Service) sameAttrs(o Service) bool {
	return s.Scheduler == o.Scheduler && s.Flags == o.Flags && s.Timeout == o.Timeout && s.Netmask == o.Netmask
}

// sameConfig reports whether d and o are configured alike (stats aside).
func (d Destination) sameConfig(o Destination) bool {
	return d.Address == o.Address && d.Weight == o.Weight && d.Forwarding == o.Forwarding &&
		d.UpperThreshold == o.UpperThreshold && d.LowerThreshold == o.LowerThreshold
}

// String describes s's attributes the way ipvsadm -Ln lists a service:
// "tcp/192.0.2.1:80 wlc persistent 300s mask /24 sh-port".
func (s Service) String() string {
	var b strings.Builder
	b.WriteString(s.Key.String())
	b.WriteString(" ")
	b.WriteString(s.Scheduler)
	if s.Timeout > 0 {
		fmt.Fprintf(&b, " persistent %s", s.Timeout)
		if s.Netmask != 0 && s.Netmask != s.Key.Family.bits() {
			fmt.Fprintf(&b, " mask /%d", s.Netmask)
		}
	}
	if f := s.Flags.Format(s.Scheduler); f != "" {
		b.WriteString(" ")
		b.WriteString(f)
	}
	return b.String()
}

// String describes d: "10.0.0.2:80 dr weight 1", with thresholds when set.
func (d Destination) String() string {
	s := fmt.Sprintf("%s %s weight %d", d.Address, d.Forwarding, d.Weight)
	if d.UpperThreshold != 0 || d.LowerThreshold != 0 {
		s += fmt.Sprintf(" thresholds %d-%d", d.LowerThreshold, d.UpperThreshold)
	}
	return s
}
