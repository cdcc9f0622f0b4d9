//go:build !linux

package ipvs

import (
	"context"
	"fmt"
	"net/netip"
	"runtime"
)

// NetlinkKernel is the Kernel over Linux's IPVS; on other platforms every
// call returns ErrUnavailable.
type NetlinkKernel struct{}

// NewNetlinkKernel returns a Kernel that reports ErrUnavailable.
func NewNetlinkKernel() *NetlinkKernel { return &NetlinkKernel{} }

// Close does nothing.
func (k *NetlinkKernel) Close() error { return nil }

func unsupported() error {
	return fmt.Errorf("%w: IPVS is Linux-only, this is %s", ErrUnavailable, runtime.GOOS)
}

// Services implements Kernel.
func (k *NetlinkKernel) Services(context.Context) ([]Service, error) { return nil, unsupported() }

// Service implements Kernel.
func (k *NetlinkKernel) Service(context.Context, ServiceKey) (Service, error) {
	return Service{}, unsupported()
}

// CreateService implements Kernel.
func (k *NetlinkKernel) CreateService(context.Context, Service) error { return unsupported() }

// UpdateService implements Kernel.
func (k *NetlinkKernel) UpdateService(context.Context, Service) error { return unsupported() }

// RemoveService implements Kernel.
func (k *NetlinkKernel) RemoveService(context.Context, ServiceKey) error { return unsupported() }

// CreateDestination implements Kernel.
func (k *NetlinkKernel) CreateDestination(context.Context, ServiceKey, Destination) error {
	return unsupported()
}

// UpdateDestination implements Kernel.
func (k *NetlinkKernel) UpdateDestination(context.Context, ServiceKey, Destination) error {
	return unsupported()
}

// RemoveDestination implements Kernel.
func (k *NetlinkKernel) RemoveDestination(context.Context, ServiceKey, netip.AddrPort) error {
	return unsupported()
}
