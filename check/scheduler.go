package check

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"maps"
	"math/bits"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"
)

// DefaultConnectTimeout bounds a probe attempt when Check.ConnectTimeout is
// zero (keepalived's connect_timeout default).
const DefaultConnectTimeout = 5 * time.Second

// maxDefaultJitter caps the default random jitter of a run.
const maxDefaultJitter = time.Second

// Check is one health check run by a Scheduler: a Prober aimed at a target,
// its schedule and its rise/fall rules.
type Check struct {
	// ID names the check; unique within a Scheduler.
	ID string
	// Type labels the check in snapshots and lateness observations; empty
	// means the Prober's Kind() ("tcp", "http", "mysql", ...), or "custom".
	Type   string
	Target netip.AddrPort
	Prober Prober
	// Interval is the time between the starts of two runs (delay_loop).
	Interval time.Duration
	// ConnectTimeout bounds each attempt; DefaultConnectTimeout when zero.
	ConnectTimeout time.Duration
	// Retries is how many times a failed attempt is repeated, RetryDelay
	// apart, before the run counts as one failure (keepalived's retry and
	// delay_before_retry). As in keepalived, retries only happen while the
	// check is up: they confirm a failure before taking a server out, and
	// are pointless for a server that is already out.
	Retries    int
	RetryDelay time.Duration
	// Rise successful runs in a row bring a down check up; Fall failed
	// runs in a row bring an up check down. Values below 1 act as 1.
	Rise, Fall int
	// Warmup delays the first run (keepalived's warmup/delay_before_check).
	Warmup time.Duration
	// InitialUp is the status before the first transition; false is
	// keepalived's alpha mode.
	InitialUp bool
}

func (c Check) validate() error {
	switch {
	case c.ID == "":
		return errors.New("check without ID")
	case c.Prober == nil:
		return fmt.Errorf("check %q: no prober", c.ID)
	case c.Interval <= 0:
		return fmt.Errorf("check %q: interval %s must be positive", c.ID, c.Interval)
	case c.ConnectTimeout < 0:
		return fmt.Errorf("check %q: connect timeout %s is negative", c.ID, c.ConnectTimeout)
	case c.Retries < 0:
		return fmt.Errorf("check %q: retries %d is negative", c.ID, c.Retries)
	case c.RetryDelay < 0:
		return fmt.Errorf("check %q: retry delay %s is negative", c.ID, c.RetryDelay)
	case c.Warmup < 0:
		return fmt.Errorf("check %q: warmup %s is negative", c.ID, c.Warmup)
	}
	return nil
}

// kind is the Type label of the check.
func (c Check) kind() string {
	if c.Type != "" {
		return c.Type
	}
	if k, ok := c.Prober.(interface{ Kind() string }); ok {
		return k.Kind()
	}
	return "custom"
}

// equal reports whether c and o define the same check.
func (c Check) equal(o Check) bool {
	p, q := c.Prober, o.Prober
	c.Prober, o.Prober = nil, nil
	return c == o && proberEqual(p, q)
}

// proberEqual compares two probers with their Equal method when they have
// one (func (T) Equal(T) bool), otherwise with reflect.DeepEqual. Funcs are
// never deeply equal, so a ProberFunc check counts as changed on every Set.
func proberEqual(a, b Prober) bool {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	if va.Type() != vb.Type() {
		return false
	}
	if m := va.MethodByName("Equal"); m.IsValid() {
		t := m.Type()
		if t.NumIn() == 1 && t.In(0) == va.Type() && t.NumOut() == 1 && t.Out(0).Kind() == reflect.Bool {
			return m.Call([]reflect.Value{vb})[0].Bool()
		}
	}
	return reflect.DeepEqual(a, b)
}

// Snapshot is the state of one check, for metrics and status pages. It is
// a copy: reading it never triggers I/O.
type Snapshot struct {
	ID     string
	Type   string
	Target netip.AddrPort
	Up     bool
	// ConsecutiveFailures and ConsecutiveSuccesses count runs (an attempt
	// plus its retries), the unit Rise and Fall count in.
	ConsecutiveFailures  int
	ConsecutiveSuccesses int
	// LastDuration, LastResult ("success", "failure", "timeout"; empty
	// before the first attempt), LastError and LastCheck describe the last
	// attempt.
	LastDuration time.Duration
	LastResult   string
	LastError    string
	LastCheck    time.Time
	// Results counts attempts (retries included) by outcome.
	Results map[string]uint64
	// Retries counts retried attempts; Transitions status changes;
	// SkippedRuns runs dropped because earlier runs overran the interval.
	Retries     uint64
	Transitions uint64
	SkippedRuns uint64
	// LastLateness is how late the last run started against its schedule.
	LastLateness time.Duration
	// Weight is the last dynamic weight the prober reported, nil if none.
	Weight *int
	// Detail is the last attempt's Result.Detail.
	Detail map[string]float64
}

