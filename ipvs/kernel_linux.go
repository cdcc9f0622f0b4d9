//go:build linux

package ipvs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"sync"
	"time"

	cfipvs "github.com/cloudflare/ipvs"
	"github.com/cloudflare/ipvs/netmask"
	"golang.org/x/sys/unix"
)

// NetlinkKernel is the Kernel over the kernel's IPVS generic netlink
// family (github.com/cloudflare/ipvs). It connects on first use and, while
// the family is missing, again on every call, so loading ip_vs later needs
// no restart. It is safe for concurrent use.
type NetlinkKernel struct {
	dial func() (cfipvs.Client, error)

	mu sync.Mutex
	c  cfipvs.Client
}

// NewNetlinkKernel returns a Kernel for this host's IPVS.
func NewNetlinkKernel() *NetlinkKernel {
	return &NetlinkKernel{dial: cfipvs.New}
}

// Close releases the netlink socket.
func (k *NetlinkKernel) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	c := k.c
	k.c = nil
	if cl, ok := c.(io.Closer); ok {
		return cl.Close()
	}
	return nil
}

// client returns the connected client; k.mu must be held.
func (k *NetlinkKernel) client() (cfipvs.Client, error) {
	if k.c != nil {
		return k.c, nil
	}
	c, err := k.dial()
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w: generic netlink family IPVS not found", ErrUnavailable)
		}
		return nil, fmt.Errorf("ipvs: connecting to generic netlink: %w", err)
	}
	k.c = c
	return c, nil
}

// do runs fn with the client under the lock.
func (k *NetlinkKernel) do(ctx context.Context, fn func(cfipvs.Client) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	c, err := k.client()
	if err != nil {
		return err
	}
	return fn(c)
}

// Services implements Kernel: one dump of the services, then one dump of
// the destinations of each.
func (k *NetlinkKernel) Services(ctx context.Context) ([]Service, error) {
	var out []Service
	err := k.do(ctx, func(c cfipvs.Client) error {
		svcs, err := c.Services()
		if errors.Is(err, os.ErrNotExist) { // an empty dump, not an error
			return nil
		}
		if err != nil {
			return fmt.Errorf("ipvs: listing services: %w", mapErrno(err))
		}
		out = make([]Service, 0, len(svcs))
		for _, cs := range svcs {
			if err := ctx.Err(); err != nil {
				return err
			}
			s, err := withDestinations(c, cs)
			if err != nil {
				return err
			}
			out = append(out, s)
		}
		return nil
	})
	return out, err
}

// Service implements Kernel: one request for the service, one dump of its
// destinations.
func (k *NetlinkKernel) Service(ctx context.Context, key ServiceKey) (Service, error) {
	var out Service
	err := k.do(ctx, func(c cfipvs.Client) error {
		cs, err := c.Service(toKernelService(Service{Key: key}))
		if err != nil {
			// The kernel answers ESRCH for a missing service.
			return fmt.Errorf("ipvs: reading service %s: %w", key, mapErrno(err))
		}
		out, err = withDestinations(c, cs)
		return err
	})
	return out, err
}

// withDestinations converts cs and reads its destinations.
func withDestinations(c cfipvs.Client, cs cfipvs.ServiceExtended) (Service, error) {
	s, err := fromKernelService(cs)
	if err != nil {
		return Service{}, err
	}
	ds, err := c.Destinations(cs.Service)
	if err != nil && !errors.Is(err, os.ErrNotExist) { // no destinations: an empty dump
		return Service{}, fmt.Errorf("ipvs: listing destinations of %s: %w", s.Key, mapErrno(err))
	}
	s.Destinations = make([]Destination, 0, len(ds))
	for _, d := range ds {
		s.Destinations = append(s.Destinations, fromKernelDestination(d))
	}
	return s, nil
}

// CreateService implements Kernel.
func (k *NetlinkKernel) CreateService(ctx context.Context, s Service) error {
	return k.do(ctx, func(c cfipvs.Client) error {
		if err := c.CreateService(toKernelService(s)); err != nil {
			return fmt.Errorf("ipvs: creating service %s: %w", s, mapServiceErr(err, s.Scheduler))
		}
		return nil
	})
}

