package collector

import (
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"

	"github.com/vigil-lb/vigil/vrrp"
)

// documentedCollectors returns one collector per area, fed with state that
// makes every metric of the area appear. docs/metrics.md must document
// exactly what they expose: a new area (e.g. the actuator) adds its
// collector here and its table there.
func documentedCollectors() []prometheus.Collector {
	return []prometheus.Collector{
		NewVRRP(func() vrrp.NodeSnapshot { return testSnapshot() }),
		NewConfig(testReloadState),
		NewBuildInfo(),
		NewLB(func() LBSnapshot { return testLBSnapshot() }),
		testCheckLateness(),
	}
}

// TestDocsMatchExposition keeps docs/metrics.md and the exposition in
// agreement: every exposed vigil_* metric is documented with its type and
// labels, and every documented metric is exposed.
func TestDocsMatchExposition(t *testing.T) {
	md, err := os.ReadFile("../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	docs, err := DocumentedMetrics(md)
	if err != nil {
		t.Fatalf("parsing docs/metrics.md: %v", err)
	}
	r := prometheus.NewPedanticRegistry()
	r.MustRegister(documentedCollectors()...)
	// The Go and process collectors share the registry in vigil; their
	// metrics are not vigil's to document and must be ignored.
	r.MustRegister(collectors.NewGoCollector())
	families, err := r.Gather()
	if err != nil {
		t.Fatal(err)
	}
	// The actuator's metrics come from package actuator; the live test in
	// test/e2e holds them to the documentation.
	for name := range docs {
		if strings.HasPrefix(name, "vigil_actuator_") {
			delete(docs, name)
		}
	}
	if problems := CompareDocs(docs, families); len(problems) > 0 {
		var b strings.Builder
		for _, p := range problems {
			fmt.Fprintf(&b, "\n  %s", p)
		}
		t.Errorf("docs/metrics.md and the exposition disagree:%s", b.String())
	}
	if len(docs) == 0 {
		t.Error("docs/metrics.md documents no metric")
	}
}

func TestDocumentedMetrics(t *testing.T) {
	md := "# Title\n" +
		"\n" +
		"| Reason | Meaning |\n" +
		"|---|---|\n" +
		"| `ttl` | not a metric table |\n" +
		"\n" +
		"| Metric | Type | Labels | Meaning |\n" +
		"| :--- | --- | --- | ---: |\n" +
		"| `vigil_a_total` | Counter | `b`, `a` | Counts `x \\| y`. |\n" +
		"| `vigil_b` | gauge | — | No labels. |\n" +
		"| `vigil_c` | gauge |  | Empty labels cell. |\n" +
		"\n" +
		"```\n" +
		"| Metric | Type | Labels | Meaning |\n" +
		"|---|---|---|---|\n" +
		"| `vigil_in_code` | gauge | - | fenced, ignored |\n" +
		"```\n" +
		"| Meaning | Labels | Type | Metric |\n" +
		"|---|---|---|---|\n" +
		"| first column is not Metric | - | gauge | `vigil_ignored` |\n" +
		"\n" +
		"| Metric | Labels | Meaning | Type |\n" +
		"|--|--|--|--|\n" +
		"| `vigil_d_seconds` | - | Columns in another order. | histogram |\n"
	got, err := DocumentedMetrics([]byte(md))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Doc{
		"vigil_a_total":   {Name: "vigil_a_total", Type: "counter", Labels: []string{"a", "b"}, Meaning: "Counts `x | y`.", Line: 9},
		"vigil_b":         {Name: "vigil_b", Type: "gauge", Meaning: "No labels.", Line: 10},
		"vigil_c":         {Name: "vigil_c", Type: "gauge", Meaning: "Empty labels cell.", Line: 11},
		"vigil_d_seconds": {Name: "vigil_d_seconds", Type: "histogram", Meaning: "Columns in another order.", Line: 24},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%#v\nwant\n%#v", got, want)
	}
}

func TestDocumentedMetricsErrors(t *testing.T) {
	const head = "| Metric | Type | Labels | Meaning |\n|---|---|---|---|\n"
	for _, tc := range []struct {
		name, md, err string
	}{
		{"no delimiter", "| Metric | Type | Labels | Meaning |\n| `vigil_a` | gauge | - | x |\n",
			"line 2: table header not followed by a delimiter row"},
		{"missing column", "| Metric | Type | Meaning |\n|---|---|---|\n",
			`line 1: metric table has no "labels" column`},
		{"name without backticks", head + "| vigil_a | gauge | - | x |\n",
			`line 3: metric cell "vigil_a" must hold one name in backticks`},
		{"two names", head + "| `vigil_a` `vigil_b` | gauge | - | x |\n",
			"line 3: metric cell \"`vigil_a` `vigil_b`\" must hold one name in backticks"},
		{"unknown type", head + "| `vigil_a` | info | - | x |\n",
			`line 3: vigil_a: unknown type "info"`},
		{"bare label", head + "| `vigil_a` | gauge | `a`, b | x |\n",
			`line 3: vigil_a: label "b" must be one name in backticks`},
		{"repeated label", head + "| `vigil_a` | gauge | `a`, `a` | x |\n",
			`line 3: vigil_a: label "a" listed twice`},
		{"empty meaning", head + "| `vigil_a` | gauge | - |  |\n",
			"line 3: vigil_a: empty meaning"},
		{"duplicate", head + "| `vigil_a` | gauge | - | x |\n\n" + head + "| `vigil_a` | counter | - | y |\n",
			"line 7: vigil_a already documented on line 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DocumentedMetrics([]byte(tc.md))
			if err == nil || err.Error() != tc.err {
				t.Errorf("got error %v, want %q", err, tc.err)
			}
		})
	}
}

