package vrrp

import "time"

// SkewTime returns Skew_Time for a router of the given priority.
//
// Version 2 (RFC 3768 6.1): Skew_Time = (256 - Priority) / 256 seconds. The
// advertisement interval does not enter the formula. The result is exact in
// nanoseconds because 1e9 is a multiple of 256. keepalived truncates the
// same value to whole microseconds (1/256 s = 3906.25 µs becomes 3906 µs);
// the two never differ by a microsecond, and adjacent priorities are
// 3.9 ms apart either way.
//
// Version 3 (RFC 5798 6.1): Skew_Time = ((256 - Priority) *
// Master_Adver_Interval) / 256, computed in microseconds and truncated to a
// whole microsecond. Master_Adver_Interval itself is a whole number of
// centiseconds, as the Max Adver Int on the wire (RFC 5798 5.2.7); one that
// is not is truncated first.
//
// This deliberately deviates from RFC 5798, which counts Skew_Time and
// Master_Down_Interval in centiseconds with integer division. At short
// intervals that division erases the priority from the timer: at 10 ms,
// ((256 - Priority) * 1cs) / 256 is 0 for every priority, and at 20 or
// 30 ms it takes only two or three values, so several Backups would declare
// the Master down at the same instant (after a priority 0 advert, or
// Master_Down_Interval after its last advert) and all become Master until
// the next adverts sort them out: several Masters, extra gratuitous ARPs.
// In microseconds, priorities one apart are (Master_Adver_Interval / 256)
// apart, 39 µs at 10 ms, and a higher priority always has the shorter
// timer. This is also keepalived's arithmetic (its VRRP_TIMER_SKEW, in
// microseconds from the centisecond interval), so vigil and keepalived
// Backups in one virtual router now order by priority too; with vigil
// truncating to centiseconds, a vigil Backup could take over before a
// higher priority keepalived one. The result is never later than the
// RFC's unrounded value and less than 1 µs earlier.
//
// Any version other than 3 uses the version 2 formula.
func SkewTime(version int, priority uint8, masterAdverInterval time.Duration) time.Duration {
	if version == 3 {
		// (256 - Priority) * MAI[cs] * 10000 µs/cs / 256, integer division
		// in microseconds; at most 255 * 4095 * 10000, far from overflow.
		us := (256 - int64(priority)) * centiseconds(masterAdverInterval) * int64(centisecond/time.Microsecond) / 256
		return time.Duration(us) * time.Microsecond
	}
	return time.Duration(256-int64(priority)) * time.Second / 256
}

// MasterDownInterval returns Master_Down_Interval = 3 * Master_Adver_Interval
// + Skew_Time (RFC 3768 6.1, RFC 5798 6.1): the time a Backup waits without
// hearing an advertisement before it declares the Master down. For version 3
// Master_Adver_Interval is taken in whole centiseconds and Skew_Time in
// microseconds, like SkewTime.
func MasterDownInterval(version int, priority uint8, masterAdverInterval time.Duration) time.Duration {
	if version == 3 {
		mai := time.Duration(centiseconds(masterAdverInterval)) * centisecond
		return 3*mai + SkewTime(version, priority, masterAdverInterval)
	}
	return 3*masterAdverInterval + SkewTime(version, priority, masterAdverInterval)
}

// centisecond is the unit of the VRRPv3 Max Adver Int (RFC 5798 5.2.7).
const centisecond = 10 * time.Millisecond

// centiseconds returns d in whole centiseconds, truncated, as it would be
// sent on the wire.
func centiseconds(d time.Duration) int64 { return int64(d / centisecond) }

// nextAdvertAt returns the Adver_Timer deadline that follows deadline when
// the timer fires at now: one interval after deadline, not after now, so
// that a driver firing late (timer slack, scheduling) keeps the adverts on
// their grid and the mean period at interval instead of interval plus the
// mean lateness. When that time has already come, because the process was
// stalled for an interval or more, it returns now + interval: the adverts
// missed during the stall are skipped rather than sent in a burst.
func nextAdvertAt(deadline, now time.Time, interval time.Duration) time.Time {
	next := deadline.Add(interval)
	if !next.After(now) {
		return now.Add(interval)
	}
	return next
}

// lowerPrioQuiet returns how long a Master must have heard no lower
// priority advert for the next one to start a new split brain episode, and
// so a new AnnounceLowerPrio (keepalived's garp_lower_prio_*, which
// announces on every such advert). advertInterval is the Master's own,
// peerInterval the one the lower priority advert carries.
//
// A lower priority router that stays Master advertises every peerInterval,
// so its adverts are at most two intervals apart unless two in a row are
// lost. One that stepped down must stay silent for at least its
// Master_Down_Interval, three of the Master's intervals (which it learnt
// as Backup, RFC 5798 6.4.2) and a Skew_Time, before it can become Master
// again and announce the addresses itself. Two and a half intervals tell
// the two apart. Of two different intervals (VRRPv3 allows them) the longer
// one counts, so that a Master that stays is never taken for a new one.
func lowerPrioQuiet(advertInterval, peerInterval time.Duration) time.Duration {
	return max(advertInterval, peerInterval) * 5 / 2
}
