package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzParse feeds arbitrary bytes to Parse. It must never panic, must give
// the same answer twice, must format every error line as "<file>:...", and
// a configuration it accepts must be fully defaulted. The seeds are every
// file in testdata (good and bad) and the example.
func FuzzParse(f *testing.F) {
	seeds, err := filepath.Glob("testdata/*/*.yml")
	if err != nil {
		f.Fatal(err)
	}
	seeds = append(seeds, "../examples/vigil.yml")
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c1, err1 := Parse(data, "fuzz.yml")
		c2, err2 := Parse(data, "fuzz.yml")
		if (err1 == nil) != (err2 == nil) {
			t.Fatalf("Parse is not deterministic: %v then %v", err1, err2)
		}
		if err1 != nil {
			if err1.Error() != err2.Error() {
				t.Fatalf("Parse is not deterministic:\n%v\nthen\n%v", err1, err2)
			}
			if c1 != nil {
				t.Fatalf("Parse returned a config with an error")
			}
			for _, line := range strings.Split(err1.Error(), "\n") {
				if !strings.HasPrefix(line, "fuzz.yml:") {
					t.Fatalf("error line %q does not start with the file name", line)
				}
			}
			return
		}
		if diff := cmp.Diff(c1, c2, cmpOpts); diff != "" {
			t.Fatalf("Parse is not deterministic (-first +second):\n%s", diff)
		}
		if c1.Hash != sha256Hex(data) || c1.Global.RouterID == "" || c1.Global.StateDir == "" || len(c1.VRRPInstances) == 0 {
			t.Fatalf("accepted config lacks hash, router_id, state_dir or instances: %+v", c1)
		}
		for _, vs := range c1.VirtualServers {
			checkVirtualServerResolved(t, vs)
		}
		for _, in := range c1.VRRPInstances {
			if in.Preempt == nil || len(in.VirtualIPAddresses) == 0 {
				t.Fatalf("instance %q not defaulted: %+v", in.Name, in)
			}
			for _, tr := range append(in.TrackInterfaces, in.TrackScripts...) {
				if tr.Weight == nil {
					t.Fatalf("instance %q: track %q has no weight", in.Name, tr.Name)
				}
			}
			for _, v := range in.VirtualIPAddresses {
				if v.Dev == "" {
					t.Fatalf("instance %q: VIP %s has no dev", in.Name, v)
				}
				if again, err := parseVIP(v.String()); err != nil || again != v {
					t.Fatalf("VIP %q does not round-trip: %+v, %v", v, again, err)
				}
			}
		}
	})
}

// checkVirtualServerResolved fails unless vs is fully defaulted and
// consistent with what validation promises.
func checkVirtualServerResolved(t *testing.T, vs VirtualServer) {
	t.Helper()
	if vs.Address.IsValid() == (vs.Fwmark != 0) {
		t.Fatalf("virtual server %q: want exactly one of address and fwmark: %+v", vs.Name, vs)
	}
	if vs.Family != "ipv4" && vs.Family != "ipv6" || vs.Scheduler == "" || vs.Forwarding == "" ||
		vs.Quorum < 1 || vs.DelayLoop <= 0 || (vs.Protocol == "") != (vs.Fwmark != 0) {
		t.Fatalf("virtual server %q not defaulted: %+v", vs.Name, vs)
	}
	if vs.Address.IsValid() && addrFamily(vs.Address.Addr()) != vs.Family {
		t.Fatalf("virtual server %q: family %s for address %s", vs.Name, vs.Family, vs.Address)
	}
	if vs.SorryServer.IsValid() != (vs.SorryServerForwarding != "") {
		t.Fatalf("virtual server %q: sorry server %s with forwarding %q", vs.Name, vs.SorryServer, vs.SorryServerForwarding)
	}
	for _, rs := range vs.RealServers {
		if addrFamily(rs.Address.Addr()) != vs.Family || rs.Forwarding == "" || rs.LowerThreshold > rs.UpperThreshold {
			t.Fatalf("virtual server %q: real server not resolved or inconsistent: %+v", vs.Name, rs)
		}
		for _, ch := range rs.Checks {
			if ch.ConnectTimeout <= 0 || ch.DelayLoop <= 0 || ch.Rise < 1 || ch.Fall < 1 {
				t.Fatalf("virtual server %q: check not defaulted: %+v", vs.Name, ch)
			}
			if ch.Type != "exec" && rs.Address.Port() == 0 && ch.ConnectPort == 0 {
				t.Fatalf("virtual server %q: %s check of %s has no port", vs.Name, ch.Type, rs.Address)
			}
			if h := ch.HTTP; h != nil {
				if h.Method == "" || h.Path == "" || len(h.ExpectStatus) == 0 || (h.BodyPattern != "") != (h.bodyRegexp != nil) {
					t.Fatalf("virtual server %q: http check not resolved: %+v", vs.Name, h)
				}
			}
			if n := ch.DNS; n != nil && n.ExpectedRcode() < 0 {
				t.Fatalf("virtual server %q: dns check with unknown rcode %q", vs.Name, n.ExpectRcode)
			}
		}
	}
}
