package ipvsbench

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// Quantile returns the q-quantile (0 ≤ q ≤ 1) of ds by the nearest-rank
// method: the smallest sample with at least q of the samples at or below
// it. It returns 0 for no samples.
func Quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return quantileSorted(s, q)
}

func quantileSorted(s []time.Duration, q float64) time.Duration {
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// Median is the median of ds: the mean of the two middle samples for an
// even count.
func Median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Summary is the median, minimum and maximum of a set of samples.
type Summary struct {
	N                int
	Median, Min, Max time.Duration
}

// Summarize summarizes ds.
func Summarize(ds []time.Duration) Summary {
	if len(ds) == 0 {
		return Summary{}
	}
	return Summary{N: len(ds), Median: Median(ds), Min: slices.Min(ds), Max: slices.Max(ds)}
}

// String formats the summary as "median (min–max)" in milliseconds.
func (s Summary) String() string {
	if s.N == 0 {
		return "–"
	}
	if s.N == 1 {
		return FormatMS(s.Median)
	}
	return fmt.Sprintf("%s (%s–%s)", FormatMS(s.Median), FormatMS(s.Min), FormatMS(s.Max))
}

// FormatMS formats d in milliseconds with about three significant digits.
func FormatMS(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	switch {
	case ms >= 100:
		return fmt.Sprintf("%.0f", ms)
	case ms >= 10:
		return fmt.Sprintf("%.1f", ms)
	case ms >= 1:
		return fmt.Sprintf("%.2f", ms)
	default:
		return fmt.Sprintf("%.3f", ms)
	}
}
