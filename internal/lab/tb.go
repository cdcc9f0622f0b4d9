package lab

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// TB is the part of testing.TB the lab uses to report failures, register
// cleanups and create scratch directories. *testing.T, *testing.B and
// *testing.F satisfy it; programs such as the demo use a Session.
type TB interface {
	Helper()
	Logf(format string, args ...any)
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Skipf(format string, args ...any)
	Failed() bool
	Cleanup(f func())
	TempDir() string
}

// ErrTimeout is returned by waits that ran out of time.
var ErrTimeout = errors.New("lab: timed out")

// Session is a TB for programs (the demo, benchmarks driven outside go test).
// Fatalf and Skipf log the message through the Session's logger, run the
// registered cleanups and exit the process with status 1: a lab failure in a
// demo is fatal, and the namespaces must not outlive it. Close runs the
// cleanups on a normal exit.
type Session struct {
	logger *slog.Logger

	mu       sync.Mutex
	cleanups []func()
	failed   bool
	closed   bool
}

// NewSession returns a Session that logs through logger (slog.Default() if
// nil).
func NewSession(logger *slog.Logger) *Session {
	if logger == nil {
		logger = slog.Default()
	}
	return &Session{logger: logger.With("component", "lab")}
}

// Helper does nothing; it exists to satisfy TB.
func (s *Session) Helper() {}

// Logf logs an informational message.
func (s *Session) Logf(format string, args ...any) {
	s.logger.Info(fmt.Sprintf(format, args...))
}

// Errorf logs an error and marks the session failed.
func (s *Session) Errorf(format string, args ...any) {
	s.mu.Lock()
	s.failed = true
	s.mu.Unlock()
	s.logger.Error(fmt.Sprintf(format, args...))
}

// Fatalf logs an error, runs the cleanups and exits with status 1.
func (s *Session) Fatalf(format string, args ...any) {
	s.Errorf(format, args...)
	s.Close()
	os.Exit(1)
}

// Skipf is fatal for a program: a demo cannot skip itself.
func (s *Session) Skipf(format string, args ...any) {
	s.Fatalf(format, args...)
}

// Failed reports whether Errorf or Fatalf was called.
func (s *Session) Failed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed
}

// Cleanup registers f to run, last registered first, when the session closes.
func (s *Session) Cleanup(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cleanups = append(s.cleanups, f)
}

// TempDir creates a new directory that is removed when the session closes.
func (s *Session) TempDir() string {
	dir, err := os.MkdirTemp("", "vigil-lab-")
	if err != nil {
		s.Fatalf("creating temporary directory: %v", err)
	}
	s.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// Close runs the registered cleanups, last registered first. Later calls do
// nothing.
func (s *Session) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.mu.Unlock()
	for {
		s.mu.Lock()
		n := len(s.cleanups)
		if n == 0 {
			s.mu.Unlock()
			return
		}
		f := s.cleanups[n-1]
		s.cleanups = s.cleanups[:n-1]
		s.mu.Unlock()
		f()
	}
}

// Require checks the prerequisites a test needs and stops the test when one
// is missing. Each name is "root" (effective UID 0), "ipv6" (the kernel has
// IPv6) or the name of an executable, looked up in PATH and in the sbin
// directories. When the environment has CI=true a missing prerequisite fails
// the test, otherwise it skips it; both messages name what is missing and
// point at scripts/install-deps.sh.
//
// Under go test -short (make unit) Require skips the test whatever it asks
// for, CI=true or not: every test that calls it (New does) is an
// integration test, and -short asks for unit tests only. Programs (a
// Session) are never skipped for -short.
func Require(t TB, what ...string) {
	t.Helper()
	if shortTest(t) {
		t.Skipf("lab: integration test (namespaces, root or external tools), skipped with -short")
		return
	}
	var missing []string
	for _, w := range what {
		switch w {
		case "root":
			if os.Geteuid() != 0 {
				missing = append(missing, "root")
			}
		case "ipv6":
			if _, err := os.Stat("/proc/sys/net/ipv6"); err != nil {
				missing = append(missing, "ipv6")
			}
		default:
			if _, err := lookPath(w); err != nil {
				missing = append(missing, w)
			}
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := fmt.Sprintf("lab: missing %s; run scripts/install-deps.sh (as root)", strings.Join(missing, ", "))
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s", msg)
		return
	}
	t.Skipf("%s", msg)
}

// shortTest reports whether t is a test of a go test -short run. Only a
// testing.TB can be one; testing.Short must not be asked before the test
// flags are parsed (it panics), which they are once a test runs.
func shortTest(t TB) bool {
	_, isTest := t.(testing.TB)
	return isTest && flag.Parsed() && testing.Short()
}

// pollInterval is how often Within and WaitFor evaluate their condition; it
// is the resolution of the durations they return.
const pollInterval = 5 * time.Millisecond

// Within polls cond every 5 ms until it returns true or timeout passes. It
// returns the time cond took to become true and whether it did. Use it to
// assert that something does not happen.
func Within(timeout time.Duration, cond func() bool) (time.Duration, bool) {
	start := time.Now()
	deadline := start.Add(timeout)
	for {
		if cond() {
			return time.Since(start), true
		}
		if time.Now().After(deadline) {
			return time.Since(start), false
		}
		time.Sleep(pollInterval)
	}
}

// WaitFor polls cond every 5 ms until it returns true and returns how long
// that took. If timeout passes first it fails t with a message naming what
// was awaited.
func WaitFor(t TB, timeout time.Duration, cond func() bool, what string) time.Duration {
	t.Helper()
	took, ok := Within(timeout, cond)
	if !ok {
		t.Fatalf("timed out after %v waiting for %s", timeout, what)
	}
	return took
}
