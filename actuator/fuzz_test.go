package actuator

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func webhookSeeds(f *testing.F) {
	files, err := filepath.Glob("testdata/webhook/*.json")
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds: %v", err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(payload(lag("firing", "10.0.0.1:3306"), lag("resolved", "10.0.0.2:3306"),
		firing("alertname", "DirectorNICErrors", "director", "lb1"))))
}

// FuzzDecodeWebhook feeds arbitrary bytes to DecodeWebhook. It must never
// panic and must give the same answer twice; a payload it accepts is
// version 4 with every alert firing or resolved and fingerprinted, and
// survives encoding and decoding again unchanged.
func FuzzDecodeWebhook(f *testing.F) {
	webhookSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		m1, err1 := DecodeWebhook(bytes.NewReader(data))
		m2, err2 := DecodeWebhook(bytes.NewReader(data))
		if (err1 == nil) != (err2 == nil) || (err1 != nil && err1.Error() != err2.Error()) {
			t.Fatalf("not deterministic: %v then %v", err1, err2)
		}
		if err1 != nil {
			if m1 != nil {
				t.Fatal("a message with an error")
			}
			return
		}
		if m1.Version != "4" {
			t.Fatalf("accepted version %q", m1.Version)
		}
		for i, a := range m1.Alerts {
			if a.Status != "firing" && a.Status != "resolved" {
				t.Fatalf("alerts[%d]: accepted status %q", i, a.Status)
			}
			if a.Fingerprint == "" {
				t.Fatalf("alerts[%d]: no fingerprint", i)
			}
		}
		b1, err := json.Marshal(m1)
		if err != nil {
			t.Fatalf("encoding an accepted message: %v", err)
		}
		m3, err := DecodeWebhook(bytes.NewReader(b1))
		if err != nil {
			t.Fatalf("decoding an encoded message: %v\n%s", err, b1)
		}
		b3, err := json.Marshal(m3)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b1, b3) || !bytes.Equal(mustJSON(t, m2), b1) {
			t.Fatalf("round trip changed the message:\n%s\n%s", b1, b3)
		}
	})
}

func mustJSON(t *testing.T, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzWebhookHandler posts arbitrary bodies, with the token, to an
// actuator whose executor never fails: the answer is never a 5xx (nothing
// is retryable), and a 400 changes nothing.
func FuzzWebhookHandler(f *testing.F) {
	webhookSeeds(f)
	dir := f.TempDir()
	ex := newFakeExec()
	now := t0
	cfg := testConfig(f, dir)
	a, err := New(cfg, Options{Executor: ex, StateDir: filepath.Join(dir, "state"), RouterID: "lb1", Now: func() time.Time { return now }})
	if err != nil {
		f.Fatal(err)
	}
	handler := a.WebhookHandler()
	f.Fuzz(func(t *testing.T, data []byte) {
		now = now.Add(time.Minute)
		ex.takeCalls()
		r := httptest.NewRequest("POST", WebhookPath, bytes.NewReader(data))
		r.Header.Set("Authorization", "Bearer "+testToken)
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, r)
		switch w.Code {
		case 200, 422:
		case 400:
			if calls := ex.takeCalls(); len(calls) > 0 {
				t.Fatalf("a rejected payload changed something: %v", calls)
			}
		default:
			t.Fatalf("answered %d %q", w.Code, w.Body)
		}
		if w.Body.Len() == 0 {
			t.Fatal("empty answer")
		}
	})
}

// FuzzAPIHandler posts arbitrary bodies, with the token, to every action
// endpoint of the API of an actuator whose executor never fails: the
// answer is JSON, never a 5xx (nothing fails), and a 400 changes nothing.
func FuzzAPIHandler(f *testing.F) {
	paths := []string{"drain", "undrain", "weight", "failover", "resign", "hold", "release"}
	for i, body := range []string{
		`{"virtual_server": "db", "real_server": "10.0.0.2:3306", "reason": "disk", "dry_run": true}`,
		`{"virtual_server": "db", "real_server": "10.0.0.2:3306"}`,
		`{"virtual_server": "web", "real_server": "10.0.1.1:80", "weight": 3, "force": true}`,
		`{"virtual_server": "web", "real_server": "10.0.1.1:80", "weight": null}`,
		`{"vrrp_instance": "VI_1", "hold": "10m"}`,
		`{"hold": "1h", "reason": "maintenance"}`,
		`{"vrrp_instance": "VI_1"}`,
		`{"vrrp_instance": "VI_1", "weight": 1.5, "extra": 1}`,
		`{} {}`, ``, `[]`,
	} {
		f.Add(uint8(i), []byte(body))
	}
	dir := f.TempDir()
	ex := newFakeExec()
	now := t0
	a, err := New(testConfig(f, dir), Options{Executor: ex, StateDir: filepath.Join(dir, "state"), RouterID: "lb1", Now: func() time.Time { return now }})
	if err != nil {
		f.Fatal(err)
	}
	handler := a.APIHandler()
	f.Fuzz(func(t *testing.T, path uint8, data []byte) {
		now = now.Add(time.Hour) // past every cooldown
		ex.takeCalls()
		r := httptest.NewRequest("POST", APIPrefix+paths[int(path)%len(paths)], bytes.NewReader(data))
		r.Header.Set("Authorization", "Bearer "+testToken)
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, r)
		switch w.Code {
		case 200, 404, 409:
		case 400:
			if calls := ex.takeCalls(); len(calls) > 0 {
				t.Fatalf("a rejected request changed something: %v", calls)
			}
		default:
			t.Fatalf("answered %d %q", w.Code, w.Body)
		}
		if !json.Valid(w.Body.Bytes()) {
			t.Fatalf("answer is not JSON: %q", w.Body)
		}
	})
}

