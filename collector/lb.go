package collector

import (
	"slices"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/vigil-lb/vigil/check"
	"github.com/vigil-lb/vigil/ipvs"
)

// Labels of the load-balancing metrics. Like vrrp_instance they avoid
// "instance" and "job", which Prometheus attaches to every scraped series.
const (
	// virtualServerLabel is the virtual server's configured name.
	virtualServerLabel = "virtual_server"
	// serviceLabel is the IPVS service key, ipvs.ServiceKey.String():
	// "tcp/192.0.2.1:80", "fwmark4/10".
	serviceLabel = "service"
	// realServerLabel is a real server's address, ipvs.RealServer.ID():
	// "10.0.0.1:80", "[2001:db8::1]:80".
	realServerLabel = "real_server"
	// checkLabel is a check's type: tcp, http, https, mysql, exec, udp,
	// dns (check.Snapshot.Type).
	checkLabel = "check"
	// checkIDLabel is a check's ID, unique per node; a real server may
	// have several checks of one type.
	checkIDLabel = "check_id"
)

// checkResults are the outcomes every check exposes a counter for, zero
// included.
var checkResults = []string{check.ResultSuccess, check.ResultFailure, check.ResultTimeout}

// reconcileKinds are the kinds of kernel operation a reconcile pass counts
// (the keys of ipvs.Result.ByKind); each has a series from the start.
var reconcileKinds = []string{
	"service_create", "service_update", "service_delete",
	"dest_create", "dest_update", "dest_delete",
}

// checkDetails map the numeric facts probes put in Result.Detail to the
// metrics that expose them. Detail keys not listed here are not exposed.
var checkDetails = []struct {
	key, name, help string
}{
	{"replica_lag_seconds", "mysql_replica_lag_seconds",
		"Replication lag a MySQL check read in its last attempt (Seconds_Behind_Source or Seconds_Behind_Master); absent when the check does not watch replication, the attempt did not get that far, or the lag was NULL (replication broken)."},
	{"replica_io_running", "mysql_replica_io_running",
		"Whether the replica IO thread was running (1) or not (0) in a MySQL check's last attempt; absent when the check does not watch replication or the attempt did not get that far."},
	{"replica_sql_running", "mysql_replica_sql_running",
		"Whether the replica SQL thread was running (1) or not (0) in a MySQL check's last attempt; absent when the check does not watch replication or the attempt did not get that far."},
	{"mysql_read_only", "mysql_read_only",
		"Value of @@global.read_only a MySQL check read in its last attempt (1 read-only, 0 writable); absent when the check does not require a writable server or the attempt did not get that far."},
	{"http_status_code", "http_status_code",
		"HTTP status code of an HTTP check's last response; absent when the last attempt got no response."},
}

type statDescs struct {
	connections, packetsIn, packetsOut, bytesIn, bytesOut *prometheus.Desc
}

type lbCollector struct {
	snapshot func() LBSnapshot
	descs    []*prometheus.Desc // every descriptor, for Describe

	// layout is that of the last snapshot scraped.
	layout atomic.Pointer[lbLayout]
	// kindLabels are the label sets of sortedKinds.
	kindLabels [][]*dto.LabelPair

	ipvsUp *prometheus.Desc

	vsInfo          *prometheus.Desc
	vsInKernel      *prometheus.Desc
	vsQuorumUp      *prometheus.Desc
	vsSorryActive   *prometheus.Desc
	vsSorryInfo     *prometheus.Desc
	vsRealServers   *prometheus.Desc
	vsRealServersUp *prometheus.Desc
	vsAliveWeight   *prometheus.Desc
	vsStats         statDescs

	rsInKernel         *prometheus.Desc
	rsConfiguredWeight *prometheus.Desc
	rsWeight           *prometheus.Desc
	rsUp               *prometheus.Desc
	rsDrained          *prometheus.Desc
	rsActiveConns      *prometheus.Desc
	rsInactiveConns    *prometheus.Desc
	rsPersistentConns  *prometheus.Desc
	rsStats            statDescs

	checkUp            *prometheus.Desc
	checkResults       *prometheus.Desc
	checkLastDuration  *prometheus.Desc
	checkLastAttempt   *prometheus.Desc
	checkConsecFail    *prometheus.Desc
	checkRetries       *prometheus.Desc
	checkTransitions   *prometheus.Desc
	checkSkippedRuns   *prometheus.Desc
	checkDynamicWeight *prometheus.Desc
	checkDetail        []*prometheus.Desc // parallel to checkDetails

	reconcileRuns         *prometheus.Desc
	reconcileErrors       *prometheus.Desc
	reconcileChanges      *prometheus.Desc
	driftRepaired         *prometheus.Desc
	reconcileLastDuration *prometheus.Desc
	reconcileLastSuccess  *prometheus.Desc
}

