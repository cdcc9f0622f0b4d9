package ipvsbench_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	ipvsbench "github.com/vigil-lb/vigil/bench/ipvs"
	"github.com/vigil-lb/vigil/ipvs"
)

func TestTable(t *testing.T) {
	svcs := ipvsbench.Table(1000, 10)
	seen := map[ipvs.ServiceKey]bool{}
	for _, s := range svcs {
		if err := s.Validate(); err != nil {
			t.Fatal(err)
		}
		if seen[s.Key] {
			t.Fatalf("duplicate %s", s.Key)
		}
		seen[s.Key] = true
		if len(s.Destinations) != 10 {
			t.Fatalf("%s: %d destinations", s.Key, len(s.Destinations))
		}
	}
	if got := svcs[258].Destinations[3]; got.Address != netip.MustParseAddrPort("10.103.1.2:80") || got.Weight != 4 {
		t.Errorf("svcs[258].Destinations[3] = %+v", got)
	}
}

func TestRestoreInput(t *testing.T) {
	got := string(ipvsbench.RestoreInput(ipvsbench.Table(2, 2)))
	want := `-A -t 10.1.0.0:80 -s wlc
-a -t 10.1.0.0:80 -r 10.100.0.0:80 -g -w 1
-a -t 10.1.0.0:80 -r 10.101.0.0:80 -g -w 2
-A -t 10.1.0.1:80 -s wlc
-a -t 10.1.0.1:80 -r 10.100.0.1:80 -g -w 1
-a -t 10.1.0.1:80 -r 10.101.0.1:80 -g -w 2
`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	tab := ipvsbench.Table(2, 2)
	d := tab[1].Destinations[0]
	d.Weight = 7
	if got := strings.Join(ipvsbench.EditArgs(tab[1], d), " "); got != "-e -t 10.1.0.1:80 -r 10.100.0.1:80 -g -w 7" {
		t.Errorf("EditArgs: %s", got)
	}
}

func TestStats(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	if got := ipvsbench.Median(ms(5, 1, 3)); got != 3*time.Millisecond {
		t.Errorf("median of 3: %v", got)
	}
	if got := ipvsbench.Median(ms(4, 1, 3, 2)); got != 2500*time.Microsecond {
		t.Errorf("median of 4: %v", got)
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = 100 - i
	}
	for q, want := range map[float64]int{0: 1, 0.5: 50, 0.99: 99, 1: 100} {
		if got := ipvsbench.Quantile(ms(hundred...), q); got != time.Duration(want)*time.Millisecond {
			t.Errorf("Quantile(%v) = %v, want %dms", q, got, want)
		}
	}
	if s := ipvsbench.Summarize(ms(10, 200, 3)).String(); s != "10.0 (3.00–200)" {
		t.Errorf("Summary = %q", s)
	}
}

func TestTargets(t *testing.T) {
	got := ipvsbench.Targets(300, 2, 20000)
	if len(got) != 600 || got[0] != netip.MustParseAddrPort("127.1.0.1:20000") || got[599] != netip.MustParseAddrPort("127.1.1.44:20001") {
		t.Errorf("Targets: %d, first %s, last %s", len(got), got[0], got[len(got)-1])
	}
}
