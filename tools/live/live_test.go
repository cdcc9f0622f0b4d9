package live

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql/parser"

	"github.com/vigil-lb/vigil/check/mariadbtest"
	"github.com/vigil-lb/vigil/internal/lab"
)

// A crashed master while the only backup of VI_1 is in FAULT: VI_1 has no
// master, so VigilVRRPNoMaster{vrrp_instance="VI_1"} fires after its
// `for:`, and VigilTargetDown for the crashed director after its own
// (VI_2 keeps a master and stays quiet). Restoring both resolves them.
func TestAlertsNoMasterAndTargetDown(t *testing.T) {
	liveTest(t)
	s := newStack(t)
	noMasterFor, downFor, faultFor := s.forOf("VigilVRRPNoMaster"), s.forOf("VigilTargetDown"), s.forOf("VigilVRRPInstanceFault")
	vi1 := map[string]string{"job": "vigil", "vrrp_instance": "VI_1"}
	vi2 := map[string]string{"job": "vigil", "vrrp_instance": "VI_2"}
	d1Down := map[string]string{"job": "vigil", "instance": s.d1.target()}
	d2Fault := map[string]string{"job": "vigil", "instance": s.d2.target(), "vrrp_instance": "VI_1"}
	s.waitAlert("VigilVRRPNoMaster", vi1, "", time.Now(), 0, alertMargin) // quiet before the fault

	s.d2.setHealthy("VI_1", false)
	faulted := time.Now()
	s.waitState("VI_1", s.d2, "fault", vrrpSettle+alertMargin)
	s.d1.kill()
	killed := time.Now()

	fault := &expectation{Name: "VigilVRRPInstanceFault", Want: d2Fault, State: "firing",
		Start: faulted, Since: "director2's VI_1 file went", Min: faultFor, Bound: faultFor + vrrpSettle + alertMargin}
	noMaster := &expectation{Name: "VigilVRRPNoMaster", Want: vi1, State: "firing",
		Start: killed, Since: "the kill", Min: noMasterFor, Bound: noMasterFor + alertMargin}
	down := &expectation{Name: "VigilTargetDown", Want: d1Down, State: "firing",
		Start: killed, Since: "the kill", Min: downFor, Bound: downFor + alertMargin}
	s.waitAlerts(fault, noMaster, down)
	for _, e := range []*expectation{fault, noMaster, down} {
		t.Logf("%s fired %v after %s (for: %v, bound %v): %v",
			selectorString(e.Name, e.Want), e.Took.Round(time.Millisecond), e.Since, e.Min, e.Bound, e.Alert)
	}
	if st, a, err := s.alertState("VigilVRRPNoMaster", vi2); err != nil || st == "firing" {
		t.Errorf("VI_2 has a master (director2), yet VigilVRRPNoMaster for it is %s (%v, %v)", stateName(st), a, err)
	}

	s.d2.setHealthy("VI_1", true)
	restored := time.Now()
	s.d1.start()
	bound := startSettle + vrrpSettle + alertMargin
	var resolved []*expectation
	for _, e := range []*expectation{fault, noMaster, down} {
		resolved = append(resolved, &expectation{Name: e.Name, Want: e.Want, State: "", Start: restored, Bound: bound})
	}
	s.waitAlerts(resolved...)
	for _, e := range resolved {
		t.Logf("%s resolved %v after the restore (bound %v)", selectorString(e.Name, e.Want), e.Took.Round(time.Millisecond), e.Bound)
	}
	s.waitMaster("VI_1", s.d1, startSettle)
}

// Every rule of the rules file loads and evaluates cleanly against live
// vigils, and every alert expression and dashboard query evaluates through
// /api/v1/query; dashboard queries return data unless they read IPVS
// kernel series or are listed in allowedEmpty (filtered ones must return
// data without their filter).
func TestRulesAndDashboardsEvaluate(t *testing.T) {
	liveTest(t)
	mariadbtest.Require(t)
	s := newStackWith(t, stackOptions{mysql: true})

	// Events for the queries that show changes (annotations, transitions):
	// a configuration reload on director1, and VI_1 failing over to
	// director2 and back, after a few scrapes of the steady state so that
	// changes() and increase() see them.
	time.Sleep(3 * scrapeInterval)
	s.d1.reload("reloaded by TestRulesAndDashboardsEvaluate")
	s.d1.setHealthy("VI_1", false)
	s.waitState("VI_1", s.d1, "fault", vrrpSettle+alertMargin)
	s.waitMaster("VI_1", s.d2, vrrpSettle+alertMargin)
	s.d1.setHealthy("VI_1", true)
	s.waitMaster("VI_1", s.d1, vrrpSettle+alertMargin)
	s.waitQuery(alertMargin, fmt.Sprintf(`changes(vigil_config_hash{job="vigil",instance=%q}[1m]) > 0`, s.d1.target()),
		"Prometheus to see director1's new configuration hash")

	m := s.monitored()
	t.Run("rules", func(t *testing.T) { checkRules(t, m) })
	t.Run("queries", func(t *testing.T) { checkQueries(t, m) })
}

