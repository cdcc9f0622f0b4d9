package lab

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vigil-lb/vigil/internal/spawn"
)

// stopGrace is how long Stop waits after SIGTERM before it kills the
// process group.
const stopGrace = 3 * time.Second

// Proc is a long-running process started in a host's namespace by
// Host.Start or Host.StartKeepalived. Its standard output and standard error
// go to one log file. The process leads its own process group, so Kill
// reaches the children it forks (keepalived's VRRP child) as well.
type Proc struct {
	host    *Host
	tb      TB
	argv    []string
	cmd     *exec.Cmd
	logPath string

	done    chan struct{}
	waitErr error // valid once done is closed
	stopped sync.Once
}

// spawnRequest asks the spawner thread to start a command.
type spawnRequest struct {
	cmd  *exec.Cmd
	errc chan error
}

// startProc starts argv in h's namespace with its output in a log file in
// dir. The process is stopped when tb's cleanups run or the topology closes,
// whichever comes first.
func (h *Host) startProc(tb TB, dir string, argv []string) *Proc {
	tb.Helper()
	if len(argv) == 0 {
		tb.Fatalf("lab: %s: Start needs a command", h.name)
	}
	bin, err := lookPath(argv[0])
	if err != nil {
		tb.Fatalf("lab: %s: %v; run scripts/install-deps.sh", h.name, err)
	}
	ipBin, err := lookPath("ip")
	if err != nil {
		tb.Fatalf("lab: %s: %v; run scripts/install-deps.sh", h.name, err)
	}
	seq := h.topo.procSeq.Add(1)
	logPath := filepath.Join(dir, fmt.Sprintf("%s-%s-%d.log", h.name, filepath.Base(bin), seq))
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		tb.Fatalf("lab: %s: creating log: %v", h.name, err)
	}
	defer logf.Close() // the child has its own descriptor

	cmd := exec.Command(ipBin, append([]string{"netns", "exec", h.ns, bin}, argv[1:]...)...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:   true,
		Pdeathsig: syscall.SIGKILL,
	}
	p := &Proc{
		host:    h,
		tb:      tb,
		argv:    append([]string{bin}, argv[1:]...),
		cmd:     cmd,
		logPath: logPath,
		done:    make(chan struct{}),
	}
	if !h.topo.track(p) {
		tb.Fatalf("lab: %s: topology is closed", h.name)
	}
	if err := spawn.Start(cmd); err != nil {
		h.topo.untrack(p)
		tb.Fatalf("lab: %s: starting %s: %v", h.name, strings.Join(argv, " "), err)
	}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	tb.Cleanup(func() {
		p.Stop()
		if tb.Failed() {
			tb.Logf("lab: %s: %s (pid %d) log %s, last lines:\n%s", h.name, p.argv[0], p.Pid(), p.logPath, tail(p.Log(), 40))
		}
	})
	return p
}

// Pid returns the process ID of the process (the `ip netns exec` wrapper
// execs the command, so this is the command itself).
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Argv returns the command line with the executable resolved.
func (p *Proc) Argv() []string { return append([]string(nil), p.argv...) }

// Host returns the host the process runs on.
func (p *Proc) Host() *Host { return p.host }

// LogPath returns the path of the file holding the process's output.
func (p *Proc) LogPath() string { return p.logPath }

// Log returns the process's output so far.
func (p *Proc) Log() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("(reading %s: %v)", p.logPath, err)
	}
	return string(b)
}

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Signal sends sig to the process only (not its children): SIGHUP to reload,
// SIGTERM for a graceful stop. Signalling a process that has exited fails
// the test.
func (p *Proc) Signal(sig syscall.Signal) {
	p.tb.Helper()
	if p.Exited() {
		p.tb.Fatalf("lab: %s: signal %v to %s (pid %d): process already exited: %v", p.host.name, sig, p.argv[0], p.Pid(), p.waitErr)
	}
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		p.tb.Fatalf("lab: %s: signal %v to %s (pid %d): %v", p.host.name, sig, p.argv[0], p.Pid(), err)
	}
}

// Kill sends SIGKILL to the whole process group at once and waits until the
// process has exited: a crash, with no chance to send a priority-0 advert or
// remove addresses. Killing a process that has already exited is not an
// error.
func (p *Proc) Kill() {
	p.tb.Helper()
	p.killGroup()
	if err := p.Wait(5 * time.Second); errors.Is(err, ErrTimeout) {
		p.tb.Fatalf("lab: %s: %s (pid %d) survived SIGKILL for 5s", p.host.name, p.argv[0], p.Pid())
	}
}

func (p *Proc) killGroup() {
	// Negative PID: the process group the child leads (Setpgid).
	syscall.Kill(-p.Pid(), syscall.SIGKILL)
}

// Wait waits up to timeout for the process to exit. It returns nil for exit
// status 0, the *exec.ExitError otherwise, or an error wrapping ErrTimeout.
func (p *Proc) Wait(timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.done:
		return p.waitErr
	case <-t.C:
		return fmt.Errorf("waiting %v for %s (pid %d) to exit: %w", timeout, p.argv[0], p.Pid(), ErrTimeout)
	}
}

// Stop ends the process gracefully: SIGTERM, up to 3 s to exit, then
// SIGKILL to the process group. It is idempotent and runs automatically at
// cleanup; it returns the process's exit error, if any.
func (p *Proc) Stop() error {
	p.stopped.Do(func() {
		defer p.host.topo.untrack(p)
		if !p.Exited() {
			p.cmd.Process.Signal(syscall.SIGTERM)
			if err := p.Wait(stopGrace); err == nil || !errors.Is(err, ErrTimeout) {
				p.killGroup() // stray children
				return
			}
		}
		p.killGroup()
		<-p.done
	})
	return p.waitErr
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := bytes.Split(bytes.TrimRight([]byte(s), "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
