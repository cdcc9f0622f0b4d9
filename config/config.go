// Package config loads and validates vigil's YAML configuration. Keys follow
// keepalived's vocabulary in snake_case. Decoding is strict: unknown keys are
// errors. Every error names the file, line and key path, and quotes the
// offending value, e.g.
//
//	vigil.yml:12: vrrp_instances[0].priority: must be 1..255, got 300
//
// Load and Parse report every problem in a file at once (errors.Join, sorted
// by line). Duplicate keys, YAML merge keys ("<<") and files holding more or
// fewer than one YAML document are rejected; anchors and aliases work.
//
// Durations are Go duration strings ("100ms", "1s", "2m") or plain numbers,
// which are seconds as in keepalived: advert_interval: 1 is one second and
// advert_interval: 0.1 is 100ms. A quoted number such as "1" is a string, and
// a duration string needs a unit.
//
// Defaults are applied before validation, and only to keys absent from the
// file (or null): an explicit 0 or false is kept and validated. A successful
// Load or Parse returns a fully resolved Config: every Preempt and every
// Track.Weight is non-nil, every VIP has a Dev and a Scope.
package config

import (
	"net/netip"
	"time"
)

// Config is vigil's whole configuration.
type Config struct {
	Global        Global         `yaml:"global"`
	VRRPScripts   []VRRPScript   `yaml:"vrrp_scripts"`
	VRRPInstances []VRRPInstance `yaml:"vrrp_instances"`
	SyncGroups    []SyncGroup    `yaml:"sync_groups"`

	// Hash is the SHA-256 of the file's bytes (hex); set by Load/Parse.
	Hash string `yaml:"-"`
}

// Global holds settings for the whole node.
type Global struct {
	RouterID string `yaml:"router_id"` // default: hostname
	// NotifyTimeout bounds every notify hook (default 10s).
	NotifyTimeout time.Duration `yaml:"notify_timeout"`
}

// VRRPScript is a tracked script, run periodically as argv (never a shell).
type VRRPScript struct {
	Name     string        `yaml:"name"`
	Command  []string      `yaml:"command"`  // argv; required
	Interval time.Duration `yaml:"interval"` // default 1s
	Timeout  time.Duration `yaml:"timeout"`  // default = interval
	Rise     int           `yaml:"rise"`     // default 1
	Fall     int           `yaml:"fall"`     // default 1
	Weight   int           `yaml:"weight"`   // -253..253, default 0 (0: failure means FAULT)
}

// VRRPInstance is one virtual router.
type VRRPInstance struct {
	Name               string        `yaml:"name"`
	Interface          string        `yaml:"interface"`
	VirtualRouterID    int           `yaml:"virtual_router_id"` // 1..255
	Priority           int           `yaml:"priority"`          // 1..255, default 100
	Version            int           `yaml:"version"`           // 2 or 3, default 3
	AdvertInterval     time.Duration `yaml:"advert_interval"`   // default 1s; v2 whole seconds; v3 10ms..40.95s, multiple of 10ms
	Preempt            *bool         `yaml:"preempt"`           // default true
	PreemptDelay       time.Duration `yaml:"preempt_delay"`     // 0..1000s
	Authentication     *Auth         `yaml:"authentication"`    // v2 only
	UnicastSource      netip.Addr    `yaml:"unicast_source"`
	UnicastPeers       []netip.Addr  `yaml:"unicast_peers"`
	VirtualIPAddresses []VIP         `yaml:"virtual_ipaddresses"`
	TrackInterfaces    []Track       `yaml:"track_interfaces"`
	TrackScripts       []Track       `yaml:"track_scripts"`
	Notify             Notify        `yaml:"notify"`
	// GARP behaviour, as keepalived's garp_master_* keys.
	GARPMasterDelay   time.Duration `yaml:"garp_master_delay"`   // second burst after this; default 5s; 0 disables
	GARPMasterRepeat  int           `yaml:"garp_master_repeat"`  // packets per burst; default 5
	GARPMasterRefresh time.Duration `yaml:"garp_master_refresh"` // periodic refresh while master; default 0 (off)
	GARPInterval      time.Duration `yaml:"garp_interval"`       // gap between packets in a burst; default 0
}

// Auth is VRRPv2 authentication, as keepalived's authentication block.
type Auth struct {
	Type     string `yaml:"type"`     // PASS (AH is not supported)
	Password string `yaml:"password"` // 1..8 bytes
}

// VIP is one virtual address. In YAML it is a string in keepalived's
// syntax: "<addr>/<len> [dev <if>] [label <label>] [brd <addr>] [scope <scope>]".
type VIP struct {
	Prefix    netip.Prefix
	Dev       string     // default: the instance's interface
	Label     string     // optional, must start with the device name
	Broadcast netip.Addr // optional, IPv4 only
	Scope     string     // global (default), site, link, host
}

// Track is a tracked interface or script with an optional weight.
type Track struct {
	Name string `yaml:"name"`
	// Weight: 0 means failure puts the instance in FAULT; negative is added
	// to the priority while failing; positive is added while healthy.
	// For scripts a nil Weight means the script's own weight.
	Weight *int `yaml:"weight"`
}

// Notify holds argv hooks run on transitions (never through a shell).
type Notify struct {
	Master []string `yaml:"master"`
	Backup []string `yaml:"backup"`
	Fault  []string `yaml:"fault"`
	Stop   []string `yaml:"stop"`
}

// SyncGroup ties instances so that they change state together.
type SyncGroup struct {
	Name      string   `yaml:"name"`
	Instances []string `yaml:"instances"`
}
