package check

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// script is a prober whose attempts succeed or fail as scripted, then
// succeed forever; done closes on the first attempt past the script.
type script struct {
	outcomes []bool
	weights  []int // optional dynamic weight per attempt

	mu    sync.Mutex
	times []time.Time
	done  chan struct{}
}

func newScript(outcomes ...bool) *script {
	return &script{outcomes: outcomes, done: make(chan struct{})}
}

func (s *script) Probe(ctx context.Context, _ netip.AddrPort) Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := len(s.times)
	s.times = append(s.times, time.Now())
	ok := true
	switch {
	case i < len(s.outcomes):
		ok = s.outcomes[i]
	case i == len(s.outcomes):
		close(s.done)
	}
	res := Result{OK: ok, Detail: map[string]float64{"attempt": float64(i)}}
	if !ok {
		res.Err = fmt.Errorf("scripted failure %d", i)
	}
	if i < len(s.weights) {
		w := s.weights[i]
		res.Weight = &w
	}
	return res
}

func (s *script) attempts() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.times)
}

type note struct {
	id      string
	up      bool
	attempt int
	res     Result
}

// recorder collects Notify calls.
type recorder struct {
	mu    sync.Mutex
	notes []note
}

func (r *recorder) notify(id string, up bool, res Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	a := -1
	if v, ok := res.Detail["attempt"]; ok {
		a = int(v)
	}
	r.notes = append(r.notes, note{id, up, a, res})
}

func (r *recorder) list() []note {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.notes)
}

// run starts s.Run and returns a function that stops it and waits.
func run(t *testing.T, s *Scheduler) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-errc:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return after cancellation")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func snapshotOf(t *testing.T, s *Scheduler, id string) Snapshot {
	t.Helper()
	for _, sn := range s.Snapshot() {
		if sn.ID == id {
			return sn
		}
	}
	t.Fatalf("no snapshot for %q", id)
	return Snapshot{}
}

func waitDone(t *testing.T, sc *script) {
	t.Helper()
	select {
	case <-sc.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("script not finished; %d attempts", len(sc.attempts()))
	}
}

func TestSchedulerRiseFall(t *testing.T) {
	const F, T = false, true
	sc := newScript(F, F, T, T, T, F, F, F, T, T)
	rec := &recorder{}
	s := &Scheduler{Notify: rec.notify, Jitter: -1}
	err := s.Set([]Check{{ID: "rs", Prober: sc, Interval: 5 * time.Millisecond, Rise: 2, Fall: 3, InitialUp: false}})
	if err != nil {
		t.Fatal(err)
	}
	if sn := snapshotOf(t, s, "rs"); sn.Up || sn.LastResult != "" || sn.Type != "custom" {
		t.Fatalf("before Run: %+v", sn)
	}
	stop := run(t, s)
	waitDone(t, sc)
	stop()

	// Up after the 2nd success in a row (attempt 3), down after the 3rd
	// failure in a row (attempt 7), up again after two successes (9).
	want := []string{"up@3", "down@7", "up@9"}
	var got []string
	for _, n := range rec.list() {
		state := "down"
		if n.up {
			state = "up"
		}
		got = append(got, fmt.Sprintf("%s@%d", state, n.attempt))
		if n.id != "rs" || n.up != n.res.OK {
			t.Errorf("notification %+v", n)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("transitions %v, want %v", got, want)
	}
	sn := snapshotOf(t, s, "rs")
	if !sn.Up || sn.Transitions != 3 || sn.Results[ResultFailure] != 5 || sn.Results[ResultSuccess] < 5 ||
		sn.ConsecutiveFailures != 0 || sn.ConsecutiveSuccesses < 2 || sn.LastResult != ResultSuccess || sn.Retries != 0 {
		t.Errorf("snapshot %+v", sn)
	}
}

func TestSchedulerRetries(t *testing.T) {
	const F, T = false, true
	// Run 1: F F T  -> retries absorb two failures, still up.
	// Run 2: F F F  -> one failed run, down (Fall 1).
	// Run 3: F      -> down already: no retries.
	// Run 4: T      -> up (Rise 1).
	sc := newScript(F, F, T, F, F, F, F, T)
	rec := &recorder{}
	s := &Scheduler{Notify: rec.notify, Jitter: -1}
	const retryDelay = 30 * time.Millisecond
	err := s.Set([]Check{{ID: "rs", Prober: sc, Interval: 10 * time.Millisecond, Retries: 2, RetryDelay: retryDelay, Rise: 1, Fall: 1, InitialUp: true}})
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, s)
	waitDone(t, sc)
	stop()

	var got []string
	for _, n := range rec.list() {
		got = append(got, fmt.Sprintf("%v@%d", n.up, n.attempt))
	}
	if want := []string{"false@5", "true@7"}; !slices.Equal(got, want) {
		t.Fatalf("transitions %v, want %v", got, want)
	}
	sn := snapshotOf(t, s, "rs")
	if sn.Retries != 4 || sn.Results[ResultFailure] != 6 || sn.Transitions != 2 {
		t.Errorf("snapshot %+v: want 4 retries, 6 failed attempts, 2 transitions", sn)
	}
	times := sc.attempts()
	for _, retry := range []int{1, 2, 4, 5} {
		if gap := times[retry].Sub(times[retry-1]); gap < retryDelay {
			t.Errorf("attempt %d came %s after the previous one, want >= %s", retry, gap, retryDelay)
		}
	}
}

