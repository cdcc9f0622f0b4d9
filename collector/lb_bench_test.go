package collector

import (
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vigil-lb/vigil/check"
	"github.com/vigil-lb/vigil/ipvs"
)

// benchLBSnapshot is a node with vss virtual servers of rss real servers
// each, shaped like bench/ipvs's table (tcp 10.1.x.y:80, wlc, real servers
// 10.(100+j).x.y:80 of weights 1..rss): every virtual server and real
// server in the kernel and up with one TCP check and non-zero counters, so
// that every per-object series is exposed.
func benchLBSnapshot(vss, rss int) LBSnapshot {
	last := time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)
	snap := LBSnapshot{
		IPVSUp: true,
		Reconcile: ReconcileStats{Runs: 100, Changes: map[string]uint64{"service_create": uint64(vss)},
			LastDuration: time.Second, LastSuccess: last},
	}
	for i := range vss {
		hi, lo := byte(i>>8), byte(i)
		name := fmt.Sprintf("vs-%04d", i)
		key := ipvs.AddrKey(ipvs.TCP, netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, hi, lo}), 80))
		vs := VirtualServerState{
			Name: name, Key: key, Scheduler: "wlc", InKernel: true,
			Status: ipvs.VSStatus{Name: name, Key: key, QuorumUp: true, RealServers: rss, RealServersUp: rss},
			Stats:  ipvs.Stats{Connections: 1e6 + uint64(i), PacketsIn: 1e8, PacketsOut: 9e7, BytesIn: 1e10, BytesOut: 9e10},
		}
		for j := range rss {
			addr := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(100 + j), hi, lo}), 80)
			id := fmt.Sprintf("%s/%s/0-tcp", name, addr)
			vs.Status.AliveWeight += j + 1
			vs.RealServers = append(vs.RealServers, RealServerState{
				Address: addr.String(), ConfiguredWeight: j + 1, InKernel: true, KernelWeight: j + 1, Up: true,
				Stats: ipvs.DestinationStats{
					Stats:             ipvs.Stats{Connections: 1e5 + uint64(j), PacketsIn: 1e7, PacketsOut: 9e6, BytesIn: 1e9, BytesOut: 9e9},
					ActiveConnections: 10, InactiveConnections: 20,
				},
				CheckIDs: []string{id},
			})
			snap.Checks = append(snap.Checks, check.Snapshot{
				ID: id, Type: "tcp", Target: addr, Up: true,
				ConsecutiveSuccesses: 100, LastDuration: 300 * time.Microsecond,
				LastResult: check.ResultSuccess, LastCheck: last,
				Results: map[string]uint64{check.ResultSuccess: 3600, check.ResultFailure: 2, check.ResultTimeout: 1},
			})
		}
		snap.VirtualServers = append(snap.VirtualServers, vs)
	}
	return snap
}

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
	snap := benchLBSnapshot(vss, rss)
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