// UpdateService implements Kernel.
func (k *NetlinkKernel) UpdateService(ctx context.Context, s Service) error {
	return k.do(ctx, func(c cfipvs.Client) error {
		if err := c.UpdateService(toKernelService(s)); err != nil {
			return fmt.Errorf("ipvs: updating service %s: %w", s, mapServiceErr(err, s.Scheduler))
		}
		return nil
	})
}

// RemoveService implements Kernel.
func (k *NetlinkKernel) RemoveService(ctx context.Context, key ServiceKey) error {
	return k.do(ctx, func(c cfipvs.Client) error {
		if err := c.RemoveService(toKernelService(Service{Key: key})); err != nil {
			return fmt.Errorf("ipvs: removing service %s: %w", key, mapErrno(err))
		}
		return nil
	})
}

// CreateDestination implements Kernel.
func (k *NetlinkKernel) CreateDestination(ctx context.Context, svc ServiceKey, d Destination) error {
	return k.do(ctx, func(c cfipvs.Client) error {
		if err := c.CreateDestination(toKernelService(Service{Key: svc}), toKernelDestination(d)); err != nil {
			return fmt.Errorf("ipvs: creating destination %s of %s: %w", d, svc, mapErrno(err))
		}
		return nil
	})
}

// UpdateDestination implements Kernel.
func (k *NetlinkKernel) UpdateDestination(ctx context.Context, svc ServiceKey, d Destination) error {
	return k.do(ctx, func(c cfipvs.Client) error {
		if err := c.UpdateDestination(toKernelService(Service{Key: svc}), toKernelDestination(d)); err != nil {
			return fmt.Errorf("ipvs: updating destination %s of %s: %w", d, svc, mapErrno(err))
		}
		return nil
	})
}

// RemoveDestination implements Kernel.
func (k *NetlinkKernel) RemoveDestination(ctx context.Context, svc ServiceKey, addr netip.AddrPort) error {
	return k.do(ctx, func(c cfipvs.Client) error {
		d := toKernelDestination(Destination{Address: addr, Forwarding: ForwardNAT})
		if err := c.RemoveDestination(toKernelService(Service{Key: svc}), d); err != nil {
			return fmt.Errorf("ipvs: removing destination %s of %s: %w", addr, svc, mapErrno(err))
		}
		return nil
	})
}

// errnoError adds a standard-library meaning to a kernel errno the syscall
// package does not map itself.
type errnoError struct {
	err  error
	also error
}

func (e *errnoError) Error() string   { return e.err.Error() }
func (e *errnoError) Unwrap() []error { return []error{e.err, e.also} }

// mapErrno makes ESRCH ("no such service", ip_vs_ctl.c) satisfy
// os.ErrNotExist like ENOENT ("no such destination") already does.
func mapErrno(err error) error {
	if errors.Is(err, unix.ESRCH) {
		return &errnoError{err: err, also: os.ErrNotExist}
	}
	return err
}

// mapServiceErr maps errors of creating or editing a service: there ENOENT
// means the scheduler module was not found.
func mapServiceErr(err error, scheduler string) error {
	if errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("%w: %q (module ip_vs_%s): %w", ErrUnknownScheduler, scheduler, scheduler, err)
	}
	return mapErrno(err)
}

func toKernelFamily(f Family) cfipvs.AddressFamily {
	if f == IPv6 {
		return cfipvs.INET6
	}
	return cfipvs.INET
}

// toKernelService converts s to cloudflare/ipvs's form. The kernel wants
// every attribute, even to name a service: Netmask is always set, and the
// persistent bit follows Timeout.
func toKernelService(s Service) cfipvs.Service {
	s.Key = s.Key.normalize()
	bits := s.Key.Family.bits()
	mask := s.Netmask
	if mask == 0 {
		mask = bits
	}
	flags := uint32(s.Flags)
	if s.Timeout > 0 {
		flags |= kernelFlagPersistent
	}
	ks := cfipvs.Service{
		Family:    toKernelFamily(s.Key.Family),
		Netmask:   netmask.MaskFrom(mask, bits),
		Scheduler: s.Scheduler,
		Timeout:   uint32((s.Timeout + time.Second - 1) / time.Second),
		Flags:     cfipvs.Flags(flags),
		FWMark:    s.Key.FWMark,
	}
	if !s.Key.IsFWMark() {
		ks.Protocol = cfipvs.Protocol(s.Key.Protocol)
		ks.Address = s.Key.Address.Addr()
		ks.Port = s.Key.Address.Port()
	}
	return ks
}

