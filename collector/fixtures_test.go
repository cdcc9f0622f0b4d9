package collector

import (
	"net/netip"
	"time"

	"github.com/vigil-lb/vigil/check"
	"github.com/vigil-lb/vigil/ipvs"
	"github.com/vigil-lb/vigil/vrrp"
)

// testSnapshot is a representative node: a VRRPv2 IPv4 master in a sync
// group and a VRRPv3 IPv6 backup held down by a failing script. It sets
// every field, so every vigil_vrrp_* metric has at least one series.
func testSnapshot() vrrp.NodeSnapshot {
	return vrrp.NodeSnapshot{
		Instances: []vrrp.InstanceSnapshot{
			{
				Name:              "vi_web",
				Interface:         "eth0",
				VRID:              51,
				Version:           2,
				State:             vrrp.StateMaster,
				Wanted:            vrrp.StateMaster,
				BasePriority:      150,
				EffectivePriority: 150,
				MasterAddr:        netip.MustParseAddr("10.99.0.11"),
				MasterPriority:    150,
				LastTransition:    time.Date(2026, 11, 22, 3, 0, 0, 250e6, time.UTC),
				Transitions: map[[2]vrrp.State]uint64{
					{vrrp.StateInit, vrrp.StateBackup}:   1,
					{vrrp.StateBackup, vrrp.StateMaster}: 1,
				},
				AdvertsSent:       3600,
				AdvertsReceived:   12,
				PriorityZeroSent:  0,
				PriorityZeroRecvd: 1,
				RecvErrors:        map[vrrp.Reason]uint64{vrrp.ReasonAuth: 3, vrrp.ReasonInterval: 1},
				GARPsSent:         10,
				VIPsPresent: map[netip.Prefix]bool{
					netip.MustParsePrefix("10.99.0.250/24"): true,
					netip.MustParsePrefix("10.99.0.251/24"): true,
				},
				VIPsRestored: 1,
				SyncGroup:    "sg_front",
			},
			{
				Name:              "vi_db6",
				Interface:         "eth1",
				VRID:              52,
				Version:           3,
				IPv6:              true,
				State:             vrrp.StateBackup,
				Wanted:            vrrp.StateBackup,
				BasePriority:      100,
				EffectivePriority: 80,
				MasterAddr:        netip.MustParseAddr("fe80::2"),
				MasterPriority:    120,
				LastTransition:    time.Date(2026, 11, 22, 2, 59, 0, 0, time.UTC),
				Transitions: map[[2]vrrp.State]uint64{
					{vrrp.StateInit, vrrp.StateBackup}:   1,
					{vrrp.StateBackup, vrrp.StateMaster}: 1,
					{vrrp.StateMaster, vrrp.StateBackup}: 1,
				},
				AdvertsSent:       40,
				AdvertsReceived:   7200,
				PriorityZeroSent:  1,
				PriorityZeroRecvd: 0,
				RecvErrors:        map[vrrp.Reason]uint64{vrrp.ReasonTTL: 2, vrrp.ReasonFamily: 1},
				NAsSent:           6,
				VIPsPresent: map[netip.Prefix]bool{
					netip.MustParsePrefix("2001:db8::250/64"): false,
				},
			},
		},
		Interfaces: []vrrp.InterfaceSnapshot{
			{Name: "eth0", RecvErrors: map[vrrp.Reason]uint64{vrrp.ReasonVRID: 4}},
			{Name: "eth1", RecvErrors: map[vrrp.Reason]uint64{}},
		},
		Tracks: []vrrp.TrackSnapshot{
			{Kind: "script", Name: "chk_haproxy", Up: true, Failures: 2},
			{Kind: "script", Name: "chk_db", Up: false, Failures: 1},
			{Kind: "interface", Name: "eth1", Up: true, Failures: 0},
		},
	}
}

// testReloadState is a node whose last reload failed after an earlier
// success.
func testReloadState() ReloadState {
	return ReloadState{
		// SHA-256 of the empty string.
		Hash:        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		Success:     false,
		LastSuccess: time.Date(2026, 11, 22, 2, 58, 30, 0, time.UTC),
	}
}

