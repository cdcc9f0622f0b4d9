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
// Track.Weight is non-nil, every VIP has a Dev and a Scope, every virtual
// server has a Family, a Scheduler and a Forwarding, every real server a
// Forwarding, and every check its effective timing (inherited values such
// as delay_loop are copied down).
//
// Virtual servers (keepalived's virtual_server blocks, with their real
// servers and health checks) are VirtualServer, RealServer and Check;
// examples/vigil.yml shows every key with its default and limits.
package config

import (
	"github.com/vigil-lb/vigil/actuator"
	"net/netip"
	"regexp"
	"time"
)

// Config is vigil's whole configuration.
type Config struct {
	Global        Global         `yaml:"global"`
	VRRPScripts   []VRRPScript   `yaml:"vrrp_scripts"`
	VRRPInstances []VRRPInstance `yaml:"vrrp_instances"`
	SyncGroups    []SyncGroup    `yaml:"sync_groups"`
	// VirtualServers are the IPVS services vigil programs and health checks.
	VirtualServers []VirtualServer `yaml:"virtual_servers"`
	// Actuator maps Alertmanager alerts to actions (drain, weight,
	// failover, ...) and guards them; see package actuator.
	Actuator actuator.Config `yaml:"actuator"`

	// Hash is the SHA-256 of the file's bytes (hex); set by Load/Parse.
	Hash string `yaml:"-"`
}

