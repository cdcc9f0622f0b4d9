package daemon

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigil-lb/vigil/check"
	"github.com/vigil-lb/vigil/collector"
	"github.com/vigil-lb/vigil/ipvs"
)

// resyncInterval is how often the load balancer reads the whole IPVS
// table: the pass that does repairs changes made behind vigil's back and
// refreshes every kernel counter for metrics. Passes in between, started
// by health-check transitions, overrides and reloads, read only the
// services whose desired state changed (ipvs.Options.ResyncInterval).
const resyncInterval = 5 * time.Second

// lb owns the IPVS side: one goroutine (run) owns the reconciler, the
// configured virtual servers and the operator overrides; the check
// scheduler runs the health checks and pokes it on every status change.
type lb struct {
	logger *slog.Logger
	rec    *ipvs.Reconciler
	sched  *check.Scheduler

	poke chan struct{} // coalesced "reconcile now"
	cmds chan func()

	snap atomic.Pointer[collector.LBSnapshot]

	// Owned by run.
	cfg       *lbConfig
	overrides ipvs.Overrides
	prev      []ipvs.VSStatus
	stats     collector.ReconcileStats
	ipvsUp    bool
	// configured is set by the first apply: before it, a pass would see
	// no virtual servers and drain every owned service.
	configured bool
}

func newLB(kernel ipvs.Kernel, stateDir string, lateness func(string, time.Duration), base *slog.Logger) (*lb, error) {
	logger := base.With("component", "ipvs")
	rec, err := ipvs.NewReconciler(ipvs.Options{
		Kernel:         kernel,
		StateDir:       stateDir,
		DrainGrace:     30 * time.Second,
		ResyncInterval: resyncInterval,
		Logger:         logger,
	})
	if err != nil {
		return nil, err
	}
	l := &lb{
		logger:    logger,
		rec:       rec,
		poke:      make(chan struct{}, 1),
		cmds:      make(chan func()),
		cfg:       &lbConfig{},
		overrides: ipvs.Overrides{},
		stats:     collector.ReconcileStats{Changes: map[string]uint64{}},
	}
	l.sched = &check.Scheduler{
		Notify:           func(string, bool, check.Result) { l.trigger() },
		LatenessObserver: lateness,
		Logger:           base.With("component", "check"),
	}
	l.snap.Store(&collector.LBSnapshot{})
	return l, nil
}

func (l *lb) trigger() {
	select {
	case l.poke <- struct{}{}:
	default:
	}
}

// apply installs a new load-balancing configuration. It runs on the
// reconcile goroutine, so no pass ever sees the new checks with the old
// virtual servers or the reverse; the checks' validation is the only
// fallible step and on error nothing changes.
func (l *lb) apply(ctx context.Context, cfg *lbConfig, grace map[ipvs.ServiceKey]time.Duration) error {
	errc := make(chan error, 1)
	select {
	case l.cmds <- func() {
		if err := l.sched.Set(cfg.checks); err != nil {
			errc <- err
			return
		}
		l.cfg = cfg
		l.rec.SetDrainGrace(grace)
		l.configured = true
		errc <- nil
	}:
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := <-errc; err != nil {
		return err
	}
	l.trigger()
	return nil
}

// setOverrides replaces the operator overrides (drains, weights) and
// reconciles.
func (l *lb) setOverrides(ctx context.Context, ov ipvs.Overrides) error {
	done := make(chan struct{})
	select {
	case l.cmds <- func() { l.overrides = ov; close(done) }:
	case <-ctx.Done():
		return ctx.Err()
	}
	<-done
	l.trigger()
	return nil
}

// hasVirtualServer reports whether vs is configured.
func (l *lb) hasVirtualServer(vs string) bool {
	ok := false
	done := make(chan struct{})
	l.cmds <- func() {
		for _, v := range l.cfg.virtualServers {
			ok = ok || v.Name == vs
		}
		close(done)
	}
	<-done
	return ok
}

// run reconciles until ctx ends. The IPVS table is left as it is on exit:
// a restart adopts it without changes.
func (l *lb) run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); l.sched.Run(ctx) }()
	defer wg.Wait()

	timer := time.NewTimer(resyncInterval)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case f := <-l.cmds:
			f()
			continue
		case <-l.poke:
		case <-timer.C:
		}
		if !l.configured {
			timer.Reset(resyncInterval)
			continue
		}
		l.reconcile(ctx)
		// Reconcile again by the next full read (passes started by
		// changes in between do not postpone it) or drain deadline.
		next := resyncInterval
		if t, ok := l.rec.NextResync(); ok {
			next = min(next, max(time.Until(t), 10*time.Millisecond))
		}
		if d, ok := l.rec.NextDeadline(); ok {
			next = min(next, max(time.Until(d), 10*time.Millisecond))
		}
		timer.Reset(next)
	}
}

