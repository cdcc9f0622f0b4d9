package vrrp

import "time"

// SkewTime returns Skew_Time for a router of the given priority.
//
// Version 2 (RFC 3768 6.1): Skew_Time = (256 - Priority) / 256 seconds. The
// advertisement interval does not enter the formula. The result is exact in
// nanoseconds because 1e9 is a multiple of 256.
//
// Version 3 (RFC 5798 6.1): Skew_Time = ((256 - Priority) *
// Master_Adver_Interval) / 256, where Master_Adver_Interval and the result
// are in centiseconds and the division is the RFC's integer division: the
// result is truncated to whole centiseconds (priority 100 with a 1s interval
// gives 60cs = 600ms, not 609.375ms). A Master_Adver_Interval that is not a
// whole number of centiseconds is truncated first, as it would be on the
// wire.
//
// Any version other than 3 uses the version 2 formula.
func SkewTime(version int, priority uint8, masterAdverInterval time.Duration) time.Duration {
	if version == 3 {
		const cs = 10 * time.Millisecond // RFC 5798 timer unit
		maiCS := int64(masterAdverInterval / cs)
		return time.Duration((256-int64(priority))*maiCS/256) * cs
	}
	return time.Duration(256-int64(priority)) * time.Second / 256
}

// MasterDownInterval returns Master_Down_Interval = 3 * Master_Adver_Interval
// + Skew_Time (RFC 3768 6.1, RFC 5798 6.1): the time a Backup waits without
// hearing an advertisement before it declares the Master down. For version 3
// the sum is taken in centiseconds, like SkewTime.
func MasterDownInterval(version int, priority uint8, masterAdverInterval time.Duration) time.Duration {
	if version == 3 {
		const cs = 10 * time.Millisecond // RFC 5798 timer unit
		mai := masterAdverInterval / cs * cs
		return 3*mai + SkewTime(version, priority, masterAdverInterval)
	}
	return 3*masterAdverInterval + SkewTime(version, priority, masterAdverInterval)
}

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