func fromKernelService(ks cfipvs.ServiceExtended) (Service, error) {
	var fam Family
	switch ks.Family {
	case cfipvs.INET:
		fam = IPv4
	case cfipvs.INET6:
		fam = IPv6
	default:
		return Service{}, fmt.Errorf("ipvs: service with unknown address family %d", ks.Family)
	}
	var key ServiceKey
	if ks.FWMark != 0 {
		key = FWMarkKey(fam, ks.FWMark)
	} else {
		key = AddrKey(Protocol(ks.Protocol), netip.AddrPortFrom(ks.Address, ks.Port))
	}
	s := Service{
		Key:       key,
		Scheduler: ks.Scheduler,
		Flags:     Flags(uint32(ks.Flags) &^ (kernelFlagPersistent | kernelFlagHashed)),
		Netmask:   ks.Netmask.Bits(),
		Stats:     pickStats(ks.Stats, ks.Stats64),
	}
	if uint32(ks.Flags)&kernelFlagPersistent != 0 {
		s.Timeout = time.Duration(ks.Timeout) * time.Second
	}
	return s, nil
}

func toKernelDestination(d Destination) cfipvs.Destination {
	a := d.Address.Addr().Unmap()
	fwd := cfipvs.Masquerade
	switch d.Forwarding {
	case ForwardDR:
		fwd = cfipvs.DirectRoute
	case ForwardTunnel:
		fwd = cfipvs.Tunnel
	}
	return cfipvs.Destination{
		Address:        a,
		Port:           d.Address.Port(),
		Family:         toKernelFamily(familyOf(a)),
		FwdMethod:      fwd,
		Weight:         uint32(d.Weight),
		UpperThreshold: d.UpperThreshold,
		LowerThreshold: d.LowerThreshold,
		TunnelType:     cfipvs.IPIP,
	}
}

func fromKernelDestination(kd cfipvs.DestinationExtended) Destination {
	var fwd Forwarding
	switch kd.FwdMethod {
	// The kernel reports NAT to one of its own addresses as "Local".
	case cfipvs.Masquerade, cfipvs.Local:
		fwd = ForwardNAT
	case cfipvs.DirectRoute:
		fwd = ForwardDR
	case cfipvs.Tunnel:
		fwd = ForwardTunnel
	}
	return Destination{
		Address:        netip.AddrPortFrom(kd.Address.Unmap(), kd.Port),
		Weight:         int(kd.Weight),
		Forwarding:     fwd,
		UpperThreshold: kd.UpperThreshold,
		LowerThreshold: kd.LowerThreshold,
		Stats: DestinationStats{
			Stats:                 pickStats(kd.Stats, kd.Stats64),
			ActiveConnections:     kd.ActiveConnections,
			InactiveConnections:   kd.InactiveConnections,
			PersistentConnections: kd.PersistentConnections,
		},
	}
}

// pickStats prefers the 64-bit counters, which kernels since 4.1 send
// alongside the 32-bit ones that wrap.
func pickStats(s32, s64 cfipvs.Stats) Stats {
	s := s32
	if s64 != (cfipvs.Stats{}) {
		s = s64
	}
	return Stats{
		Connections:    s.Connections,
		PacketsIn:      s.IncomingPackets,
		PacketsOut:     s.OutgoingPackets,
		BytesIn:        s.IncomingBytes,
		BytesOut:       s.OutgoingBytes,
		ConnectionRate: s.ConnectionRate,
		PacketInRate:   s.IncomingPacketRate,
		PacketOutRate:  s.OutgoingPacketRate,
		ByteInRate:     s.IncomingByteRate,
		ByteOutRate:    s.OutgoingByteRate,
	}
}
