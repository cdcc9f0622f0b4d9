package check

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// maxDatagram is the receive buffer for UDP replies.
const maxDatagram = 64 << 10

// UDP sends one datagram to the target and checks the reply (keepalived's
// UDP_CHECK).
//
// With Expect set, the first reply must start with Expect (a byte prefix,
// not a pattern: binary protocols are compared byte for byte, and a prefix
// leaves room for variable tails such as counters or timestamps). With
// RequireReply set, any reply is a success. With neither, the check only
// fails on an ICMP error (port or host unreachable, reported as connection
// refused): silence until the deadline counts as success, as in keepalived
// without require_reply, so such an attempt always lasts its whole
// timeout.
type UDP struct {
	Payload      []byte
	Expect       []byte
	RequireReply bool
	// Source, when valid, is the local address to send from.
	Source netip.Addr
}

// Kind returns "udp".
func (UDP) Kind() string { return "udp" }

// Probe sends Payload to target and waits for the reply.
func (p UDP) Probe(ctx context.Context, target netip.AddrPort) Result {
	start := time.Now()
	c, err := udpDialer(p.Source).DialContext(ctx, "udp", target.String())
	if err != nil {
		return finish(ctx, start, fmt.Errorf("dialing %s: %w", target, err))
	}
	defer c.Close()
	stop := bindConn(ctx, c)
	defer stop()
	if _, err := c.Write(p.Payload); err != nil {
		return finish(ctx, start, fmt.Errorf("sending to %s: %w", target, err))
	}
	buf := make([]byte, maxDatagram)
	n, err := c.Read(buf)
	if err != nil {
		if IsTimeout(err) && p.Expect == nil && !p.RequireReply && !errors.Is(ctx.Err(), context.Canceled) {
			return Result{OK: true, Duration: time.Since(start)} // silence without ICMP error
		}
		if IsTimeout(err) {
			return finish(ctx, start, fmt.Errorf("no reply from %s: %w", target, err))
		}
		return finish(ctx, start, fmt.Errorf("reading from %s: %w", target, err))
	}
	reply := buf[:n]
	if p.Expect != nil && !bytes.HasPrefix(reply, p.Expect) {
		return finish(ctx, start, fmt.Errorf("reply %q from %s does not start with %q", abbrev(reply, 64), target, p.Expect))
	}
	return finish(ctx, start, nil)
}

// abbrev shortens b for error messages.
func abbrev(b []byte, n int) []byte {
	if len(b) <= n {
		return b
	}
	return append(b[:n:n], "..."...)
}
