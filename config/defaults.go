package config

import (
	"fmt"
	"github.com/vigil-lb/vigil/actuator"
	"os"
	"slices"
	"time"
)

// Defaults. A key written in the file, even as zero, is never replaced.
const (
	defaultNotifyTimeout    = 10 * time.Second
	defaultPriority         = 100
	defaultVersion          = 3
	defaultAdvertInterval   = time.Second
	defaultGARPMasterDelay  = 5 * time.Second
	defaultGARPMasterRepeat = 5
	defaultScriptInterval   = time.Second
	defaultScriptRise       = 1
	defaultScriptFall       = 1
	defaultStateDir         = "/var/lib/vigil"

	// Virtual servers: keepalived's defaults (check_data.c, check_parser.c
	// and keepalived.conf(5)) unless noted.
	defaultProtocol       = "tcp"
	defaultScheduler      = "wlc" // keepalived's IPVS_DEF_SCHED, as ipvsadm
	defaultForwarding     = "nat" // keepalived's default lb_kind
	defaultQuorum         = 1
	defaultDelayLoop      = 60 * time.Second // KEEPALIVED_DEFAULT_DELAY
	defaultDrainGrace     = 30 * time.Second // vigil's: keepalived deletes at once
	defaultFwmarkFamily   = "ipv4"           // keepalived's ip_family default, inet
	defaultWeight         = 1
	defaultConnectTimeout = 5 * time.Second
	defaultRetries        = 1 // keepalived's retry; 3 for DNS_CHECK, 0 for MISC_CHECK
	defaultDNSRetries     = 3
	defaultExecRetries    = 0
	defaultRetryDelay     = time.Second     // keepalived's delay_before_retry
	defaultHTTPRetryDelay = 3 * time.Second // for HTTP_GET and SSL_GET; DNS: delay_loop
	defaultCheckRise      = 1
	defaultCheckFall      = 1
	defaultHTTPMethod     = "GET"
	defaultHTTPPath       = "/"
	defaultDNSName        = "."   // keepalived's DNS_CHECK default
	defaultDNSType        = "SOA" // keepalived's DNS_CHECK default
	defaultDNSRcode       = "NOERROR"
)

// defaultHigherPrioSendAdvert is vigil's: keepalived's higher_prio_send_advert
// defaults to false, which leaves a healed split brain unannounced whenever
// the winner's advert reaches the loser before the loser's reaches the
// winner (see vrrp.InstanceConfig.HigherPrioSendAdvert).
const defaultHigherPrioSendAdvert = true

// defaultExpectStatus is keepalived's default status_code.
var defaultExpectStatus = []StatusRange{{200, 299}}

// hostname is the default router_id; a variable so tests can replace it.
var hostname = os.Hostname

// applyDefaults fills every key the file did not set. It runs before
// validation, which therefore sees the effective configuration.
func (d *decoder) applyDefaults(c *Config) {
	d.actuatorDefaults(&c.Actuator)
	if !d.set["global.router_id"] {
		h, err := hostname()
		if err != nil {
			d.invalid("global.router_id", "not set, and the hostname to default it to is unknown: %v", err)
		} else {
			c.Global.RouterID = h
		}
	}
	if !d.set["global.notify_timeout"] {
		c.Global.NotifyTimeout = defaultNotifyTimeout
	}
	if !d.set["global.state_dir"] {
		c.Global.StateDir = defaultStateDir
	}

	for i := range c.VRRPScripts {
		s := &c.VRRPScripts[i]
		p := fmt.Sprintf("vrrp_scripts[%d].", i)
		if !d.set[p+"interval"] {
			s.Interval = defaultScriptInterval
		}
		if !d.set[p+"timeout"] {
			s.Timeout = s.Interval
		}
		if !d.set[p+"rise"] {
			s.Rise = defaultScriptRise
		}
		if !d.set[p+"fall"] {
			s.Fall = defaultScriptFall
		}
	}

	for i := range c.VRRPInstances {
		in := &c.VRRPInstances[i]
		p := fmt.Sprintf("vrrp_instances[%d].", i)
		if !d.set[p+"priority"] {
			in.Priority = defaultPriority
		}
		if !d.set[p+"version"] {
			in.Version = defaultVersion
		}
		if !d.set[p+"advert_interval"] {
			in.AdvertInterval = defaultAdvertInterval
		}
		if in.Preempt == nil {
			in.Preempt = ptr(true)
		}
		if !d.set[p+"garp_master_delay"] {
			in.GARPMasterDelay = defaultGARPMasterDelay
		}
		if !d.set[p+"garp_master_repeat"] {
			in.GARPMasterRepeat = defaultGARPMasterRepeat
		}
		// keepalived defaults vrrp_garp_lower_prio_* to vrrp_garp_master_*;
		// vigil has no global GARP keys, so the instance's own stand in.
		if !d.set[p+"garp_lower_prio_delay"] {
			in.GARPLowerPrioDelay = in.GARPMasterDelay
		}
		if !d.set[p+"garp_lower_prio_repeat"] {
			in.GARPLowerPrioRepeat = in.GARPMasterRepeat
		}
		if !d.set[p+"higher_prio_send_advert"] {
			in.HigherPrioSendAdvert = defaultHigherPrioSendAdvert
		}
		for j := range in.VirtualIPAddresses {
			if vip := &in.VirtualIPAddresses[j]; vip.Dev == "" {
				vip.Dev = in.Interface
			}
		}
		for j := range in.TrackInterfaces {
			if t := &in.TrackInterfaces[j]; t.Weight == nil {
				t.Weight = ptr(0)
			}
		}
		for j := range in.TrackScripts {
			t := &in.TrackScripts[j]
			if t.Weight != nil {
				continue
			}
			if s, ok := c.Script(t.Name); ok {
				t.Weight = ptr(s.Weight)
			}
		}
	}

	for i := range c.VirtualServers {
		d.defaultVirtualServer(&c.VirtualServers[i], fmt.Sprintf("virtual_servers[%d].", i))
	}
}

