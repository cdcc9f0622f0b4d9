package actuator

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func readPayload(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "webhook", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestWebhookPayloads posts the payloads in testdata/webhook, in order, to
// a fresh actuator and compares the last answer exactly.
func TestWebhookPayloads(t *testing.T) {
	lagFP := labelSet(map[string]string{"alertname": "MySQLReplicaLag", "severity": "critical", "job": "mysqld",
		"instance": "10.0.0.2:9104", "virtual_server": "db", "real_server": "10.0.0.2:3306"}).Fingerprint().String()
	for _, tc := range []struct {
		name     string
		files    []string
		wantCode int
		wantBody string
	}{
		{"firing", []string{"firing-replica-lag.json"}, 200,
			`alert 5c1e2a7d1f0b9e44 rule "drain-lagging-replica": drain real_server 10.0.0.2:3306 of db: applied` + "\n"},
		{"re-sent", []string{"firing-replica-lag.json", "firing-replica-lag.json"}, 200,
			`alert 5c1e2a7d1f0b9e44 rule "drain-lagging-replica": drain real_server 10.0.0.2:3306 of db: noop: already handled at 2025-01-02T03:04:05Z` + "\n"},
		{"resolved at once", []string{"firing-replica-lag.json", "resolved-replica-lag.json"}, 200,
			`alert 5c1e2a7d1f0b9e44 rule "drain-lagging-replica": undrain real_server 10.0.0.2:3306 of db: refused by cooldown: undo deferred until 2025-01-02T03:09:05Z (cooldown is 5m0s)` + "\n"},
		{"resolved unseen", []string{"resolved-replica-lag.json"}, 200, "nothing to do\n"},
		{"no match", []string{"no-match.json"}, 200, "nothing to do\n"},
		{"only_self", []string{"director-nic-errors.json"}, 200,
			`alert ddddeeeeffff0000 rule "leave-sick-director": failover vrrp_instance VI_1: applied` + "\n"},
		{"fingerprint computed", []string{"no-fingerprint.json"}, 200,
			`alert ` + lagFP + ` rule "drain-lagging-replica": drain real_server 10.0.0.2:3306 of db: applied` + "\n"},
		{"newer fields ignored", []string{"extra-fields.json"}, 200,
			`alert 5c1e2a7d1f0b9e44 rule "drain-lagging-replica": drain real_server 10.0.0.2:3306 of db: applied` + "\n"},
		{"missing label", []string{"missing-label.json"}, 422,
			`alert 0a0b0c0d0e0f1011 rule "drain-lagging-replica": drain: failed: rendering target.real_server: template: real_server:1:10: executing "real_server" at <.Labels.real_server>: map has no entry for key "real_server"` + "\n"},
		{"unknown real server", []string{"unknown-real-server.json"}, 422,
			`alert 1111222233334444 rule "drain-lagging-replica": drain real_server 10.9.9.9:3306 of db: failed: virtual_server "db" has no real_server "10.9.9.9:3306"` + "\n"},
		{"unknown virtual server", []string{"unknown-virtual-server.json"}, 422,
			`alert 5555666677778888 rule "drain-lagging-replica": drain real_server 10.0.0.2:3306 of nope: failed: virtual_server "nope": no virtual_server "nope": unknown target` + "\n"},
		{"version 3", []string{"version-3.json"}, 400, `unsupported webhook payload version "3" (want "4")` + "\n"},
		{"bad status", []string{"bad-status.json"}, 400, `alerts[0]: status "pending" is neither firing nor resolved` + "\n"},
		{"truncated", []string{"truncated.json"}, 400, "decoding webhook payload: unexpected EOF\n"},
		{"trailing data", []string{"trailing-data.json"}, 400, "decoding webhook payload: data after the JSON object\n"},
		{"labels not an object", []string{"labels-not-object.json"}, 400,
			"decoding webhook payload: json: cannot unmarshal array into Go struct field Alert.Data.alerts.labels of type template.KV\n"},
		{"empty", []string{"empty.json"}, 400, "empty body\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			var code int
			var body string
			for _, f := range tc.files {
				code, body = h.post(readPayload(t, f))
			}
			if code != tc.wantCode || body != tc.wantBody {
				t.Errorf("answered %d %q\nwant %d %q", code, body, tc.wantCode, tc.wantBody)
			}
			if tc.wantCode == 400 {
				wantCalls(t, h.ex)
				wantAudit(t, h)
			}
		})
	}
}

