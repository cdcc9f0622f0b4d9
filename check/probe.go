package check

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"
)

// Outcome labels, as used in Snapshot.LastResult and Snapshot.Results.
const (
	ResultSuccess = "success"
	ResultFailure = "failure"
	ResultTimeout = "timeout"
)

// Result is the outcome of one probe attempt.
type Result struct {
	OK       bool
	Err      error // why the attempt failed; nil when OK
	Duration time.Duration
	// Weight is the dynamic weight a Command probe reported
	// (keepalived's misc_dynamic); nil when the probe reports none.
	Weight *int
	// Detail holds numeric facts the probe learnt, for logs and metrics,
	// e.g. "replica_lag_seconds" or "http_status_code".
	Detail map[string]float64
}

// Outcome classifies the result as ResultSuccess, ResultTimeout (the
// attempt ran into its deadline) or ResultFailure.
func (r Result) Outcome() string {
	switch {
	case r.OK:
		return ResultSuccess
	case IsTimeout(r.Err):
		return ResultTimeout
	default:
		return ResultFailure
	}
}

// A Prober performs one check attempt against target, bounded by ctx's
// deadline. Probe must return promptly once ctx is done.
type Prober interface {
	Probe(ctx context.Context, target netip.AddrPort) Result
}

// ProberFunc adapts a function to the Prober interface.
type ProberFunc func(ctx context.Context, target netip.AddrPort) Result

// Probe calls f(ctx, target).
func (f ProberFunc) Probe(ctx context.Context, target netip.AddrPort) Result { return f(ctx, target) }

// ErrTimeout is wrapped by probe errors caused by the attempt's deadline.
// Use IsTimeout, which also recognises the standard library's timeouts.
var ErrTimeout = errors.New("deadline exceeded")

// IsTimeout reports whether err was caused by a deadline: ErrTimeout,
// context.DeadlineExceeded, os.ErrDeadlineExceeded or a net.Error whose
// Timeout method returns true.
func IsTimeout(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrTimeout) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// timeoutError marks err as caused by the probe's deadline while keeping
// its message and chain.
type timeoutError struct{ err error }

func (e *timeoutError) Error() string   { return e.err.Error() + " (deadline exceeded)" }
func (e *timeoutError) Unwrap() []error { return []error{e.err, ErrTimeout} }

// finish builds the Result of an attempt that started at start. A failure
// that happened once ctx's deadline had passed is marked as a timeout, so
// errors such as "use of closed connection" (the connection was closed by
// a context watcher) are classified correctly.
func finish(ctx context.Context, start time.Time, err error) Result {
	res := Result{OK: err == nil, Err: err, Duration: time.Since(start)}
	if err != nil && !IsTimeout(err) && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		res.Err = &timeoutError{err}
	}
	return res
}

// failf builds a failed Result without an underlying I/O error.
func failf(start time.Time, format string, args ...any) Result {
	return Result{Err: fmt.Errorf(format, args...), Duration: time.Since(start)}
}

// dialer returns a net.Dialer bound to source when it is valid (keepalived's
// bindto). The deadline comes from the context passed to DialContext.
func dialer(source netip.Addr) *net.Dialer {
	d := &net.Dialer{}
	if source.IsValid() {
		d.LocalAddr = &net.TCPAddr{IP: source.AsSlice(), Zone: source.Zone()}
	}
	return d
}

// udpDialer is dialer for UDP sockets.
func udpDialer(source netip.Addr) *net.Dialer {
	d := &net.Dialer{}
	if source.IsValid() {
		d.LocalAddr = &net.UDPAddr{IP: source.AsSlice(), Zone: source.Zone()}
	}
	return d
}

// bindConn makes blocking I/O on c return once ctx is done: it applies
// ctx's deadline and, on cancellation, moves the deadline into the past.
// The returned function must be called when the I/O is over.
func bindConn(ctx context.Context, c net.Conn) (stop func() bool) {
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	return context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
}
