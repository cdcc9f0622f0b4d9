// Package vrrp implements the Virtual Router Redundancy Protocol, versions 2
// (RFC 3768) and 3 (RFC 5798): the advertisement codec, a deterministic
// tick-driven state machine per virtual router, sync groups, the raw-socket
// transport, virtual address management and gratuitous ARP / unsolicited
// neighbour advertisement announcements.
//
// The state machine (Instance, Group) performs no I/O: time arrives as an
// argument, packets arrive through Receive, and everything the machine wants
// done is returned as Outputs that a driver (Node) executes.
package vrrp

import (
	"net/netip"
	"time"
)

// State is the state of a virtual router instance. The values follow
// keepalived's vocabulary: RFC 3768/5798 define Initialize, Backup and
// Master; Fault and Stop are keepalived's additions.
type State int

// Instance states.
const (
	StateInit State = iota
	StateBackup
	StateMaster
	StateFault
	StateStop
)

// States lists every state, in metric order.
var States = []State{StateInit, StateBackup, StateMaster, StateFault, StateStop}

// String returns the lowercase state name used in metrics and logs.
func (s State) String() string {
	switch s {
	case StateInit:
		return "init"
	case StateBackup:
		return "backup"
	case StateMaster:
		return "master"
	case StateFault:
		return "fault"
	case StateStop:
		return "stop"
	}
	return "unknown"
}

// Advertisement types (RFC 3768 5.3.2, RFC 5798 5.2.2).
const (
	TypeAdvertisement = 1
)

// Authentication types for VRRPv2 (RFC 3768 5.3.6). Only 0 and 1 are
// accepted; 2 (IP AH) is deprecated and rejected.
const (
	AuthNone   = 0
	AuthSimple = 1
)

// IP protocol number of VRRP and its multicast groups.
const (
	IPProtocol = 112
)

var (
	// MulticastGroupV4 is the IPv4 VRRP multicast group (RFC 5798 5.1.1.2).
	MulticastGroupV4 = netip.MustParseAddr("224.0.0.18")
	// MulticastGroupV6 is the IPv6 VRRP multicast group (RFC 5798 5.1.2.2).
	MulticastGroupV6 = netip.MustParseAddr("ff02::12")
)

// Advert is one decoded VRRP advertisement.
type Advert struct {
	Version  int // 2 or 3
	Type     int // always TypeAdvertisement on the wire today
	VRID     uint8
	Priority uint8
	// Interval is the advertisement interval: whole seconds in v2 (Adver
	// Int), centiseconds in v3 (Max Adver Int).
	Interval time.Duration
	AuthType uint8   // v2 only
	AuthData [8]byte // v2 only, for AuthSimple the password NUL-padded
	Addrs    []netip.Addr
	Checksum uint16 // as carried by the packet (or computed by Marshal)
}

// Reason names why a received packet was dropped. The values are the label
// values of vigil_vrrp_receive_errors_total and follow the RFC 6527
// statistics.
type Reason string

// Drop reasons.
const (
	ReasonTTL         Reason = "ttl"            // vrrpv3StatisticsIpTtlErrors
	ReasonChecksum    Reason = "checksum"       // vrrpv3StatisticsChecksumErrors
	ReasonVersion     Reason = "version"        // vrrpv3StatisticsVersionErrors
	ReasonVRID        Reason = "vrid"           // vrrpv3StatisticsVrIdErrors
	ReasonType        Reason = "type"           // vrrpv3StatisticsRcvdInvalidTypePackets
	ReasonLength      Reason = "length"         // vrrpv3StatisticsPacketLengthErrors
	ReasonAddressList Reason = "address_list"   // vrrpv3StatisticsAddressListErrors
	ReasonInterval    Reason = "interval"       // vrrpv3StatisticsAdvIntervalErrors
	ReasonAuth        Reason = "auth"           // RFC 2787 vrrpStatsAuthFailures
	ReasonAuthType    Reason = "auth_type"      // RFC 2787 vrrpStatsInvalidAuthType
	ReasonFamily      Reason = "address_family" // address family does not match the instance
)

// Reasons lists every drop reason, in metric order.
var Reasons = []Reason{ReasonTTL, ReasonChecksum, ReasonVersion, ReasonVRID, ReasonType,
	ReasonLength, ReasonAddressList, ReasonInterval, ReasonAuth, ReasonAuthType, ReasonFamily}

// ParseError is returned for a packet that must be dropped.
type ParseError struct {
	Reason Reason
	Msg    string
}

