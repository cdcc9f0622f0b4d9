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

	// RFC 5798 6.1 with Skew_Time in microseconds (vigil's deviation from
	// the RFC's centiseconds, as keepalived): Skew_Time =
	// ((256-Priority)*MAI[cs]*10000)/256 µs truncated, MDI = 3*MAI +
	// Skew_Time, MAI in whole centiseconds.
	{3, 100, time.Second, 609375 * time.Microsecond, 3609375 * time.Microsecond},                // 156*100*10000/256 = 609375 (RFC centiseconds: 60cs)
	{3, 100, 100 * time.Millisecond, 60937 * time.Microsecond, 360937 * time.Microsecond},       // 156*10*10000/256 = 60937.5 (RFC: 6cs)
	{3, 255, time.Second, 3906 * time.Microsecond, 3003906 * time.Microsecond},                  // 1*100*10000/256 = 3906.25 (RFC: 0cs)
	{3, 254, time.Second, 7812 * time.Microsecond, 3007812 * time.Microsecond},                  // 2*100*10000/256 = 7812.5 (RFC: 0cs)
	{3, 1, time.Second, 996093 * time.Microsecond, 3996093 * time.Microsecond},                  // 255*100*10000/256 = 996093.75 (RFC: 99cs)
	{3, 150, 250 * time.Millisecond, 103515 * time.Microsecond, 853515 * time.Microsecond},      // 106*25*10000/256 = 103515.625 (RFC: 10cs)
	{3, 200, 30 * time.Millisecond, 6562 * time.Microsecond, 96562 * time.Microsecond},          // 56*3*10000/256 = 6562.5 (RFC: 0cs)
	{3, 100, 30 * time.Millisecond, 18281 * time.Microsecond, 108281 * time.Microsecond},        // 156*3*10000/256 = 18281.25 (RFC: 1cs)
	{3, 100, 20 * time.Millisecond, 12187 * time.Microsecond, 72187 * time.Microsecond},         // 156*2*10000/256 = 12187.5 (RFC: 1cs)
	{3, 99, 20 * time.Millisecond, 12265 * time.Microsecond, 72265 * time.Microsecond},          // 157*2*10000/256 = 12265.625 (RFC: 1cs, as 100)
	{3, 128, 10 * time.Millisecond, 5000 * time.Microsecond, 35000 * time.Microsecond},          // 128*1*10000/256 = 5000 (RFC: 0cs)
	{3, 100, 10 * time.Millisecond, 6093 * time.Microsecond, 36093 * time.Microsecond},          // 156*10000/256 = 6093.75 (RFC: 0cs)
	{3, 90, 10 * time.Millisecond, 6484 * time.Microsecond, 36484 * time.Microsecond},           // 166*10000/256 = 6484.375 (RFC: 0cs)
	{3, 80, 10 * time.Millisecond, 6875 * time.Microsecond, 36875 * time.Microsecond},           // 176*10000/256 = 6875 (RFC: 0cs)
	{3, 255, 10 * time.Millisecond, 39 * time.Microsecond, 30039 * time.Microsecond},            // 1*10000/256 = 39.0625 (RFC: 0cs)
	{3, 254, 10 * time.Millisecond, 78 * time.Microsecond, 30078 * time.Microsecond},            // 2*10000/256 = 78.125 (RFC: 0cs)
	{3, 1, 40950 * time.Millisecond, 40790039 * time.Microsecond, 163640039 * time.Microsecond}, // max interval 4095cs: 255*4095*10000/256 = 40790039.0625
	{3, 254, 40950 * time.Millisecond, 319921 * time.Microsecond, 123169921 * time.Microsecond}, // 2*4095*10000/256 = 319921.875
	{3, 100, 1005 * time.Millisecond, 609375 * time.Microsecond, 3609375 * time.Microsecond},    // 100.5cs is truncated to 100cs first, as on the wire
	{3, 100, 19999 * time.Microsecond, 6093 * time.Microsecond, 36093 * time.Microsecond},       // 1.9999cs is 1cs
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
// higher priority Backup declares the Master down strictly earlier than a
// lower priority one (RFC 3768 6.1, RFC 5798 6.1), for every interval the
// wire can carry (v3: 1 to 4095 centiseconds) and every pair of adjacent
// priorities, after a priority 0 advert (Skew_Time) and after the Master's
// silence (Master_Down_Interval).
//
// It also checks that Skew_Time is the RFC's unrounded value truncated to
// whole microseconds for v3 and exact for v2: never later than the RFC
// bound, less than 1 µs earlier. Truncation to 1 µs keeps the order of two
// values whose unrounded difference is 1 µs or more (floor(x) < floor(y)
// when y - x >= 1); adjacent priorities differ by Master_Adver_Interval/256,
// at least 39.0625 µs at the 1cs minimum, so in v3 they are always strictly
// ordered. In RFC 5798's centiseconds they were not: at 1cs every priority
// had Skew_Time 0.
func TestTimingSkewOrdersBackups(t *testing.T) {
	intervals := []time.Duration{time.Second, 2 * time.Second, 3 * time.Second, 255 * time.Second} // v2: whole seconds
	for cs := 1; cs <= 4095; cs++ {
		intervals = append(intervals, time.Duration(cs)*10*time.Millisecond)
	}
	for _, version := range []int{2, 3} {
		for _, interval := range intervals {
			if version == 2 && interval%time.Second != 0 {
				continue
			}
			for p := 1; p <= 255; p++ {
				skew := SkewTime(version, uint8(p), interval)
				// Unrounded Skew_Time times 256, in nanoseconds.
				exact256 := (256 - int64(p)) * int64(interval)
				if version == 2 {
					exact256 = (256 - int64(p)) * int64(time.Second)
				}
				if int64(skew)*256 > exact256 || exact256-int64(skew)*256 >= 256*int64(time.Microsecond) ||
					(version == 3 && skew%time.Microsecond != 0) {
					t.Fatalf("v%d interval %v: SkewTime(prio %d) = %v, unrounded %vns/256", version, interval, p, skew, exact256)
				}
				if p == 255 {
					continue
				}
				if hi := SkewTime(version, uint8(p+1), interval); hi >= skew {
					t.Fatalf("v%d interval %v: SkewTime(prio %d) = %v, SkewTime(prio %d) = %v", version, interval, p+1, hi, p, skew)
				}
				hi := MasterDownInterval(version, uint8(p+1), interval)
				lo := MasterDownInterval(version, uint8(p), interval)
				if hi >= lo {
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