func (s Snapshot) clone() Snapshot {
	s.Results = maps.Clone(s.Results)
	s.Detail = maps.Clone(s.Detail)
	if s.Weight != nil {
		w := *s.Weight
		s.Weight = &w
	}
	return s
}

// ErrReplaced is the error a Scheduler reports when Set replaced a check
// whose definition changed and the new check starts down (InitialUp false)
// while the old one was up.
var ErrReplaced = errors.New("check definition changed; status reset to its initial value")

// Scheduler runs health checks, each in its own goroutine on its own
// interval, and reports status transitions through Notify (seesaw's
// healthcheck core).
//
// First runs are spread over the interval deterministically by a hash of
// the check's ID, so a thousand checks loaded at once do not probe in one
// burst, and a restarted vigil probes in the same pattern; every run adds a
// small random jitter on top.
//
// Configure the exported fields before calling Set or Run.
type Scheduler struct {
	// Notify is called when a check's status changes, and when an up
	// check's dynamic weight (Result.Weight) changes; res is the run that
	// caused it. Calls for one check are sequential; calls for different
	// checks are concurrent. Notify must not call Set.
	Notify func(id string, up bool, res Result)
	// LatenessObserver, if set, receives how late every run started
	// against its schedule (its slot plus jitter), for a histogram by
	// check type. It is called concurrently from the checks' goroutines
	// and must be cheap (a histogram Observe).
	LatenessObserver func(checkType string, d time.Duration)
	// Logger gets transitions (info) and failed attempts (debug).
	Logger *slog.Logger
	// Jitter bounds the random delay added to every run: zero means a
	// tenth of the interval, at most one second; negative disables it.
	Jitter time.Duration

	setMu sync.Mutex // serialises Set

	mu      sync.Mutex
	checks  map[string]*runner
	ctx     context.Context // Run's context, while running
	running bool
	ran     bool
	wg      sync.WaitGroup // runner goroutines
}

