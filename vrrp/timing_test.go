package vrrp

import (
	"testing"
	"time"
)

// Every expected value below is worked out by hand from the RFC formulas; the
// comment on each row shows the arithmetic.
var timingTests = []struct {
	version  int
	priority uint8
	interval time.Duration
	skew     time.Duration
	mdi      time.Duration
}{
	// RFC 3768 6.1: Skew_Time = (256-Priority)/256 s, independent of the
	// interval; Master_Down_Interval = 3*Advertisement_Interval + Skew_Time.
	{2, 100, time.Second, 609375 * time.Microsecond, 3609375 * time.Microsecond},       // 156/256 = 0.609375
	{2, 255, time.Second, 3906250 * time.Nanosecond, 3003906250 * time.Nanosecond},     // 1/256 = 0.00390625
	{2, 254, time.Second, 7812500 * time.Nanosecond, 3007812500 * time.Nanosecond},     // 2/256
	{2, 1, time.Second, 996093750 * time.Nanosecond, 3996093750 * time.Nanosecond},     // 255/256
	{2, 1, 2 * time.Second, 996093750 * time.Nanosecond, 6996093750 * time.Nanosecond}, // skew ignores the interval
	{2, 200, 5 * time.Second, 218750 * time.Microsecond, 15218750 * time.Microsecond},  // 56/256 = 0.21875
	{2, 150, time.Second, 414062500 * time.Nanosecond, 3414062500 * time.Nanosecond},   // 106/256 = 0.4140625
	{2, 0, time.Second, time.Second, 4 * time.Second},                                  // 256/256 (priority 0 is never configured)

	// RFC 5798 6.1 in centiseconds with integer division:
	// Skew_Time = ((256-Priority)*MAI)/256, MDI = 3*MAI + Skew_Time.
	{3, 100, time.Second, 600 * time.Millisecond, 3600 * time.Millisecond},                // 156*100/256 = 60.9375 -> 60cs
	{3, 100, 100 * time.Millisecond, 60 * time.Millisecond, 360 * time.Millisecond},       // 156*10/256 = 6.09 -> 6cs
	{3, 255, time.Second, 0, 3 * time.Second},                                             // 1*100/256 = 0.39 -> 0cs
	{3, 254, time.Second, 0, 3 * time.Second},                                             // 2*100/256 = 0.78 -> 0cs
	{3, 1, time.Second, 990 * time.Millisecond, 3990 * time.Millisecond},                  // 255*100/256 = 99.6 -> 99cs
	{3, 150, 250 * time.Millisecond, 100 * time.Millisecond, 850 * time.Millisecond},      // 106*25/256 = 10.35 -> 10cs
	{3, 200, 30 * time.Millisecond, 0, 90 * time.Millisecond},                             // 56*3/256 = 0.66 -> 0cs
	{3, 128, 10 * time.Millisecond, 0, 30 * time.Millisecond},                             // 128*1/256 = 0.5 -> 0cs
	{3, 1, 40950 * time.Millisecond, 40790 * time.Millisecond, 163640 * time.Millisecond}, // max interval 4095cs: 255*4095/256 = 4079.0 -> 4079cs
	{3, 254, 40950 * time.Millisecond, 310 * time.Millisecond, 123160 * time.Millisecond}, // 2*4095/256 = 31.99 -> 31cs
	{3, 100, 1005 * time.Millisecond, 600 * time.Millisecond, 3600 * time.Millisecond},    // 100.5cs is truncated to 100cs first
}

func TestSkewTime(t *testing.T) {
	for _, tt := range timingTests {
		if got := SkewTime(tt.version, tt.priority, tt.interval); got != tt.skew {
			t.Errorf("SkewTime(v%d, prio %d, %v) = %v, want %v", tt.version, tt.priority, tt.interval, got, tt.skew)
		}
	}
}

func TestMasterDownInterval(t *testing.T) {
	for _, tt := range timingTests {
		if got := MasterDownInterval(tt.version, tt.priority, tt.interval); got != tt.mdi {
			t.Errorf("MasterDownInterval(v%d, prio %d, %v) = %v, want %v", tt.version, tt.priority, tt.interval, got, tt.mdi)
		}
	}
}

// TestTimingSkewOrdersBackups checks the property Skew_Time exists for: a
// higher priority Backup always declares the Master down no later than a
// lower priority one (RFC 3768 6.1, RFC 5798 6.1), strictly earlier in v2.
func TestTimingSkewOrdersBackups(t *testing.T) {
	for _, version := range []int{2, 3} {
		for _, interval := range []time.Duration{10 * time.Millisecond, 100 * time.Millisecond, time.Second, 3 * time.Second} {
			for p := 1; p < 255; p++ {
				hi := MasterDownInterval(version, uint8(p+1), interval)
				lo := MasterDownInterval(version, uint8(p), interval)
				if hi > lo || (version == 2 && hi == lo) {
					t.Fatalf("v%d interval %v: MDI(prio %d) = %v, MDI(prio %d) = %v", version, interval, p+1, hi, p, lo)
				}
			}
		}
	}
}

func TestNextAdvertAt(t *testing.T) {
	const iv = 100 * time.Millisecond
	ms := func(n float64) time.Time { return smT0.Add(time.Duration(n * float64(time.Millisecond))) }
	tests := []struct {
		name          string
		deadline, now time.Time
		want          time.Time
	}{
		{"on time", ms(100), ms(100), ms(200)},
		{"3ms late stays on the grid", ms(100), ms(103), ms(200)},
		{"late by just under an interval", ms(100), ms(199.999), ms(200)},
		{"late by exactly an interval: not due at once", ms(100), ms(200), ms(300)},
		{"stalled 2.5 intervals: one interval from now", ms(100), ms(350), ms(450)},
		{"stalled 10s", ms(100), ms(10100.5), ms(10200.5)},
	}
	for _, tt := range tests {
		if got := nextAdvertAt(tt.deadline, tt.now, iv); !got.Equal(tt.want) {
			t.Errorf("%s: nextAdvertAt(%v, %v) = %v, want %v", tt.name,
				tt.deadline.Sub(smT0), tt.now.Sub(smT0), got.Sub(smT0), tt.want.Sub(smT0))
		}
	}
}

func TestLowerPrioQuiet(t *testing.T) {
	tests := []struct {
		own, peer, want time.Duration
	}{
		{time.Second, time.Second, 2500 * time.Millisecond},
		{100 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond},
		{10 * time.Millisecond, 10 * time.Millisecond, 25 * time.Millisecond},
		{100 * time.Millisecond, time.Second, 2500 * time.Millisecond}, // the longer counts
		{time.Second, 100 * time.Millisecond, 2500 * time.Millisecond},
		{40950 * time.Millisecond, 40950 * time.Millisecond, 102375 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := lowerPrioQuiet(tt.own, tt.peer); got != tt.want {
			t.Errorf("lowerPrioQuiet(%v, %v) = %v, want %v", tt.own, tt.peer, got, tt.want)
		}
		// Between a Master that stays and misses one advert (two of its
		// intervals) and one that yielded and came back (at least three
		// of ours, its Master_Down_Interval without Skew_Time).
		if got := lowerPrioQuiet(tt.own, tt.peer); got <= 2*tt.peer || (tt.peer <= tt.own && got >= 3*tt.own) {
			t.Errorf("lowerPrioQuiet(%v, %v) = %v: does not separate the two", tt.own, tt.peer, got)
		}
	}
}
