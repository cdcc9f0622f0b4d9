package ipvs

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestServiceKeyText(t *testing.T) {
	tests := []struct {
		key  ServiceKey
		text string
	}{
		{AddrKey(TCP, netip.MustParseAddrPort("192.0.2.1:80")), "tcp/192.0.2.1:80"},
		{AddrKey(UDP, netip.MustParseAddrPort("[2001:db8::1]:53")), "udp/[2001:db8::1]:53"},
		{AddrKey(SCTP, netip.MustParseAddrPort("192.0.2.1:3868")), "sctp/192.0.2.1:3868"},
		{FWMarkKey(IPv4, 10), "fwmark4/10"},
		{FWMarkKey(IPv6, 4294967295), "fwmark6/4294967295"},
	}
	for _, tt := range tests {
		if got := tt.key.String(); got != tt.text {
			t.Errorf("%#v.String() = %q, want %q", tt.key, got, tt.text)
		}
		got, err := ParseServiceKey(tt.text)
		if err != nil {
			t.Errorf("ParseServiceKey(%q): %v", tt.text, err)
			continue
		}
		if got != tt.key {
			t.Errorf("ParseServiceKey(%q) = %#v, want %#v", tt.text, got, tt.key)
		}
	}
	// As a JSON value and map key.
	b, err := json.Marshal(map[ServiceKey]int{tests[0].key: 1})
	if err != nil || string(b) != `{"tcp/192.0.2.1:80":1}` {
		t.Errorf("json = %s, %v", b, err)
	}
}

func TestParseServiceKeyErrors(t *testing.T) {
	for _, s := range []string{
		"", "tcp", "icmp/192.0.2.1:80", "tcp/192.0.2.1", "tcp/192.0.2.1:0", "tcp/0.0.0.0:80",
		"fwmark4/0", "fwmark4/x", "fwmark5/1", "fwmark4/4294967296",
	} {
		if k, err := ParseServiceKey(s); err == nil {
			t.Errorf("ParseServiceKey(%q) = %v, want error", s, k)
		}
	}
}

func TestAddrKeyUnmaps(t *testing.T) {
	k := AddrKey(TCP, netip.MustParseAddrPort("[::ffff:192.0.2.1]:80"))
	if k.Family != IPv4 || k.String() != "tcp/192.0.2.1:80" {
		t.Errorf("got %#v", k)
	}
}

func TestServiceValidate(t *testing.T) {
	vip := AddrKey(TCP, netip.MustParseAddrPort("192.0.2.1:80"))
	dest := func(a string, f Forwarding) Destination {
		return Destination{Address: netip.MustParseAddrPort(a), Weight: 1, Forwarding: f}
	}
	ok := Service{Key: vip, Scheduler: "wlc", Destinations: []Destination{dest("10.0.0.1:80", ForwardNAT)}}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid service: %v", err)
	}
	tests := []struct {
		name string
		mod  func(*Service)
		want string
	}{
		{"no scheduler", func(s *Service) { s.Scheduler = "" }, "needs a scheduler"},
		{"bad flags", func(s *Service) { s.Flags = 0x1 }, "unknown flags"},
		{"negative timeout", func(s *Service) { s.Timeout = -time.Second }, "persistence timeout"},
		{"netmask", func(s *Service) { s.Netmask = 33 }, "netmask /33"},
		{"duplicate", func(s *Service) { s.Destinations = append(s.Destinations, s.Destinations[0]) }, "listed twice"},
		{"weight", func(s *Service) { s.Destinations[0].Weight = -1 }, "weight -1"},
		{"no forwarding", func(s *Service) { s.Destinations[0].Forwarding = ForwardUnset }, "forwarding method"},
		{"mixed family nat", func(s *Service) { s.Destinations[0] = dest("[2001:db8::2]:80", ForwardNAT) }, "only tunnelling"},
		{"nat port 0", func(s *Service) { s.Destinations[0] = dest("10.0.0.1:0", ForwardNAT) }, "NAT needs a real server port"},
		{"thresholds", func(s *Service) { s.Destinations[0].LowerThreshold, s.Destinations[0].UpperThreshold = 5, 4 }, "lower threshold"},
		{"fwmark with address", func(s *Service) { s.Key.FWMark = 3 }, "no protocol or address"},
		{"family mismatch", func(s *Service) { s.Key.Family = IPv6 }, "not ipv6"},
	}
	for _, tt := range tests {
		s := ok
		s.Destinations = append([]Destination(nil), ok.Destinations...)
		tt.mod(&s)
		err := s.Validate()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Validate() = %v, want error containing %q", tt.name, err, tt.want)
		}
	}
	// Tunnelling may cross families; DR to port 0 and fwmark NAT to port 0 are fine.
	s := ok
	s.Destinations = []Destination{dest("[2001:db8::2]:80", ForwardTunnel), dest("10.0.0.2:0", ForwardDR)}
	if err := s.Validate(); err != nil {
		t.Errorf("tunnel across families: %v", err)
	}
	fw := Service{Key: FWMarkKey(IPv4, 7), Scheduler: "rr", Destinations: []Destination{dest("10.0.0.2:0", ForwardNAT)}}
	if err := fw.Validate(); err != nil {
		t.Errorf("fwmark: %v", err)
	}
}

