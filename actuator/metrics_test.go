package actuator

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
)

func testCounter(c prometheus.Collector) float64 { return testutil.ToFloat64(c) }

// TestMetrics drives the actuator through every result and compares the
// whole exposition, leaving out the action and webhook series that are
// still 0 (TestMetricsStartAtZero covers those).
func TestMetrics(t *testing.T) {
	h := newHarness(t)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(h.a.Collector())

	h.post(payload(lag("firing", "10.0.0.1:3306")))                                                                         // applied
	h.post(payload(lag("firing", "10.0.0.1:3306")))                                                                         // noop (re-sent)
	h.post(payload(lag("firing", "10.0.0.9:3306")))                                                                         // failed, 422
	h.do(h.a.WebhookHandler(), "POST", WebhookPath, payload(), "", nil)                                                     // 401
	h.api("POST", "/api/v1/failover", `{"vrrp_instance": "VI_1", "dry_run": true}`, map[string]string{HeaderSource: "cli"}) // dry_run
	h.advance(time.Minute)
	h.api("POST", "/api/v1/hold", `{"vrrp_instance": "VI_2"}`, nil) // applied; 2 overrides now
	h.api("POST", "/api/v1/hold", `{"vrrp_instance": "VI_1"}`, nil) // refused: max_concurrent
	h.advance(30 * time.Second)                                     // the drain is 90s old, the hold 30s

	want := `
# HELP vigil_actuator_actions_total Actions the actuator decided on, by action, source (webhook, api, cli) and result (applied, refused, dry_run, failed, noop). Alertmanager's re-sends count as noop.
# TYPE vigil_actuator_actions_total counter
vigil_actuator_actions_total{action="drain",result="applied",source="webhook"} 1
vigil_actuator_actions_total{action="drain",result="failed",source="webhook"} 1
vigil_actuator_actions_total{action="drain",result="noop",source="webhook"} 1
vigil_actuator_actions_total{action="failover",result="dry_run",source="cli"} 1
vigil_actuator_actions_total{action="hold",result="applied",source="api"} 1
vigil_actuator_actions_total{action="hold",result="refused",source="api"} 1
# HELP vigil_actuator_api_requests_total Actuator API requests, by HTTP status code.
# TYPE vigil_actuator_api_requests_total counter
vigil_actuator_api_requests_total{code="200"} 2
vigil_actuator_api_requests_total{code="409"} 1
# HELP vigil_actuator_audit_write_errors_total Audit records that could not be written and synced.
# TYPE vigil_actuator_audit_write_errors_total counter
vigil_actuator_audit_write_errors_total 0
# HELP vigil_actuator_guard_refusals_total Actions refused by a guard (min_healthy, max_concurrent, cooldown, rate_limit), including undos deferred by the cooldown.
# TYPE vigil_actuator_guard_refusals_total counter
vigil_actuator_guard_refusals_total{guard="cooldown"} 0
vigil_actuator_guard_refusals_total{guard="max_concurrent"} 1
vigil_actuator_guard_refusals_total{guard="min_healthy"} 0
vigil_actuator_guard_refusals_total{guard="rate_limit"} 0
# HELP vigil_actuator_override_age_seconds Age of the oldest active override of each kind (since it got its value and owner); absent without one.
# TYPE vigil_actuator_override_age_seconds gauge
vigil_actuator_override_age_seconds{kind="drain"} 90
vigil_actuator_override_age_seconds{kind="hold"} 30
# HELP vigil_actuator_overrides Active overrides, by kind (drain, weight, hold).
# TYPE vigil_actuator_overrides gauge
vigil_actuator_overrides{kind="drain"} 1
vigil_actuator_overrides{kind="hold"} 1
vigil_actuator_overrides{kind="weight"} 0
# HELP vigil_actuator_webhook_requests_total Alertmanager webhook requests, by HTTP status code.
# TYPE vigil_actuator_webhook_requests_total counter
vigil_actuator_webhook_requests_total{code="200"} 2
vigil_actuator_webhook_requests_total{code="401"} 1
vigil_actuator_webhook_requests_total{code="422"} 1
`
	if err := testutil.GatherAndCompare(withoutZeros(reg, "vigil_actuator_actions_total", "vigil_actuator_webhook_requests_total"), strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}

	// Removing the overrides removes their ages.
	h.api("POST", "/api/v1/undrain", `{"virtual_server": "db", "real_server": "10.0.0.1:3306"}`, nil)
	h.a.Handle(context.Background(), Request{Action: ActionRelease, Target: Target{VRRPInstance: "VI_2"}, Source: SourceAPI})
	if n, err := testutil.GatherAndCount(reg, "vigil_actuator_override_age_seconds"); err != nil || n != 0 {
		t.Errorf("override age series without overrides: %d %v", n, err)
	}
}

