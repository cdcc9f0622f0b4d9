package actuator

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func (h *harness) api(method, path, body string, hdr map[string]string) (int, string) {
	h.t.Helper()
	return h.do(h.a.APIHandler(), method, path, body, "Bearer "+testToken, hdr)
}

func wantAPI(t *testing.T, h *harness, method, path, body string, wantCode int, wantBody string) {
	t.Helper()
	code, got := h.api(method, path, body, nil)
	if code != wantCode || got != wantBody {
		t.Errorf("%s %s %s: answered %d\n%s\nwant %d\n%s", method, path, body, code, got, wantCode, wantBody)
	}
}

func TestAPIActions(t *testing.T) {
	h := newHarness(t)
	wantAPI(t, h, "POST", "/api/v1/drain", `{"virtual_server": "db", "real_server": "10.0.0.1:3306", "reason": "kernel upgrade"}`, 200, `{
  "result": "applied",
  "action": "drain",
  "target": {
    "virtual_server": "db",
    "real_server": "10.0.0.1:3306"
  }
}
`)
	wantAPI(t, h, "POST", "/api/v1/drain", `{"virtual_server": "db", "real_server": "10.0.0.1:3306"}`, 200, `{
  "result": "noop",
  "action": "drain",
  "target": {
    "virtual_server": "db",
    "real_server": "10.0.0.1:3306"
  },
  "message": "already drained"
}
`)
	wantAPI(t, h, "POST", "/api/v1/weight", `{"virtual_server": "db", "real_server": "10.0.0.2:3306", "weight": 3}`, 200, `{
  "result": "applied",
  "action": "set_weight",
  "target": {
    "virtual_server": "db",
    "real_server": "10.0.0.2:3306"
  }
}
`)
	// The cap of 2 overrides: refused with 409.
	wantAPI(t, h, "POST", "/api/v1/hold", `{"vrrp_instance": "VI_1"}`, 409, `{
  "result": "refused",
  "action": "hold",
  "target": {
    "vrrp_instance": "VI_1"
  },
  "guard": "max_concurrent",
  "message": "2 overrides active (max_concurrent_actions is 2)"
}
`)
	wantAPI(t, h, "POST", "/api/v1/weight", `{"virtual_server": "db", "real_server": "10.0.0.2:3306", "weight": null}`, 200, `{
  "result": "applied",
  "action": "set_weight",
  "target": {
    "virtual_server": "db",
    "real_server": "10.0.0.2:3306"
  }
}
`)
	wantAPI(t, h, "POST", "/api/v1/hold", `{"vrrp_instance": "VI_1", "reason": "switch maintenance"}`, 200, `{
  "result": "applied",
  "action": "hold",
  "target": {
    "vrrp_instance": "VI_1"
  }
}
`)
	wantAPI(t, h, "POST", "/api/v1/release", `{"vrrp_instance": "VI_1"}`, 200, `{
  "result": "applied",
  "action": "release",
  "target": {
    "vrrp_instance": "VI_1"
  }
}
`)
	wantAPI(t, h, "POST", "/api/v1/failover", `{"vrrp_instance": "VI_2", "hold": "90s"}`, 200, `{
  "result": "applied",
  "action": "failover",
  "target": {
    "vrrp_instance": "VI_2"
  }
}
`)
	wantAPI(t, h, "POST", "/api/v1/resign", `{}`, 200, `{
  "result": "applied",
  "action": "resign",
  "target": {}
}
`)
	wantAPI(t, h, "POST", "/api/v1/undrain", `{"virtual_server": "db", "real_server": "10.0.0.1:3306"}`, 200, `{
  "result": "applied",
  "action": "undrain",
  "target": {
    "virtual_server": "db",
    "real_server": "10.0.0.1:3306"
  }
}
`)
	wantCalls(t, h.ex, "overrides [db/10.0.0.1:3306 drain]", "overrides [db/10.0.0.1:3306 drain, db/10.0.0.2:3306 weight=3]",
		"overrides [db/10.0.0.1:3306 drain]", "holds [VI_1]", "holds []", "resign VI_2 1m30s",
		"resign VI_1 5m0s", "resign VI_2 5m0s", "overrides []")
	wantAudit(t, h, "api drain real_server 10.0.0.1:3306 of db applied", "api drain real_server 10.0.0.1:3306 of db noop",
		"api set_weight real_server 10.0.0.2:3306 of db applied", "api hold vrrp_instance VI_1 refused/max_concurrent",
		"api set_weight real_server 10.0.0.2:3306 of db applied", "api hold vrrp_instance VI_1 applied",
		"api release vrrp_instance VI_1 applied", "api failover vrrp_instance VI_2 applied", "api resign applied",
		"api undrain real_server 10.0.0.1:3306 of db applied")
	recs := h.audit()
	if recs[0].Reason != "kernel upgrade" || recs[7].Hold != "1m30s" || recs[8].Hold != "5m0s" {
		t.Errorf("audit records %+v", recs)
	}
}

