package ipvs

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestOwnershipRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), StateFile)
	o, err := loadOwnership(path)
	if err != nil {
		t.Fatalf("loading a missing file: %v", err)
	}
	if len(o.owned) != 0 || len(o.drains) != 0 {
		t.Fatalf("missing file gave %v %v", o.owned, o.drains)
	}
	web := AddrKey(TCP, netip.MustParseAddrPort("192.0.2.1:80"))
	dns := AddrKey(UDP, netip.MustParseAddrPort("[2001:db8::1]:53"))
	mark := FWMarkKey(IPv4, 10)
	deadline := time.Date(2025, 1, 2, 3, 4, 5, 600, time.FixedZone("x", 3600))
	o.owned[web], o.owned[dns], o.owned[mark] = true, true, true
	o.drains[drainKey{web, netip.MustParseAddrPort("10.0.0.3:80")}] = deadline
	o.drains[drainKey{svc: mark}] = deadline.Add(time.Second)
	if err := o.save(); err != nil {
		t.Fatal(err)
	}

	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := `{
  "version": 1,
  "services": [
    "tcp/192.0.2.1:80",
    "udp/[2001:db8::1]:53",
    "fwmark4/10"
  ],
  "drains": [
    {
      "service": "tcp/192.0.2.1:80",
      "destination": "10.0.0.3:80",
      "deadline": "2025-01-02T02:04:05.0000006Z"
    },
    {
      "service": "fwmark4/10",
      "deadline": "2025-01-02T02:04:06.0000006Z"
    }
  ]
}
`
	if diff := cmp.Diff(want, string(b)); diff != "" {
		t.Errorf("file (-want +got):\n%s", diff)
	}

	back, err := loadOwnership(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(o.owned, back.owned); diff != "" {
		t.Errorf("owned (-saved +loaded):\n%s", diff)
	}
	if len(back.drains) != 2 {
		t.Fatalf("drains = %v", back.drains)
	}
	for k, v := range o.drains {
		if !back.drains[k].Equal(v) {
			t.Errorf("drain %v: loaded %v, saved %v", k, back.drains[k], v)
		}
	}
}

func TestLoadOwnershipErrors(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"garbage":  "{",
		"version":  `{"version": 2, "services": []}`,
		"bad key":  `{"version": 1, "services": ["tcp/nowhere"]}`,
		"bad dest": `{"version": 1, "services": [], "drains": [{"service": "fwmark4/1", "destination": "x", "deadline": "2025-01-01T00:00:00Z"}]}`,
	} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := loadOwnership(path)
		if err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: err = %v, want an error naming the file", name, err)
		}
	}
}

func assertOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if diff := cmp.Diff(names, got); diff != "" {
		t.Errorf("directory entries (-want +got):\n%s", diff)
	}
}
