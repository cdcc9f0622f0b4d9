package config

import (
	"fmt"
	"os"
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
)

// hostname is the default router_id; a variable so tests can replace it.
var hostname = os.Hostname

// applyDefaults fills every key the file did not set. It runs before
// validation, which therefore sees the effective configuration.
func (d *decoder) applyDefaults(c *Config) {
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
}

func ptr[T any](v T) *T { return &v }
