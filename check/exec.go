package check

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ExecResult is the outcome of one exec probe.
type ExecResult struct {
	OK       bool
	ExitCode int // -1 when the command did not exit on its own
	Output   string
	Duration time.Duration
	Err      error // why it is not OK; nil when OK
}

// execWaitDelay bounds how long Exec waits for the output pipes once the
// command has exited or been killed (a daemonised grandchild may hold them).
const execWaitDelay = 500 * time.Millisecond

// Exec runs argv directly (never through a shell), bounded by ctx. Exit
// code 0 is success, any other exit code, a timeout or a failure to start
// is a failure. Output is kept (truncated) for logs.
//
// The command runs in its own process group; when ctx is done the whole
// group is killed with SIGKILL, so a shell script's children do not
// outlive the timeout (keepalived kills the misc checker's process group
// the same way).
func Exec(ctx context.Context, argv []string) ExecResult {
	return execEnv(ctx, argv, nil)
}

// execEnv is Exec with extra environment variables appended to the
// inherited environment.
func execEnv(ctx context.Context, argv []string, env []string) ExecResult {
	start := time.Now()
	if len(argv) == 0 {
		return ExecResult{ExitCode: -1, Err: errors.New("empty command")}
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		// Negative pid: the process group the command leads.
		err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		if errors.Is(err, syscall.ESRCH) {
			return os.ErrProcessDone
		}
		return err
	}
	cmd.WaitDelay = execWaitDelay
	err := cmd.Run()
	res := ExecResult{Duration: time.Since(start), Output: truncate(out.String(), 1024), ExitCode: -1}
	if cmd.ProcessState != nil && cmd.ProcessState.Exited() {
		res.ExitCode = cmd.ProcessState.ExitCode()
	}
	name := strings.Join(argv, " ")
	switch {
	case ctx.Err() != nil:
		res.Err = fmt.Errorf("%q timed out after %s: %w", name, res.Duration.Round(time.Millisecond), ctx.Err())
	case err != nil && res.ExitCode > 0:
		res.Err = fmt.Errorf("%q exited with code %d", name, res.ExitCode)
	case err != nil:
		res.Err = fmt.Errorf("%q: %w", name, err)
	default:
		res.OK = true
	}
	return res
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// Command runs a program as a check (keepalived's MISC_CHECK). The
// program gets the target in its environment as VIGIL_TARGET_ADDR and
// VIGIL_TARGET_PORT, on top of vigil's own environment.
//
// Exit code 0 is success. Without DynamicWeight any other exit code is a
// failure. With DynamicWeight (keepalived's misc_dynamic) exit code 1 is a
// failure and 2..255 is a success that sets the real server's weight to
// the exit code minus 2 (Result.Weight).
type Command struct {
	Argv          []string
	DynamicWeight bool
}

// Kind returns "exec".
func (Command) Kind() string { return "exec" }

// Probe runs the command.
func (p Command) Probe(ctx context.Context, target netip.AddrPort) Result {
	var env []string
	if target.IsValid() {
		env = []string{
			"VIGIL_TARGET_ADDR=" + target.Addr().String(),
			"VIGIL_TARGET_PORT=" + strconv.Itoa(int(target.Port())),
		}
	}
	er := execEnv(ctx, p.Argv, env)
	res := Result{OK: er.OK, Err: er.Err, Duration: er.Duration}
	if er.Err != nil && er.Output != "" {
		res.Err = fmt.Errorf("%w: output %q", er.Err, strings.TrimSpace(truncate(er.Output, 200)))
	}
	if p.DynamicWeight && er.ExitCode >= 2 {
		w := er.ExitCode - 2
		res.OK, res.Err, res.Weight = true, nil, &w
	}
	if res.OK {
		res.Err = nil
	}
	return res
}
