package mixin

import (
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

func vrrpDashboard() *board {
	d := newBoard("vigil-vrrp", "vigil / VRRP instance",
		"One VRRP instance in depth, across the selected directors: state, priorities, advertisements, "+
			"dropped packets, virtual addresses and tracked scripts and interfaces.",
		queryVar("vrrp_instance", "VRRP instance",
			`label_values(vigil_vrrp_instance_info{job=~"$job",instance=~"$instance"}, vrrp_instance)`, false))
	const vi = `,vrrp_instance=~"$vrrp_instance"`
	d.standardAnnotations(vi)

	d.row("State")
	d.timeline(panel{title: "State", description: "The instance's state on each director.",
		unit: "none", width: 24, height: 6,
		targets: []target{t(stateCode("vigil_vrrp_instance_state", vi), "{{instance}}")}},
		stateMappings())
	d.timeline(panel{title: "Wanted state",
		description: "The state each director is heading for; it differs from the state while a sync group or an operator holds the instance back.",
		unit:        "none", width: 24, height: 5,
		targets: []target{t(stateCode("vigil_vrrp_instance_wanted_state", vi), "{{instance}}")}},
		stateMappings())
	d.table(panel{title: "Master as seen by each director",
		description: "The master's address and priority in the advertisements each director receives (its own when it is master).",
		unit:        "none", width: 12, height: 6,
		targets: []target{instantTable(`
			vigil_vrrp_instance_master_info{SEL` + vi + `}
			  * on (job, instance, vrrp_instance) group_left
			vigil_vrrp_instance_master_priority{SEL` + vi + `}`)}},
		"Master priority", "job")
	d.table(panel{title: "Configuration", description: "Interface, virtual router ID, VRRP version, address family and sync group of the instance on each director.",
		unit: "none", width: 12, height: 6,
		targets: []target{instantTable(`vigil_vrrp_instance_info{SEL` + vi + `}`)}},
		"Info", "job", "Value")
	d.timeseries(panel{title: "Time in current state",
		description: "Seconds since the instance last changed state on each director (absent until its first change since vigil started).",
		unit:        "s", width: 12, height: 8,
		targets: []target{t(`time() - (vigil_vrrp_instance_last_transition_timestamp_seconds{SEL`+vi+`} > 0)`, "{{instance}}")}})
	d.timeseries(panel{title: "Transitions", description: "State changes per interval, by director and by previous and new state.",
		unit: "short", width: 12, height: 8,
		targets: []target{t(`
			sum by (instance, from, to) (
			  increase(vigil_vrrp_instance_transitions_total{SEL`+vi+`}[$__rate_interval])
			) > 0`, "{{instance}} {{from}} → {{to}}")}}, bars)

	d.row("Priority")
	d.timeseries(panel{title: "Priorities",
		description: "Configured (base) and advertised (effective) priority of each director, and the priority of the master each director sees. Effective below base means a track is failing.",
		unit:        "none", width: 24, height: 8,
		targets: []target{
			t(`vigil_vrrp_instance_base_priority{SEL`+vi+`}`, "{{instance}} base"),
			t(`vigil_vrrp_instance_effective_priority{SEL`+vi+`}`, "{{instance}} effective"),
			t(`vigil_vrrp_instance_master_priority{SEL`+vi+`}`, "{{instance}} sees master at"),
		}},
		func(b *timeseries.PanelBuilder) { b.Min(0).Max(255) })

	d.row("Advertisements")
	d.timeseries(panel{title: "Advertisements", description: "Advertisements sent (a master sends one per interval) and accepted from peers (a backup receives the master's).",
		unit: "pps", width: 12, height: 8,
		targets: []target{
			t(`rate(vigil_vrrp_adverts_sent_total{SEL`+vi+`}[$__rate_interval])`, "{{instance}} sent"),
			t(`rate(vigil_vrrp_adverts_received_total{SEL`+vi+`}[$__rate_interval])`, "{{instance}} received"),
		}})
	d.timeseries(panel{title: "Priority 0 advertisements", description: "Resignations: priority-0 advertisements sent (this director gave up mastership) and received (the master resigned).",
		unit: "short", width: 12, height: 8,
		targets: []target{
			t(`increase(vigil_vrrp_priority_zero_sent_total{SEL`+vi+`}[$__rate_interval])`, "{{instance}} sent"),
			t(`increase(vigil_vrrp_priority_zero_received_total{SEL`+vi+`}[$__rate_interval])`, "{{instance}} received"),
		}}, bars)
	d.timeseries(panel{title: "Dropped packets by reason", description: "Packets for this instance's virtual router ID that were dropped, by reason: auth is a password mismatch, interval or address_list a configuration mismatch, ttl a packet that crossed a router.",
		unit: "pps", width: 12, height: 8,
		targets: []target{t(`
			sum by (instance, reason) (
			  rate(vigil_vrrp_instance_receive_errors_total{SEL`+vi+`}[$__rate_interval])
			) > 0`, "{{instance}} {{reason}}")}})
	d.timeseries(panel{title: "Dropped packets on the interface",
		description: "Packets dropped on the instance's interface before they could be attributed to an instance: malformed, or for a virtual router ID no local instance runs (vrid).",
		unit:        "pps", width: 12, height: 8,
		targets: []target{t(`
			sum by (job, instance, interface, reason) (
			  rate(vigil_vrrp_interface_receive_errors_total{SEL}[$__rate_interval])
			) > 0
			  and on (job, instance, interface)
			vigil_vrrp_instance_info{SEL`+vi+`}`, "{{instance}} {{interface}} {{reason}}")}})

	d.row("Virtual addresses")
	d.timeline(panel{title: "Virtual addresses present", description: "Whether each virtual address is configured on its device. The master should hold all of them, backups none.",
		unit: "none", width: 24, height: 6,
		targets: []target{t(`vigil_vrrp_vip_present{SEL`+vi+`}`, "{{address}} on {{instance}}")}},
		valueMap("1", "present", "green", "0", "absent", "transparent"))
	d.timeseries(panel{title: "Address announcements", description: "Gratuitous ARPs (IPv4) and unsolicited neighbor advertisements (IPv6) sent for the instance's addresses, on takeover and refresh.",
		unit: "pps", width: 12, height: 8,
		targets: []target{
			t(`rate(vigil_vrrp_gratuitous_arps_sent_total{SEL`+vi+`}[$__rate_interval])`, "{{instance}} gratuitous ARP"),
			t(`rate(vigil_vrrp_neighbor_advertisements_sent_total{SEL`+vi+`}[$__rate_interval])`, "{{instance}} neighbor advertisement"),
		}})
	d.timeseries(panel{title: "Addresses restored", description: "Virtual addresses a master put back after something else removed them (VigilVRRPVIPRemovedRepeatedly).",
		unit: "short", width: 12, height: 8,
		targets: []target{t(`increase(vigil_vrrp_vips_restored_total{SEL`+vi+`}[$__rate_interval])`, "{{instance}}")}}, bars)

	d.row("Tracking")
	d.timeline(panel{title: "Tracked scripts", description: "Tracked scripts of the selected directors (all instances): up after rise/fall, or down. A failing script lowers the priority of the instances tracking it, or puts them in FAULT.",
		unit: "none", width: 12, height: 6,
		targets: []target{t(`vigil_vrrp_track_script_up{SEL}`, "{{script}} on {{instance}}")}},
		upDown("up", "down"))
	d.timeline(panel{title: "Tracked interfaces", description: "Tracked interfaces of the selected directors (all instances): up, or down or unknown.",
		unit: "none", width: 12, height: 6,
		targets: []target{t(`vigil_vrrp_track_interface_up{SEL}`, "{{interface}} on {{instance}}")}},
		upDown("up", "down"))
	return d
}
