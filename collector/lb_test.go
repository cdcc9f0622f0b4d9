package collector

import (
	"maps"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vigil-lb/vigil/check"
	"github.com/vigil-lb/vigil/ipvs"
)

func staticLB(s LBSnapshot) func() LBSnapshot {
	return func() LBSnapshot { return s }
}

// kernelFamilies are the families that only exist for what the kernel
// holds.
var kernelFamilies = []string{
	"vigil_ipvs_virtual_server_connections_total",
	"vigil_ipvs_virtual_server_incoming_packets_total",
	"vigil_ipvs_virtual_server_outgoing_packets_total",
	"vigil_ipvs_virtual_server_incoming_bytes_total",
	"vigil_ipvs_virtual_server_outgoing_bytes_total",
	"vigil_ipvs_real_server_weight",
	"vigil_ipvs_real_server_active_connections",
	"vigil_ipvs_real_server_inactive_connections",
	"vigil_ipvs_real_server_persistent_connections",
	"vigil_ipvs_real_server_connections_total",
	"vigil_ipvs_real_server_incoming_packets_total",
	"vigil_ipvs_real_server_outgoing_packets_total",
	"vigil_ipvs_real_server_incoming_bytes_total",
	"vigil_ipvs_real_server_outgoing_bytes_total",
}

// TestLBGolden compares the whole exposition of testLBSnapshot (a tcp
// virtual server with one of two real servers down, a firewall-mark one
// whose sorry server serves, http, exec and MySQL checks) with
// testdata/lb.prom.
func TestLBGolden(t *testing.T) {
	f, err := os.Open("testdata/lb.prom")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := testutil.CollectAndCompare(NewLB(staticLB(testLBSnapshot())), f); err != nil {
		t.Error(err)
	}
}