// monitored is what checkRules and checkQueries read: a Prometheus that
// scrapes vigil and evaluates the rules file, and what it should see.
type monitored struct {
	prom *promAPI
	inv  *inventory
	// targets are vigil's scrape targets, the values the instance
	// variable must offer.
	targets []string
	// kernel is set where vigil programs a real IPVS table (the VM tier):
	// queries of IPVS kernel series must then return data, and only the
	// allowedEmpty entries marked InVM excuse an empty query.
	kernel bool
}

// monitored returns the stack's Prometheus, inventory and directors.
func (s *stack) monitored() *monitored {
	return &monitored{prom: s.prom, inv: s.inv, targets: []string{s.d1.target(), s.d2.target()}}
}

// checkRules waits until every rule group has been evaluated a couple of
// times with every target's data, then requires every rule of the rules
// file to be loaded, healthy and without error.
func checkRules(t *testing.T, s *monitored) {
	since := time.Now()
	var groups []ruleGroup
	lab.WaitFor(t, 10*evalInterval, func() bool {
		var err error
		if groups, err = s.prom.rules(); err != nil || len(groups) == 0 {
			return false
		}
		for _, g := range groups {
			if g.LastEvaluation.Before(since.Add(2 * evalInterval)) {
				return false
			}
		}
		return true
	}, "two evaluation cycles of every rule group")

	want := map[string]bool{}
	for _, g := range s.inv.Rules.Groups {
		for _, r := range g.Rules {
			want[g.Name+"/"+r.Alert+r.Record] = true
		}
	}
	n := 0
	for _, g := range groups {
		for _, r := range g.Rules {
			n++
			key := g.Name + "/" + r.Name
			if !want[key] {
				t.Errorf("Prometheus has rule %s, which %s does not (file %s)", key, rulesFile, g.File)
			}
			delete(want, key)
			if r.Health != "ok" || r.LastError != "" {
				t.Errorf("rule %s: health %q, last error %q", key, r.Health, r.LastError)
			}
		}
	}
	for key := range want {
		t.Errorf("rule %s of %s is not loaded", key, rulesFile)
	}
	t.Logf("%d rules in %d groups evaluated at least twice since every target was up", n, len(groups))
}

// checkQueries runs every query of the inventory.
func checkQueries(t *testing.T, s *monitored) {
	var data, empty, quietRules []string
	for _, q := range s.inv.Queries {
		r, err := s.prom.query(q.Expanded)
		if err != nil {
			t.Errorf("%s does not evaluate: %v\n  query: %s", q.Key, err, q.Expanded)
			continue
		}
		for _, w := range r.Warnings {
			t.Logf("%s: warning: %s", q.Key, w)
		}
		switch {
		case q.Rule:
			// A rule need not return data (alerts are quiet); note the
			// selectors that match nothing in the lab, for the report.
			if none := emptySelectors(s, q); len(none) > 0 {
				quietRules = append(quietRules, fmt.Sprintf("%s: %s", q.Key, strings.Join(none, ", ")))
			}
		case q.Label != "":
			checkVariable(t, s, q, r)
		case !r.empty():
			data = append(data, q.Key)
			if e, key, ok := s.emptyAllowance(q.Key); ok {
				t.Logf("%s returned data although allowedEmpty[%q] lets it be empty (%s)", q.Key, key, e.Why)
			}
		case q.Class == classKernel && !s.kernel:
			empty = append(empty, fmt.Sprintf("%s [kernel: reads %s]", q.Key, strings.Join(kernelMetrics(s.inv, q), ", ")))
		default:
			e, _, ok := s.emptyAllowance(q.Key)
			if !ok {
				t.Errorf("%s (%s) returned no data\n  query: %s", q.Key, q.Class, q.Expanded)
				continue
			}
			if e.Filtered {
				relaxed := relax(q.Parsed).String()
				rr, err := s.prom.query(relaxed)
				if err != nil || rr.empty() {
					t.Errorf("%s is empty, and still empty without its filter (%v)\n  query: %s", q.Key, err, relaxed)
					continue
				}
			}
			empty = append(empty, fmt.Sprintf("%s [%s: %s]", q.Key, q.Class, e.Why))
		}
	}
	t.Logf("%d dashboard queries returned data", len(data))
	t.Logf("%d dashboard queries evaluated but are allowed to be empty:\n  %s", len(empty), strings.Join(empty, "\n  "))
	t.Logf("rules with selectors that match no series here (they evaluate, and cannot fire here):\n  %s", strings.Join(quietRules, "\n  "))
}

