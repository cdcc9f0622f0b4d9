package actuator

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	amtemplate "github.com/prometheus/alertmanager/template"
)

// fakeExec is a recording Executor: it keeps what it was told and logs
// every call that changes something, in a readable form that tests
// compare.
type fakeExec struct {
	mu        sync.Mutex
	pools     map[string][]RealServerHealth
	instances []string

	overrides map[RealServerRef]RealServerOverride
	holds     []string
	calls     []string

	// fail, when set, is returned by the next changing call (then
	// cleared); failAll by every changing call.
	fail    error
	failAll error
}

func newFakeExec() *fakeExec {
	up := func(ids ...string) []RealServerHealth {
		var out []RealServerHealth
		for _, id := range ids {
			out = append(out, RealServerHealth{ID: id, Up: true, Weight: 1})
		}
		return out
	}
	return &fakeExec{
		pools: map[string][]RealServerHealth{
			"db":  up("10.0.0.1:3306", "10.0.0.2:3306", "10.0.0.3:3306"),
			"web": up("10.0.1.1:80", "10.0.1.2:80"),
		},
		instances: []string{"VI_1", "VI_2"},
		overrides: map[RealServerRef]RealServerOverride{},
	}
}

func (f *fakeExec) RealServers(vs string) ([]RealServerHealth, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.pools[vs]
	if !ok {
		return nil, fmt.Errorf("no virtual_server %q: %w", vs, ErrUnknownTarget)
	}
	return slices.Clone(p), nil
}

func (f *fakeExec) Instances() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.instances)
}

func (f *fakeExec) failure() error {
	if f.failAll != nil {
		return f.failAll
	}
	err := f.fail
	f.fail = nil
	return err
}

func (f *fakeExec) SetRealServerOverrides(ctx context.Context, o map[RealServerRef]RealServerOverride) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.failure(); err != nil {
		return err
	}
	f.overrides = maps.Clone(o)
	f.calls = append(f.calls, "overrides "+formatOverrides(o))
	return nil
}

func (f *fakeExec) SetHolds(ctx context.Context, instances []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.failure(); err != nil {
		return err
	}
	f.holds = slices.Clone(instances)
	f.calls = append(f.calls, fmt.Sprintf("holds %v", instances))
	return nil
}

func (f *fakeExec) Resign(ctx context.Context, instance string, hold time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.failure(); err != nil {
		return err
	}
	f.calls = append(f.calls, fmt.Sprintf("resign %s %s", instance, hold))
	return nil
}

// takeCalls returns the calls since the last takeCalls.
func (f *fakeExec) takeCalls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = nil
	return c
}

func formatOverrides(o map[RealServerRef]RealServerOverride) string {
	var parts []string
	for ref, ov := range o {
		s := ref.VirtualServer + "/" + ref.RealServer
		if ov.Drain {
			s += " drain"
		}
		if ov.Weight != nil {
			s += fmt.Sprintf(" weight=%d", *ov.Weight)
		}
		parts = append(parts, s)
	}
	slices.Sort(parts)
	return "[" + strings.Join(parts, ", ") + "]"
}

// t0 is the harness clock's start.
var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

const testToken = "s3cret-token"

type harness struct {
	t   *testing.T
	dir string
	ex  *fakeExec
	a   *Actuator
	now time.Time
	cfg Config
}

