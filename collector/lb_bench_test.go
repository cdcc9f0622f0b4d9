package collector

import (
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vigil-lb/vigil/check"
)

// BenchmarkLBCollect1000x10 measures the load-balancing collector for
// 1,000 virtual servers of 10 real servers with one check each (about
// 242,000 series):
//
//   - collect: Collect alone, its metrics drained from the channel;
//   - gather: prometheus.Registry.Gather, the collector plus the
//     registry's checks and sorting;
//   - gather-new-layout: the same when every scrape sees a snapshot of
//     another shape (here, virtual servers renamed), so that Collect
//     rebuilds its label sets each time; layout: that rebuild alone;
//   - http-text, http-gzip: the whole promhttp handler as daemon.go
//     configures it, text exposition, without and with gzip (Prometheus
//     asks for gzip).
//
// The snapshot function returns the same snapshot on every call except
// that, like daemon/lb.go's, it copies the checks every time.
func BenchmarkLBCollect1000x10(b *testing.B) {
	benchLBCollect(b, 1000, 10)
}

func benchLBCollect(b *testing.B, vss, rss int) {
	snap := SyntheticLB(vss, rss)
	snapshot := func() LBSnapshot {
		s := snap
		s.Checks = cloneChecks(snap.Checks)
		return s
	}
	reg := prometheus.NewRegistry()
	c := NewLB(snapshot)
	reg.MustRegister(c)

	b.Run("collect", func(b *testing.B) {
		var series int
		for b.Loop() {
			ch := make(chan prometheus.Metric, 1024)
			done := make(chan int)
			go func() {
				n := 0
				for range ch {
					n++
				}
				done <- n
			}()
			c.Collect(ch)
			close(ch)
			series = <-done
		}
		b.ReportMetric(float64(series), "series")
	})
	b.Run("gather", func(b *testing.B) {
		benchGather(b, reg)
	})
	b.Run("gather-new-layout", func(b *testing.B) {
		renamed := snap
		renamed.VirtualServers = slices.Clone(snap.VirtualServers)
		for i := range renamed.VirtualServers {
			renamed.VirtualServers[i].Name += "-renamed"
		}
		n := 0
		reg := prometheus.NewRegistry()
		reg.MustRegister(NewLB(func() LBSnapshot {
			n++
			s := snap
			if n%2 == 0 {
				s = renamed
			}
			s.Checks = cloneChecks(snap.Checks)
			return s
		}))
		benchGather(b, reg)
	})
	b.Run("layout", func(b *testing.B) {
		for b.Loop() {
			newLBLayout(&snap)
		}
	})
	for _, enc := range []string{"", "gzip"} {
		name := "http-text"
		if enc != "" {
			name = "http-" + enc
		}
		b.Run(name, func(b *testing.B) {
			h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
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
				if got := w.header.Get("Content-Encoding"); got != enc {
					b.Fatalf("Content-Encoding %q, want %q", got, enc)
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

// cloneChecks copies checks as check.Scheduler.Snapshot does: the maps
// and the weight are fresh, the strings shared.
func cloneChecks(checks []check.Snapshot) []check.Snapshot {
	out := make([]check.Snapshot, len(checks))
	for i, c := range checks {
		c.Results = maps.Clone(c.Results)
		c.Detail = maps.Clone(c.Detail)
		if c.Weight != nil {
			w := *c.Weight
			c.Weight = &w
		}
		out[i] = c
	}
	return out
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
