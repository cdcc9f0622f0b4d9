package actuator

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// execTimeout bounds the executor calls of the background sweep.
const execTimeout = 30 * time.Second

// retryInterval is how soon the sweep retries a failed deferred undo, and
// Run a failed initial Sync.
const retryInterval = 10 * time.Second

// Options are an Actuator's fixed parts.
type Options struct {
	// Executor carries actions out. Required.
	Executor Executor
	// StateDir holds the state file (StateFile). Required.
	StateDir string
	// AuditFile is the audit log; "" is AuditFile in StateDir.
	AuditFile string
	// RouterID is this node's name, for only_self rules.
	RouterID string
	// Status, if set, provides the node's part of GET /api/v1/status.
	Status func(ctx context.Context) (any, error)
	Logger *slog.Logger
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Actuator decides on and carries out actions. Its methods are safe for
// concurrent use; actions are serialised, so every guard sees the result
// of the action before.
type Actuator struct {
	exec     Executor
	logger   *slog.Logger
	now      func() time.Time
	routerID string
	status   func(ctx context.Context) (any, error)
	audit    *Audit
	metrics  *metrics

	cfg       atomic.Pointer[compiled]
	published atomic.Pointer[[]Override] // for Collect and Overrides
	wake      chan struct{}

	mu    sync.Mutex // serialises actions; guards store
	store *Store
}

// New loads the state from opts.StateDir and starts with cfg. It does not
// call the executor: Run (or Sync) pushes the persisted overrides.
func New(cfg Config, opts Options) (*Actuator, error) {
	if opts.Executor == nil {
		return nil, errors.New("actuator: no executor")
	}
	cc, err := load(cfg)
	if err != nil {
		return nil, err
	}
	store, err := OpenStore(opts.StateDir)
	if err != nil {
		return nil, err
	}
	auditPath := opts.AuditFile
	if auditPath == "" {
		auditPath = filepath.Join(opts.StateDir, AuditFile)
	}
	audit, err := OpenAudit(auditPath)
	if err != nil {
		return nil, err
	}
	a := &Actuator{
		exec:     opts.Executor,
		logger:   opts.Logger,
		now:      opts.Now,
		routerID: opts.RouterID,
		status:   opts.Status,
		audit:    audit,
		store:    store,
		wake:     make(chan struct{}, 1),
	}
	if a.logger == nil {
		a.logger = slog.New(slog.DiscardHandler)
	}
	a.logger = a.logger.With("component", "actuator")
	if a.now == nil {
		a.now = time.Now
	}
	a.cfg.Store(cc)
	a.metrics = newMetrics(a.snapshot, a.now)
	a.publish()
	return a, nil
}

// Reload switches to cfg. A configuration that does not compile, or whose
// token file cannot be read, is an error and changes nothing. Overrides and
// the memory of handled alerts are kept.
func (a *Actuator) Reload(cfg Config) error {
	cc, err := load(cfg)
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.cfg.Store(cc)
	a.poke()
	return nil
}

// Overrides lists the active overrides, sorted by kind and target.
func (a *Actuator) Overrides() []Override {
	return slices.Clone(a.snapshot())
}

// AuditTail returns the last n audit records, oldest first.
func (a *Actuator) AuditTail(n int) ([]Record, error) { return a.audit.Tail(n) }

func (a *Actuator) snapshot() []Override { return *a.published.Load() }

// publish makes the store's overrides visible to metrics and readers;
// called with mu held (or before the Actuator is shared).
func (a *Actuator) publish() {
	l := a.store.Overrides()
	a.published.Store(&l)
}

func (a *Actuator) poke() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// Sync pushes every persisted override to the executor. Run does it on
// start; the daemon calls it again when it replaces what the executor
// drives (a reload that rebuilds the VRRP node).
func (a *Actuator) Sync(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return errors.Join(
		a.exec.SetRealServerOverrides(ctx, a.store.cur.realServerOverrides()),
		a.exec.SetHolds(ctx, a.store.cur.holds()),
	)
}

// Run syncs the executor (retrying until it succeeds), then carries out
// the undos that the cooldown deferred and forgets old alerts, until ctx
// ends.
func (a *Actuator) Run(ctx context.Context) error {
	for {
		sctx, cancel := context.WithTimeout(ctx, execTimeout)
		err := a.Sync(sctx)
		cancel()
		if err == nil {
			break
		}
		a.logger.Error("applying persisted overrides", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(retryInterval):
		}
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-a.wake:
		case <-timer.C:
		}
		sctx, cancel := context.WithTimeout(ctx, execTimeout)
		next := a.sweep(sctx, a.now())
		cancel()
		timer.Reset(max(next.Sub(a.now()), 100*time.Millisecond))
	}
}

