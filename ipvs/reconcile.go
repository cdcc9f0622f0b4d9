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
	ops      []op
	expected map[ServiceKey]Service // owned services as they will be once ops are applied
	dirty    bool                   // ownership or drains changed
	adopted  int
}

// Reconcile makes the kernel hold desired, and returns what it changed. It
// applies as much as it can: an error on one service does not stop the
// others. With ErrUnavailable (wrapped) nothing was done; that is logged
// once until IPVS appears.
func (r *Reconciler) Reconcile(ctx context.Context, desired []Service) (Result, error) {
	want, err := normalizeDesired(desired)
	if err != nil {
		return Result{}, err
	}
	actual, err := r.kernel.Services(ctx)
	if err != nil {
		if errors.Is(err, ErrUnavailable) {
			if !r.unavailable {
				r.log.Warn("IPVS is not available; virtual services are not programmed until it is", "err", err)
				r.unavailable = true
			}
			return Result{}, err
		}
		return Result{}, fmt.Errorf("ipvs: reading the kernel table: %w", err)
	}
	if r.unavailable {
		r.log.Info("IPVS is available")
		r.unavailable = false
	}
	have := make(map[ServiceKey]Service, len(actual))
	for _, s := range actual {
		n := s.normalized()
		have[n.Key] = n
	}

	p := r.plan(want, have, r.now())
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
	res, applyErr := r.apply(ctx, p)
	if applyErr != nil {
		errs = append(errs, applyErr)
	}
	res.Adopted = p.adopted
	res.Draining = len(r.own.drains)
	if res.Changes() > 0 {
		r.log.Info("IPVS table reconciled",
			"service_create", res.ServiceCreate, "service_update", res.ServiceUpdate, "service_delete", res.ServiceDelete,
			"dest_create", res.DestCreate, "dest_update", res.DestUpdate, "dest_delete", res.DestDelete,
			"drift_repaired", res.DriftRepaired, "draining", res.Draining)
	}
	return res, errors.Join(errs...)
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

// plan compares want and have for owned services, updates ownership and
// drains, and lists the operations to perform.
func (r *Reconciler) plan(want, have map[ServiceKey]Service, now time.Time) *plan {
	p := &plan{expected: make(map[ServiceKey]Service, len(want))}
	for _, key := range slices.SortedFunc(maps.Keys(want), ServiceKey.Compare) {
		r.planWanted(p, want[key], have, now)
	}
	for _, key := range slices.SortedFunc(maps.Keys(r.own.owned), ServiceKey.Compare) {
		if _, ok := want[key]; !ok {
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
		r.graceBy[k] = max(d, 0)
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

// apply performs the plan's operations, counting those that succeeded.
func (r *Reconciler) apply(ctx context.Context, p *plan) (Result, error) {
	var res Result
	var errs []error
	failed := map[ServiceKey]bool{}     // state unknown: no drift baseline
	notCreated := map[ServiceKey]bool{} // creating the service failed
	dirty := false                      // ownership or drains changed
	cancelled := false
	for _, o := range p.ops {
		key := o.svc.Key
		if notCreated[key] && o.kind == opCreateDest {
			continue
		}
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			cancelled = true
			break
		}
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
			failed[key] = true
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
	// a failure or a cancelled pass.
	applied := make(map[ServiceKey]Service, len(p.expected))
	if !cancelled {
		for k, s := range p.expected {
			if !failed[k] {
				applied[k] = s
			}
		}
	}
	r.applied = applied
	if dirty {
		if err := r.own.save(); err != nil {
			r.log.Error("cannot record IPVS ownership", "err", err)
			errs = append(errs, err)
		}
	}
	return res, errors.Join(errs...)
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
