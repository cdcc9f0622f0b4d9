package collector

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// latenessBuckets span a timer waking a little late (sub-millisecond) to
// a run held up by an earlier one that overran (seconds). A run that falls
// a whole interval behind is skipped instead (vigil_check_skipped_runs_total).
var latenessBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// CheckLateness is the histogram vigil_check_scheduling_lateness_seconds:
// how late health-check runs start against their schedule, by check type.
// It is fed directly rather than from a snapshot, because every run is an
// observation: pass its Observe method as check.Scheduler.LatenessObserver
// and register it next to NewLB's collector. Create it with
// NewCheckLateness; it is safe for concurrent use.
type CheckLateness struct {
	hist *prometheus.HistogramVec
}

// NewCheckLateness returns an empty lateness histogram.
func NewCheckLateness() *CheckLateness {
	return &CheckLateness{hist: prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace,
		Subsystem: "check",
		Name:      "scheduling_lateness_seconds",
		Help:      "How late health-check runs started against their schedule (slot plus jitter), by check type; growing lateness means an overloaded director or runs overrunning their interval.",
		Buckets:   latenessBuckets,
	}, []string{checkLabel})}
}

// Observe records that a run of a check of type checkType (check.Snapshot.Type)
// started d late. Negative d counts as 0. It has the signature of
// check.Scheduler.LatenessObserver.
func (l *CheckLateness) Observe(checkType string, d time.Duration) {
	l.hist.WithLabelValues(checkType).Observe(max(d, 0).Seconds())
}

// Describe implements prometheus.Collector.
func (l *CheckLateness) Describe(ch chan<- *prometheus.Desc) { l.hist.Describe(ch) }

// Collect implements prometheus.Collector.
func (l *CheckLateness) Collect(ch chan<- prometheus.Metric) { l.hist.Collect(ch) }
