package ipvs

import (
	"context"
	"errors"
	"net/netip"
)

// ErrUnavailable is returned (wrapped) by a Kernel whose kernel has no IPVS:
// the ip_vs module is not loaded, or the platform is not Linux. vigil keeps
// running without load balancing and says so once.
var ErrUnavailable = errors.New("ipvs: kernel has no IPVS (is the ip_vs module loaded?)")

// ErrUnknownScheduler is returned (wrapped) when the kernel has no module for
// a service's scheduler (ip_vs_<name>).
var ErrUnknownScheduler = errors.New("ipvs: scheduler not available in the kernel")

// Kernel is the IPVS table as the Reconciler needs it. Errors for objects
// that do not exist satisfy errors.Is(err, os.ErrNotExist), and for objects
// that already exist errors.Is(err, os.ErrExist).
type Kernel interface {
	// Services returns every virtual service in the kernel, vigil's or
	// not, with its destinations and counters.
	Services(ctx context.Context) ([]Service, error)
	// Service returns the virtual service with key, with its destinations
	// and counters: what Services returns for it, at the cost of reading
	// one service. A missing service is an error satisfying
	// errors.Is(err, os.ErrNotExist).
	Service(ctx context.Context, key ServiceKey) (Service, error)
	// CreateService adds the service; its Destinations are ignored.
	CreateService(ctx context.Context, s Service) error
	// UpdateService replaces the attributes (scheduler, flags, timeout,
	// netmask) of the service with key s.Key.
	UpdateService(ctx context.Context, s Service) error
	// RemoveService deletes the service and all its destinations.
	RemoveService(ctx context.Context, key ServiceKey) error
	CreateDestination(ctx context.Context, svc ServiceKey, d Destination) error
	UpdateDestination(ctx context.Context, svc ServiceKey, d Destination) error
	RemoveDestination(ctx context.Context, svc ServiceKey, addr netip.AddrPort) error
}

// Stats are the kernel's counters for a service or destination. The first
// five only grow while the object exists; the rates are the kernel's
// estimator, per second.
type Stats struct {
	Connections uint64
	PacketsIn   uint64
	PacketsOut  uint64
	BytesIn     uint64
	BytesOut    uint64

	ConnectionRate uint64 // connections per second
	PacketInRate   uint64 // packets per second
	PacketOutRate  uint64
	ByteInRate     uint64 // bytes per second
	ByteOutRate    uint64
}

// DestinationStats are a destination's counters and connection gauges.
type DestinationStats struct {
	Stats
	// ActiveConnections are TCP connections in ESTABLISHED state,
	// InactiveConnections all other entries, PersistentConnections the
	// persistence templates pointing at the destination.
	ActiveConnections     uint32
	InactiveConnections   uint32
	PersistentConnections uint32
}