// NewLB returns the collector of the load-balancing metrics: vigil_ipvs_*
// for IPVS itself, the configured virtual servers (by virtual_server and
// service), their real servers (by virtual_server and real_server) and the
// reconciler, and vigil_check_* for the health checks (by virtual_server,
// real_server, check type and check_id). Kernel counters and connection
// gauges are exposed only for objects the kernel holds.
//
// snapshot is called once per scrape and must be cheap and safe for
// concurrent use; the collector only reads what it returns. The label
// values of the series depend only on names, addresses and check IDs,
// which change with the configuration rather than between scrapes: the
// collector builds them once per such change (lbLayout) and reuses them
// while the snapshots keep that shape. The scheduling lateness of checks
// is a separate collector, CheckLateness.
func NewLB(snapshot func() LBSnapshot) prometheus.Collector {
	c := &lbCollector{snapshot: snapshot}
	d := func(subsystem, name, help string, labels ...string) *prometheus.Desc {
		desc := prometheus.NewDesc(prometheus.BuildFQName(Namespace, subsystem, name), help, labels, nil)
		c.descs = append(c.descs, desc)
		return desc
	}
	vs := []string{virtualServerLabel, serviceLabel}
	rs := []string{virtualServerLabel, realServerLabel}
	chk := []string{virtualServerLabel, realServerLabel, checkLabel, checkIDLabel}
	stats := func(prefix, what string, labels []string) statDescs {
		return statDescs{
			connections: d("ipvs", prefix+"connections_total",
				"Connections the kernel scheduled to "+what+" (IPVS conns counter).", labels...),
			packetsIn: d("ipvs", prefix+"incoming_packets_total",
				"Packets from clients the kernel forwarded to "+what+" (IPVS inpkts counter).", labels...),
			packetsOut: d("ipvs", prefix+"outgoing_packets_total",
				"Reply packets from "+what+" the kernel forwarded to clients (IPVS outpkts counter); replies bypass the director with direct routing and tunnelling, so it stays 0 there.", labels...),
			bytesIn: d("ipvs", prefix+"incoming_bytes_total",
				"Bytes from clients the kernel forwarded to "+what+" (IPVS inbytes counter).", labels...),
			bytesOut: d("ipvs", prefix+"outgoing_bytes_total",
				"Reply bytes from "+what+" the kernel forwarded to clients (IPVS outbytes counter); 0 with direct routing and tunnelling.", labels...),
		}
	}

	c.ipvsUp = d("ipvs", "up",
		"Whether the kernel has IPVS (1) or not (0); while it is 0 no virtual server can be in the kernel.")

	c.vsInfo = d("ipvs", "virtual_server_info",
		"Identity of a configured virtual server, always 1: its IPVS service key, address family (ipv4 or ipv6) and scheduler.",
		virtualServerLabel, serviceLabel, "family", "scheduler")
	c.vsInKernel = d("ipvs", "virtual_server_in_kernel",
		"Whether a configured virtual server's service is in the kernel's IPVS table (1) or not (0).", vs...)
	c.vsQuorumUp = d("ipvs", "virtual_server_quorum_up",
		"Whether a virtual server has quorum (1): the weight of its live real servers reaches its quorum, with hysteresis; 0 while quorum is lost.", vs...)
	c.vsSorryActive = d("ipvs", "virtual_server_sorry_server_active",
		"Whether a virtual server's sorry server serves in place of its real servers (1), as it does while quorum is lost; always 0 without a sorry server.", vs...)
	c.vsSorryInfo = d("ipvs", "virtual_server_sorry_server_info",
		"Address of a virtual server's sorry server, always 1; absent for a virtual server without one. The sorry server also has the vigil_ipvs_real_server_* series.",
		rs...)
	c.vsRealServers = d("ipvs", "virtual_server_real_servers",
		"Real servers configured for a virtual server, the sorry server not counted.", vs...)
	c.vsRealServersUp = d("ipvs", "virtual_server_real_servers_up",
		"Real servers of a virtual server that pass their health checks, the sorry server not counted.", vs...)
	c.vsAliveWeight = d("ipvs", "virtual_server_alive_weight",
		"Sum of the effective weights of a virtual server's real servers that pass their health checks: the value compared with its quorum.", vs...)
	c.vsStats = stats("virtual_server_", "a virtual server's service", vs)

	c.rsInKernel = d("ipvs", "real_server_in_kernel",
		"Whether a configured real server (or sorry server) is a destination in the kernel's IPVS table (1) or not (0): failed real servers are withdrawn unless inhibit_on_failure keeps them at weight 0, and the real servers step aside while the sorry server serves.", rs...)
	c.rsConfiguredWeight = d("ipvs", "real_server_configured_weight",
		"Weight a real server has in the configuration, before dynamic weights, overrides and failures change it.", rs...)
	c.rsWeight = d("ipvs", "real_server_weight",
		"Weight of a real server in the kernel's IPVS table; absent while it is not in the kernel.", rs...)
	c.rsUp = d("ipvs", "real_server_up",
		"Whether a real server passes all of its health checks (1) or not (0); a server without checks, such as the sorry server, is up.", rs...)
	c.rsDrained = d("ipvs", "real_server_drained",
		"Whether an operator override drains a real server (1), holding its weight at 0 so that it takes no new connections, or not (0).", rs...)
	c.rsActiveConns = d("ipvs", "real_server_active_connections",
		"Connections of a real server the kernel counts as active (TCP ESTABLISHED); absent while it is not in the kernel.", rs...)
	c.rsInactiveConns = d("ipvs", "real_server_inactive_connections",
		"Connection entries of a real server the kernel does not count as active (TCP connections in states other than ESTABLISHED, UDP entries); absent while it is not in the kernel.", rs...)
	c.rsPersistentConns = d("ipvs", "real_server_persistent_connections",
		"Persistence templates pointing at a real server: clients pinned to it by a persistent virtual server; absent while it is not in the kernel.", rs...)
	c.rsStats = stats("real_server_", "a real server", rs)

	c.checkUp = d("check", "up",
		"Whether a health check is up (1) or down (0) after its rise/fall hysteresis.", chk...)
	c.checkResults = d("check", "results_total",
		"Attempts of a health check, retries included, by result: success, failure, or timeout (the attempt hit connect_timeout).",
		append(slices.Clone(chk), "result")...)
	c.checkLastDuration = d("check", "last_duration_seconds",
		"How long the last attempt of a health check took; 0 before the first attempt.", chk...)
	c.checkLastAttempt = d("check", "last_attempt_timestamp_seconds",
		"Unix time in seconds of the end of the last attempt of a health check; 0 before the first attempt.", chk...)
	c.checkConsecFail = d("check", "consecutive_failures",
		"Failed runs of a health check in a row (a run is an attempt and its retries), the count fall compares with; 0 after a success.", chk...)
	c.checkRetries = d("check", "retries_total",
		"Attempts of a health check that were retries of a failed attempt.", chk...)
	c.checkTransitions = d("check", "transitions_total",
		"Times a health check changed between up and down.", chk...)
	c.checkSkippedRuns = d("check", "skipped_runs_total",
		"Scheduled runs of a health check dropped because earlier runs overran its interval.", chk...)
	c.checkDynamicWeight = d("check", "dynamic_weight",
		"Last weight a health check's probe reported for its real server (an exec check with dynamic_weight); absent if it never reported one.", chk...)
	for _, det := range checkDetails {
		c.checkDetail = append(c.checkDetail, d("check", det.name, det.help, chk...))
	}

	c.reconcileRuns = d("ipvs", "reconcile_runs_total",
		"Passes of the reconciler that makes the kernel's IPVS table match the desired one.")
	c.reconcileErrors = d("ipvs", "reconcile_errors_total",
		"Reconcile passes that failed, leaving the kernel's IPVS table possibly different from the desired one until a later pass succeeds.")
	c.reconcileChanges = d("ipvs", "reconcile_changes_total",
		"Kernel operations reconcile passes performed, by kind: service_create, service_update, service_delete, dest_create, dest_update, dest_delete.",
		"kind")
	c.driftRepaired = d("ipvs", "drift_repaired_total",
		"Kernel operations a reconcile pass performed to undo a change made to a vigil-owned service behind vigil's back (ipvsadm, another daemon).")
	c.reconcileLastDuration = d("ipvs", "reconcile_last_duration_seconds",
		"How long the last reconcile pass took; 0 before the first pass.")
	c.reconcileLastSuccess = d("ipvs", "reconcile_last_success_timestamp_seconds",
		"Unix time in seconds of the end of the last reconcile pass that succeeded; 0 if none has.")
	for _, k := range sortedKinds {
		c.kindLabels = append(c.kindLabels, []*dto.LabelPair{labelPair(kindName, k)})
	}
	return c
}

