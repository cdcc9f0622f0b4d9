package check

import (
	"context"
	"fmt"
	"net/netip"
	"time"
)

// TCP checks that a TCP connection to the target can be established
// (keepalived's TCP_CHECK). The connection is closed right away; nothing is
// sent.
type TCP struct {
	// Source, when valid, is the local address to connect from
	// (keepalived's bindto).
	Source netip.Addr
}

// Kind returns "tcp".
func (TCP) Kind() string { return "tcp" }

// Probe connects to target.
func (p TCP) Probe(ctx context.Context, target netip.AddrPort) Result {
	start := time.Now()
	c, err := dialer(p.Source).DialContext(ctx, "tcp", target.String())
	if err != nil {
		return finish(ctx, start, fmt.Errorf("connecting to %s: %w", target, err))
	}
	res := finish(ctx, start, nil)
	_ = c.Close()
	return res
}
