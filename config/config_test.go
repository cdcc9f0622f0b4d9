package config

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/vigil-lb/vigil/actuator"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"go.yaml.in/yaml/v3"
)

// cmpOpts compares netip values, whose fields are unexported, by value, and
// HTTPCheck's compiled regexp by its source (so a missing one is a diff).
var cmpOpts = cmp.Options{
	cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{}, netip.AddrPort{}),
	cmp.AllowUnexported(HTTPCheck{}),
	cmp.Comparer(func(a, b *regexp.Regexp) bool {
		if a == nil || b == nil {
			return a == b
		}
		return a.String() == b.String()
	}),
}

// withHostname makes the router_id default deterministic for one test.
func withHostname(t *testing.T, name string, err error) {
	t.Helper()
	saved := hostname
	hostname = func() (string, error) { return name, err }
	t.Cleanup(func() { hostname = saved })
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func loadFile(t *testing.T, path string) (*Config, []byte) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(data, filepath.Base(path))
	if err != nil {
		t.Fatalf("Parse(%s):\n%v", path, err)
	}
	return c, data
}

func TestParseFull(t *testing.T) {
	c, data := loadFile(t, "testdata/good/full.yml")
	want := &Config{
		Global: Global{RouterID: "lb1", NotifyTimeout: 10 * time.Second, StateDir: "/var/lib/vigil"},
		VRRPScripts: []VRRPScript{{
			Name:     "chk_haproxy",
			Command:  []string{"/usr/bin/pidof", "haproxy"},
			Interval: 2 * time.Second,
			Timeout:  time.Second,
			Rise:     2,
			Fall:     3,
		}},
		VRRPInstances: []VRRPInstance{{
			Name:            "VI_1",
			Interface:       "eth0",
			VirtualRouterID: 51,
			Priority:        150,
			Version:         3,
			AdvertInterval:  100 * time.Millisecond,
			Preempt:         ptr(true),
			UnicastSource:   netip.MustParseAddr("10.0.0.1"),
			UnicastPeers:    []netip.Addr{netip.MustParseAddr("10.0.0.2")},
			VirtualIPAddresses: []VIP{
				{Prefix: netip.MustParsePrefix("10.99.0.250/24"), Dev: "eth0", Scope: "global"},
				{Prefix: netip.MustParsePrefix("10.99.0.251/32"), Dev: "eth1", Label: "eth1:vip", Scope: "global"},
			},
			TrackInterfaces: []Track{{Name: "eth1", Weight: ptr(-50)}},
			TrackScripts:    []Track{{Name: "chk_haproxy", Weight: ptr(-60)}},
			Notify: Notify{
				Master: []string{"/usr/local/bin/on-master", "VI_1"},
				Backup: []string{"/bin/true"},
				Fault:  []string{"/bin/true"},
				Stop:   []string{"/bin/true"},
			},
			GARPMasterDelay:  5 * time.Second,
			GARPMasterRepeat: 5,
			// garp_lower_prio_* default to garp_master_*.
			GARPLowerPrioDelay:   5 * time.Second,
			GARPLowerPrioRepeat:  5,
			HigherPrioSendAdvert: true,
		}},
		SyncGroups: []SyncGroup{{Name: "VG1", Instances: []string{"VI_1"}}},
		Actuator:   actuator.DefaultConfig(),
		Hash:       sha256Hex(data),
	}
	if diff := cmp.Diff(want, c, cmpOpts); diff != "" {
		t.Errorf("Parse(full.yml) mismatch (-want +got):\n%s", diff)
	}
}

// TestParseMasterMaster checks the keepalived master/master layout of seed
// 004 (section 4.2) as vigil reads it.
func TestParseMasterMaster(t *testing.T) {
	c, data := loadFile(t, "testdata/good/drct1_master_master.yml")
	instance := func(name string, vrid, prio int, pass, vip, label string) VRRPInstance {
		return VRRPInstance{
			Name:            name,
			Interface:       "eno16777736",
			VirtualRouterID: vrid,
			Priority:        prio,
			Version:         2,
			AdvertInterval:  time.Second,
			Preempt:         ptr(true),
			Authentication:  &Auth{Type: "PASS", Password: pass},
			VirtualIPAddresses: []VIP{{
				Prefix:    netip.MustParsePrefix(vip + "/32"),
				Dev:       "eno16777736",
				Label:     label,
				Broadcast: netip.MustParseAddr(vip),
				Scope:     "global",
			}},
			GARPMasterDelay:  5 * time.Second,
			GARPMasterRepeat: 5,
			// garp_lower_prio_* default to garp_master_*.
			GARPLowerPrioDelay:   5 * time.Second,
			GARPLowerPrioRepeat:  5,
			HigherPrioSendAdvert: true,
		}
	}
	want := &Config{
		Global: Global{RouterID: "drct1", NotifyTimeout: 10 * time.Second, StateDir: "/var/lib/vigil"},
		VRRPInstances: []VRRPInstance{
			instance("VI_1", 81, 100, "zrs66zrs", "172.16.1.99", "eno16777736:0"),
			instance("VI_2", 80, 90, "zrs88zrs", "172.16.1.88", "eno16777736:1"),
		},
		Actuator: actuator.DefaultConfig(),
		Hash:     sha256Hex(data),
	}
	if diff := cmp.Diff(want, c, cmpOpts); diff != "" {
		t.Errorf("Parse(drct1_master_master.yml) mismatch (-want +got):\n%s", diff)
	}

	// The peer's file is the mirror image: same VRIDs, swapped priorities.
	peer, _ := loadFile(t, "testdata/good/drct2_master_master.yml")
	for _, in := range c.VRRPInstances {
		p, ok := peer.Instance(in.Name)
		if !ok {
			t.Fatalf("drct2 has no instance %q", in.Name)
		}
		if p.VirtualRouterID != in.VirtualRouterID || p.Priority == in.Priority {
			t.Errorf("%s: drct1 vrid %d prio %d, drct2 vrid %d prio %d; want same vrid, other priority",
				in.Name, in.VirtualRouterID, in.Priority, p.VirtualRouterID, p.Priority)
		}
		if diff := cmp.Diff(in.VirtualIPAddresses, p.VirtualIPAddresses, cmpOpts); diff != "" {
			t.Errorf("%s: VIPs differ between the peers:\n%s", in.Name, diff)
		}
	}
}

func TestGoodConfigs(t *testing.T) {
	withHostname(t, "testhost", nil)
	files, err := filepath.Glob("testdata/good/*.yml")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, "../examples/vigil.yml")
	if len(files) < 5 {
		t.Fatalf("found only %d good configs", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			c, err := Load(f)
			if err != nil {
				t.Fatalf("Load(%s):\n%v", f, err)
			}
			if len(c.VRRPInstances) == 0 || c.Global.RouterID == "" || len(c.Hash) != 64 {
				t.Errorf("Load(%s) = %+v; want instances, a router_id and a hash", f, c)
			}
		})
	}
}

func TestAnchors(t *testing.T) {
	c, _ := loadFile(t, "testdata/good/anchors.yml")
	want := Notify{Master: []string{"/usr/local/bin/notify", "master"}, Backup: []string{"/usr/local/bin/notify", "backup"}}
	for _, in := range c.VRRPInstances {
		if diff := cmp.Diff(want, in.Notify); diff != "" {
			t.Errorf("%s notify (-want +got):\n%s", in.Name, diff)
		}
	}
}

// schemaKeys lists every key path the schema accepts, without list
// indexes: "vrrp_instances.notify.master".
func schemaKeys(t reflect.Type, prefix string, out map[string]bool) {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || t == vipType {
		return
	}
	_, keys := yamlKeys(t)
	idx, _ := yamlKeys(t)
	for _, k := range keys {
		p := joinPath(prefix, k)
		out[p] = true
		schemaKeys(t.Field(idx[k]).Type, p, out)
	}
}

var listIndex = regexp.MustCompile(`\[\d+\]`)

