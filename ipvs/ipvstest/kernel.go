// Package ipvstest provides a recording in-memory ipvs.Kernel for tests.
package ipvstest

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"sync"

	"github.com/vigil-lb/vigil/ipvs"
)

// Kernel is an in-memory IPVS table that records every mutating call. It
// behaves like the kernel where the Reconciler can tell: creating what
// exists fails with os.ErrExist, touching what does not exist fails with
// os.ErrNotExist, removing a service removes its destinations. It is safe
// for concurrent use.
type Kernel struct {
	mu     sync.Mutex
	table  map[ipvs.ServiceKey]*ipvs.Service
	ops    []string
	reads  int               // Services calls
	sreads []ipvs.ServiceKey // Service calls, in order
	failOn map[string]error

	// Unavailable makes every call fail with ipvs.ErrUnavailable.
	Unavailable bool
}

// New returns an empty Kernel.
func New() *Kernel {
	return &Kernel{table: map[ipvs.ServiceKey]*ipvs.Service{}, failOn: map[string]error{}}
}

// Ops returns the recorded operations, one string each, in the form
// "create-service tcp/192.0.2.1:80 wlc", "update-dest tcp/192.0.2.1:80
// 10.0.0.1:80 nat weight 0", "remove-dest tcp/192.0.2.1:80 10.0.0.1:80",
// "remove-service tcp/192.0.2.1:80".
func (k *Kernel) Ops() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.ops)
}

// Reset forgets the recorded operations and reads.
func (k *Kernel) Reset() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.ops = nil
	k.reads = 0
	k.sreads = nil
}

// Reads returns how many times Services (a read of the whole table) was
// called.
func (k *Kernel) Reads() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.reads
}

// ServiceReads returns the keys Service (a read of one service) was called
// with, in order, missing services included.
func (k *Kernel) ServiceReads() []ipvs.ServiceKey {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.sreads)
}

// FailOn makes the operation whose recorded form is op fail with err
// (nil clears it). The failed call is still recorded, with " (failed)".
func (k *Kernel) FailOn(op string, err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err == nil {
		delete(k.failOn, op)
		return
	}
	k.failOn[op] = err
}

// Set puts s into the table as it is, as if someone ran ipvsadm; it is not
// recorded.
func (k *Kernel) Set(s ipvs.Service) {
	k.mu.Lock()
	defer k.mu.Unlock()
	c := clone(s)
	k.table[s.Key] = &c
}

// Delete removes a service without recording it.
func (k *Kernel) Delete(key ipvs.ServiceKey) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.table, key)
}

// Lookup returns the service with key, and whether it exists, for a test
// to inspect; it is not counted as a read.
func (k *Kernel) Lookup(key ipvs.ServiceKey) (ipvs.Service, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	s, ok := k.table[key]
	if !ok {
		return ipvs.Service{}, false
	}
	return clone(*s), true
}

func clone(s ipvs.Service) ipvs.Service {
	s.Destinations = slices.Clone(s.Destinations)
	s.Withdrawn = nil
	return s
}

func (k *Kernel) record(op string) error {
	if k.Unavailable {
		return fmt.Errorf("%w (fake)", ipvs.ErrUnavailable)
	}
	if err, ok := k.failOn[op]; ok {
		k.ops = append(k.ops, op+" (failed)")
		return err
	}
	k.ops = append(k.ops, op)
	return nil
}

// Services implements ipvs.Kernel.
func (k *Kernel) Services(ctx context.Context) ([]ipvs.Service, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.Unavailable {
		return nil, fmt.Errorf("%w (fake)", ipvs.ErrUnavailable)
	}
	k.reads++
	out := make([]ipvs.Service, 0, len(k.table))
	for _, s := range k.table {
		out = append(out, clone(*s))
	}
	slices.SortFunc(out, func(a, b ipvs.Service) int { return a.Key.Compare(b.Key) })
	return out, nil
}

