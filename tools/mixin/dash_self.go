package mixin

import (
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

func selfDashboard() *board {
	d := newBoard("vigil-self", "vigil / Process",
		"vigil itself on the selected directors: scrapes, configuration reloads, builds, and the Go "+
			"process (goroutines, memory, CPU, file descriptors, garbage collection).")
	d.standardAnnotations("")
	d.annotate("Configuration changes", "blue", `changes(vigil_config_hash{SEL}[$__rate_interval]) > 0`,
		"configuration changed", "vigil on {{instance}} loaded a different configuration file", "instance")

	d.row("Scrapes and configuration")
	d.stat(panel{title: "Up", description: "Whether Prometheus's last scrape of each director succeeded.",
		unit: "none", width: 6, height: 5,
		targets: []target{t(`up{SEL}`, "{{instance}}")}},
		func(b *stat.PanelBuilder) { b.Mappings(upDown("UP", "DOWN")) })
	d.stat(panel{title: "Last reload", description: "Whether each director's last configuration load or reload (SIGHUP) succeeded; after a failure vigil keeps the previous configuration.",
		unit: "none", width: 6, height: 5,
		targets: []target{t(`vigil_config_last_reload_successful{SEL}`, "{{instance}}")}},
		func(b *stat.PanelBuilder) { b.Mappings(upDown("OK", "FAILED")) })
	d.table(panel{title: "Builds", description: "The vigil build each director runs.",
		unit: "none", width: 12, height: 5,
		targets: []target{instantTable(`vigil_build_info{SEL}`)}},
		"Info", "job", "Value")
	d.timeseries(panel{title: "Since last successful reload", description: "Time since each director last loaded its configuration successfully.",
		unit: "s", width: 8, height: 8,
		targets: []target{t(`time() - (vigil_config_last_reload_success_timestamp_seconds{SEL} > 0)`, "{{instance}}")}})
	d.timeseries(panel{title: "Scrape duration", description: "How long Prometheus took to scrape each director's /metrics.",
		unit: "s", width: 8, height: 8,
		targets: []target{t(`scrape_duration_seconds{SEL}`, "{{instance}}")}})
	d.timeseries(panel{title: "Samples scraped", description: "Samples in each scrape: grows with VRRP instances, virtual servers, real servers and checks.",
		unit: "short", width: 8, height: 8,
		targets: []target{t(`scrape_samples_scraped{SEL}`, "{{instance}}")}})

	d.row("Process")
	d.timeseries(panel{title: "Goroutines", description: "Goroutines of the vigil process.",
		unit: "short", width: 8, height: 8,
		targets: []target{t(`go_goroutines{SEL}`, "{{instance}}")}})
	d.timeseries(panel{title: "Memory", description: "Resident memory of the process, and bytes in in-use heap spans.",
		unit: "bytes", width: 8, height: 8,
		targets: []target{
			t(`process_resident_memory_bytes{SEL}`, "{{instance}} resident"),
			t(`go_memstats_heap_inuse_bytes{SEL}`, "{{instance}} heap in use"),
		}})
	d.timeseries(panel{title: "CPU", description: "CPU time used per second (1 is one core).",
		unit: "percentunit", width: 8, height: 8,
		targets: []target{t(`rate(process_cpu_seconds_total{SEL}[$__rate_interval])`, "{{instance}}")}})
	d.timeseries(panel{title: "Garbage collection pause", description: "Average stop-the-world pause of the garbage collections in each interval.",
		unit: "s", width: 8, height: 8,
		targets: []target{t(`
			rate(go_gc_duration_seconds_sum{SEL}[$__rate_interval])
			  / rate(go_gc_duration_seconds_count{SEL}[$__rate_interval])`, "{{instance}}")}})
	d.timeseries(panel{title: "File descriptors", description: "Open file descriptors (sockets included), against the limit.",
		unit: "short", width: 8, height: 8,
		targets: []target{
			t(`process_open_fds{SEL}`, "{{instance}} open"),
			t(`process_max_fds{SEL}`, "{{instance}} limit"),
		}})
	d.timeseries(panel{title: "Check scheduling lateness", description: "99th percentile of how late health check runs started, by check type: the director keeping up with its work.",
		unit: "s", width: 8, height: 8,
		targets: []target{t(`histogram_quantile(0.99, sum by (instance, check, le) (rate(vigil_check_scheduling_lateness_seconds_bucket{SEL}[$__rate_interval])))`, "{{check}} on {{instance}}")}},
		func(b *timeseries.PanelBuilder) { b.Min(0) })
	return d
}