// TestCompareDocs checks that every kind of disagreement is reported, with
// a message naming what differs, and that agreement and foreign families
// report nothing.
func TestCompareDocs(t *testing.T) {
	family := func(name string, typ dto.MetricType, labels ...string) *dto.MetricFamily {
		m := &dto.Metric{}
		for _, l := range labels {
			m.Label = append(m.Label, &dto.LabelPair{Name: proto.String(l), Value: proto.String("v")})
		}
		return &dto.MetricFamily{Name: proto.String(name), Type: typ.Enum(), Metric: []*dto.Metric{m}}
	}
	docs := map[string]Doc{
		"vigil_ok":        {Name: "vigil_ok", Type: "gauge", Labels: []string{"a", "b"}, Line: 1},
		"vigil_type":      {Name: "vigil_type", Type: "gauge", Line: 2},
		"vigil_labels":    {Name: "vigil_labels", Type: "counter", Labels: []string{"a", "gone"}, Line: 3},
		"vigil_unexposed": {Name: "vigil_unexposed", Type: "gauge", Line: 4},
	}
	families := []*dto.MetricFamily{
		family("go_goroutines", dto.MetricType_GAUGE),
		family("vigil_ok", dto.MetricType_GAUGE, "b", "a"),
		family("vigil_type", dto.MetricType_COUNTER),
		family("vigil_labels", dto.MetricType_COUNTER, "a", "new"),
		family("vigil_new", dto.MetricType_GAUGE, "x"),
	}
	var got []string
	for _, p := range CompareDocs(docs, families) {
		got = append(got, fmt.Sprintf("%d %s", p.Kind, p))
	}
	want := []string{
		fmt.Sprintf("%d vigil_labels: documented (line 3) with labels {a, gone}, exposed with {a, new}: exposed but undocumented labels {new}; documented but unexposed labels {gone}", LabelMismatch),
		fmt.Sprintf("%d vigil_new: exposed as a gauge with labels {x} but not documented", Undocumented),
		fmt.Sprintf("%d vigil_type: documented (line 2) as a gauge, exposed as a counter", TypeMismatch),
		fmt.Sprintf("%d vigil_unexposed: documented (line 4) but not exposed", NotExposed),
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}
