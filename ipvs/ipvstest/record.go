package ipvstest

import (
	"context"
	"net/netip"
	"slices"
	"sync"

	"github.com/vigil-lb/vigil/ipvs"
)

// The recorded form of each operation, shared by Kernel and Recorder.

// CreateServiceOp is "create-service " and the service's String.
func CreateServiceOp(s ipvs.Service) string { return "create-service " + s.String() }

// UpdateServiceOp is "update-service " and the service's String.
func UpdateServiceOp(s ipvs.Service) string { return "update-service " + s.String() }

// RemoveServiceOp is "remove-service " and the key.
func RemoveServiceOp(k ipvs.ServiceKey) string { return "remove-service " + k.String() }

// CreateDestinationOp is "create-dest ", the key and the destination's String.
func CreateDestinationOp(k ipvs.ServiceKey, d ipvs.Destination) string {
	return "create-dest " + k.String() + " " + d.String()
}

// UpdateDestinationOp is "update-dest ", the key and the destination's String.
func UpdateDestinationOp(k ipvs.ServiceKey, d ipvs.Destination) string {
	return "update-dest " + k.String() + " " + d.String()
}

// RemoveDestinationOp is "remove-dest ", the key and the address.
func RemoveDestinationOp(k ipvs.ServiceKey, a netip.AddrPort) string {
	return "remove-dest " + k.String() + " " + a.String()
}

// Recorder wraps any ipvs.Kernel, the real one included, and records its
// mutating calls in Kernel.Ops's form, with " (failed)" appended when the
// call returned an error, and counts its reads as Kernel does. It is safe
// for concurrent use.
type Recorder struct {
	k ipvs.Kernel

	mu     sync.Mutex
	ops    []string
	reads  int
	sreads []ipvs.ServiceKey
}

// Record returns a Recorder over k.
func Record(k ipvs.Kernel) *Recorder { return &Recorder{k: k} }

// Ops returns the recorded operations.
func (r *Recorder) Ops() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.ops)
}

// Reset forgets the recorded operations and reads.
func (r *Recorder) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ops = nil
	r.reads = 0
	r.sreads = nil
}

// Reads returns how many times Services (a read of the whole table) was
// called.
func (r *Recorder) Reads() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reads
}

// ServiceReads returns the keys Service (a read of one service) was called
// with, in order.
func (r *Recorder) ServiceReads() []ipvs.ServiceKey {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.sreads)
}

func (r *Recorder) record(op string, err error) error {
	if err != nil {
		op += " (failed)"
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ops = append(r.ops, op)
	return err
}

// Services implements ipvs.Kernel; reads are counted, not recorded as
// operations.
func (r *Recorder) Services(ctx context.Context) ([]ipvs.Service, error) {
	r.mu.Lock()
	r.reads++
	r.mu.Unlock()
	return r.k.Services(ctx)
}

// Service implements ipvs.Kernel; reads are counted, not recorded as
// operations.
func (r *Recorder) Service(ctx context.Context, key ipvs.ServiceKey) (ipvs.Service, error) {
	r.mu.Lock()
	r.sreads = append(r.sreads, key)
	r.mu.Unlock()
	return r.k.Service(ctx, key)
}

// CreateService implements ipvs.Kernel.
func (r *Recorder) CreateService(ctx context.Context, s ipvs.Service) error {
	return r.record(CreateServiceOp(s), r.k.CreateService(ctx, s))
}

// UpdateService implements ipvs.Kernel.
func (r *Recorder) UpdateService(ctx context.Context, s ipvs.Service) error {
	return r.record(UpdateServiceOp(s), r.k.UpdateService(ctx, s))
}

// RemoveService implements ipvs.Kernel.
func (r *Recorder) RemoveService(ctx context.Context, key ipvs.ServiceKey) error {
	return r.record(RemoveServiceOp(key), r.k.RemoveService(ctx, key))
}

// CreateDestination implements ipvs.Kernel.
func (r *Recorder) CreateDestination(ctx context.Context, key ipvs.ServiceKey, d ipvs.Destination) error {
	return r.record(CreateDestinationOp(key, d), r.k.CreateDestination(ctx, key, d))
}

// UpdateDestination implements ipvs.Kernel.
func (r *Recorder) UpdateDestination(ctx context.Context, key ipvs.ServiceKey, d ipvs.Destination) error {
	return r.record(UpdateDestinationOp(key, d), r.k.UpdateDestination(ctx, key, d))
}

// RemoveDestination implements ipvs.Kernel.
func (r *Recorder) RemoveDestination(ctx context.Context, key ipvs.ServiceKey, a netip.AddrPort) error {
	return r.record(RemoveDestinationOp(key, a), r.k.RemoveDestination(ctx, key, a))
}

var _ ipvs.Kernel = (*Recorder)(nil)
