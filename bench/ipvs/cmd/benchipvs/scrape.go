package main

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
)

// ScrapeResult is one sub-benchmark of BenchmarkScrapeLB1000x10 over
// -count runs: every unit ("ns/op", "allocs/op", "series", ...) with its
// values.
type ScrapeResult struct {
	Name   string
	Values map[string][]float64
}

// Median returns the median of unit's values, and whether there are any.
func (s ScrapeResult) Median(unit string) (float64, bool) {
	v := slices.Clone(s.Values[unit])
	if len(v) == 0 {
		return 0, false
	}
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2], true
	}
	return (v[n/2-1] + v[n/2]) / 2, true
}

// Range returns the smallest and largest of unit's values.
func (s ScrapeResult) Range(unit string) (lo, hi float64) {
	v := s.Values[unit]
	if len(v) == 0 {
		return 0, 0
	}
	return slices.Min(v), slices.Max(v)
}

func runScrape(ctx context.Context, r *Report, root string, logger *slog.Logger) error {
	args := []string{"test", "-run", "^$", "-bench", "^BenchmarkScrapeLB1000x10$", "-benchmem",
		"-count", strconv.Itoa(r.Opts.ScrapeCount), "./bench/ipvs/"}
	r.Commands = append(r.Commands, commandLine(nil, append([]string{"go"}, args...)))
	out, err := runLogged(goCmd(ctx, root, nil, args...))
	if err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	r.Scrape = parseBench(string(out))
	if len(r.Scrape) == 0 {
		return fmt.Errorf("no benchmark results in:\n%s", out)
	}
	for _, s := range r.Scrape {
		ns, _ := s.Median("ns/op")
		al, _ := s.Median("allocs/op")
		logger.Info("scrape", "case", s.Name, "ms_op", fmt.Sprintf("%.1f", ns/1e6), "allocs_op", al)
	}
	return nil
}

// parseBench reads `go test -bench` output: "BenchmarkX/sub-2  N  v unit
// v unit ...", grouped by name without the GOMAXPROCS suffix, in order of
// appearance.
func parseBench(out string) []ScrapeResult {
	var res []ScrapeResult
	idx := map[string]int{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := f[0]
		if i := strings.LastIndex(name, "-"); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i]
			}
		}
		if _, ok := idx[name]; !ok {
			idx[name] = len(res)
			res = append(res, ScrapeResult{Name: name, Values: map[string][]float64{}})
		}
		s := &res[idx[name]]
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			s.Values[f[i+1]] = append(s.Values[f[i+1]], v)
		}
	}
	return res
}
