// Package promlint checks the PromQL in vigil's rules and dashboards
// against what vigil exposes: every expression parses, names only metrics
// that exist (documented in docs/metrics.md, the Go client's standard
// go_* and process_* metrics, Prometheus's own scrape series, or a
// recording rule), filters and groups only by labels those metrics have,
// reads counters only through rate(), irate(), increase() or resets(), and
// gives the labels that annotations and legends print. It also holds the
// rules of Grafana's dashboard-linter (which cannot be fetched here),
// re-implemented, and the conventions vigil's alerts follow.
package promlint

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"

	"github.com/vigil-lb/vigil/collector"
)

// TargetLabels are the labels Prometheus attaches to every scraped series.
var TargetLabels = []string{"job", "instance"}

// Series is one series name a query can select, with what is known of it.
type Series struct {
	Name string
	// Family is the metric family the series belongs to: Name itself,
	// or, for a histogram's _bucket/_sum/_count and a summary's
	// _sum/_count, the histogram's or summary's name.
	Family string
	// Counter is true for series that only go up: counters, and the
	// _bucket, _sum and _count of histograms and summaries.
	Counter bool
	// Labels are the label names the series can carry.
	Labels map[string]bool
	// Source says where the series is defined, for messages.
	Source string
}

// Catalog is every series name the checked queries may use.
type Catalog struct {
	series map[string]Series
	// enums holds, per series name and label, the values the label
	// takes, for the labels whose values are an enumeration.
	enums map[string]map[string][]string
}

// NewCatalog returns an empty catalog.
func NewCatalog() *Catalog {
	return &Catalog{series: map[string]Series{}, enums: map[string]map[string][]string{}}
}

// Lookup returns the series of the given name.
func (c *Catalog) Lookup(name string) (Series, bool) {
	s, ok := c.series[name]
	return s, ok
}

// Names returns every series name, sorted.
func (c *Catalog) Names() []string {
	out := make([]string, 0, len(c.series))
	for n := range c.series {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// AddFamily adds a metric family of the given type ("counter", "gauge",
// "histogram", "summary" or "untyped") whose series carry labels (target
// labels are not added here). It adds the series names the family
// exposes: a histogram's _bucket (with le), _sum and _count; a summary's
// own name (with quantile), _sum and _count.
func (c *Catalog) AddFamily(name, typ string, labels []string, source string) error {
	add := func(series string, counter bool, extra ...string) error {
		if prev, ok := c.series[series]; ok {
			return fmt.Errorf("%s (%s) is already defined by %s", series, source, prev.Source)
		}
		ls := map[string]bool{}
		for _, l := range append(slices.Clone(labels), extra...) {
			ls[l] = true
		}
		c.series[series] = Series{Name: series, Family: name, Counter: counter, Labels: ls, Source: source}
		return nil
	}
	switch typ {
	case "counter":
		return add(name, true)
	case "gauge", "untyped":
		return add(name, false)
	case "histogram":
		if err := add(name+"_bucket", true, "le"); err != nil {
			return err
		}
		if err := add(name+"_sum", true); err != nil {
			return err
		}
		return add(name+"_count", true)
	case "summary":
		if err := add(name, false, "quantile"); err != nil {
			return err
		}
		if err := add(name+"_sum", true); err != nil {
			return err
		}
		return add(name+"_count", true)
	}
	return fmt.Errorf("%s (%s): unknown metric type %q", name, source, typ)
}

// withTargetLabels returns labels plus job and instance.
func withTargetLabels(labels []string) []string {
	return append(slices.Clone(labels), TargetLabels...)
}

// AddDocumented adds every metric docs/metrics.md documents (md is its
// text), as scraped series: with the target labels.
func (c *Catalog) AddDocumented(md []byte, source string) (map[string]collector.Doc, error) {
	docs, err := collector.DocumentedMetrics(md)
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", source, err)
	}
	names := make([]string, 0, len(docs))
	for n := range docs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		d := docs[n]
		if err := c.AddFamily(n, d.Type, withTargetLabels(d.Labels), fmt.Sprintf("%s line %d", source, d.Line)); err != nil {
			return nil, err
		}
	}
	return docs, nil
}

// AddGoProcess adds the go_* and process_* metrics of the Prometheus Go
// client, exactly as the collectors vigil registers (the default Go
// collector and the process collector) expose them in this build.
func (c *Catalog) AddGoProcess() error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	mfs, err := reg.Gather()
	if err != nil {
		return fmt.Errorf("gathering go and process metrics: %w", err)
	}
	for _, mf := range mfs {
		var labels []string
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if !slices.Contains(labels, lp.GetName()) {
					labels = append(labels, lp.GetName())
				}
			}
		}
		typ := strings.ToLower(mf.GetType().String())
		if mf.GetType() == dto.MetricType_GAUGE_HISTOGRAM {
			typ = "histogram"
		}
		if err := c.AddFamily(mf.GetName(), typ, withTargetLabels(labels), "client_golang collectors"); err != nil {
			return err
		}
	}
	return nil
}

// AddScrapeSeries adds the series Prometheus itself writes for every
// scrape target.
func (c *Catalog) AddScrapeSeries() error {
	for _, n := range []string{
		"up", "scrape_duration_seconds", "scrape_samples_scraped",
		"scrape_samples_post_metric_relabeling", "scrape_series_added",
	} {
		if err := c.AddFamily(n, "gauge", TargetLabels, "Prometheus scrape series"); err != nil {
			return err
		}
	}
	return nil
}

// AddRecorded adds the output of a recording rule: a gauge with exactly
// the labels its expression leaves plus the rule's own labels.
func (c *Catalog) AddRecorded(name string, labels []string, source string) error {
	return c.AddFamily(name, "gauge", labels, source)
}

// SetEnum records the values label takes on the series of the given
// name; matchers on it must then name one of them.
func (c *Catalog) SetEnum(series, label string, values []string) error {
	s, ok := c.series[series]
	if !ok {
		return fmt.Errorf("enum for unknown series %s", series)
	}
	if !s.Labels[label] {
		return fmt.Errorf("enum for label %q, which %s does not have", label, series)
	}
	if c.enums[series] == nil {
		c.enums[series] = map[string][]string{}
	}
	c.enums[series][label] = slices.Clone(values)
	return nil
}

func (c *Catalog) enum(series, label string) []string {
	return c.enums[series][label]
}

// AddTargetLabels adds labels that the scrape configuration attaches to
// every target (such as an env label a job selector filters on) to every
// scraped series: those with the job and instance labels.
func (c *Catalog) AddTargetLabels(names ...string) {
	for n, s := range c.series {
		if !s.Labels["job"] || !s.Labels["instance"] {
			continue
		}
		ls := copySet(s.Labels)
		for _, l := range names {
			ls[l] = true
		}
		s.Labels = ls
		c.series[n] = s
	}
}