// TestLBIPVSDown: without IPVS, configured virtual servers and real
// servers are still exposed with their configuration and health, as not
// in the kernel, and no kernel counter, weight or connection gauge
// appears, even if the snapshot still carries stale kernel state.
func TestLBIPVSDown(t *testing.T) {
	snap := testLBSnapshot()
	snap.IPVSUp = false
	c := NewLB(staticLB(snap))
	for _, name := range kernelFamilies {
		if n := testutil.CollectAndCount(c, name); n != 0 {
			t.Errorf("%s: got %d series with IPVS down, want none", name, n)
		}
	}
	want := `
# HELP vigil_ipvs_up Whether the kernel has IPVS (1) or not (0); while it is 0 no virtual server can be in the kernel.
# TYPE vigil_ipvs_up gauge
vigil_ipvs_up 0
# HELP vigil_ipvs_virtual_server_in_kernel Whether a configured virtual server's service is in the kernel's IPVS table (1) or not (0).
# TYPE vigil_ipvs_virtual_server_in_kernel gauge
vigil_ipvs_virtual_server_in_kernel{service="fwmark4/10",virtual_server="db"} 0
vigil_ipvs_virtual_server_in_kernel{service="tcp/192.0.2.10:80",virtual_server="web"} 0
# HELP vigil_ipvs_real_server_in_kernel Whether a configured real server (or sorry server) is a destination in the kernel's IPVS table (1) or not (0): failed real servers are withdrawn unless inhibit_on_failure keeps them at weight 0, and the real servers step aside while the sorry server serves.
# TYPE vigil_ipvs_real_server_in_kernel gauge
vigil_ipvs_real_server_in_kernel{real_server="10.0.0.1:80",virtual_server="web"} 0
vigil_ipvs_real_server_in_kernel{real_server="10.0.0.2:80",virtual_server="web"} 0
vigil_ipvs_real_server_in_kernel{real_server="10.0.1.100:3306",virtual_server="db"} 0
vigil_ipvs_real_server_in_kernel{real_server="10.0.1.1:3306",virtual_server="db"} 0
vigil_ipvs_real_server_in_kernel{real_server="10.0.1.2:3306",virtual_server="db"} 0
# HELP vigil_ipvs_real_server_up Whether a real server passes all of its health checks (1) or not (0); a server without checks, such as the sorry server, is up.
# TYPE vigil_ipvs_real_server_up gauge
vigil_ipvs_real_server_up{real_server="10.0.0.1:80",virtual_server="web"} 1
vigil_ipvs_real_server_up{real_server="10.0.0.2:80",virtual_server="web"} 0
vigil_ipvs_real_server_up{real_server="10.0.1.100:3306",virtual_server="db"} 1
vigil_ipvs_real_server_up{real_server="10.0.1.1:3306",virtual_server="db"} 0
vigil_ipvs_real_server_up{real_server="10.0.1.2:3306",virtual_server="db"} 0
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want),
		"vigil_ipvs_up", "vigil_ipvs_virtual_server_in_kernel",
		"vigil_ipvs_real_server_in_kernel", "vigil_ipvs_real_server_up"); err != nil {
		t.Error(err)
	}
	// Configuration, quorum and checks do not depend on the kernel.
	for name, n := range map[string]int{
		"vigil_ipvs_virtual_server_info":              2,
		"vigil_ipvs_virtual_server_quorum_up":         2,
		"vigil_ipvs_virtual_server_real_servers_up":   2,
		"vigil_ipvs_virtual_server_sorry_server_info": 1,
		"vigil_ipvs_real_server_configured_weight":    5,
		"vigil_check_up":                              5,
	} {
		if got := testutil.CollectAndCount(c, name); got != n {
			t.Errorf("%s: got %d series with IPVS down, want %d", name, got, n)
		}
	}
}

// TestLBNotInKernel: with IPVS up, a virtual server missing from the
// kernel (e.g. its creation failed) has no kernel series, nor have its real
// servers, while a virtual server in the kernel keeps its own.
func TestLBNotInKernel(t *testing.T) {
	snap := testLBSnapshot()
	snap.VirtualServers[1].InKernel = false // db; its sorry server says InKernel
	c := NewLB(staticLB(snap))
	want := `
# HELP vigil_ipvs_virtual_server_connections_total Connections the kernel scheduled to a virtual server's service (IPVS conns counter).
# TYPE vigil_ipvs_virtual_server_connections_total counter
vigil_ipvs_virtual_server_connections_total{service="tcp/192.0.2.10:80",virtual_server="web"} 1500
# HELP vigil_ipvs_virtual_server_in_kernel Whether a configured virtual server's service is in the kernel's IPVS table (1) or not (0).
# TYPE vigil_ipvs_virtual_server_in_kernel gauge
vigil_ipvs_virtual_server_in_kernel{service="fwmark4/10",virtual_server="db"} 0
vigil_ipvs_virtual_server_in_kernel{service="tcp/192.0.2.10:80",virtual_server="web"} 1
# HELP vigil_ipvs_real_server_weight Weight of a real server in the kernel's IPVS table; absent while it is not in the kernel.
# TYPE vigil_ipvs_real_server_weight gauge
vigil_ipvs_real_server_weight{real_server="10.0.0.1:80",virtual_server="web"} 8
# HELP vigil_ipvs_real_server_in_kernel Whether a configured real server (or sorry server) is a destination in the kernel's IPVS table (1) or not (0): failed real servers are withdrawn unless inhibit_on_failure keeps them at weight 0, and the real servers step aside while the sorry server serves.
# TYPE vigil_ipvs_real_server_in_kernel gauge
vigil_ipvs_real_server_in_kernel{real_server="10.0.0.1:80",virtual_server="web"} 1
vigil_ipvs_real_server_in_kernel{real_server="10.0.0.2:80",virtual_server="web"} 0
vigil_ipvs_real_server_in_kernel{real_server="10.0.1.100:3306",virtual_server="db"} 0
vigil_ipvs_real_server_in_kernel{real_server="10.0.1.1:3306",virtual_server="db"} 0
vigil_ipvs_real_server_in_kernel{real_server="10.0.1.2:3306",virtual_server="db"} 0
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want),
		"vigil_ipvs_virtual_server_connections_total", "vigil_ipvs_virtual_server_in_kernel",
		"vigil_ipvs_real_server_weight", "vigil_ipvs_real_server_in_kernel"); err != nil {
		t.Error(err)
	}
	for _, name := range kernelFamilies {
		want := 1 // web and its one real server in the kernel
		if got := testutil.CollectAndCount(c, name); got != want {
			t.Errorf("%s: got %d series, want %d", name, got, want)
		}
	}
}

