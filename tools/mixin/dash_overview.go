package mixin

import (
	"fmt"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// vrrpStates are the values of the state label, in the order of the codes
// stateCode gives them (1 to 5).
var vrrpStates = []string{"init", "backup", "master", "fault", "stop"}

// stateCode turns the one-series-per-state metric (vigil_vrrp_instance_state
// or vigil_vrrp_instance_wanted_state) into one series per director and
// VRRP instance whose value codes the state, for state timelines.
func stateCode(metric, filter string) string {
	parts := make([]string, len(vrrpStates))
	for i, s := range vrrpStates {
		parts[i] = fmt.Sprintf(`%s{SEL%s,state="%s"} * %d`, metric, filter, s, i+1)
	}
	return "sum by (job, instance, vrrp_instance) (\n    " + strings.Join(parts, "\n  or ") + "\n)"
}

func stateMappings() []dashboard.ValueMapping {
	return valueMap(
		"1", "INIT", "purple",
		"2", "BACKUP", "blue",
		"3", "MASTER", "green",
		"4", "FAULT", "red",
		"5", "STOP", "#8e8e8e",
	)
}

func overviewDashboard() *board {
	d := newBoard("vigil-overview", "vigil / Overview",
		"The fleet of vigil directors at a glance: who is master of which VRRP instance, state changes, "+
			"and the health of virtual servers and real servers.")
	d.standardAnnotations("")

	d.row("Health at a glance")
	count := func(title, description, expr string) {
		d.stat(panel{title: title, description: description, unit: "none", width: 4, height: 4,
			targets: []target{t(expr, "")}}, zeroIsGood)
	}
	d.stat(panel{title: "Directors down", description: "vigil targets Prometheus failed to scrape.",
		unit: "none", width: 4, height: 4,
		targets: []target{t(`count(up{SEL} == 0) or vector(0)`, "")}}, zeroIsGood)
	count("VRRP instances without master",
		"VRRP instances no selected director is master of (VigilVRRPNoMaster).",
		`count(max by (job, vrrp_instance) (vigil_vrrp_instance_state{SEL,state="master"}) == 0) or vector(0)`)
	count("VRRP instances with split brain",
		"VRRP instances more than one director is master of (VigilVRRPSplitBrain).",
		`count(sum by (job, vrrp_instance) (vigil_vrrp_instance_state{SEL,state="master"}) > 1) or vector(0)`)
	count("VRRP instances in fault",
		"Director and VRRP instance pairs in FAULT (VigilVRRPInstanceFault).",
		`count(vigil_vrrp_instance_state{SEL,state="fault"} == 1) or vector(0)`)
	count("Real servers down",
		"Real servers failing their health checks, counted once per director that checks them.",
		`count(vigil_ipvs_real_server_up{SEL} == 0) or vector(0)`)
	count("Virtual servers without quorum",
		"Virtual servers below their quorum, served by their sorry server or refusing clients.",
		`count(vigil_ipvs_virtual_server_quorum_up{SEL} == 0) or vector(0)`)

	d.row("VRRP")
	d.table(panel{title: "Masters", description: "Each VRRP instance's master and the priority it advertises.",
		unit: "none", width: 8, height: 8,
		targets: []target{instantTable(`
			vigil_vrrp_instance_effective_priority{SEL}
			  and on (job, instance, vrrp_instance)
			vigil_vrrp_instance_state{SEL,state="master"} == 1`)}},
		"Priority", "job")
	d.timeline(panel{title: "VRRP state by director",
		description: "The state of every VRRP instance on every director over time.",
		unit:        "none", width: 16, height: 8,
		targets: []target{t(stateCode("vigil_vrrp_instance_state", ""), "{{vrrp_instance}} on {{instance}}")}},
		stateMappings())
	d.timeseries(panel{title: "Takeovers", description: "How often each VRRP instance changed master (transitions to MASTER, all directors).",
		unit: "short", width: 12, height: 8,
		targets: []target{t(`
			sum by (job, vrrp_instance) (
			  increase(vigil_vrrp_instance_transitions_total{SEL,to="master"}[$__rate_interval])
			)`, "{{vrrp_instance}}")}}, bars)
	d.timeseries(panel{title: "Dropped VRRP packets", description: "VRRP packets dropped per second, by director and reason.",
		unit: "pps", width: 12, height: 8,
		targets: []target{t(`
			sum by (instance, reason) (
			  rate(vigil_vrrp_instance_receive_errors_total{SEL}[$__rate_interval])
			) > 0`, "{{instance}} {{reason}}")}})

	d.row("Load balancing")
	d.timeseries(panel{title: "Real servers up", description: "Share of each virtual server's real servers passing their health checks, per director.",
		unit: "percentunit", width: 8, height: 8,
		targets: []target{t(`
			vigil_ipvs_virtual_server_real_servers_up{SEL}
			  / (vigil_ipvs_virtual_server_real_servers{SEL} > 0)`, "{{virtual_server}} on {{instance}}")}},
		func(b *timeseries.PanelBuilder) { b.Min(0).Max(1) })
	d.timeseries(panel{title: "New connections", description: "Connections the kernel scheduled per second, by virtual server (all directors).",
		unit: "cps", width: 8, height: 8,
		targets: []target{t(`
			sum by (virtual_server) (
			  rate(vigil_ipvs_virtual_server_connections_total{SEL}[$__rate_interval])
			)`, "{{virtual_server}}")}})
	d.timeseries(panel{title: "Traffic in", description: "Bytes per second from clients, by virtual server (all directors).",
		unit: "Bps", width: 8, height: 8,
		targets: []target{t(`
			sum by (virtual_server) (
			  rate(vigil_ipvs_virtual_server_incoming_bytes_total{SEL}[$__rate_interval])
			)`, "{{virtual_server}}")}})

	d.row("vigil")
	d.table(panel{title: "Versions", description: "Which vigil builds run, and on how many directors.",
		unit: "none", width: 12, height: 6,
		targets: []target{instantTable(`count by (version, revision, goversion) (vigil_build_info{SEL})`)}},
		"Directors")
	d.stat(panel{title: "Failed reloads", description: "Directors whose last configuration reload failed (VigilConfigReloadFailed).",
		unit: "none", width: 6, height: 6,
		targets: []target{t(`count(vigil_config_last_reload_successful{SEL} == 0) or vector(0)`, "")}}, zeroIsGood)
	d.stat(panel{title: "Active overrides", description: "Operator overrides (drains, weights, failovers) in place, by kind.",
		unit: "none", width: 6, height: 6,
		targets: []target{t(`sum by (kind) (vigil_actuator_overrides{SEL})`, "{{kind}}")}},
		func(b *stat.PanelBuilder) { b.Thresholds(thresholds("green", 1, "orange")) })
	return d
}