// health reports a real server up when all its checks are up (no checks:
// up), with the dynamic weight of the first check that reports one.
func (l *lb) health(checks map[string]check.Snapshot) ipvs.HealthFunc {
	return func(vs, rs string) (bool, *int) {
		var weight *int
		for _, id := range l.cfg.checkIDs[ipvs.RealServerRef{VirtualServer: vs, RealServer: rs}] {
			c, ok := checks[id]
			if !ok || !c.Up {
				return false, nil
			}
			if weight == nil && c.Weight != nil {
				weight = c.Weight
			}
		}
		return true, weight
	}
}

func (l *lb) reconcile(ctx context.Context) {
	checks := map[string]check.Snapshot{}
	snaps := l.sched.Snapshot()
	for _, c := range snaps {
		checks[c.ID] = c
	}
	desired, status := ipvs.Desired(l.cfg.virtualServers, l.health(checks), l.overrides, l.prev)
	l.prev = status

	start := time.Now()
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	res, err := l.rec.Reconcile(cctx, desired)
	cancel()
	l.stats.Runs++
	l.stats.LastDuration = time.Since(start)
	for k, n := range res.ByKind() {
		l.stats.Changes[k] += uint64(n)
	}
	l.stats.DriftRepaired += uint64(res.DriftRepaired)
	switch {
	case errors.Is(err, ipvs.ErrUnavailable):
		l.ipvsUp = false // the reconciler logs this once
	case err != nil:
		l.ipvsUp = true
		l.stats.Errors++
		l.logger.Error("reconciling the IPVS table", "err", err)
	default:
		l.ipvsUp = true
		l.stats.LastSuccess = time.Now()
	}
	l.publish(status, snaps)
}

// publish builds the metrics snapshot: configuration joined with the
// kernel table as the pass left it (ipvs.Reconciler.Observed), so that
// metrics cost no second read of the table.
func (l *lb) publish(status []ipvs.VSStatus, checks []check.Snapshot) {
	s := &collector.LBSnapshot{IPVSUp: l.ipvsUp, Checks: checks, Reconcile: l.stats}
	s.Reconcile.Changes = map[string]uint64{}
	for k, v := range l.stats.Changes {
		s.Reconcile.Changes[k] = v
	}
	checkUp := map[string]bool{}
	for _, c := range checks {
		checkUp[c.ID] = c.Up
	}
	for i, vs := range l.cfg.virtualServers {
		var ks ipvs.Service
		present := false
		if l.ipvsUp {
			ks, present = l.rec.Observed(vs.Key)
		}
		st := collector.VirtualServerState{Name: vs.Name, Key: vs.Key, Scheduler: vs.Scheduler, InKernel: present, Stats: ks.Stats}
		if i < len(status) {
			st.Status = status[i]
		}
		dests := map[string]ipvs.Destination{}
		for _, d := range ks.Destinations {
			dests[d.Address.String()] = d
		}
		for _, rs := range vs.RealServers {
			ref := ipvs.RealServerRef{VirtualServer: vs.Name, RealServer: rs.ID()}
			r := collector.RealServerState{Address: rs.ID(), ConfiguredWeight: rs.Weight, Up: true,
				CheckIDs: slices.Clone(l.cfg.checkIDs[ref]), Drained: l.overrides[ref].Drain}
			for _, id := range r.CheckIDs {
				r.Up = r.Up && checkUp[id]
			}
			if d, ok := dests[rs.ID()]; ok {
				r.InKernel, r.KernelWeight, r.Stats = true, d.Weight, d.Stats
			}
			st.RealServers = append(st.RealServers, r)
		}
		if vs.SorryServer != nil {
			id := vs.SorryServer.Address.String()
			r := collector.RealServerState{Address: id, Sorry: true, ConfiguredWeight: 1, Up: true}
			if d, ok := dests[id]; ok {
				r.InKernel, r.KernelWeight, r.Stats = true, d.Weight, d.Stats
			}
			st.RealServers = append(st.RealServers, r)
		}
		s.VirtualServers = append(s.VirtualServers, st)
	}
	l.snap.Store(s)
}

// snapshot returns the last published state; it never does I/O.
func (l *lb) snapshot() collector.LBSnapshot {
	s := *l.snap.Load()
	s.Checks = l.sched.Snapshot()
	return s
}
