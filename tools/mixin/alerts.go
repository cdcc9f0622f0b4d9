package mixin

import (
	"fmt"
	"time"
)

// Severities. critical pages: traffic is lost or about to be. warning goes
// to a ticket or a chat channel: redundancy or automation is impaired.
const (
	critical = "critical"
	warning  = "warning"
)

// Names of the recording rules, after the level:metric:operations
// convention of the Prometheus documentation.
const (
	// MastersRecord counts, per job and VRRP instance, the directors that
	// are master: 0 is no master, more than 1 split brain.
	MastersRecord = "job_vrrp_instance:vigil_vrrp_instance_state_master:sum"
	// LatenessRecord is a quantile of check scheduling lateness per
	// director and check type; its quantile label says which.
	LatenessRecord = "job_instance_check:vigil_check_scheduling_lateness_seconds:histogram_quantile"
)

// actuatorFailedResult is the result label value of
// vigil_actuator_actions_total for an action that was invalid or that the
// executor failed to carry out (as opposed to refused by a guard, which
// vigil_actuator_guard_refusals_total counts, or a no-op).
const actuatorFailedResult = "failed"

// Rules returns every recording and alerting rule, grouped by area.
func (c Config) Rules() RuleFile {
	return RuleFile{Groups: []RuleGroup{
		{Name: "vigil-vrrp", Rules: c.vrrpRules()},
		{Name: "vigil-ipvs", Rules: c.ipvsRules()},
		{Name: "vigil-checks", Rules: c.checkRules()},
		{Name: "vigil-actuator", Rules: c.actuatorRules()},
		{Name: "vigil-self", Rules: c.selfRules()},
	}}
}

