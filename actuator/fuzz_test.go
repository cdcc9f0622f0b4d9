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
