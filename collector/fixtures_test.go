package collector

import (
	"net/netip"
	"time"

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