// Handle decides on req and carries it out.
func (a *Actuator) Handle(ctx context.Context, req Request) Outcome {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.handle(ctx, a.cfg.Load(), req, a.now())
}

// plan is what a request would change.
type plan struct {
	next    state        // the state after the request (overrides only)
	kind    OverrideKind // the override kind changed, "" for none
	creates bool         // a new override
	// resign are the instances to hand over, for failover and resign.
	resign []string
	hold   time.Duration
	// serving is the virtual server whose serving real servers the
	// change may reduce, with its real servers.
	servingVS string
	pool      []RealServerHealth
	cooldown  []cooldownKey
	// noop says why nothing needs doing; next may still differ from the
	// current state by who owns an override.
	noop string
}

// changes reports whether the executor must be told.
func (p *plan) changes() bool { return p.noop == "" }

func (a *Actuator) handle(ctx context.Context, cfg *compiled, req Request, now time.Time) Outcome {
	out := Outcome{Action: req.Action, Target: req.Target}
	if req.Alert != nil {
		out.Rule, out.Fingerprint = req.Alert.Rule, req.Alert.Fingerprint
	}
	if req.Source.automated() {
		req.Force = false
	}
	if err := req.validate(); err != nil {
		return a.finish(req, out.failed(err), now)
	}
	if req.Alert != nil {
		hk := handledKey{*req.Alert, req.Target}
		if h, ok := a.store.cur.handled[hk]; ok && (!h.DryRun || req.DryRun) {
			a.seen(hk, h, now)
			out.Result, out.duplicate = ResultNoop, true
			out.Message = "already handled at " + h.At.UTC().Format(time.RFC3339)
			return a.finish(req, out, now)
		}
	}
	p, err := a.plan(req, now)
	if err != nil {
		return a.finish(req, out.failed(err), now)
	}
	if g, msg := a.refuse(cfg, req, p, now); g != "" {
		out.Result, out.Guard, out.Message = ResultRefused, g, msg
		return a.finish(req, out, now)
	}
	if req.DryRun {
		out.Result = ResultDryRun
		if !p.changes() {
			out.Result, out.Message = ResultNoop, p.noop
		}
		if req.Alert != nil {
			// Remembered in memory only: a dry run writes nothing.
			a.store.cur.handled[handledKey{*req.Alert, req.Target}] = handled{Action: req.Action, Undo: req.OnResolvedUndo, DryRun: true, At: now, LastSeen: now}
		}
		return a.finish(req, out, now)
	}
	next := p.next
	if p.changes() {
		for _, k := range p.cooldown {
			next.changed[k] = now
		}
		if req.Source.automated() {
			next.automated = append(next.automated, now)
		}
	}
	if req.Alert != nil {
		next.handled[handledKey{*req.Alert, req.Target}] = handled{Action: req.Action, Undo: req.OnResolvedUndo, At: now, LastSeen: now}
	}
	prune(&next, cfg, now)
	var kind OverrideKind
	if p.changes() {
		kind = p.kind
		for _, inst := range p.resign {
			if err := a.exec.Resign(ctx, inst, p.hold); err != nil {
				return a.finish(req, out.failed(fmt.Errorf("resigning vrrp_instance %s: %w", inst, err)), now)
			}
		}
	}
	if err := a.commit(ctx, next, kind); err != nil {
		return a.finish(req, out.failed(err), now)
	}
	out.Result = ResultApplied
	if !p.changes() {
		out.Result, out.Message = ResultNoop, p.noop
	}
	return a.finish(req, out, now)
}

