package daemon

import (
	"context"
	"fmt"
	"time"

	"github.com/vigil-lb/vigil/actuator"
	"github.com/vigil-lb/vigil/ipvs"
)

// executor carries the actuator's decisions out through the same owners
// as everything else: real-server overrides go to the load balancer's
// reconcile loop, holds and resignations to the VRRP node. There is no
// second path to the kernel.
type executor struct{ d *daemon }

var _ actuator.Executor = executor{}

// RealServers reports the real servers of vs from the last reconcile, with
// their weight before overrides: the dynamic weight their checks report
// (the first check that reports one, as lb.health), else the configured
// one. A server whose check reports weight 0 serves nothing, and the
// min_healthy guard must not count it.
func (e executor) RealServers(vs string) ([]actuator.RealServerHealth, error) {
	snap := e.d.lb.snapshot()
	dynamic := map[string]int{}
	for _, c := range snap.Checks {
		if c.Weight != nil {
			dynamic[c.ID] = *c.Weight
		}
	}
	for _, v := range snap.VirtualServers {
		if v.Name != vs {
			continue
		}
		var out []actuator.RealServerHealth
		for _, rs := range v.RealServers {
			if rs.Sorry {
				continue
			}
			w := rs.ConfiguredWeight
			for _, id := range rs.CheckIDs {
				if dw, ok := dynamic[id]; ok {
					w = dw
					break
				}
			}
			out = append(out, actuator.RealServerHealth{ID: rs.Address, Up: rs.Up, Weight: w})
		}
		return out, nil
	}
	// A virtual server configured but not reconciled yet is still known.
	if e.d.lb.hasVirtualServer(vs) {
		return nil, nil
	}
	return nil, fmt.Errorf("virtual server %q: %w", vs, actuator.ErrUnknownTarget)
}

func (e executor) Instances() []string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return e.d.current.Load().node.InstanceNames(ctx)
}

func (e executor) SetRealServerOverrides(ctx context.Context, overrides map[actuator.RealServerRef]actuator.RealServerOverride) error {
	ov := ipvs.Overrides{}
	for ref, o := range overrides {
		ov[ipvs.RealServerRef{VirtualServer: ref.VirtualServer, RealServer: ref.RealServer}] = ipvs.Override{Drain: o.Drain, Weight: o.Weight}
	}
	return e.d.lb.setOverrides(ctx, ov)
}

func (e executor) SetHolds(ctx context.Context, instances []string) error {
	return e.d.current.Load().node.SetHolds(ctx, instances)
}

func (e executor) Resign(ctx context.Context, instance string, hold time.Duration) error {
	return e.d.current.Load().node.ResignInstance(ctx, instance, hold)
}

// actuatorStatus is the node's part of the actuator's GET /api/v1/status.
func (d *daemon) actuatorStatus(context.Context) (any, error) { return d.status(), nil }
