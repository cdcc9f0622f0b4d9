//go:build linux

package vrrp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// linkIsUp is the rule LinkUp and WatchLinks apply (RFC 2863 operational
// status as Linux reports it):
//
//   - operstate "up": up;
//   - operstate "unknown" (drivers that do not track operational state:
//     dummy, loopback, some tunnels and older veth): up when the link is
//     administratively up (IFF_UP) and has carrier (IFF_LOWER_UP);
//   - anything else (down, lowerlayerdown, dormant, testing, notpresent):
//     down.
func linkIsUp(a *netlink.LinkAttrs) bool {
	switch a.OperState {
	case netlink.OperUp:
		return true
	case netlink.OperUnknown:
		return a.Flags&net.FlagUp != 0 && a.RawFlags&unix.IFF_LOWER_UP != 0
	}
	return false
}

// LinkUp reports whether interface name is operationally up, by the rule
// documented on linkIsUp. A missing interface is an error wrapping
// os.ErrNotExist.
func LinkUp(name string) (bool, error) {
	link, err := netlink.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return false, fmt.Errorf("vrrp: link %q: %w", name, os.ErrNotExist)
		}
		return false, fmt.Errorf("vrrp: link %q: %w", name, err)
	}
	return linkIsUp(link.Attrs()), nil
}

// WatchLinks calls onChange with every interface of the calling thread's
// network namespace once at start, then whenever an interface's up state
// (as LinkUp defines it) changes. A deleted interface, or the old name of a
// renamed one, is reported down if it was last reported up.
// Events come from a netlink subscription (no polling). It runs until ctx
// is done and then returns nil; an error the subscription reports
// (including ENOBUFS, when events were lost) ends the watch and is
// returned.
func WatchLinks(ctx context.Context, onChange func(name string, up bool)) error {
	updates := make(chan netlink.LinkUpdate, 64)
	done := make(chan struct{})
	errc := make(chan error, 1)
	err := netlink.LinkSubscribeWithOptions(updates, done, netlink.LinkSubscribeOptions{
		ErrorCallback: func(err error) {
			select {
			case errc <- err:
			default:
			}
		},
		ListExisting:      true,
		ReceiveBufferSize: 1 << 20,
	})
	if err != nil {
		return fmt.Errorf("vrrp: subscribing to link changes: %w", err)
	}
	stop := func() {
		close(done)
		for range updates {
		}
	}

	type linkState struct {
		name string
		up   bool
	}
	known := map[int32]linkState{}
	for {
		select {
		case <-ctx.Done():
			stop()
			return nil
		case err := <-errc:
			stop()
			return fmt.Errorf("vrrp: link subscription: %w", err)
		case u, ok := <-updates:
			if !ok {
				select {
				case err := <-errc:
					return fmt.Errorf("vrrp: link subscription: %w", err)
				default:
					return errors.New("vrrp: link subscription closed")
				}
			}
			attrs := u.Link.Attrs()
			if u.Header.Type == unix.RTM_DELLINK {
				if prev, seen := known[u.Index]; seen {
					delete(known, u.Index)
					if prev.up {
						onChange(prev.name, false)
					}
				}
				continue
			}
			now := linkState{name: attrs.Name, up: linkIsUp(attrs)}
			prev, seen := known[u.Index]
			if seen && prev == now {
				continue
			}
			if seen && prev.name != now.name && prev.up {
				// Renamed: the old name is gone.
				onChange(prev.name, false)
			}
			known[u.Index] = now
			onChange(now.name, now.up)
		}
	}
}