func TestSchedulerTimeout(t *testing.T) {
	blocking := ProberFunc(func(ctx context.Context, _ netip.AddrPort) Result {
		<-ctx.Done()
		return Result{Err: ctx.Err()}
	})
	// A prober that notices the deadline only through a closed connection
	// still counts as timed out.
	closedConn := ProberFunc(func(ctx context.Context, _ netip.AddrPort) Result {
		<-ctx.Done()
		return Result{Err: errors.New("read: use of closed network connection")}
	})
	rec := &recorder{}
	s := &Scheduler{Notify: rec.notify, Jitter: -1}
	err := s.Set([]Check{
		{ID: "blocking", Prober: blocking, Interval: 50 * time.Millisecond, ConnectTimeout: 20 * time.Millisecond, Fall: 1, InitialUp: true},
		{ID: "closed", Prober: closedConn, Interval: 50 * time.Millisecond, ConnectTimeout: 20 * time.Millisecond, Fall: 1, InitialUp: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	run(t, s)
	waitFor(t, "both checks down", 5*time.Second, func() bool { return len(rec.list()) == 2 })
	for _, n := range rec.list() {
		if n.up || n.res.Outcome() != ResultTimeout {
			t.Errorf("%s: up=%v outcome %s (%v)", n.id, n.up, n.res.Outcome(), n.res.Err)
		}
		if n.res.Duration < 20*time.Millisecond || n.res.Duration > 200*time.Millisecond {
			t.Errorf("%s: attempt took %s, want about the 20ms connect timeout", n.id, n.res.Duration)
		}
		sn := snapshotOf(t, s, n.id)
		if sn.LastResult != ResultTimeout || sn.Results[ResultTimeout] == 0 || sn.Results[ResultFailure] != 0 || sn.LastError == "" {
			t.Errorf("%s: snapshot %+v", n.id, sn)
		}
	}
}

func TestSchedulerDynamicWeight(t *testing.T) {
	sc := newScript(true, true, true, true, true)
	sc.weights = []int{5, 5, 7, 7, 7}
	rec := &recorder{}
	s := &Scheduler{Notify: rec.notify, Jitter: -1}
	if err := s.Set([]Check{{ID: "rs", Prober: sc, Interval: 5 * time.Millisecond, InitialUp: true}}); err != nil {
		t.Fatal(err)
	}
	stop := run(t, s)
	waitDone(t, sc)
	stop()
	var got []string
	for _, n := range rec.list() {
		got = append(got, fmt.Sprintf("%v/%d@%d", n.up, *n.res.Weight, n.attempt))
	}
	if want := []string{"true/5@0", "true/7@2"}; !slices.Equal(got, want) {
		t.Fatalf("notifications %v, want %v", got, want)
	}
	if sn := snapshotOf(t, s, "rs"); sn.Weight == nil || *sn.Weight != 7 || sn.Transitions != 0 {
		t.Errorf("snapshot %+v", sn)
	}
}

func TestSpreadOffset(t *testing.T) {
	const iv = time.Second
	for _, format := range []string{"rs-%d", "10.0.%d.1:3306"} {
		var buckets [10]int
		for i := range 1000 {
			id := fmt.Sprintf(format, i)
			off := spreadOffset(id, iv)
			if off < 0 || off >= iv {
				t.Fatalf("%s: offset %s outside [0, %s)", id, off, iv)
			}
			if again := spreadOffset(id, iv); again != off {
				t.Fatalf("%s: offset %s then %s", id, off, again)
			}
			buckets[off*10/iv]++
		}
		// 100 expected per bucket, standard deviation about 9.5.
		for i, n := range buckets {
			if n < 70 || n > 130 {
				t.Errorf("%s: bucket %d holds %d of 1000 offsets: %v", format, i, n, buckets)
			}
		}
	}
	if a, b := spreadOffset("x", time.Second), spreadOffset("x", 2*time.Second); b < 2*a-time.Nanosecond || b > 2*a+time.Nanosecond {
		t.Errorf("offset does not scale with the interval: %s, %s", a, b)
	}
}

func TestSchedulerSpreadsFirstRuns(t *testing.T) {
	const (
		n  = 1000
		iv = time.Second
	)
	var (
		mu    sync.Mutex
		first = map[string]time.Time{}
	)
	checks := make([]Check, n)
	for i := range checks {
		id := fmt.Sprintf("rs-%d", i)
		checks[i] = Check{ID: id, Interval: iv, Prober: ProberFunc(func(context.Context, netip.AddrPort) Result {
			mu.Lock()
			defer mu.Unlock()
			if _, ok := first[id]; !ok {
				first[id] = time.Now()
			}
			return Result{OK: true}
		})}
	}
	s := &Scheduler{Jitter: -1}
	if err := s.Set(checks); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	run(t, s)
	waitFor(t, "every check's first run", 5*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(first) == n
	})
	mu.Lock()
	defer mu.Unlock()
	var buckets [10]int
	late := 0
	for id, at := range first {
		off := at.Sub(start)
		want := spreadOffset(id, iv)
		if off < want-5*time.Millisecond || off > want+150*time.Millisecond {
			late++
			if late <= 5 {
				t.Errorf("%s: first run at +%s, want +%s", id, off, want)
			}
		}
		buckets[min(int(off*10/iv), 9)]++
	}
	for i, c := range buckets {
		if c < 60 || c > 140 {
			t.Errorf("first runs per 100ms: %v (bucket %d)", buckets, i)
			break
		}
	}
}

func TestSchedulerJitter(t *testing.T) {
	s := &Scheduler{}
	for _, tc := range []struct {
		jitter, iv, max time.Duration
	}{
		{0, 100 * time.Millisecond, 10 * time.Millisecond},
		{0, time.Minute, time.Second},
		{-1, time.Second, 0},
		{50 * time.Millisecond, time.Second, 50 * time.Millisecond},
	} {
		s.Jitter = tc.jitter
		var seen time.Duration
		for range 1000 {
			j := s.jitter(tc.iv)
			if j < 0 || (tc.max == 0 && j != 0) || (tc.max > 0 && j >= tc.max) {
				t.Fatalf("Jitter %s interval %s: jitter %s, want in [0, %s)", tc.jitter, tc.iv, j, tc.max)
			}
			seen = max(seen, j)
		}
		if tc.max > 0 && seen < tc.max/2 {
			t.Errorf("Jitter %s interval %s: largest of 1000 jitters %s, want it near %s", tc.jitter, tc.iv, seen, tc.max)
		}
	}
}

// fixed is a comparable prober for Set tests: equal values define the
// same check.
type fixed struct {
	Name  string
	calls *counter
}

type counter struct {
	mu sync.Mutex
	n  int
}

func (c *counter) get() int { c.mu.Lock(); defer c.mu.Unlock(); return c.n }

func (f fixed) Probe(context.Context, netip.AddrPort) Result {
	f.calls.mu.Lock()
	f.calls.n++
	f.calls.mu.Unlock()
	return Result{OK: true}
}

func TestSchedulerSet(t *testing.T) {
	calls := map[string]*counter{"keep": {}, "change": {}, "remove": {}, "new": {}}
	check := func(id string) Check {
		return Check{ID: id, Type: "tcp", Prober: fixed{id, calls[id]}, Interval: 5 * time.Millisecond, InitialUp: true}
	}
	rec := &recorder{}
	s := &Scheduler{Notify: rec.notify, Jitter: -1}
	if err := s.Set([]Check{check("keep"), check("change"), check("remove")}); err != nil {
		t.Fatal(err)
	}
	run(t, s)
	waitFor(t, "a few runs of each check", 5*time.Second, func() bool {
		return calls["keep"].get() >= 3 && calls["change"].get() >= 3 && calls["remove"].get() >= 3
	})
	s.mu.Lock()
	keptRunner := s.checks["keep"]
	s.mu.Unlock()
	before := snapshotOf(t, s, "keep")

	// A failed Set changes nothing.
	if err := s.Set([]Check{check("keep"), check("keep")}); err == nil || !strings.Contains(err.Error(), `duplicate check ID "keep"`) {
		t.Fatalf("duplicate IDs: %v", err)
	}
	if got := len(s.Snapshot()); got != 3 {
		t.Fatalf("failed Set changed the checks: %d", got)
	}

	changed := check("change")
	changedCalls := &counter{}
	changed.Prober = fixed{"change", changedCalls}
	changed.InitialUp = false  // alpha mode: the fresh check starts down
	changed.Warmup = time.Hour // and never runs during the test
	added := check("new")
	added.Warmup = time.Hour
	if err := s.Set([]Check{check("keep"), changed, added}); err != nil {
		t.Fatal(err)
	}
	removedCalls := calls["remove"].get()

	s.mu.Lock()
	if s.checks["keep"] != keptRunner {
		t.Error("unchanged check was replaced")
	}
	s.mu.Unlock()
	var ids []string
	for _, sn := range s.Snapshot() {
		ids = append(ids, sn.ID)
	}
	if want := []string{"change", "keep", "new"}; !slices.Equal(ids, want) {
		t.Fatalf("checks after Set: %v, want %v", ids, want)
	}
	if sn := snapshotOf(t, s, "change"); sn.Up || len(sn.Results) != 0 || sn.LastResult != "" {
		t.Errorf("replaced check kept old state: %+v", sn)
	}
	if sn := snapshotOf(t, s, "new"); !sn.Up || sn.Type != "tcp" || len(sn.Results) != 0 {
		t.Errorf("new check: %+v", sn)
	}
	notes := rec.list()
	if len(notes) != 1 || notes[0].id != "change" || notes[0].up || !errors.Is(notes[0].res.Err, ErrReplaced) {
		t.Errorf("notifications %+v, want one for the replaced check going down", notes)
	}

	// The kept check keeps counting from where it was.
	waitFor(t, "the kept check to keep running", 5*time.Second, func() bool {
		return snapshotOf(t, s, "keep").Results[ResultSuccess] >= before.Results[ResultSuccess]+3
	})
	time.Sleep(30 * time.Millisecond)
	if got := calls["remove"].get(); got != removedCalls {
		t.Errorf("removed check probed %d more times after Set returned", got-removedCalls)
	}
	if changedCalls.get() != 0 || calls["new"].get() != 0 {
		t.Errorf("checks in warmup were probed: %d, %d", changedCalls.get(), calls["new"].get())
	}
}

func TestSchedulerSetBeforeAndAfterRun(t *testing.T) {
	s := &Scheduler{Jitter: -1}
	sc := newScript()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.Run(ctx) }()
	// Set after Run started must start the check.
	waitFor(t, "Run to start", time.Second, func() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.running })
	if err := s.Set([]Check{{ID: "late", Prober: sc, Interval: 5 * time.Millisecond}}); err != nil {
		t.Fatal(err)
	}
	waitDone(t, sc)
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	n := len(sc.attempts())
	time.Sleep(20 * time.Millisecond)
	if len(sc.attempts()) != n {
		t.Error("probes continued after Run returned")
	}
	if err := s.Run(context.Background()); err == nil {
		t.Error("second Run succeeded")
	}
	// Set after Run has ended stores the checks without starting them.
	if err := s.Set([]Check{{ID: "after", Prober: newScript(), Interval: time.Millisecond}}); err != nil {
		t.Fatal(err)
	}
}