// Set replaces the scheduler's checks. A check whose ID and definition are
// unchanged keeps running undisturbed: its status, counters and schedule
// survive (config reloads). A check whose definition changed is replaced
// by a fresh one starting at its InitialUp status; if that differs from
// the old check's status, Notify reports it (with ErrReplaced when down).
// Removed checks are stopped; Set waits for their in-flight attempts.
//
// Set validates all checks first; on error nothing changes.
func (s *Scheduler) Set(checks []Check) error {
	seen := make(map[string]bool, len(checks))
	for _, c := range checks {
		if err := c.validate(); err != nil {
			return err
		}
		if seen[c.ID] {
			return fmt.Errorf("duplicate check ID %q", c.ID)
		}
		seen[c.ID] = true
	}

	s.setMu.Lock()
	defer s.setMu.Unlock()

	s.mu.Lock()
	old := s.checks
	next := make(map[string]*runner, len(checks))
	type replacement struct{ old, new *runner }
	var replaced []replacement
	var fresh []*runner
	for _, c := range checks {
		o, ok := old[c.ID]
		if ok && o.def.equal(c) {
			next[c.ID] = o
			continue
		}
		n := s.newRunner(c)
		next[c.ID] = n
		fresh = append(fresh, n)
		if ok {
			replaced = append(replaced, replacement{o, n})
		}
	}
	var stopped []*runner
	for id, o := range old {
		if next[id] != o {
			stopped = append(stopped, o)
		}
	}
	s.checks = next
	s.mu.Unlock()

	for _, r := range stopped {
		r.cancelRun()
	}
	for _, r := range stopped {
		r.wait()
	}
	for _, rp := range replaced {
		if was, now := rp.old.up(), rp.new.def.InitialUp; was != now {
			res := Result{OK: now}
			if !now {
				res.Err = ErrReplaced
			}
			s.logger().Info("check replaced; status reset", "check", rp.new.def.ID, "up", now)
			s.notify(rp.new.def.ID, now, res)
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running {
		for _, r := range fresh {
			s.start(r)
		}
	}
	return nil
}

// Run runs the checks until ctx is done, then waits for every in-flight
// attempt to end. It may be called once.
func (s *Scheduler) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.ran {
		s.mu.Unlock()
		return errors.New("scheduler already ran")
	}
	s.ran, s.running, s.ctx = true, true, ctx
	for _, r := range s.checks {
		s.start(r)
	}
	s.mu.Unlock()

	<-ctx.Done()

	s.mu.Lock()
	s.running = false
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// Snapshot returns the state of every check, ordered by ID. It only copies
// memory.
func (s *Scheduler) Snapshot() []Snapshot {
	s.mu.Lock()
	rs := make([]*runner, 0, len(s.checks))
	for _, r := range s.checks {
		rs = append(rs, r)
	}
	s.mu.Unlock()
	out := make([]Snapshot, 0, len(rs))
	for _, r := range rs {
		r.mu.Lock()
		out = append(out, r.stats.clone())
		r.mu.Unlock()
	}
	slices.SortFunc(out, func(a, b Snapshot) int { return strings.Compare(a.ID, b.ID) })
	return out
}

func (s *Scheduler) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func (s *Scheduler) notify(id string, up bool, res Result) {
	if s.Notify != nil {
		s.Notify(id, up, res)
	}
}

// jitter returns the random delay to add to a run of a check with
// interval iv.
func (s *Scheduler) jitter(iv time.Duration) time.Duration {
	j := s.Jitter
	if j == 0 {
		j = min(iv/10, maxDefaultJitter)
	}
	if j <= 0 {
		return 0
	}
	return rand.N(j)
}

func (s *Scheduler) newRunner(c Check) *runner {
	r := &runner{
		s:      s,
		def:    c,
		kind:   c.kind(),
		offset: spreadOffset(c.ID, c.Interval),
		hyst:   NewHysteresis(c.Rise, c.Fall, c.InitialUp),
	}
	r.stats = Snapshot{ID: c.ID, Type: r.kind, Target: c.Target, Up: c.InitialUp, Results: map[string]uint64{}}
	return r
}

// start launches r's goroutine under Run's context; s.mu must be held and
// s.running true.
func (s *Scheduler) start(r *runner) {
	ctx, cancel := context.WithCancel(s.ctx)
	r.cancel, r.done = cancel, make(chan struct{})
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(r.done)
		r.run(ctx)
	}()
}

// spreadOffset maps id to a fixed offset in [0, iv): FNV-1a, finished with
// murmur3's fmix64 so that IDs differing in one character (rs-1, rs-2)
// land far apart, scaled to the interval without modulo bias.
func spreadOffset(id string, iv time.Duration) time.Duration {
	h := fnv.New64a()
	h.Write([]byte(id))
	x := h.Sum64()
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	hi, _ := bits.Mul64(x, uint64(iv))
	return time.Duration(hi)
}

// runner runs one check.
type runner struct {
	s      *Scheduler
	def    Check
	kind   string
	offset time.Duration

	// Set by Scheduler.start under s.mu; read by Set after the runner left
	// s.checks.
	cancel context.CancelFunc
	done   chan struct{}

	// Owned by the runner's goroutine (by Set before it starts).
	hyst           *Hysteresis
	consecFail     int
	consecOK       int
	reportedWeight *int // weight last passed to Notify

	mu    sync.Mutex
	stats Snapshot
}

func (r *runner) cancelRun() {
	r.s.mu.Lock()
	cancel := r.cancel
	r.s.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

func (r *runner) wait() {
	r.s.mu.Lock()
	done := r.done
	r.s.mu.Unlock()
	if done != nil {
		<-done
	}
}

func (r *runner) up() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats.Up
}

// run is the runner's goroutine: sleep until the next slot, run, repeat.
func (r *runner) run(ctx context.Context) {
	iv := r.def.Interval
	slot := time.Now().Add(r.def.Warmup + r.offset)
	for {
		at := slot.Add(r.s.jitter(iv))
		if !sleepUntil(ctx, at) {
			return
		}
		r.handleLateness(time.Since(at))
		res, ok := r.round(ctx)
		if !ok {
			return // shutting down: the interrupted run says nothing about the target
		}
		r.handleRound(res)
		slot = slot.Add(iv)
		if behind := time.Since(slot); behind >= iv {
			// The run overran whole intervals: drop the missed slots
			// rather than firing them back to back.
			n := behind / iv
			slot = slot.Add(n * iv)
			r.mu.Lock()
			r.stats.SkippedRuns += uint64(n)
			r.mu.Unlock()
		}
	}
}

// round runs one attempt and its retries. ok is false when ctx ended.
func (r *runner) round(ctx context.Context) (res Result, ok bool) {
	for attempt := 0; ; attempt++ {
		res = r.attempt(ctx)
		if ctx.Err() != nil {
			return res, false
		}
		r.handleAttempt(res)
		if res.OK || attempt >= r.def.Retries || !r.hyst.Up() {
			return res, true
		}
		r.mu.Lock()
		r.stats.Retries++
		r.mu.Unlock()
		if !sleepUntil(ctx, time.Now().Add(r.def.RetryDelay)) {
			return res, false
		}
	}
}

// attempt runs the prober once under the connect timeout and normalises
// its result.
func (r *runner) attempt(ctx context.Context) Result {
	timeout := r.def.ConnectTimeout
	if timeout <= 0 {
		timeout = DefaultConnectTimeout
	}
	// start before the deadline: an attempt that times out then measures
	// at least the timeout.
	start := time.Now()
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res := r.def.Prober.Probe(actx, r.def.Target)
	if res.Duration <= 0 {
		res.Duration = time.Since(start)
	}
	switch {
	case res.OK:
		res.Err = nil
	case res.Err == nil:
		res.Err = errors.New("probe failed")
	}
	if !res.OK && !IsTimeout(res.Err) && errors.Is(actx.Err(), context.DeadlineExceeded) {
		res.Err = &timeoutError{res.Err}
	}
	return res
}

// handleAttempt records one attempt in the stats.
func (r *runner) handleAttempt(res Result) {
	outcome := res.Outcome()
	if !res.OK {
		r.s.logger().Debug("check attempt failed", "check", r.def.ID, "target", r.def.Target, "result", outcome, "err", res.Err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stats.Results[outcome]++
	r.stats.LastResult = outcome
	r.stats.LastDuration = res.Duration
	r.stats.LastCheck = time.Now()
	r.stats.LastError = ""
	if res.Err != nil {
		r.stats.LastError = res.Err.Error()
	}
	r.stats.Detail = maps.Clone(res.Detail)
	if res.Weight != nil {
		w := *res.Weight
		r.stats.Weight = &w
	}
}

// handleRound feeds a run's result into rise/fall and notifies on a
// transition or a dynamic weight change. It reports whether it notified.
func (r *runner) handleRound(res Result) bool {
	if res.OK {
		r.consecOK, r.consecFail = r.consecOK+1, 0
	} else {
		r.consecOK, r.consecFail = 0, r.consecFail+1
	}
	changed := r.hyst.Observe(res.OK)
	up := r.hyst.Up()
	r.mu.Lock()
	r.stats.Up = up
	r.stats.ConsecutiveFailures, r.stats.ConsecutiveSuccesses = r.consecFail, r.consecOK
	if changed {
		r.stats.Transitions++
	}
	r.mu.Unlock()

	weightChanged := up && res.Weight != nil && (r.reportedWeight == nil || *r.reportedWeight != *res.Weight)
	if !changed && !weightChanged {
		return false
	}
	if up && res.Weight != nil {
		w := *res.Weight
		r.reportedWeight = &w
	}
	if changed {
		r.s.logger().Info("check status changed", "check", r.def.ID, "target", r.def.Target, "up", up, "err", res.Err)
	} else {
		r.s.logger().Info("check weight changed", "check", r.def.ID, "target", r.def.Target, "weight", *res.Weight)
	}
	r.s.notify(r.def.ID, up, res)
	return true
}

func (r *runner) handleLateness(d time.Duration) {
	d = max(d, 0)
	r.mu.Lock()
	r.stats.LastLateness = d
	r.mu.Unlock()
	if r.s.LatenessObserver != nil {
		r.s.LatenessObserver(r.kind, d)
	}
}

// sleepUntil waits until t or until ctx is done; it reports whether t was
// reached.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}
