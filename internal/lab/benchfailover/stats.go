package main

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// summary is the median, minimum and maximum of a set of durations.
type summary struct {
	N                int
	Median, Min, Max time.Duration
}

// summarize returns the summary of ds; N is 0 for an empty set. The median
// of an even count is the mean of the two middle values.
func summarize(ds []time.Duration) summary {
	if len(ds) == 0 {
		return summary{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	n := len(s)
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return summary{N: n, Median: med, Min: s[0], Max: s[n-1]}
}

// countSummary is the median, minimum and maximum of a set of counts.
type countSummary struct {
	N        int
	Median   float64
	Min, Max int
}

// summarizeInts summarizes counts; the median of an even count is the mean
// of the two middle values.
func summarizeInts(xs []int) countSummary {
	if len(xs) == 0 {
		return countSummary{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	med := float64(s[n/2])
	if n%2 == 0 {
		med = float64(s[n/2-1]+s[n/2]) / 2
	}
	return countSummary{N: n, Median: med, Min: s[0], Max: s[n-1]}
}

// ms formats d in milliseconds: one decimal below 100 ms, none above.
func ms(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	out := fmt.Sprintf("%.0f", v)
	if v > -100 && v < 100 {
		out = fmt.Sprintf("%.1f", v)
	}
	if strings.Trim(out, "-0.") == "" {
		return strings.TrimPrefix(out, "-") // no "-0.0"
	}
	return out
}

// cell formats a summary of durations as "median (min–max)" in
// milliseconds, the median alone for one value, and "–" for none.
func (s summary) cell() string {
	switch s.N {
	case 0:
		return "–"
	case 1:
		return ms(s.Median)
	}
	return fmt.Sprintf("%s (%s–%s)", ms(s.Median), ms(s.Min), ms(s.Max))
}

// cell formats a count summary as "median (min–max)", the value alone for
// one count, and "–" for none.
func (s countSummary) cell() string {
	switch s.N {
	case 0:
		return "–"
	case 1:
		return fmt.Sprint(s.Min)
	}
	return fmt.Sprintf("%g (%d–%d)", s.Median, s.Min, s.Max)
}

// skewTime is Skew_Time for a router of priority prio, without rounding:
// (256 - prio) / 256 s for VRRPv2 (RFC 3768 6.1) and
// (256 - prio) * interval / 256 for VRRPv3 (RFC 5798 6.1). RFC 5798 counts
// in centiseconds, and an implementation that truncates to whole
// centiseconds is up to 10 ms earlier; vigil and keepalived truncate to
// whole microseconds (vrrp.SkewTime), less than 1 µs earlier. The
// benchmark reports the exact fraction, the latest of them.
func skewTime(version int, prio uint8, interval time.Duration) time.Duration {
	if version == 2 {
		return time.Duration(256-int64(prio)) * time.Second / 256
	}
	return time.Duration(256-int64(prio)) * interval / 256
}

// masterDownInterval is Master_Down_Interval = 3 * Master_Adver_Interval +
// Skew_Time (RFC 3768 6.1, RFC 5798 6.1), with skewTime's exact fraction.
func masterDownInterval(version int, prio uint8, interval time.Duration) time.Duration {
	return 3*interval + skewTime(version, prio, interval)
}

// longestGapOverlapping returns the longest interval without echo replies
// that overlaps [from, to]: between two consecutive reply arrivals, or from
// the last arrival to `to` when no reply followed. arrivals need not be
// sorted. With no arrival at all the whole window is one gap.
func longestGapOverlapping(arrivals []time.Time, from, to time.Time) (start, end time.Time) {
	a := slices.Clone(arrivals)
	slices.SortFunc(a, func(x, y time.Time) int { return x.Compare(y) })
	if len(a) == 0 {
		return from, to
	}
	var best time.Duration = -1
	consider := func(s, e time.Time) {
		if e.Before(from) || s.After(to) {
			return
		}
		if d := e.Sub(s); d > best {
			best, start, end = d, s, e
		}
	}
	if a[0].After(from) {
		consider(from, a[0])
	}
	for i := 1; i < len(a); i++ {
		consider(a[i-1], a[i])
	}
	if a[len(a)-1].Before(to) {
		consider(a[len(a)-1], to)
	}
	return start, end
}
