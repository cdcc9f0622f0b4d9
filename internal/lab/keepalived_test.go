package lab

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func vip(s string) []netip.Prefix {
	var out []netip.Prefix
	for _, f := range strings.Fields(s) {
		out = append(out, netip.MustParsePrefix(f))
	}
	return out
}

// The expected texts are shared/vectors/vrrp/keepalived-conf/*.conf, the
// configurations the VRRP test vectors were captured with.
func TestKeepalivedConfRenderVectors(t *testing.T) {
	tests := []struct {
		name string
		conf KeepalivedConf
		want string
	}{
		{
			name: "v2_pass_1vip",
			conf: KeepalivedConf{RouterID: "vec_v2_pass_1vip", Version: 2, Instances: []KeepalivedInstance{{
				State: "MASTER", Interface: "veth0", VRID: 51, Priority: 150, AdvertInterval: time.Second,
				AuthPass: "kab12345", VIPs: vip("10.99.0.250/24"),
			}}},
			want: `global_defs {
    router_id vec_v2_pass_1vip
    vrrp_version 2
}
vrrp_instance VI_51 {
    state MASTER
    interface veth0
    virtual_router_id 51
    priority 150
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass kab12345
    }
    virtual_ipaddress {
        10.99.0.250/24 dev veth0
    }
}
`,
		},
		{
			name: "v2_pass_3vip",
			conf: KeepalivedConf{RouterID: "vec_v2_pass_3vip", Version: 2, Instances: []KeepalivedInstance{{
				State: "MASTER", Interface: "veth0", VRID: 51, Priority: 150, AdvertInterval: time.Second,
				AuthPass: "kab12345", VIPs: vip("10.99.0.250/24 10.99.0.251/24 10.99.0.252/24"),
			}}},
			want: `global_defs {
    router_id vec_v2_pass_3vip
    vrrp_version 2
}
vrrp_instance VI_51 {
    state MASTER
    interface veth0
    virtual_router_id 51
    priority 150
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass kab12345
    }
    virtual_ipaddress {
        10.99.0.250/24 dev veth0
        10.99.0.251/24 dev veth0
        10.99.0.252/24 dev veth0
    }
}
`,
		},
		{
			name: "v3_100ms_1vip",
			conf: KeepalivedConf{RouterID: "vec_v3_100ms_1vip", Version: 3, Instances: []KeepalivedInstance{{
				State: "MASTER", Interface: "veth0", VRID: 51, Priority: 150, AdvertInterval: 100 * time.Millisecond,
				VIPs: vip("10.99.0.250/24"),
			}}},
			want: `global_defs {
    router_id vec_v3_100ms_1vip
    vrrp_version 3
}
vrrp_instance VI_51 {
    state MASTER
    interface veth0
    virtual_router_id 51
    priority 150
    advert_int 0.1
    virtual_ipaddress {
        10.99.0.250/24 dev veth0
    }
}
`,
		},
		{
			name: "v3_1s_1vip (default interval)",
			conf: KeepalivedConf{RouterID: "vec_v3_1s_1vip", Version: 3, Instances: []KeepalivedInstance{{
				State: "MASTER", Interface: "veth0", VRID: 51, Priority: 150,
				VIPs: vip("10.99.0.250/24"),
			}}},
			want: `global_defs {
    router_id vec_v3_1s_1vip
    vrrp_version 3
}
vrrp_instance VI_51 {
    state MASTER
    interface veth0
    virtual_router_id 51
    priority 150
    advert_int 1
    virtual_ipaddress {
        10.99.0.250/24 dev veth0
    }
}
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.conf.Render()
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if got != tt.want {
				t.Errorf("Render mismatch\n--- got\n%s--- want\n%s", got, tt.want)
			}
		})
	}
}

func TestKeepalivedConfRenderOptions(t *testing.T) {
	conf := KeepalivedConf{
		Version:     3,
		GlobalExtra: []string{"vrrp_garp_master_delay 1"},
		Instances: []KeepalivedInstance{
			{
				Name: "v4", State: "BACKUP", VRID: 7, Priority: 100, AdvertInterval: 1500 * time.Millisecond,
				NoPreempt: true, PreemptDelay: 2 * time.Second,
				UnicastSrc:   netip.MustParseAddr("10.99.0.12"),
				UnicastPeers: []netip.Addr{netip.MustParseAddr("10.99.0.11"), netip.MustParseAddr("10.99.0.13")},
				Extra:        []string{"garp_master_refresh 5"},
				VIPs:         vip("10.99.0.250/24"),
			},
			{
				VRID: 8, Priority: 255, AdvertInterval: 20 * time.Millisecond,
				VIPs: vip("fd99::250/64 fd99::251/64"),
			},
		},
	}
	want := `global_defs {
    router_id vigil_lab
    vrrp_version 3
    vrrp_garp_master_delay 1
}
vrrp_instance v4 {
    state BACKUP
    interface eth0
    virtual_router_id 7
    priority 100
    advert_int 1.5
    nopreempt
    preempt_delay 2
    unicast_src_ip 10.99.0.12
    unicast_peer {
        10.99.0.11
        10.99.0.13
    }
    garp_master_refresh 5
    virtual_ipaddress {
        10.99.0.250/24 dev eth0
    }
}
vrrp_instance VI_8 {
    interface eth0
    virtual_router_id 8
    priority 255
    advert_int 0.02
    virtual_ipaddress {
        fd99::250/64 dev eth0
        fd99::251/64 dev eth0
    }
}
`
	got, err := conf.Render()
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	if got != want {
		t.Errorf("Render mismatch\n--- got\n%s--- want\n%s", got, want)
	}
}

func TestKeepalivedConfRenderErrors(t *testing.T) {
	ok := KeepalivedInstance{VRID: 51, Priority: 150, VIPs: vip("10.99.0.250/24")}
	with := func(f func(*KeepalivedInstance)) []KeepalivedInstance {
		in := ok
		f(&in)
		return []KeepalivedInstance{in}
	}
	tests := []struct {
		name string
		conf KeepalivedConf
		want string
	}{
		{"version", KeepalivedConf{Version: 4, Instances: with(func(*KeepalivedInstance) {})}, "Version 4"},
		{"no instances", KeepalivedConf{Version: 3}, "no Instances"},
		{"router id", KeepalivedConf{Version: 3, RouterID: "a b", Instances: with(func(*KeepalivedInstance) {})}, `RouterID "a b"`},
		{"vrid", KeepalivedConf{Version: 3, Instances: with(func(i *KeepalivedInstance) { i.VRID = 0 })}, "VRID 0"},
		{"priority", KeepalivedConf{Version: 3, Instances: with(func(i *KeepalivedInstance) { i.Priority = 0 })}, "Priority 0"},
		{"state", KeepalivedConf{Version: 3, Instances: with(func(i *KeepalivedInstance) { i.State = "master" })}, `State "master"`},
		{"nopreempt master", KeepalivedConf{Version: 3, Instances: with(func(i *KeepalivedInstance) { i.State, i.NoPreempt = "MASTER", true })}, "NoPreempt with State MASTER"},
		{"v2 fractional interval", KeepalivedConf{Version: 2, Instances: with(func(i *KeepalivedInstance) { i.AdvertInterval = 100 * time.Millisecond })}, "VRRPv2 needs whole seconds"},
		{"v3 sub-centisecond", KeepalivedConf{Version: 3, Instances: with(func(i *KeepalivedInstance) { i.AdvertInterval = 5 * time.Millisecond })}, "VRRPv3 needs centiseconds"},
		{"v3 too long", KeepalivedConf{Version: 3, Instances: with(func(i *KeepalivedInstance) { i.AdvertInterval = 41 * time.Second })}, "VRRPv3 needs centiseconds"},
		{"v3 auth", KeepalivedConf{Version: 3, Instances: with(func(i *KeepalivedInstance) { i.AuthPass = "x" })}, "only in VRRPv2"},
		{"long pass", KeepalivedConf{Version: 2, Instances: with(func(i *KeepalivedInstance) { i.AuthPass = "123456789" })}, "at most 8"},
		{"no vips", KeepalivedConf{Version: 3, Instances: with(func(i *KeepalivedInstance) { i.VIPs = nil })}, "no VIPs"},
		{"v2 ipv6", KeepalivedConf{Version: 2, Instances: with(func(i *KeepalivedInstance) { i.VIPs = vip("fd99::250/64") })}, "IPv4 only"},
		{"mixed", KeepalivedConf{Version: 3, Instances: with(func(i *KeepalivedInstance) { i.VIPs = vip("10.99.0.250/24 fd99::250/64") })}, "one family"},
		{"peer family", KeepalivedConf{Version: 3, Instances: with(func(i *KeepalivedInstance) { i.UnicastPeers = []netip.Addr{netip.MustParseAddr("fd99::12")} })}, "unicast address fd99::12"},
		{"preempt delay", KeepalivedConf{Version: 3, Instances: with(func(i *KeepalivedInstance) { i.PreemptDelay = 1500 * time.Millisecond })}, "PreemptDelay"},
		{"duplicate name", KeepalivedConf{Version: 3, Instances: append(with(func(*KeepalivedInstance) {}), ok)}, `instance 1: Name "VI_51": duplicate`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.conf.Render()
			if err == nil {
				t.Fatalf("Render succeeded, want error containing %q:\n%s", tt.want, got)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Render error %q, want it to contain %q", err, tt.want)
			}
		})
	}
}