// defaultVirtualServer fills a virtual server's absent keys at key path
// prefix p, and copies its inherited values down to real servers and checks.
func (d *decoder) defaultVirtualServer(vs *VirtualServer, p string) {
	fwmark := d.set[p+"fwmark"]
	if !d.set[p+"family"] {
		switch {
		case fwmark:
			vs.Family = defaultFwmarkFamily
		case vs.Address.IsValid():
			vs.Family = addrFamily(vs.Address.Addr())
		}
	}
	if !d.set[p+"protocol"] && !fwmark {
		vs.Protocol = defaultProtocol
	}
	if !d.set[p+"scheduler"] {
		vs.Scheduler = defaultScheduler
	}
	if !d.set[p+"forwarding"] {
		vs.Forwarding = defaultForwarding
	}
	if !d.set[p+"quorum"] {
		vs.Quorum = defaultQuorum
	}
	if !d.set[p+"delay_loop"] {
		vs.DelayLoop = defaultDelayLoop
	}
	if !d.set[p+"drain_grace"] {
		vs.DrainGrace = defaultDrainGrace
	}
	if vs.SorryServer.IsValid() && !d.set[p+"sorry_server_forwarding"] {
		vs.SorryServerForwarding = vs.Forwarding
	}
	for j := range vs.RealServers {
		rs := &vs.RealServers[j]
		rp := fmt.Sprintf("%sreal_servers[%d].", p, j)
		if !d.set[rp+"weight"] {
			rs.Weight = defaultWeight
		}
		if !d.set[rp+"forwarding"] {
			rs.Forwarding = vs.Forwarding
		}
		for k := range rs.Checks {
			d.defaultCheck(&rs.Checks[k], vs, fmt.Sprintf("%schecks[%d].", rp, k))
		}
	}
}

// defaultCheck fills a check's absent keys at key path prefix p.
func (d *decoder) defaultCheck(ch *Check, vs *VirtualServer, p string) {
	if !d.set[p+"connect_timeout"] {
		ch.ConnectTimeout = defaultConnectTimeout
	}
	if !d.set[p+"delay_loop"] {
		ch.DelayLoop = vs.DelayLoop
	}
	if !d.set[p+"retries"] {
		switch ch.Type {
		case "dns":
			ch.Retries = defaultDNSRetries
		case "exec":
			ch.Retries = defaultExecRetries
		default:
			ch.Retries = defaultRetries
		}
	}
	if !d.set[p+"retry_delay"] {
		switch ch.Type {
		case "http", "https":
			ch.RetryDelay = defaultHTTPRetryDelay
		case "dns":
			ch.RetryDelay = ch.DelayLoop
		default:
			ch.RetryDelay = defaultRetryDelay
		}
	}
	if !d.set[p+"warmup"] {
		ch.Warmup = ch.DelayLoop
	}
	if !d.set[p+"rise"] {
		ch.Rise = defaultCheckRise
	}
	if !d.set[p+"fall"] {
		ch.Fall = defaultCheckFall
	}
	if h := ch.HTTP; h != nil {
		if !d.set[p+"http.method"] {
			h.Method = defaultHTTPMethod
		}
		if !d.set[p+"http.path"] {
			h.Path = defaultHTTPPath
		}
		if !d.set[p+"http.expect_status"] {
			h.ExpectStatus = slices.Clone(defaultExpectStatus)
		}
	}
	if n := ch.DNS; n != nil {
		if !d.set[p+"dns.name"] {
			n.Name = defaultDNSName
		}
		if !d.set[p+"dns.type"] {
			n.Type = defaultDNSType
		}
		if !d.set[p+"dns.expect_rcode"] {
			n.ExpectRcode = defaultDNSRcode
		}
	}
}

func ptr[T any](v T) *T { return &v }

// actuatorDefaults applies actuator.DefaultConfig's guards to the keys the
// file did not set.
func (d *decoder) actuatorDefaults(a *actuator.Config) {
	def := actuator.DefaultConfig().Guards
	g := &a.Guards
	if !d.set["actuator.guards.min_healthy_per_virtual_server"] {
		g.MinHealthyPerVirtualServer = def.MinHealthyPerVirtualServer
	}
	if !d.set["actuator.guards.max_concurrent_actions"] {
		g.MaxConcurrentActions = def.MaxConcurrentActions
	}
	if !d.set["actuator.guards.cooldown"] {
		g.Cooldown = def.Cooldown
	}
	if !d.set["actuator.guards.rate_limit.actions"] {
		g.RateLimit.Actions = def.RateLimit.Actions
	}
	if !d.set["actuator.guards.rate_limit.per"] {
		g.RateLimit.Per = def.RateLimit.Per
	}
}