// seen refreshes a remembered webhook action's last-seen time, writing it
// only when the file's copy is old.
func (a *Actuator) seen(hk handledKey, h handled, now time.Time) {
	stale := now.Sub(h.LastSeen) >= seenPersistEvery
	h.LastSeen = now
	if !stale || h.DryRun {
		a.store.cur.handled[hk] = h
		return
	}
	next := a.store.cur.clone()
	next.handled[hk] = h
	if err := a.store.commit(next); err != nil {
		a.logger.Warn("recording a re-sent alert", "err", err)
		a.store.cur.handled[hk] = h
	}
}

// commit applies next: tells the executor about the overrides of kind
// (none for ""), then persists next. If persisting fails the executor is
// told the previous overrides again.
func (a *Actuator) commit(ctx context.Context, next state, kind OverrideKind) error {
	cur := a.store.cur
	if err := a.push(ctx, next, kind); err != nil {
		return err
	}
	if err := a.store.commit(next); err != nil {
		if kind != "" {
			if rerr := a.push(ctx, cur, kind); rerr != nil {
				a.logger.Error("restoring overrides after failing to persist them", "err", rerr)
			}
		}
		return Retryable(err)
	}
	a.publish()
	return nil
}

func (a *Actuator) push(ctx context.Context, s state, kind OverrideKind) error {
	switch kind {
	case KindDrain, KindWeight:
		if err := a.exec.SetRealServerOverrides(ctx, s.realServerOverrides()); err != nil {
			return fmt.Errorf("setting real server overrides: %w", err)
		}
	case KindHold:
		if err := a.exec.SetHolds(ctx, s.holds()); err != nil {
			return fmt.Errorf("setting vrrp holds: %w", err)
		}
	}
	return nil
}

// prune drops what the guards and the idempotency no longer need.
func prune(s *state, cfg *compiled, now time.Time) {
	g := cfg.cfg.Guards
	s.automated = slices.DeleteFunc(s.automated, func(t time.Time) bool {
		return g.RateLimit.Actions == 0 || !t.After(now.Add(-g.RateLimit.Per))
	})
	for k, t := range s.changed {
		if !now.Before(t.Add(g.Cooldown)) {
			delete(s.changed, k)
		}
	}
	for k, h := range s.handled {
		if now.Sub(h.LastSeen) > handledTTL {
			delete(s.handled, k)
		}
	}
}

func (o Outcome) failed(err error) Outcome {
	o.Result, o.Err, o.Message = ResultFailed, err, err.Error()
	return o
}

// finish counts and audits an outcome.
func (a *Actuator) finish(req Request, out Outcome, now time.Time) Outcome {
	a.metrics.actions.WithLabelValues(string(req.Action), string(req.Source), string(out.Result)).Inc()
	if out.Guard != "" {
		a.metrics.refusals.WithLabelValues(string(out.Guard)).Inc()
	}
	if out.duplicate {
		return out
	}
	rec := Record{
		Time: now.UTC(), Source: req.Source, Who: req.Who, RemoteAddr: req.RemoteAddr,
		Action: req.Action, Target: req.Target, Weight: req.Weight, Reason: req.Reason,
		Rule: out.Rule, Fingerprint: out.Fingerprint, Force: req.Force,
		Result: out.Result, Guard: out.Guard,
	}
	if req.Action == ActionFailover || req.Action == ActionResign {
		rec.Hold = holdOrDefault(req.Hold).String()
	}
	if out.Result == ResultFailed {
		rec.Error = out.Message
	} else {
		rec.Message = out.Message
	}
	if err := a.audit.Append(rec); err != nil {
		a.metrics.auditErrors.Inc()
		a.logger.Error("writing the audit log", "err", err)
	}
	level := slog.LevelInfo
	if out.Result == ResultFailed {
		level = slog.LevelWarn
	}
	a.logger.Log(context.Background(), level, "action", "action", req.Action, "target", req.Target.String(),
		"source", req.Source, "who", req.Who, "result", out.Result, "guard", out.Guard, "message", out.Message,
		"rule", out.Rule, "fingerprint", out.Fingerprint)
	return out
}

