package mixin

import (
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

func ipvsDashboard() *board {
	d := newBoard("vigil-ipvs", "vigil / Virtual servers",
		"IPVS virtual servers and their real servers on the selected directors: quorum, health, weights "+
			"configured and in the kernel, connections, traffic, health checks and the reconciler.",
		queryVar("virtual_server", "Virtual server",
			`label_values(vigil_ipvs_virtual_server_info{job=~"$job",instance=~"$instance"}, virtual_server)`, true),
		queryVar("real_server", "Real server",
			`label_values(vigil_ipvs_real_server_up{job=~"$job",instance=~"$instance",virtual_server=~"$virtual_server"}, real_server)`, true))
	const vs = `,virtual_server=~"$virtual_server"`
	const rs = vs + `,real_server=~"$real_server"`
	d.standardAnnotations("")

	d.row("Virtual servers")
	d.stat(panel{title: "Quorum", description: "Whether each virtual server has quorum on every selected director.",
		unit: "none", width: 6, height: 5,
		targets: []target{t(`min by (virtual_server) (vigil_ipvs_virtual_server_quorum_up{SEL`+vs+`})`, "{{virtual_server}}")}},
		func(b *stat.PanelBuilder) { b.Mappings(upDown("OK", "LOST")) })
	d.stat(panel{title: "Sorry server", description: "Whether a sorry server serves in place of the real servers on any selected director.",
		unit: "none", width: 6, height: 5,
		targets: []target{t(`max by (virtual_server) (vigil_ipvs_virtual_server_sorry_server_active{SEL`+vs+`})`, "{{virtual_server}}")}},
		func(b *stat.PanelBuilder) { b.Mappings(valueMap("0", "idle", "green", "1", "SERVING", "orange")) })
	d.stat(panel{title: "Real servers up", description: "Share of the configured real servers passing their checks, on the worst selected director.",
		unit: "percentunit", width: 6, height: 5,
		targets: []target{t(`
			min by (virtual_server) (
			  vigil_ipvs_virtual_server_real_servers_up{SEL`+vs+`}
			    / (vigil_ipvs_virtual_server_real_servers{SEL`+vs+`} > 0)
			)`, "{{virtual_server}}")}},
		func(b *stat.PanelBuilder) { b.Thresholds(thresholds("red", 1, "green")) })
	d.stat(panel{title: "In the kernel", description: "Whether each virtual server is in the kernel's IPVS table of every selected director.",
		unit: "none", width: 6, height: 5,
		targets: []target{t(`min by (virtual_server) (vigil_ipvs_virtual_server_in_kernel{SEL`+vs+`})`, "{{virtual_server}}")}},
		func(b *stat.PanelBuilder) { b.Mappings(upDown("yes", "NO")) })
	d.table(panel{title: "Virtual servers", description: "Service, address family and scheduler of each virtual server.",
		unit: "none", width: 24, height: 5,
		targets: []target{instantTable(`vigil_ipvs_virtual_server_info{SEL` + vs + `}`)}},
		"Info", "job", "Value")
	d.timeseries(panel{title: "Alive weight", description: "Sum of the effective weights of the real servers passing their checks: what is compared with the quorum.",
		unit: "none", width: 8, height: 8,
		targets: []target{t(`vigil_ipvs_virtual_server_alive_weight{SEL`+vs+`}`, "{{virtual_server}} on {{instance}}")}})
	d.timeseries(panel{title: "New connections", description: "Connections scheduled per second, per virtual server and director.",
		unit: "cps", width: 8, height: 8,
		targets: []target{t(`rate(vigil_ipvs_virtual_server_connections_total{SEL`+vs+`}[$__rate_interval])`, "{{virtual_server}} on {{instance}}")}})
	d.timeseries(panel{title: "Traffic", description: "Bytes per second from clients (in) and back to them (out; 0 with direct routing and tunnelling, where replies bypass the director).",
		unit: "Bps", width: 8, height: 8,
		targets: []target{
			t(`rate(vigil_ipvs_virtual_server_incoming_bytes_total{SEL`+vs+`}[$__rate_interval])`, "{{virtual_server}} on {{instance}} in"),
			t(`rate(vigil_ipvs_virtual_server_outgoing_bytes_total{SEL`+vs+`}[$__rate_interval])`, "{{virtual_server}} on {{instance}} out"),
		}})

	d.row("Real servers")
	d.timeline(panel{title: "Health", description: "Whether each real server passes all of its health checks (after rise/fall).",
		unit: "none", width: 12, height: 8,
		targets: []target{t(`vigil_ipvs_real_server_up{SEL`+rs+`}`, "{{virtual_server}} {{real_server}} on {{instance}}")}},
		upDown("up", "down"))
	d.timeline(panel{title: "Drained", description: "Real servers an operator override drains: weight 0, established connections finish.",
		unit: "none", width: 12, height: 8,
		targets: []target{t(`vigil_ipvs_real_server_drained{SEL`+rs+`}`, "{{virtual_server}} {{real_server}} on {{instance}}")}},
		valueMap("0", "in rotation", "green", "1", "drained", "orange"))
	d.timeseries(panel{title: "Weight: configured and in the kernel",
		description: "The configured weight and the kernel's: they differ under a dynamic weight, an override or a drain; the kernel's is absent while the server is out of the kernel's table.",
		unit:        "none", width: 12, height: 8,
		targets: []target{
			t(`vigil_ipvs_real_server_configured_weight{SEL`+rs+`}`, "{{real_server}} on {{instance}} configured"),
			t(`vigil_ipvs_real_server_weight{SEL`+rs+`}`, "{{real_server}} on {{instance}} kernel"),
		}})
	d.timeseries(panel{title: "Share of new connections", description: "Each real server's share of its virtual server's new connections.",
		unit: "percentunit", width: 12, height: 8,
		targets: []target{t(`
			sum by (job, instance, virtual_server, real_server) (
			  rate(vigil_ipvs_real_server_connections_total{SEL`+rs+`}[$__rate_interval])
			)
			  / on (job, instance, virtual_server) group_left
			sum by (job, instance, virtual_server) (
			  rate(vigil_ipvs_virtual_server_connections_total{SEL`+vs+`}[$__rate_interval])
			)`, "{{virtual_server}} {{real_server}} on {{instance}}")}},
		func(b *timeseries.PanelBuilder) { b.Min(0).Max(1) })
	d.timeseries(panel{title: "Active connections", description: "Connections the kernel counts as active (ActiveConn in ipvsadm -Ln).",
		unit: "short", width: 8, height: 8,
		targets: []target{t(`vigil_ipvs_real_server_active_connections{SEL`+rs+`}`, "{{real_server}} on {{instance}}")}})
	d.timeseries(panel{title: "Inactive connections", description: "Other connection entries (InActConn in ipvsadm -Ln).",
		unit: "short", width: 8, height: 8,
		targets: []target{t(`vigil_ipvs_real_server_inactive_connections{SEL`+rs+`}`, "{{real_server}} on {{instance}}")}})
	d.timeseries(panel{title: "Traffic per real server", description: "Bytes per second forwarded to each real server (in) and replies back (out, NAT only).",
		unit: "Bps", width: 8, height: 8,
		targets: []target{
			t(`rate(vigil_ipvs_real_server_incoming_bytes_total{SEL`+rs+`}[$__rate_interval])`, "{{real_server}} on {{instance}} in"),
			t(`rate(vigil_ipvs_real_server_outgoing_bytes_total{SEL`+rs+`}[$__rate_interval])`, "{{real_server}} on {{instance}} out"),
		}})

	d.row("Health checks")
	d.timeseries(panel{title: "Check duration", description: "How long the last attempt of each health check took.",
		unit: "s", width: 12, height: 8,
		targets: []target{t(`vigil_check_last_duration_seconds{SEL`+rs+`}`, "{{check_id}} on {{instance}}")}})
	d.timeseries(panel{title: "Check failure ratio", description: "Failed and timed-out attempts over all attempts, per check.",
		unit: "percentunit", width: 12, height: 8,
		targets: []target{t(`
			sum by (instance, check_id) (rate(vigil_check_results_total{SEL`+rs+`,result!="success"}[$__rate_interval]))
			  /
			sum by (instance, check_id) (rate(vigil_check_results_total{SEL`+rs+`}[$__rate_interval]))`,
			"{{check_id}} on {{instance}}")}},
		func(b *timeseries.PanelBuilder) { b.Min(0).Max(1) })
	d.timeseries(panel{title: "Consecutive failures", description: "Failed runs in a row, the count compared with fall.",
		unit: "short", width: 8, height: 8,
		targets: []target{t(`vigil_check_consecutive_failures{SEL`+rs+`} > 0`, "{{check_id}} on {{instance}}")}})
	d.timeseries(panel{title: "Scheduling lateness", description: "How late check runs started against their schedule, by check type (all virtual servers): the 50th and 99th percentiles.",
		unit: "s", width: 8, height: 8,
		targets: []target{
			t(`histogram_quantile(0.5, sum by (instance, check, le) (rate(vigil_check_scheduling_lateness_seconds_bucket{SEL}[$__rate_interval])))`, "{{check}} on {{instance}} p50"),
			t(`histogram_quantile(0.99, sum by (instance, check, le) (rate(vigil_check_scheduling_lateness_seconds_bucket{SEL}[$__rate_interval])))`, "{{check}} on {{instance}} p99"),
		}})
	d.timeseries(panel{title: "Skipped runs", description: "Runs dropped because earlier runs overran the delay_loop.",
		unit: "short", width: 8, height: 8,
		targets: []target{t(`increase(vigil_check_skipped_runs_total{SEL`+rs+`}[$__rate_interval]) > 0`, "{{check_id}} on {{instance}}")}}, bars)
	d.timeseries(panel{title: "MySQL replica lag", description: "Replication lag read by MySQL checks that watch replication.",
		unit: "s", width: 12, height: 8,
		targets: []target{t(`vigil_check_mysql_replica_lag_seconds{SEL`+rs+`}`, "{{real_server}} on {{instance}}")}})
	d.timeseries(panel{title: "HTTP status", description: "Status code of the last response to each HTTP(S) check.",
		unit: "none", width: 12, height: 8,
		targets: []target{t(`vigil_check_http_status_code{SEL`+rs+`}`, "{{check_id}} on {{instance}}")}})

	d.row("Kernel reconciler")
	d.stat(panel{title: "IPVS available", description: "Whether the kernel offers IPVS.",
		unit: "none", width: 6, height: 8,
		targets: []target{t(`vigil_ipvs_up{SEL}`, "{{instance}}")}},
		func(b *stat.PanelBuilder) { b.Mappings(upDown("yes", "NO")) })
	d.timeseries(panel{title: "Reconcile pass duration", description: "How long the last reconcile pass took.",
		unit: "s", width: 6, height: 8,
		targets: []target{t(`vigil_ipvs_reconcile_last_duration_seconds{SEL}`, "{{instance}}")}})
	d.timeseries(panel{title: "Kernel operations", description: "IPVS operations performed per interval, by kind.",
		unit: "short", width: 6, height: 8,
		targets: []target{t(`sum by (instance, kind) (increase(vigil_ipvs_reconcile_changes_total{SEL}[$__rate_interval])) > 0`, "{{instance}} {{kind}}")}}, bars)
	d.timeseries(panel{title: "Failures and drift", description: "Failed reconcile passes, and operations that undid someone else's change to a vigil-owned service.",
		unit: "short", width: 6, height: 8,
		targets: []target{
			t(`increase(vigil_ipvs_reconcile_errors_total{SEL}[$__rate_interval])`, "{{instance}} failed passes"),
			t(`increase(vigil_ipvs_drift_repaired_total{SEL}[$__rate_interval])`, "{{instance}} drift repaired"),
		}}, bars)
	return d
}
