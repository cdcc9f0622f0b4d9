package actuator

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the actuator's series. Counters are updated as things
// happen; the override gauges are computed at scrape time from the
// published overrides and the clock, without I/O or locks.
type metrics struct {
	actions     *prometheus.CounterVec
	refusals    *prometheus.CounterVec
	webhook     *prometheus.CounterVec
	api         *prometheus.CounterVec
	auditErrors prometheus.Counter

	overrides *prometheus.Desc
	age       *prometheus.Desc
	snapshot  func() []Override
	now       func() time.Time
}

func newMetrics(snapshot func() []Override, now func() time.Time) *metrics {
	m := &metrics{
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_actuator_actions_total",
			Help: "Actions the actuator decided on, by action, source (webhook, api, cli) and result (applied, refused, dry_run, failed, noop). Alertmanager's re-sends count as noop.",
		}, []string{"action", "source", "result"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_actuator_guard_refusals_total",
			Help: "Actions refused by a guard (min_healthy, max_concurrent, cooldown, rate_limit), including undos deferred by the cooldown.",
		}, []string{"guard"}),
		webhook: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_actuator_webhook_requests_total",
			Help: "Alertmanager webhook requests, by HTTP status code.",
		}, []string{"code"}),
		api: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_actuator_api_requests_total",
			Help: "Actuator API requests, by HTTP status code.",
		}, []string{"code"}),
		auditErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_actuator_audit_write_errors_total",
			Help: "Audit records that could not be written and synced.",
		}),
		overrides: prometheus.NewDesc("vigil_actuator_overrides",
			"Active overrides, by kind (drain, weight, hold).", []string{"kind"}, nil),
		age: prometheus.NewDesc("vigil_actuator_override_age_seconds",
			"Age of the oldest active override of each kind (since it got its value and owner); absent without one.", []string{"kind"}, nil),
		snapshot: snapshot,
		now:      now,
	}
	// Every series these counters can have starts at 0, so that increase()
	// and rate() see the first action, refusal or error answer too. The
	// label values come from the lists that define them (Actions, Sources,
	// Results, Guards, webhookCodes); the tests fail when the code counts
	// a value that is not in them.
	for _, a := range Actions {
		for _, s := range Sources {
			for _, r := range Results {
				m.actions.WithLabelValues(string(a), string(s), string(r))
			}
		}
	}
	for _, g := range Guards {
		m.refusals.WithLabelValues(string(g))
	}
	for _, c := range webhookCodes {
		m.webhook.WithLabelValues(strconv.Itoa(c))
	}
	return m
}

// Collector returns the actuator's metrics, to be registered once.
func (a *Actuator) Collector() prometheus.Collector { return a.metrics }

// Describe implements prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	m.actions.Describe(ch)
	m.refusals.Describe(ch)
	m.webhook.Describe(ch)
	m.api.Describe(ch)
	m.auditErrors.Describe(ch)
	ch <- m.overrides
	ch <- m.age
}

// Collect implements prometheus.Collector.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	m.actions.Collect(ch)
	m.refusals.Collect(ch)
	m.webhook.Collect(ch)
	m.api.Collect(ch)
	m.auditErrors.Collect(ch)
	count := map[OverrideKind]int{}
	oldest := map[OverrideKind]time.Time{}
	for _, o := range m.snapshot() {
		count[o.Kind]++
		if t, ok := oldest[o.Kind]; !ok || o.Since.Before(t) {
			oldest[o.Kind] = o.Since
		}
	}
	now := m.now()
	for _, k := range Kinds {
		ch <- prometheus.MustNewConstMetric(m.overrides, prometheus.GaugeValue, float64(count[k]), string(k))
		if t, ok := oldest[k]; ok {
			ch <- prometheus.MustNewConstMetric(m.age, prometheus.GaugeValue, max(now.Sub(t).Seconds(), 0), string(k))
		}
	}
}
