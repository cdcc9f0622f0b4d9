package config

import (
	"fmt"
	"github.com/vigil-lb/vigil/actuator"
	"net/netip"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"
)

func ap(s string) netip.AddrPort {
	a, err := parseAddrPort(s)
	if err != nil {
		panic(err)
	}
	return a
}

// TestParseVirtualServersFull checks every virtual server key against the
// exact effective configuration, defaults included.
func TestParseVirtualServersFull(t *testing.T) {
	c, data := loadFile(t, "testdata/good/virtual_servers_full.yml")
	tcp := func(port uint16) Check {
		return Check{Type: "tcp", ConnectTimeout: 5 * time.Second, DelayLoop: 60 * time.Second, Retries: 1,
			RetryDelay: time.Second, Warmup: 60 * time.Second, Rise: 1, Fall: 1, ConnectPort: port}
	}
	want := &Config{
		Global: Global{RouterID: "lb1", NotifyTimeout: 10 * time.Second, StateDir: "/srv/vigil/state"},
		VRRPInstances: []VRRPInstance{{
			Name: "VI_1", Interface: "eth0", VirtualRouterID: 51, Priority: 100, Version: 3,
			AdvertInterval: time.Second, Preempt: ptr(true),
			VirtualIPAddresses: []VIP{{Prefix: netip.MustParsePrefix("10.99.0.250/24"), Dev: "eth0", Scope: "global"}},
			GARPMasterDelay:    5 * time.Second, GARPMasterRepeat: 5,
			GARPLowerPrioDelay: 5 * time.Second, GARPLowerPrioRepeat: 5, HigherPrioSendAdvert: true,
		}},
		VirtualServers: []VirtualServer{
			{
				Name:                  "mysql-write",
				Address:               ap("10.99.0.250:3306"),
				Family:                "ipv4",
				Protocol:              "tcp",
				Scheduler:             "sh",
				SchedulerFlags:        []string{"sh-port", "sh-fallback"},
				Forwarding:            "dr",
				PersistenceTimeout:    120 * time.Second,
				PersistenceNetmask:    24,
				Quorum:                2,
				Hysteresis:            1,
				InhibitOnFailure:      true,
				Alpha:                 true,
				SorryServer:           ap("10.99.0.23:3306"),
				SorryServerForwarding: "nat",
				DelayLoop:             6 * time.Second,
				DrainGrace:            0,
				RealServers: []RealServer{
					{
						Address: ap("10.99.0.21:3306"), Weight: 3, Forwarding: "nat",
						UpperThreshold: 100, LowerThreshold: 50,
						Checks: []Check{
							{
								Type: "mysql", ConnectTimeout: 3 * time.Second, DelayLoop: 2 * time.Second,
								Retries: 0, RetryDelay: 500 * time.Millisecond, Warmup: 0, Rise: 2, Fall: 3,
								ConnectPort: 3307,
								MySQL: &MySQLCheck{
									User: "monitor", PasswordFile: "/etc/vigil/monitor.pw", RequireWritable: true,
									MaxReplicaLag: 5 * time.Second, RequireReplicaRunning: true,
								},
							},
							{Type: "tcp", ConnectTimeout: 5 * time.Second, DelayLoop: 6 * time.Second, Retries: 1,
								RetryDelay: time.Second, Warmup: 6 * time.Second, Rise: 1, Fall: 1},
						},
					},
					{
						Address: ap("10.99.0.22:3306"), Weight: 1, Forwarding: "dr",
						Checks: []Check{
							{Type: "mysql", ConnectTimeout: 5 * time.Second, DelayLoop: 6 * time.Second, Retries: 1,
								RetryDelay: time.Second, Warmup: 6 * time.Second, Rise: 1, Fall: 1,
								MySQL: &MySQLCheck{User: "monitor", Password: "s3cret"}},
							{Type: "exec", ConnectTimeout: 5 * time.Second, DelayLoop: 6 * time.Second, Retries: 0,
								RetryDelay: time.Second, Warmup: 6 * time.Second, Rise: 1, Fall: 1,
								Exec: &ExecCheck{Command: []string{"/usr/local/bin/chk", "arg"}, DynamicWeight: true}},
						},
					},
				},
			},
			{
				Name:               "web",
				Fwmark:             10,
				Family:             "ipv6",
				Scheduler:          "mh",
				SchedulerFlags:     []string{"mh-fallback", "mh-port", "ops"},
				Forwarding:         "nat",
				PersistenceTimeout: 300 * time.Second,
				PersistenceNetmask: 64,
				Quorum:             1,
				DelayLoop:          60 * time.Second,
				DrainGrace:         30 * time.Second,
				RealServers: []RealServer{{
					Address: ap("fd99::31"), Weight: 1, Forwarding: "nat",
					Checks: []Check{
						{
							Type: "https", ConnectTimeout: 5 * time.Second, DelayLoop: 60 * time.Second, Retries: 1,
							RetryDelay: 3 * time.Second, Warmup: 60 * time.Second, Rise: 1, Fall: 1, ConnectPort: 443,
							HTTP: &HTTPCheck{
								Method: "HEAD", Path: "/health?full=1", Host: "www.example.org:8443",
								ExpectStatus:  []StatusRange{{200, 200}, {300, 399}},
								Headers:       map[string]string{"X-A": "b", "x-b": ""},
								TLSServerName: "www.example.org", TLSCAFile: "/etc/vigil/ca.pem",
							},
						},
						{
							Type: "http", ConnectTimeout: 5 * time.Second, DelayLoop: 60 * time.Second, Retries: 1,
							RetryDelay: 3 * time.Second, Warmup: 60 * time.Second, Rise: 1, Fall: 1, ConnectPort: 80,
							HTTP: &HTTPCheck{
								Method: "GET", Path: "/", ExpectStatus: []StatusRange{{200, 299}},
								BodyPattern: "^ok$", bodyRegexp: regexp.MustCompile("^ok$"),
								Digest: "9b3a0c85a887a256d6939da88aabd8cd",
							},
						},
						func() Check {
							ch := tcp(7)
							ch.Type, ch.UDP = "udp", &UDPCheck{Payload: "hex:76 69 67", Expect: "vig"}
							return ch
						}(),
					},
				}},
			},
			{
				Name:       "dns",
				Address:    ap("[fd99::53]:53"),
				Family:     "ipv6",
				Protocol:   "udp",
				Scheduler:  "wlc",
				Forwarding: "nat",
				Quorum:     1,
				DelayLoop:  60 * time.Second,
				DrainGrace: 30 * time.Second,
				RealServers: []RealServer{{
					Address: ap("[fd99::1]:53"), Weight: 1, Forwarding: "nat",
					Checks: []Check{
						{Type: "dns", ConnectTimeout: 5 * time.Second, DelayLoop: 60 * time.Second, Retries: 3,
							RetryDelay: 60 * time.Second, Warmup: 60 * time.Second, Rise: 1, Fall: 1,
							DNS: &DNSCheck{Name: "example.org.", Type: "AAAA", ExpectRcode: "NXDOMAIN"}},
						{Type: "dns", ConnectTimeout: 5 * time.Second, DelayLoop: 60 * time.Second, Retries: 3,
							RetryDelay: 60 * time.Second, Warmup: 60 * time.Second, Rise: 1, Fall: 1,
							DNS: &DNSCheck{Name: ".", Type: "SOA", ExpectRcode: "NOERROR"}},
					},
				}},
			},
		},
		Actuator: actuator.DefaultConfig(),
		Hash:     sha256Hex(data),
	}
	if diff := cmp.Diff(want, c, cmpOpts); diff != "" {
		t.Errorf("Parse(virtual_servers_full.yml) mismatch (-want +got):\n%s", diff)
	}
}

