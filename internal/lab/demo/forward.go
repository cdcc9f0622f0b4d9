package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/vigil-lb/vigil/internal/lab"
)

// forwarder accepts TCP connections on the host's loopback and connects
// each to an address inside a lab host's namespace, so that a browser or
// curl on the host reaches a vigil metrics listener that only exists in
// the namespace. It is a plain byte pipe; only a failed dial is answered
// with an HTTP 502 so that curl prints the reason.
type forwarder struct {
	ln     net.Listener
	host   *lab.Host
	target string
	logger *slog.Logger

	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]bool
}

// listenForward starts forwarding from listen (host namespace) to target
// inside h.
func listenForward(listen string, h *lab.Host, target string, logger *slog.Logger) (*forwarder, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("forwarding %s to %s on %s: %w", listen, target, h.Name(), err)
	}
	f := &forwarder{ln: ln, host: h, target: target, logger: logger.With("component", "forwarder", "host", h.Name()), conns: map[net.Conn]bool{}}
	f.wg.Add(1)
	go f.accept()
	return f, nil
}

// Addr returns the address the forwarder listens on.
func (f *forwarder) Addr() string { return f.ln.Addr().String() }

func (f *forwarder) accept() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				f.logger.Warn("accept failed", "err", err)
			}
			return
		}
		if !f.track(c, true) {
			c.Close()
			return
		}
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			defer f.track(c, false)
			f.serve(c)
		}()
	}
}

// track adds or removes an open connection; it refuses new ones once the
// forwarder is closed.
func (f *forwarder) track(c net.Conn, add bool) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !add {
		delete(f.conns, c)
		return true
	}
	if f.conns == nil {
		return false
	}
	f.conns[c] = true
	return true
}

// serve pipes one client connection to the target.
func (f *forwarder) serve(c net.Conn) {
	defer c.Close()
	var up net.Conn
	err := f.host.Do(func() error {
		var err error
		up, err = net.DialTimeout("tcp", f.target, 2*time.Second)
		return err
	})
	if err != nil {
		fmt.Fprintf(c, "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\nvigil on %s is not reachable at %s: %v\n", f.host.Name(), f.target, err)
		return
	}
	if !f.track(up, true) {
		up.Close()
		return
	}
	defer f.track(up, false)
	defer up.Close()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(up, c)
	go pipe(c, up)
	<-done
	<-done
}

// Close stops accepting, closes every open connection and waits for the
// goroutines.
func (f *forwarder) Close() {
	f.ln.Close()
	f.mu.Lock()
	for c := range f.conns {
		c.Close()
	}
	f.conns = nil
	f.mu.Unlock()
	f.wg.Wait()
}
