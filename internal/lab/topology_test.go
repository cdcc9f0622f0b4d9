package lab

import (
	"net/netip"
	"strings"
	"testing"
)

func TestAddressing(t *testing.T) {
	tests := []struct {
		id      uint8
		v4, v6  string
		mac, ll string
	}{
		{11, "10.99.0.11", "fd99::11", "02:99:00:00:00:11", "fe80::99:ff:fe00:11"},
		{12, "10.99.0.12", "fd99::12", "02:99:00:00:00:12", "fe80::99:ff:fe00:12"},
		{100, "10.99.0.100", "fd99::100", "02:99:00:00:01:00", "fe80::99:ff:fe00:100"},
		{250, "10.99.0.250", "fd99::250", "02:99:00:00:02:50", "fe80::99:ff:fe00:250"},
		{7, "10.99.0.7", "fd99::7", "02:99:00:00:00:07", "fe80::99:ff:fe00:7"},
	}
	for _, tt := range tests {
		if got := IPv4(tt.id).String(); got != tt.v4 {
			t.Errorf("IPv4(%d) = %s, want %s", tt.id, got, tt.v4)
		}
		if got := IPv6(tt.id).String(); got != tt.v6 {
			t.Errorf("IPv6(%d) = %s, want %s", tt.id, got, tt.v6)
		}
		if got := HostMAC(tt.id).String(); got != tt.mac {
			t.Errorf("HostMAC(%d) = %s, want %s", tt.id, got, tt.mac)
		}
		if got := LinkLocal6(tt.id).String(); got != tt.ll {
			t.Errorf("LinkLocal6(%d) = %s, want %s", tt.id, got, tt.ll)
		}
		if !Net4.Contains(IPv4(tt.id)) || !Net6.Contains(IPv6(tt.id)) {
			t.Errorf("ID %d outside the lab subnets", tt.id)
		}
	}
	if VIP4 != netip.MustParseAddr("10.99.0.250") || VIP6 != netip.MustParseAddr("fd99::250") {
		t.Errorf("VIP4, VIP6 = %s, %s", VIP4, VIP6)
	}
}

func TestResolveHosts(t *testing.T) {
	got, err := resolveHosts(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []HostSpec{{"director1", 11}, {"director2", 12}, {"client", 100}}
	if len(got) != len(want) {
		t.Fatalf("default hosts = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("default host %d = %v, want %v", i, got[i], want[i])
		}
	}
	got, err = resolveHosts([]HostSpec{{Name: "director9"}, {Name: "backend3"}, {Name: "client2"}, {Name: "router", ID: 1}})
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range []uint8{19, 23, 102, 1} {
		if got[i].ID != id {
			t.Errorf("%s: ID %d, want %d", got[i].Name, got[i].ID, id)
		}
	}

	bad := []struct {
		hosts []HostSpec
		want  string
	}{
		{[]HostSpec{{Name: "Director1"}}, `host name "Director1"`},
		{[]HostSpec{{Name: "switch", ID: 5}}, `host name "switch"`},
		{[]HostSpec{{Name: "averyverylongname"}}, `host name "averyverylongname"`},
		{[]HostSpec{{Name: "client"}, {Name: "client"}}, "duplicate"},
		{[]HostSpec{{Name: "router"}}, `host "router": needs an ID`},
		{[]HostSpec{{Name: "director0"}}, `host "director0": needs an ID`},
		{[]HostSpec{{Name: "vip", ID: 250}}, "ID 250 is reserved"},
		{[]HostSpec{{Name: "bcast", ID: 255}}, "ID 255 is reserved"},
		{[]HostSpec{{Name: "director1"}, {Name: "other", ID: 11}}, `ID 11 already used by "director1"`},
	}
	for _, tt := range bad {
		_, err := resolveHosts(tt.hosts)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("resolveHosts(%v) error %v, want it to contain %q", tt.hosts, err, tt.want)
		}
	}
}

func TestRenderPartitions(t *testing.T) {
	if got, want := renderPartitions(nil), "table bridge vigil_lab\ndelete table bridge vigil_lab\n"; got != want {
		t.Errorf("no partitions:\n%s\nwant\n%s", got, want)
	}
	blocked := map[[2]string]bool{
		pairKey("director2", "director1"): true,
		pairKey("client", "director1"):    true,
	}
	want := `table bridge vigil_lab
delete table bridge vigil_lab
table bridge vigil_lab {
	chain forward {
		type filter hook forward priority filter; policy accept;
		iifname "p-client" oifname "p-director1" drop
		iifname "p-director1" oifname "p-client" drop
		iifname "p-director1" oifname "p-director2" drop
		iifname "p-director2" oifname "p-director1" drop
	}
}
`
	if got := renderPartitions(blocked); got != want {
		t.Errorf("renderPartitions:\n%s\nwant\n%s", got, want)
	}
}

func TestNeighState(t *testing.T) {
	for in, want := range map[int]string{0: "NONE", 0x02: "REACHABLE", 0x04: "STALE", 0x20: "FAILED", 0x80: "PERMANENT", 0x02 | 0x80: "REACHABLE,PERMANENT"} {
		if got := neighState(in); got != want {
			t.Errorf("neighState(%#x) = %s, want %s", in, got, want)
		}
	}
}