func holdOrDefault(d time.Duration) time.Duration {
	if d == 0 {
		return DefaultFailoverHold
	}
	return d
}

// validate checks what a request can be checked for on its own.
func (r Request) validate() error {
	if !r.Action.valid() {
		return invalidf("unknown action %q (want one of %s)", r.Action, actionList())
	}
	if !slices.Contains(Sources, r.Source) {
		return invalidf("unknown source %q", r.Source)
	}
	if r.Source.automated() && r.Alert == nil {
		return invalidf("a webhook request needs its alert")
	}
	t := r.Target
	switch r.Action.targetKind() {
	case targetRealServer:
		if t.VirtualServer == "" || t.RealServer == "" {
			return invalidf("%s needs virtual_server and real_server", r.Action)
		}
		if t.VRRPInstance != "" {
			return invalidf("%s takes no vrrp_instance", r.Action)
		}
	case targetInstance:
		if t.VRRPInstance == "" {
			return invalidf("%s needs vrrp_instance", r.Action)
		}
		if t.VirtualServer != "" || t.RealServer != "" {
			return invalidf("%s takes only vrrp_instance", r.Action)
		}
	case targetNone:
		if t != (Target{}) {
			return invalidf("%s acts on every vrrp_instance and takes no target", r.Action)
		}
	}
	if r.Weight != nil {
		if r.Action != ActionSetWeight {
			return invalidf("weight is only for set_weight")
		}
		if *r.Weight < 0 || *r.Weight > maxWeight {
			return invalidf("weight %d out of range [0, %d]", *r.Weight, maxWeight)
		}
	}
	if r.Hold < 0 {
		return invalidf("hold must not be negative, got %s", r.Hold)
	}
	if r.Hold != 0 && r.Action != ActionFailover && r.Action != ActionResign {
		return invalidf("hold is only for failover and resign")
	}
	return nil
}

// plan works out what req would change, checking that its target exists
// (except to remove an override: a target may have left the configuration
// since).
func (a *Actuator) plan(req Request, now time.Time) (*plan, error) {
	cur := a.store.cur
	p := &plan{next: cur.clone()}
	t := req.Target
	claim := func(o Override) Override {
		o.Since, o.Source, o.Who, o.Reason = now, req.Source, req.Who, req.Reason
		o.Alerts, o.UndoAt, o.UndoFor = nil, time.Time{}, AlertRef{}
		if req.Alert != nil {
			o.Alerts = []AlertRef{*req.Alert}
		}
		return o
	}
	// keep records who wants an override that is already as asked: an
	// operator takes it over, another alert joins its alerts.
	keep := func(o Override, why string) {
		switch {
		case !req.Source.automated():
			o = claim(o)
		case o.Source.automated():
			if !slices.Contains(o.Alerts, *req.Alert) {
				o.Alerts = append(o.Alerts, *req.Alert)
			}
			o.UndoAt, o.UndoFor = time.Time{}, AlertRef{}
		}
		p.next.overrides[o.key()] = o
		p.noop = why
	}
	switch req.Action {
	case ActionDrain, ActionUndrain, ActionSetWeight:
		kind := KindDrain
		if req.Action == ActionSetWeight {
			kind = KindWeight
		}
		p.kind, p.servingVS = kind, t.VirtualServer
		p.cooldown = []cooldownKey{{string(kind), t}}
		key := overrideKey{kind, t}
		old, exists := cur.overrides[key]
		removing := req.Action == ActionUndrain || (req.Action == ActionSetWeight && req.Weight == nil)
		if !(removing && exists) {
			pool, err := a.realServers(t)
			if err != nil {
				return nil, err
			}
			p.pool = pool
		}
		switch {
		case removing && !exists:
			p.noop = fmt.Sprintf("no %s override", kind)
		case removing:
			delete(p.next.overrides, key)
		case exists && (kind == KindDrain || *old.Weight == *req.Weight):
			keep(old, fmt.Sprintf("already %s", describe(old)))
		default:
			o := claim(Override{Kind: kind, Target: t})
			if req.Weight != nil {
				w := *req.Weight
				o.Weight = &w
			}
			p.next.overrides[key] = o
			p.creates = !exists
		}
	case ActionHold, ActionRelease:
		p.kind = KindHold
		p.cooldown = []cooldownKey{{"vrrp", t}}
		key := overrideKey{KindHold, t}
		old, exists := cur.overrides[key]
		if !(req.Action == ActionRelease && exists) {
			if err := a.hasInstance(t.VRRPInstance); err != nil {
				return nil, err
			}
		}
		switch {
		case req.Action == ActionRelease && !exists:
			p.noop = "not held"
		case req.Action == ActionRelease:
			delete(p.next.overrides, key)
		case exists:
			keep(old, "already held")
		default:
			p.next.overrides[key] = claim(Override{Kind: KindHold, Target: t})
			p.creates = true
		}
	case ActionFailover:
		if err := a.hasInstance(t.VRRPInstance); err != nil {
			return nil, err
		}
		p.resign, p.hold = []string{t.VRRPInstance}, holdOrDefault(req.Hold)
		p.cooldown = []cooldownKey{{"vrrp", t}}
	case ActionResign:
		p.resign, p.hold = slices.Sorted(slices.Values(a.exec.Instances())), holdOrDefault(req.Hold)
		if len(p.resign) == 0 {
			return nil, unknownTargetf("this node has no vrrp_instance")
		}
		for _, inst := range p.resign {
			p.cooldown = append(p.cooldown, cooldownKey{"vrrp", Target{VRRPInstance: inst}})
		}
	}
	return p, nil
}

