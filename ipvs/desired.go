package ipvs

import (
	"net/netip"
	"time"
)

// DefaultScheduler is the scheduler of a virtual server that names none
// (keepalived's and ipvsadm's default).
const DefaultScheduler = "wlc"

// VirtualServer is a configured virtual server, in keepalived's terms.
type VirtualServer struct {
	// Name identifies the virtual server to the health function, the
	// overrides and VSStatus.
	Name      string
	Key       ServiceKey
	Scheduler string // "" is DefaultScheduler
	Flags     Flags
	// Persistence is persistence_timeout (0 = not persistent);
	// PersistenceNetmask is persistence_granularity as a prefix length
	// (0 = a single client address).
	Persistence        time.Duration
	PersistenceNetmask int
	// Forwarding is lb_kind, the real servers' default (unset = NAT).
	Forwarding Forwarding
	// Quorum is the minimum total weight of live real servers for the
	// virtual server to be up (0 is keepalived's default, 1); Hysteresis
	// keeps the quorum state from flapping around it.
	Quorum     int
	Hysteresis int
	// InhibitOnFailure keeps a failed real server in the table at weight 0
	// instead of removing it, so its established connections survive.
	InhibitOnFailure bool
	// SorryServer, if set, takes over the pool while quorum is lost.
	SorryServer *SorryServer
	RealServers []RealServer
}

// SorryServer is a virtual server's sorry_server. It is not health checked
// and has weight 1, as in keepalived.
type SorryServer struct {
	Address    netip.AddrPort
	Forwarding Forwarding // unset = the virtual server's
	// Inhibit keeps the sorry server in the table at weight 0 while it is
	// not needed (keepalived's sorry_server_inhibit).
	Inhibit bool
}

// RealServer is a configured real server.
type RealServer struct {
	Address netip.AddrPort
	// Weight is used as given: the configuration applies keepalived's
	// default of 1.
	Weight         int
	Forwarding     Forwarding // unset = the virtual server's
	UpperThreshold uint32
	LowerThreshold uint32
}

// ID is how the health function and Overrides name the real server: its
// address, "10.0.0.1:80" or "[2001:db8::1]:80".
func (rs RealServer) ID() string { return rs.Address.String() }

// HealthFunc reports whether real server rs (RealServer.ID) of virtual
// server vs (VirtualServer.Name) passes its checks, and the weight its
// checks ask for (keepalived's dynamic weight, e.g. MISC_CHECK misc_dynamic),
// nil to keep the configured weight.
type HealthFunc func(vs, rs string) (up bool, weight *int)

// RealServerRef names a real server of a virtual server.
type RealServerRef struct {
	VirtualServer string
	RealServer    string // RealServer.ID
}

// Override is an operator's instruction for one real server.
type Override struct {
	// Drain sets the weight to 0: no new connections, existing ones
	// continue. It wins over Weight.
	Drain bool
	// Weight, if set, replaces the configured and the dynamic weight.
	Weight *int
}

// Overrides are the operator's instructions, by real server.
type Overrides map[RealServerRef]Override

// VSStatus is what Desired decided for a virtual server.
type VSStatus struct {
	Name string
	Key  ServiceKey
	// QuorumUp is keepalived's quorum state; see Desired.
	QuorumUp bool
	// SorryActive is set while the sorry server serves instead of the
	// real servers.
	SorryActive bool
	// RealServers is how many are configured, RealServersUp how many pass
	// their checks, AliveWeight the sum of their effective weights.
	RealServers   int
	RealServersUp int
	AliveWeight   int
}

// Desired builds the desired IPVS table from the configured virtual
// servers, the health of their real servers and the operator's overrides,
// following keepalived's check/ipwrapper.c:
//
//   - A real server's effective weight is its configured weight, replaced
//     by the dynamic weight its checks report, replaced by an override's
//     weight; an override's drain makes it 0. Negative weights count as 0.
//   - A real server that fails its checks is withdrawn (removed at once),
//     or kept at weight 0 with InhibitOnFailure.
//   - The alive weight is the sum of the effective weights of the real
//     servers that pass their checks. Quorum (default 1) is gained when the
//     alive weight is at least Quorum+Hysteresis, and lost when it is below
//     Quorum-Hysteresis or 0. Without a previous state (first call, or a new
//     virtual server) quorum is up iff alive weight >= Quorum+Hysteresis.
//   - While quorum is lost and a sorry server is configured, the sorry
//     server is in the pool (weight 1) and the live real servers are
//     withdrawn (kept at weight 0 with InhibitOnFailure). Without a sorry
//     server, losing quorum changes nothing in the table: the real servers
//     follow their health alone. While quorum is up the sorry server is
//     withdrawn (kept at weight 0 with SorryServer.Inhibit).
//
// prev is the status returned by the previous call (nil at start): it
// carries each virtual server's quorum state, by Name, for the hysteresis.
func Desired(vss []VirtualServer, health HealthFunc, overrides Overrides, prev []VSStatus) ([]Service, []VSStatus) {
	prevUp := make(map[string]bool, len(prev))
	for _, st := range prev {
		prevUp[st.Name] = st.QuorumUp
	}
	svcs := make([]Service, 0, len(vss))
	status := make([]VSStatus, 0, len(vss))
	for _, vs := range vss {
		was, known := prevUp[vs.Name]
		svc, st := desiredService(vs, health, overrides, was, known)
		svcs = append(svcs, svc)
		status = append(status, st)
	}
	return svcs, status
}