// TestParseSeed000LVS checks seed 000's keepalived.conf as translated: two
// LVS-DR services for the MySQL instances on 3306 and 3308, each with one
// TCP-checked real server and the other master as sorry server.
func TestParseSeed000LVS(t *testing.T) {
	c, _ := loadFile(t, "testdata/good/seed000_lvs.yml")
	service := func(port uint16) VirtualServer {
		p := fmt.Sprint(port)
		return VirtualServer{
			Name:                  "mysql-" + p,
			Address:               ap("192.168.66.251:" + p),
			Family:                "ipv4",
			Protocol:              "tcp",
			Scheduler:             "wrr",
			Forwarding:            "dr",
			PersistenceTimeout:    120 * time.Second,
			Quorum:                1,
			SorryServer:           ap("192.168.66.254:" + p),
			SorryServerForwarding: "dr",
			DelayLoop:             20 * time.Second,
			DrainGrace:            30 * time.Second,
			RealServers: []RealServer{{
				Address: ap("192.168.66.253:" + p), Weight: 1, Forwarding: "dr",
				Checks: []Check{{
					Type: "tcp", ConnectTimeout: 5 * time.Second, DelayLoop: 20 * time.Second,
					Retries: 3, RetryDelay: 3 * time.Second, Warmup: 20 * time.Second,
					Rise: 1, Fall: 1, ConnectPort: port,
				}},
			}},
		}
	}
	want := []VirtualServer{service(3306), service(3308)}
	if diff := cmp.Diff(want, c.VirtualServers, cmpOpts); diff != "" {
		t.Errorf("virtual servers (-want +got):\n%s", diff)
	}
	// The VRRP part is the director's of lvs_mysql_master.yml.
	vrrp, _ := loadFile(t, "testdata/good/lvs_mysql_master.yml")
	if diff := cmp.Diff(vrrp.VRRPInstances, c.VRRPInstances, cmpOpts); diff != "" {
		t.Errorf("VRRP instances differ from lvs_mysql_master.yml:\n%s", diff)
	}
	// The classic deployment: the services' address is the VRRP VIP.
	if got := c.VRRPInstances[0].VirtualIPAddresses[0].Prefix.Addr(); got != c.VirtualServers[0].Address.Addr() {
		t.Errorf("VIP %s is not the services' address %s", got, c.VirtualServers[0].Address.Addr())
	}
}

