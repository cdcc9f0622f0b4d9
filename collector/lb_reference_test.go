package collector

import (
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-lb/vigil/check"
	"github.com/vigil-lb/vigil/ipvs"
)

// referenceLB is the load-balancing collector as it was before Collect
// cached its labels (collector/lb.go of b6a8857): one
// prometheus.MustNewConstMetric per series, label values built on every
// scrape. It is kept, verbatim but for the receiver, as the specification
// lb.go's faster Collect must match series for series
// (TestLBMatchesReference). It uses the descriptors of
// NewLB's collector, so names, help texts and label names are held by
// testdata/lb.prom, testdata/lb_mid.prom.gz and docs/metrics.md instead.
type referenceLB struct {
	*lbCollector
}

func newReferenceLB(snapshot func() LBSnapshot) prometheus.Collector {
	return referenceLB{NewLB(snapshot).(*lbCollector)}
}

// Collect implements prometheus.Collector.
func (c referenceLB) Collect(ch chan<- prometheus.Metric) {
	snap := c.snapshot()
	ch <- gauge(c.ipvsUp, boolValue(snap.IPVSUp))

	// owner maps a check ID to the real server whose CheckIDs list it; a
	// check listed twice belongs to the first.
	type rsRef struct{ vs, rs string }
	owner := map[string]rsRef{}
	for i := range snap.VirtualServers {
		vs := &snap.VirtualServers[i]
		c.collectVirtualServer(ch, vs, snap.IPVSUp)
		for _, r := range vs.RealServers {
			for _, id := range r.CheckIDs {
				if _, ok := owner[id]; !ok {
					owner[id] = rsRef{vs.Name, r.Address}
				}
			}
		}
	}
	for i := range snap.Checks {
		s := &snap.Checks[i]
		// A check no real server lists is still exposed, with empty
		// virtual_server and real_server: it runs, so its state counts.
		o := owner[s.ID]
		c.collectCheck(ch, s, o.vs, o.rs)
	}
	c.collectReconcile(ch, &snap.Reconcile)
}

func (c referenceLB) collectVirtualServer(ch chan<- prometheus.Metric, vs *VirtualServerState, ipvsUp bool) {
	name, svc := vs.Name, vs.Key.String()
	sched := vs.Scheduler
	if sched == "" {
		sched = ipvs.DefaultScheduler
	}
	ch <- gauge(c.vsInfo, 1, name, svc, vs.Key.Family.String(), sched)
	// Without IPVS nothing is in the kernel, whatever the snapshot says.
	inKernel := ipvsUp && vs.InKernel
	ch <- gauge(c.vsInKernel, boolValue(inKernel), name, svc)
	ch <- gauge(c.vsQuorumUp, boolValue(vs.Status.QuorumUp), name, svc)
	ch <- gauge(c.vsSorryActive, boolValue(vs.Status.SorryActive), name, svc)
	ch <- gauge(c.vsRealServers, float64(vs.Status.RealServers), name, svc)
	ch <- gauge(c.vsRealServersUp, float64(vs.Status.RealServersUp), name, svc)
	ch <- gauge(c.vsAliveWeight, float64(vs.Status.AliveWeight), name, svc)
	if inKernel {
		c.collectStats(ch, c.vsStats, vs.Stats, name, svc)
	}

	// The sorry server may share its address with a real server; the
	// kernel then holds one destination for both (ipvs.Desired), and so
	// do the per-real-server series: the real server's entry wins.
	var realAddrs []string
	for _, r := range vs.RealServers {
		if !r.Sorry {
			realAddrs = append(realAddrs, r.Address)
		}
	}
	var done []string
	for i := range vs.RealServers {
		r := &vs.RealServers[i]
		if r.Sorry {
			ch <- gauge(c.vsSorryInfo, 1, name, r.Address)
			if slices.Contains(realAddrs, r.Address) {
				continue
			}
		}
		if slices.Contains(done, r.Address) {
			continue // listed twice: one set of series
		}
		done = append(done, r.Address)
		c.collectRealServer(ch, r, name, inKernel && r.InKernel)
	}
}

