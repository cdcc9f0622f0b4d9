package collector

import (
	"slices"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-lb/vigil/vrrp"
)

// instanceLabel names the VRRP instance in every per-instance metric. It is
// not "instance": Prometheus attaches that target label to every scraped
// series, and a clash would store vigil's as "exported_instance".
const instanceLabel = "vrrp_instance"

// Track kinds as carried by vrrp.TrackSnapshot.Kind.
const (
	trackScript    = "script"
	trackInterface = "interface"
)

type vrrpCollector struct {
	snapshot func() vrrp.NodeSnapshot

	info              *prometheus.Desc
	state             *prometheus.Desc
	wantedState       *prometheus.Desc
	basePriority      *prometheus.Desc
	effectivePriority *prometheus.Desc
	masterPriority    *prometheus.Desc
	masterInfo        *prometheus.Desc
	transitions       *prometheus.Desc
	lastTransition    *prometheus.Desc
	advertsSent       *prometheus.Desc
	advertsReceived   *prometheus.Desc
	prioZeroSent      *prometheus.Desc
	prioZeroReceived  *prometheus.Desc
	instRecvErrors    *prometheus.Desc
	ifaceRecvErrors   *prometheus.Desc
	garpsSent         *prometheus.Desc
	nasSent           *prometheus.Desc
	vipPresent        *prometheus.Desc
	vipsRestored      *prometheus.Desc
	scriptUp          *prometheus.Desc
	scriptFailures    *prometheus.Desc
	ifaceUp           *prometheus.Desc
	ifaceFailures     *prometheus.Desc
}

// NewVRRP returns the collector of the vigil_vrrp_* metrics: per virtual
// router instance its identity, state, priorities, the master it sees,
// transitions, advertisement and drop counters, announcements and virtual
// addresses; per receiving interface the packets no instance could claim;
// per tracked script and interface its health. snapshot is called once per
// scrape (vrrp.Node.Snapshot behind a cache or timeout) and must be safe
// for concurrent use; the collector only reads what it returns.
func NewVRRP(snapshot func() vrrp.NodeSnapshot) prometheus.Collector {
	inst := []string{instanceLabel}
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(Namespace, "vrrp", name), help, labels, nil)
	}
	return &vrrpCollector{
		snapshot: snapshot,
		info: d("instance_info",
			"Identity of a VRRP instance, always 1: the interface it runs on, its virtual router ID, protocol version (2 or 3), address family (ipv4 or ipv6) and sync group (empty if none).",
			instanceLabel, "interface", "vrid", "version", "family", "sync_group"),
		state: d("instance_state",
			"Current state of a VRRP instance: one series per state (init, backup, master, fault, stop), 1 for the state the instance is in and 0 for the others.",
			instanceLabel, "state"),
		wantedState: d("instance_wanted_state",
			"State a VRRP instance is heading for, one series per state with 1 for the wanted one; differs from vigil_vrrp_instance_state while a sync group or an operator holds the instance back.",
			instanceLabel, "state"),
		basePriority: d("instance_base_priority",
			"Configured VRRP priority of an instance (1-255), before tracked scripts and interfaces adjust it.",
			inst...),
		effectivePriority: d("instance_effective_priority",
			"VRRP priority an instance advertises and elects with now: the base priority adjusted by the weights of failing tracks (0-255).",
			inst...),
		masterPriority: d("instance_master_priority",
			"Priority of the current master of a VRRP instance as this node sees it (its own effective priority when it is master); 0 while no master is known.",
			inst...),
		masterInfo: d("instance_master_info",
			"Address of the current master of a VRRP instance as this node sees it (its own address when it is master), always 1; absent while no master is known.",
			instanceLabel, "address"),
		transitions: d("instance_transitions_total",
			"State transitions of a VRRP instance since vigil started, by previous and new state; only pairs that occurred are exposed.",
			instanceLabel, "from", "to"),
		lastTransition: d("instance_last_transition_timestamp_seconds",
			"Unix time in seconds of the last state transition of a VRRP instance; 0 if it has not changed state since vigil started.",
			inst...),
		advertsSent: d("adverts_sent_total",
			"VRRP advertisements a VRRP instance sent.",
			inst...),
		advertsReceived: d("adverts_received_total",
			"Valid VRRP advertisements a VRRP instance accepted from peers.",
			inst...),
		prioZeroSent: d("priority_zero_sent_total",
			"Priority-0 advertisements a VRRP instance sent, each one resigning mastership to a backup.",
			inst...),
		prioZeroReceived: d("priority_zero_received_total",
			"Priority-0 advertisements a VRRP instance received, each one a master resigning.",
			inst...),
		instRecvErrors: d("instance_receive_errors_total",
			"VRRP packets addressed to an instance's virtual router ID that it dropped, by reason (the RFC 6527 statistics: ttl, checksum, version, vrid, type, length, address_list, interval, auth, auth_type, address_family).",
			instanceLabel, "reason"),
		ifaceRecvErrors: d("interface_receive_errors_total",
			"VRRP packets received on an interface and dropped before they could be attributed to an instance (malformed, or for a virtual router ID no instance runs), by reason.",
			"interface", "reason"),
		garpsSent: d("gratuitous_arps_sent_total",
			"Gratuitous ARP packets a VRRP instance sent to announce its IPv4 virtual addresses.",
			inst...),
		nasSent: d("neighbor_advertisements_sent_total",
			"Unsolicited IPv6 neighbor advertisement packets a VRRP instance sent to announce its IPv6 virtual addresses.",
			inst...),
		vipPresent: d("vip_present",
			"Whether a virtual address of a VRRP instance (the configured prefix) is present on its device (1) or not (0); a master should hold all of its addresses, a backup none.",
			instanceLabel, "address"),
		vipsRestored: d("vips_restored_total",
			"Virtual addresses a master VRRP instance re-added after something other than vigil removed them from the interface.",
			inst...),
		scriptUp: d("track_script_up",
			"Whether a tracked script's last result, after rise/fall hysteresis, is success (1) or failure (0).",
			"script"),
		scriptFailures: d("track_script_failures_total",
			"Times a tracked script went from up to down.",
			"script"),
		ifaceUp: d("track_interface_up",
			"Whether a tracked interface is up (1) or down or not yet known (0).",
			"interface"),
		ifaceFailures: d("track_interface_failures_total",
			"Times a tracked interface went from up to down.",
			"interface"),
	}
}