// testLBSnapshot is a representative load balancer with every field set,
// so every vigil_ipvs_* and vigil_check_* metric has at least one series:
//
//   - "web", tcp/192.0.2.10:80 on the default scheduler: 10.0.0.1:80 is up
//     (an http check and an exec check whose dynamic weight 8 replaces
//     the configured 10); 10.0.0.2:80 fails its http check (503) and has
//     been withdrawn from the kernel, whose stale counters must not show.
//   - "db", fwmark4/10 on sh: both MySQL real servers are down (one lags
//     42s behind its source, the other times out; an operator drained
//     it), so quorum is lost and the sorry server 10.0.1.100:3306 serves.
func testLBSnapshot() LBSnapshot {
	web := ipvs.AddrKey(ipvs.TCP, netip.MustParseAddrPort("192.0.2.10:80"))
	db := ipvs.FWMarkKey(ipvs.IPv4, 10)
	last := time.Date(2026, 11, 22, 3, 0, 0, 500e6, time.UTC)
	weight := 8
	return LBSnapshot{
		IPVSUp: true,
		VirtualServers: []VirtualServerState{
			{
				Name:     "web",
				Key:      web,
				InKernel: true,
				Status: ipvs.VSStatus{Name: "web", Key: web, QuorumUp: true,
					RealServers: 2, RealServersUp: 1, AliveWeight: 8},
				Stats: ipvs.Stats{Connections: 1500, PacketsIn: 90000, PacketsOut: 85000,
					BytesIn: 12_000_000, BytesOut: 340_000_000, ConnectionRate: 7, PacketInRate: 300},
				RealServers: []RealServerState{
					{
						Address: "10.0.0.1:80", ConfiguredWeight: 10, InKernel: true, KernelWeight: 8, Up: true,
						Stats: ipvs.DestinationStats{
							Stats:             ipvs.Stats{Connections: 1200, PacketsIn: 72000, PacketsOut: 68000, BytesIn: 9_600_000, BytesOut: 272_000_000},
							ActiveConnections: 12, InactiveConnections: 30,
						},
						CheckIDs: []string{"web/10.0.0.1:80/0-http", "web/10.0.0.1:80/1-exec"},
					},
					{
						Address: "10.0.0.2:80", ConfiguredWeight: 10, InKernel: false, Up: false,
						// Left over from before the withdrawal: not exposed.
						Stats:    ipvs.DestinationStats{Stats: ipvs.Stats{Connections: 300}, ActiveConnections: 2},
						CheckIDs: []string{"web/10.0.0.2:80/0-http"},
					},
				},
			},
			{
				Name:      "db",
				Key:       db,
				Scheduler: "sh",
				InKernel:  true,
				Status: ipvs.VSStatus{Name: "db", Key: db, QuorumUp: false, SorryActive: true,
					RealServers: 2, RealServersUp: 0, AliveWeight: 0},
				Stats: ipvs.Stats{Connections: 420, PacketsIn: 8000, PacketsOut: 0, BytesIn: 640_000, BytesOut: 0},
				RealServers: []RealServerState{
					{Address: "10.0.1.1:3306", ConfiguredWeight: 1, CheckIDs: []string{"db/10.0.1.1:3306/0-mysql"}},
					{Address: "10.0.1.2:3306", ConfiguredWeight: 1, Drained: true, CheckIDs: []string{"db/10.0.1.2:3306/0-mysql"}},
					{
						Address: "10.0.1.100:3306", Sorry: true, ConfiguredWeight: 1, InKernel: true, KernelWeight: 1, Up: true,
						Stats: ipvs.DestinationStats{
							Stats:             ipvs.Stats{Connections: 20, PacketsIn: 400, BytesIn: 32_000},
							ActiveConnections: 3, InactiveConnections: 1, PersistentConnections: 4,
						},
					},
				},
			},
		},
		Reconcile: ReconcileStats{
			Runs:          120,
			Errors:        1,
			Changes:       map[string]uint64{"service_create": 2, "dest_create": 5, "dest_update": 3, "dest_delete": 2},
			DriftRepaired: 1,
			LastDuration:  4250 * time.Microsecond,
			LastSuccess:   last,
		},
		Checks: []check.Snapshot{
			{
				ID: "db/10.0.1.1:3306/0-mysql", Type: "mysql", Target: netip.MustParseAddrPort("10.0.1.1:3306"),
				ConsecutiveFailures: 5, LastDuration: 12 * time.Millisecond, LastResult: check.ResultFailure,
				LastError: "replica lag 42s exceeds 30s", LastCheck: last,
				Results: map[string]uint64{check.ResultSuccess: 100, check.ResultFailure: 5},
				Retries: 2, Transitions: 1,
				Detail: map[string]float64{"mysql_read_only": 0, "replica_io_running": 1, "replica_sql_running": 1, "replica_lag_seconds": 42},
			},
			{
				ID: "db/10.0.1.2:3306/0-mysql", Type: "mysql", Target: netip.MustParseAddrPort("10.0.1.2:3306"),
				ConsecutiveFailures: 7, LastDuration: 5 * time.Second, LastResult: check.ResultTimeout,
				LastError: "deadline exceeded", LastCheck: last,
				Results: map[string]uint64{check.ResultSuccess: 50, check.ResultTimeout: 7},
				Retries: 3, Transitions: 1, SkippedRuns: 2,
			},
			{
				ID: "web/10.0.0.1:80/0-http", Type: "http", Target: netip.MustParseAddrPort("10.0.0.1:80"), Up: true,
				ConsecutiveSuccesses: 300, LastDuration: 3500 * time.Microsecond, LastResult: check.ResultSuccess, LastCheck: last,
				Results: map[string]uint64{check.ResultSuccess: 300, check.ResultFailure: 1},
				Detail:  map[string]float64{"http_status_code": 200, "http_body_bytes": 512},
			},
			{
				ID: "web/10.0.0.1:80/1-exec", Type: "exec", Target: netip.MustParseAddrPort("10.0.0.1:80"), Up: true,
				ConsecutiveSuccesses: 300, LastDuration: 40 * time.Millisecond, LastResult: check.ResultSuccess, LastCheck: last,
				Results: map[string]uint64{check.ResultSuccess: 300},
				Weight:  &weight,
			},
			{
				ID: "web/10.0.0.2:80/0-http", Type: "http", Target: netip.MustParseAddrPort("10.0.0.2:80"),
				ConsecutiveFailures: 4, LastDuration: 2 * time.Millisecond, LastResult: check.ResultFailure,
				LastError: "status 503, want 200-299", LastCheck: last,
				Results: map[string]uint64{check.ResultSuccess: 200, check.ResultFailure: 4},
				Retries: 1, Transitions: 1,
				Detail: map[string]float64{"http_status_code": 503},
			},
		},
	}
}

// testCheckLateness is a lateness histogram that has seen runs of two
// check types.
func testCheckLateness() *CheckLateness {
	l := NewCheckLateness()
	l.Observe("http", 300*time.Microsecond)
	l.Observe("http", 2*time.Millisecond)
	l.Observe("mysql", 1500*time.Millisecond)
	return l
}