// QuorumUp is keepalived's quorum decision (update_quorum_state and
// set_quorum_states): whether a virtual server whose live real servers
// weigh alive has quorum, given whether it had quorum before (known false:
// no previous state).
func QuorumUp(alive, quorum, hysteresis int, was, known bool) bool {
	if quorum <= 0 {
		quorum = 1
	}
	hysteresis = max(hysteresis, 0)
	if known && was {
		return alive > 0 && alive >= quorum-hysteresis
	}
	return alive >= quorum+hysteresis
}

func clampWeight(w int) int {
	return min(max(w, 0), maxWeight)
}

func desiredService(vs VirtualServer, health HealthFunc, overrides Overrides, was, known bool) (Service, VSStatus) {
	fwd := vs.Forwarding
	if fwd == ForwardUnset {
		fwd = ForwardNAT
	}
	sched := vs.Scheduler
	if sched == "" {
		sched = DefaultScheduler
	}
	svc := Service{
		Key:       vs.Key,
		Scheduler: sched,
		Flags:     vs.Flags,
		Timeout:   vs.Persistence,
		Netmask:   vs.PersistenceNetmask,
	}
	st := VSStatus{Name: vs.Name, Key: vs.Key, RealServers: len(vs.RealServers)}

	type rsState struct {
		dest Destination
		up   bool
	}
	states := make([]rsState, 0, len(vs.RealServers))
	for _, rs := range vs.RealServers {
		up, w := true, rs.Weight
		if health != nil {
			var dyn *int
			up, dyn = health(vs.Name, rs.ID())
			if dyn != nil {
				w = *dyn
			}
		}
		if o, ok := overrides[RealServerRef{vs.Name, rs.ID()}]; ok {
			if o.Weight != nil {
				w = *o.Weight
			}
			if o.Drain {
				w = 0
			}
		}
		w = clampWeight(w)
		f := rs.Forwarding
		if f == ForwardUnset {
			f = fwd
		}
		d := Destination{Address: rs.Address, Weight: w, Forwarding: f,
			UpperThreshold: rs.UpperThreshold, LowerThreshold: rs.LowerThreshold}
		states = append(states, rsState{d, up})
		if up {
			st.RealServersUp++
			st.AliveWeight += w
		}
	}
	st.QuorumUp = QuorumUp(st.AliveWeight, vs.Quorum, vs.Hysteresis, was, known)
	st.SorryActive = !st.QuorumUp && vs.SorryServer != nil

	// in holds the destinations in configuration order; out the withdrawn.
	var in []Destination
	index := map[netip.AddrPort]int{}
	put := func(d Destination) {
		if i, ok := index[d.Address]; ok {
			in[i] = d
			return
		}
		index[d.Address] = len(in)
		in = append(in, d)
	}
	var out []netip.AddrPort
	for _, s := range states {
		switch {
		case s.up && !st.SorryActive:
			put(s.dest)
		case vs.InhibitOnFailure:
			d := s.dest
			d.Weight = 0
			put(d)
		default:
			out = append(out, s.dest.Address)
		}
	}
	if ss := vs.SorryServer; ss != nil {
		f := ss.Forwarding
		if f == ForwardUnset {
			f = fwd
		}
		d := Destination{Address: ss.Address, Weight: 1, Forwarding: f}
		_, isRS := index[ss.Address]
		switch {
		case st.SorryActive:
			put(d) // wins over a real server at the same address
		case isRS:
			// The real server entry stands for both.
		case ss.Inhibit:
			d.Weight = 0
			put(d)
		default:
			out = append(out, ss.Address)
		}
	}
	svc.Destinations = in
	for _, a := range out {
		if _, ok := index[a]; !ok {
			svc.Withdrawn = append(svc.Withdrawn, a)
		}
	}
	return svc, st
}