func TestExampleUsesEveryKey(t *testing.T) {
	data, err := os.ReadFile("../examples/vigil.yml")
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	d := newDecoder("vigil.yml")
	var c Config
	d.decode(doc.Content[0], reflect.ValueOf(&c).Elem(), "")
	if len(d.errs) > 0 {
		t.Fatalf("decoding the example: %v", d.err())
	}
	used := make(map[string]bool)
	for p := range d.set {
		used[listIndex.ReplaceAllString(p, "")] = true
	}
	schema := make(map[string]bool)
	schemaKeys(reflect.TypeFor[Config](), "", schema)
	if len(schema) < 40 {
		t.Fatalf("schema has only %d keys: %v", len(schema), schema)
	}
	for k := range schema {
		if !used[k] {
			t.Errorf("examples/vigil.yml does not show key %q", k)
		}
	}
}

const minimalYAML = `
vrrp_scripts:
  - name: chk
    command: [/bin/true]
    weight: -20
vrrp_instances:
  - name: VI_1
    interface: eth0
    virtual_router_id: 1
    virtual_ipaddresses: [192.0.2.1, "192.0.2.2/24 dev eth1"]
    track_interfaces: [{ name: eth1 }]
    track_scripts: [{ name: chk }]
`

// TestDefaultsMinimal checks the complete effective configuration of a file
// that sets nothing it does not have to.
func TestDefaultsMinimal(t *testing.T) {
	withHostname(t, "testhost", nil)
	c, err := Parse([]byte(minimalYAML), "vigil.yml")
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Global: Global{RouterID: "testhost", NotifyTimeout: 10 * time.Second, StateDir: "/var/lib/vigil"},
		VRRPScripts: []VRRPScript{{
			Name: "chk", Command: []string{"/bin/true"}, Weight: -20,
			Interval: time.Second, Timeout: time.Second, Rise: 1, Fall: 1,
		}},
		VRRPInstances: []VRRPInstance{{
			Name:            "VI_1",
			Interface:       "eth0",
			VirtualRouterID: 1,
			Priority:        100,
			Version:         3,
			AdvertInterval:  time.Second,
			Preempt:         ptr(true),
			VirtualIPAddresses: []VIP{
				{Prefix: netip.MustParsePrefix("192.0.2.1/32"), Dev: "eth0", Scope: "global"},
				{Prefix: netip.MustParsePrefix("192.0.2.2/24"), Dev: "eth1", Scope: "global"},
			},
			TrackInterfaces:  []Track{{Name: "eth1", Weight: ptr(0)}},
			TrackScripts:     []Track{{Name: "chk", Weight: ptr(-20)}},
			GARPMasterDelay:  5 * time.Second,
			GARPMasterRepeat: 5,
			// garp_lower_prio_* default to garp_master_*.
			GARPLowerPrioDelay:   5 * time.Second,
			GARPLowerPrioRepeat:  5,
			HigherPrioSendAdvert: true,
		}},
		Actuator: actuator.DefaultConfig(),
		Hash:     sha256Hex([]byte(minimalYAML)),
	}
	if diff := cmp.Diff(want, c, cmpOpts); diff != "" {
		t.Errorf("defaults mismatch (-want +got):\n%s", diff)
	}
}

// TestDefaults checks each default, and that a key written in the file, even
// as zero or false, is never replaced by its default.
func TestDefaults(t *testing.T) {
	withHostname(t, "testhost", nil)
	const base = `
vrrp_instances:
  - name: VI_1
    interface: eth0
    virtual_router_id: 1
    virtual_ipaddresses: [%s]
%s`
	instance := func(c *Config) *VRRPInstance { return &c.VRRPInstances[0] }
	script := func(c *Config) *VRRPScript { return &c.VRRPScripts[0] }
	tests := []struct {
		name  string
		vip   string // defaults to 192.0.2.1
		extra string // YAML appended after the instance (indented for it)
		got   func(*Config) any
		want  any
	}{
		{name: "router_id from hostname", got: func(c *Config) any { return c.Global.RouterID }, want: "testhost"},
		{name: "router_id set", extra: "global: {router_id: lb2}", got: func(c *Config) any { return c.Global.RouterID }, want: "lb2"},
		{name: "notify_timeout", got: func(c *Config) any { return c.Global.NotifyTimeout }, want: 10 * time.Second},
		{name: "notify_timeout set", extra: "global: {notify_timeout: 3}", got: func(c *Config) any { return c.Global.NotifyTimeout }, want: 3 * time.Second},
		{name: "priority", got: func(c *Config) any { return instance(c).Priority }, want: 100},
		{name: "version", got: func(c *Config) any { return instance(c).Version }, want: 3},
		{name: "advert_interval", got: func(c *Config) any { return instance(c).AdvertInterval }, want: time.Second},
		{name: "advert_interval seconds as a float", extra: "    advert_interval: 0.1", got: func(c *Config) any { return instance(c).AdvertInterval }, want: 100 * time.Millisecond},
		{name: "advert_interval seconds as an integer", extra: "    version: 2\n    advert_interval: 3", got: func(c *Config) any { return instance(c).AdvertInterval }, want: 3 * time.Second},
		{name: "advert_interval duration string", extra: "    advert_interval: 1500ms", got: func(c *Config) any { return instance(c).AdvertInterval }, want: 1500 * time.Millisecond},
		{name: "preempt", got: func(c *Config) any { return *instance(c).Preempt }, want: true},
		{name: "preempt false kept", extra: "    preempt: false", got: func(c *Config) any { return *instance(c).Preempt }, want: false},
		{name: "preempt null means default", extra: "    preempt: ~", got: func(c *Config) any { return *instance(c).Preempt }, want: true},
		{name: "preempt_delay", got: func(c *Config) any { return instance(c).PreemptDelay }, want: time.Duration(0)},
		{name: "garp_master_delay", got: func(c *Config) any { return instance(c).GARPMasterDelay }, want: 5 * time.Second},
		{name: "garp_master_delay 0 kept", extra: "    garp_master_delay: 0", got: func(c *Config) any { return instance(c).GARPMasterDelay }, want: time.Duration(0)},
		{name: "garp_master_repeat", got: func(c *Config) any { return instance(c).GARPMasterRepeat }, want: 5},
		{name: "garp_master_refresh", got: func(c *Config) any { return instance(c).GARPMasterRefresh }, want: time.Duration(0)},
		{name: "garp_interval", got: func(c *Config) any { return instance(c).GARPInterval }, want: time.Duration(0)},
		{name: "garp_lower_prio_delay", got: func(c *Config) any { return instance(c).GARPLowerPrioDelay }, want: 5 * time.Second},
		{name: "garp_lower_prio_delay is garp_master_delay", extra: "    garp_master_delay: 2s", got: func(c *Config) any { return instance(c).GARPLowerPrioDelay }, want: 2 * time.Second},
		{name: "garp_lower_prio_delay 0 kept", extra: "    garp_lower_prio_delay: 0", got: func(c *Config) any { return instance(c).GARPLowerPrioDelay }, want: time.Duration(0)},
		{name: "garp_lower_prio_repeat", got: func(c *Config) any { return instance(c).GARPLowerPrioRepeat }, want: 5},
		{name: "garp_lower_prio_repeat is garp_master_repeat", extra: "    garp_master_repeat: 2", got: func(c *Config) any { return instance(c).GARPLowerPrioRepeat }, want: 2},
		{name: "garp_lower_prio_repeat 0 kept", extra: "    garp_master_repeat: 2\n    garp_lower_prio_repeat: 0", got: func(c *Config) any { return instance(c).GARPLowerPrioRepeat }, want: 0},
		{name: "higher_prio_send_advert", got: func(c *Config) any { return instance(c).HigherPrioSendAdvert }, want: true},
		{name: "higher_prio_send_advert false kept", extra: "    higher_prio_send_advert: false", got: func(c *Config) any { return instance(c).HigherPrioSendAdvert }, want: false},
		{name: "vip prefix /32", got: func(c *Config) any { return instance(c).VirtualIPAddresses[0].Prefix.String() }, want: "192.0.2.1/32"},
		{name: "vip prefix /128", vip: "2001:db8::1", got: func(c *Config) any { return instance(c).VirtualIPAddresses[0].Prefix.String() }, want: "2001:db8::1/128"},
		{name: "vip dev", got: func(c *Config) any { return instance(c).VirtualIPAddresses[0].Dev }, want: "eth0"},
		{name: "vip dev set", vip: `"192.0.2.1 dev eth9"`, got: func(c *Config) any { return instance(c).VirtualIPAddresses[0].Dev }, want: "eth9"},
		{name: "vip scope", got: func(c *Config) any { return instance(c).VirtualIPAddresses[0].Scope }, want: "global"},
		{name: "track interface weight", extra: "    track_interfaces: [{name: eth1}]", got: func(c *Config) any { return *instance(c).TrackInterfaces[0].Weight }, want: 0},
		{name: "track script weight from script", extra: "    track_scripts: [{name: s}]\nvrrp_scripts: [{name: s, command: [/bin/true], weight: 7}]", got: func(c *Config) any { return *instance(c).TrackScripts[0].Weight }, want: 7},
		{name: "track script weight 0 kept", extra: "    track_scripts: [{name: s, weight: 0}]\nvrrp_scripts: [{name: s, command: [/bin/true], weight: 7}]", got: func(c *Config) any { return *instance(c).TrackScripts[0].Weight }, want: 0},
		{name: "script interval", extra: "vrrp_scripts: [{name: s, command: [/bin/true]}]", got: func(c *Config) any { return script(c).Interval }, want: time.Second},
		{name: "script timeout is the interval", extra: "vrrp_scripts: [{name: s, command: [/bin/true], interval: 3s}]", got: func(c *Config) any { return script(c).Timeout }, want: 3 * time.Second},
		{name: "script timeout set", extra: "vrrp_scripts: [{name: s, command: [/bin/true], interval: 3s, timeout: 2s}]", got: func(c *Config) any { return script(c).Timeout }, want: 2 * time.Second},
		{name: "script rise", extra: "vrrp_scripts: [{name: s, command: [/bin/true]}]", got: func(c *Config) any { return script(c).Rise }, want: 1},
		{name: "script fall", extra: "vrrp_scripts: [{name: s, command: [/bin/true]}]", got: func(c *Config) any { return script(c).Fall }, want: 1},
		{name: "script weight", extra: "vrrp_scripts: [{name: s, command: [/bin/true]}]", got: func(c *Config) any { return script(c).Weight }, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vip := tt.vip
			if vip == "" {
				vip = "192.0.2.1"
			}
			c, err := Parse([]byte(fmt.Sprintf(base, vip, tt.extra)), "vigil.yml")
			if err != nil {
				t.Fatal(err)
			}
			if got := tt.got(c); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v (%T), want %v (%T)", got, got, tt.want, tt.want)
			}
		})
	}
}

