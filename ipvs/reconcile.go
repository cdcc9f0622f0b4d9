package ipvs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Options configure a Reconciler.
type Options struct {
	// Kernel is the IPVS table to program.
	Kernel Kernel
	// StateDir holds the ownership file (StateFile). Empty keeps
	// ownership in memory only: after a restart vigil then re-adopts the
	// services it is configured with, but forgets the ones it should
	// remove and any pending drains.
	StateDir string
	// DrainGrace is how long a real server (or service) removed from the
	// configuration keeps its existing connections at weight 0 before it
	// is deleted. 0 deletes at once.
	DrainGrace time.Duration
	// ResyncInterval bounds how long the Reconciler trusts the table it
	// read. A pass reads the whole kernel table (one dump of the services
	// and one of each service's destinations) when the last such read is
	// ResyncInterval old or older; in between, a pass reads only the
	// services it has to re-plan: those whose desired state differs from
	// the previous pass's, those with a drain deadline due, and those the
	// previous pass left unknown (an operation failed). A change made
	// behind vigil's back to any other service is found, and repaired, by
	// the next full read. 0 reads the whole table on every pass.
	ResyncInterval time.Duration
	// Logger receives decisions; nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Reconciler makes the kernel's IPVS table hold the desired services,
// touching only the services it owns: those it created or adopted. It
// never flushes: a service in the kernel that vigil neither owns nor wants
// is left alone. A Reconciler is owned by one goroutine; it is not safe for
// concurrent use.
type Reconciler struct {
	kernel Kernel
	grace  time.Duration
	// graceBy overrides grace per service (SetDrainGrace).
	graceBy map[ServiceKey]time.Duration
	log     *slog.Logger
	now     func() time.Time
	own     *ownership

	// applied is what each owned service looked like in the kernel after
	// the last pass that programmed it without error; a difference found
	// later was made behind vigil's back (drift).
	applied map[ServiceKey]Service

	// resync is Options.ResyncInterval.
	resync time.Duration
	// fullAt is when a pass last read the whole table; zero when the next
	// pass must (none has yet, or a failure left the table unknown).
	fullAt time.Time
	// lastWant is the previous pass's desired table, normalized: a pass
	// that does not read the whole table re-plans only the services whose
	// desired state differs from it.
	lastWant map[ServiceKey]Service
	// replan are services to re-plan on the next pass although their
	// desired state did not change (their drain grace did).
	replan map[ServiceKey]bool
	// observed is the kernel table as the last pass left it, for
	// Observed: services as read, by that pass or an earlier one, with
	// the pass's own operations applied. nil after a failed read.
	observed map[ServiceKey]Service
	// unavailable is set while the kernel has no IPVS, so that it is
	// logged once.
	unavailable bool
}

// Result counts what one Reconcile pass changed in the kernel.
type Result struct {
	ServiceCreate int
	ServiceUpdate int
	ServiceDelete int
	DestCreate    int
	DestUpdate    int
	DestDelete    int
	// DriftRepaired counts the changes above that undid a change made
	// behind vigil's back to an owned service since vigil last programmed
	// it (a deleted service or destination, an edited weight, an added
	// destination...). Differences found on the first pass after a start
	// are not drift: vigil cannot know who made them.
	DriftRepaired int
	// Adopted counts services found in the kernel with a desired key and
	// taken into ownership without being recreated.
	Adopted int
	// Draining is how many destinations and services wait for their drain
	// deadline after this pass.
	Draining int
}

// Changes is the number of kernel operations the pass performed.
func (r Result) Changes() int {
	return r.ServiceCreate + r.ServiceUpdate + r.ServiceDelete + r.DestCreate + r.DestUpdate + r.DestDelete
}

// ByKind returns the operation counts keyed by the names used in metrics:
// service_create, service_update, service_delete, dest_create, dest_update,
// dest_delete.
func (r Result) ByKind() map[string]int {
	return map[string]int{
		"service_create": r.ServiceCreate,
		"service_update": r.ServiceUpdate,
		"service_delete": r.ServiceDelete,
		"dest_create":    r.DestCreate,
		"dest_update":    r.DestUpdate,
		"dest_delete":    r.DestDelete,
	}
}

// Drain is a removal waiting for its deadline.
type Drain struct {
	Service ServiceKey
	// Destination is the drained real server; zero when the whole service
	// is drained.
	Destination netip.AddrPort
	Deadline    time.Time
}

// NewReconciler returns a Reconciler, loading ownership and pending drains
// from opts.StateDir.
func NewReconciler(opts Options) (*Reconciler, error) {
	if opts.Kernel == nil {
		return nil, errors.New("ipvs: reconciler needs a kernel")
	}
	path := ""
	if opts.StateDir != "" {
		path = filepath.Join(opts.StateDir, StateFile)
	}
	own, err := loadOwnership(path)
	if err != nil {
		return nil, err
	}
	r := &Reconciler{
		kernel:  opts.Kernel,
		grace:   max(opts.DrainGrace, 0),
		log:     opts.Logger,
		now:     opts.Now,
		own:     own,
		applied: map[ServiceKey]Service{},
		resync:  max(opts.ResyncInterval, 0),
		replan:  map[ServiceKey]bool{},
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.now == nil {
		r.now = time.Now
	}
	return r, nil
}

// Owned returns the keys of the services vigil owns, sorted.
func (r *Reconciler) Owned() []ServiceKey {
	return slices.SortedFunc(maps.Keys(r.own.owned), ServiceKey.Compare)
}

// Drains returns the pending drains, sorted by service and destination.
func (r *Reconciler) Drains() []Drain {
	var out []Drain
	for _, d := range r.own.doc().Drains {
		out = append(out, Drain{Service: d.Service, Destination: d.Destination, Deadline: d.Deadline})
	}
	return out
}

// NextDeadline returns the earliest drain deadline: the owner should
// reconcile again then. ok is false when nothing is draining.
func (r *Reconciler) NextDeadline() (t time.Time, ok bool) {
	for _, d := range r.own.drains {
		if !ok || d.Before(t) {
			t, ok = d, true
		}
	}
	return t, ok
}

type opKind uint8

const (
	opCreateService opKind = iota
	opUpdateService
	opRemoveService
	opCreateDest
	opUpdateDest
	opRemoveDest
)

func (k opKind) String() string {
	return [...]string{"create service", "update service", "remove service",
		"create destination", "update destination", "remove destination"}[k]
}

// op is one kernel operation of a pass.
type op struct {
	kind  opKind
	svc   Service // the service (create/update), or just its key
	dest  Destination
	drift bool   // undoes a change made behind vigil's back
	why   string // for the log
}

// plan is the outcome of comparing the desired table with the kernel's.
type plan struct {
	full     bool         // the whole table was read and planned
	keys     []ServiceKey // the services planned
	ops      []op
	expected map[ServiceKey]Service // owned services as they will be once ops are applied
	dirty    bool                   // ownership or drains changed
	adopted  int
}

// Reconcile makes the kernel hold desired, and returns what it changed. It
// applies as much as it can: an error on one service does not stop the
// others. With ErrUnavailable (wrapped) nothing was done; that is logged
// once until IPVS appears.
//
// The pass reads the whole kernel table, or, within Options.ResyncInterval
// of the last such read, only the services it has to re-plan; a change
// made behind vigil's back to a service it does not read waits for the
// next full read. What the pass does is never planned from anything but a
// read of the same pass, and if an operation of a pass that did not read
// everything finds the kernel other than read (a service or destination
// missing, or already there), the pass reads the whole table and plans
// again.
func (r *Reconciler) Reconcile(ctx context.Context, desired []Service) (Result, error) {
	want, err := normalizeDesired(desired)
	if err != nil {
		return Result{}, err
	}
	now := r.now()
	full := r.fullDue(now)
	var keys []ServiceKey
	if !full {
		keys = r.affected(want, now)
	}
	// The drift baselines of the services planned, for a second attempt:
	// a failed operation makes them unknown.
	var base map[ServiceKey]Service
	if !full {
		base = make(map[ServiceKey]Service, len(keys))
		for _, k := range keys {
			if s, ok := r.applied[k]; ok {
				base[k] = s
			}
		}
	}
	res, stale, err := r.pass(ctx, want, full, keys, now)
	if stale {
		r.log.Warn("IPVS table differs from what a targeted pass read; reading all of it and planning again", "err", err)
		for k, s := range base {
			if _, ok := r.applied[k]; !ok {
				r.applied[k] = s
			}
		}
		more, _, moreErr := r.pass(ctx, want, true, nil, now)
		res = res.plus(more)
		err = moreErr
	}
	r.lastWant = want
	if res.Changes() > 0 {
		r.log.Info("IPVS table reconciled",
			"service_create", res.ServiceCreate, "service_update", res.ServiceUpdate, "service_delete", res.ServiceDelete,
			"dest_create", res.DestCreate, "dest_update", res.DestUpdate, "dest_delete", res.DestDelete,
			"drift_repaired", res.DriftRepaired, "draining", res.Draining)
	}
	return res, err
}

// plus adds the changes of a second attempt at a pass to r.
func (r Result) plus(o Result) Result {
	return Result{
		ServiceCreate: r.ServiceCreate + o.ServiceCreate,
		ServiceUpdate: r.ServiceUpdate + o.ServiceUpdate,
		ServiceDelete: r.ServiceDelete + o.ServiceDelete,
		DestCreate:    r.DestCreate + o.DestCreate,
		DestUpdate:    r.DestUpdate + o.DestUpdate,
		DestDelete:    r.DestDelete + o.DestDelete,
		DriftRepaired: r.DriftRepaired + o.DriftRepaired,
		Adopted:       r.Adopted + o.Adopted,
		Draining:      o.Draining,
	}
}

// fullDue reports whether the next pass must read the whole table.
func (r *Reconciler) fullDue(now time.Time) bool {
	return r.resync == 0 || r.fullAt.IsZero() || r.lastWant == nil || !now.Before(r.fullAt.Add(r.resync))
}

// NextResync returns when the next pass will read the whole table again
// because Options.ResyncInterval has passed since the last one did; an
// owner that wants changes made behind its back repaired within the
// interval reconciles then at the latest. ok is false when there is no
// such time: every pass reads the whole table (ResyncInterval 0), or the
// next one will anyway.
func (r *Reconciler) NextResync() (t time.Time, ok bool) {
	if r.resync == 0 || r.fullAt.IsZero() || r.lastWant == nil {
		return time.Time{}, false
	}
	return r.fullAt.Add(r.resync), true
}

// affected returns the services a pass that does not read the whole table
// must read and plan: desired ones first, then owned ones no longer
// desired, each group sorted. A service is affected when its desired state
// differs from the previous pass's, when it is owned and its state after
// the previous pass is unknown (not in applied: an operation failed), when
// one of its drains is due, or when SetDrainGrace changed its grace.
func (r *Reconciler) affected(want map[ServiceKey]Service, now time.Time) []ServiceKey {
	set := map[ServiceKey]bool{}
	for k, w := range want {
		prev, was := r.lastWant[k]
		_, known := r.applied[k]
		if !was || !known || !sameDesired(w, prev) {
			set[k] = true
		}
	}
	for k := range r.own.owned {
		if _, ok := want[k]; ok {
			continue
		}
		_, was := r.lastWant[k]
		_, known := r.applied[k]
		if was || !known {
			set[k] = true
		}
	}
	for dk, t := range r.own.drains {
		if !now.Before(t) {
			set[dk.svc] = true
		}
	}
	for k := range r.replan {
		set[k] = true
	}
	return orderKeys(set, want)
}

// orderKeys lists keys in the order passes plan them: desired services
// first, so that a service whose key changed is created before the old one
// is drained, then the others; each group sorted.
func orderKeys(keys map[ServiceKey]bool, want map[ServiceKey]Service) []ServiceKey {
	var wanted, other []ServiceKey
	for k := range keys {
		if _, ok := want[k]; ok {
			wanted = append(wanted, k)
		} else {
			other = append(other, k)
		}
	}
	slices.SortFunc(wanted, ServiceKey.Compare)
	slices.SortFunc(other, ServiceKey.Compare)
	return append(wanted, other...)
}

// sameDesired reports whether two normalized desired services are alike.
func sameDesired(a, b Service) bool {
	return a.Key == b.Key && a.sameAttrs(b) &&
		slices.EqualFunc(a.Destinations, b.Destinations, Destination.sameConfig) &&
		slices.Equal(a.Withdrawn, b.Withdrawn)
}

// pass reads the kernel (all of it when full, else the services keys),
// plans keys (every desired and owned service when full) and applies the
// plan. stale reports that a pass that was not full failed an operation
// because the kernel was not as read: the caller should try again with a
// full pass.
func (r *Reconciler) pass(ctx context.Context, want map[ServiceKey]Service, full bool, keys []ServiceKey, now time.Time) (res Result, stale bool, err error) {
	raw, have, err := r.read(ctx, full, keys)
	if err != nil {
		return Result{}, false, err
	}
	if full {
		set := make(map[ServiceKey]bool, len(want)+len(r.own.owned))
		for k := range want {
			set[k] = true
		}
		for k := range r.own.owned {
			set[k] = true
		}
		keys = orderKeys(set, want)
	}

	p := r.plan(want, have, now, full, keys)
	var errs []error
	if p.dirty {
		// Record new ownership before creating: a crash after the create
		// must not leave a service vigil does not know it owns. A failed
		// write is reported, but the table is still programmed.
		if err := r.own.save(); err != nil {
			r.log.Error("cannot record IPVS ownership", "err", err)
			errs = append(errs, err)
		}
	}
	out := r.apply(ctx, p)
	if out.err != nil {
		errs = append(errs, out.err)
	}
	r.observe(ctx, p, raw, out)
	res = out.res
	res.Adopted = p.adopted
	res.Draining = len(r.own.drains)
	return res, out.stale && !full, errors.Join(errs...)
}

// read reads the whole table (full) or the services keys. raw holds the
// services as read, counters included; have the same normalized, for
// planning. Both are keyed by the normalized key.
func (r *Reconciler) read(ctx context.Context, full bool, keys []ServiceKey) (raw, have map[ServiceKey]Service, err error) {
	add := func(s Service) {
		n := s.normalized()
		s.Key = n.Key
		raw[n.Key], have[n.Key] = s, n
	}
	if full {
		actual, err := r.kernel.Services(ctx)
		if err != nil {
			return nil, nil, r.readFailed(err)
		}
		raw, have = make(map[ServiceKey]Service, len(actual)), make(map[ServiceKey]Service, len(actual))
		for _, s := range actual {
			add(s)
		}
		r.fullAt = r.now()
	} else {
		raw, have = make(map[ServiceKey]Service, len(keys)), make(map[ServiceKey]Service, len(keys))
		for _, k := range keys {
			s, err := r.kernel.Service(ctx, k)
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				return nil, nil, r.readFailed(err)
			}
			add(s)
		}
	}
	if r.unavailable {
		r.log.Info("IPVS is available")
		r.unavailable = false
	}
	return raw, have, nil
}

// readFailed forgets the table, so that the next pass reads all of it, and
// returns the error to report.
func (r *Reconciler) readFailed(err error) error {
	r.fullAt = time.Time{}
	r.observed = nil
	if errors.Is(err, ErrUnavailable) {
		if !r.unavailable {
			r.log.Warn("IPVS is not available; virtual services are not programmed until it is", "err", err)
			r.unavailable = true
		}
		return err
	}
	return fmt.Errorf("ipvs: reading the kernel table: %w", err)
}

// Observed returns the service with key as the last pass left the kernel,
// without reading the kernel: as read by that pass or, for a service it
// did not need to read, by an earlier one, with the pass's own operations
// applied; the counters are as read. ok is false for a service not in the
// kernel, and for every service after a pass that could not read the
// kernel. Use it for metrics instead of reading the table again. The
// Destinations slice is shared: do not modify it.
func (r *Reconciler) Observed(key ServiceKey) (s Service, ok bool) {
	s, ok = r.observed[key.normalize()]
	return s, ok
}

// observe updates the observed table after a pass: the services read, then
// for the services the pass changed what it expects them to hold now, with
// the counters as read. A service an operation failed on is read again,
// unless the pass is to be repeated in full anyway.
func (r *Reconciler) observe(ctx context.Context, p *plan, raw map[ServiceKey]Service, out outcome) {
	if p.full || r.observed == nil {
		r.observed = raw
	} else {
		for _, k := range p.keys {
			if s, ok := raw[k]; ok {
				r.observed[k] = s
			} else {
				delete(r.observed, k)
			}
		}
	}
	if out.cancelled {
		r.fullAt = time.Time{} // what was done is unknown
		return
	}
	for k := range out.changed {
		switch {
		case out.failed[k]:
		case out.removed[k]:
			delete(r.observed, k)
		default:
			if e, ok := p.expected[k]; ok {
				r.observed[k] = withCounters(e, raw[k])
			}
		}
	}
	if out.stale && !p.full {
		return
	}
	for _, k := range slices.SortedFunc(maps.Keys(out.failed), ServiceKey.Compare) {
		s, err := r.kernel.Service(ctx, k)
		switch {
		case err == nil:
			s.Key = k
			r.observed[k] = s
		case errors.Is(err, os.ErrNotExist):
			delete(r.observed, k)
		default:
			r.log.Debug("cannot read back a service an operation failed on", "service", k, "err", err)
			delete(r.observed, k)
		}
	}
}

// withCounters returns e, a service as a pass expects it in the kernel,
// with the counters of read, the same service as read before the pass.
func withCounters(e, read Service) Service {
	e.Stats = read.Stats
	e.Withdrawn = nil
	byAddr := destIndex(read.Destinations)
	ds := make([]Destination, len(e.Destinations))
	for i, d := range e.Destinations {
		d.Stats = byAddr[d.Address].Stats
		ds[i] = d
	}
	e.Destinations = ds
	return e
}

// normalizeDesired validates and indexes the desired table.
func normalizeDesired(desired []Service) (map[ServiceKey]Service, error) {
	want := make(map[ServiceKey]Service, len(desired))
	var errs []error
	for _, s := range desired {
		n := s.normalized()
		if err := n.Validate(); err != nil {
			errs = append(errs, err)
			continue
		}
		if _, dup := want[n.Key]; dup {
			errs = append(errs, fmt.Errorf("service %s: listed twice", n.Key))
			continue
		}
		want[n.Key] = n
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("ipvs: invalid desired table: %w", errors.Join(errs...))
	}
	return want, nil
}

// plan compares want and have for the services keys (desired ones first),
// updates ownership and drains, and lists the operations to perform.
func (r *Reconciler) plan(want, have map[ServiceKey]Service, now time.Time, full bool, keys []ServiceKey) *plan {
	p := &plan{full: full, keys: keys, expected: make(map[ServiceKey]Service, len(keys))}
	if full {
		clear(r.replan)
	}
	for _, key := range keys {
		delete(r.replan, key)
		if w, ok := want[key]; ok {
			r.planWanted(p, w, have, now)
		} else if r.own.owned[key] {
			r.planUnwanted(p, key, have, now)
		}
	}
	// Forget drains of services no longer owned.
	for k := range r.own.drains {
		if !r.own.owned[k.svc] {
			delete(r.own.drains, k)
			p.dirty = true
		}
	}
	return p
}

func (r *Reconciler) cancelDrain(p *plan, k drainKey) {
	if _, ok := r.own.drains[k]; ok {
		delete(r.own.drains, k)
		p.dirty = true
		if k.dest.IsValid() {
			r.log.Info("drain cancelled, real server is wanted again", "service", k.svc, "destination", k.dest)
		} else {
			r.log.Info("drain cancelled, service is wanted again", "service", k.svc)
		}
	}
}

// SetDrainGrace sets the drain grace of individual services (a virtual
// server's drain_grace), overriding Options.DrainGrace for them. Services
// set earlier keep their grace, so one removed from the configuration
// drains with the grace it was configured with.
func (r *Reconciler) SetDrainGrace(by map[ServiceKey]time.Duration) {
	if r.graceBy == nil {
		r.graceBy = map[ServiceKey]time.Duration{}
	}
	for k, d := range by {
		d = max(d, 0)
		if d != r.graceFor(k) {
			r.replan[k] = true // plan its drains with the new grace
		}
		r.graceBy[k] = d
	}
}

func (r *Reconciler) graceFor(k ServiceKey) time.Duration {
	if d, ok := r.graceBy[k]; ok {
		return d
	}
	return r.grace
}

// startDrain returns the drain's deadline, recording a new one if needed.
func (r *Reconciler) startDrain(p *plan, k drainKey, now time.Time) time.Time {
	if t, ok := r.own.drains[k]; ok {
		return t
	}
	t := now.Add(r.graceFor(k.svc))
	r.own.drains[k] = t
	p.dirty = true
	if k.dest.IsValid() {
		r.log.Info("draining real server: weight 0 until removal", "service", k.svc, "destination", k.dest, "deadline", t)
	} else {
		r.log.Info("draining service: weight 0 until removal", "service", k.svc, "deadline", t)
	}
	return t
}

func destIndex(ds []Destination) map[netip.AddrPort]Destination {
	m := make(map[netip.AddrPort]Destination, len(ds))
	for _, d := range ds {
		m[d.Address] = d
	}
	return m
}

// planWanted plans a desired service.
func (r *Reconciler) planWanted(p *plan, w Service, have map[ServiceKey]Service, now time.Time) {
	key := w.Key
	r.cancelDrain(p, drainKey{svc: key})
	h, inKernel := have[key]
	if !r.own.owned[key] {
		r.own.owned[key] = true
		p.dirty = true
		if inKernel {
			p.adopted++
			r.log.Info("adopted existing IPVS service", "service", key)
		}
	}
	prev, known := r.applied[key]
	prevDests := destIndex(prev.Destinations)

	if !inKernel {
		why := "new"
		if known {
			why = "deleted behind vigil's back"
		}
		p.ops = append(p.ops, op{kind: opCreateService, svc: w, drift: known, why: why})
		for dk := range r.own.drains {
			if dk.svc == key {
				delete(r.own.drains, dk)
				p.dirty = true
			}
		}
		for _, d := range w.Destinations {
			p.ops = append(p.ops, op{kind: opCreateDest, svc: Service{Key: key}, dest: d, why: why})
		}
		p.expected[key] = w
		return
	}
	if !h.sameAttrs(w) {
		drift := known && !h.sameAttrs(prev)
		p.ops = append(p.ops, op{kind: opUpdateService, svc: w, drift: drift, why: "attributes: " + h.String()})
	}
	exp := w
	exp.Destinations = slices.Clone(w.Destinations)
	wanted := destIndex(w.Destinations)
	current := destIndex(h.Destinations)
	for _, d := range w.Destinations {
		r.cancelDrain(p, drainKey{key, d.Address})
		k, ok := current[d.Address]
		pd, had := prevDests[d.Address]
		switch {
		case !ok:
			p.ops = append(p.ops, op{kind: opCreateDest, svc: Service{Key: key}, dest: d, drift: known && had, why: "missing"})
		case !k.sameConfig(d):
			p.ops = append(p.ops, op{kind: opUpdateDest, svc: Service{Key: key}, dest: d,
				drift: known && (!had || !pd.sameConfig(k)), why: "was " + k.String()})
		}
	}
	withdrawn := make(map[netip.AddrPort]bool, len(w.Withdrawn))
	for _, a := range w.Withdrawn {
		withdrawn[a] = true
	}
	for _, k := range h.Destinations {
		if _, ok := wanted[k.Address]; ok {
			continue
		}
		pd, had := prevDests[k.Address]
		drift := known && (!had || !pd.sameConfig(k))
		dk := drainKey{key, k.Address}
		// A withdrawn server goes at once; any other is drained first. A
		// drain ends (is forgotten) only once the removal succeeded.
		switch {
		case withdrawn[k.Address]:
			p.ops = append(p.ops, op{kind: opRemoveDest, svc: Service{Key: key}, dest: k, drift: drift, why: "withdrawn"})
			continue
		case r.graceFor(key) == 0:
			p.ops = append(p.ops, op{kind: opRemoveDest, svc: Service{Key: key}, dest: k, drift: drift, why: "not wanted"})
			continue
		case !now.Before(r.startDrain(p, dk, now)):
			p.ops = append(p.ops, op{kind: opRemoveDest, svc: Service{Key: key}, dest: k, drift: drift, why: "drained"})
			continue
		}
		drained := k
		drained.Weight = 0
		if k.Weight != 0 {
			p.ops = append(p.ops, op{kind: opUpdateDest, svc: Service{Key: key}, dest: drained, drift: drift, why: "draining"})
		}
		exp.Destinations = append(exp.Destinations, drained)
	}
	// Forget drains of destinations that are gone from the kernel.
	for dk := range r.own.drains {
		if dk.svc == key && dk.dest.IsValid() {
			if _, ok := current[dk.dest]; !ok {
				delete(r.own.drains, dk)
				p.dirty = true
			}
		}
	}
	slices.SortFunc(exp.Destinations, func(a, b Destination) int { return a.Address.Compare(b.Address) })
	p.expected[key] = exp
}

// planUnwanted plans an owned service that is no longer desired: drain
// it, then remove it.
func (r *Reconciler) planUnwanted(p *plan, key ServiceKey, have map[ServiceKey]Service, now time.Time) {
	h, inKernel := have[key]
	if !inKernel {
		r.log.Info("owned IPVS service is gone and no longer wanted; forgetting it", "service", key)
		delete(r.own.owned, key)
		p.dirty = true
		return
	}
	// The service drain supersedes its destinations' drains.
	for dk := range r.own.drains {
		if dk.svc == key && dk.dest.IsValid() {
			delete(r.own.drains, dk)
			p.dirty = true
		}
	}
	if r.graceFor(key) == 0 || !now.Before(r.startDrain(p, drainKey{svc: key}, now)) {
		p.ops = append(p.ops, op{kind: opRemoveService, svc: Service{Key: key}, why: "not wanted"})
		return
	}
	prev, known := r.applied[key]
	prevDests := destIndex(prev.Destinations)
	exp := h
	exp.Destinations = slices.Clone(h.Destinations)
	for i, d := range h.Destinations {
		if d.Weight == 0 {
			continue
		}
		pd, had := prevDests[d.Address]
		drained := d
		drained.Weight = 0
		p.ops = append(p.ops, op{kind: opUpdateDest, svc: Service{Key: key}, dest: drained,
			drift: known && (!had || !pd.sameConfig(d)), why: "draining service"})
		exp.Destinations[i] = drained
	}
	p.expected[key] = exp
}

// outcome is what applying a plan did.
type outcome struct {
	res Result
	err error
	// changed are the services with at least one operation attempted,
	// failed those with one that failed (their state is unknown), removed
	// those removed.
	changed, failed, removed map[ServiceKey]bool
	// stale is set when an operation failed because the kernel did not
	// hold what the plan assumed: a service or destination missing, or
	// already there.
	stale     bool
	cancelled bool
}

// apply performs the plan's operations, counting those that succeeded.
func (r *Reconciler) apply(ctx context.Context, p *plan) outcome {
	out := outcome{changed: map[ServiceKey]bool{}, failed: map[ServiceKey]bool{}, removed: map[ServiceKey]bool{}}
	res := &out.res
	var errs []error
	notCreated := map[ServiceKey]bool{} // creating the service failed
	dirty := false                      // ownership or drains changed
	for _, o := range p.ops {
		key := o.svc.Key
		if notCreated[key] && o.kind == opCreateDest {
			continue
		}
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			out.cancelled = true
			break
		}
		out.changed[key] = true
		err := r.do(ctx, o)
		if err != nil && (o.kind == opRemoveService || o.kind == opRemoveDest) && errors.Is(err, os.ErrNotExist) {
			err = nil // already gone
		}
		if err != nil {
			r.log.Error("IPVS operation failed", "op", o.kind.String(), "service", key, "destination", o.dest.Address, "err", err)
			errs = append(errs, err)
			if o.kind == opCreateService {
				notCreated[key] = true
			}
			out.failed[key] = true
			// ENOENT from creating or editing a service is a missing
			// scheduler module, not a stale read.
			if (errors.Is(err, os.ErrNotExist) || errors.Is(err, os.ErrExist)) && !errors.Is(err, ErrUnknownScheduler) {
				out.stale = true
			}
			continue
		}
		if o.drift {
			res.DriftRepaired++
			r.log.Warn("repaired IPVS drift", "op", o.kind.String(), "service", key, "destination", o.dest.Address, "found", o.why)
		} else {
			r.log.Debug("IPVS operation", "op", o.kind.String(), "service", key, "destination", o.dest.Address, "why", o.why)
		}
		switch o.kind {
		case opCreateService:
			res.ServiceCreate++
		case opUpdateService:
			res.ServiceUpdate++
		case opRemoveService:
			res.ServiceDelete++
			out.removed[key] = true
			delete(r.own.owned, key)
			for dk := range r.own.drains {
				if dk.svc == key {
					delete(r.own.drains, dk)
				}
			}
			dirty = true
		case opCreateDest:
			res.DestCreate++
		case opUpdateDest:
			res.DestUpdate++
		case opRemoveDest:
			res.DestDelete++
			dk := drainKey{key, o.dest.Address}
			if _, ok := r.own.drains[dk]; ok {
				delete(r.own.drains, dk)
				dirty = true
			}
		}
	}

	// What the next pass should find, for drift detection; unknown after
	// a failure or a cancelled pass. A pass that planned only some
	// services keeps what it knows of the others.
	switch {
	case out.cancelled:
		clear(r.applied)
	case p.full:
		r.applied = make(map[ServiceKey]Service, len(p.expected))
	}
	if !out.cancelled {
		for _, k := range p.keys {
			delete(r.applied, k)
			if s, ok := p.expected[k]; ok && !out.failed[k] {
				r.applied[k] = s
			}
		}
	}
	if dirty {
		if err := r.own.save(); err != nil {
			r.log.Error("cannot record IPVS ownership", "err", err)
			errs = append(errs, err)
		}
	}
	out.err = errors.Join(errs...)
	return out
}

func (r *Reconciler) do(ctx context.Context, o op) error {
	switch o.kind {
	case opCreateService:
		return r.kernel.CreateService(ctx, o.svc)
	case opUpdateService:
		return r.kernel.UpdateService(ctx, o.svc)
	case opRemoveService:
		return r.kernel.RemoveService(ctx, o.svc.Key)
	case opCreateDest:
		return r.kernel.CreateDestination(ctx, o.svc.Key, o.dest)
	case opUpdateDest:
		return r.kernel.UpdateDestination(ctx, o.svc.Key, o.dest)
	case opRemoveDest:
		return r.kernel.RemoveDestination(ctx, o.svc.Key, o.dest.Address)
	}
	return fmt.Errorf("ipvs: unknown operation %d", o.kind)
}