const vsBase = `
vrrp_instances:
  - { name: VI_1, interface: eth0, virtual_router_id: 1, virtual_ipaddresses: [10.0.0.1] }
virtual_servers:
`

// TestDefaultsVirtualServer checks the whole effective configuration of a
// virtual server that sets only what it must.
func TestDefaultsVirtualServer(t *testing.T) {
	withHostname(t, "testhost", nil)
	yml := vsBase + `  - name: web
    address: 10.0.0.1:80
    sorry_server: 10.0.0.9:80
    real_servers:
      - address: 10.0.0.2:80
        checks: [{type: tcp}, {type: http, http: {}}, {type: dns, dns: {}}, {type: exec, exec: {command: [/bin/true]}}, {type: udp, udp: {}}]
`
	c, err := Parse([]byte(yml), "vigil.yml")
	if err != nil {
		t.Fatal(err)
	}
	check := func(typ string, retries int, retryDelay time.Duration) Check {
		return Check{Type: typ, ConnectTimeout: 5 * time.Second, DelayLoop: 60 * time.Second, Retries: retries,
			RetryDelay: retryDelay, Warmup: 60 * time.Second, Rise: 1, Fall: 1}
	}
	httpCheck := check("http", 1, 3*time.Second)
	httpCheck.HTTP = &HTTPCheck{Method: "GET", Path: "/", ExpectStatus: []StatusRange{{200, 299}}}
	dnsCheck := check("dns", 3, 60*time.Second)
	dnsCheck.DNS = &DNSCheck{Name: ".", Type: "SOA", ExpectRcode: "NOERROR"}
	execCheck := check("exec", 0, time.Second)
	execCheck.Exec = &ExecCheck{Command: []string{"/bin/true"}}
	udpCheck := check("udp", 1, time.Second)
	udpCheck.UDP = &UDPCheck{}
	want := []VirtualServer{{
		Name:                  "web",
		Address:               ap("10.0.0.1:80"),
		Family:                "ipv4",
		Protocol:              "tcp",
		Scheduler:             "wlc",
		Forwarding:            "nat",
		Quorum:                1,
		SorryServer:           ap("10.0.0.9:80"),
		SorryServerForwarding: "nat",
		DelayLoop:             60 * time.Second,
		DrainGrace:            30 * time.Second,
		RealServers: []RealServer{{
			Address: ap("10.0.0.2:80"), Weight: 1, Forwarding: "nat",
			Checks: []Check{check("tcp", 1, time.Second), httpCheck, dnsCheck, execCheck, udpCheck},
		}},
	}}
	if diff := cmp.Diff(want, c.VirtualServers, cmpOpts); diff != "" {
		t.Errorf("defaults mismatch (-want +got):\n%s", diff)
	}
	if c.Global.StateDir != "/var/lib/vigil" {
		t.Errorf("state_dir = %q, want /var/lib/vigil", c.Global.StateDir)
	}
}