// TestLBChecks covers a check before its first attempt (every result
// counter at 0, no weight or detail series), an outcome the collector does
// not list, and a check no real server lists (still exposed, with empty
// virtual_server and real_server).
func TestLBChecks(t *testing.T) {
	snap := LBSnapshot{
		IPVSUp: true,
		VirtualServers: []VirtualServerState{{
			Name: "dns", Key: ipvs.AddrKey(ipvs.UDP, netip.MustParseAddrPort("192.0.2.53:53")),
			RealServers: []RealServerState{{Address: "10.0.2.1:53", CheckIDs: []string{"c-new"}}},
		}},
		Checks: []check.Snapshot{
			{ID: "c-new", Type: "dns", Results: map[string]uint64{}},
			{ID: "c-orphan", Type: "tcp", Up: true, Results: map[string]uint64{check.ResultSuccess: 2, "cancelled": 1}},
		},
	}
	c := NewLB(staticLB(snap))
	want := `
# HELP vigil_check_results_total Attempts of a health check, retries included, by result: success, failure, or timeout (the attempt hit connect_timeout).
# TYPE vigil_check_results_total counter
vigil_check_results_total{check="dns",check_id="c-new",real_server="10.0.2.1:53",result="failure",virtual_server="dns"} 0
vigil_check_results_total{check="dns",check_id="c-new",real_server="10.0.2.1:53",result="success",virtual_server="dns"} 0
vigil_check_results_total{check="dns",check_id="c-new",real_server="10.0.2.1:53",result="timeout",virtual_server="dns"} 0
vigil_check_results_total{check="tcp",check_id="c-orphan",real_server="",result="cancelled",virtual_server=""} 1
vigil_check_results_total{check="tcp",check_id="c-orphan",real_server="",result="failure",virtual_server=""} 0
vigil_check_results_total{check="tcp",check_id="c-orphan",real_server="",result="success",virtual_server=""} 2
vigil_check_results_total{check="tcp",check_id="c-orphan",real_server="",result="timeout",virtual_server=""} 0
# HELP vigil_check_last_attempt_timestamp_seconds Unix time in seconds of the end of the last attempt of a health check; 0 before the first attempt.
# TYPE vigil_check_last_attempt_timestamp_seconds gauge
vigil_check_last_attempt_timestamp_seconds{check="dns",check_id="c-new",real_server="10.0.2.1:53",virtual_server="dns"} 0
vigil_check_last_attempt_timestamp_seconds{check="tcp",check_id="c-orphan",real_server="",virtual_server=""} 0
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want),
		"vigil_check_results_total", "vigil_check_last_attempt_timestamp_seconds"); err != nil {
		t.Error(err)
	}
	absent := []string{"vigil_check_dynamic_weight"}
	for _, d := range checkDetails {
		absent = append(absent, "vigil_check_"+d.name)
	}
	for _, name := range absent {
		if n := testutil.CollectAndCount(c, name); n != 0 {
			t.Errorf("%s: got %d series for checks that reported nothing, want none", name, n)
		}
	}
}

// TestLBSorrySharesAddress: a sorry server at a real server's address is
// one kernel destination (ipvs.Desired); the collector exposes one set of
// real-server series for it, the real server's, and still names the sorry
// server. A real server listed twice is exposed once.
func TestLBSorrySharesAddress(t *testing.T) {
	key := ipvs.AddrKey(ipvs.TCP, netip.MustParseAddrPort("192.0.2.10:443"))
	snap := LBSnapshot{
		IPVSUp: true,
		VirtualServers: []VirtualServerState{{
			Name: "tls", Key: key, InKernel: true,
			RealServers: []RealServerState{
				{Address: "10.0.0.9:443", Sorry: true, ConfiguredWeight: 1, InKernel: true, KernelWeight: 1, Up: true},
				{Address: "10.0.0.9:443", ConfiguredWeight: 5, InKernel: true, KernelWeight: 5, Up: true},
				{Address: "10.0.0.8:443", ConfiguredWeight: 3},
				{Address: "10.0.0.8:443", ConfiguredWeight: 4},
			},
		}},
	}
	c := NewLB(staticLB(snap))
	want := `
# HELP vigil_ipvs_real_server_configured_weight Weight a real server has in the configuration, before dynamic weights, overrides and failures change it.
# TYPE vigil_ipvs_real_server_configured_weight gauge
vigil_ipvs_real_server_configured_weight{real_server="10.0.0.8:443",virtual_server="tls"} 3
vigil_ipvs_real_server_configured_weight{real_server="10.0.0.9:443",virtual_server="tls"} 5
# HELP vigil_ipvs_real_server_weight Weight of a real server in the kernel's IPVS table; absent while it is not in the kernel.
# TYPE vigil_ipvs_real_server_weight gauge
vigil_ipvs_real_server_weight{real_server="10.0.0.9:443",virtual_server="tls"} 5
# HELP vigil_ipvs_virtual_server_sorry_server_info Address of a virtual server's sorry server, always 1; absent for a virtual server without one. The sorry server also has the vigil_ipvs_real_server_* series.
# TYPE vigil_ipvs_virtual_server_sorry_server_info gauge
vigil_ipvs_virtual_server_sorry_server_info{real_server="10.0.0.9:443",virtual_server="tls"} 1
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want),
		"vigil_ipvs_real_server_configured_weight", "vigil_ipvs_real_server_weight",
		"vigil_ipvs_virtual_server_sorry_server_info"); err != nil {
		t.Error(err)
	}
}