func describe(o Override) string {
	switch o.Kind {
	case KindDrain:
		return "drained"
	case KindWeight:
		return fmt.Sprintf("at weight %d", *o.Weight)
	default:
		return "held"
	}
}

func (a *Actuator) realServers(t Target) ([]RealServerHealth, error) {
	pool, err := a.exec.RealServers(t.VirtualServer)
	if err != nil {
		return nil, fmt.Errorf("virtual_server %q: %w", t.VirtualServer, err)
	}
	for _, rs := range pool {
		if rs.ID == t.RealServer {
			return pool, nil
		}
	}
	return nil, unknownTargetf("virtual_server %q has no real_server %q", t.VirtualServer, t.RealServer)
}

func (a *Actuator) hasInstance(name string) error {
	if !slices.Contains(a.exec.Instances(), name) {
		return unknownTargetf("no vrrp_instance %q on this node", name)
	}
	return nil
}

// serving counts the real servers of vs that serve under the overrides of
// s: up, not drained, weight above 0.
func serving(vs string, pool []RealServerHealth, s state) int {
	n := 0
	for _, rs := range pool {
		t := Target{VirtualServer: vs, RealServer: rs.ID}
		if !rs.Up {
			continue
		}
		if _, drained := s.overrides[overrideKey{KindDrain, t}]; drained {
			continue
		}
		w := rs.Weight
		if o, ok := s.overrides[overrideKey{KindWeight, t}]; ok {
			w = *o.Weight
		}
		if w > 0 {
			n++
		}
	}
	return n
}

