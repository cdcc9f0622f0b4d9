package check

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"
)

// probeWithin runs p against target under a fresh timeout, blackbox
// exporter style.
func probeWithin(t *testing.T, p Prober, target netip.AddrPort, timeout time.Duration) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return p.Probe(ctx, target)
}

// listenTCP returns a loopback listener that accepts and closes
// connections, remembering their remote addresses.
func listenTCP(t *testing.T) (netip.AddrPort, <-chan netip.AddrPort) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	peers := make(chan netip.AddrPort, 16)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			select {
			case peers <- c.RemoteAddr().(*net.TCPAddr).AddrPort():
			default:
			}
			c.Close()
		}
	}()
	return l.Addr().(*net.TCPAddr).AddrPort(), peers
}

// closedPort returns a loopback address nobody listens on.
func closedPort(t *testing.T) netip.AddrPort {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().(*net.TCPAddr).AddrPort()
	l.Close()
	return addr
}

// blackHole returns a loopback address whose SYNs are silently dropped:
// a listener with backlog 0 that never accepts, with its accept queue
// filled. Linux drops a SYN for a listener whose accept queue is full
// (tcp_conn_request: sk_acceptq_is_full -> drop, syncookies or not), and
// the client keeps retransmitting until its deadline, exactly like a
// firewall DROP. This needs neither root nor a network namespace.
func blackHole(t *testing.T) netip.AddrPort {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := netip.AddrPortFrom(netip.AddrFrom4(sa.(*syscall.SockaddrInet4).Addr), uint16(sa.(*syscall.SockaddrInet4).Port))
	d := net.Dialer{Timeout: 200 * time.Millisecond}
	for i := 0; ; i++ {
		c, err := d.Dial("tcp", addr.String())
		if err != nil {
			if !IsTimeout(err) {
				t.Fatalf("filling accept queue: %v", err)
			}
			return addr // the queue is full: SYNs are dropped now
		}
		t.Cleanup(func() { c.Close() })
		if i == 64 {
			t.Fatal("accept queue never filled")
		}
	}
}

func TestTCPUp(t *testing.T) {
	addr, _ := listenTCP(t)
	res := probeWithin(t, TCP{}, addr, time.Second)
	if !res.OK || res.Err != nil || res.Outcome() != ResultSuccess || res.Duration <= 0 {
		t.Fatalf("got %+v", res)
	}
}

func TestTCPRefused(t *testing.T) {
	addr := closedPort(t)
	res := probeWithin(t, TCP{}, addr, 5*time.Second)
	if res.OK || !errors.Is(res.Err, syscall.ECONNREFUSED) || res.Outcome() != ResultFailure {
		t.Fatalf("got %+v", res)
	}
	if res.Duration > 500*time.Millisecond {
		t.Errorf("refused connection took %s, want an immediate failure", res.Duration)
	}
}

func TestTCPTimeout(t *testing.T) {
	addr := blackHole(t)
	const timeout = 300 * time.Millisecond
	start := time.Now()
	res := probeWithin(t, TCP{}, addr, timeout)
	elapsed := time.Since(start)
	if res.OK || res.Outcome() != ResultTimeout {
		t.Fatalf("got %+v, want a timeout", res)
	}
	if elapsed < timeout || elapsed > timeout+250*time.Millisecond {
		t.Errorf("probe returned after %s, want about %s", elapsed, timeout)
	}
}

func TestTCPSource(t *testing.T) {
	addr, peers := listenTCP(t)
	src := netip.MustParseAddr("127.0.0.2") // all of 127/8 is local on Linux
	res := probeWithin(t, TCP{Source: src}, addr, time.Second)
	if !res.OK {
		t.Fatalf("got %+v", res)
	}
	select {
	case peer := <-peers:
		if peer.Addr() != src {
			t.Errorf("connection came from %s, want %s", peer.Addr(), src)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("listener saw no connection")
	}
}