func (c Config) vrrpRules() []Rule {
	flapWindow := c.FlapWindow.String()
	return []Rule{
		c.record(MastersRecord, `
			sum by (JOBLABELS, vrrp_instance) (vigil_vrrp_instance_state{JOB,state="master"})`, nil),

		c.alert("VigilVRRPNoMaster", critical, time.Minute, `
			`+MastersRecord+`{JOB} == 0`,
			"VRRP instance {{ $labels.vrrp_instance }} has no master.",
			"No director of job {{ $labels.job }} has been master of VRRP instance {{ $labels.vrrp_instance }} "+
				"for a minute: every director that runs it is in backup, fault, init or stop, so nobody holds "+
				"its virtual addresses and traffic to them is dropped."),

		c.alert("VigilVRRPSplitBrain", critical, time.Minute, `
			`+MastersRecord+`{JOB} > 1`,
			"VRRP instance {{ $labels.vrrp_instance }} has {{ $value }} masters.",
			"{{ $value }} directors of job {{ $labels.job }} have all been master of VRRP instance "+
				"{{ $labels.vrrp_instance }} for a minute (split brain). They do not accept each other's "+
				"advertisements, so each holds the virtual addresses and answers ARP for them, and the network "+
				"sends clients to either."),

		c.alert("VigilVRRPInstanceFault", warning, time.Minute, `
			vigil_vrrp_instance_state{JOB,state="fault"} == 1`,
			"VRRP instance {{ $labels.vrrp_instance }} is in FAULT on {{ $labels.instance }}.",
			"VRRP instance {{ $labels.vrrp_instance }} on {{ $labels.instance }} has been in FAULT for a "+
				"minute: a tracked interface or script with weight 0 is failing, or the instance's own "+
				"interface is down. This director cannot be master of the instance, so it no longer backs up "+
				"the master."),

		c.alert("VigilVRRPFlapping", warning, 5*time.Minute, fmt.Sprintf(`
			sum by (JOBLABELS, vrrp_instance) (
			  increase(vigil_vrrp_instance_transitions_total{JOB,to="master"}[%s])
			) > %d`, flapWindow, c.FlapTakeovers),
			"VRRP instance {{ $labels.vrrp_instance }} is flapping.",
			fmt.Sprintf("Mastership of VRRP instance {{ $labels.vrrp_instance }} (job {{ $labels.job }}) moved "+
				"{{ printf \"%%.0f\" $value }} times in the last %s, more than %d. Each takeover interrupts "+
				"traffic to its virtual addresses briefly. A director's first takeover after vigil starts is "+
				"not counted.", flapWindow, c.FlapTakeovers)),

		c.alert("VigilVRRPPriorityDegraded", warning, 5*time.Minute, `
			vigil_vrrp_instance_effective_priority{JOB}
			  < vigil_vrrp_instance_base_priority{JOB}`,
			"VRRP instance {{ $labels.vrrp_instance }} runs below its configured priority on {{ $labels.instance }}.",
			"VRRP instance {{ $labels.vrrp_instance }} on {{ $labels.instance }} has advertised priority "+
				"{{ $value }}, less than its configured priority, for 5 minutes: a tracked script or "+
				"interface is failing. The director may lose, or has lost, mastership to a healthier peer."),

		c.alert("VigilVRRPVIPMissing", critical, time.Minute, `
			vigil_vrrp_vip_present{JOB} == 0
			  and on (JOBLABELS, instance, vrrp_instance)
			vigil_vrrp_instance_state{JOB,state="master"} == 1`,
			"Master {{ $labels.instance }} of VRRP instance {{ $labels.vrrp_instance }} lacks {{ $labels.address }}.",
			"{{ $labels.instance }} has been master of VRRP instance {{ $labels.vrrp_instance }} for a minute "+
				"without holding its virtual address {{ $labels.address }}. vigil puts back addresses removed "+
				"behind its back, so adding this one keeps failing: traffic to it is dropped."),

		c.alert("VigilVRRPVIPOnBackup", critical, time.Minute, `
			vigil_vrrp_vip_present{JOB} == 1
			  unless on (JOBLABELS, instance, vrrp_instance)
			vigil_vrrp_instance_state{JOB,state="master"} == 1`,
			"{{ $labels.instance }} holds {{ $labels.address }} without being master of {{ $labels.vrrp_instance }}.",
			"{{ $labels.instance }} has held virtual address {{ $labels.address }} of VRRP instance "+
				"{{ $labels.vrrp_instance }} for a minute although it is not master of the instance. If another "+
				"director is master the address is duplicated on the link and clients split between the two."),

		c.alert("VigilVRRPVIPRemovedRepeatedly", warning, time.Minute, fmt.Sprintf(`
			increase(vigil_vrrp_vips_restored_total{JOB}[1h]) > %d`, c.RepeatedRepairs),
			"Virtual addresses of {{ $labels.vrrp_instance }} keep disappearing on {{ $labels.instance }}.",
			fmt.Sprintf("vigil on {{ $labels.instance }} had to put back virtual addresses of VRRP instance "+
				"{{ $labels.vrrp_instance }} {{ printf \"%%.0f\" $value }} times in the last hour (more than %d): "+
				"something else on the director (a network manager, DHCP client or script) removes them. "+
				"Every removal drops traffic until vigil notices.", c.RepeatedRepairs)),

		c.alert("VigilVRRPReceiveErrors", warning, 15*time.Minute, `
			sum by (JOBLABELS, instance, vrrp_instance, reason) (
			  rate(vigil_vrrp_instance_receive_errors_total{JOB,reason!~"auth|auth_type"}[5m])
			) > 0`,
			"VRRP instance {{ $labels.vrrp_instance }} on {{ $labels.instance }} drops advertisements ({{ $labels.reason }}).",
			"For 15 minutes vigil on {{ $labels.instance }} has been dropping VRRP packets for instance "+
				"{{ $labels.vrrp_instance }} with reason {{ $labels.reason }} ({{ $value | humanize }}/s). "+
				"Mismatched configurations between directors (interval, address_list, version), packets that "+
				"crossed a router (ttl) or corrupt packets (checksum, length) stop directors from hearing each "+
				"other, which leads to split brain."),

		c.alert("VigilVRRPAuthFailures", warning, 5*time.Minute, `
			sum by (JOBLABELS, instance, vrrp_instance, reason) (
			  rate(vigil_vrrp_instance_receive_errors_total{JOB,reason=~"auth|auth_type"}[5m])
			) > 0`,
			"VRRP instance {{ $labels.vrrp_instance }} on {{ $labels.instance }} rejects advertisements that fail authentication.",
			"For 5 minutes vigil on {{ $labels.instance }} has been rejecting VRRP advertisements for instance "+
				"{{ $labels.vrrp_instance }} because their authentication does not match ({{ $labels.reason }}, "+
				"{{ $value | humanize }}/s): a peer has a different password or authentication type, or "+
				"someone else speaks VRRP on the link. Directors that reject each other's adverts all become master."),
	}
}