// testConfig is the configuration of the example, plus rules for
// every action.
func testConfig(t testing.TB, dir string) Config {
	tokenFile := filepath.Join(dir, "webhook.token")
	if err := os.WriteFile(tokenFile, []byte(testToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	five := 5
	c := DefaultConfig()
	c.Enabled = true
	c.Auth.BearerTokenFile = tokenFile
	rsTarget := TargetTemplate{VirtualServer: "{{ .Labels.virtual_server }}", RealServer: "{{ .Labels.real_server }}"}
	c.Rules = []Rule{
		{Name: "drain-lagging-replica", Match: []string{`alertname="MySQLReplicaLag"`, `severity=~"warning|critical"`},
			Action: ActionDrain, Target: rsTarget, OnResolved: OnResolvedUndo},
		{Name: "leave-sick-director", Match: []string{`alertname="DirectorNICErrors"`}, OnlySelf: true,
			Action: ActionFailover, Target: TargetTemplate{VRRPInstance: "VI_1"}},
		{Name: "slow-replica", Match: []string{`alertname="MySQLReplicaSlow"`},
			Action: ActionSetWeight, Weight: &five, Target: rsTarget},
		{Name: "hold-director", Match: []string{`{alertname="DirectorMaintenance", vrrp_instance!=""}`}, OnlySelf: true,
			Action: ActionHold, Target: TargetTemplate{VRRPInstance: "{{ .Labels.vrrp_instance }}"}},
		{Name: "resign-all", Match: []string{`alertname="DirectorDying"`}, Action: ActionResign, Hold: time.Minute},
		{Name: "keep-drained", Match: []string{`alertname="ReplicaBroken"`},
			Action: ActionDrain, Target: rsTarget, OnResolved: OnResolvedKeep},
	}
	return c
}

func newHarness(t *testing.T, mutate ...func(*Config)) *harness {
	t.Helper()
	dir := t.TempDir()
	h := &harness{t: t, dir: dir, ex: newFakeExec(), now: t0}
	h.cfg = testConfig(t, dir)
	for _, m := range mutate {
		m(&h.cfg)
	}
	h.start()
	return h
}

// start makes a new Actuator over the harness's state directory and
// executor, as a restart does.
func (h *harness) start() {
	h.t.Helper()
	a, err := New(h.cfg, Options{Executor: h.ex, StateDir: filepath.Join(h.dir, "state"), RouterID: "lb1",
		Now: func() time.Time { return h.now }})
	if err != nil {
		h.t.Fatal(err)
	}
	h.a = a
	h.t.Cleanup(func() { wantOnlyInitialisedSeries(h.t, a.metrics) })
}

func (h *harness) advance(d time.Duration) { h.now = h.now.Add(d) }

// post sends body to the webhook with the token and returns the status
// and body.
func (h *harness) post(body string) (int, string) {
	h.t.Helper()
	return h.do(h.a.WebhookHandler(), "POST", WebhookPath, body, "Bearer "+testToken, nil)
}

func (h *harness) do(handler http.Handler, method, path, body, auth string, hdr map[string]string) (int, string) {
	h.t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.RemoteAddr = "192.0.2.9:41000"
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	handler.ServeHTTP(w, r)
	b, _ := io.ReadAll(w.Result().Body)
	return w.Code, string(b)
}

// audit reads every audit record from the file itself.
func (h *harness) audit() []Record {
	h.t.Helper()
	f, err := os.Open(h.a.audit.Path())
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		h.t.Fatal(err)
	}
	defer f.Close()
	var out []Record
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r Record
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			h.t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		out = append(out, r)
	}
	return out
}

// results summarises audit records as "action target result[/guard]".
func results(recs []Record) []string {
	var out []string
	for _, r := range recs {
		s := fmt.Sprintf("%s %s %s", r.Source, r.Action, r.Result)
		if r.Target != (Target{}) {
			s = fmt.Sprintf("%s %s %s %s", r.Source, r.Action, r.Target, r.Result)
		}
		if r.Guard != "" {
			s += "/" + string(r.Guard)
		}
		out = append(out, s)
	}
	return out
}

// alert is a test alert.
type alert struct {
	status string
	labels map[string]string
}

func firing(labels ...string) alert   { return alert{"firing", kv(labels...)} }
func resolved(labels ...string) alert { return alert{"resolved", kv(labels...)} }

func kv(pairs ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(pairs); i += 2 {
		m[pairs[i]] = pairs[i+1]
	}
	return m
}

// lag is the MySQLReplicaLag alert for a db real server.
func lag(status, rs string) alert {
	return alert{status, kv("alertname", "MySQLReplicaLag", "severity", "critical", "virtual_server", "db", "real_server", rs)}
}

// payload is a version 4 webhook body for alerts; fingerprints are left to
// the decoder (the labels' fingerprint, as Alertmanager's).
func payload(alerts ...alert) string {
	m := Message{Version: "4", GroupKey: `{}:{alertname="X"}`}
	m.Receiver = "vigil"
	m.Status = "firing"
	for _, a := range alerts {
		m.Alerts = append(m.Alerts, amtemplate.Alert{Status: a.status, Labels: a.labels, Annotations: amtemplate.KV{},
			StartsAt: t0.Add(-time.Minute)})
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// fp is the fingerprint the decoder gives an alert.
func fp(a alert) string { return labelSet(a.labels).Fingerprint().String() }