// Global holds settings for the whole node.
type Global struct {
	RouterID string `yaml:"router_id"` // default: hostname
	// NotifyTimeout bounds every notify hook (default 10s).
	NotifyTimeout time.Duration `yaml:"notify_timeout"`
	// StateDir is where vigil keeps what must survive a restart: which IPVS
	// services it owns, real servers being drained, operator overrides.
	// An absolute path; default /var/lib/vigil.
	StateDir string `yaml:"state_dir"`
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
	// Split brain, as keepalived's keys of the same names. A master that
	// hears another master advertise a lower priority (or its own from a
	// lower address) announces its addresses again: GARPLowerPrioRepeat
	// packets at once and as many GARPLowerPrioDelay later, once per
	// episode (not again while that master keeps advertising).
	GARPLowerPrioDelay  time.Duration `yaml:"garp_lower_prio_delay"`  // default garp_master_delay; 0: no second burst
	GARPLowerPrioRepeat int           `yaml:"garp_lower_prio_repeat"` // 0..100; default garp_master_repeat; 0: off
	// HigherPrioSendAdvert: a master that yields to a higher priority
	// master first sends one advert with its own priority, so that the
	// other announces its addresses again (see GARPLowerPrioRepeat).
	// Default true (keepalived's default is false).
	HigherPrioSendAdvert bool `yaml:"higher_prio_send_advert"`
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

// VirtualServer is an IPVS virtual service and its real servers
// (keepalived's virtual_server). It is identified either by Protocol and
// Address or by Fwmark and Family: exactly one of Address and Fwmark is set.
type VirtualServer struct {
	// Name identifies the service in logs, metrics and the state
	// directory: 1..64 letters, digits, ".", "_" or "-", unique.
	Name string `yaml:"name"`
	// Address is the service's address and port: "10.0.0.1:80" or
	// "[2001:db8::1]:80". Written without a port it is an all-ports
	// service (port 0), which must be persistent.
	Address netip.AddrPort `yaml:"address"`
	// Fwmark is the firewall mark of a firewall-mark service, 1..2^32-1.
	Fwmark uint32 `yaml:"fwmark"`
	// Family is "ipv4" or "ipv6". It is written only for a firewall-mark
	// service (default ipv4); for an address service it is the address's.
	Family string `yaml:"family"`
	// Protocol is tcp (default), udp or sctp; empty for a firewall-mark
	// service, which matches whatever the mark was set on.
	Protocol string `yaml:"protocol"`
	// Scheduler is the IPVS scheduler: rr, wrr, lc, wlc (default, as
	// keepalived and ipvsadm), lblc, lblcr, dh, sh, sed, nq, mh, fo, ovf or
	// twos.
	Scheduler string `yaml:"scheduler"`
	// SchedulerFlags are sh-fallback and sh-port (sh only), mh-fallback and
	// mh-port (mh only), and ops (one-packet scheduling; udp or fwmark).
	SchedulerFlags []string `yaml:"scheduler_flags"`
	// Forwarding is the default forwarding method of the real servers:
	// nat (default, as keepalived's lb_kind), dr or tun.
	Forwarding string `yaml:"forwarding"`
	// PersistenceTimeout makes the service persistent: a client sticks to
	// its real server while it has connections or for this long after.
	// Whole seconds, up to 31 days; 0 (default) is not persistent.
	PersistenceTimeout time.Duration `yaml:"persistence_timeout"`
	// PersistenceNetmask groups clients for persistence (keepalived's
	// persistence_granularity, ipvsadm -M); 0 means each client address
	// on its own. Only with PersistenceTimeout > 0.
	PersistenceNetmask Netmask `yaml:"persistence_netmask"`
	// Quorum is the total weight of healthy real servers the service
	// needs; below it the sorry server, if any, replaces them. Default 1.
	Quorum int `yaml:"quorum"`
	// Hysteresis dampens quorum flaps as in keepalived: the quorum is
	// gained at Quorum+Hysteresis and lost below Quorum-Hysteresis (or
	// when no real server is healthy). Default 0.
	Hysteresis int `yaml:"hysteresis"`
	// InhibitOnFailure sets a failed real server's weight to 0 instead of
	// removing it, so established connections continue.
	InhibitOnFailure bool `yaml:"inhibit_on_failure"`
	// Alpha starts every real server as failed until its checks pass;
	// otherwise real servers start healthy.
	Alpha bool `yaml:"alpha"`
	// SorryServer replaces the real servers while the quorum is lost;
	// invalid (the zero value) when there is none.
	SorryServer netip.AddrPort `yaml:"sorry_server"`
	// SorryServerForwarding is the sorry server's forwarding method;
	// default Forwarding. Empty when there is no sorry server.
	SorryServerForwarding string `yaml:"sorry_server_forwarding"`
	// DelayLoop is the default interval between checks (keepalived's
	// delay_loop), 100ms..24h; default 60s.
	DelayLoop time.Duration `yaml:"delay_loop"`
	// DrainGrace is how long a real server removed from the configuration
	// keeps its connections at weight 0 before it is deleted; 0 deletes it
	// at once. 0..24h, default 30s.
	DrainGrace  time.Duration `yaml:"drain_grace"`
	RealServers []RealServer  `yaml:"real_servers"`
}

// Netmask is a persistence granularity as a prefix length. In YAML it is a
// dotted IPv4 mask ("255.255.255.0", keepalived's syntax) or a prefix
// length (24, or 64 for IPv6); a dotted mask must be contiguous.
type Netmask int

// RealServer is a backend of a virtual server (keepalived's real_server).
type RealServer struct {
	// Address is the server's address and port, in the virtual server's
	// family. The port may be omitted only for a firewall-mark or an
	// all-ports service; with dr or tun forwarding it must be the virtual
	// server's port, as IPVS cannot change it.
	Address netip.AddrPort `yaml:"address"`
	// Weight is the IPVS weight, 0..65535 (ipvsadm's range); 0 takes no
	// new connections. Default 1.
	Weight int `yaml:"weight"`
	// Forwarding overrides the virtual server's forwarding method.
	Forwarding string `yaml:"forwarding"`
	// UpperThreshold caps the server's connections (0 = no cap);
	// LowerThreshold, at most UpperThreshold, is where it takes new ones
	// again.
	UpperThreshold uint32 `yaml:"upper_threshold"`
	LowerThreshold uint32 `yaml:"lower_threshold"`
	// Checks must all pass for the server to be healthy; a server without
	// checks is always healthy, as in keepalived.
	Checks []Check `yaml:"checks"`
}

// Check is one health check of a real server. Type selects the probe and
// its sub-block: tcp (none), http and https (HTTP), mysql (MySQL), exec
// (Exec), udp (UDP), dns (DNS). Exactly the sub-block of the type is set.
//
// One check round is an attempt plus up to Retries more, RetryDelay apart;
// the round fails if every attempt fails. Rise successful rounds in a row
// bring a failed server back, Fall failed rounds in a row fail it.
type Check struct {
	Type string `yaml:"type"`
	// ConnectTimeout bounds each attempt (for exec: the program's run
	// time). Default 5s, as keepalived.
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// DelayLoop is the interval between rounds; default the virtual
	// server's delay_loop.
	DelayLoop time.Duration `yaml:"delay_loop"`
	// Retries are extra attempts after a failed one (keepalived's retry):
	// default 1; 3 for dns and 0 for exec, as keepalived. 0..100.
	Retries int `yaml:"retries"`
	// RetryDelay separates attempts (keepalived's delay_before_retry):
	// default 3s for http and https, the delay loop for dns, 1s otherwise.
	RetryDelay time.Duration `yaml:"retry_delay"`
	// Warmup delays the first round by a random time up to this, to
	// spread checks; default the delay loop (as keepalived), 0 disables.
	Warmup time.Duration `yaml:"warmup"`
	Rise   int           `yaml:"rise"` // default 1
	Fall   int           `yaml:"fall"` // default 1
	// ConnectPort checks another port than the real server's; required
	// when the real server has no port.
	ConnectPort uint16 `yaml:"connect_port"`

	MySQL *MySQLCheck `yaml:"mysql"`
	HTTP  *HTTPCheck  `yaml:"http"`
	Exec  *ExecCheck  `yaml:"exec"`
	UDP   *UDPCheck   `yaml:"udp"`
	DNS   *DNSCheck   `yaml:"dns"`
}

// MySQLCheck logs in to a MySQL or MariaDB server and runs a query.
type MySQLCheck struct {
	User string `yaml:"user"` // required
	// Password is given inline or read from PasswordFile (an absolute
	// path), not both; neither means an empty password.
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
	// RequireWritable fails the check while the server is read_only.
	RequireWritable bool `yaml:"require_writable"`
	// MaxReplicaLag, when not 0, fails the check when the server's
	// replication lag exceeds it or is unknown. Whole seconds.
	MaxReplicaLag time.Duration `yaml:"max_replica_lag"`
	// RequireReplicaRunning fails the check unless the replica IO and SQL
	// threads both run.
	RequireReplicaRunning bool `yaml:"require_replica_running"`
}

// HTTPCheck sends an HTTP request (keepalived's HTTP_GET, or SSL_GET for
// type https) and checks the response. Redirects are not followed.
type HTTPCheck struct {
	Method string `yaml:"method"` // GET (default), HEAD, POST or OPTIONS
	Path   string `yaml:"path"`   // default "/"; may carry a query
	// Host is the Host header (keepalived's virtualhost); default the
	// real server's address.
	Host string `yaml:"host"`
	// ExpectStatus lists the acceptable status codes; default 200-299.
	ExpectStatus []StatusRange `yaml:"expect_status"`
	// BodyPattern is a regular expression (Go RE2 syntax) the body must
	// match; see BodyRegexp.
	BodyPattern string `yaml:"body_regexp"`
	// Digest is the MD5 of the body in lowercase hex, as keepalived's
	// genhash prints it.
	Digest string `yaml:"digest"`
	// Headers are added to the request; Host is set with Host.
	Headers map[string]string `yaml:"headers"`
	// TLS settings, for type https only. Certificates are verified unless
	// TLSInsecureSkipVerify is set (unlike keepalived's SSL_GET); against
	// TLSCAFile (an absolute path) instead of the system roots when set.
	TLSServerName         string `yaml:"tls_server_name"`
	TLSInsecureSkipVerify bool   `yaml:"tls_insecure_skip_verify"`
	TLSCAFile             string `yaml:"tls_ca_file"`

	bodyRegexp *regexp.Regexp // compiled BodyPattern, set by Load and Parse
}

// StatusRange is an inclusive range of HTTP status codes, 100..599. In YAML
// it is a code (200) or a range ("200-299").
type StatusRange struct{ Min, Max int }

// ExecCheck runs a program (keepalived's MISC_CHECK), never through a
// shell. Exit status 0 is success.
type ExecCheck struct {
	// Command is the argv; Command[0] must be an absolute path.
	Command []string `yaml:"command"`
	// DynamicWeight (keepalived's misc_dynamic): exit status 1 is failure,
	// 2..255 success with the real server's weight set to status - 2.
	DynamicWeight bool `yaml:"dynamic_weight"`
}

// UDPCheck sends one datagram and checks the reply (keepalived's
// UDP_CHECK). Payload and Expect are text, or bytes in hex after a "hex:"
// prefix ("hex:0a1b 2c", spaces ignored); see PayloadBytes and ExpectBytes.
// With Expect empty, no reply is needed: only an ICMP error fails the
// check.
type UDPCheck struct {
	Payload string `yaml:"payload"` // default empty: an empty datagram
	Expect  string `yaml:"expect"`  // the reply must start with it
}

// DNSCheck sends one DNS query over UDP (keepalived's DNS_CHECK).
type DNSCheck struct {
	Name string `yaml:"name"` // default "." as keepalived
	// Type is the query type: A, AAAA, CNAME, MX, NS, PTR, SOA (default,
	// as keepalived), SRV or TXT.
	Type string `yaml:"type"`
	// ExpectRcode is the required response code by name: NOERROR
	// (default), NXDOMAIN, ...; see ExpectedRcode.
	ExpectRcode string `yaml:"expect_rcode"`
}