// emptyAllowance is the package's emptyAllowance, restricted to the
// entries that hold in the lab or, in the VM tier, there.
func (s *monitored) emptyAllowance(key string) (emptyOK, string, bool) {
	e, k, ok := emptyAllowance(key)
	if ok && (s.kernel && !e.InVM || !s.kernel && e.VMOnly) {
		return emptyOK{}, "", false
	}
	return e, k, ok
}

// emptySelectors returns the series selectors of a query that match
// nothing in Prometheus.
func emptySelectors(s *monitored, q query) []string {
	var sels, none []string
	parser.Inspect(q.Parsed, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok && !slices.Contains(sels, vs.String()) {
			sels = append(sels, vs.String())
		}
		return nil
	})
	for _, sel := range sels {
		if r, err := s.prom.query(sel); err == nil && r.empty() {
			none = append(none, sel)
		}
	}
	return none
}

// checkVariable requires a label_values variable's selector to return
// series carrying the label, with the value the queries substitute for it
// among them.
func checkVariable(t *testing.T, s *monitored, q query, r result) {
	t.Helper()
	values := map[string]bool{}
	for _, smp := range r.Samples {
		if v := smp.Metric[q.Label]; v != "" {
			values[v] = true
		}
	}
	if len(values) == 0 {
		t.Errorf("%s: %s returns no series with label %s", q.Key, q.Expanded, q.Label)
		return
	}
	switch sub := substitutions[q.Label]; {
	case sub == "":
		t.Errorf("%s: no substitution for variable %s", q.Key, q.Label)
	case sub == ".+":
	case !values[sub]:
		t.Errorf("%s: values %v lack %q, the value the queries use", q.Key, values, sub)
	}
	if q.Label == "instance" {
		for _, target := range s.targets {
			if !values[target] {
				t.Errorf("%s: values %v lack target %s", q.Key, values, target)
			}
		}
	}
}

// kernelMetrics returns the kernel-only series a query reads.
func kernelMetrics(inv *inventory, q query) []string {
	return slices.DeleteFunc(slices.Clone(q.Metrics), func(m string) bool { return !inv.KernelOnly[m] })
}

// A crashed master with a healthy backup is a failover, not an outage:
// VigilVRRPNoMaster must not fire for any instance over its `for:` and a
// margin, although Prometheus sees the crash (VigilTargetDown pending) and
// may see no master for a scrape or two while director2 takes over.
func TestNoMasterQuietOnFailover(t *testing.T) {
	liveTest(t)
	s := newStack(t)
	noMasterFor := s.forOf("VigilVRRPNoMaster")
	anyInstance := map[string]string{"job": "vigil"}
	d1Down := map[string]string{"job": "vigil", "instance": s.d1.target()}
	s.waitAlert("VigilVRRPNoMaster", anyInstance, "", time.Now(), 0, alertMargin)

	s.d1.kill()
	killed := time.Now()
	took, _ := s.waitAlert("VigilTargetDown", d1Down, "pending", killed, 0, alertMargin)
	t.Logf("Prometheus saw director1 down after %v", took.Round(time.Millisecond))
	for _, vi := range vrrpInstances {
		s.waitMaster(vi, s.d2, vrrpSettle+alertMargin)
	}
	watch := noMasterFor + alertMargin
	seen := s.neverFiring("VigilVRRPNoMaster", anyInstance, watch-time.Since(killed))
	t.Logf("VigilVRRPNoMaster did not fire in the %v after the kill (polls by state: %v)", watch, seen)
	for _, vi := range vrrpInstances {
		expr := fmt.Sprintf(`job_vrrp_instance:vigil_vrrp_instance_state_master:sum{job="vigil",vrrp_instance=%q}`, vi)
		if v := s.scalar(expr); v != 1 {
			t.Errorf("%s = %v, want 1 (director2 alone)", expr, v)
		}
	}
}