func (e *ParseError) Error() string {
	return "vrrp: dropped packet (" + string(e.Reason) + "): " + e.Msg
}

// InstanceConfig is the protocol configuration of one virtual router.
type InstanceConfig struct {
	Name      string
	Interface string
	VRID      uint8
	Version   int   // 2 or 3
	IPv6      bool  // v3 only: the instance runs over IPv6
	Priority  uint8 // base priority, 1..255
	// AdvertInterval: whole seconds for v2; multiple of 10ms for v3.
	AdvertInterval time.Duration
	Preempt        bool
	PreemptDelay   time.Duration
	AuthPass       string       // v2 simple password (<= 8 bytes); empty: no auth
	VIPs           []netip.Addr // the addresses carried in adverts
	// LocalAddr is the primary address adverts are sent from; it breaks
	// equal-priority ties (RFC 3768 6.4.3, RFC 5798 6.4.3).
	LocalAddr netip.Addr
	// HigherPrioSendAdvert (keepalived's higher_prio_send_advert): a
	// Master that hears a higher priority Master (or an equal one with a
	// higher address) sends one advert with its own priority before it
	// becomes Backup, so that the other Master, hearing a lower priority,
	// announces the addresses again (AnnounceLowerPrio). Without it, when a
	// split brain heals, the winner learns of the loser only if the
	// loser's advert reaches it before its own advert reaches the loser.
	HigherPrioSendAdvert bool
}

// Output is something the state machine wants done. Drivers execute them in
// order.
type Output interface{ isOutput() }

// SendAdvert asks the driver to send one advertisement with Priority (0 on
// resignation).
type SendAdvert struct{ Priority uint8 }

// AddVIPs asks the driver to configure the instance's virtual addresses.
type AddVIPs struct{}

// RemoveVIPs asks the driver to remove the instance's virtual addresses.
type RemoveVIPs struct{}

// Announce asks the driver to start a gratuitous ARP / unsolicited NA burst
// for the instance's addresses.
type Announce struct{}

// AnnounceLowerPrio asks the driver to announce the instance's addresses
// again because, while Master, it heard another router advertise a lower
// priority (or its own priority from a lower address): that router was
// Master too, a split brain, and clients may have followed its
// announcements. Reason says which router, or which sync group member. keepalived's
// garp_lower_prio_repeat and garp_lower_prio_delay: a burst now and a
// second one after the delay. The instance asks once per episode (see
// lowerPrioQuiet), not for every advert of a Master that stays.
type AnnounceLowerPrio struct{ Reason string }

// Transition reports a state change.
type Transition struct {
	From, To State
	At       time.Time
	Reason   string
}

func (SendAdvert) isOutput()        {}
func (AddVIPs) isOutput()           {}
func (RemoveVIPs) isOutput()        {}
func (Announce) isOutput()          {}
func (AnnounceLowerPrio) isOutput() {}
func (Transition) isOutput()        {}

// InstanceSnapshot is a point-in-time copy of an instance's state, for
// metrics and status. It shares nothing with the live instance.
type InstanceSnapshot struct {
	Name              string
	Interface         string
	VRID              uint8
	Version           int
	IPv6              bool
	State             State
	Wanted            State
	BasePriority      uint8
	EffectivePriority uint8
	MasterAddr        netip.Addr // current master as seen (self when master)
	MasterPriority    uint8
	LastTransition    time.Time
	Transitions       map[[2]State]uint64 // {from,to} -> count
	AdvertsSent       uint64
	AdvertsReceived   uint64
	PriorityZeroSent  uint64
	PriorityZeroRecvd uint64
	// Filled in by the driver, not the state machine:
	RecvErrors   map[Reason]uint64
	GARPsSent    uint64
	NAsSent      uint64
	VIPsPresent  map[netip.Prefix]bool
	VIPsRestored uint64
	SyncGroup    string
}

// InterfaceSnapshot holds per-interface receive statistics for packets that
// could not be attributed to a configured instance.
type InterfaceSnapshot struct {
	Name       string
	RecvErrors map[Reason]uint64
}

// TrackSnapshot is the status of one tracked script or interface.
type TrackSnapshot struct {
	Kind     string // "script" or "interface"
	Name     string
	Up       bool
	Failures uint64 // transitions from up to down
}

// NodeSnapshot is everything the VRRP side of a node exposes.
type NodeSnapshot struct {
	Instances  []InstanceSnapshot
	Interfaces []InterfaceSnapshot
	Tracks     []TrackSnapshot
}