// Describe implements prometheus.Collector.
func (c *vrrpCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.info, c.state, c.wantedState, c.basePriority, c.effectivePriority,
		c.masterPriority, c.masterInfo, c.transitions, c.lastTransition,
		c.advertsSent, c.advertsReceived, c.prioZeroSent, c.prioZeroReceived,
		c.instRecvErrors, c.ifaceRecvErrors, c.garpsSent, c.nasSent,
		c.vipPresent, c.vipsRestored,
		c.scriptUp, c.scriptFailures, c.ifaceUp, c.ifaceFailures,
	} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *vrrpCollector) Collect(ch chan<- prometheus.Metric) {
	snap := c.snapshot()
	for i := range snap.Instances {
		c.collectInstance(ch, &snap.Instances[i])
	}
	for _, ifc := range snap.Interfaces {
		c.collectReasons(ch, c.ifaceRecvErrors, ifc.RecvErrors, ifc.Name)
	}
	for _, t := range snap.Tracks {
		// Kinds this collector has no metric for (a track kind added to
		// vrrp later) are left out rather than failing the whole scrape.
		switch t.Kind {
		case trackScript:
			ch <- gauge(c.scriptUp, boolValue(t.Up), t.Name)
			ch <- counter(c.scriptFailures, float64(t.Failures), t.Name)
		case trackInterface:
			ch <- gauge(c.ifaceUp, boolValue(t.Up), t.Name)
			ch <- counter(c.ifaceFailures, float64(t.Failures), t.Name)
		}
	}
}

func (c *vrrpCollector) collectInstance(ch chan<- prometheus.Metric, in *vrrp.InstanceSnapshot) {
	name := in.Name
	family := "ipv4"
	if in.IPv6 {
		family = "ipv6"
	}
	ch <- gauge(c.info, 1, name, in.Interface, strconv.Itoa(int(in.VRID)),
		strconv.Itoa(in.Version), family, in.SyncGroup)
	for _, s := range vrrp.States {
		ch <- gauge(c.state, boolValue(in.State == s), name, s.String())
		ch <- gauge(c.wantedState, boolValue(in.Wanted == s), name, s.String())
	}
	ch <- gauge(c.basePriority, float64(in.BasePriority), name)
	ch <- gauge(c.effectivePriority, float64(in.EffectivePriority), name)
	ch <- gauge(c.masterPriority, float64(in.MasterPriority), name)
	if in.MasterAddr.IsValid() {
		ch <- gauge(c.masterInfo, 1, name, in.MasterAddr.String())
	}
	for pair, n := range in.Transitions {
		ch <- counter(c.transitions, float64(n), name, pair[0].String(), pair[1].String())
	}
	ch <- gauge(c.lastTransition, timestampValue(in.LastTransition), name)
	ch <- counter(c.advertsSent, float64(in.AdvertsSent), name)
	ch <- counter(c.advertsReceived, float64(in.AdvertsReceived), name)
	ch <- counter(c.prioZeroSent, float64(in.PriorityZeroSent), name)
	ch <- counter(c.prioZeroReceived, float64(in.PriorityZeroRecvd), name)
	c.collectReasons(ch, c.instRecvErrors, in.RecvErrors, name)
	ch <- counter(c.garpsSent, float64(in.GARPsSent), name)
	ch <- counter(c.nasSent, float64(in.NAsSent), name)
	for p, present := range in.VIPsPresent {
		ch <- gauge(c.vipPresent, boolValue(present), name, p.String())
	}
	ch <- counter(c.vipsRestored, float64(in.VIPsRestored), name)
}

// collectReasons exposes one counter per reason in vrrp.Reasons, zero
// included so that rate() has a starting point, plus any other reason the
// snapshot carries.
func (c *vrrpCollector) collectReasons(ch chan<- prometheus.Metric, desc *prometheus.Desc, counts map[vrrp.Reason]uint64, owner string) {
	for _, r := range vrrp.Reasons {
		ch <- counter(desc, float64(counts[r]), owner, string(r))
	}
	for r, n := range counts {
		if !slices.Contains(vrrp.Reasons, r) {
			ch <- counter(desc, float64(n), owner, string(r))
		}
	}
}

func gauge(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func counter(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
}
