package promlint

import (
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
)

// testDocs is a docs/metrics.md in miniature, in the format
// collector.DocumentedMetrics parses.
const testDocs = "# Metrics\n\n" +
	"| Metric | Type | Labels | Meaning |\n" +
	"|---|---|---|---|\n" +
	"| `vigil_vrrp_instance_state` | gauge | `vrrp_instance`, `state` | One series per state. |\n" +
	"| `vigil_vrrp_instance_transitions_total` | counter | `vrrp_instance`, `from`, `to` | State changes. |\n" +
	"| `vigil_vrrp_vip_present` | gauge | `vrrp_instance`, `address` | 1 if present. |\n" +
	"| `vigil_vrrp_instance_info` | gauge | `vrrp_instance`, `interface` | Always 1. |\n" +
	"| `vigil_ipvs_up` | gauge | — | 1 if IPVS. |\n" +
	"| `vigil_check_scheduling_lateness_seconds` | histogram | `check` | Lateness. |\n"

func testCatalog(t *testing.T) *Catalog {
	t.Helper()
	c := NewCatalog()
	if _, err := c.AddDocumented([]byte(testDocs), "testDocs"); err != nil {
		t.Fatal(err)
	}
	if err := c.AddScrapeSeries(); err != nil {
		t.Fatal(err)
	}
	if err := c.AddGoProcess(); err != nil {
		t.Fatal(err)
	}
	if err := c.SetEnum("vigil_vrrp_instance_state", "state", []string{"init", "backup", "master", "fault", "stop"}); err != nil {
		t.Fatal(err)
	}
	return c
}