func (c referenceLB) collectRealServer(ch chan<- prometheus.Metric, r *RealServerState, vs string, inKernel bool) {
	ch <- gauge(c.rsInKernel, boolValue(inKernel), vs, r.Address)
	ch <- gauge(c.rsConfiguredWeight, float64(r.ConfiguredWeight), vs, r.Address)
	ch <- gauge(c.rsUp, boolValue(r.Up), vs, r.Address)
	ch <- gauge(c.rsDrained, boolValue(r.Drained), vs, r.Address)
	if !inKernel {
		return
	}
	ch <- gauge(c.rsWeight, float64(r.KernelWeight), vs, r.Address)
	ch <- gauge(c.rsActiveConns, float64(r.Stats.ActiveConnections), vs, r.Address)
	ch <- gauge(c.rsInactiveConns, float64(r.Stats.InactiveConnections), vs, r.Address)
	ch <- gauge(c.rsPersistentConns, float64(r.Stats.PersistentConnections), vs, r.Address)
	c.collectStats(ch, c.rsStats, r.Stats.Stats, vs, r.Address)
}

func (c referenceLB) collectStats(ch chan<- prometheus.Metric, d statDescs, s ipvs.Stats, labels ...string) {
	ch <- counter(d.connections, float64(s.Connections), labels...)
	ch <- counter(d.packetsIn, float64(s.PacketsIn), labels...)
	ch <- counter(d.packetsOut, float64(s.PacketsOut), labels...)
	ch <- counter(d.bytesIn, float64(s.BytesIn), labels...)
	ch <- counter(d.bytesOut, float64(s.BytesOut), labels...)
}

func (c referenceLB) collectCheck(ch chan<- prometheus.Metric, s *check.Snapshot, vs, rs string) {
	l := []string{vs, rs, s.Type, s.ID}
	ch <- gauge(c.checkUp, boolValue(s.Up), l...)
	for _, r := range checkResults {
		ch <- counter(c.checkResults, float64(s.Results[r]), append(l, r)...)
	}
	for r, n := range s.Results {
		if !slices.Contains(checkResults, r) {
			ch <- counter(c.checkResults, float64(n), append(l, r)...)
		}
	}
	ch <- gauge(c.checkLastDuration, s.LastDuration.Seconds(), l...)
	ch <- gauge(c.checkLastAttempt, timestampValue(s.LastCheck), l...)
	ch <- gauge(c.checkConsecFail, float64(s.ConsecutiveFailures), l...)
	ch <- counter(c.checkRetries, float64(s.Retries), l...)
	ch <- counter(c.checkTransitions, float64(s.Transitions), l...)
	ch <- counter(c.checkSkippedRuns, float64(s.SkippedRuns), l...)
	if s.Weight != nil {
		ch <- gauge(c.checkDynamicWeight, float64(*s.Weight), l...)
	}
	for i, det := range checkDetails {
		if v, ok := s.Detail[det.key]; ok {
			ch <- gauge(c.checkDetail[i], v, l...)
		}
	}
}

func (c referenceLB) collectReconcile(ch chan<- prometheus.Metric, r *ReconcileStats) {
	ch <- counter(c.reconcileRuns, float64(r.Runs))
	ch <- counter(c.reconcileErrors, float64(r.Errors))
	for _, k := range reconcileKinds {
		ch <- counter(c.reconcileChanges, float64(r.Changes[k]), k)
	}
	for k, n := range r.Changes {
		if !slices.Contains(reconcileKinds, k) {
			ch <- counter(c.reconcileChanges, float64(n), k)
		}
	}
	ch <- counter(c.driftRepaired, float64(r.DriftRepaired))
	ch <- gauge(c.reconcileLastDuration, r.LastDuration.Seconds())
	ch <- gauge(c.reconcileLastSuccess, timestampValue(r.LastSuccess))
}