// Partitioned directors both become master: VigilVRRPSplitBrain fires for
// VI_1 with value 2 after its `for:`, and resolves once the partition
// heals and director1 preempts director2 again.
func TestSplitBrainAlert(t *testing.T) {
	liveTest(t, "nft")
	s := newStack(t)
	splitFor := s.forOf("VigilVRRPSplitBrain")
	vi1 := map[string]string{"job": "vigil", "vrrp_instance": "VI_1"}
	s.waitAlert("VigilVRRPSplitBrain", vi1, "", time.Now(), 0, alertMargin)

	s.d1.host.Partition(s.d2.host)
	parted := time.Now()
	bound := splitFor + vrrpSettle + alertMargin
	took, a := s.waitAlert("VigilVRRPSplitBrain", vi1, "firing", parted, splitFor, bound)
	t.Logf("VigilVRRPSplitBrain{vrrp_instance=\"VI_1\"} fired %v after the partition (for: %v, bound %v): %v; summary %q",
		took.Round(time.Millisecond), splitFor, bound, a, a.Annotations["summary"])
	if v, err := strconv.ParseFloat(a.Value, 64); err != nil || v != 2 {
		t.Errorf("VigilVRRPSplitBrain value %q, want 2 masters (%v)", a.Value, err)
	}

	s.d1.host.Heal(s.d2.host)
	healed := time.Now()
	took, _ = s.waitAlert("VigilVRRPSplitBrain", vi1, "", healed, 0, vrrpSettle+alertMargin)
	t.Logf("VigilVRRPSplitBrain resolved %v after the heal (bound %v)", took.Round(time.Millisecond), vrrpSettle+alertMargin)
	for _, vi := range vrrpInstances {
		s.waitMaster(vi, s.d1, vrrpSettle+alertMargin)
	}
}

// Replication stopped on one MySQL dual master: its check reads the
// replica SQL thread stopped, so VigilMySQLReplicationStopped fires for that
// real server after its `for:` (and not for the other), and resolves when
// replication runs again.
func TestMySQLReplicationStoppedAlert(t *testing.T) {
	liveTest(t)
	mariadbtest.Require(t)
	s := newStackWith(t, stackOptions{mysql: true})
	stoppedFor := s.forOf("VigilMySQLReplicationStopped")
	a, b := s.mysql.A.Addr.String(), s.mysql.B.Addr.String()
	anyServer := map[string]string{"job": "vigil", "virtual_server": "mysql"}
	onB := map[string]string{"job": "vigil", "instance": s.d1.target(), "virtual_server": "mysql", "real_server": b}
	// A MySQL check runs every 500 ms: a change shows on /metrics within
	// one run and its connect timeout.
	const checkSettle = time.Second
	s.waitQuery(startSettle+alertMargin, fmt.Sprintf(`count(vigil_check_mysql_replica_sql_running{job="vigil",real_server=~%q} == 1) == 4`, a+"|"+b),
		"both directors to read both replicas running")
	s.waitAlert("VigilMySQLReplicationStopped", anyServer, "", time.Now(), 0, alertMargin) // quiet before the fault

	s.mysql.B.Exec(t, "STOP SLAVE SQL_THREAD")
	stopped := time.Now()
	took, al := s.waitAlert("VigilMySQLReplicationStopped", onB, "firing", stopped, stoppedFor, stoppedFor+checkSettle+alertMargin)
	t.Logf("%s fired %v after STOP SLAVE SQL_THREAD on %s (for: %v): %v; summary %q",
		selectorString("VigilMySQLReplicationStopped", onB), took.Round(time.Millisecond), b, stoppedFor, al, al.Annotations["summary"])
	if st, other, err := s.alertState("VigilMySQLReplicationStopped", map[string]string{"job": "vigil", "real_server": a}); err != nil || st != "" {
		t.Errorf("replication on %s runs, yet VigilMySQLReplicationStopped for it is %s (%v, %v)", a, stateName(st), other, err)
	}

	s.mysql.B.Exec(t, "START SLAVE SQL_THREAD")
	restarted := time.Now()
	took, _ = s.waitAlert("VigilMySQLReplicationStopped", anyServer, "", restarted, 0, checkSettle+alertMargin)
	t.Logf("VigilMySQLReplicationStopped resolved %v after START SLAVE SQL_THREAD", took.Round(time.Millisecond))
}