func (c Config) ipvsRules() []Rule {
	return []Rule{
		c.alert("VigilIPVSUnavailable", critical, time.Minute, `
			vigil_ipvs_up{JOB} == 0
			  and on (JOBLABELS, instance)
			vigil_ipvs_virtual_server_info{JOB}`,
			"IPVS is unavailable on {{ $labels.instance }}.",
			"The kernel of {{ $labels.instance }} has offered no IPVS for a minute although vigil has virtual "+
				"servers configured: the ip_vs module is not loaded or cannot be loaded. None of the virtual "+
				"servers is in the kernel, so this director cannot balance any traffic."),

		c.alert("VigilVirtualServerNotInKernel", critical, 2*time.Minute, `
			vigil_ipvs_virtual_server_in_kernel{JOB} == 0
			  and on (JOBLABELS, instance)
			vigil_ipvs_up{JOB} == 1`,
			"Virtual server {{ $labels.virtual_server }} is missing from the kernel on {{ $labels.instance }}.",
			"Virtual server {{ $labels.virtual_server }} ({{ $labels.service }}) has not been in the IPVS table "+
				"of {{ $labels.instance }} for 2 minutes although IPVS is available: programming it fails. "+
				"Traffic for it reaching this director is not balanced."),

		c.alert("VigilIPVSReconcileFailing", warning, 10*time.Minute, `
			increase(vigil_ipvs_reconcile_errors_total{JOB}[5m]) > 0`,
			"IPVS reconciliation keeps failing on {{ $labels.instance }}.",
			"vigil on {{ $labels.instance }} has had failing IPVS reconcile passes in every 5 minutes for 10 "+
				"minutes. Until a pass succeeds the kernel's table may differ from what the configuration, "+
				"health checks and overrides ask for: failed real servers may still get traffic."),

		c.alert("VigilIPVSDriftRepairedRepeatedly", warning, time.Minute, fmt.Sprintf(`
			increase(vigil_ipvs_drift_repaired_total{JOB}[1h]) > %d`, c.RepeatedRepairs),
			"Someone keeps changing vigil's IPVS services on {{ $labels.instance }}.",
			fmt.Sprintf("vigil on {{ $labels.instance }} undid {{ printf \"%%.0f\" $value }} changes that something "+
				"else made to its IPVS services in the last hour (more than %d): an ipvsadm script, another "+
				"daemon such as keepalived, or a configuration management run fights vigil for the table.",
				c.RepeatedRepairs)),

		c.alert("VigilRealServerDown", warning, 2*time.Minute, `
			vigil_ipvs_real_server_up{JOB} == 0
			  unless on (JOBLABELS, instance, virtual_server, real_server)
			vigil_ipvs_real_server_drained{JOB} == 1`,
			"Real server {{ $labels.real_server }} of {{ $labels.virtual_server }} is down.",
			"Real server {{ $labels.real_server }} of virtual server {{ $labels.virtual_server }} has failed "+
				"its health checks on {{ $labels.instance }} for 2 minutes and is out of rotation. Drained "+
				"real servers do not raise this alert."),

		c.alert("VigilVirtualServerAllRealServersDown", critical, time.Minute, `
			vigil_ipvs_virtual_server_real_servers_up{JOB} == 0
			  and
			vigil_ipvs_virtual_server_real_servers{JOB} > 0`,
			"Every real server of {{ $labels.virtual_server }} is down.",
			"None of the real servers of virtual server {{ $labels.virtual_server }} ({{ $labels.service }}) "+
				"has passed its health checks on {{ $labels.instance }} for a minute. Clients get the sorry "+
				"server if one is configured, and are refused otherwise."),

		c.alert("VigilVirtualServerQuorumLost", critical, time.Minute, `
			vigil_ipvs_virtual_server_quorum_up{JOB} == 0
			  unless on (JOBLABELS, instance, virtual_server)
			vigil_ipvs_virtual_server_sorry_server_active{JOB} == 1`,
			"Virtual server {{ $labels.virtual_server }} lost quorum with no sorry server serving.",
			"Virtual server {{ $labels.virtual_server }} ({{ $labels.service }}) on {{ $labels.instance }} has "+
				"been below its quorum for a minute, and no sorry server serves in place of the real servers: "+
				"clients of the service are refused."),

		c.alert("VigilVirtualServerSorryServerActive", warning, time.Minute, `
			(vigil_ipvs_virtual_server_sorry_server_active{JOB} == 1)
			  * on (JOBLABELS, instance, virtual_server) group_left (real_server)
			vigil_ipvs_virtual_server_sorry_server_info{JOB}`,
			"Virtual server {{ $labels.virtual_server }} is served by its sorry server.",
			"Virtual server {{ $labels.virtual_server }} ({{ $labels.service }}) on {{ $labels.instance }} has "+
				"been below its quorum for a minute, and its sorry server {{ $labels.real_server }} serves "+
				"clients in place of the real servers."),
	}
}

