package collector

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/vigil-lb/vigil/check"
	"github.com/vigil-lb/vigil/ipvs"
)

// SyntheticLB is a node for benchmarks (collector's own and bench/ipvs's
// scrape benchmark): vss virtual servers of rss real servers each, shaped
// like bench/ipvs's table (tcp 10.1.x.y:80, wlc, real servers
// 10.(100+j).x.y:80 of weights 1..rss), every virtual server and real
// server in the kernel and up with one TCP check and non-zero counters, so
// that every per-object series is exposed.
func SyntheticLB(vss, rss int) LBSnapshot {
	last := time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)
	snap := LBSnapshot{
		IPVSUp: true,
		Reconcile: ReconcileStats{Runs: 100, Changes: map[string]uint64{"service_create": uint64(vss)},
			LastDuration: time.Second, LastSuccess: last},
	}
	for i := range vss {
		hi, lo := byte(i>>8), byte(i)
		name := fmt.Sprintf("vs-%04d", i)
		key := ipvs.AddrKey(ipvs.TCP, netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, hi, lo}), 80))
		vs := VirtualServerState{
			Name: name, Key: key, Scheduler: "wlc", InKernel: true,
			Status: ipvs.VSStatus{Name: name, Key: key, QuorumUp: true, RealServers: rss, RealServersUp: rss},
			Stats:  ipvs.Stats{Connections: 1e6 + uint64(i), PacketsIn: 1e8, PacketsOut: 9e7, BytesIn: 1e10, BytesOut: 9e10},
		}
		for j := range rss {
			addr := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(100 + j), hi, lo}), 80)
			id := fmt.Sprintf("%s/%s/0-tcp", name, addr)
			vs.Status.AliveWeight += j + 1
			vs.RealServers = append(vs.RealServers, RealServerState{
				Address: addr.String(), ConfiguredWeight: j + 1, InKernel: true, KernelWeight: j + 1, Up: true,
				Stats: ipvs.DestinationStats{
					Stats:             ipvs.Stats{Connections: 1e5 + uint64(j), PacketsIn: 1e7, PacketsOut: 9e6, BytesIn: 1e9, BytesOut: 9e9},
					ActiveConnections: 10, InactiveConnections: 20,
				},
				CheckIDs: []string{id},
			})
			snap.Checks = append(snap.Checks, check.Snapshot{
				ID: id, Type: "tcp", Target: addr, Up: true,
				ConsecutiveSuccesses: 100, LastDuration: 300 * time.Microsecond,
				LastResult: check.ResultSuccess, LastCheck: last,
				Results: map[string]uint64{check.ResultSuccess: 3600, check.ResultFailure: 2, check.ResultTimeout: 1},
			})
		}
		snap.VirtualServers = append(snap.VirtualServers, vs)
	}
	return snap
}
