package check

import (
	"context"
	"testing"
	"time"
)

func TestHysteresis(t *testing.T) {
	h := NewHysteresis(2, 3, true)
	steps := []struct {
		ok      bool
		changed bool
		up      bool
	}{
		{false, false, true}, {false, false, true}, {true, false, true}, // streak reset by a success
		{false, false, true}, {false, false, true}, {false, true, false}, // third failure in a row
		{true, false, false}, {false, false, false}, {true, false, false}, {true, true, true},
	}
	for i, s := range steps {
		if got := h.Observe(s.ok); got != s.changed || h.Up() != s.up {
			t.Fatalf("step %d: Observe(%v) changed=%v up=%v, want changed=%v up=%v", i, s.ok, got, h.Up(), s.changed, s.up)
		}
	}
}

func TestHysteresisMinimums(t *testing.T) {
	h := NewHysteresis(0, 0, false)
	if !h.Observe(true) || !h.Up() {
		t.Fatal("rise 0 must act as 1")
	}
}

func TestExec(t *testing.T) {
	ctx := context.Background()
	if r := Exec(ctx, []string{"/bin/true"}); !r.OK || r.ExitCode != 0 || r.Err != nil {
		t.Fatalf("/bin/true: %+v", r)
	}
	r := Exec(ctx, []string{"/bin/sh", "-c", "echo broken; exit 3"})
	if r.OK || r.ExitCode != 3 || r.Output != "broken\n" || r.Err.Error() != `"/bin/sh -c echo broken; exit 3" exited with code 3` {
		t.Fatalf("exit 3: %+v", r)
	}
	if r := Exec(ctx, []string{"/nonexistent/prog"}); r.OK || r.Err == nil {
		t.Fatalf("missing program: %+v", r)
	}
	tctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	r = Exec(tctx, []string{"/bin/sleep", "5"})
	if r.OK || r.ExitCode != -1 || r.Duration > 2*time.Second {
		t.Fatalf("timeout: %+v", r)
	}
	if want := `"/bin/sleep 5" timed out after`; len(r.Err.Error()) < len(want) || r.Err.Error()[:len(want)] != want {
		t.Fatalf("timeout error %q", r.Err)
	}
}
