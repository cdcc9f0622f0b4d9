package collector

import (
	"maps"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

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
//     rebuilds its label sets each time; layout: that rebuild alone.
//
// The whole /metrics handler (text and gzip) is bench/ipvs's
// BenchmarkScrapeLB1000x10, whose numbers docs/benchmarks.md reports.
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
