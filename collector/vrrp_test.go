package collector

import (
	"os"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vigil-lb/vigil/vrrp"
)

func staticSnapshot(s vrrp.NodeSnapshot) func() vrrp.NodeSnapshot {
	return func() vrrp.NodeSnapshot { return s }
}

// TestVRRPGolden compares the whole exposition of a two-instance node (a
// VRRPv2 IPv4 master and a VRRPv3 IPv6 backup) with testdata/vrrp.prom.
func TestVRRPGolden(t *testing.T) {
	f, err := os.Open("testdata/vrrp.prom")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := testutil.CollectAndCompare(NewVRRP(staticSnapshot(testSnapshot())), f); err != nil {
		t.Error(err)
	}
}

// TestVRRPFreshInstance covers an instance that has seen nothing yet: no
// master is known (no master_info series, master priority 0), it has never
// changed state (timestamp 0, no transition series), and its error
// counters exist at zero.
func TestVRRPFreshInstance(t *testing.T) {
	snap := vrrp.NodeSnapshot{Instances: []vrrp.InstanceSnapshot{{
		Name: "vi_new", Interface: "eth0", VRID: 7, Version: 3,
		State: vrrp.StateInit, Wanted: vrrp.StateBackup, BasePriority: 100, EffectivePriority: 100,
	}}}
	c := NewVRRP(staticSnapshot(snap))
	want := `
# HELP vigil_vrrp_instance_last_transition_timestamp_seconds Unix time in seconds of the last state transition of a VRRP instance; 0 if it has not changed state since vigil started.
# TYPE vigil_vrrp_instance_last_transition_timestamp_seconds gauge
vigil_vrrp_instance_last_transition_timestamp_seconds{vrrp_instance="vi_new"} 0
# HELP vigil_vrrp_instance_master_priority Priority of the current master of a VRRP instance as this node sees it (its own effective priority when it is master); 0 while no master is known.
# TYPE vigil_vrrp_instance_master_priority gauge
vigil_vrrp_instance_master_priority{vrrp_instance="vi_new"} 0
# HELP vigil_vrrp_instance_wanted_state State a VRRP instance is heading for, one series per state with 1 for the wanted one; differs from vigil_vrrp_instance_state while a sync group or an operator holds the instance back.
# TYPE vigil_vrrp_instance_wanted_state gauge
vigil_vrrp_instance_wanted_state{state="backup",vrrp_instance="vi_new"} 1
vigil_vrrp_instance_wanted_state{state="fault",vrrp_instance="vi_new"} 0
vigil_vrrp_instance_wanted_state{state="init",vrrp_instance="vi_new"} 0
vigil_vrrp_instance_wanted_state{state="master",vrrp_instance="vi_new"} 0
vigil_vrrp_instance_wanted_state{state="stop",vrrp_instance="vi_new"} 0
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want),
		"vigil_vrrp_instance_last_transition_timestamp_seconds",
		"vigil_vrrp_instance_master_priority",
		"vigil_vrrp_instance_master_info",
		"vigil_vrrp_instance_transitions_total",
		"vigil_vrrp_instance_wanted_state",
	); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(c, "vigil_vrrp_instance_receive_errors_total"); n != len(vrrp.Reasons) {
		t.Errorf("got %d receive error series, want one per reason (%d)", n, len(vrrp.Reasons))
	}
	if n := testutil.CollectAndCount(c, "vigil_vrrp_vip_present"); n != 0 {
		t.Errorf("got %d vip_present series for an instance without addresses, want 0", n)
	}
}

// TestVRRPUnlistedReasonAndTrackKind: a drop reason missing from
// vrrp.Reasons is still exposed, and a track kind the collector has no
// metric for is left out without failing the scrape.
func TestVRRPUnlistedReasonAndTrackKind(t *testing.T) {
	snap := vrrp.NodeSnapshot{
		Interfaces: []vrrp.InterfaceSnapshot{{Name: "eth0", RecvErrors: map[vrrp.Reason]uint64{"future": 5}}},
		Tracks: []vrrp.TrackSnapshot{
			{Kind: "file", Name: "/run/maintenance", Up: true},
			{Kind: "script", Name: "chk", Up: true},
		},
	}
	c := NewVRRP(staticSnapshot(snap))
	want := `
# HELP vigil_vrrp_interface_receive_errors_total VRRP packets received on an interface and dropped before they could be attributed to an instance (malformed, or for a virtual router ID no instance runs), by reason.
# TYPE vigil_vrrp_interface_receive_errors_total counter
vigil_vrrp_interface_receive_errors_total{interface="eth0",reason="address_family"} 0
vigil_vrrp_interface_receive_errors_total{interface="eth0",reason="address_list"} 0
vigil_vrrp_interface_receive_errors_total{interface="eth0",reason="auth"} 0
vigil_vrrp_interface_receive_errors_total{interface="eth0",reason="auth_type"} 0
vigil_vrrp_interface_receive_errors_total{interface="eth0",reason="checksum"} 0
vigil_vrrp_interface_receive_errors_total{interface="eth0",reason="future"} 5
vigil_vrrp_interface_receive_errors_total{interface="eth0",reason="interval"} 0
vigil_vrrp_interface_receive_errors_total{interface="eth0",reason="length"} 0
vigil_vrrp_interface_receive_errors_total{interface="eth0",reason="ttl"} 0
vigil_vrrp_interface_receive_errors_total{interface="eth0",reason="type"} 0
vigil_vrrp_interface_receive_errors_total{interface="eth0",reason="version"} 0
vigil_vrrp_interface_receive_errors_total{interface="eth0",reason="vrid"} 0
# HELP vigil_vrrp_track_script_failures_total Times a tracked script went from up to down.
# TYPE vigil_vrrp_track_script_failures_total counter
vigil_vrrp_track_script_failures_total{script="chk"} 0
# HELP vigil_vrrp_track_script_up Whether a tracked script's last result, after rise/fall hysteresis, is success (1) or failure (0).
# TYPE vigil_vrrp_track_script_up gauge
vigil_vrrp_track_script_up{script="chk"} 1
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}

// TestVRRPEmpty: a node without instances, interfaces or tracks exposes
// nothing, and Collect reads the snapshot once per scrape.
func TestVRRPEmpty(t *testing.T) {
	calls := 0
	c := NewVRRP(func() vrrp.NodeSnapshot { calls++; return vrrp.NodeSnapshot{} })
	if n := testutil.CollectAndCount(c); n != 0 {
		t.Errorf("empty snapshot: got %d series, want 0", n)
	}
	if calls != 1 {
		t.Errorf("snapshot called %d times for one scrape, want 1", calls)
	}
}