// TestDefaultsVirtualServerInheritance checks that values are inherited down
// (virtual server -> real server -> check), and that a written value, even
// zero or false, is never replaced.
func TestDefaultsVirtualServerInheritance(t *testing.T) {
	withHostname(t, "testhost", nil)
	vs := func(c *Config) *VirtualServer { return &c.VirtualServers[0] }
	rs := func(c *Config) *RealServer { return &vs(c).RealServers[0] }
	ch := func(c *Config) *Check { return &rs(c).Checks[0] }
	tests := []struct {
		name string
		vs   string // the virtual server's extra keys, one per line
		rs   string // the real server's extra keys
		chk  string // the check, as a flow mapping
		got  func(*Config) any
		want any
	}{
		{name: "fwmark family", vs: "fwmark: 3", got: func(c *Config) any { return vs(c).Family }, want: "ipv4"},
		{name: "fwmark protocol", vs: "fwmark: 3", got: func(c *Config) any { return vs(c).Protocol }, want: ""},
		{name: "address family ipv6", vs: `address: "[fd00::1]:80"`, rs: `address: "[fd00::2]:80"`, got: func(c *Config) any { return vs(c).Family }, want: "ipv6"},
		{name: "rs forwarding from vs", vs: "forwarding: tun", got: func(c *Config) any { return rs(c).Forwarding }, want: "tun"},
		{name: "rs forwarding kept", vs: "forwarding: tun", rs: "forwarding: nat\n        address: 10.0.0.2:8080", got: func(c *Config) any { return rs(c).Forwarding }, want: "nat"},
		{name: "sorry forwarding from vs", vs: "forwarding: dr\n    sorry_server: 10.0.0.9:80", got: func(c *Config) any { return vs(c).SorryServerForwarding }, want: "dr"},
		{name: "no sorry forwarding without sorry server", got: func(c *Config) any { return vs(c).SorryServerForwarding }, want: ""},
		{name: "weight 0 kept", rs: "weight: 0", got: func(c *Config) any { return rs(c).Weight }, want: 0},
		{name: "drain_grace 0 kept", vs: "drain_grace: 0", got: func(c *Config) any { return vs(c).DrainGrace }, want: time.Duration(0)},
		{name: "delay_loop seconds", vs: "delay_loop: 20", got: func(c *Config) any { return vs(c).DelayLoop }, want: 20 * time.Second},
		{name: "check delay_loop from vs", vs: "delay_loop: 7s", got: func(c *Config) any { return ch(c).DelayLoop }, want: 7 * time.Second},
		{name: "check warmup from vs delay_loop", vs: "delay_loop: 7s", got: func(c *Config) any { return ch(c).Warmup }, want: 7 * time.Second},
		{name: "check warmup from own delay_loop", vs: "delay_loop: 7s", chk: "{type: tcp, delay_loop: 2s}", got: func(c *Config) any { return ch(c).Warmup }, want: 2 * time.Second},
		{name: "check warmup 0 kept", chk: "{type: tcp, warmup: 0}", got: func(c *Config) any { return ch(c).Warmup }, want: time.Duration(0)},
		{name: "dns retry_delay is its delay_loop", chk: "{type: dns, delay_loop: 9s, dns: {}}", got: func(c *Config) any { return ch(c).RetryDelay }, want: 9 * time.Second},
		{name: "retries 0 kept", chk: "{type: tcp, retries: 0}", got: func(c *Config) any { return ch(c).Retries }, want: 0},
		{name: "exec retries set", chk: "{type: exec, retries: 2, exec: {command: [/bin/true]}}", got: func(c *Config) any { return ch(c).Retries }, want: 2},
		{name: "expect_status kept", chk: "{type: http, http: {expect_status: [204]}}", got: func(c *Config) any { return ch(c).HTTP.ExpectStatus }, want: []StatusRange{{204, 204}}},
		{name: "dotted netmask", vs: "persistence_timeout: 60\n    persistence_netmask: 255.255.240.0", got: func(c *Config) any { return vs(c).PersistenceNetmask }, want: Netmask(20)},
		{name: "netmask 255.255.255.255", vs: "persistence_timeout: 60\n    persistence_netmask: 255.255.255.255", got: func(c *Config) any { return vs(c).PersistenceNetmask }, want: Netmask(32)},
		{name: "no netmask", vs: "persistence_timeout: 60", got: func(c *Config) any { return vs(c).PersistenceNetmask }, want: Netmask(0)},
		{name: "all-ports service", vs: "address: 10.0.0.1\n    persistence_timeout: 60", rs: "address: 10.0.0.2", got: func(c *Config) any { return rs(c).Address.Port() }, want: uint16(0)},
		{name: "digest lowercased", chk: "{type: http, http: {digest: 9B3A0C85A887A256D6939DA88AABD8CD}}", got: func(c *Config) any { return ch(c).HTTP.Digest }, want: "9b3a0c85a887a256d6939da88aabd8cd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vsKeys, rsKeys, chk := tt.vs, tt.rs, tt.chk
			if !strings.Contains(vsKeys, "address:") && !strings.Contains(vsKeys, "fwmark:") {
				vsKeys = "address: 10.0.0.1:80\n    " + vsKeys
			}
			if !strings.Contains(rsKeys, "address:") {
				if strings.Contains(vsKeys, "fwmark:") {
					rsKeys = "address: 10.0.0.2\n        " + rsKeys
				} else {
					rsKeys = "address: 10.0.0.2:80\n        " + rsKeys
				}
			}
			if chk == "" {
				chk = "{type: tcp, connect_port: 80}"
			}
			yml := vsBase + "  - name: vs\n    " + vsKeys + "\n    real_servers:\n      - " + rsKeys + "\n        checks: [" + chk + "]\n"
			c, err := Parse([]byte(yml), "vigil.yml")
			if err != nil {
				t.Fatalf("%v\n%s", err, yml)
			}
			if got := tt.got(c); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v (%T), want %v (%T)", got, got, tt.want, tt.want)
			}
		})
	}
}

