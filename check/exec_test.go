package check

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestCommand(t *testing.T) {
	target := netip.MustParseAddrPort("192.0.2.10:3306")
	weight := func(w int) *int { return &w }
	tests := []struct {
		name       string
		probe      Command
		ok         bool
		weight     *int
		errContain string
	}{
		{name: "exit 0", probe: Command{Argv: []string{"/bin/true"}}, ok: true},
		{name: "exit 1", probe: Command{Argv: []string{"/bin/false"}}, errContain: "exited with code 1"},
		{name: "exit 12 static", probe: Command{Argv: []string{"/bin/sh", "-c", "exit 12"}}, errContain: "exited with code 12"},
		{name: "output in error", probe: Command{Argv: []string{"/bin/sh", "-c", "echo slave not running >&2; exit 1"}}, errContain: `output "slave not running"`},
		{name: "dynamic exit 0", probe: Command{Argv: []string{"/bin/true"}, DynamicWeight: true}, ok: true},
		{name: "dynamic exit 1", probe: Command{Argv: []string{"/bin/false"}, DynamicWeight: true}, errContain: "exited with code 1"},
		{name: "dynamic exit 2", probe: Command{Argv: []string{"/bin/sh", "-c", "exit 2"}, DynamicWeight: true}, ok: true, weight: weight(0)},
		{name: "dynamic exit 12", probe: Command{Argv: []string{"/bin/sh", "-c", "exit 12"}, DynamicWeight: true}, ok: true, weight: weight(10)},
		{name: "dynamic exit 255", probe: Command{Argv: []string{"/bin/sh", "-c", "exit 255"}, DynamicWeight: true}, ok: true, weight: weight(253)},
		{name: "target in environment", probe: Command{Argv: []string{"/bin/sh", "-c", `test "$VIGIL_TARGET_ADDR:$VIGIL_TARGET_PORT" = 192.0.2.10:3306`}}, ok: true},
		{name: "missing program", probe: Command{Argv: []string{"/nonexistent/check"}}, errContain: "no such file"},
		{name: "empty argv", probe: Command{}, errContain: "empty command"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := probeWithin(t, tc.probe, target, 5*time.Second)
			if res.OK != tc.ok {
				t.Fatalf("OK %v, want %v (%+v)", res.OK, tc.ok, res)
			}
			if tc.ok && res.Err != nil {
				t.Errorf("successful result with error %v", res.Err)
			}
			if !tc.ok && (res.Err == nil || !strings.Contains(res.Err.Error(), tc.errContain)) {
				t.Errorf("error %v, want it to contain %q", res.Err, tc.errContain)
			}
			switch {
			case (res.Weight == nil) != (tc.weight == nil):
				t.Errorf("weight %v, want %v", res.Weight, tc.weight)
			case res.Weight != nil && *res.Weight != *tc.weight:
				t.Errorf("weight %d, want %d", *res.Weight, *tc.weight)
			}
		})
	}
}

// processGone reports whether pid has exited (or is a zombie waiting for
// a reaper that is not us).
func processGone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	// The state follows the parenthesised command name.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] == 'Z'
}

func TestCommandTimeoutKillsProcessGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	// The shell starts a grandchild that inherits stdout and would keep the
	// output pipe open for 30s if only the shell were killed.
	p := Command{Argv: []string{"/bin/sh", "-c", `sleep 30 & echo $! > "$0"; wait`, pidFile}}
	const timeout = 300 * time.Millisecond
	res := probeWithin(t, p, netip.AddrPort{}, timeout)
	if res.OK || res.Outcome() != ResultTimeout {
		t.Fatalf("got %+v, want a timeout", res)
	}
	// Had the grandchild survived, Wait would have hung on the pipe until
	// WaitDelay.
	if res.Duration > timeout+execWaitDelay/2 {
		t.Errorf("took %s, want about %s", res.Duration, timeout)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for !processGone(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("grandchild %d survived the timeout", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestExecCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	r := Exec(ctx, []string{"/bin/sleep", "5"})
	if r.OK || r.Duration > time.Second || IsTimeout(r.Err) {
		t.Fatalf("canceled: %+v (a cancellation is not a timeout)", r)
	}
}