func TestNormalized(t *testing.T) {
	s := Service{
		Key:       ServiceKey{Protocol: TCP, Address: netip.MustParseAddrPort("[::ffff:192.0.2.1]:80")},
		Scheduler: "rr",
		Timeout:   1500 * time.Millisecond,
		Destinations: []Destination{
			{Address: netip.MustParseAddrPort("10.0.0.2:80")},
			{Address: netip.MustParseAddrPort("[::ffff:10.0.0.1]:80")},
		},
		Withdrawn: []netip.AddrPort{netip.MustParseAddrPort("10.0.0.9:80"), netip.MustParseAddrPort("10.0.0.9:80")},
	}
	n := s.normalized()
	if n.Key != AddrKey(TCP, netip.MustParseAddrPort("192.0.2.1:80")) {
		t.Errorf("key = %#v", n.Key)
	}
	if n.Netmask != 32 || n.Timeout != 2*time.Second {
		t.Errorf("netmask %d timeout %s", n.Netmask, n.Timeout)
	}
	if n.Destinations[0].Address.String() != "10.0.0.1:80" || len(n.Withdrawn) != 1 {
		t.Errorf("destinations %v withdrawn %v", n.Destinations, n.Withdrawn)
	}
	if s.Destinations[0].Address.String() != "10.0.0.2:80" {
		t.Errorf("normalized modified its receiver")
	}
	if got := FWMarkKey(IPv6, 1); (Service{Key: got}).normalized().Netmask != 128 {
		t.Errorf("IPv6 default netmask")
	}
}

func TestFlags(t *testing.T) {
	f := FlagOnePacket | FlagSHFallback | FlagSHPort
	if got := f.Format("sh"); got != "ops|sh-fallback|sh-port" {
		t.Errorf("Format(sh) = %q", got)
	}
	if got := (FlagMHPort).Format("mh"); got != "mh-port" {
		t.Errorf("Format(mh) = %q", got)
	}
	if got := (FlagSched3 | 0x100).String(); got != "flag-3|0x100" {
		t.Errorf("String = %q", got)
	}
	// The kernel's values (include/uapi/linux/ip_vs.h).
	for name, want := range map[string]Flags{"ops": 0x4, "sh-fallback": 0x8, "mh-fallback": 0x8, "sh-port": 0x10, "mh-port": 0x10, "flag-3": 0x20} {
		got, err := ParseFlag(name)
		if err != nil || got != want {
			t.Errorf("ParseFlag(%q) = %#x, %v; want %#x", name, got, err, want)
		}
	}
	if _, err := ParseFlag("persistent"); err == nil {
		t.Error("ParseFlag(persistent) succeeded")
	}
}

func TestParseForwarding(t *testing.T) {
	for in, want := range map[string]Forwarding{"NAT": ForwardNAT, "masq": ForwardNAT, "DR": ForwardDR, "route": ForwardDR, "TUN": ForwardTunnel, "tunnel": ForwardTunnel} {
		got, err := ParseForwarding(in)
		if err != nil || got != want {
			t.Errorf("ParseForwarding(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseForwarding("fullnat"); err == nil {
		t.Error("fullnat accepted")
	}
}

func TestServiceString(t *testing.T) {
	s := Service{Key: AddrKey(TCP, netip.MustParseAddrPort("192.0.2.1:80")), Scheduler: "sh",
		Timeout: 300 * time.Second, Netmask: 24, Flags: FlagSHPort}
	if got := s.String(); got != "tcp/192.0.2.1:80 sh persistent 5m0s mask /24 sh-port" {
		t.Errorf("String() = %q", got)
	}
	d := Destination{Address: netip.MustParseAddrPort("10.0.0.1:80"), Weight: 3, Forwarding: ForwardDR, UpperThreshold: 100}
	if got := d.String(); got != "10.0.0.1:80 dr weight 3 thresholds 0-100" {
		t.Errorf("String() = %q", got)
	}
}
