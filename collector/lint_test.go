package collector

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
)

// lintSets are the registries the linters check: every collector fed so
// that every metric appears, and the load-balancing collector in the states
// that change which series it exposes (IPVS missing, nothing configured).
func lintSets() map[string][]prometheus.Collector {
	ipvsDown := testLBSnapshot()
	ipvsDown.IPVSUp = false
	return map[string][]prometheus.Collector{
		"documented": documentedCollectors(),
		"ipvs down":  {NewLB(staticLB(ipvsDown))},
		"empty lb":   {NewLB(staticLB(LBSnapshot{})), NewCheckLateness()},
	}
}

// TestLint runs promlint (what `promtool check metrics` runs) over the full
// exposition of every collector.
func TestLint(t *testing.T) {
	for name, cs := range lintSets() {
		t.Run(name, func(t *testing.T) {
			r := prometheus.NewPedanticRegistry()
			r.MustRegister(cs...)
			problems, err := testutil.GatherAndLint(r)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range problems {
				t.Errorf("%s: %s", p.Metric, p.Text)
			}
		})
	}
}

// TestPromtoolCheckMetrics feeds the text exposition of every collector to
// `promtool check metrics`, as node_exporter's checkmetrics target does. It
// is skipped where promtool is not installed.
func TestPromtoolCheckMetrics(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool not in PATH (CI=true: a missing prerequisite fails; scripts/install-deps.sh installs it)")
		}
		t.Skip("promtool not in PATH")
	}
	for name, cs := range lintSets() {
		t.Run(name, func(t *testing.T) {
			r := prometheus.NewPedanticRegistry()
			r.MustRegister(cs...)
			families, err := r.Gather()
			if err != nil {
				t.Fatal(err)
			}
			var text bytes.Buffer
			for _, mf := range families {
				if _, err := expfmt.MetricFamilyToText(&text, mf); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, promtool, "check", "metrics")
			cmd.Stdin = &text
			out, err := cmd.CombinedOutput()
			if err != nil || len(out) > 0 {
				t.Errorf("promtool check metrics: %v\n%s", err, out)
			}
		})
	}
}
