package vrrp

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// RunHook runs argv directly (never through a shell) with env appended to
// vigil's environment, bounded by ctx. A non-zero exit, a timeout or a
// failure to start is an error that quotes the command and its output.
func RunHook(ctx context.Context, argv []string, env []string) error {
	if len(argv) == 0 {
		return fmt.Errorf("empty command")
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		return fmt.Errorf("running %q: timed out: %w", strings.Join(argv, " "), ctx.Err())
	}
	if err != nil {
		return fmt.Errorf("running %q: %w (output: %q)", strings.Join(argv, " "), err, truncate(out.String(), 512))
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