func (c Config) checkRules() []Rule {
	return []Rule{
		c.record(LatenessRecord, `
			histogram_quantile(0.99,
			  sum by (JOBLABELS, instance, check, le) (
			    rate(vigil_check_scheduling_lateness_seconds_bucket{JOB}[5m])
			  )
			)`, map[string]string{"quantile": "0.99"}),

		c.alert("VigilCheckSchedulingLate", warning, 15*time.Minute, `
			`+LatenessRecord+`{JOB,quantile="0.99"} > `+seconds(c.CheckLateness),
			"{{ $labels.check }} health checks start late on {{ $labels.instance }}.",
			fmt.Sprintf("For 15 minutes 1%% of the {{ $labels.check }} health check runs on "+
				"{{ $labels.instance }} have started more than {{ $value | humanizeDuration }} after their "+
				"slot (threshold %s): the director is overloaded, or checks overrun their delay_loop. Failures "+
				"are detected late.", human(c.CheckLateness))),

		c.alert("VigilMySQLReplicaLagging", warning, 5*time.Minute, `
			vigil_check_mysql_replica_lag_seconds{JOB} > `+seconds(c.MySQLMaxReplicaLag),
			"MySQL replica {{ $labels.real_server }} lags {{ $value | humanizeDuration }} behind its source.",
			fmt.Sprintf("The MySQL check {{ $labels.check_id }} of virtual server {{ $labels.virtual_server }} "+
				"has read a replication lag of {{ $value | humanizeDuration }} on {{ $labels.real_server }} for "+
				"5 minutes (threshold %s). Clients balanced to it read stale data.", human(c.MySQLMaxReplicaLag))),

		c.alert("VigilMySQLReplicationStopped", warning, 2*time.Minute, `
			vigil_check_mysql_replica_io_running{JOB} == 0
			  or on (JOBLABELS, instance, virtual_server, real_server, check, check_id)
			vigil_check_mysql_replica_sql_running{JOB} == 0`,
			"Replication is stopped on MySQL replica {{ $labels.real_server }}.",
			"The MySQL check {{ $labels.check_id }} of virtual server {{ $labels.virtual_server }} has found "+
				"the replica IO or SQL thread of {{ $labels.real_server }} stopped for 2 minutes: the replica "+
				"no longer follows its source and falls further behind."),
	}
}