func TestWebhookAuth(t *testing.T) {
	h := newHarness(t)
	body := readPayload(t, "firing-replica-lag.json")
	for _, auth := range []string{"", "Bearer wrong", "Bearer " + testToken + "x", "Basic " + testToken, testToken, "Bearer"} {
		code, got := h.do(h.a.WebhookHandler(), "POST", WebhookPath, body, auth, nil)
		if code != 401 || got != "unauthorized\n" {
			t.Errorf("Authorization %q: %d %q, want 401", auth, code, got)
		}
	}
	w := httptest.NewRecorder()
	h.a.WebhookHandler().ServeHTTP(w, httptest.NewRequest("POST", WebhookPath, strings.NewReader(body)))
	if got := w.Header().Get("WWW-Authenticate"); got != `Bearer realm="vigil"` {
		t.Errorf("WWW-Authenticate %q", got)
	}
	// Nothing happened.
	wantCalls(t, h.ex)
	wantAudit(t, h)
	wantOverrides(t, h.a)
	// The scheme is case-insensitive.
	if code, _ := h.do(h.a.WebhookHandler(), "POST", WebhookPath, body, "bearer "+testToken, nil); code != 200 {
		t.Errorf("lower-case scheme: %d", code)
	}
	if got := testutil.ToFloat64(h.a.metrics.webhook.WithLabelValues("401")); got != 7 {
		t.Errorf("401s counted: %v, want 7", got)
	}
}

func TestWebhookAuthDisabled(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Auth = Auth{Disabled: true} })
	if code, _ := h.do(h.a.WebhookHandler(), "POST", WebhookPath, payload(), "", nil); code != 200 {
		t.Errorf("no token with auth disabled: %d", code)
	}
}

func TestWebhookNoTokenConfigured(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Enabled, c.Auth = false, Auth{} })
	// No token configured and authentication not disabled: nothing is
	// accepted, whatever is presented.
	for _, auth := range []string{"", "Bearer ", "Bearer x"} {
		if code, _ := h.do(h.a.APIHandler(), "GET", "/api/v1/overrides", "", auth, nil); code != 401 {
			t.Errorf("API with %q and no token configured: %d", auth, code)
		}
		if code, _ := h.do(h.a.WebhookHandler(), "POST", WebhookPath, payload(), auth, nil); code != 401 {
			t.Errorf("webhook with %q and no token configured: %d", auth, code)
		}
	}
}

func TestWebhookHTTPErrors(t *testing.T) {
	h := newHarness(t)
	code, body := h.do(h.a.WebhookHandler(), "GET", WebhookPath, "", "Bearer "+testToken, nil)
	if code != 405 || body != "method not allowed: use POST\n" {
		t.Errorf("GET: %d %q", code, body)
	}
	big := `{"version": "4", "receiver": "` + strings.Repeat("x", maxWebhookBody) + `"}`
	code, body = h.post(big)
	if code != 413 || body != "body larger than 4194304 bytes\n" {
		t.Errorf("large body: %d %q", code, body)
	}
	h.cfg.Enabled = false
	if err := h.a.Reload(h.cfg); err != nil {
		t.Fatal(err)
	}
	code, body = h.post(readPayload(t, "firing-replica-lag.json"))
	if code != 403 || body != "actuator disabled (actuator.enabled is false)\n" {
		t.Errorf("disabled: %d %q", code, body)
	}
	wantCalls(t, h.ex)
	for c, want := range map[string]float64{"405": 1, "413": 1, "403": 1} {
		if got := testutil.ToFloat64(h.a.metrics.webhook.WithLabelValues(c)); got != want {
			t.Errorf("webhook requests with code %s: %v, want %v", c, got, want)
		}
	}
}

func TestWebhookCancelledRequestIsRetryable(t *testing.T) {
	h := newHarness(t)
	h.ex.fail = context.Canceled
	m, err := DecodeWebhook(strings.NewReader(readPayload(t, "firing-replica-lag.json")))
	if err != nil {
		t.Fatal(err)
	}
	outs := h.a.HandleWebhook(context.Background(), m, "192.0.2.9:41000")
	if len(outs) != 1 || !outs[0].Retryable() {
		t.Errorf("outcomes %+v, want one retryable failure", outs)
	}
	h.advance(time.Second)
	outs = h.a.HandleWebhook(context.Background(), m, "192.0.2.9:41000")
	if len(outs) != 1 || outs[0].Result != ResultApplied {
		t.Errorf("retry: %+v", outs)
	}
}