func TestHostnameUnknown(t *testing.T) {
	withHostname(t, "", errors.New("uname failed"))
	_, err := Parse([]byte(minimalYAML), "vigil.yml")
	// Line 2: where the document's mapping starts, as there is no global.
	want := "vigil.yml:2: global.router_id: not set, and the hostname to default it to is unknown: uname failed"
	if err == nil || err.Error() != want {
		t.Errorf("Parse() error = %v, want %s", err, want)
	}
	// A router_id in the file needs no hostname.
	if _, err := Parse([]byte("global: {router_id: lb1}\n"+minimalYAML), "vigil.yml"); err != nil {
		t.Errorf("Parse() with router_id: %v", err)
	}
}

// badConfigs maps each file in testdata/bad to the exact error it yields,
// one element per line. Parse reports every problem, sorted by line.
var badConfigs = []struct {
	file string
	want []string
}{
	{"auth_ah", []string{
		`vigil.yml:7: vrrp_instances[0].authentication.type: must be "PASS" (AH is not supported), got "AH"`,
	}},
	{"auth_password_empty", []string{
		`vigil.yml:6: vrrp_instances[0].authentication.password: must be 1..8 bytes, got 0`,
	}},
	{"auth_password_long", []string{
		`vigil.yml:10: vrrp_instances[0].authentication.password: must be 1..8 bytes, got 9 (keepalived truncates a longer password to its first 8 bytes)`,
	}},
	{"bad_duration", []string{
		`vigil.yml:5: vrrp_instances[0].advert_interval: must be a duration like "100ms", "1s" or "2m", or a number of seconds, got "fast"`,
	}},
	{"comments_only", []string{
		`vigil.yml: empty configuration: at least one vrrp_instance is required`,
	}},
	{"duplicate_key", []string{
		`vigil.yml:6: vrrp_instances[0]: duplicate key "priority", first at line 4`,
	}},
	{"empty", []string{
		`vigil.yml: empty configuration: at least one vrrp_instance is required`,
	}},
	{"garp", []string{
		`vigil.yml:6: vrrp_instances[0].garp_master_delay: must be >= 0s, got -5s`,
		`vigil.yml:7: vrrp_instances[0].garp_master_repeat: must be 1..100, got 0`,
		`vigil.yml:8: vrrp_instances[0].garp_master_refresh: must be >= 0s, got -1s`,
		`vigil.yml:14: vrrp_instances[1].garp_master_repeat: must be 1..100, got 101`,
		`vigil.yml:15: vrrp_instances[1].garp_lower_prio_delay: must be >= 0s, got -1s`,
		`vigil.yml:16: vrrp_instances[1].garp_lower_prio_repeat: must be 0..100 (0: off), got 101`,
		`vigil.yml:21: vrrp_instances[2].garp_lower_prio_repeat: must be 0..100 (0: off), got -1`,
		`vigil.yml:22: vrrp_instances[2].higher_prio_send_advert: must be true or false, got "yes"`,
	}},
	{"global", []string{
		`vigil.yml:2: global.router_id: must not be empty (omit it to use the hostname)`,
		`vigil.yml:3: global.notify_timeout: must be > 0, got 0s`,
	}},
	{"instance_name", []string{
		`vigil.yml:6: vrrp_instances[1].name: duplicate name "VI_1", first at line 2`,
		`vigil.yml:10: vrrp_instances[2].name: must not be empty`,
	}},
	{"interface", []string{
		`vigil.yml:2: vrrp_instances[0].interface: must not be empty`,
		`vigil.yml:6: vrrp_instances[1].interface: "eth0:1" is not a valid interface name: must not contain "/", ":" or whitespace`,
	}},
	{"list_expected", []string{
		`vigil.yml:5: vrrp_instances[0].virtual_ipaddresses: must be a list, got "10.0.0.1"`,
	}},
	{"many_errors", []string{
		`vigil.yml:5: vrrp_instances[0].virtual_router_id: must be 1..255, got 0`,
		`vigil.yml:6: vrrp_instances[0].priority: must be 1..255, got 300`,
		`vigil.yml:7: vrrp_instances[0].advert_interval: must be a multiple of 10ms in 10ms..40.95s for version 3, got 5ms`,
		`vigil.yml:8: vrrp_instances[0]: unknown key "preemt"`,
		`vigil.yml:11: vrrp_instances[0].virtual_ipaddresses[1]: scope "universe": must be global, site, link or host`,
		`vigil.yml:13: vrrp_instances[0].track_scripts[0].name: no vrrp_script named "chk_missing"`,
		`vigil.yml:16: sync_groups[0].instances[0]: no vrrp_instance named "VI_2"`,
	}},
	{"actuator_rules", []string{
		`vigil.yml:3: actuator.auth: an enabled actuator needs bearer_token_file (or disabled: true behind a listener that authenticates)`,
		"vigil.yml:7: actuator.rules[0].match[0]: parsing \"alertname=~\\\"(unclosed\\\"\": error parsing regexp: missing closing ): `^(?:(unclosed)$`",
		`vigil.yml:8: actuator.rules[0].action: unknown action "explode" (want one of drain, undrain, set_weight, failover, resign, hold, release)`,
		`vigil.yml:11: actuator.guards.cooldown: must not be negative, got -1s`,
	}},
	{"merge_key", []string{
		`vigil.yml:1: unknown key "defaults"`,
		`vigil.yml:4: vrrp_instances[0]: merge keys ("<<") are not supported: write the keys out`,
		`vigil.yml:4: vrrp_instances[0].interface: must not be empty`,
	}},
	{"multiple_documents", []string{
		`vigil.yml:6: multiple YAML documents; the configuration must be exactly one`,
	}},
	{"no_instances", []string{
		`vigil.yml:1: vrrp_instances: at least one instance is required`,
	}},
	{"no_vips", []string{
		`vigil.yml:5: vrrp_instances[0].virtual_ipaddresses: at least one address is required`,
	}},
	{"not_a_mapping", []string{
		`vigil.yml:1: must be a mapping with the keys global, vrrp_scripts, vrrp_instances, sync_groups, virtual_servers, actuator, got a list`,
	}},
	{"notify", []string{
		`vigil.yml:7: vrrp_instances[0].notify.master[0]: must be an absolute path, got "notify.sh"`,
		`vigil.yml:9: vrrp_instances[0].notify.fault[0]: must be an absolute path, got "./notify.sh"`,
	}},
	{"null_document", []string{
		`vigil.yml:1: empty configuration: at least one vrrp_instance is required`,
	}},
	{"null_items", []string{
		`vigil.yml:3: vrrp_scripts[0].command[1]: must not be empty: a list item needs a value`,
		`vigil.yml:5: vrrp_instances[0]: must not be empty: a list item needs a value`,
		`vigil.yml:10: vrrp_instances[1].virtual_ipaddresses[0]: must not be empty: a list item needs a value`,
	}},
	{"preempt_delay", []string{
		`vigil.yml:5: vrrp_instances[0].preempt_delay: must be 0s..1000s, got 20m0s`,
	}},
	{"preempt_type", []string{
		`vigil.yml:5: vrrp_instances[0].preempt: must be true or false, got "yes"`,
	}},
	{"priority_range", []string{
		`vigil.yml:5: vrrp_instances[0].priority: must be 1..255, got 300`,
	}},
	{"priority_type", []string{
		`vigil.yml:5: vrrp_instances[0].priority: must be an integer, got "high"`,
	}},
	{"priority_zero", []string{
		`vigil.yml:5: vrrp_instances[0].priority: must be 1..255, got 0`,
	}},
	{"script_command", []string{
		`vigil.yml:3: vrrp_scripts[0].command[0]: must be an absolute path, got "pidof"`,
		`vigil.yml:4: vrrp_scripts[1].command: must not be empty: give the program's absolute path and its arguments`,
		`vigil.yml:5: vrrp_scripts[2].name: duplicate name "chk_haproxy", first at line 2`,
	}},
	{"script_timing", []string{
		`vigil.yml:4: vrrp_scripts[0].interval: must be > 0, got 0s`,
		`vigil.yml:8: vrrp_scripts[1].timeout: must not exceed the interval (2s), got 3s`,
		`vigil.yml:11: vrrp_scripts[2].timeout: must be > 0, got -1s`,
		`vigil.yml:12: vrrp_scripts[2].rise: must be >= 1, got 0`,
		`vigil.yml:13: vrrp_scripts[2].fall: must be >= 1, got -1`,
	}},
	{"sync_groups", []string{
		`vigil.yml:8: sync_groups[0].instances[1]: no vrrp_instance named "VI_9"`,
		`vigil.yml:8: sync_groups[0].instances[2]: duplicate instance "VI_1", first at line 8`,
		`vigil.yml:10: sync_groups[1].instances[0]: instance "VI_1" is already in sync group "VG1" at line 8; an instance may be in one group only`,
		`vigil.yml:11: sync_groups[2].name: duplicate name "VG1", first at line 7`,
		`vigil.yml:12: sync_groups[2].instances: at least one instance is required`,
	}},
	{"syntax", []string{
		`vigil.yml:4: invalid YAML: mapping values are not allowed in this context`,
	}},
	{"track_interfaces", []string{
		`vigil.yml:8: vrrp_instances[0].track_interfaces[0].weight: must be -253..253, got -254`,
		`vigil.yml:9: vrrp_instances[0].track_interfaces[1].name: duplicate track "eth1", first at line 7`,
		`vigil.yml:10: vrrp_instances[0].track_interfaces[2].name: must not be empty`,
	}},
	{"track_scripts", []string{
		`vigil.yml:4: vrrp_scripts[0].weight: must be -253..253, got -300`,
		`vigil.yml:11: vrrp_instances[0].track_scripts[0].name: no vrrp_script named "chk_nginx"`,
		`vigil.yml:13: vrrp_instances[0].track_scripts[1].weight: must be -253..253, got 254`,
		`vigil.yml:14: vrrp_instances[0].track_scripts[2].name: duplicate track "chk_haproxy", first at line 12`,
	}},
	{"unicast", []string{
		`vigil.yml:5: vrrp_instances[0].unicast_source: IPv6 address 2001:db8::1 does not match the instance's IPv4 virtual addresses`,
		`vigil.yml:6: vrrp_instances[0].unicast_peers[1]: duplicate peer 10.0.0.2, first at line 6`,
		`vigil.yml:6: vrrp_instances[0].unicast_peers[3]: must be a unicast address, got 224.0.0.18`,
		`vigil.yml:12: vrrp_instances[1].unicast_peers[1]: 10.0.0.9 is this node's unicast_source, not a peer`,
		`vigil.yml:17: vrrp_instances[2].unicast_source: only used with unicast_peers: add unicast_peers or remove it`,
	}},
	{"unicast_addr_type", []string{
		`vigil.yml:5: vrrp_instances[0].unicast_peers[0]: must be an IP address, got "peer-b.example.com"`,
	}},
	{"unknown_key", []string{
		`vigil.yml:7: vrrp_instances[0]: unknown key "priorty"`,
	}},
	{"unknown_section", []string{
		`vigil.yml:1: unknown key "vrrp_instance"`,
		`vigil.yml:1: vrrp_instances: at least one instance is required`,
	}},
	{"v2_advert_fraction", []string{
		`vigil.yml:6: vrrp_instances[0].advert_interval: must be whole seconds in 1s..255s for version 2, got 1.5s`,
	}},
	{"v2_advert_too_long", []string{
		`vigil.yml:6: vrrp_instances[0].advert_interval: must be whole seconds in 1s..255s for version 2, got 5m0s`,
	}},
	{"v2_ipv6", []string{
		`vigil.yml:6: vrrp_instances[0].virtual_ipaddresses[0]: IPv6 address 2001:db8::1 requires version 3, got version 2`,
	}},
	{"v3_advert_granularity", []string{
		`vigil.yml:5: vrrp_instances[0].advert_interval: must be a multiple of 10ms in 10ms..40.95s for version 3, got 15ms`,
		`vigil.yml:10: vrrp_instances[1].advert_interval: must be a multiple of 10ms in 10ms..40.95s for version 3, got 41s`,
	}},
	{"v3_authentication", []string{
		`vigil.yml:5: vrrp_instances[0].authentication: not allowed with version 3 (RFC 5798 removed authentication); remove it or set version: 2`,
	}},
	{"version", []string{
		`vigil.yml:5: vrrp_instances[0].version: must be 2 or 3, got 4`,
	}},
	{"vip_brd_ipv6", []string{
		`vigil.yml:6: vrrp_instances[0].virtual_ipaddresses[0]: brd "2001:db8::ffff": a broadcast address is only valid for IPv4 addresses`,
	}},
	{"vip_dev", []string{
		`vigil.yml:4: vrrp_instances[0].virtual_router_id: must be an integer, got "51.0"`,
		`vigil.yml:6: vrrp_instances[0].virtual_ipaddresses[0]: dev "eth0:1": must not contain "/", ":" or whitespace`,
		`vigil.yml:7: vrrp_instances[0].virtual_ipaddresses[1]: dev "averyveryverylongname": must be at most 15 bytes, got 21`,
		`vigil.yml:8: vrrp_instances[0].virtual_ipaddresses[2]: option "label" given twice`,
	}},
	{"vip_duplicate", []string{
		`vigil.yml:10: vrrp_instances[1].virtual_ipaddresses[0]: duplicate address 10.0.0.1, first at line 5 (instance "VI_1")`,
	}},
	{"vip_label", []string{
		`vigil.yml:6: vrrp_instances[0].virtual_ipaddresses[0]: label must start with the device name "eth0", got "eth1:0"`,
		`vigil.yml:7: vrrp_instances[0].virtual_ipaddresses[1]: label must start with the device name "eth1", got "eth0:1"`,
		`vigil.yml:8: vrrp_instances[0].virtual_ipaddresses[2]: label "eth0:verylonglabel": must be at most 15 bytes, got 18`,
	}},
	{"vip_mixed_family", []string{
		`vigil.yml:7: vrrp_instances[0].virtual_ipaddresses[1]: IPv6 address 2001:db8::1 mixed with IPv4 addresses; use one instance per address family`,
	}},
	{"vip_tokens", []string{
		`vigil.yml:6: vrrp_instances[0].virtual_ipaddresses[0]: unknown option "device": want dev, label, brd or scope`,
		`vigil.yml:7: vrrp_instances[0].virtual_ipaddresses[1]: address "10.0.0.256/24": must be an IPv4 or IPv6 address, optionally with /<len>`,
		`vigil.yml:8: vrrp_instances[0].virtual_ipaddresses[2]: address "10.0.0.3/33": prefix length must be 1..32`,
		`vigil.yml:9: vrrp_instances[0].virtual_ipaddresses[3]: scope "universe": must be global, site, link or host`,
		`vigil.yml:10: vrrp_instances[0].virtual_ipaddresses[4]: option "dev" needs a value`,
		`vigil.yml:11: vrrp_instances[0].virtual_ipaddresses[5]: option "dev" given twice`,
		`vigil.yml:12: vrrp_instances[0].virtual_ipaddresses[6]: brd "10.0.0.x": must be an IPv4 address`,
		`vigil.yml:13: vrrp_instances[0].virtual_ipaddresses[7]: address "224.0.0.18": must be a unicast address`,
		`vigil.yml:14: vrrp_instances[0].virtual_ipaddresses[8]: must be "<addr>[/<len>] [dev <if>] [label <label>] [brd <addr>] [scope <scope>]", got ""`,
	}},
	{"vrid_duplicate", []string{
		`vigil.yml:18: vrrp_instances[3].virtual_router_id: 51 is already used on eth0 for IPv4 by instance "VI_1" at line 6; must be unique per interface and address family`,
	}},
	{"vrid_range", []string{
		`vigil.yml:4: vrrp_instances[0].virtual_router_id: must be 1..255, got 256`,
		`vigil.yml:6: vrrp_instances[1].virtual_router_id: is required (1..255)`,
	}},
	{"wrong_kinds", []string{
		`vigil.yml:1: global: must be a mapping, got "lb1"`,
		`vigil.yml:3: vrrp_scripts: must be a list, got a mapping`,
		`vigil.yml:5: vrrp_instances[0].name: must be a string, got a list`,
		`vigil.yml:9: vrrp_instances[0].notify: must be a mapping, got "/usr/local/bin/notify.sh"`,
	}},
	// Virtual servers, real servers and checks.
	{"check_blocks", []string{
		`vigil.yml:9: virtual_servers[0].real_servers[0].checks[0].mysql: is required with type "mysql"`,
		`vigil.yml:10: virtual_servers[0].real_servers[0].checks[1].http: not used with type "tcp"`,
		`vigil.yml:11: virtual_servers[0].real_servers[0].checks[2].mysql: not used with type "http"`,
		`vigil.yml:11: virtual_servers[0].real_servers[0].checks[2].http: is required with type "http" ({} for the defaults)`,
		`vigil.yml:12: virtual_servers[0].real_servers[0].checks[3].exec: is required with type "exec"`,
		`vigil.yml:13: virtual_servers[0].real_servers[0].checks[4].udp: is required with type "udp" ({} for the defaults)`,
		`vigil.yml:13: virtual_servers[0].real_servers[0].checks[4].dns: not used with type "udp"`,
		`vigil.yml:14: virtual_servers[0].real_servers[0].checks[5].dns: is required with type "dns" ({} for the defaults)`,
		`vigil.yml:15: virtual_servers[0].real_servers[0].checks[6].http: is required with type "https" ({} for the defaults)`,
	}},
	{"check_dns", []string{
		`vigil.yml:10: virtual_servers[0].real_servers[0].checks[0].dns.name: "bad..name" is not a domain name: has an empty label`,
		`vigil.yml:10: virtual_servers[0].real_servers[0].checks[0].dns.type: must be A, AAAA, CNAME, MX, NS, PTR, SOA, SRV or TXT, got "ANY"`,
		`vigil.yml:10: virtual_servers[0].real_servers[0].checks[0].dns.expect_rcode: must be NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED, YXDOMAIN, YXRRSET, NXRRSET, NOTAUTH or NOTZONE, got "OK"`,
		`vigil.yml:11: virtual_servers[0].real_servers[0].checks[1].dns.name: "` + strings.Repeat("a", 64) + `.org" is not a domain name: label "` + strings.Repeat("a", 64) + `" is longer than 63 bytes`,
		`vigil.yml:11: virtual_servers[0].real_servers[0].checks[1].dns.type: must be A, AAAA, CNAME, MX, NS, PTR, SOA, SRV or TXT, got "a"`,
		`vigil.yml:11: virtual_servers[0].real_servers[0].checks[1].dns.expect_rcode: must be NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED, YXDOMAIN, YXRRSET, NXRRSET, NOTAUTH or NOTZONE, got "noerror"`,
		`vigil.yml:12: virtual_servers[0].real_servers[0].checks[2].dns.name: "" is not a domain name: must be 1..253 bytes`,
		`vigil.yml:13: virtual_servers[0].real_servers[0].checks[3].dns.name: "ex ample.org" is not a domain name: label "ex ample": only letters, digits, "-" and "_" are allowed`,
	}},
	{"check_exec", []string{
		`vigil.yml:9: virtual_servers[0].real_servers[0].checks[0].exec.command[0]: must be an absolute path, got "check.sh"`,
		`vigil.yml:10: virtual_servers[0].real_servers[0].checks[1].exec.command: must not be empty: give the program's absolute path and its arguments`,
		`vigil.yml:11: virtual_servers[0].real_servers[0].checks[2].exec.command: must not be empty: give the program's absolute path and its arguments`,
	}},
	{"check_http", []string{
		`vigil.yml:11: virtual_servers[0].real_servers[0].checks[0].http.method: must be GET, HEAD, POST or OPTIONS, got "FETCH"`,
		`vigil.yml:12: virtual_servers[0].real_servers[0].checks[0].http.path: must start with "/" and contain no spaces, "#" or control characters, got "health"`,
		`vigil.yml:13: virtual_servers[0].real_servers[0].checks[0].http.host: must be a host name or address, optionally with a port, got "www.example.org/x"`,
		`vigil.yml:14: virtual_servers[0].real_servers[0].checks[0].http.expect_status[0]: status codes must be 100..599, got "700"`,
		`vigil.yml:14: virtual_servers[0].real_servers[0].checks[0].http.expect_status[1]: range "299-200" is reversed: write "200-299"`,
		`vigil.yml:14: virtual_servers[0].real_servers[0].checks[0].http.expect_status[2]: must be a status code like 200 or a range like "200-299", got "abc"`,
		`vigil.yml:14: virtual_servers[0].real_servers[0].checks[0].http.expect_status[3]: must be a status code like 200 or a range like "200-299", got "2xx"`,
		`vigil.yml:14: virtual_servers[0].real_servers[0].checks[0].http.expect_status[4]: must be a status code like 200 or a range like "200-299", got a list`,
		"vigil.yml:15: virtual_servers[0].real_servers[0].checks[0].http.body_regexp: does not compile: error parsing regexp: missing closing ): `(ok`",
		`vigil.yml:16: virtual_servers[0].real_servers[0].checks[0].http.digest: must be 32 hex digits, the MD5 of the body as genhash prints it, got "xyz"`,
		`vigil.yml:18: virtual_servers[0].real_servers[0].checks[1].http.expect_status: at least one status code or range is required`,
		`vigil.yml:18: virtual_servers[0].real_servers[0].checks[1].http.body_regexp: needs a response body, which method HEAD does not get`,
		`vigil.yml:18: virtual_servers[0].real_servers[0].checks[1].http.digest: needs a response body, which method HEAD does not get`,
	}},
	{"check_http_headers", []string{
		`vigil.yml:12: virtual_servers[0].real_servers[0].checks[0].http.headers.Host: set the Host header with host:`,
		"vigil.yml:13: virtual_servers[0].real_servers[0].checks[0].http.headers.X A: \"X A\" is not a header name: use letters, digits and !#$%&'*+-.^_`|~",
		`vigil.yml:14: virtual_servers[0].real_servers[0].checks[0].http.headers.X-Trace: value must not contain control characters such as CR or LF, got "a\r\nX-Evil: 1"`,
		`vigil.yml:15: virtual_servers[0].real_servers[0].checks[0].http.headers.x-trace: duplicate header "x-trace", first at line 14 (header names ignore case)`,
		`vigil.yml:16: virtual_servers[0].real_servers[0].checks[0].http.headers.X-Empty: must not be empty: give a value ("" for an empty one)`,
		`vigil.yml:17: virtual_servers[0].real_servers[0].checks[0].http.headers.X-List: must be a string, got a list`,
		`vigil.yml:19: virtual_servers[0].real_servers[0].checks[1].http.headers: must be a mapping, got a list`,
	}},
	{"check_mysql", []string{
		`vigil.yml:9: virtual_servers[0].real_servers[0].checks[0].mysql.user: is required`,
		`vigil.yml:10: virtual_servers[0].real_servers[0].checks[1].mysql.user: must not be empty`,
		`vigil.yml:10: virtual_servers[0].real_servers[0].checks[1].mysql.password_file: not allowed with password: give one or the other`,
		`vigil.yml:11: virtual_servers[0].real_servers[0].checks[2].mysql.password_file: must be an absolute path, got "pw.txt"`,
		`vigil.yml:12: virtual_servers[0].real_servers[0].checks[3].mysql.max_replica_lag: must be whole seconds >= 0s (0s: not checked), got 1.5s`,
		`vigil.yml:13: virtual_servers[0].real_servers[0].checks[4].mysql.max_replica_lag: must be whole seconds >= 0s (0s: not checked), got -1s`,
		`vigil.yml:14: virtual_servers[0].real_servers[0].checks[5].mysql.require_writable: must be true or false, got "yes"`,
	}},
	{"check_port", []string{
		`vigil.yml:9: virtual_servers[0].real_servers[0].checks[0].connect_port: is required: the real server has no port to check`,
		`vigil.yml:10: virtual_servers[0].real_servers[0].checks[1].connect_port: is required: the real server has no port to check`,
	}},
	{"check_timing", []string{
		`vigil.yml:10: virtual_servers[0].real_servers[0].checks[0].connect_timeout: must be 1ms..1h0m0s, got 0s`,
		`vigil.yml:11: virtual_servers[0].real_servers[0].checks[0].delay_loop: must be 100ms..24h0m0s, got 10ms`,
		`vigil.yml:12: virtual_servers[0].real_servers[0].checks[0].retries: must be 0..100, got -1`,
		`vigil.yml:13: virtual_servers[0].real_servers[0].checks[0].retry_delay: must be 0s..1h0m0s, got -1s`,
		`vigil.yml:14: virtual_servers[0].real_servers[0].checks[0].warmup: must be 0s..24h0m0s, got 25h0m0s`,
		`vigil.yml:15: virtual_servers[0].real_servers[0].checks[0].rise: must be >= 1, got 0`,
		`vigil.yml:16: virtual_servers[0].real_servers[0].checks[0].fall: must be >= 1, got 0`,
		`vigil.yml:17: virtual_servers[0].real_servers[0].checks[0].connect_port: must be 1..65535, got 0`,
		`vigil.yml:18: virtual_servers[0].real_servers[0].checks[1].connect_port: must be an integer 0..65535, got "65536"`,
		`vigil.yml:18: virtual_servers[0].real_servers[0].checks[1].connect_timeout: must be 1ms..1h0m0s, got 2h0m0s`,
		`vigil.yml:18: virtual_servers[0].real_servers[0].checks[1].retries: must be 0..100, got 101`,
	}},
	{"check_tls", []string{
		`vigil.yml:10: virtual_servers[0].real_servers[0].checks[0].http.tls_server_name: only used with type "https"`,
		`vigil.yml:10: virtual_servers[0].real_servers[0].checks[0].http.tls_insecure_skip_verify: only used with type "https"`,
		`vigil.yml:10: virtual_servers[0].real_servers[0].checks[0].http.tls_ca_file: only used with type "https"`,
		`vigil.yml:12: virtual_servers[0].real_servers[0].checks[1].http.tls_server_name: must be a host name, got "a b"`,
		`vigil.yml:12: virtual_servers[0].real_servers[0].checks[1].http.tls_ca_file: must be an absolute path, got "ca.pem"`,
		`vigil.yml:14: virtual_servers[0].real_servers[0].checks[2].http.tls_ca_file: not used with tls_insecure_skip_verify: true, which verifies nothing`,
	}},
	{"check_type", []string{
		`vigil.yml:9: virtual_servers[0].real_servers[0].checks[0].type: is required: tcp, http, https, mysql, exec, udp or dns`,
		`vigil.yml:10: virtual_servers[0].real_servers[0].checks[1].type: must be tcp, http, https, mysql, exec, udp or dns, got "ping"`,
		`vigil.yml:11: virtual_servers[0].real_servers[0].checks[2].type: must be tcp, http, https, mysql, exec, udp or dns, got "HTTP"`,
	}},
	{"check_udp", []string{
		`vigil.yml:10: virtual_servers[0].real_servers[0].checks[0].udp.payload: must be text, or "hex:" and pairs of hex digits, got "hex:0g"`,
		`vigil.yml:11: virtual_servers[0].real_servers[0].checks[1].udp.payload: must be text, or "hex:" and pairs of hex digits, got "hex:abc"`,
		`vigil.yml:11: virtual_servers[0].real_servers[0].checks[1].udp.expect: must be text, or "hex:" and pairs of hex digits, got "hex:"`,
		`vigil.yml:12: virtual_servers[0].real_servers[0].checks[2].udp.expect: must be a string, got a list`,
		`vigil.yml:12: virtual_servers[0].real_servers[0].checks[2].udp.payload: must be text, or "hex:" and pairs of hex digits, got "hex:"`,
	}},
	{"rs_address", []string{
		`vigil.yml:7: virtual_servers[0].real_servers[0].address: is required`,
		`vigil.yml:8: virtual_servers[0].real_servers[1].address: IPv6 address fd00::2 does not match the virtual server's family, ipv4`,
		`vigil.yml:10: virtual_servers[0].real_servers[3].address: duplicate real server 10.0.0.3:80, first at line 9`,
		`vigil.yml:11: virtual_servers[0].real_servers[4].address: 10.0.0.4 has no port: only servers of fwmark and all-ports services may omit it`,
		`vigil.yml:12: virtual_servers[0].real_servers[5].address: must be a unicast address, got 0.0.0.0`,
		`vigil.yml:18: virtual_servers[1].real_servers[2].address: duplicate real server 10.0.0.5, first at line 16`,
	}},
	{"rs_dr_port", []string{
		`vigil.yml:8: virtual_servers[0].real_servers[0].address: dr forwarding cannot change the port: must be 80, the virtual server's, got 10.0.0.2:8080`,
		`vigil.yml:15: virtual_servers[1].real_servers[0].address: tun forwarding cannot change the port: omit it, as the virtual server takes all ports, got 10.0.0.2:80`,
	}},
	{"rs_thresholds", []string{
		`vigil.yml:7: virtual_servers[0].real_servers[0].lower_threshold: must not exceed upper_threshold (10), got 20`,
		`vigil.yml:8: virtual_servers[0].real_servers[1].lower_threshold: only used with upper_threshold > 0 (0 is no limit)`,
		`vigil.yml:9: virtual_servers[0].real_servers[2].upper_threshold: must be an integer 0..4294967295, got "-1"`,
		`vigil.yml:10: virtual_servers[0].real_servers[3].upper_threshold: must be an integer 0..4294967295, got "4294967296"`,
	}},
	{"rs_weight", []string{
		`vigil.yml:7: virtual_servers[0].real_servers[0].weight: must be 0..65535, got -1`,
		`vigil.yml:8: virtual_servers[0].real_servers[1].weight: must be 0..65535, got 65536`,
		`vigil.yml:10: virtual_servers[0].real_servers[3].weight: must be an integer, got "1.5"`,
	}},
	{"state_dir", []string{
		`vigil.yml:2: global.state_dir: must be an absolute path, got "var/lib/vigil"`,
	}},
	{"state_dir_empty", []string{
		`vigil.yml:2: global.state_dir: must be an absolute path, got ""`,
	}},
	{"vs_address", []string{
		`vigil.yml:4: virtual_servers[0].address: must be "<addr>:<port>", "[<ipv6>]:<port>" or an address without a port, got "10.0.0.1:99999"`,
		`vigil.yml:5: virtual_servers[1].address: must be "<addr>:<port>", "[<ipv6>]:<port>" or an address without a port, got "lb.example.org:80"`,
		`vigil.yml:6: virtual_servers[2].address: "[fe80::1%eth0]:80": an address with a zone (%eth0) is not allowed`,
		`vigil.yml:7: virtual_servers[3].address: "[::ffff:10.0.0.1]:80": an IPv4-mapped IPv6 address; write the IPv4 address 10.0.0.1`,
		`vigil.yml:8: virtual_servers[4].address: must be a unicast address, got 0.0.0.0`,
		`vigil.yml:9: virtual_servers[5].address: must be a unicast address, got 224.0.0.1`,
		`vigil.yml:10: virtual_servers[6].address: must be an address with a port, "<addr>:<port>" or "[<ipv6>]:<port>", got a list`,
	}},
	{"vs_all_ports", []string{
		`vigil.yml:4: virtual_servers[0].address: 10.0.0.1 has no port: add one, or set persistence_timeout for an all-ports service`,
	}},
	{"vs_collision", []string{
		`vigil.yml:5: virtual_servers[1].address: tcp/10.0.0.1:80 is already used by virtual server "a" at line 4`,
		`vigil.yml:9: virtual_servers[5].fwmark: fwmark 7 (ipv4) is already used by virtual server "d" at line 7`,
	}},
	{"vs_forwarding", []string{
		`vigil.yml:6: virtual_servers[0].forwarding: must be nat, dr or tun, got "route"`,
		`vigil.yml:8: virtual_servers[0].sorry_server_forwarding: must be nat, dr or tun, got "gre"`,
		`vigil.yml:10: virtual_servers[0].real_servers[0].forwarding: must be nat, dr or tun, got "masq"`,
		`vigil.yml:13: virtual_servers[1].sorry_server_forwarding: only used with sorry_server`,
	}},
	{"vs_fwmark", []string{
		`vigil.yml:4: virtual_servers[0].fwmark: must be 1..4294967295, got 0`,
		`vigil.yml:5: virtual_servers[1].fwmark: must be an integer 0..4294967295, got "-1"`,
		`vigil.yml:6: virtual_servers[2].protocol: not used with fwmark: a firewall-mark service takes whatever the mark was set on; remove it`,
		`vigil.yml:7: virtual_servers[3].family: must be "ipv4" or "ipv6", got "inet"`,
		`vigil.yml:8: virtual_servers[4].family: only used with fwmark: an address service has its address's family`,
	}},
	{"vs_identity", []string{
		`vigil.yml:4: virtual_servers[0].fwmark: not allowed with address: a virtual server is an address or a firewall mark, not both`,
		`vigil.yml:5: virtual_servers[1].address: is required, or fwmark for a firewall-mark service`,
	}},
	{"vs_name", []string{
		`vigil.yml:5: virtual_servers[1].name: must not be empty`,
		`vigil.yml:6: virtual_servers[2].name: duplicate name "web", first at line 4`,
		`vigil.yml:7: virtual_servers[3].name: must be 1..64 letters, digits, ".", "_" or "-", starting with a letter or digit, got "../etc"`,
		`vigil.yml:8: virtual_servers[4].name: must not be empty`,
	}},
	{"vs_persistence", []string{
		`vigil.yml:4: virtual_servers[0].persistence_timeout: must be whole seconds in 0s..744h0m0s, got -1s`,
		`vigil.yml:5: virtual_servers[1].persistence_timeout: must be whole seconds in 0s..744h0m0s, got 1.5s`,
		`vigil.yml:6: virtual_servers[2].persistence_timeout: must be whole seconds in 0s..744h0m0s, got 745h0m0s`,
		`vigil.yml:7: virtual_servers[3].persistence_netmask: only used with persistence_timeout > 0`,
	}},
	{"vs_persistence_netmask", []string{
		`vigil.yml:4: virtual_servers[0].persistence_netmask: must be a dotted IPv4 netmask like "255.255.255.0" or a prefix length like 64, got "255.0.255.0"`,
		`vigil.yml:5: virtual_servers[1].persistence_netmask: a dotted netmask is for IPv4 services: give an IPv6 prefix length such as 64, got 255.255.255.0`,
		`vigil.yml:6: virtual_servers[2].persistence_netmask: must be a prefix length 1..128, got 129`,
		`vigil.yml:7: virtual_servers[3].persistence_netmask: must be a netmask of 1..32 bits, got 33`,
		`vigil.yml:8: virtual_servers[4].persistence_netmask: must be a netmask of 1..32 bits, got 0.0.0.0`,
		`vigil.yml:9: virtual_servers[5].persistence_netmask: must be a dotted IPv4 netmask like "255.255.255.0" or a prefix length like 64, got "/24"`,
	}},
	{"vs_protocol", []string{
		`vigil.yml:4: virtual_servers[0].protocol: must be tcp, udp or sctp, got "TCP"`,
		`vigil.yml:5: virtual_servers[1].protocol: must be tcp, udp or sctp, got "icmp"`,
	}},
	{"vs_quorum", []string{
		`vigil.yml:4: virtual_servers[0].quorum: must be >= 1, got 0`,
		`vigil.yml:4: virtual_servers[0].hysteresis: must be >= 0, got -1`,
		`vigil.yml:5: virtual_servers[1].quorum: must be an integer, got "many"`,
	}},
	{"vs_scheduler", []string{
		`vigil.yml:4: virtual_servers[0].scheduler: must be one of rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, mh, fo, ovf, twos, got "roundrobin"`,
	}},
	{"vs_scheduler_flags", []string{
		`vigil.yml:7: virtual_servers[0].scheduler_flags[0]: "sh-port" only applies to the sh scheduler, got scheduler "wrr"`,
		`vigil.yml:7: virtual_servers[0].scheduler_flags[1]: "ops" (one-packet scheduling) only applies to udp and fwmark services, got protocol "tcp"`,
		`vigil.yml:7: virtual_servers[0].scheduler_flags[2]: must be one of sh-fallback, sh-port, mh-fallback, mh-port or ops, got "flag-1"`,
		`vigil.yml:7: virtual_servers[0].scheduler_flags[3]: "mh-port" only applies to the mh scheduler, got scheduler "wrr"`,
		`vigil.yml:12: virtual_servers[1].scheduler_flags[1]: duplicate flag "sh-port"`,
	}},
	{"vs_sorry_server", []string{
		`vigil.yml:4: virtual_servers[0].sorry_server: IPv6 address fd00::9 does not match the virtual server's family, ipv4`,
		`vigil.yml:5: virtual_servers[1].sorry_server: dr forwarding cannot change the port: must be 81, the virtual server's, got 10.0.0.9:8081`,
		`vigil.yml:6: virtual_servers[2].sorry_server: 10.0.0.9 has no port: only servers of fwmark and all-ports services may omit it`,
		`vigil.yml:7: virtual_servers[3].sorry_server: must be a unicast address, got 255.255.255.255`,
		`vigil.yml:8: virtual_servers[4].sorry_server: must be a unicast address, got 239.1.1.1`,
	}},
	{"vs_timing", []string{
		`vigil.yml:4: virtual_servers[0].delay_loop: must be 100ms..24h0m0s, got 0s`,
		`vigil.yml:4: virtual_servers[0].drain_grace: must be 0s..24h0m0s, got -1s`,
		`vigil.yml:5: virtual_servers[1].delay_loop: must be 100ms..24h0m0s, got 50ms`,
		`vigil.yml:5: virtual_servers[1].drain_grace: must be 0s..24h0m0s, got 48h0m0s`,
		`vigil.yml:6: virtual_servers[2].delay_loop: must be 100ms..24h0m0s, got 25h0m0s`,
	}},
	{"vs_wrong_kinds", []string{
		`vigil.yml:6: virtual_servers[0].real_servers: must be a list, got a mapping`,
		`vigil.yml:11: virtual_servers[1].real_servers[0].checks: must be a list, got a mapping`,
		`vigil.yml:14: virtual_servers[2].scheduler_flags: must be a list, got "sh-port"`,
		`vigil.yml:18: virtual_servers[2].real_servers[0].checks[0].http: must be a mapping, got "GET /"`,
		`vigil.yml:19: virtual_servers[2].real_servers[0].checks[1].connect_port: must be an integer 0..65535, got "http"`,
	}},
}

