package main

import (
	"os"
	"sync"

	"github.com/vigil-lb/vigil/internal/lab"
)

// scope is a lab.TB whose cleanups and temporary directories last one
// benchmark run, while failures go to the parent (the program's
// lab.Session, which removes everything and exits on Fatalf). keepalived's
// files and process are scoped to the run that started them.
type scope struct {
	parent lab.TB

	mu       sync.Mutex
	cleanups []func()
}

var _ lab.TB = (*scope)(nil)

func newScope(parent lab.TB) *scope { return &scope{parent: parent} }

func (s *scope) Helper()                           {}
func (s *scope) Logf(format string, args ...any)   { s.parent.Logf(format, args...) }
func (s *scope) Errorf(format string, args ...any) { s.parent.Errorf(format, args...) }
func (s *scope) Fatalf(format string, args ...any) { s.parent.Fatalf(format, args...) }
func (s *scope) Skipf(format string, args ...any)  { s.parent.Skipf(format, args...) }
func (s *scope) Failed() bool                      { return s.parent.Failed() }

// Cleanup registers f to run when the scope closes, last registered first.
func (s *scope) Cleanup(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cleanups = append(s.cleanups, f)
}

// TempDir returns a new directory removed when the scope closes.
func (s *scope) TempDir() string {
	dir, err := os.MkdirTemp("", "vigil-bench-")
	if err != nil {
		s.parent.Fatalf("creating temporary directory: %v", err)
	}
	s.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// close runs the cleanups.
func (s *scope) close() {
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
