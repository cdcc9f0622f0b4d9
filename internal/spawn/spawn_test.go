package spawn

import (
	"os/exec"
	"runtime"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// start is what the test starts the child with; a variable so that the
// test can be seen to fail with cmd.Start.
var start = Start

// A child started from a goroutine that ends locked to its thread, as
// namespace code does, survives the thread's exit, which would kill it
// (PR_SET_PDEATHSIG) had it been forked from that thread.
func TestChildOutlivesLockedThreads(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatalf("sleep(1), from coreutils, is not in PATH: %v", err)
	}
	cmd := exec.Command(sleep, "30")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := onDoomedThread(func() error { return start(cmd) }); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-exited })

	select {
	case <-exited:
		t.Fatalf("the child died with a thread: %v", cmd.ProcessState)
	case <-time.After(500 * time.Millisecond):
	}
}

// onDoomedThread runs fn on an OS thread that exits when fn returns: a
// goroutine that ends locked to its thread takes it along, unless it is
// the main thread, which Go keeps (so that one is held while a nested
// goroutine gets another).
func onDoomedThread(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if unix.Gettid() == unix.Getpid() {
			defer runtime.UnlockOSThread()
			errc <- onDoomedThread(fn)
			return
		}
		errc <- fn()
	}()
	return <-errc
}