func TestSchedulerShutdownDiscardsInterruptedAttempt(t *testing.T) {
	started := make(chan struct{})
	var once sync.Once
	blocking := ProberFunc(func(ctx context.Context, _ netip.AddrPort) Result {
		once.Do(func() { close(started) })
		<-ctx.Done()
		return Result{Err: ctx.Err()}
	})
	rec := &recorder{}
	s := &Scheduler{Notify: rec.notify, Jitter: -1}
	if err := s.Set([]Check{{ID: "rs", Prober: blocking, Interval: time.Millisecond, ConnectTimeout: time.Hour, Fall: 1, InitialUp: true}}); err != nil {
		t.Fatal(err)
	}
	stop := run(t, s)
	<-started
	stop()
	if sn := snapshotOf(t, s, "rs"); len(sn.Results) != 0 || !sn.Up {
		t.Errorf("interrupted attempt was recorded: %+v", sn)
	}
	if n := rec.list(); len(n) != 0 {
		t.Errorf("notifications %+v after shutdown", n)
	}
}

func TestSchedulerLateness(t *testing.T) {
	var (
		mu       sync.Mutex
		lateness = map[string][]time.Duration{}
	)
	slow := ProberFunc(func(ctx context.Context, _ netip.AddrPort) Result {
		time.Sleep(70 * time.Millisecond)
		return Result{OK: true}
	})
	s := &Scheduler{Jitter: -1, LatenessObserver: func(typ string, d time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		lateness[typ] = append(lateness[typ], d)
	}}
	const iv = 20 * time.Millisecond
	err := s.Set([]Check{
		{ID: "fast-1", Type: "tcp", Prober: newScript(), Interval: iv},
		{ID: "fast-2", Type: "tcp", Prober: newScript(), Interval: iv},
		{ID: "dns", Prober: DNS{}, Interval: time.Hour, Warmup: time.Hour}, // never runs
		{ID: "slow", Type: "mysql", Prober: slow, Interval: iv},
	})
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, s)
	waitFor(t, "runs", 5*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(lateness["tcp"]) >= 20 && len(lateness["mysql"]) >= 5
	})
	stop()
	mu.Lock()
	defer mu.Unlock()
	if _, ok := lateness["dns"]; ok {
		t.Error("lateness observed for a check that never ran")
	}
	var onTime int
	for _, d := range lateness["tcp"] {
		if d < 0 {
			t.Fatalf("negative lateness %s", d)
		}
		if d < 10*time.Millisecond {
			onTime++
		}
	}
	if onTime < len(lateness["tcp"])*9/10 {
		t.Errorf("fast checks: only %d of %d runs started within 10ms: %v", onTime, len(lateness["tcp"]), lateness["tcp"])
	}
	// The slow check overruns its interval: its runs start late, but
	// missed slots are dropped, so a run is never more than an interval
	// late.
	var lateRuns int
	for _, d := range lateness["mysql"][1:] {
		if d > 5*time.Millisecond {
			lateRuns++
		}
		if d > iv+20*time.Millisecond {
			t.Errorf("slow check run %s late, want at most about one interval", d)
		}
	}
	if lateRuns == 0 {
		t.Errorf("overrunning check never started late: %v", lateness["mysql"])
	}
	if sn := snapshotOf(t, s, "slow"); sn.SkippedRuns == 0 || sn.LastLateness <= 0 {
		t.Errorf("slow check snapshot %+v: want skipped runs and lateness", sn)
	}
}