// FuzzAuditTail writes arbitrary bytes as the audit log, as a crash may
// leave it (torn lines, garbage), and reads its tail in small chunks, so
// that lines cross chunk boundaries: Tail must never panic, and must
// return the last n records that parse, oldest first, exactly as reading
// the whole file line by line does.
func FuzzAuditTail(f *testing.F) {
	rec := `{"time":"2026-01-01T00:00:00Z","action":"drain","source":"api","result":"applied"}`
	f.Add([]byte(rec+"\n"+rec+"\n{torn"), uint8(2), uint8(7))
	f.Add([]byte("\n\n"+rec+"\n\n"), uint8(5), uint8(1))
	f.Add([]byte(rec), uint8(1), uint8(64))
	f.Fuzz(func(t *testing.T, data []byte, n, chunk uint8) {
		defer func(c int64) { tailChunk = c }(tailChunk)
		tailChunk = int64(chunk%64) + 1
		path := filepath.Join(t.TempDir(), AuditFile)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		a, err := OpenAudit(path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := a.Tail(int(n))
		if err != nil {
			t.Fatal(err)
		}
		var want []Record
		for _, line := range bytes.Split(data, []byte{'\n'}) {
			var r Record
			if len(bytes.TrimSpace(line)) == 0 || json.Unmarshal(line, &r) != nil {
				continue
			}
			want = append(want, r)
		}
		want = want[max(0, len(want)-int(n)):]
		if a, b := mustJSON(t, got), mustJSON(t, want); !bytes.Equal(a, b) && !(len(got) == 0 && len(want) == 0) {
			t.Fatalf("Tail(%d) with %d-byte chunks:\n got %s\nwant %s", n, tailChunk, a, b)
		}
	})
}

// FuzzOpenStore feeds arbitrary bytes to OpenStore as the actuator's state
// file (state_dir/actuator.json: the operators' drains, weights and holds,
// read at start). It must never panic; a file it accepts is written back
// and opened again to the same state, and writing that gives the same
// bytes: a state that loads is never saved as one that does not.
func FuzzOpenStore(f *testing.F) {
	f.Add([]byte(`{"version": 1,
  "overrides": [{"kind": "drain", "target": {"virtual_server": "db", "real_server": "10.0.0.2:3306"},
                 "since": "2026-01-01T00:00:00Z", "source": "webhook", "who": "vigil",
                 "alerts": [{"rule": "drain-lagging-replica", "fingerprint": "1a2b3c4d5e6f7a8b"}]},
                {"kind": "weight", "target": {"virtual_server": "db", "real_server": "10.0.0.3:3306"}, "weight": 0,
                 "since": "2026-01-01T00:00:00Z", "source": "api", "who": "ops"},
                {"kind": "hold", "target": {"vrrp_instance": "VI_1"}, "since": "2026-01-01T00:00:00Z", "source": "cli"}],
  "handled": [{"alert": {"rule": "r", "fingerprint": "f"}, "target": {"virtual_server": "db", "real_server": "10.0.0.2:3306"},
               "action": "drain", "undo": true, "at": "2026-01-01T00:00:00Z", "last_seen": "2026-01-01T00:01:00Z"}],
  "cooldowns": [{"class": "drain", "target": {"virtual_server": "db"}, "changed": "2026-01-01T00:00:00Z"}],
  "automated": ["2026-01-01T00:00:00Z"]}`))
	f.Add([]byte(`{"version": 1, "overrides": []}`))
	f.Add([]byte(`{"version": 1, "overrides": [{"kind": "weight"}]}`))
	f.Add([]byte(`{"version": 3}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, StateFile)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := OpenStore(dir)
		if err != nil {
			return
		}
		first := storeJSON(t, s)
		if err := s.commit(s.cur); err != nil {
			t.Fatalf("writing an accepted state: %v", err)
		}
		saved, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		again, err := OpenStore(dir)
		if err != nil {
			t.Fatalf("the written state does not open: %v\n%s", err, saved)
		}
		if second := storeJSON(t, again); second != first {
			t.Fatalf("state changed by a write and open:\n%s\n%s", first, second)
		}
		if err := again.commit(again.cur); err != nil {
			t.Fatal(err)
		}
		if resaved, _ := os.ReadFile(path); !bytes.Equal(resaved, saved) {
			t.Fatalf("writing the same state twice gave different files:\n%s\n%s", saved, resaved)
		}
	})
}

func storeJSON(t *testing.T, s *Store) string { return string(mustJSON(t, s.cur.doc())) }