// Service implements ipvs.Kernel.
func (k *Kernel) Service(ctx context.Context, key ipvs.ServiceKey) (ipvs.Service, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.Unavailable {
		return ipvs.Service{}, fmt.Errorf("%w (fake)", ipvs.ErrUnavailable)
	}
	k.sreads = append(k.sreads, key)
	s, ok := k.table[key]
	if !ok {
		return ipvs.Service{}, fmt.Errorf("reading %s: %w", key, os.ErrNotExist)
	}
	return clone(*s), nil
}

// CreateService implements ipvs.Kernel.
func (k *Kernel) CreateService(ctx context.Context, s ipvs.Service) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.record(CreateServiceOp(s)); err != nil {
		return err
	}
	if _, ok := k.table[s.Key]; ok {
		return fmt.Errorf("creating %s: %w", s.Key, os.ErrExist)
	}
	c := clone(s)
	c.Destinations = nil
	k.table[s.Key] = &c
	return nil
}

// UpdateService implements ipvs.Kernel.
func (k *Kernel) UpdateService(ctx context.Context, s ipvs.Service) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.record(UpdateServiceOp(s)); err != nil {
		return err
	}
	cur, ok := k.table[s.Key]
	if !ok {
		return fmt.Errorf("updating %s: %w", s.Key, os.ErrNotExist)
	}
	cur.Scheduler, cur.Flags, cur.Timeout, cur.Netmask = s.Scheduler, s.Flags, s.Timeout, s.Netmask
	return nil
}

// RemoveService implements ipvs.Kernel.
func (k *Kernel) RemoveService(ctx context.Context, key ipvs.ServiceKey) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.record(RemoveServiceOp(key)); err != nil {
		return err
	}
	if _, ok := k.table[key]; !ok {
		return fmt.Errorf("removing %s: %w", key, os.ErrNotExist)
	}
	delete(k.table, key)
	return nil
}

func find(s *ipvs.Service, a netip.AddrPort) int {
	return slices.IndexFunc(s.Destinations, func(d ipvs.Destination) bool { return d.Address == a })
}

// CreateDestination implements ipvs.Kernel.
func (k *Kernel) CreateDestination(ctx context.Context, key ipvs.ServiceKey, d ipvs.Destination) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.record(CreateDestinationOp(key, d)); err != nil {
		return err
	}
	s, ok := k.table[key]
	if !ok {
		return fmt.Errorf("adding %s to %s: %w", d.Address, key, os.ErrNotExist)
	}
	if find(s, d.Address) >= 0 {
		return fmt.Errorf("adding %s to %s: %w", d.Address, key, os.ErrExist)
	}
	d.Stats = ipvs.DestinationStats{}
	s.Destinations = append(s.Destinations, d)
	return nil
}

// UpdateDestination implements ipvs.Kernel.
func (k *Kernel) UpdateDestination(ctx context.Context, key ipvs.ServiceKey, d ipvs.Destination) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.record(UpdateDestinationOp(key, d)); err != nil {
		return err
	}
	s, ok := k.table[key]
	if !ok {
		return fmt.Errorf("updating %s of %s: %w", d.Address, key, os.ErrNotExist)
	}
	i := find(s, d.Address)
	if i < 0 {
		return fmt.Errorf("updating %s of %s: %w", d.Address, key, os.ErrNotExist)
	}
	d.Stats = s.Destinations[i].Stats
	s.Destinations[i] = d
	return nil
}

// RemoveDestination implements ipvs.Kernel.
func (k *Kernel) RemoveDestination(ctx context.Context, key ipvs.ServiceKey, a netip.AddrPort) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.record(RemoveDestinationOp(key, a)); err != nil {
		return err
	}
	s, ok := k.table[key]
	if !ok {
		return fmt.Errorf("removing %s from %s: %w", a, key, os.ErrNotExist)
	}
	i := find(s, a)
	if i < 0 {
		return fmt.Errorf("removing %s from %s: %w", a, key, os.ErrNotExist)
	}
	s.Destinations = slices.Delete(s.Destinations, i, i+1)
	return nil
}

var _ ipvs.Kernel = (*Kernel)(nil)
