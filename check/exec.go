package check

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
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

// Exec runs argv directly (never through a shell), bounded by ctx. Exit
// code 0 is success, any other exit code, a timeout or a failure to start
// is a failure. Output is kept (truncated) for logs.
func Exec(ctx context.Context, argv []string) ExecResult {
	start := time.Now()
	if len(argv) == 0 {
		return ExecResult{ExitCode: -1, Err: errors.New("empty command")}
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 500 * time.Millisecond
	err := cmd.Run()
	res := ExecResult{Duration: time.Since(start), Output: truncate(out.String(), 1024), ExitCode: -1}
	if cmd.ProcessState != nil && cmd.ProcessState.Exited() {
		res.ExitCode = cmd.ProcessState.ExitCode()
	}
	name := strings.Join(argv, " ")
	switch {
	case ctx.Err() != nil:
		res.Err = fmt.Errorf("%q timed out after %s", name, res.Duration.Round(time.Millisecond))
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
