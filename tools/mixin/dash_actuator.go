package mixin

import (
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

func actuatorDashboard() *board {
	d := newBoard("vigil-actuator", "vigil / Actuator",
		"What vigil's actuator did on the selected directors: actions by source and result, guard "+
			"refusals, operator overrides in place, and the Alertmanager webhook.")
	d.standardAnnotations("")

	d.row("Actions")
	d.timeseries(panel{title: "Actions by action and result", description: "Actions carried out per interval (drain, undrain, weight, failover), by result.",
		unit: "short", width: 12, height: 8,
		targets: []target{t(`
			sum by (action, result) (
			  increase(vigil_actuator_actions_total{SEL}[$__rate_interval])
			) > 0`, "{{action}} {{result}}")}}, bars)
	d.timeseries(panel{title: "Audit trail rate by source", description: "Actions per second by where they came from (Alertmanager webhook or an operator's command): every one is written to the audit log.",
		unit: "ops", width: 12, height: 8,
		targets: []target{t(`
			sum by (source) (
			  rate(vigil_actuator_actions_total{SEL}[$__rate_interval])
			)`, "{{source}}")}})
	d.timeseries(panel{title: "Guard refusals", description: "Actions a guard refused because carrying them out would have been unsafe, by guard (VigilActuatorGuardRefusals).",
		unit: "short", width: 12, height: 8,
		targets: []target{t(`
			sum by (instance, guard) (
			  increase(vigil_actuator_guard_refusals_total{SEL}[$__rate_interval])
			) > 0`, "{{instance}} {{guard}}")}}, bars)
	d.timeseries(panel{title: "Webhook requests", description: "Alertmanager webhook requests per second by status code: 4xx are not retried, 5xx are.",
		unit: "reqps", width: 12, height: 8,
		targets: []target{t(`
			sum by (code) (
			  rate(vigil_actuator_webhook_requests_total{SEL}[$__rate_interval])
			)`, "{{code}}")}})

	d.row("Overrides")
	d.stat(panel{title: "Active overrides", description: "Overrides in place now, by kind.",
		unit: "none", width: 6, height: 8,
		targets: []target{t(`sum by (kind) (vigil_actuator_overrides{SEL})`, "{{kind}}")}},
		func(b *stat.PanelBuilder) { b.Thresholds(thresholds("green", 1, "orange")) })
	d.timeseries(panel{title: "Oldest override age", description: "Age of the oldest active override of each kind on each director; VigilActuatorOverrideHeldTooLong fires above " + human(DefaultConfig().OverrideMaxAge) + " by default.",
		unit: "s", width: 18, height: 8,
		targets: []target{t(`vigil_actuator_override_age_seconds{SEL}`, "{{instance}} {{kind}}")}},
		func(b *timeseries.PanelBuilder) { b.Min(0) })
	d.table(panel{title: "Drained real servers", description: "Real servers an operator override drains now.",
		unit: "none", width: 12, height: 8,
		targets: []target{instantTable(`vigil_ipvs_real_server_drained{SEL} == 1`)}},
		"Drained", "job", "Value")
	d.table(panel{title: "Weights changed", description: "Real servers whose kernel weight differs from the configured weight (an override, a dynamic weight, a drain or an inhibited failure); the value is the kernel weight.",
		unit: "none", width: 12, height: 8,
		targets: []target{instantTable(`
			vigil_ipvs_real_server_weight{SEL}
			  != on (job, instance, virtual_server, real_server)
			vigil_ipvs_real_server_configured_weight{SEL}`)}},
		"Kernel weight", "job")
	return d
}