func mustMatchers(t *testing.T, s string) []*labels.Matcher {
	t.Helper()
	ms, err := ParseMatchers(s)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

func TestCheckFindsProblems(t *testing.T) {
	cat := testCatalog(t)
	for _, tc := range []struct {
		expr string
		want string // a substring of the one problem expected
	}{
		{`vigil_vrrp_instance_stat{state="master"}`, "metric vigil_vrrp_instance_stat does not exist"},
		{`vigil_vrrp_instance_state{vrrp="VI_1"}`, `has no label "vrrp"`},
		{`vigil_vrrp_instance_state{state="MASTER"}`, `"MASTER" is not a value of state`},
		{`vigil_vrrp_instance_state{state=~"master|primary"}`, `"primary" is not a value of state`},
		{`vigil_vrrp_instance_state{state=~"prim.*"}`, "matches none of the values of state"},
		{`vigil_vrrp_instance_transitions_total > 0`, "is a counter: read it with rate()"},
		{`max_over_time(vigil_vrrp_instance_transitions_total[5m])`, "is a counter"},
		{`rate(vigil_vrrp_instance_state[5m])`, "is not a counter"},
		{`sum by (vrrp_instance, reason) (vigil_vrrp_instance_state)`, `the aggregated series have no label "reason"`},
		{`sum by (vrrp_instance) (vigil_vrrp_instance_state) > on (instance) vigil_ipvs_up`, `the left side has no label "instance"`},
		{`vigil_vrrp_vip_present * on (job, instance, vrrp_instance) group_left (iface) vigil_vrrp_instance_info`, `the right side has no label "iface"`},
		{`vigil_vrrp_vip_present and vigil_vrrp_instance_state`, "the sides' labels differ"},
		{`histogram_quantile(0.9, sum by (check) (rate(vigil_check_scheduling_lateness_seconds_bucket[5m])))`, "has no le label"},
		{`vigil_ipvs_up{`, "does not parse"},
		{`{job="vigil"}`, "names no metric"},
		{`label_replace(vigil_ipvs_up, "x", "$1", "nope", "(.*)")`, `have no label "nope"`},
	} {
		res := ExprCheck{Catalog: cat}.Check(tc.expr)
		if len(res.Problems) != 1 || !strings.Contains(res.Problems[0], tc.want) {
			t.Errorf("%s: problems %q, want one containing %q", tc.expr, res.Problems, tc.want)
		}
	}
}

func TestCheckPassesAndInfersLabels(t *testing.T) {
	cat := testCatalog(t)
	for _, tc := range []struct {
		expr string
		want []string // the result's labels
	}{
		{`vigil_vrrp_instance_state{state="master"} == 1`, []string{"instance", "job", "state", "vrrp_instance"}},
		{`sum by (job, vrrp_instance) (vigil_vrrp_instance_state{state="master"})`, []string{"job", "vrrp_instance"}},
		{`sum without (state) (vigil_vrrp_instance_state)`, []string{"instance", "job", "vrrp_instance"}},
		{`increase(vigil_vrrp_instance_transitions_total{to="master"}[1h]) > 3`, []string{"from", "instance", "job", "to", "vrrp_instance"}},
		{`vigil_vrrp_vip_present == 0 and on (job, instance, vrrp_instance) vigil_vrrp_instance_state{state="master"} == 1`,
			[]string{"address", "instance", "job", "vrrp_instance"}},
		{`vigil_vrrp_vip_present * on (job, instance, vrrp_instance) group_left (interface) vigil_vrrp_instance_info`,
			[]string{"address", "instance", "interface", "job", "vrrp_instance"}},
		{`vigil_ipvs_up > on (job, instance) vigil_ipvs_up`, []string{"instance", "job"}},
		{`histogram_quantile(0.99, sum by (instance, check, le) (rate(vigil_check_scheduling_lateness_seconds_bucket[5m])))`,
			[]string{"check", "instance"}},
		{`absent(up{job="vigil",instance=~".+"})`, []string{"job"}},
		{`count(up == 0) or vector(0)`, []string{}},
		{`time() - (vigil_ipvs_up > 0)`, []string{"instance", "job"}},
		{`label_replace(vigil_ipvs_up, "host", "$1", "instance", "(.*):.*")`, []string{"host", "instance", "job"}},
		{`rate(go_gc_duration_seconds_sum[5m]) / rate(go_gc_duration_seconds_count[5m])`, []string{"instance", "job"}},
		{`count_values("v", vigil_ipvs_up)`, []string{"v"}},
	} {
		res := ExprCheck{Catalog: cat}.Check(tc.expr)
		if len(res.Problems) > 0 {
			t.Errorf("%s: %q", tc.expr, res.Problems)
			continue
		}
		if got := sortedKeys(res.Labels); !slices.Equal(got, tc.want) {
			t.Errorf("%s: labels %v, want %v", tc.expr, got, tc.want)
		}
	}
}

func TestRequiredMatchersAndRange(t *testing.T) {
	cat := testCatalog(t)
	check := ExprCheck{
		Catalog:         cat,
		Required:        mustMatchers(t, `job=~"$job",instance=~"$instance"`),
		RequiredIfLabel: mustMatchers(t, `vrrp_instance=~"$vrrp_instance"`),
		Range:           RateInterval,
	}
	ok := `rate(vigil_vrrp_instance_transitions_total{job=~"$job",instance=~"$instance",vrrp_instance=~"$vrrp_instance"}[4242s]) * on (job, instance) group_left vigil_ipvs_up{job=~"$job",instance=~"$instance"}`
	if res := check.Check(ok); len(res.Problems) > 0 {
		t.Errorf("%s: %q", ok, res.Problems)
	}
	for expr, want := range map[string]string{
		`vigil_ipvs_up{job=~"$job"}`:                                   `lacks the matcher instance=~"$instance"`,
		`vigil_vrrp_instance_state{job=~"$job",instance=~"$instance"}`: `lacks the matcher vrrp_instance=~"$vrrp_instance"`,
		`rate(vigil_vrrp_instance_transitions_total{job=~"$job",instance=~"$instance",vrrp_instance=~"$vrrp_instance"}[5m])`: "should be [$__rate_interval]",
	} {
		res := check.Check(expr)
		if len(res.Problems) != 1 || !strings.Contains(res.Problems[0], want) {
			t.Errorf("%s: problems %q, want one containing %q", expr, res.Problems, want)
		}
	}
}

func TestTemplateAndLegendLabels(t *testing.T) {
	if got := TemplateLabels(`{{ $labels.instance }} of {{$labels.vrrp_instance}}: {{ $value }}`); !slices.Equal(got, []string{"instance", "vrrp_instance"}) {
		t.Errorf("TemplateLabels: %v", got)
	}
	if got := LegendLabels(`{{instance}} {{ from }} → {{to}}`); !slices.Equal(got, []string{"instance", "from", "to"}) {
		t.Errorf("LegendLabels: %v", got)
	}
	if got := MissingLabels([]string{"a", "b", "a"}, map[string]bool{"b": true}); !slices.Equal(got, []string{"a"}) {
		t.Errorf("MissingLabels: %v", got)
	}
	if got := MissingLabels([]string{"a"}, nil); got != nil {
		t.Errorf("MissingLabels of unknown labels: %v", got)
	}
}

func TestCatalog(t *testing.T) {
	cat := testCatalog(t)
	for name, counter := range map[string]bool{
		"vigil_check_scheduling_lateness_seconds_bucket": true,
		"vigil_check_scheduling_lateness_seconds_sum":    true,
		"vigil_ipvs_up":             false,
		"go_goroutines":             false,
		"process_cpu_seconds_total": true,
		"go_gc_duration_seconds":    false,
	} {
		s, ok := cat.Lookup(name)
		if !ok {
			t.Errorf("%s missing", name)
			continue
		}
		if s.Counter != counter || !s.Labels["job"] || !s.Labels["instance"] {
			t.Errorf("%s: %+v", name, s)
		}
	}
	if _, ok := cat.Lookup("vigil_check_scheduling_lateness_seconds"); ok {
		t.Error("a histogram's own name is not a series")
	}
	if err := cat.AddFamily("vigil_ipvs_up", "gauge", nil, "again"); err == nil {
		t.Error("adding a series twice succeeded")
	}
	if err := cat.AddFamily("x", "meter", nil, "here"); err == nil {
		t.Error("unknown type accepted")
	}
	if err := cat.SetEnum("vigil_ipvs_up", "state", []string{"a"}); err == nil {
		t.Error("enum for a label the series lacks accepted")
	}
	clone := cat.Clone()
	clone.AddTargetLabels("env")
	if s, _ := clone.Lookup("vigil_ipvs_up"); !s.Labels["env"] {
		t.Error("AddTargetLabels did not add env")
	}
	if s, _ := cat.Lookup("vigil_ipvs_up"); s.Labels["env"] {
		t.Error("AddTargetLabels on a clone changed the original")
	}
}
