package ipvsbench_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vigil-lb/vigil/check"
	"github.com/vigil-lb/vigil/collector"
)

// BenchmarkScrapeLB1000x10 measures one /metrics scrape of the
// load-balancing collector (collector.NewLB) for 1,000 virtual servers of
// 10 real servers with one check each:
//
//   - gather: prometheus.Registry.Gather over a ready snapshot, the
//     collector's own cost.
//   - gather-with-check-snapshot: the same, with the snapshot function
//     also copying the state of 10,000 checks from a check.Scheduler, as
//     daemon/lb.go's snapshot does on every scrape.
//   - http-text, http-gzip: the whole promhttp handler, text exposition,
//     without and with gzip (Prometheus asks for gzip).
func BenchmarkScrapeLB1000x10(b *testing.B) {
	snap := collector.SyntheticLB(1000, 10)
	static := prometheus.NewRegistry()
	static.MustRegister(collector.NewLB(func() collector.LBSnapshot { return snap }))

	b.Run("gather", func(b *testing.B) {
		benchGather(b, static)
	})

	b.Run("gather-with-check-snapshot", func(b *testing.B) {
		var sched check.Scheduler
		checks := make([]check.Check, 0, len(snap.Checks))
		for _, c := range snap.Checks {
			checks = append(checks, check.Check{ID: c.ID, Target: c.Target, Prober: check.TCP{}, Interval: time.Second})
		}
		if err := sched.Set(checks); err != nil {
			b.Fatal(err)
		}
		reg := prometheus.NewRegistry()
		reg.MustRegister(collector.NewLB(func() collector.LBSnapshot {
			s := snap
			s.Checks = sched.Snapshot()
			return s
		}))
		benchGather(b, reg)
	})

	for _, enc := range []string{"", "gzip"} {
		name := "http-text"
		if enc != "" {
			name = "http-" + enc
		}
		b.Run(name, func(b *testing.B) {
			h := promhttp.HandlerFor(static, promhttp.HandlerOpts{})
			req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
			req.Header.Set("Accept", "text/plain;version=0.0.4")
			if enc != "" {
				req.Header.Set("Accept-Encoding", enc)
			}
			var size int
			for b.Loop() {
				w := &countingWriter{header: http.Header{}}
				h.ServeHTTP(w, req)
				if w.code != 0 && w.code != http.StatusOK {
					b.Fatalf("status %d", w.code)
				}
				size = w.n
			}
			b.ReportMetric(float64(size), "body-bytes")
		})
	}
}

func benchGather(b *testing.B, g prometheus.Gatherer) {
	var series int
	for b.Loop() {
		mfs, err := g.Gather()
		if err != nil {
			b.Fatal(err)
		}
		series = 0
		for _, mf := range mfs {
			series += len(mf.GetMetric())
		}
	}
	b.ReportMetric(float64(series), "series")
}

// countingWriter is an http.ResponseWriter that only counts the body.
type countingWriter struct {
	header http.Header
	code   int
	n      int
}

func (w *countingWriter) Header() http.Header  { return w.header }
func (w *countingWriter) WriteHeader(code int) { w.code = code }
func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += len(p)
	return len(p), nil
}

var _ io.Writer = (*countingWriter)(nil)