// initialisedFamilies are the labelled counters whose every series exists
// at 0 from the start.
var initialisedFamilies = []string{
	"vigil_actuator_actions_total",
	"vigil_actuator_guard_refusals_total",
	"vigil_actuator_webhook_requests_total",
}

// wantSeries returns, for each of initialisedFamilies, the label sets
// (rendered by labelString) it must have from the start.
func wantSeries() map[string][]string {
	var actions, guards, codes []string
	for _, a := range Actions {
		for _, s := range Sources {
			for _, r := range Results {
				actions = append(actions, fmt.Sprintf("action=%q,result=%q,source=%q", a, r, s))
			}
		}
	}
	for _, g := range Guards {
		guards = append(guards, fmt.Sprintf("guard=%q", g))
	}
	for _, c := range webhookCodes {
		codes = append(codes, fmt.Sprintf("code=%q", strconv.Itoa(c)))
	}
	return map[string][]string{
		"vigil_actuator_actions_total":          actions,
		"vigil_actuator_guard_refusals_total":   guards,
		"vigil_actuator_webhook_requests_total": codes,
	}
}

// labelString renders m's labels as name="value" pairs sorted by name, as
// the exposition does.
func labelString(m *dto.Metric) string {
	var parts []string
	for _, l := range m.GetLabel() {
		parts = append(parts, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
	}
	return strings.Join(parts, ",")
}

// gatherFamilies gathers m and returns the series of initialisedFamilies,
// label sets to values. It leaves out action series of a request with an
// action or source that is not in Actions and Sources: Handle refuses such
// a request as invalid and counts it under its own labels, and only a Go
// caller can make one (TestRequestValidation does).
func gatherFamilies(t *testing.T, m *metrics) map[string]map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(m)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]float64{}
	for _, mf := range mfs {
		if !slices.Contains(initialisedFamilies, mf.GetName()) {
			continue
		}
		out[mf.GetName()] = map[string]float64{}
		for _, s := range mf.GetMetric() {
			if !knownActionLabels(s) {
				continue
			}
			out[mf.GetName()][labelString(s)] = s.GetCounter().GetValue()
		}
	}
	return out
}

// knownActionLabels reports whether m's action and source labels, if it
// has them, are in Actions and Sources.
func knownActionLabels(m *dto.Metric) bool {
	for _, l := range m.GetLabel() {
		switch l.GetName() {
		case "action":
			if !slices.Contains(Actions, Action(l.GetValue())) {
				return false
			}
		case "source":
			if !slices.Contains(Sources, Source(l.GetValue())) {
				return false
			}
		}
	}
	return true
}

// wantOnlyInitialisedSeries fails t when one of initialisedFamilies has a
// series newMetrics did not create: a label value the code records that is
// missing from the list the initialisation reads (Actions, Sources,
// Results, Guards, webhookCodes), so that series would appear only at
// first use. Every harness checks its actuators with it when the test
// ends.
func wantOnlyInitialisedSeries(t *testing.T, m *metrics) {
	t.Helper()
	want := wantSeries()
	for name, series := range gatherFamilies(t, m) {
		for labels := range series {
			if !slices.Contains(want[name], labels) {
				t.Errorf("%s{%s} was not initialised at 0: add its label value to the list newMetrics reads (Actions, Sources, Results, Guards, webhookCodes)", name, labels)
			}
		}
	}
}

// TestMetricsStartAtZero checks that a new actuator exposes every series
// of initialisedFamilies at 0, so that increase() sees the first action and
// the first error answer.
func TestMetricsStartAtZero(t *testing.T) {
	h := newHarness(t)
	got := gatherFamilies(t, h.a.metrics)
	for name, labelSets := range wantSeries() {
		if len(got[name]) != len(labelSets) {
			t.Errorf("%s: %d series, want %d", name, len(got[name]), len(labelSets))
		}
		for _, labels := range labelSets {
			if v, ok := got[name][labels]; !ok || v != 0 {
				t.Errorf("%s{%s} = %v (present %v), want 0", name, labels, v, ok)
			}
		}
	}
	if n := len(got["vigil_actuator_actions_total"]); n != len(Actions)*len(Sources)*len(Results) {
		t.Errorf("vigil_actuator_actions_total: %d series", n)
	}
}

// withoutZeros gathers g without the series of the named families whose
// value is 0.
func withoutZeros(g prometheus.Gatherer, names ...string) prometheus.Gatherer {
	return prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		mfs, err := g.Gather()
		for _, mf := range mfs {
			if slices.Contains(names, mf.GetName()) {
				mf.Metric = slices.DeleteFunc(mf.Metric, func(m *dto.Metric) bool { return m.GetCounter().GetValue() == 0 })
			}
		}
		return mfs, err
	})
}
