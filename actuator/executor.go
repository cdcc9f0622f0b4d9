package actuator

import (
	"context"
	"errors"
	"time"
)

// Executor is the rest of vigil as the actuator sees it; the daemon
// implements it over the IPVS owner and the VRRP node. Reads must be cheap
// (they come from cached state); the Set methods and Resign may block
// until ctx ends.
//
// Errors that a retry may fix (the owner is busy, ctx ended) must be
// wrapped with Retryable; any other error is final for the request.
// Unknown virtual servers and instances are errors wrapping
// ErrUnknownTarget.
type Executor interface {
	// RealServers lists the real servers of virtual server vs with their
	// health, or an error wrapping ErrUnknownTarget if vs is not
	// configured.
	RealServers(vs string) ([]RealServerHealth, error)
	// Instances lists this node's VRRP instances.
	Instances() []string

	// SetRealServerOverrides replaces every real-server override with
	// overrides. It is atomic: on error nothing changed.
	SetRealServerOverrides(ctx context.Context, overrides map[RealServerRef]RealServerOverride) error
	// SetHolds replaces the set of held VRRP instances: a held instance
	// does not become master while a peer can be (it hands over if it is
	// master, and does not preempt). It is atomic: on error nothing
	// changed.
	SetHolds(ctx context.Context, instances []string) error
	// Resign hands mastership of instance to a peer, make-before-break,
	// and holds off preemption for hold. An instance that is not master
	// only starts the hold.
	Resign(ctx context.Context, instance string, hold time.Duration) error
}

// RealServerHealth is a real server as the health checks see it.
type RealServerHealth struct {
	// ID names the real server ("10.0.0.2:3306").
	ID string
	// Up is whether it passes its checks.
	Up bool
	// Weight is its weight before overrides: configured, or dynamic as
	// its checks report it. A real server serves when it is up and its
	// weight after overrides is positive.
	Weight int
}

// RealServerOverride is what the load balancer is told to do with one real
// server, in ipvs.Override's terms.
type RealServerOverride struct {
	// Drain sets the weight to 0; it wins over Weight.
	Drain bool
	// Weight, if set, replaces the configured and the dynamic weight.
	Weight *int
}

// retryableError marks an executor error as worth retrying.
type retryableError struct{ err error }

func (e *retryableError) Error() string { return e.err.Error() }
func (e *retryableError) Unwrap() error { return e.err }

// Retryable marks err as a failure that a retry may fix: the webhook then
// answers 5xx so that Alertmanager retries. Retryable(nil) is nil.
func Retryable(err error) error {
	if err == nil {
		return nil
	}
	return &retryableError{err}
}

// IsRetryable reports whether err was marked Retryable or is a context
// deadline or cancellation.
func IsRetryable(err error) bool {
	var r *retryableError
	return errors.As(err, &r) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}
