package daemon

import (
	"fmt"
	"github.com/vigil-lb/vigil/actuator"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vigil-lb/vigil/collector"
	"github.com/vigil-lb/vigil/vrrp"
)

// Status is what `vigil status` shows: the node's VRRP instances, virtual
// servers and real servers with health and weights, and the operator
// overrides in force. It is the JSON body of GET /api/v1/status.
type Status struct {
	RouterID       string                `json:"router_id"`
	ConfigHash     string                `json:"config_hash"`
	IPVSUp         bool                  `json:"ipvs_up"`
	Instances      []InstanceStatus      `json:"vrrp_instances"`
	VirtualServers []VirtualServerStatus `json:"virtual_servers"`
	Overrides      []actuator.Override   `json:"overrides"`
}

// InstanceStatus is one VRRP instance.
type InstanceStatus struct {
	Name              string    `json:"name"`
	Interface         string    `json:"interface"`
	VRID              uint8     `json:"vrid"`
	State             string    `json:"state"`
	Wanted            string    `json:"wanted_state"`
	BasePriority      uint8     `json:"base_priority"`
	EffectivePriority uint8     `json:"effective_priority"`
	Master            string    `json:"master,omitempty"`
	MasterPriority    uint8     `json:"master_priority"`
	SyncGroup         string    `json:"sync_group,omitempty"`
	LastTransition    time.Time `json:"last_transition"`
	VIPs              []string  `json:"vips"`
	VIPsPresent       int       `json:"vips_present"`
}

// VirtualServerStatus is one virtual server.
type VirtualServerStatus struct {
	Name        string             `json:"name"`
	Service     string             `json:"service"`
	InKernel    bool               `json:"in_kernel"`
	QuorumUp    bool               `json:"quorum_up"`
	SorryActive bool               `json:"sorry_server_active"`
	RealServers []RealServerStatus `json:"real_servers"`
}

// RealServerStatus is one real server (or the sorry server).
type RealServerStatus struct {
	Address          string `json:"address"`
	Sorry            bool   `json:"sorry_server,omitempty"`
	Up               bool   `json:"up"`
	ConfiguredWeight int    `json:"configured_weight"`
	KernelWeight     *int   `json:"kernel_weight"`
	Drained          bool   `json:"drained"`
	ActiveConns      uint32 `json:"active_connections"`
}

func buildStatus(routerID, hash string, node vrrp.NodeSnapshot, lb collector.LBSnapshot) Status {
	st := Status{RouterID: routerID, ConfigHash: hash, IPVSUp: lb.IPVSUp, Overrides: []actuator.Override{}}
	for _, in := range node.Instances {
		is := InstanceStatus{
			Name: in.Name, Interface: in.Interface, VRID: in.VRID, State: in.State.String(), Wanted: in.Wanted.String(),
			BasePriority: in.BasePriority, EffectivePriority: in.EffectivePriority, MasterPriority: in.MasterPriority,
			SyncGroup: in.SyncGroup, LastTransition: in.LastTransition,
		}
		if in.MasterAddr.IsValid() {
			is.Master = in.MasterAddr.String()
		}
		for p, present := range in.VIPsPresent {
			is.VIPs = append(is.VIPs, p.String())
			if present {
				is.VIPsPresent++
			}
		}
		sort.Strings(is.VIPs)
		st.Instances = append(st.Instances, is)
	}
	for _, vs := range lb.VirtualServers {
		v := VirtualServerStatus{Name: vs.Name, Service: vs.Key.String(), InKernel: vs.InKernel,
			QuorumUp: vs.Status.QuorumUp, SorryActive: vs.Status.SorryActive}
		for _, rs := range vs.RealServers {
			r := RealServerStatus{Address: rs.Address, Sorry: rs.Sorry, Up: rs.Up, ConfiguredWeight: rs.ConfiguredWeight,
				Drained: rs.Drained, ActiveConns: rs.Stats.ActiveConnections}
			if rs.InKernel {
				w := rs.KernelWeight
				r.KernelWeight = &w
			}
			v.RealServers = append(v.RealServers, r)
		}
		st.VirtualServers = append(st.VirtualServers, v)
	}
	return st
}

// WriteText renders the status as the human tables of `vigil status`.
func (s Status) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "router_id %s, config %s, ipvs %s\n\n", s.RouterID, short(s.ConfigHash), map[bool]string{true: "up", false: "unavailable"}[s.IPVSUp])
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VRRP INSTANCE\tINTERFACE\tVRID\tSTATE\tPRIORITY\tMASTER\tVIPS\tSINCE")
	for _, in := range s.Instances {
		state := in.State
		if in.Wanted != in.State {
			state += " -> " + in.Wanted
		}
		prio := fmt.Sprint(in.EffectivePriority)
		if in.EffectivePriority != in.BasePriority {
			prio = fmt.Sprintf("%d (base %d)", in.EffectivePriority, in.BasePriority)
		}
		master := in.Master
		if master != "" {
			master = fmt.Sprintf("%s (%d)", in.Master, in.MasterPriority)
		}
		since := "-"
		if !in.LastTransition.IsZero() {
			since = in.LastTransition.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%d/%d %s\t%s\n", in.Name, in.Interface, in.VRID, state, prio, dash(master),
			in.VIPsPresent, len(in.VIPs), strings.Join(in.VIPs, ","), since)
	}
	if len(s.VirtualServers) > 0 {
		fmt.Fprintln(tw, "\t\t\t\t\t\t\t")
		fmt.Fprintln(tw, "VIRTUAL SERVER\tSERVICE\tREAL SERVER\tHEALTH\tWEIGHT (CONF/KERNEL)\tOVERRIDE\tACTIVE CONNS\t")
		for _, vs := range s.VirtualServers {
			state := "quorum up"
			if !vs.QuorumUp {
				state = "QUORUM DOWN"
			}
			if vs.SorryActive {
				state += ", sorry server active"
			}
			if !vs.InKernel {
				state += ", not in kernel"
			}
			fmt.Fprintf(tw, "%s\t%s\t(%s)\t\t\t\t\t\n", vs.Name, vs.Service, state)
			for _, rs := range vs.RealServers {
				health := "up"
				if !rs.Up {
					health = "DOWN"
				}
				addr := rs.Address
				if rs.Sorry {
					addr += " (sorry)"
				}
				kw := "-"
				if rs.KernelWeight != nil {
					kw = fmt.Sprint(*rs.KernelWeight)
				}
				ov := "-"
				if rs.Drained {
					ov = "drained"
				}
				fmt.Fprintf(tw, "\t\t%s\t%s\t%d/%s\t%s\t%d\t\n", addr, health, rs.ConfiguredWeight, kw, ov, rs.ActiveConns)
			}
		}
	}
	if len(s.Overrides) > 0 {
		fmt.Fprintln(tw, "\t\t\t\t\t\t\t")
		fmt.Fprintln(tw, "OVERRIDE\tTARGET\tSINCE\tSOURCE\tWHO\tREASON\t\t")
		for _, o := range s.Overrides {
			kind := string(o.Kind)
			if o.Weight != nil {
				kind = fmt.Sprintf("%s %d", kind, *o.Weight)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t\t\n", kind, o.Target, o.Since.Format(time.RFC3339), o.Source, dash(o.Who), dash(o.Reason))
		}
	}
	return tw.Flush()
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
