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
// a configuration it accepts must be fully defaulted.
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
		if c1.Hash != sha256Hex(data) || c1.Global.RouterID == "" || len(c1.VRRPInstances) == 0 {
			t.Fatalf("accepted config lacks hash, router_id or instances: %+v", c1)
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