func TestAPIErrors(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct {
		path, body string
		code       int
		want       string
	}{
		{"/api/v1/drain", ``, 400, `{"error": "empty body: want a JSON object"}`},
		{"/api/v1/drain", `{"virtual_server": "db"`, 400, `{"error": "decoding request: unexpected EOF"}`},
		{"/api/v1/drain", `{"virtual_server": "db", "real_server": "10.0.0.1:3306", "weigth": 1}`, 400, `{"error": "decoding request: json: unknown field \"weigth\""}`},
		{"/api/v1/drain", `{"virtual_server": "db", "real_server": "10.0.0.1:3306"} {}`, 400, `{"error": "decoding request: data after the JSON object"}`},
		{"/api/v1/drain", `{"virtual_server": "db"}`, 400, `{"result": "failed", "action": "drain", "target": {"virtual_server": "db"}, "message": "drain needs virtual_server and real_server"}`},
		{"/api/v1/drain", `{"virtual_server": "db", "real_server": "10.0.0.1:3306", "weight": 2}`, 400, `{"error": "weight: only for /weight"}`},
		{"/api/v1/weight", `{"virtual_server": "db", "real_server": "10.0.0.1:3306"}`, 400, `{"error": "weight: required (null removes the weight override)"}`},
		{"/api/v1/weight", `{"virtual_server": "db", "real_server": "10.0.0.1:3306", "weight": "5"}`, 400, `{"error": "weight: want an integer or null, got \"5\""}`},
		{"/api/v1/weight", `{"virtual_server": "db", "real_server": "10.0.0.1:3306", "weight": -1}`, 400, `{"result": "failed", "action": "set_weight", "target": {"virtual_server": "db", "real_server": "10.0.0.1:3306"}, "message": "weight -1 out of range [0, 2147483647]"}`},
		{"/api/v1/failover", `{"vrrp_instance": "VI_1", "hold": "soon"}`, 400, `{"error": "hold: want a positive duration such as \"10m\", got \"soon\""}`},
		{"/api/v1/hold", `{"vrrp_instance": "VI_1", "hold": "1m"}`, 400, `{"error": "hold: only for /failover and /resign"}`},
		{"/api/v1/drain", `{"virtual_server": "db", "real_server": "10.9.9.9:3306"}`, 404, `{"result": "failed", "action": "drain", "target": {"virtual_server": "db", "real_server": "10.9.9.9:3306"}, "message": "virtual_server \"db\" has no real_server \"10.9.9.9:3306\""}`},
		{"/api/v1/failover", `{"vrrp_instance": "VI_7"}`, 404, `{"result": "failed", "action": "failover", "target": {"vrrp_instance": "VI_7"}, "message": "no vrrp_instance \"VI_7\" on this node"}`},
	} {
		code, got := h.api("POST", tc.path, tc.body, nil)
		if code != tc.code || !jsonEqual(t, got, tc.want) {
			t.Errorf("POST %s %s: %d %s\nwant %d %s", tc.path, tc.body, code, got, tc.code, tc.want)
		}
	}
	h.ex.fail = Retryable(errors.New("busy"))
	code, got := h.api("POST", "/api/v1/failover", `{"vrrp_instance": "VI_1"}`, nil)
	if want := `{"result": "failed", "action": "failover", "target": {"vrrp_instance": "VI_1"}, "message": "resigning vrrp_instance VI_1: busy"}`; code != 503 || !jsonEqual(t, got, want) {
		t.Errorf("retryable failure: %d %s", code, got)
	}
	h.ex.fail = errors.New("broken")
	if code, _ := h.api("POST", "/api/v1/failover", `{"vrrp_instance": "VI_1"}`, nil); code != 500 {
		t.Errorf("final failure: %d", code)
	}
	if code, got := h.api("GET", "/api/v1/drain", "", nil); code != 405 {
		t.Errorf("GET /api/v1/drain: %d %s", code, got)
	}
	if code, _ := h.api("POST", "/api/v1/reboot", "{}", nil); code != 404 {
		t.Errorf("unknown path: %d", code)
	}
	wantCalls(t, h.ex)
}

func jsonEqual(t *testing.T, a, b string) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal([]byte(a), &x); err != nil {
		t.Errorf("answer %q: %v", a, err)
		return false
	}
	if err := json.Unmarshal([]byte(b), &y); err != nil {
		t.Fatalf("want %q: %v", b, err)
	}
	return cmp.Equal(x, y)
}