// refuse applies the guards to a plan that changes something; it returns
// the refusing guard and why, or "".
//
//	guard           webhook   operator   operator with force
//	rate_limit      yes       no         no
//	cooldown        yes       no         no
//	max_concurrent  yes       yes        no
//	min_healthy     yes       yes        no
func (a *Actuator) refuse(cfg *compiled, req Request, p *plan, now time.Time) (Guard, string) {
	if !p.changes() {
		return "", ""
	}
	g := cfg.cfg.Guards
	cur := a.store.cur
	if req.Source.automated() {
		if rl := g.RateLimit; rl.Actions > 0 {
			n := 0
			for _, t := range cur.automated {
				if t.After(now.Add(-rl.Per)) {
					n++
				}
			}
			if n >= rl.Actions {
				return GuardRateLimit, fmt.Sprintf("%d automated actions in the last %s (rate_limit is %d per %s)", n, rl.Per, rl.Actions, rl.Per)
			}
		}
		if g.Cooldown > 0 {
			for _, k := range p.cooldown {
				if last, ok := cur.changed[k]; ok && now.Before(last.Add(g.Cooldown)) {
					return GuardCooldown, fmt.Sprintf("%s of %s changed at %s; not again before %s (cooldown is %s)",
						k.class, k.target, last.UTC().Format(time.RFC3339), last.Add(g.Cooldown).UTC().Format(time.RFC3339), g.Cooldown)
				}
			}
		}
	}
	if req.Force {
		return "", ""
	}
	if max := g.MaxConcurrentActions; max > 0 && p.creates && len(cur.overrides) >= max {
		return GuardMaxConcurrent, fmt.Sprintf("%d overrides active (max_concurrent_actions is %d)", len(cur.overrides), max)
	}
	if min := g.MinHealthyPerVirtualServer; min > 0 && p.pool != nil {
		before, after := serving(p.servingVS, p.pool, cur), serving(p.servingVS, p.pool, p.next)
		if after < before && after < min {
			return GuardMinHealthy, fmt.Sprintf("would leave %d of %d real servers serving in virtual_server %q (min_healthy_per_virtual_server is %d)",
				after, len(p.pool), p.servingVS, min)
		}
	}
	return "", ""
}

// inverse is the action that undoes a reversible action, and the kind of
// override they act on.
func inverse(a Action) (Action, OverrideKind) {
	switch a {
	case ActionDrain:
		return ActionUndrain, KindDrain
	case ActionSetWeight:
		return ActionSetWeight, KindWeight
	default:
		return ActionRelease, KindHold
	}
}

// undoAction is the action that removes an override of kind k.
func undoAction(k OverrideKind) Action {
	switch k {
	case KindDrain:
		return ActionUndrain
	case KindWeight:
		return ActionSetWeight
	default:
		return ActionRelease
	}
}

func cooldownClass(k OverrideKind) string {
	if k == KindHold {
		return "vrrp"
	}
	return string(k)
}

