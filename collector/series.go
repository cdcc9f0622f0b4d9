package collector

import (
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// This file holds the cheap path for collectors with many series whose
// label values change much more rarely than they are scraped (lb.go):
// label pairs built once and shared by every scrape, and series allocated
// in chunks rather than one by one. prometheus.MustNewConstMetric instead
// validates and copies the label values into fresh label pairs and
// allocates five objects per series on every scrape.

// labelName is the shared Name of every label pair of one label.
func labelName(name string) *string { return &name }

// labelPair returns a label pair of name (from labelName) and value.
func labelPair(name *string, value string) *dto.LabelPair {
	return &dto.LabelPair{Name: name, Value: &value}
}

// labelArena hands out label sets carved from shared backing arrays. A
// set is the label pairs of one series, sorted by label name as
// dto.Metric requires. Each set's capacity is its length, so a registry
// wrapper that appends labels (prometheus.WrapRegistererWith) copies it
// instead of writing into its neighbour.
type labelArena struct {
	buf []*dto.LabelPair
}

func (a *labelArena) set(pairs ...*dto.LabelPair) []*dto.LabelPair {
	if cap(a.buf)-len(a.buf) < len(pairs) {
		a.buf = make([]*dto.LabelPair, 0, max(1024, len(pairs)))
	}
	start := len(a.buf)
	a.buf = append(a.buf, pairs...)
	return a.buf[start:len(a.buf):len(a.buf)]
}

// seriesChunk is how many series an emitter allocates at once: about
// 25 KiB of gauges or counters, under the largest small-object size
// class.
const seriesChunk = 256

// emitter sends series to a Collect channel. It allocates them in chunks
// and never reuses one, since the registry reads them after Collect
// returns; a scrape's series are garbage together once it is encoded.
// Label sets are not copied: they must not change afterwards.
type emitter struct {
	ch       chan<- prometheus.Metric
	gauges   []constGauge
	counters []constCounter
}

func (e *emitter) gauge(d *prometheus.Desc, labels []*dto.LabelPair, v float64) {
	if len(e.gauges) == cap(e.gauges) {
		e.gauges = make([]constGauge, 0, seriesChunk)
	}
	e.gauges = e.gauges[:len(e.gauges)+1]
	m := &e.gauges[len(e.gauges)-1]
	m.desc, m.labels, m.value = d, labels, v
	m.dto.Value = &m.value
	e.ch <- m
}

func (e *emitter) counter(d *prometheus.Desc, labels []*dto.LabelPair, v float64) {
	if len(e.counters) == cap(e.counters) {
		e.counters = make([]constCounter, 0, seriesChunk)
	}
	e.counters = e.counters[:len(e.counters)+1]
	m := &e.counters[len(e.counters)-1]
	m.desc, m.labels, m.value = d, labels, v
	m.dto.Value = &m.value
	e.ch <- m
}

// constGauge is a gauge series with a label set shared between scrapes;
// what Write fills in points into it, as constMetric's does.
type constGauge struct {
	desc   *prometheus.Desc
	labels []*dto.LabelPair
	value  float64
	dto    dto.Gauge
}

// Desc implements prometheus.Metric.
func (m *constGauge) Desc() *prometheus.Desc { return m.desc }

// Write implements prometheus.Metric.
func (m *constGauge) Write(out *dto.Metric) error {
	out.Label = m.labels
	out.Gauge = &m.dto
	return nil
}

// constCounter is constGauge's counter.
type constCounter struct {
	desc   *prometheus.Desc
	labels []*dto.LabelPair
	value  float64
	dto    dto.Counter
}

// Desc implements prometheus.Metric.
func (m *constCounter) Desc() *prometheus.Desc { return m.desc }

// Write implements prometheus.Metric.
func (m *constCounter) Write(out *dto.Metric) error {
	out.Label = m.labels
	out.Counter = &m.dto
	return nil
}