func (c Config) actuatorRules() []Rule {
	return []Rule{
		c.alert("VigilActuatorGuardRefusals", warning, time.Minute, `
			sum by (JOBLABELS, instance, guard) (
			  increase(vigil_actuator_guard_refusals_total{JOB,guard!="cooldown"}[15m])
			) > 0`,
			"vigil's actuator on {{ $labels.instance }} refused actions (guard {{ $labels.guard }}).",
			"In the last 15 minutes the {{ $labels.guard }} guard of the actuator on {{ $labels.instance }} "+
				"refused {{ printf \"%.0f\" $value }} requested actions because carrying them out would have "+
				"been unsafe or automation is running away. Whatever asked for them (an alert routed to the "+
				"actuator, or an operator) still wants something done. Refusals by the cooldown guard, which "+
				"also defers undos as designed, do not raise this alert."),

		c.alert("VigilActuatorActionsFailing", warning, time.Minute, `
			sum by (JOBLABELS, instance, action) (
			  increase(vigil_actuator_actions_total{JOB,result="`+actuatorFailedResult+`"}[15m])
			) > 0`,
			"vigil's actuator on {{ $labels.instance }} fails to {{ $labels.action }}.",
			"In the last 15 minutes {{ printf \"%.0f\" $value }} {{ $labels.action }} actions of the actuator "+
				"on {{ $labels.instance }} failed: the request was invalid or vigil could not carry it out. "+
				"Alertmanager retries the webhook deliveries that may succeed, but the action has not happened."),

		c.alert("VigilActuatorOverrideHeldTooLong", warning, 5*time.Minute, `
			vigil_actuator_override_age_seconds{JOB} > `+seconds(c.OverrideMaxAge),
			"A {{ $labels.kind }} override has been in place on {{ $labels.instance }} for {{ $value | humanizeDuration }}.",
			fmt.Sprintf("The oldest active {{ $labels.kind }} override on {{ $labels.instance }} was set "+
				"{{ $value | humanizeDuration }} ago, longer than %s. Overrides are meant to be temporary "+
				"(maintenance, an incident): one that is forgotten keeps a real server drained or a weight "+
				"changed.", human(c.OverrideMaxAge))),

		c.alert("VigilActuatorWebhookErrors", warning, time.Minute, `
			sum by (JOBLABELS, instance, code) (
			  increase(vigil_actuator_webhook_requests_total{JOB,code!~"2.."}[15m])
			) > 0`,
			"vigil's actuator webhook on {{ $labels.instance }} answers {{ $labels.code }}.",
			"In the last 15 minutes the actuator's webhook on {{ $labels.instance }} answered "+
				"{{ printf \"%.0f\" $value }} Alertmanager requests with status {{ $labels.code }}. 4xx means "+
				"the alerts routed to it lack what it needs and will never succeed; 5xx means it failed and "+
				"Alertmanager retries."),
	}
}

func (c Config) selfRules() []Rule {
	return []Rule{
		c.alert("VigilTargetDown", critical, 2*time.Minute, `
			up{JOB} == 0`,
			"Prometheus cannot scrape vigil on {{ $labels.instance }}.",
			"Prometheus has failed to scrape {{ $labels.instance }} of job {{ $labels.job }} for 2 minutes: "+
				"the director is down, vigil is not running, or its metrics endpoint is unreachable. No other "+
				"vigil alert can fire for this director while it is down."),

		c.alert("VigilTargetMissing", warning, 15*time.Minute, `
			absent(up{JOB})`,
			"Prometheus has no vigil target.",
			"For 15 minutes Prometheus has had no scrape target matching "+c.JobSelector+": service "+
				"discovery or the scrape configuration lost the directors, and no vigil alert can fire."),

		c.alert("VigilConfigReloadFailed", warning, 5*time.Minute, `
			vigil_config_last_reload_successful{JOB} == 0`,
			"vigil on {{ $labels.instance }} failed to reload its configuration.",
			"The last configuration reload of vigil on {{ $labels.instance }} failed 5 or more minutes ago. "+
				"vigil keeps running the previous configuration, so the change is not in effect, and the next "+
				"restart fails if the file stays broken."),
	}
}
