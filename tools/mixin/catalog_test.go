package mixin

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vigil-lb/vigil/tools/promlint"
)

// repoRoot returns the root of the vigil checkout these tests run in: the
// nearest directory above with the main module's go.mod.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		mod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && firstLine(mod) == "module github.com/vigil-lb/vigil" {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod of github.com/vigil-lb/vigil above the working directory")
		}
		dir = parent
	}
}

func firstLine(b []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "//") {
			return l
		}
	}
	return ""
}

func readRepoFile(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// pendingMetric is a metric the rules and dashboards use before
// docs/metrics.md documents it: the actuator's, which another change adds
// under exactly these names and labels. Label values are those of the
// actuator package's Results, Sources, Guards and Kinds.
type pendingMetric struct {
	name, typ string
	labels    []string
	enums     map[string][]string
}

var pendingMetrics = []pendingMetric{
	{"vigil_actuator_actions_total", "counter", []string{"action", "source", "result"}, map[string][]string{
		"action": {"drain", "undrain", "set_weight", "failover", "resign", "hold", "release"},
		"source": {"webhook", "api", "cli"},
		"result": {"applied", "refused", "dry_run", "failed", "noop"},
	}},
	{"vigil_actuator_guard_refusals_total", "counter", []string{"guard"}, map[string][]string{
		"guard": {"min_healthy", "max_concurrent", "cooldown", "rate_limit"},
	}},
	{"vigil_actuator_overrides", "gauge", []string{"kind"}, map[string][]string{
		"kind": {"drain", "weight", "hold"},
	}},
	{"vigil_actuator_override_age_seconds", "gauge", []string{"kind"}, map[string][]string{
		"kind": {"drain", "weight", "hold"},
	}},
	{"vigil_actuator_webhook_requests_total", "counter", []string{"code"}, nil},
}

// docEnum is a label whose values docs/metrics.md enumerates: matchers on
// it must name one of the values, and every value must appear in the
// document in backticks, so renaming one there breaks these tests.
type docEnum struct {
	metrics []string
	label   string
	values  []string
}

var docEnums = []docEnum{
	{[]string{"vigil_vrrp_instance_state", "vigil_vrrp_instance_wanted_state"}, "state", vrrpStates},
	{[]string{"vigil_vrrp_instance_transitions_total"}, "from", vrrpStates},
	{[]string{"vigil_vrrp_instance_transitions_total"}, "to", vrrpStates},
	{[]string{"vigil_vrrp_instance_receive_errors_total", "vigil_vrrp_interface_receive_errors_total"}, "reason",
		[]string{"ttl", "checksum", "version", "vrid", "type", "length", "address_list", "interval", "auth", "auth_type", "address_family"}},
	{[]string{"vigil_check_results_total"}, "result", []string{"success", "failure", "timeout"}},
	{[]string{"vigil_check_up", "vigil_check_results_total", "vigil_check_scheduling_lateness_seconds_bucket"}, "check",
		[]string{"tcp", "http", "https", "mysql", "exec", "udp", "dns"}},
	{[]string{"vigil_ipvs_reconcile_changes_total"}, "kind",
		[]string{"service_create", "service_update", "service_delete", "dest_create", "dest_update", "dest_delete"}},
}

// vigilCatalog is every series the rules and dashboards may use: what
// docs/metrics.md documents (parsed by collector.DocumentedMetrics), the
// standard go_* and process_* metrics, Prometheus's scrape series, and the
// pending actuator metrics.
func vigilCatalog(t *testing.T) *promlint.Catalog {
	t.Helper()
	md := readRepoFile(t, "docs/metrics.md")
	cat := promlint.NewCatalog()
	docs, err := cat.AddDocumented(md, "docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	if err := cat.AddGoProcess(); err != nil {
		t.Fatal(err)
	}
	if err := cat.AddScrapeSeries(); err != nil {
		t.Fatal(err)
	}
	actuatorDocumented := false
	for name := range docs {
		actuatorDocumented = actuatorDocumented || strings.HasPrefix(name, "vigil_actuator_")
	}
	for _, p := range pendingMetrics {
		if d, ok := docs[p.name]; ok {
			want := slices.Sorted(slices.Values(p.labels))
			if d.Type != p.typ || !slices.Equal(d.Labels, want) {
				t.Errorf("%s is documented now as a %s with labels %v, but the rules and dashboards use it as a %s with labels %v",
					p.name, d.Type, d.Labels, p.typ, want)
			} else {
				t.Logf("%s is documented now: remove it from pendingMetrics", p.name)
			}
		} else {
			if actuatorDocumented {
				t.Errorf("docs/metrics.md documents actuator metrics but not %s, which the rules and dashboards use: "+
					"rename it in tools/mixin (and alerts/tests) or document it", p.name)
			}
			if err := cat.AddFamily(p.name, p.typ, append(slices.Clone(p.labels), promlint.TargetLabels...), "pendingMetrics"); err != nil {
				t.Fatal(err)
			}
		}
		for label, values := range p.enums {
			if err := cat.SetEnum(p.name, label, values); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, e := range docEnums {
		for _, v := range e.values {
			if !bytes.Contains(md, []byte("`"+v+"`")) {
				t.Errorf("docs/metrics.md no longer mentions `%s`, a value of %s", v, e.label)
			}
		}
		for _, m := range e.metrics {
			if err := cat.SetEnum(m, e.label, e.values); err != nil {
				t.Fatal(err)
			}
		}
	}
	return cat
}

func TestCatalogHasWhatVigilExposes(t *testing.T) {
	cat := vigilCatalog(t)
	for _, name := range []string{
		"vigil_vrrp_instance_state", "vigil_check_scheduling_lateness_seconds_bucket",
		"go_goroutines", "process_resident_memory_bytes", "go_gc_duration_seconds_count", "up",
	} {
		if _, ok := cat.Lookup(name); !ok {
			t.Errorf("catalog lacks %s", name)
		}
	}
	s, _ := cat.Lookup("vigil_vrrp_instance_transitions_total")
	if !s.Counter || !s.Labels["vrrp_instance"] || !s.Labels["instance"] || !s.Labels["job"] {
		t.Errorf("vigil_vrrp_instance_transitions_total: %+v", s)
	}
}