// TestLBReconcile: before the first pass every change kind is exposed at
// zero and the timestamps are 0; a kind the collector does not list is
// still exposed.
func TestLBReconcile(t *testing.T) {
	c := NewLB(staticLB(LBSnapshot{Reconcile: ReconcileStats{Changes: map[string]uint64{"dest_adopt": 2}}}))
	want := `
# HELP vigil_ipvs_reconcile_changes_total Kernel operations reconcile passes performed, by kind: service_create, service_update, service_delete, dest_create, dest_update, dest_delete.
# TYPE vigil_ipvs_reconcile_changes_total counter
vigil_ipvs_reconcile_changes_total{kind="dest_adopt"} 2
vigil_ipvs_reconcile_changes_total{kind="dest_create"} 0
vigil_ipvs_reconcile_changes_total{kind="dest_delete"} 0
vigil_ipvs_reconcile_changes_total{kind="dest_update"} 0
vigil_ipvs_reconcile_changes_total{kind="service_create"} 0
vigil_ipvs_reconcile_changes_total{kind="service_delete"} 0
vigil_ipvs_reconcile_changes_total{kind="service_update"} 0
# HELP vigil_ipvs_reconcile_last_duration_seconds How long the last reconcile pass took; 0 before the first pass.
# TYPE vigil_ipvs_reconcile_last_duration_seconds gauge
vigil_ipvs_reconcile_last_duration_seconds 0
# HELP vigil_ipvs_reconcile_last_success_timestamp_seconds Unix time in seconds of the end of the last reconcile pass that succeeded; 0 if none has.
# TYPE vigil_ipvs_reconcile_last_success_timestamp_seconds gauge
vigil_ipvs_reconcile_last_success_timestamp_seconds 0
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want),
		"vigil_ipvs_reconcile_changes_total", "vigil_ipvs_reconcile_last_duration_seconds",
		"vigil_ipvs_reconcile_last_success_timestamp_seconds"); err != nil {
		t.Error(err)
	}
}

// TestReconcileKindsMatchIPVS keeps the pre-initialised change kinds in
// step with what the reconciler reports: a kind added to ipvs.Result
// must get its zero series here too.
func TestReconcileKindsMatchIPVS(t *testing.T) {
	got := slices.Sorted(slices.Values(reconcileKinds))
	want := slices.Sorted(maps.Keys(ipvs.Result{}.ByKind()))
	if !slices.Equal(got, want) {
		t.Errorf("reconcileKinds %v, ipvs.Result.ByKind keys %v", got, want)
	}
}

// TestLBEmpty: a node without virtual servers or checks exposes only the
// IPVS state and the reconciler, and Collect reads the snapshot once per
// scrape.
func TestLBEmpty(t *testing.T) {
	calls := 0
	c := NewLB(func() LBSnapshot { calls++; return LBSnapshot{IPVSUp: true} })
	// vigil_ipvs_up, runs, errors, 6 change kinds, drift, last duration,
	// last success.
	if n := testutil.CollectAndCount(c); n != 12 {
		t.Errorf("empty snapshot: got %d series, want 12", n)
	}
	if calls != 1 {
		t.Errorf("snapshot called %d times for one scrape, want 1", calls)
	}
}

// TestCheckLateness checks bucket placement, the type label, and that a
// negative lateness counts as 0.
func TestCheckLateness(t *testing.T) {
	l := NewCheckLateness()
	l.Observe("http", 300*time.Microsecond)
	l.Observe("http", 2*time.Millisecond)
	l.Observe("http", -time.Second)
	l.Observe("mysql", 12*time.Second)
	want := `
# HELP vigil_check_scheduling_lateness_seconds How late health-check runs started against their schedule (slot plus jitter), by check type; growing lateness means an overloaded director or runs overrunning their interval.
# TYPE vigil_check_scheduling_lateness_seconds histogram
vigil_check_scheduling_lateness_seconds_bucket{check="http",le="0.0005"} 2
vigil_check_scheduling_lateness_seconds_bucket{check="http",le="0.001"} 2
vigil_check_scheduling_lateness_seconds_bucket{check="http",le="0.0025"} 3
vigil_check_scheduling_lateness_seconds_bucket{check="http",le="0.005"} 3
vigil_check_scheduling_lateness_seconds_bucket{check="http",le="0.01"} 3
vigil_check_scheduling_lateness_seconds_bucket{check="http",le="0.025"} 3
vigil_check_scheduling_lateness_seconds_bucket{check="http",le="0.05"} 3
vigil_check_scheduling_lateness_seconds_bucket{check="http",le="0.1"} 3
vigil_check_scheduling_lateness_seconds_bucket{check="http",le="0.25"} 3
vigil_check_scheduling_lateness_seconds_bucket{check="http",le="0.5"} 3
vigil_check_scheduling_lateness_seconds_bucket{check="http",le="1"} 3
vigil_check_scheduling_lateness_seconds_bucket{check="http",le="2.5"} 3
vigil_check_scheduling_lateness_seconds_bucket{check="http",le="5"} 3
vigil_check_scheduling_lateness_seconds_bucket{check="http",le="10"} 3
vigil_check_scheduling_lateness_seconds_bucket{check="http",le="+Inf"} 3
vigil_check_scheduling_lateness_seconds_sum{check="http"} 0.0023
vigil_check_scheduling_lateness_seconds_count{check="http"} 3
vigil_check_scheduling_lateness_seconds_bucket{check="mysql",le="0.0005"} 0
vigil_check_scheduling_lateness_seconds_bucket{check="mysql",le="0.001"} 0
vigil_check_scheduling_lateness_seconds_bucket{check="mysql",le="0.0025"} 0
vigil_check_scheduling_lateness_seconds_bucket{check="mysql",le="0.005"} 0
vigil_check_scheduling_lateness_seconds_bucket{check="mysql",le="0.01"} 0
vigil_check_scheduling_lateness_seconds_bucket{check="mysql",le="0.025"} 0
vigil_check_scheduling_lateness_seconds_bucket{check="mysql",le="0.05"} 0
vigil_check_scheduling_lateness_seconds_bucket{check="mysql",le="0.1"} 0
vigil_check_scheduling_lateness_seconds_bucket{check="mysql",le="0.25"} 0
vigil_check_scheduling_lateness_seconds_bucket{check="mysql",le="0.5"} 0
vigil_check_scheduling_lateness_seconds_bucket{check="mysql",le="1"} 0
vigil_check_scheduling_lateness_seconds_bucket{check="mysql",le="2.5"} 0
vigil_check_scheduling_lateness_seconds_bucket{check="mysql",le="5"} 0
vigil_check_scheduling_lateness_seconds_bucket{check="mysql",le="10"} 0
vigil_check_scheduling_lateness_seconds_bucket{check="mysql",le="+Inf"} 1
vigil_check_scheduling_lateness_seconds_sum{check="mysql"} 12
vigil_check_scheduling_lateness_seconds_count{check="mysql"} 1
`
	if err := testutil.CollectAndCompare(l, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	// Observe has the type check.Scheduler.LatenessObserver expects.
	_ = check.Scheduler{LatenessObserver: l.Observe}
}
