package ipvsbench_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	ipvsbench "github.com/vigil-lb/vigil/bench/ipvs"
	"github.com/vigil-lb/vigil/check"
	"github.com/vigil-lb/vigil/collector"
	"github.com/vigil-lb/vigil/ipvs"
)

// lbSnapshot is a node with table's virtual servers all in the kernel,
// every real server up with one TCP check and non-zero counters, so that
// every per-object series is exposed.
func lbSnapshot(table []ipvs.Service) collector.LBSnapshot {
	last := time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)
	snap := collector.LBSnapshot{
		IPVSUp: true,
		Reconcile: collector.ReconcileStats{Runs: 100, Changes: map[string]uint64{"service_create": uint64(len(table))},
			LastDuration: time.Second, LastSuccess: last},
	}
	for i, s := range table {
		name := fmt.Sprintf("vs-%04d", i)
		vs := collector.VirtualServerState{
			Name: name, Key: s.Key, Scheduler: s.Scheduler, InKernel: true,
			Status: ipvs.VSStatus{Name: name, Key: s.Key, QuorumUp: true,
				RealServers: len(s.Destinations), RealServersUp: len(s.Destinations)},
			Stats: ipvs.Stats{Connections: 1e6 + uint64(i), PacketsIn: 1e8, PacketsOut: 9e7, BytesIn: 1e10, BytesOut: 9e10},
		}
		for j, d := range s.Destinations {
			id := fmt.Sprintf("%s/%s/0-tcp", name, d.Address)
			vs.Status.AliveWeight += d.Weight
			vs.RealServers = append(vs.RealServers, collector.RealServerState{
				Address: d.Address.String(), ConfiguredWeight: d.Weight, InKernel: true, KernelWeight: d.Weight, Up: true,
				Stats: ipvs.DestinationStats{
					Stats:             ipvs.Stats{Connections: 1e5 + uint64(j), PacketsIn: 1e7, PacketsOut: 9e6, BytesIn: 1e9, BytesOut: 9e9},
					ActiveConnections: 10, InactiveConnections: 20,
				},
				CheckIDs: []string{id},
			})
			snap.Checks = append(snap.Checks, check.Snapshot{
				ID: id, Type: "tcp", Target: d.Address, Up: true,
				ConsecutiveSuccesses: 100, LastDuration: 300 * time.Microsecond,
				LastResult: check.ResultSuccess, LastCheck: last,
				Results: map[string]uint64{check.ResultSuccess: 3600, check.ResultFailure: 2, check.ResultTimeout: 1},
			})
		}
		snap.VirtualServers = append(snap.VirtualServers, vs)
	}
	return snap
}

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
	table := ipvsbench.Table(1000, 10)
	snap := lbSnapshot(table)
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