func TestAPIAuth(t *testing.T) {
	h := newHarness(t)
	for _, auth := range []string{"", "Bearer nope"} {
		code, body := h.do(h.a.APIHandler(), "POST", "/api/v1/drain", `{"virtual_server": "db", "real_server": "10.0.0.1:3306"}`, auth, nil)
		if code != 401 || body != "{\n  \"error\": \"unauthorized\"\n}\n" {
			t.Errorf("Authorization %q: %d %q", auth, code, body)
		}
		// Even unknown paths and reads answer 401: nothing is revealed.
		if code, _ := h.do(h.a.APIHandler(), "GET", "/api/v1/nothing", "", auth, nil); code != 401 {
			t.Errorf("unknown path without auth: %d", code)
		}
		if code, _ := h.do(h.a.APIHandler(), "GET", "/api/v1/overrides", "", auth, nil); code != 401 {
			t.Errorf("overrides without auth: %d", code)
		}
	}
	wantCalls(t, h.ex)
	wantAudit(t, h)
	if got := testutil.ToFloat64(h.a.metrics.api.WithLabelValues("401")); got != 6 {
		t.Errorf("API 401s counted: %v", got)
	}
}

func TestAPIWho(t *testing.T) {
	h := newHarness(t)
	body := `{"virtual_server": "db", "real_server": "10.0.0.1:3306"}`
	h.api("POST", "/api/v1/drain", body, map[string]string{HeaderSource: "cli", HeaderUser: "alice"})
	h.api("POST", "/api/v1/undrain", body, map[string]string{HeaderUser: "bob"})
	// A user the listener authenticated (basic auth) wins over the header.
	r := httptest.NewRequest("POST", "/api/v1/drain", strings.NewReader(body))
	r.SetBasicAuth("carol", "pw")
	r.Header.Set(HeaderUser, "mallory")
	// The bearer token and basic auth share the header: authentication is
	// the listener's here.
	h.cfg.Auth = Auth{Disabled: true}
	if err := h.a.Reload(h.cfg); err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	h.a.APIHandler().ServeHTTP(w, r)
	if w.Code != 200 {
		t.Fatalf("basic auth request: %d %s", w.Code, w.Body)
	}
	var got []string
	for _, r := range h.audit() {
		got = append(got, string(r.Source)+" "+r.Who+" "+r.RemoteAddr)
	}
	want := []string{"cli alice 192.0.2.9:41000", "api bob 192.0.2.9:41000", "api carol 192.0.2.1:1234"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("who (-want +got):\n%s", diff)
	}
}

func TestAPIReads(t *testing.T) {
	h := newHarness(t)
	h.a.status = func(ctx context.Context) (any, error) {
		return map[string]string{"router_id": "lb1"}, nil
	}
	h.post(payload(lag("firing", "10.0.0.2:3306")))
	f := fp(lag("firing", "10.0.0.2:3306"))
	overrides := `[{"kind": "drain", "target": {"virtual_server": "db", "real_server": "10.0.0.2:3306"},
	  "since": "2025-01-02T03:04:05Z", "source": "webhook", "who": "vigil", "reason": "MySQLReplicaLag",
	  "alerts": [{"rule": "drain-lagging-replica", "fingerprint": "` + f + `"}]}]`
	code, got := h.api("GET", "/api/v1/overrides", "", nil)
	if code != 200 || !jsonEqual(t, got, `{"overrides": `+overrides+`}`) {
		t.Errorf("overrides: %d %s", code, got)
	}
	code, got = h.api("GET", "/api/v1/status", "", nil)
	if code != 200 || !jsonEqual(t, got, `{"enabled": true, "dry_run": false, "overrides": `+overrides+`, "node": {"router_id": "lb1"}}`) {
		t.Errorf("status: %d %s", code, got)
	}
	h.a.status = func(ctx context.Context) (any, error) { return nil, errors.New("node stopping") }
	if code, got := h.api("GET", "/api/v1/status", "", nil); code != 503 || !jsonEqual(t, got, `{"error": "node status: node stopping"}`) {
		t.Errorf("status error: %d %s", code, got)
	}

	for i := range 5 {
		h.advance(time.Second)
		h.api("POST", "/api/v1/failover", `{"vrrp_instance": "VI_1", "reason": "`+strings.Repeat("r", i)+`"}`, nil)
	}
	code, got = h.api("GET", "/api/v1/actions?limit=2", "", nil)
	var actions struct{ Actions []Record }
	if err := json.Unmarshal([]byte(got), &actions); err != nil || code != 200 {
		t.Fatalf("actions: %d %s %v", code, got, err)
	}
	if len(actions.Actions) != 2 || actions.Actions[0].Reason != "rrr" || actions.Actions[1].Reason != "rrrr" {
		t.Errorf("last 2 actions: %+v", actions.Actions)
	}
	code, got = h.api("GET", "/api/v1/actions", "", nil)
	if err := json.Unmarshal([]byte(got), &actions); err != nil || code != 200 || len(actions.Actions) != 6 {
		t.Errorf("all actions: %d %d %v", code, len(actions.Actions), err)
	}
	for _, bad := range []string{"0", "-1", "x", "10001"} {
		code, got := h.api("GET", "/api/v1/actions?limit="+bad, "", nil)
		if code != 400 || !jsonEqual(t, got, `{"error": "limit: want an integer from 1 to 10000, got \"`+bad+`\""}`) {
			t.Errorf("limit=%s: %d %s", bad, code, got)
		}
	}
}