func TestBadConfigs(t *testing.T) {
	withHostname(t, "testhost", nil)
	files, err := filepath.Glob("testdata/bad/*.yml")
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, tt := range badConfigs {
		listed = append(listed, "testdata/bad/"+tt.file+".yml")
	}
	slices.Sort(listed)
	if diff := cmp.Diff(files, listed); diff != "" {
		t.Fatalf("testdata/bad and the table differ (-files +table):\n%s", diff)
	}
	for _, tt := range badConfigs {
		t.Run(tt.file, func(t *testing.T) {
			data, err := os.ReadFile("testdata/bad/" + tt.file + ".yml")
			if err != nil {
				t.Fatal(err)
			}
			c, err := Parse(data, "vigil.yml")
			if err == nil {
				t.Fatalf("Parse() = %+v, want an error", c)
			}
			if c != nil {
				t.Errorf("Parse() returned a config along with the error")
			}
			if diff := cmp.Diff(tt.want, strings.Split(err.Error(), "\n")); diff != "" {
				t.Errorf("error mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestErrorsAreJoined(t *testing.T) {
	data, err := os.ReadFile("testdata/bad/many_errors.yml")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Parse(data, "vigil.yml")
	u, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("error %T is not from errors.Join", err)
	}
	if n := len(u.Unwrap()); n != 7 {
		t.Errorf("joined %d errors, want 7", n)
	}
}

func TestLoad(t *testing.T) {
	withHostname(t, "testhost", nil)
	path := filepath.Join("testdata", "bad", "priority_range.yml")
	_, err := Load(path)
	want := path + ":5: vrrp_instances[0].priority: must be 1..255, got 300"
	if err == nil || err.Error() != want {
		t.Errorf("Load(%s) error = %v, want %s", path, err, want)
	}

	missing := filepath.Join(t.TempDir(), "vigil.yml")
	_, err = Load(missing)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(missing) error = %v, want fs.ErrNotExist", err)
	}
	if want := missing + ": open: "; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Load(missing) error = %v, want prefix %q", err, want)
	}

	c, err := Load("testdata/good/minimal.yml")
	if err != nil {
		t.Fatal(err)
	}
	if c.VRRPInstances[0].Name != "VI_1" {
		t.Errorf("Load(minimal.yml) instance = %q, want VI_1", c.VRRPInstances[0].Name)
	}
}

func TestHash(t *testing.T) {
	withHostname(t, "testhost", nil)
	a, err := Parse([]byte(minimalYAML), "vigil.yml")
	if err != nil {
		t.Fatal(err)
	}
	// sha256sum of minimalYAML, computed outside Go.
	if want := "5d4966bb0b7a4c4d4e3ada304bd38e7cb29b9374089f74b11111db73a72144ee"; a.Hash != want {
		t.Errorf("Hash = %s, want %s", a.Hash, want)
	}
	// Same meaning, different bytes: a different hash.
	b, err := Parse([]byte("# comment\n"+minimalYAML), "vigil.yml")
	if err != nil {
		t.Fatal(err)
	}
	if a.Hash == b.Hash {
		t.Errorf("a comment did not change the hash %s", a.Hash)
	}
}

func TestLookup(t *testing.T) {
	c, _ := loadFile(t, "testdata/good/full.yml")
	in, ok := c.Instance("VI_1")
	if !ok || in.VirtualRouterID != 51 {
		t.Fatalf("Instance(VI_1) = %+v, %v", in, ok)
	}
	in.Priority = 1
	if c.VRRPInstances[0].Priority != 1 {
		t.Errorf("Instance returned a copy, want a pointer into the config")
	}
	if in, ok := c.Instance("VI_9"); ok || in != nil {
		t.Errorf("Instance(VI_9) = %+v, %v; want nil, false", in, ok)
	}
	s, ok := c.Script("chk_haproxy")
	if !ok || s.Fall != 3 {
		t.Fatalf("Script(chk_haproxy) = %+v, %v", s, ok)
	}
	if s, ok := c.Script("VI_1"); ok || s != nil {
		t.Errorf("Script(VI_1) = %+v, %v; want nil, false", s, ok)
	}
}

func TestParseVIP(t *testing.T) {
	tests := []struct {
		in   string
		want VIP
	}{
		{"10.0.0.1", VIP{Prefix: netip.MustParsePrefix("10.0.0.1/32"), Scope: "global"}},
		{"10.0.0.1/24", VIP{Prefix: netip.MustParsePrefix("10.0.0.1/24"), Scope: "global"}},
		{"2001:db8::1", VIP{Prefix: netip.MustParsePrefix("2001:db8::1/128"), Scope: "global"}},
		{"2001:db8::1/64 dev eth0 scope link", VIP{Prefix: netip.MustParsePrefix("2001:db8::1/64"), Dev: "eth0", Scope: "link"}},
		{"  172.16.1.99/32 brd  172.16.1.99 dev eno16777736 label eno16777736:0 ", VIP{
			Prefix: netip.MustParsePrefix("172.16.1.99/32"), Dev: "eno16777736", Label: "eno16777736:0",
			Broadcast: netip.MustParseAddr("172.16.1.99"), Scope: "global",
		}},
		{"10.0.0.1 scope host label lo:1 dev lo", VIP{Prefix: netip.MustParsePrefix("10.0.0.1/32"), Dev: "lo", Label: "lo:1", Scope: "host"}},
		{"10.0.0.1 scope site", VIP{Prefix: netip.MustParsePrefix("10.0.0.1/32"), Scope: "site"}},
	}
	for _, tt := range tests {
		got, err := parseVIP(tt.in)
		if err != nil {
			t.Errorf("parseVIP(%q): %v", tt.in, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got, cmpOpts); diff != "" {
			t.Errorf("parseVIP(%q) (-want +got):\n%s", tt.in, diff)
		}
		again, err := parseVIP(got.String())
		if err != nil || again != got {
			t.Errorf("parseVIP(%q.String() = %q) = %v, %v; want it back", tt.in, got.String(), again, err)
		}
	}
}

func TestScalarDuration(t *testing.T) {
	tests := []struct {
		yaml string
		want time.Duration
		ok   bool
	}{
		{"1", time.Second, true},
		{"0.1", 100 * time.Millisecond, true},
		{"40.95", 40950 * time.Millisecond, true},
		{"0", 0, true},
		{"-1", -time.Second, true},
		{"100ms", 100 * time.Millisecond, true},
		{"1s", time.Second, true},
		{"2m", 2 * time.Minute, true},
		{"1h30m", 90 * time.Minute, true},
		{`"1"`, 0, false}, // a quoted number is a string, and not a duration
		{"fast", 0, false},
		{"1 s", 0, false},
		{"1e300", 0, false},
		{".nan", 0, false},
		{".inf", 0, false},
		{"true", 0, false},
		{"[1s]", 0, false},
		{"{a: 1}", 0, false},
	}
	for _, tt := range tests {
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(tt.yaml), &doc); err != nil {
			t.Fatal(err)
		}
		got, ok := scalarDuration(doc.Content[0])
		if got != tt.want || ok != tt.ok {
			t.Errorf("scalarDuration(%s) = %v, %v; want %v, %v", tt.yaml, got, ok, tt.want, tt.ok)
		}
	}
}

// TestAliasBomb checks that aliases cannot make the decoder expand a small
// file into an unbounded amount of work.
func TestAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("vrrp_instances:\n  - &i\n    name: VI\n    interface: eth0\n    virtual_router_id: 1\n    virtual_ipaddresses:\n")
	for i := range 1000 {
		fmt.Fprintf(&b, "      - 10.0.%d.%d\n", i/250, i%250+1)
	}
	for range 300 {
		b.WriteString("  - *i\n")
	}
	start := time.Now()
	_, err := Parse([]byte(b.String()), "vigil.yml")
	if err == nil || strings.Count(err.Error(), "\n") != 0 || !strings.Contains(err.Error(), "document too large") {
		t.Errorf("Parse(alias bomb) error = %.300v; want one \"document too large\" error", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Parse(alias bomb) took %v", d)
	}
}
