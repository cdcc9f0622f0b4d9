package actuator

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func testCounter(c prometheus.Collector) float64 { return testutil.ToFloat64(c) }

// TestMetrics drives the actuator through every result and compares the
// whole exposition.
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
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
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
