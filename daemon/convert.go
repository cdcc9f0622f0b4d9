package daemon

import (
	"github.com/vigil-lb/vigil/config"
	"github.com/vigil-lb/vigil/vrrp"
)

// NodeConfig translates a validated configuration into the VRRP node's
// configuration.
func NodeConfig(cfg *config.Config) (vrrp.NodeConfig, error) {
	nc := vrrp.NodeConfig{NotifyTimeout: cfg.Global.NotifyTimeout}
	for _, in := range cfg.VRRPInstances {
		pc := vrrp.InstanceConfig{
			Name:           in.Name,
			Interface:      in.Interface,
			VRID:           uint8(in.VirtualRouterID),
			Version:        in.Version,
			Priority:       uint8(in.Priority),
			AdvertInterval: in.AdvertInterval,
			Preempt:        in.Preempt == nil || *in.Preempt,
			PreemptDelay:   in.PreemptDelay,
			LocalAddr:      in.UnicastSource,

			HigherPrioSendAdvert: in.HigherPrioSendAdvert,
		}
		if in.Authentication != nil {
			pc.AuthPass = in.Authentication.Password
		}
		ni := vrrp.NodeInstance{
			UnicastSource: in.UnicastSource,
			UnicastPeers:  in.UnicastPeers,
			Notify:        map[vrrp.State][]string{},
			GARPRepeat:    in.GARPMasterRepeat,
			GARPDelay:     in.GARPMasterDelay,
			GARPRefresh:   in.GARPMasterRefresh,
			GARPInterval:  in.GARPInterval,

			GARPLowerPrioRepeat: in.GARPLowerPrioRepeat,
			GARPLowerPrioDelay:  in.GARPLowerPrioDelay,
		}
		for _, v := range in.VirtualIPAddresses {
			pc.VIPs = append(pc.VIPs, v.Prefix.Addr())
			pc.IPv6 = v.Prefix.Addr().Is6()
			ni.VIPs = append(ni.VIPs, vrrp.VIP{Prefix: v.Prefix, Dev: v.Dev, Label: v.Label, Broadcast: v.Broadcast, Scope: v.Scope})
		}
		ni.Protocol = pc
		for _, t := range in.TrackInterfaces {
			w := 0
			if t.Weight != nil {
				w = *t.Weight
			}
			ni.TrackInterfaces = append(ni.TrackInterfaces, vrrp.TrackRef{Name: t.Name, Weight: w})
		}
		for _, t := range in.TrackScripts {
			w := 0
			if s, ok := cfg.Script(t.Name); ok {
				w = s.Weight
			}
			if t.Weight != nil {
				w = *t.Weight
			}
			ni.TrackScripts = append(ni.TrackScripts, vrrp.TrackRef{Name: t.Name, Weight: w})
		}
		for st, argv := range map[vrrp.State][]string{
			vrrp.StateMaster: in.Notify.Master, vrrp.StateBackup: in.Notify.Backup,
			vrrp.StateFault: in.Notify.Fault, vrrp.StateStop: in.Notify.Stop,
		} {
			if len(argv) > 0 {
				ni.Notify[st] = argv
			}
		}
		nc.Instances = append(nc.Instances, ni)
	}
	for _, g := range cfg.SyncGroups {
		nc.Groups = append(nc.Groups, vrrp.NodeGroup{Name: g.Name, Members: g.Instances})
	}
	return nc, nil
}