// TestVirtualServerAccepted pins what is deliberately accepted, where a
// stricter rule would break keepalived configurations or valid IPVS states.
func TestVirtualServerAccepted(t *testing.T) {
	withHostname(t, "testhost", nil)
	for name, vs := range map[string]string{
		// keepalived allows any checker on any protocol: a TCP check of a
		// DNS server's TCP port is common.
		"tcp check on udp service": `{name: a, address: 10.0.0.1:53, protocol: udp, real_servers: [{address: 10.0.0.2:53, checks: [{type: tcp}]}]}`,
		// As keepalived: with hysteresis >= quorum the quorum is lost only
		// when no real server is healthy.
		"hysteresis above quorum": `{name: a, address: 10.0.0.1:80, quorum: 1, hysteresis: 5}`,
		// The service's address is the VRRP VIP: the classic deployment.
		"address is a VIP": `{name: a, address: 10.0.0.1:80}`,
		// A service with only a sorry server (maintenance), and one with
		// neither: both are valid IPVS states.
		"no real servers":        `{name: a, address: 10.0.0.1:80, sorry_server: 10.0.0.9:80}`,
		"empty real server list": `{name: a, address: 10.0.0.1:80, real_servers: []}`,
		// The sorry server may be one of the real servers (keepalived allows it).
		"sorry server is a real server": `{name: a, address: 10.0.0.1:80, sorry_server: 10.0.0.2:80, real_servers: [{address: 10.0.0.2:80}]}`,
		// NAT may change the port; a real server needs no checks.
		"nat port change": `{name: a, address: 10.0.0.1:80, real_servers: [{address: 10.0.0.2:8080}]}`,
		// Same address and port on another protocol is another service.
		"tcp and udp on one port": "{name: a, address: 10.0.0.1:53, protocol: tcp}\n  - {name: b, address: 10.0.0.1:53, protocol: udp}",
		// ops on a firewall-mark service.
		"ops with fwmark": `{name: a, fwmark: 1, scheduler_flags: [ops]}`,
		// A quorum above the total weight keeps the sorry server in.
		"quorum above total weight": `{name: a, address: 10.0.0.1:80, quorum: 100, sorry_server: 10.0.0.9:80, real_servers: [{address: 10.0.0.2:80}]}`,
		"sctp":                      `{name: a, address: 10.0.0.1:80, protocol: sctp}`,
		"upper threshold only":      `{name: a, address: 10.0.0.1:80, real_servers: [{address: 10.0.0.2:80, upper_threshold: 10}]}`,
		"anchors and aliases": `&vs {name: a, address: 10.0.0.1:80, real_servers: [&rs {address: 10.0.0.2:80, checks: [&chk {type: tcp, rise: 2}]}]}
  - {name: b, address: 10.0.0.1:81, real_servers: [{address: 10.0.0.2:81, checks: [*chk]}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Parse([]byte(vsBase+"  - "+vs+"\n"), "vigil.yml"); err != nil {
				t.Errorf("Parse:\n%v", err)
			}
		})
	}
}

func TestVirtualServerLookup(t *testing.T) {
	c, _ := loadFile(t, "testdata/good/virtual_servers_full.yml")
	vs, ok := c.VirtualServer("web")
	if !ok || vs.Fwmark != 10 {
		t.Fatalf("VirtualServer(web) = %+v, %v", vs, ok)
	}
	vs.Quorum = 7
	if c.VirtualServers[1].Quorum != 7 {
		t.Errorf("VirtualServer returned a copy, want a pointer into the config")
	}
	if vs, ok := c.VirtualServer("VI_1"); ok || vs != nil {
		t.Errorf("VirtualServer(VI_1) = %+v, %v; want nil, false", vs, ok)
	}
}

func TestHTTPCheckBodyRegexp(t *testing.T) {
	c, _ := loadFile(t, "testdata/good/virtual_servers_full.yml")
	h := c.VirtualServers[1].RealServers[0].Checks[1].HTTP
	re := h.BodyRegexp()
	if re == nil || !re.MatchString("ok") || re.MatchString("not ok") {
		t.Fatalf("BodyRegexp() = %v; want ^ok$", re)
	}
	if h.BodyRegexp() != re {
		t.Errorf("BodyRegexp() compiled again; want the regexp compiled at load")
	}
	if re := c.VirtualServers[1].RealServers[0].Checks[0].HTTP.BodyRegexp(); re != nil {
		t.Errorf("BodyRegexp() without body_regexp = %v, want nil", re)
	}
	// Values built outside Load compile on demand.
	if re := (HTTPCheck{BodyPattern: "a+"}).BodyRegexp(); re == nil || !re.MatchString("aa") {
		t.Errorf("BodyRegexp() of a hand-built check = %v", re)
	}
	if re := (HTTPCheck{BodyPattern: "(a"}).BodyRegexp(); re != nil {
		t.Errorf("BodyRegexp() of an invalid pattern = %v, want nil", re)
	}
}

func TestParseAddrPort(t *testing.T) {
	tests := []struct {
		in   string
		want string // AddrPort.String(); "" for an error
	}{
		{"10.0.0.1:80", "10.0.0.1:80"},
		{"10.0.0.1", "10.0.0.1:0"},
		{"10.0.0.1:0", "10.0.0.1:0"},
		{"[fd99::250]:3306", "[fd99::250]:3306"},
		{"fd99::250", "[fd99::250]:0"},
		{"10.0.0.1:65536", ""},
		{"10.0.0.1:", ""},
		{"[fd99::250]", ""},
		{"fd99::250:3306:x", ""},
		{"host:80", ""},
		{"[fe80::1%eth0]:80", ""},
		{"[::ffff:10.0.0.1]:80", ""},
		{"", ""},
	}
	for _, tt := range tests {
		got, err := parseAddrPort(tt.in)
		switch {
		case tt.want == "" && err == nil:
			t.Errorf("parseAddrPort(%q) = %s, want an error", tt.in, got)
		case tt.want != "" && (err != nil || got.String() != tt.want):
			t.Errorf("parseAddrPort(%q) = %s, %v; want %s", tt.in, got, err, tt.want)
		}
	}
}

func TestParseStatusRange(t *testing.T) {
	tests := []struct {
		in   string
		want StatusRange
		ok   bool
	}{
		{"200", StatusRange{200, 200}, true},
		{"200-299", StatusRange{200, 299}, true},
		{"100-599", StatusRange{100, 599}, true},
		{"301-301", StatusRange{301, 301}, true},
		{"99", StatusRange{}, false},
		{"600", StatusRange{}, false},
		{"200-600", StatusRange{}, false},
		{"299-200", StatusRange{}, false},
		{"+200", StatusRange{}, false},
		{"200-", StatusRange{}, false},
		{"-200", StatusRange{}, false},
		{"200-299-399", StatusRange{}, false},
		{"0200", StatusRange{}, false},
		{" 200", StatusRange{}, false},
	}
	for _, tt := range tests {
		got, err := parseStatusRange(tt.in)
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("parseStatusRange(%q) = %v, %v; want %v, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
		if tt.ok {
			if again, err := parseStatusRange(got.String()); err != nil || again != got {
				t.Errorf("%v does not round-trip through %q: %v, %v", got, got.String(), again, err)
			}
		}
	}
	r := StatusRange{200, 299}
	if !r.Contains(200) || !r.Contains(299) || r.Contains(300) || r.Contains(199) {
		t.Errorf("StatusRange{200, 299}.Contains is wrong")
	}
}

func TestUDPCheckBytes(t *testing.T) {
	tests := []struct {
		check          UDPCheck
		payload, reply []byte
	}{
		{UDPCheck{}, []byte{}, nil},
		{UDPCheck{Payload: "ping", Expect: "pong"}, []byte("ping"), []byte("pong")},
		{UDPCheck{Payload: "hex:00 ff\t0A", Expect: "hex:DEADbeef"}, []byte{0, 0xff, 0x0a}, []byte{0xde, 0xad, 0xbe, 0xef}},
		{UDPCheck{Payload: "HEX:00"}, []byte("HEX:00"), nil}, // the prefix is lowercase: this is text
		{UDPCheck{Payload: "hex:0"}, nil, nil},               // invalid, never from Load
	}
	for _, tt := range tests {
		if got := tt.check.PayloadBytes(); !reflect.DeepEqual(got, tt.payload) {
			t.Errorf("%+v.PayloadBytes() = %#v, want %#v", tt.check, got, tt.payload)
		}
		if got := tt.check.ExpectBytes(); !reflect.DeepEqual(got, tt.reply) {
			t.Errorf("%+v.ExpectBytes() = %#v, want %#v", tt.check, got, tt.reply)
		}
	}
	long := UDPCheck{Payload: strings.Repeat("x", maxUDPPayload+1)}
	yml := vsBase + fmt.Sprintf("  - {name: a, address: 10.0.0.1:53, protocol: udp, real_servers: [{address: 10.0.0.2:53, checks: [{type: udp, udp: {payload: %s}}]}]}\n", long.Payload)
	_, err := Parse([]byte(yml), "vigil.yml")
	if want := "udp.payload: must be at most 65507 bytes, got 65508"; err == nil || !strings.HasSuffix(err.Error(), want) {
		t.Errorf("Parse(long payload) error = %v, want suffix %q", err, want)
	}
}

func TestDNSCheckExpectedRcode(t *testing.T) {
	for name, want := range map[string]int{"NOERROR": 0, "SERVFAIL": 2, "NXDOMAIN": 3, "REFUSED": 5, "NOTZONE": 10, "noerror": -1, "": -1} {
		if got := (DNSCheck{ExpectRcode: name}).ExpectedRcode(); got != want {
			t.Errorf("ExpectedRcode(%q) = %d, want %d", name, got, want)
		}
	}
}

func TestScalarNetmask(t *testing.T) {
	tests := []struct {
		yaml   string
		bits   int
		dotted bool
		ok     bool
	}{
		{"24", 24, false, true},
		{"64", 64, false, true},
		{"255.255.255.0", 24, true, true},
		{"255.255.255.255", 32, true, true},
		{"128.0.0.0", 1, true, true},
		{"0.0.0.0", 0, true, true}, // decodes; validation rejects 0 bits
		{"255.255.0.255", 0, false, false},
		{"0.0.0.255", 0, false, false},
		{"ffff:ffff::", 0, false, false},
		{`"24"`, 0, false, false},
		{"/24", 0, false, false},
		{"[24]", 0, false, false},
	}
	for _, tt := range tests {
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(tt.yaml), &doc); err != nil {
			t.Fatal(err)
		}
		bits, dotted, ok := scalarNetmask(doc.Content[0])
		if bits != tt.bits || dotted != tt.dotted || ok != tt.ok {
			t.Errorf("scalarNetmask(%s) = %d, %v, %v; want %d, %v, %v", tt.yaml, bits, dotted, ok, tt.bits, tt.dotted, tt.ok)
		}
	}
}