// resolve handles a resolved alert: every action it caused whose rule
// says undo is undone, if the override is still that alert's alone;
// within the cooldown the undo is deferred to the sweep.
func (a *Actuator) resolve(ctx context.Context, cfg *compiled, fp, who, remote string, now time.Time) []Outcome {
	var keys []handledKey
	for k := range a.store.cur.handled {
		if k.alert.Fingerprint == fp {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(x, y handledKey) int {
		if x.alert.Rule != y.alert.Rule {
			return cmp.Compare(x.alert.Rule, y.alert.Rule)
		}
		return x.target.compare(y.target)
	})
	var outs []Outcome
	for _, hk := range keys {
		h := a.store.cur.handled[hk]
		act, kind := inverse(h.Action)
		alert := hk.alert
		req := Request{Action: act, Target: hk.target, Source: SourceWebhook, Who: who, RemoteAddr: remote,
			Reason: "alert resolved", Alert: &alert}
		out := Outcome{Action: act, Target: hk.target, Rule: alert.Rule, Fingerprint: alert.Fingerprint}
		next := a.store.cur.clone()
		delete(next.handled, hk)
		if !h.Undo || !h.Action.reversible() {
			if err := a.store.commit(next); err != nil {
				a.logger.Warn("forgetting a resolved alert", "err", err)
			}
			continue
		}
		if h.DryRun {
			a.store.cur = next
			out.Result, out.Message = ResultDryRun, "alert resolved"
			outs = append(outs, a.finish(req, out, now))
			continue
		}
		key := overrideKey{kind, hk.target}
		o, ok := next.overrides[key]
		i := slices.Index(o.Alerts, alert)
		switch {
		case !ok:
			out.Result, out.Message = ResultNoop, fmt.Sprintf("no %s override", kind)
		case !o.Source.automated() || i < 0:
			out.Result, out.Message = ResultNoop, fmt.Sprintf("the %s override is not this alert's: %s by %s %s", kind, describe(o), o.Source, o.Who)
			if o.Source.automated() {
				out.Message = fmt.Sprintf("the %s override is not this alert's: %s for %s", kind, describe(o), alertList(o.Alerts))
			}
		case len(o.Alerts) > 1:
			o.Alerts = slices.Delete(o.Alerts, i, i+1)
			next.overrides[key] = o
			out.Result, out.Message = ResultNoop, fmt.Sprintf("still wanted for %s", alertList(o.Alerts))
		default:
			ck := cooldownKey{cooldownClass(kind), hk.target}
			if last, ok := next.changed[ck]; ok && now.Before(last.Add(cfg.cfg.Guards.Cooldown)) {
				o.Alerts, o.UndoAt, o.UndoFor = nil, last.Add(cfg.cfg.Guards.Cooldown), alert
				next.overrides[key] = o
				out.Result, out.Guard = ResultRefused, GuardCooldown
				out.Message = fmt.Sprintf("undo deferred until %s (cooldown is %s)", o.UndoAt.UTC().Format(time.RFC3339), cfg.cfg.Guards.Cooldown)
				a.poke()
				break
			}
			delete(next.overrides, key)
			next.changed[ck] = now
			if err := a.commit(ctx, next, kind); err != nil {
				outs = append(outs, a.finish(req, out.failed(err), now))
				continue
			}
			out.Result = ResultApplied
			outs = append(outs, a.finish(req, out, now))
			continue
		}
		if err := a.commit(ctx, next, ""); err != nil {
			outs = append(outs, a.finish(req, out.failed(err), now))
			continue
		}
		outs = append(outs, a.finish(req, out, now))
	}
	return outs
}

func alertList(as []AlertRef) string {
	s := ""
	for i, r := range as {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("alert %s rule %q", r.Fingerprint, r.Rule)
	}
	return s
}

// sweep carries out the deferred undos that are due and forgets what the
// guards and the idempotency no longer need. It returns when it wants to
// run again.
func (a *Actuator) sweep(ctx context.Context, now time.Time) time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	cfg := a.cfg.Load()
	wake := now.Add(time.Minute)
	next := a.store.cur.clone()
	prune(&next, cfg, now)
	type undo struct {
		o   Override
		act Action
	}
	var due []undo
	for _, o := range a.store.cur.list() {
		if o.UndoAt.IsZero() {
			continue
		}
		if now.Before(o.UndoAt) {
			wake = minTime(wake, o.UndoAt)
			continue
		}
		due = append(due, undo{o, undoAction(o.Kind)})
	}
	if len(due) == 0 {
		if pruned(next, a.store.cur) {
			if err := a.store.commit(next); err != nil {
				a.logger.Warn("pruning actuator state", "err", err)
			}
		}
		return wake
	}
	// One commit per kind, so that the executor is told once per kind.
	for _, kind := range Kinds {
		var batch []undo
		for _, u := range due {
			if u.o.Kind == kind {
				batch = append(batch, u)
			}
		}
		if len(batch) == 0 {
			continue
		}
		n := a.store.cur.clone()
		prune(&n, cfg, now)
		for _, u := range batch {
			delete(n.overrides, u.o.key())
			n.changed[cooldownKey{cooldownClass(kind), u.o.Target}] = now
		}
		err := a.commit(ctx, n, kind)
		if err != nil {
			wake = minTime(wake, now.Add(retryInterval))
		}
		for _, u := range batch {
			alert := u.o.UndoFor
			req := Request{Action: u.act, Target: u.o.Target, Source: SourceWebhook, Who: "vigil",
				Reason: "alert resolved; undo deferred by the cooldown", Alert: &alert}
			out := Outcome{Action: u.act, Target: u.o.Target, Rule: alert.Rule, Fingerprint: alert.Fingerprint, Result: ResultApplied}
			if err != nil {
				out = out.failed(err)
			}
			a.finish(req, out, now)
		}
	}
	return wake
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// pruned reports whether prune removed anything from was to give s (it
// only removes).
func pruned(s, was state) bool {
	return len(s.handled) != len(was.handled) || len(s.changed) != len(was.changed) || len(s.automated) != len(was.automated)
}