// Describe implements prometheus.Collector.
func (c *lbCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

// Collect implements prometheus.Collector. It exposes what referenceLB
// (lb_reference_test.go) does, from the label sets of the snapshot's
// layout.
func (c *lbCollector) Collect(ch chan<- prometheus.Metric) {
	snap := c.snapshot()
	l := c.layout.Load()
	if l == nil || !l.fits(&snap) {
		l = newLBLayout(&snap)
		c.layout.Store(l)
	}
	e := &emitter{ch: ch}
	e.gauge(c.ipvsUp, nil, boolValue(snap.IPVSUp))

	for _, vl := range l.vsInfo {
		e.gauge(c.vsInfo, vl, 1)
	}
	for i := range l.vsSeries {
		c.collectVirtualServer(e, &l.vsSeries[i], &snap)
	}
	for _, sl := range l.sorryInfo {
		e.gauge(c.vsSorryInfo, sl, 1)
	}
	for i := range l.rsSeries {
		c.collectRealServer(e, &l.rsSeries[i], &snap)
	}
	for i := range l.checkSeries {
		c.collectCheck(e, &l.checkSeries[i], &snap.Checks[l.checkSeries[i].check])
	}
	c.collectReconcile(e, &snap.Reconcile)
}

func (c *lbCollector) collectVirtualServer(e *emitter, vl *vsSeries, snap *LBSnapshot) {
	vs, labels := &snap.VirtualServers[vl.vs], vl.labels
	// Without IPVS nothing is in the kernel, whatever the snapshot says.
	inKernel := snap.IPVSUp && vs.InKernel
	e.gauge(c.vsInKernel, labels, boolValue(inKernel))
	e.gauge(c.vsQuorumUp, labels, boolValue(vs.Status.QuorumUp))
	e.gauge(c.vsSorryActive, labels, boolValue(vs.Status.SorryActive))
	e.gauge(c.vsRealServers, labels, float64(vs.Status.RealServers))
	e.gauge(c.vsRealServersUp, labels, float64(vs.Status.RealServersUp))
	e.gauge(c.vsAliveWeight, labels, float64(vs.Status.AliveWeight))
	if inKernel {
		c.collectStats(e, c.vsStats, labels, vs.Stats)
	}
}

func (c *lbCollector) collectRealServer(e *emitter, rl *rsSeries, snap *LBSnapshot) {
	vs := &snap.VirtualServers[rl.vs]
	r, labels := &vs.RealServers[rl.rs], rl.labels
	inKernel := snap.IPVSUp && vs.InKernel && r.InKernel
	e.gauge(c.rsInKernel, labels, boolValue(inKernel))
	e.gauge(c.rsConfiguredWeight, labels, float64(r.ConfiguredWeight))
	e.gauge(c.rsUp, labels, boolValue(r.Up))
	e.gauge(c.rsDrained, labels, boolValue(r.Drained))
	if !inKernel {
		return
	}
	e.gauge(c.rsWeight, labels, float64(r.KernelWeight))
	e.gauge(c.rsActiveConns, labels, float64(r.Stats.ActiveConnections))
	e.gauge(c.rsInactiveConns, labels, float64(r.Stats.InactiveConnections))
	e.gauge(c.rsPersistentConns, labels, float64(r.Stats.PersistentConnections))
	c.collectStats(e, c.rsStats, labels, r.Stats.Stats)
}

func (c *lbCollector) collectStats(e *emitter, d statDescs, labels []*dto.LabelPair, s ipvs.Stats) {
	e.counter(d.connections, labels, float64(s.Connections))
	e.counter(d.packetsIn, labels, float64(s.PacketsIn))
	e.counter(d.packetsOut, labels, float64(s.PacketsOut))
	e.counter(d.bytesIn, labels, float64(s.BytesIn))
	e.counter(d.bytesOut, labels, float64(s.BytesOut))
}

func (c *lbCollector) collectCheck(e *emitter, cl *checkSeries, s *check.Snapshot) {
	labels := cl.labels
	e.gauge(c.checkUp, labels, boolValue(s.Up))
	c.collectCheckResults(e, cl, s)
	e.gauge(c.checkLastDuration, labels, s.LastDuration.Seconds())
	e.gauge(c.checkLastAttempt, labels, timestampValue(s.LastCheck))
	e.gauge(c.checkConsecFail, labels, float64(s.ConsecutiveFailures))
	e.counter(c.checkRetries, labels, float64(s.Retries))
	e.counter(c.checkTransitions, labels, float64(s.Transitions))
	e.counter(c.checkSkippedRuns, labels, float64(s.SkippedRuns))
	if s.Weight != nil {
		e.gauge(c.checkDynamicWeight, labels, float64(*s.Weight))
	}
	if len(s.Detail) == 0 {
		return
	}
	for i, det := range checkDetails {
		if v, ok := s.Detail[det.key]; ok {
			e.gauge(c.checkDetail[i], labels, v)
		}
	}
}

// collectCheckResults sends vigil_check_results_total for s: a series for
// every result in checkResults, zero included, and one for any other
// result s.Results holds.
func (c *lbCollector) collectCheckResults(e *emitter, cl *checkSeries, s *check.Snapshot) {
	found := 0
	for k, r := range sortedResults {
		n, ok := s.Results[r]
		if ok {
			found++
		}
		e.counter(c.checkResults, cl.results[k], float64(n))
	}
	if len(s.Results) == found {
		return
	}
	for r, n := range s.Results {
		if !slices.Contains(checkResults, r) {
			l := cl.labels // check, check_id, real_server, virtual_server
			e.counter(c.checkResults, []*dto.LabelPair{l[0], l[1], l[2], labelPair(resultName, r), l[3]}, float64(n))
		}
	}
}

func (c *lbCollector) collectReconcile(e *emitter, r *ReconcileStats) {
	e.counter(c.reconcileRuns, nil, float64(r.Runs))
	e.counter(c.reconcileErrors, nil, float64(r.Errors))
	for i, k := range sortedKinds {
		e.counter(c.reconcileChanges, c.kindLabels[i], float64(r.Changes[k]))
	}
	for k, n := range r.Changes {
		if !slices.Contains(reconcileKinds, k) {
			e.counter(c.reconcileChanges, []*dto.LabelPair{labelPair(kindName, k)}, float64(n))
		}
	}
	e.counter(c.driftRepaired, nil, float64(r.DriftRepaired))
	e.gauge(c.reconcileLastDuration, nil, r.LastDuration.Seconds())
	e.gauge(c.reconcileLastSuccess, nil, timestampValue(r.LastSuccess))
}