func TestSchedulerValidation(t *testing.T) {
	good := Check{ID: "ok", Prober: TCP{}, Interval: time.Second}
	tests := []struct {
		mutate func(*Check)
		want   string
	}{
		{func(c *Check) { c.ID = "" }, "check without ID"},
		{func(c *Check) { c.Prober = nil }, `check "ok": no prober`},
		{func(c *Check) { c.Interval = 0 }, `check "ok": interval 0s must be positive`},
		{func(c *Check) { c.ConnectTimeout = -time.Second }, "connect timeout -1s is negative"},
		{func(c *Check) { c.Retries = -1 }, "retries -1 is negative"},
		{func(c *Check) { c.RetryDelay = -time.Second }, "retry delay -1s is negative"},
		{func(c *Check) { c.Warmup = -time.Second }, "warmup -1s is negative"},
	}
	for _, tc := range tests {
		c := good
		tc.mutate(&c)
		s := &Scheduler{}
		err := s.Set([]Check{good, c})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want %q", err, tc.want)
		}
		if len(s.Snapshot()) != 0 {
			t.Errorf("%q: invalid Set stored checks", tc.want)
		}
	}
}

func TestCheckEqual(t *testing.T) {
	base := Check{ID: "a", Prober: HTTP{Path: "/"}, Interval: time.Second, Rise: 2}
	same := Check{ID: "a", Prober: HTTP{Path: "/"}, Interval: time.Second, Rise: 2}
	if !base.equal(same) {
		t.Error("identical checks differ")
	}
	for name, c := range map[string]Check{
		"interval": {ID: "a", Prober: HTTP{Path: "/"}, Interval: 2 * time.Second, Rise: 2},
		"rise":     {ID: "a", Prober: HTTP{Path: "/"}, Interval: time.Second, Rise: 3},
		"prober":   {ID: "a", Prober: HTTP{Path: "/x"}, Interval: time.Second, Rise: 2},
		"type":     {ID: "a", Prober: TCP{}, Interval: time.Second, Rise: 2},
	} {
		if base.equal(c) {
			t.Errorf("%s: different checks compare equal", name)
		}
	}
	f := ProberFunc(func(context.Context, netip.AddrPort) Result { return Result{} })
	if (Check{ID: "f", Prober: f}).equal(Check{ID: "f", Prober: f}) {
		t.Error("funcs compare equal; DeepEqual never says so")
	}
}

func TestSchedulerSetWaitsForRemoved(t *testing.T) {
	started := make(chan struct{})
	var (
		once     sync.Once
		mu       sync.Mutex
		finished bool
	)
	slowToStop := ProberFunc(func(ctx context.Context, _ netip.AddrPort) Result {
		once.Do(func() { close(started) })
		<-ctx.Done()
		time.Sleep(30 * time.Millisecond) // e.g. Exec reaping its process group
		mu.Lock()
		finished = true
		mu.Unlock()
		return Result{Err: errors.New("interrupted")}
	})
	rec := &recorder{}
	s := &Scheduler{Notify: rec.notify, Jitter: -1}
	if err := s.Set([]Check{{ID: "rs", Prober: slowToStop, Interval: time.Millisecond, ConnectTimeout: time.Hour, Fall: 1, InitialUp: true}}); err != nil {
		t.Fatal(err)
	}
	run(t, s)
	<-started
	if err := s.Set(nil); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !finished {
		t.Error("Set returned while the removed check's attempt was still running")
	}
	if n := rec.list(); len(n) != 0 {
		t.Errorf("removed check notified: %+v", n)
	}
	if len(s.Snapshot()) != 0 {
		t.Error("removed check still in the snapshot")
	}
}
