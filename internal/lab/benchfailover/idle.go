package main

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/vigil-lb/vigil/internal/lab"
)

// idleVIPNet holds the virtual addresses of the idle benchmark, one /32
// per instance, outside the lab's subnet so that they never collide with
// its hosts or its reserved VIPs.
var idleVIPNet = netip.MustParsePrefix("10.98.0.0/24")

// idleSettle is how long the idle benchmark waits after steady state before
// it measures: both implementations send a second burst of gratuitous ARPs
// garp_master_delay (default 5 s in both) after becoming master, and that
// start-up work is not idle cost.
const idleSettle = 6 * time.Second

// idleResult is the idle cost of one implementation running n virtual
// routers.
type idleResult struct {
	Impl      string
	Instances int
	Proto     proto
	Window    time.Duration

	// CPU is in percent of one core over Window; RSS in bytes at the end.
	MasterCPU, BackupCPU     float64
	MasterRSS, BackupRSS     uint64
	MasterProcs, BackupProcs int
	// AdvertRate is director1's adverts per second seen at the client
	// during the window, for comparison with Instances / interval.
	AdvertRate float64
	// MeanInterval is the mean time between two adverts of one virtual
	// router from director1, averaged over the routers; LongGaps counts
	// intervals over 1.5 times the advert interval (a late or missing
	// advert); Drops counts packets the capture lost.
	MeanInterval time.Duration
	LongGaps     int
	Drops        uint64
	// Busy is the share of all CPUs busy during the window.
	Busy float64

	Err string
}

// idleSpecs returns the directors' specs for n instances.
func idleSpecs(n int, p proto) (daemonSpec, daemonSpec, []netip.Prefix) {
	var ins []vrInstance
	var vips []netip.Prefix
	base := idleVIPNet.Addr().As4()
	for i := 1; i <= n; i++ {
		a := base
		a[3] = byte(i)
		vip := netip.PrefixFrom(netip.AddrFrom4(a), 32)
		ins = append(ins, vrInstance{Name: fmt.Sprintf("VI_%d", i), VRID: uint8(i), VIP: vip})
		vips = append(vips, vip)
	}
	return daemonSpec{Proto: p, Priority: masterPrio, Master: true, Instances: ins},
		daemonSpec{Proto: p, Priority: backupPrio, Instances: ins}, vips
}

// runIdle measures the CPU time and memory of impl with n instances on the
// master and the backup, over window, once both are in steady state.
func (b *bench) runIdle(ctx context.Context, impl implementation, n int, p proto, window time.Duration, hz uint64) idleResult {
	res := idleResult{Impl: impl.Name(), Instances: n, Proto: p, Window: window}
	spec1, spec2, vips := idleSpecs(n, p)
	b.reset(vips)
	b.cap.forget(time.Now())

	sc := newScope(b.tb)
	defer sc.close()
	d1 := impl.Start(sc, b.d1, spec1)
	d2 := impl.Start(sc, b.d2, spec2)
	defer b.reset(vips, d1.Proc, d2.Proc)

	holdsAll := func(h *lab.Host, want bool) bool {
		have := map[netip.Addr]bool{}
		for _, a := range h.Addrs() {
			have[a.Addr()] = true
		}
		for _, v := range vips {
			if have[v.Addr()] != want {
				return false
			}
		}
		return true
	}
	limit := 2*masterDownInterval(p.Version, masterPrio, p.Interval) + 20*time.Second
	if err := waitUntil(ctx, limit, 100*time.Millisecond, func() bool {
		return d1.allIn(spec1, "master") && d2.allIn(spec2, "backup") && holdsAll(b.d1, true) && holdsAll(b.d2, false)
	}); err != nil {
		res.Err = fmt.Sprintf("no steady state (director1 master of all %d, director2 backup of all) after %v: %v", n, limit, err)
		return res
	}
	select {
	case <-ctx.Done():
		res.Err = ctx.Err().Error()
		return res
	case <-time.After(idleSettle):
	}

	if waited, busy, err := waitQuiet(ctx, b.log); err != nil {
		res.Err = err.Error()
		return res
	} else if waited > quietMaxWait {
		res.Err = fmt.Sprintf("machine still %.0f %% busy after waiting %v for quiet", busy*100, waited.Round(time.Second))
		return res
	}
	if _, err := b.cap.takeDrops(); err != nil {
		res.Err = err.Error()
		return res
	}
	c0, err := readCPUTimes()
	if err != nil {
		res.Err = err.Error()
		return res
	}
	m0, err1 := readGroupUsage(d1.Proc.Pid())
	b0, err2 := readGroupUsage(d2.Proc.Pid())
	t0 := time.Now()
	if err := firstErr(err1, err2); err != nil {
		res.Err = err.Error()
		return res
	}
	select {
	case <-ctx.Done():
		res.Err = ctx.Err().Error()
		return res
	case <-time.After(window):
	}
	m1, err1 := readGroupUsage(d1.Proc.Pid())
	b1, err2 := readGroupUsage(d2.Proc.Pid())
	t1 := time.Now()
	if c1, err := readCPUTimes(); err == nil {
		res.Busy = busyFraction(c0, c1)
	}
	if err := firstErr(err1, err2); err != nil {
		res.Err = err.Error()
		return res
	}
	elapsed := t1.Sub(t0).Seconds()
	pct := func(from, to groupUsage) float64 {
		return float64(to.Ticks-from.Ticks) / float64(hz) / elapsed * 100
	}
	res.MasterCPU, res.BackupCPU = pct(m0, m1), pct(b0, b1)
	res.MasterRSS, res.BackupRSS = m1.RSSBytes, b1.RSSBytes
	res.MasterProcs, res.BackupProcs = len(m1.Pids), len(b1.Pids)

	if res.Drops, err = b.cap.takeDrops(); err != nil {
		res.Err = err.Error()
		return res
	}
	adverts, _ := b.cap.snapshot()
	var seen []advert
	for _, a := range adverts {
		if a.Src == b.d1.Addr4() && a.At.After(t0) && a.At.Before(t1) {
			seen = append(seen, a)
		}
	}
	res.AdvertRate = float64(len(seen)) / elapsed
	res.MeanInterval, res.LongGaps = advertIntervals(seen, p.Interval)

	// The measurement counts only if nothing changed state meanwhile.
	if !d1.allIn(spec1, "master") || !d2.allIn(spec2, "backup") {
		res.Err = "a director left steady state during the measurement"
	}
	return res
}

// advertIntervals returns the mean interval between consecutive adverts of
// the same VRID, averaged over VRIDs with at least two adverts, and the
// number of intervals longer than 1.5 times want.
func advertIntervals(adverts []advert, want time.Duration) (time.Duration, int) {
	byVRID := map[uint8][]time.Time{}
	for _, a := range adverts {
		byVRID[a.VRID] = append(byVRID[a.VRID], a.At)
	}
	var sum time.Duration
	n, long := 0, 0
	for _, ts := range byVRID {
		if len(ts) < 2 {
			continue
		}
		sum += ts[len(ts)-1].Sub(ts[0]) / time.Duration(len(ts)-1)
		n++
		for i := 1; i < len(ts); i++ {
			if ts[i].Sub(ts[i-1]) > want*3/2 {
				long++
			}
		}
	}
	if n == 0 {
		return 0, long
	}
	return sum / time.Duration(n), long
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
