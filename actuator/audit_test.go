package actuator

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestAuditAppendAndTail(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "dir")
	a, err := OpenAudit(filepath.Join(dir, "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	if recs, err := a.Tail(10); err != nil || len(recs) != 0 {
		t.Errorf("tail of a missing log: %v %v", recs, err)
	}
	// Enough records to span several read chunks.
	var want []Record
	for i := range 2000 {
		r := Record{Time: t0.Add(time.Duration(i) * time.Second), Source: SourceCLI, Who: "alice", Action: ActionDrain,
			Target: Target{VirtualServer: "db", RealServer: fmt.Sprintf("10.0.%d.%d:3306", i/256, i%256)},
			Reason: strings.Repeat("x", i%97), Result: ResultApplied}
		if err := a.Append(r); err != nil {
			t.Fatal(err)
		}
		want = append(want, r)
	}
	fi, err := os.Stat(a.Path())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() < 3*tailChunk {
		t.Fatalf("log of %d bytes does not span chunks", fi.Size())
	}
	if fi.Mode().Perm() != 0o640 {
		t.Errorf("audit log mode %v", fi.Mode().Perm())
	}
	for _, n := range []int{0, 1, 7, 500, 1999, 2000, 5000} {
		got, err := a.Tail(n)
		if err != nil {
			t.Fatal(err)
		}
		w := want[max(0, len(want)-n):]
		if n == 0 {
			w = []Record{}
		}
		if diff := cmp.Diff(w, got); diff != "" {
			t.Errorf("Tail(%d) (-want +got):\n%s", n, diff)
		}
	}
	// Every line is a JSON object with the documented keys.
	b, err := os.ReadFile(a.Path())
	if err != nil {
		t.Fatal(err)
	}
	var line map[string]any
	if err := json.Unmarshal([]byte(strings.SplitN(string(b), "\n", 2)[0]), &line); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"time", "source", "who", "action", "target", "result"} {
		if _, ok := line[k]; !ok {
			t.Errorf("audit line lacks %q: %v", k, line)
		}
	}
}

func TestAuditTornLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	a, _ := OpenAudit(path)
	a.Append(Record{Action: ActionDrain, Result: ResultApplied, Reason: "one"})
	// A crash in the middle of a write.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"time":"2025-01-02T03:04:05Z","source":"api","act`)
	f.Close()
	if err := a.Append(Record{Action: ActionUndrain, Result: ResultApplied, Reason: "two"}); err != nil {
		t.Fatal(err)
	}
	got, err := a.Tail(5)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Reason != "one" || got[1].Reason != "two" {
		t.Errorf("records around a torn line: %+v", got)
	}
	b, _ := os.ReadFile(path)
	if lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n"); len(lines) != 3 {
		t.Errorf("torn line not ended: %q", b)
	}
}

func TestAuditWriteErrorIsCounted(t *testing.T) {
	h := newHarness(t)
	// The log's path is a directory: appending fails, the action does not.
	bad := filepath.Join(h.dir, "auditdir")
	if err := os.Mkdir(bad, 0o700); err != nil {
		t.Fatal(err)
	}
	h.a.audit = &Audit{path: bad}
	if code, _ := h.post(payload(lag("firing", "10.0.0.1:3306"))); code != 200 {
		t.Errorf("webhook with a broken audit log: %d", code)
	}
	wantCalls(t, h.ex, "overrides [db/10.0.0.1:3306 drain]")
	if got := testCounter(h.a.metrics.auditErrors); got != 1 {
		t.Errorf("audit write errors: %v", got)
	}
}
