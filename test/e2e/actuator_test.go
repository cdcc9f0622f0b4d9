package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vigil-lb/vigil/actuator"
	"github.com/vigil-lb/vigil/daemon"
	"github.com/vigil-lb/vigil/internal/lab"
)

// The actuator end to end: Prometheus scrapes vigil, evaluates an alert
// rule over one of vigil's own metrics, Alertmanager delivers the alert to
// vigil's webhook with the bearer token, vigil acts (drain, failover) and
// undoes a drain when the alert resolves. The namespaces have no IPVS, so
// drains are asserted on vigil's reconciler state: GET /api/v1/status and
// vigil_ipvs_real_server_drained, which are what it programs into the
// kernel where there is one.
//
// The alert signal is under the test's control. Each real server has,
// besides its TCP check, a "load" check: an exec check with dynamic_weight
// whose exit status the test sets through a file (exit 12 reports weight
// 10, exit 3 weight 1). The check passes either way, so the server stays
// healthy and vigil does nothing on its own; a rule alerts when
// vigil_check_dynamic_weight drops below 5 ("the backend says it is
// overloaded"), and the actuator drains that server. Setting the weight
// back resolves the alert, and the drain is undone.

// The virtual server of the drain tests and its real servers (busybox
// httpd on backend1 and backend2).
const (
	webVS = "web"
	rs1   = "10.99.0.21:8080"
	rs2   = "10.99.0.22:8080"
)

// Exit statuses of the load check (dynamic weight = status - 2).
const (
	loadNormal = 12 // weight 10
	loadHigh   = 3  // weight 1: the alert fires below 5
)

// slowAlert is the alert name the drain rule acts on.
const slowAlert = "VigilRealServerSlowTest"

// slowRule is the Prometheus alert rule over the load check.
const slowRule = `      - alert: ` + slowAlert + `
        expr: vigil_check_dynamic_weight{virtual_server="web",check="exec"} < 5
        for: 0s
        labels: { severity: warning }
        annotations:
          summary: '{{ $labels.real_server }} of {{ $labels.virtual_server }} reports weight {{ $value }}'
`

// drainRuleName is the actuator rule of the drain tests.
const drainRuleName = "drain-slow-backend"

// drainRule is the actuator rule that drains what slowAlert names.
const drainRule = `    - name: ` + drainRuleName + `
      match: ['alertname="` + slowAlert + `"']
      action: drain
      target: { virtual_server: '{{ .Labels.virtual_server }}', real_server: '{{ .Labels.real_server }}' }
`

// webConfig renders the virtual server "web" on the VIP with rs1 and rs2,
// each with a TCP check and a load check (exec, dynamic_weight) reading
// load1 and load2.
func webConfig(load1, load2 string) string {
	rs := func(addr, load string) string {
		return fmt.Sprintf(`      - address: %s
        checks:
          - { type: tcp, delay_loop: 200ms, connect_timeout: 200ms }
          - type: exec
            delay_loop: 200ms
            connect_timeout: 1s
            exec:
              command: [/bin/sh, -c, 'exit "$(cat %s)"']
              dynamic_weight: true
`, addr, load)
	}
	return fmt.Sprintf(`virtual_servers:
  - name: web
    address: %s:80
    delay_loop: 200ms
    real_servers:
`, lab.VIP4) + rs(rs1, load1) + rs(rs2, load2)
}

// actuatorConfig renders the actuator section: enabled, the token in
// tokenFile, rules (a YAML list indented by 4) and guards (YAML lines
// indented by 4).
func actuatorConfig(tokenFile, rules, guards string) string {
	s := "actuator:\n  enabled: true\n  auth: { bearer_token_file: " + tokenFile + " }\n"
	if rules != "" {
		s += "  rules:\n" + rules
	}
	if guards != "" {
		s += "  guards:\n" + guards
	}
	return s
}

// setLoad makes the load check exit with status.
func setLoad(t *testing.T, file string, status int) {
	t.Helper()
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, []byte(fmt.Sprintf("%d\n", status)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, file); err != nil { // the check never reads half a file
		t.Fatal(err)
	}
}

// writeToken writes a random bearer token into dir and returns the file.
func writeToken(t *testing.T, dir string) string {
	t.Helper()
	b := make([]byte, 24)
	rand.Read(b)
	path := filepath.Join(dir, "webhook.token")
	if err := os.WriteFile(path, []byte(hex.EncodeToString(b)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func readToken(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// startBackend serves HTTP on h's address, port 8080, with busybox httpd.
func startBackend(t *testing.T, h *lab.Host) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte(h.Name()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	h.Start("busybox", "httpd", "-f", "-p", h.Addr4().String()+":8080", "-h", dir)
}

// startVigilState runs vigil in h with its state in stateDir (kept across
// restarts), serving metrics, the API and the webhook on h's loopback and
// on its lab address, where Prometheus and Alertmanager reach it.
func startVigilState(t *testing.T, h *lab.Host, stateDir, cfg string) *vigilProc {
	t.Helper()
	path := filepath.Join(t.TempDir(), h.Name()+".yml")
	cfg = strings.Replace(cfg, "global: { ", "global: { state_dir: "+stateDir+", ", 1)
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	p := h.Start(vigilBin, "run", "--config.file="+path,
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", metricsPort),
		fmt.Sprintf("--web.listen-address=%s:%d", h.Addr4(), metricsPort),
		"--log.level=debug")
	v := &vigilProc{Proc: p, host: h, cfg: path, dir: stateDir}
	lab.WaitFor(t, 5*time.Second, func() bool {
		if p.Exited() {
			t.Fatalf("vigil on %s exited during start:\n%s", h.Name(), p.Log())
		}
		_, err := scrape(h)
		return err == nil
	}, "vigil on "+h.Name()+" to serve /metrics")
	return v
}

// webhookURL is the actuator webhook of the vigil in h, on the lab network.
func webhookURL(h *lab.Host) string {
	return fmt.Sprintf("http://%s:%d%s", h.Addr4(), metricsPort, actuator.WebhookPath)
}

// series finds the value of the first series of name whose labels contain
// every `k="v"` in labels, from the vigil in h.
func series(h *lab.Host, name string, labels ...string) (float64, bool) {
	m, err := scrape(h)
	if err != nil {
		return 0, false
	}
	for s, v := range m {
		n, rest, _ := strings.Cut(s, "{")
		if n != name {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(rest, l)
		}
		if ok {
			return v, true
		}
	}
	return 0, false
}

// rsSeries returns a real server series of "web" (-1 if absent).
func rsSeries(h *lab.Host, name, rs string) float64 {
	return metric(h, fmt.Sprintf(`%s{real_server=%q,virtual_server=%q}`, name, rs, webVS))
}

func drainedMetric(h *lab.Host, rs string) float64 {
	return rsSeries(h, "vigil_ipvs_real_server_drained", rs)
}

// nodeStatus is GET /api/v1/status of the vigil in h.
func nodeStatus(t *testing.T, h *lab.Host) daemon.Status {
	t.Helper()
	code, body, err := httpIn(h, "GET", fmt.Sprintf("http://127.0.0.1:%d/api/v1/status", metricsPort), nil, "")
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET /api/v1/status on %s: %d %v\n%s", h.Name(), code, err, body)
	}
	var st daemon.Status
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("decoding /api/v1/status: %v\n%s", err, body)
	}
	return st
}

// rsStatus finds a real server of "web" in the status.
func rsStatus(t *testing.T, st daemon.Status, rs string) daemon.RealServerStatus {
	t.Helper()
	for _, vs := range st.VirtualServers {
		if vs.Name != webVS {
			continue
		}
		for _, r := range vs.RealServers {
			if r.Address == rs && !r.Sorry {
				return r
			}
		}
	}
	t.Fatalf("status has no real server %s of %s: %+v", rs, webVS, st.VirtualServers)
	return daemon.RealServerStatus{}
}

// runVigil runs the vigil CLI in h.
func runVigil(h *lab.Host, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := h.Run(ctx, append([]string{vigilBin}, args...)...)
	return string(out), err
}

// auditLog is `vigil actions -o json` in h, oldest first.
func auditLog(t *testing.T, h *lab.Host, tokenFile string) []actuator.Record {
	t.Helper()
	out, err := runVigil(h, "actions", "-o", "json", "-n", "100", "--api.token-file="+tokenFile)
	if err != nil {
		t.Fatalf("vigil actions on %s: %v", h.Name(), err)
	}
	var recs []actuator.Record
	if err := json.Unmarshal([]byte(out), &recs); err != nil {
		t.Fatalf("decoding vigil actions -o json: %v\n%s", err, out)
	}
	return recs
}

// findRecord returns the first record for which match is true.
func findRecord(recs []actuator.Record, match func(actuator.Record) bool) (actuator.Record, bool) {
	for _, r := range recs {
		if match(r) {
			return r, true
		}
	}
	return actuator.Record{}, false
}

func dumpRecords(recs []actuator.Record) string {
	b, _ := json.MarshalIndent(recs, "", "  ")
	return string(b)
}

// promAlertActiveAt returns when Prometheus's rule first saw alertname's
// condition (the alert's activeAt), or the zero time.
func promAlertActiveAt(s *promStack, alertname string) time.Time {
	code, body, err := httpIn(s.host, "GET", "http://"+promAddr+"/api/v1/alerts", nil, "")
	if err != nil || code != http.StatusOK {
		return time.Time{}
	}
	var r struct {
		Data struct {
			Alerts []struct {
				Labels   map[string]string `json:"labels"`
				ActiveAt time.Time         `json:"activeAt"`
			} `json:"alerts"`
		} `json:"data"`
	}
	if json.Unmarshal([]byte(body), &r) != nil {
		return time.Time{}
	}
	for _, a := range r.Data.Alerts {
		if a.Labels["alertname"] == alertname {
			return a.ActiveAt
		}
	}
	return time.Time{}
}

// drainTopology is director1 with vigil and the virtual server "web", the
// two backends, and the monitor host.
type drainTopology struct {
	d1, mon *lab.Host
	load    string // the file of rs2's load check
	token   string // the bearer token file
	stack   *promStack
}

// newDrainTopology builds it; backend1's httpd runs only when rs1Alive. It
// returns once vigil's checks have settled and Prometheus scrapes vigil.
func newDrainTopology(t *testing.T, rs1Alive bool) *drainTopology {
	t.Helper()
	lab.Require(t, "root", "ip", "busybox", "prometheus", "prometheus-alertmanager")
	topo := lab.New(t, lab.Options{Hosts: append(lab.Hosts("director1", "backend1", "backend2"), monitorHost)})
	d := &drainTopology{d1: topo.Host("director1"), mon: topo.Host("monitor")}
	dir := t.TempDir()
	d.token = writeToken(t, dir)
	// The stack first: Prometheus needs a few seconds to discover its
	// targets, which the rest of the setup overlaps.
	d.stack = startPromStack(t, d.mon,
		[]scrapeTarget{{Addr: fmt.Sprintf("%s:%d", d.d1.Addr4(), metricsPort), Labels: map[string]string{"director": "director1"}}},
		slowRule, amVigilConfig(d.token, slowAlert, webhookURL(d.d1)))
	if rs1Alive {
		startBackend(t, topo.Host("backend1"))
	}
	startBackend(t, topo.Host("backend2"))
	d.load = filepath.Join(dir, "load2")
	setLoad(t, d.load, loadNormal)
	load1 := filepath.Join(dir, "load1")
	setLoad(t, load1, loadNormal)
	// No cooldown: the chain resolves an alert about a second after it
	// fired, and any cooldown longer than that would defer the undo (the
	// sweep would carry it out later, audited as a deferred undo); the
	// test measures the chain itself.
	cfg := config("director1", webConfig(load1, d.load)+actuatorConfig(d.token, drainRule, "    cooldown: 0s\n"), v3(150))
	startVigilState(t, d.d1, t.TempDir(), cfg)

	want1 := 0.0
	if rs1Alive {
		want1 = 1
	}
	lab.WaitFor(t, 5*time.Second, func() bool {
		w, ok := series(d.d1, "vigil_check_dynamic_weight", `real_server="`+rs2+`"`)
		return rsSeries(d.d1, "vigil_ipvs_real_server_up", rs1) == want1 &&
			rsSeries(d.d1, "vigil_ipvs_real_server_up", rs2) == 1 && ok && w == loadNormal-2
	}, fmt.Sprintf("%s up=%v, %s up with dynamic weight %d", rs1, want1, rs2, loadNormal-2))

	d.stack.waitDiscovered(t)
	d.stack.waitQuery(t, fmt.Sprintf(`vigil_check_dynamic_weight{real_server=%q} == %d`, rs2, loadNormal-2), 10*time.Second)
	return d
}

// An alert drains a real server through Prometheus, Alertmanager and the
// webhook; when it resolves, Alertmanager's resolved notification undoes
// the drain. The audit log shows both, attributed to the rule and the
// receiver.
func TestActuatorDrainThroughAlertmanager(t *testing.T) {
	t.Parallel()
	d := newDrainTopology(t, true)

	raised := time.Now()
	setLoad(t, d.load, loadHigh)
	toDrained := lab.WaitFor(t, 20*time.Second, func() bool { return drainedMetric(d.d1, rs2) == 1 },
		rs2+" to be drained by the alert")
	activeAt := promAlertActiveAt(d.stack, slowAlert)

	// The actuator publishes its overrides once the state file is
	// written, a moment after the load balancer has the drain.
	var st daemon.Status
	lab.WaitFor(t, time.Second, func() bool { st = nodeStatus(t, d.d1); return len(st.Overrides) > 0 }, "the drain among the overrides")
	if r := rsStatus(t, st, rs2); !r.Drained || !r.Up {
		t.Fatalf("status of %s after the alert: %+v, want drained and up", rs2, r)
	}
	if r := rsStatus(t, st, rs1); r.Drained {
		t.Fatalf("%s drained too: %+v", rs1, r)
	}
	if v := drainedMetric(d.d1, rs1); v != 0 {
		t.Fatalf("vigil_ipvs_real_server_drained of %s = %v, want 0", rs1, v)
	}
	if len(st.Overrides) != 1 || st.Overrides[0].Kind != actuator.KindDrain || st.Overrides[0].Source != actuator.SourceWebhook ||
		len(st.Overrides[0].Alerts) != 1 || st.Overrides[0].Alerts[0].Rule != drainRuleName {
		t.Fatalf("overrides after the alert: %+v, want one drain by the webhook for rule %s", st.Overrides, drainRuleName)
	}

	cleared := time.Now()
	setLoad(t, d.load, loadNormal)
	toUndrained := lab.WaitFor(t, 20*time.Second, func() bool { return drainedMetric(d.d1, rs2) == 0 },
		rs2+" to be undrained when the alert resolves")
	lab.WaitFor(t, time.Second, func() bool { st = nodeStatus(t, d.d1); return len(st.Overrides) == 0 }, "no override left")
	if r := rsStatus(t, st, rs2); r.Drained || !r.Up {
		t.Fatalf("status of %s after the alert resolved: %+v, want up and not drained", rs2, r)
	}

	recs := auditLog(t, d.d1, d.token)
	target := actuator.Target{VirtualServer: webVS, RealServer: rs2}
	drain, ok := findRecord(recs, func(r actuator.Record) bool {
		return r.Action == actuator.ActionDrain && r.Result == actuator.ResultApplied
	})
	if !ok || drain.Source != actuator.SourceWebhook || drain.Target != target || drain.Rule != drainRuleName ||
		drain.Who != "vigil-directors" || !strings.HasPrefix(drain.Reason, slowAlert+": ") || drain.Fingerprint == "" {
		t.Fatalf("audit has no applied drain of %v by rule %s from receiver vigil-directors:\n%s", target, drainRuleName, dumpRecords(recs))
	}
	undrain, ok := findRecord(recs, func(r actuator.Record) bool {
		return r.Action == actuator.ActionUndrain && r.Result == actuator.ResultApplied
	})
	if !ok || undrain.Source != actuator.SourceWebhook || undrain.Target != target || undrain.Fingerprint != drain.Fingerprint ||
		undrain.Reason != "alert resolved" {
		t.Fatalf("audit has no applied undrain of %v for the resolved alert %s:\n%s", target, drain.Fingerprint, dumpRecords(recs))
	}
	for _, r := range recs {
		if r.Result != actuator.ResultApplied {
			t.Fatalf("unexpected audit record %+v in:\n%s", r, dumpRecords(recs))
		}
	}
	if v, _ := d.stack.amCounter("alertmanager_notifications_failed_total", `integration="webhook"`); v != 0 {
		t.Fatalf("Alertmanager counts %v failed webhook notifications, want 0", v)
	}
	if v := metric(d.d1, `vigil_actuator_webhook_requests_total{code="200"}`); v < 2 {
		t.Fatalf("vigil answered %v webhook requests with 200, want at least 2 (firing, resolved)", v)
	}

	t.Logf("alert condition -> drained: %v (Prometheus active after %v, vigil applied after %v)",
		toDrained, sinceOrNA(activeAt, raised), drain.Time.Sub(raised).Round(time.Millisecond))
	t.Logf("condition cleared -> undrained: %v (vigil applied the undo after %v)",
		toUndrained, undrain.Time.Sub(cleared).Round(time.Millisecond))
}

func sinceOrNA(at, from time.Time) string {
	if at.IsZero() {
		return "n/a"
	}
	return at.Sub(from).Round(time.Millisecond).String()
}

// The min_healthy guard: with rs1 down, an alert asking to drain rs2, the
// last serving real server, is refused. Alertmanager still gets 200 (the
// request was handled; retrying would not change the answer), the refusal
// is counted and audited, and rs2 stays in service.
func TestActuatorGuardKeepsLastHealthyRealServer(t *testing.T) {
	t.Parallel()
	d := newDrainTopology(t, false)
	refusals := `vigil_actuator_guard_refusals_total{guard="min_healthy"}`
	if v := metric(d.d1, refusals); v != 0 {
		t.Fatalf("%s = %v before any alert, want 0", refusals, v)
	}

	setLoad(t, d.load, loadHigh)
	took := lab.WaitFor(t, 20*time.Second, func() bool { return metric(d.d1, refusals) >= 1 },
		"the min_healthy guard to refuse the drain")
	t.Logf("alert condition -> refusal: %v", took)

	recs := auditLog(t, d.d1, d.token)
	r, ok := findRecord(recs, func(r actuator.Record) bool { return r.Action == actuator.ActionDrain })
	if !ok || r.Result != actuator.ResultRefused || r.Guard != actuator.GuardMinHealthy || r.Source != actuator.SourceWebhook ||
		r.Rule != drainRuleName || r.Target != (actuator.Target{VirtualServer: webVS, RealServer: rs2}) {
		t.Fatalf("audit has no drain of %s refused by min_healthy:\n%s", rs2, dumpRecords(recs))
	}
	if !strings.Contains(r.Message, "would leave 0 of 2 real servers serving") {
		t.Fatalf("refusal message %q does not say what the drain would have left", r.Message)
	}

	// Alertmanager delivered it and was told 200: no failure, no retry.
	lab.WaitFor(t, 5*time.Second, func() bool {
		v, err := d.stack.amCounter("alertmanager_notifications_total", `integration="webhook"`)
		return err == nil && v >= 1
	}, "Alertmanager to count the webhook notification")
	if v, _ := d.stack.amCounter("alertmanager_notifications_failed_total", `integration="webhook"`); v != 0 {
		t.Fatalf("Alertmanager counts %v failed webhook notifications, want 0 (vigil answers 200 to a refusal)", v)
	}
	if v := metric(d.d1, `vigil_actuator_webhook_requests_total{code="200"}`); v < 1 {
		t.Fatalf("vigil_actuator_webhook_requests_total{code=\"200\"} = %v, want >= 1", v)
	}

	// rs2 stays in service, now and a while later.
	if _, changed := lab.Within(1500*time.Millisecond, func() bool { return drainedMetric(d.d1, rs2) != 0 }); changed {
		t.Fatalf("%s drained despite the guard", rs2)
	}
	st := nodeStatus(t, d.d1)
	if rs := rsStatus(t, st, rs2); rs.Drained || !rs.Up || len(st.Overrides) != 0 {
		t.Fatalf("%s after the refusal: %+v, overrides %+v; want up, not drained, no override", rs2, rs, st.Overrides)
	}
	if v := metric(d.d1, `vigil_actuator_actions_total{action="drain",result="refused",source="webhook"}`); v < 1 {
		t.Fatalf("vigil_actuator_actions_total of refused webhook drains = %v, want >= 1", v)
	}
}

// The min_healthy guard counts what serves, not what is configured: a real
// server whose load check reports dynamic weight 0 is up but takes no
// connections, so draining the other one would leave nothing serving and
// is refused, to operators too (without --force).
func TestActuatorGuardCountsDynamicWeight(t *testing.T) {
	t.Parallel()
	lab.Require(t, "root", "ip", "busybox")
	topo := lab.New(t, lab.Options{Hosts: lab.Hosts("director1", "backend1", "backend2")})
	d1 := topo.Host("director1")
	startBackend(t, topo.Host("backend1"))
	startBackend(t, topo.Host("backend2"))
	dir := t.TempDir()
	token := writeToken(t, dir)
	load1, load2 := filepath.Join(dir, "load1"), filepath.Join(dir, "load2")
	setLoad(t, load1, 2) // weight 0
	setLoad(t, load2, loadNormal)
	startVigilState(t, d1, t.TempDir(), config("director1", webConfig(load1, load2)+actuatorConfig(token, "", ""), v3(150)))
	lab.WaitFor(t, 5*time.Second, func() bool {
		w1, ok1 := series(d1, "vigil_check_dynamic_weight", `real_server="`+rs1+`"`)
		w2, ok2 := series(d1, "vigil_check_dynamic_weight", `real_server="`+rs2+`"`)
		return rsSeries(d1, "vigil_ipvs_real_server_up", rs1) == 1 && rsSeries(d1, "vigil_ipvs_real_server_up", rs2) == 1 &&
			ok1 && w1 == 0 && ok2 && w2 == loadNormal-2
	}, fmt.Sprintf("%s up at dynamic weight 0, %s up at %d", rs1, rs2, loadNormal-2))

	api := "--api.token-file=" + token
	out, err := runVigil(d1, "drain", webVS, rs2, "--reason", "maintenance", api)
	if err == nil || !strings.Contains(err.Error(), "409") || !strings.Contains(err.Error(), "min_healthy") {
		t.Fatalf("vigil drain of the only server with weight: %v\n%s\nwant 409 refused by min_healthy", err, out)
	}
	if v := drainedMetric(d1, rs2); v != 0 {
		t.Fatalf("%s drained despite the guard", rs2)
	}
	// With weight back on rs1 the same drain is allowed.
	setLoad(t, load1, loadNormal)
	lab.WaitFor(t, 3*time.Second, func() bool {
		w, ok := series(d1, "vigil_check_dynamic_weight", `real_server="`+rs1+`"`)
		return ok && w == loadNormal-2
	}, rs1+" to report weight again")
	if out, err := runVigil(d1, "drain", webVS, rs2, "--reason", "maintenance", api); err != nil || !strings.Contains(out, "applied") {
		t.Fatalf("vigil drain with %s serving: %v\n%s", rs1, err, out)
	}
	lab.WaitFor(t, 2*time.Second, func() bool { return drainedMetric(d1, rs2) == 1 }, rs2+" drained")
}

// A failover through the same chain: a sick director (a tracked script
// fails; its positive weight is too small to move the VIP by itself) is
// named by an alert, Alertmanager sends it to both directors, only the one
// named (only_self) acts, handing VI_1 to its peer make-before-break, and
// holds off preemption for the rule's hold, after which it takes the VIP
// back.
func TestActuatorFailoverThroughAlertmanager(t *testing.T) {
	t.Parallel()
	lab.Require(t, "root", "ip", "prometheus", "prometheus-alertmanager")
	topo := lab.New(t, lab.Options{Hosts: append(lab.Hosts("director1", "director2", "client"), monitorHost)})
	d1, d2, cl, mon := topo.Host("director1"), topo.Host("director2"), topo.Host("client"), topo.Host("monitor")

	dir := t.TempDir()
	token := writeToken(t, dir)
	healthy := filepath.Join(dir, "healthy")
	if err := os.WriteFile(healthy, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// The stack first (see waitDiscovered). The director label, which
	// only_self compares with router_id, is a target label.
	stack := startPromStack(t, mon, []scrapeTarget{
		{Addr: fmt.Sprintf("%s:%d", d1.Addr4(), metricsPort), Labels: map[string]string{"director": "director1"}},
		{Addr: fmt.Sprintf("%s:%d", d2.Addr4(), metricsPort), Labels: map[string]string{"director": "director2"}},
	}, `      - alert: DirectorSickTest
        expr: vigil_vrrp_track_script_up{script="chk_sick"} == 0
        for: 0s
        labels: { severity: critical }
        annotations: { summary: '{{ $labels.director }} is sick' }
`, amVigilConfig(token, "DirectorSickTest", webhookURL(d1), webhookURL(d2)))
	const hold = 6 * time.Second
	act := actuatorConfig(token, fmt.Sprintf(`    - name: leave-sick-director
      match: ['alertname="DirectorSickTest"']
      only_self: true
      action: failover
      hold: %s
      target: { vrrp_instance: VI_1 }
`, hold), "")
	// director1 tracks the script with weight +5: 155 while healthy, 150
	// while failing, above director2's 100 either way.
	scripts := fmt.Sprintf("vrrp_scripts:\n  - { name: chk_sick, command: [/usr/bin/test, -e, %q], interval: 200ms }\n", healthy)
	in1 := v3(150)
	in1.Extra = "    track_scripts: [{ name: chk_sick, weight: 5 }]\n"
	startVigilState(t, d1, t.TempDir(), config("director1", scripts+act, in1))
	startVigilState(t, d2, t.TempDir(), config("director2", act, v3(100)))
	waitHolder(t, lab.VIP4, d1, []*lab.Host{d2}, 3*time.Second)
	waitState(t, d2, "VI_1", "backup", time.Second)
	ping := cl.Pinger(lab.VIP4, 5*time.Millisecond)
	waitAnswered(t, ping, 2*time.Second)

	stack.waitDiscovered(t)
	stack.waitQuery(t, `vigil_vrrp_track_script_up{script="chk_sick",director="director1"} == 1`, 10*time.Second)

	before := ping.Stats()
	sick := time.Now()
	if err := os.Remove(healthy); err != nil {
		t.Fatal(err)
	}
	took := waitState(t, d2, "VI_1", "master", 20*time.Second)
	waitState(t, d1, "VI_1", "backup", time.Second)
	waitHolder(t, lab.VIP4, d2, []*lab.Host{d1}, time.Second)
	waitNeigh(t, cl, lab.VIP4, d2, time.Second)
	time.Sleep(200 * time.Millisecond)
	st := ping.Stats()
	lost := st.Lost() - before.Lost()
	t.Logf("director sick -> director2 master: %v; client: %d pings lost, %v", took, lost, st)
	if lost > 2 {
		t.Fatalf("client lost %d pings in the actuator's failover, want at most 2 (make-before-break): %v", lost, st)
	}
	// The script alone did not do it: director1 is still above director2.
	if v := metric(d1, `vigil_vrrp_instance_effective_priority{vrrp_instance="VI_1"}`); v != 150 {
		t.Fatalf("director1's effective priority = %v with the script failing, want 150", v)
	}

	recs := auditLog(t, d1, token)
	fo, ok := findRecord(recs, func(r actuator.Record) bool { return r.Action == actuator.ActionFailover })
	if !ok || fo.Result != actuator.ResultApplied || fo.Source != actuator.SourceWebhook || fo.Rule != "leave-sick-director" ||
		fo.Target != (actuator.Target{VRRPInstance: "VI_1"}) || fo.Hold != hold.String() {
		t.Fatalf("director1's audit has no applied failover of VI_1 by rule leave-sick-director:\n%s", dumpRecords(recs))
	}
	t.Logf("director sick -> failover applied on director1 after %v", fo.Time.Sub(sick).Round(time.Millisecond))

	// director2 got the same notification and did nothing: only_self.
	lab.WaitFor(t, 5*time.Second, func() bool {
		return metric(d2, `vigil_actuator_webhook_requests_total{code="200"}`) >= 1
	}, "director2 to receive the webhook")
	if recs := auditLog(t, d2, token); len(recs) != 0 {
		t.Fatalf("director2 acted on an alert naming director1:\n%s", dumpRecords(recs))
	}

	// The hold: director1 has the higher priority and preempt, yet stays
	// backup until the hold ends.
	if _, moved := lab.Within(hold/2, func() bool { return stateOf(d1, "VI_1") != "backup" || stateOf(d2, "VI_1") != "master" }); moved {
		t.Fatalf("director1 took VI_1 back within half the hold: d1 %s, d2 %s", stateOf(d1, "VI_1"), stateOf(d2, "VI_1"))
	}
	// Healthy again: the alert resolves; a failover is not undone, the
	// hold runs out and director1 preempts.
	if err := os.WriteFile(healthy, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitState(t, d1, "VI_1", "master", hold+5*time.Second)
	back := time.Since(fo.Time)
	t.Logf("director1 master again %v after the failover (hold %v)", back.Round(time.Millisecond), hold)
	if back < hold-500*time.Millisecond {
		t.Fatalf("director1 preempted %v after the failover, before its %v hold ended", back, hold)
	}
	waitState(t, d2, "VI_1", "backup", 2*time.Second)
	t.Logf("whole run: %v", ping.Stop())
}

// A drain made with the CLI survives a restart: it is persisted in the
// state directory, applied again on start, and the audit log still shows
// it.
func TestActuatorDrainSurvivesRestart(t *testing.T) {
	t.Parallel()
	lab.Require(t, "root", "ip", "busybox")
	topo := lab.New(t, lab.Options{Hosts: lab.Hosts("director1", "backend1", "backend2")})
	d1 := topo.Host("director1")
	startBackend(t, topo.Host("backend1"))
	startBackend(t, topo.Host("backend2"))
	dir := t.TempDir()
	token := writeToken(t, dir)
	load := filepath.Join(dir, "load")
	setLoad(t, load, loadNormal)
	cfg := config("director1", webConfig(load, load)+actuatorConfig(token, "", ""), v3(150))
	state := t.TempDir()
	v := startVigilState(t, d1, state, cfg)
	lab.WaitFor(t, 5*time.Second, func() bool {
		return rsSeries(d1, "vigil_ipvs_real_server_up", rs1) == 1 && rsSeries(d1, "vigil_ipvs_real_server_up", rs2) == 1
	}, "both real servers up")

	api := "--api.token-file=" + token
	out, err := runVigil(d1, "drain", webVS, rs2, "--reason", "test", api)
	if err != nil || !strings.Contains(out, "applied") {
		t.Fatalf("vigil drain: %v\n%s", err, out)
	}
	lab.WaitFor(t, 2*time.Second, func() bool { return drainedMetric(d1, rs2) == 1 }, rs2+" drained by vigil drain")

	v.Signal(syscall.SIGTERM)
	if err := v.Wait(5 * time.Second); err != nil {
		t.Fatalf("vigil did not exit cleanly on SIGTERM: %v\n%s", err, v.Log())
	}
	v = startVigilState(t, d1, state, cfg)
	first := drainedMetric(d1, rs2)
	lab.WaitFor(t, 3*time.Second, func() bool { return drainedMetric(d1, rs2) == 1 }, rs2+" drained after the restart")
	if first != 1 {
		t.Logf("note: the first scrape after the restart showed drained=%v", first)
	}
	st := nodeStatus(t, d1)
	if r := rsStatus(t, st, rs2); !r.Drained {
		t.Fatalf("status after the restart: %+v, want drained", r)
	}
	if len(st.Overrides) != 1 || st.Overrides[0].Source != actuator.SourceCLI || st.Overrides[0].Reason != "test" {
		t.Fatalf("overrides after the restart: %+v, want the CLI's drain with reason test", st.Overrides)
	}
	if out, err := runVigil(d1, "status", api); err != nil || !strings.Contains(out, "drained") {
		t.Fatalf("vigil status after the restart does not show the drain: %v\n%s", err, out)
	}
	recs := auditLog(t, d1, token)
	if _, ok := findRecord(recs, func(r actuator.Record) bool {
		return r.Action == actuator.ActionDrain && r.Result == actuator.ResultApplied && r.Source == actuator.SourceCLI &&
			r.Reason == "test" && r.Target == (actuator.Target{VirtualServer: webVS, RealServer: rs2})
	}); !ok {
		t.Fatalf("audit after the restart has no CLI drain with reason test:\n%s", dumpRecords(recs))
	}
	out, err = runVigil(d1, "actions", api)
	if err != nil || !strings.Contains(out, "drain") || !strings.Contains(out, "applied") {
		t.Fatalf("vigil actions table: %v\n%s", err, out)
	}

	// The restored drain is live state: undrain works on it.
	if out, err := runVigil(d1, "undrain", webVS, rs2, "--reason", "test done", api); err != nil || !strings.Contains(out, "applied") {
		t.Fatalf("vigil undrain: %v\n%s", err, out)
	}
	lab.WaitFor(t, 2*time.Second, func() bool { return drainedMetric(d1, rs2) == 0 }, rs2+" undrained")
}

// Requests without the bearer token are refused with 401 and change
// nothing; the same payload with the token is acted on.
func TestActuatorWebhookAuth(t *testing.T) {
	t.Parallel()
	lab.Require(t, "root", "ip")
	topo := lab.New(t, lab.Options{Hosts: lab.Hosts("director1")})
	d1 := topo.Host("director1")
	dir := t.TempDir()
	token := writeToken(t, dir)
	load := filepath.Join(dir, "load")
	setLoad(t, load, loadNormal)
	// Nothing listens on the real servers; without the min_healthy guard a
	// drain of a down server is still applied.
	cfg := config("director1", webConfig(load, load)+actuatorConfig(token, drainRule, "    min_healthy_per_virtual_server: 0\n"), v3(150))
	startVigilState(t, d1, t.TempDir(), cfg)

	payload := fmt.Sprintf(`{"version":"4","groupKey":"{}/{}:{alertname=\"%[1]s\"}","truncatedAlerts":0,"status":"firing",
"receiver":"vigil-directors","groupLabels":{"alertname":"%[1]s"},"commonLabels":{},"commonAnnotations":{},"externalURL":"http://alertmanager",
"alerts":[{"status":"firing","labels":{"alertname":"%[1]s","virtual_server":"web","real_server":"%[2]s"},"annotations":{},
"startsAt":"2025-01-01T00:00:00Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"","fingerprint":"00000000000000aa"}]}`, slowAlert, rs2)
	hook := fmt.Sprintf("http://127.0.0.1:%d%s", metricsPort, actuator.WebhookPath)
	tok := readToken(t, token)
	for _, c := range []struct {
		name   string
		header http.Header
	}{
		{"no Authorization", nil},
		{"wrong token", http.Header{"Authorization": {"Bearer " + tok + "x"}}},
		{"token as basic auth", http.Header{"Authorization": {"Basic " + tok}}},
		{"empty bearer", http.Header{"Authorization": {"Bearer "}}},
	} {
		code, body, err := httpIn(d1, "POST", hook, c.header, payload)
		if err != nil || code != http.StatusUnauthorized {
			t.Fatalf("%s: webhook answered %d %q (%v), want 401", c.name, code, body, err)
		}
	}
	if code := postWebhook(t, d1, payload); code != http.StatusUnauthorized {
		t.Fatalf("postWebhook without a token: %d, want 401", code)
	}
	if v := metric(d1, `vigil_actuator_webhook_requests_total{code="401"}`); v != 5 {
		t.Fatalf(`vigil_actuator_webhook_requests_total{code="401"} = %v, want 5`, v)
	}
	// The API is guarded the same way.
	for _, p := range []struct{ method, path, body string }{
		{"GET", "/api/v1/overrides", ""},
		{"GET", "/api/v1/actions", ""},
		{"POST", "/api/v1/drain", `{"virtual_server":"web","real_server":"` + rs2 + `"}`},
	} {
		code, _, err := httpIn(d1, p.method, fmt.Sprintf("http://127.0.0.1:%d%s", metricsPort, p.path), nil, p.body)
		if err != nil || code != http.StatusUnauthorized {
			t.Fatalf("%s %s without a token: %d (%v), want 401", p.method, p.path, code, err)
		}
	}
	if _, err := runVigil(d1, "drain", webVS, rs2); err == nil {
		t.Fatal("vigil drain without --api.token-file succeeded")
	}
	// Nothing happened.
	if v := drainedMetric(d1, rs2); v != 0 {
		t.Fatalf("%s drained by unauthenticated requests", rs2)
	}
	if recs := auditLog(t, d1, token); len(recs) != 0 {
		t.Fatalf("unauthenticated requests were audited as actions:\n%s", dumpRecords(recs))
	}
	m, err := scrape(d1)
	if err != nil {
		t.Fatal(err)
	}
	for s, v := range m { // every series exists, at 0, from the start
		if strings.HasPrefix(s, "vigil_actuator_actions_total{") && v != 0 {
			t.Fatalf("%s = %v after unauthenticated requests", s, v)
		}
	}

	// The same payload with the token is acted on: the 401s were about the
	// token, not the payload.
	code, body, err := httpIn(d1, "POST", hook, http.Header{"Authorization": {"Bearer " + tok}}, payload)
	if err != nil || code != http.StatusOK || !strings.Contains(body, "drain real_server "+rs2+" of web: applied") {
		t.Fatalf("with the token: %d %q (%v), want 200 and the drain applied", code, body, err)
	}
	lab.WaitFor(t, 2*time.Second, func() bool { return drainedMetric(d1, rs2) == 1 }, rs2+" drained by the authenticated webhook")
	// Alertmanager re-sends: the same alert again is a no-op, still 200.
	code, body, err = httpIn(d1, "POST", hook, http.Header{"Authorization": {"Bearer " + tok}}, payload)
	if err != nil || code != http.StatusOK || !strings.Contains(body, "noop") {
		t.Fatalf("re-sent alert: %d %q (%v), want 200 and a no-op", code, body, err)
	}
}

// examples/alertmanager.yml is valid for amtool and routes to vigil the way
// the actuator expects: every director's webhook, resolved notifications,
// the bearer token from a file, and continue: true so that the alerts also
// reach people.
func TestActuatorExampleAlertmanagerConfig(t *testing.T) {
	lab.Require(t, "amtool")
	const path = "../../examples/alertmanager.yml"
	out, err := exec.Command("amtool", "check-config", path).CombinedOutput()
	if err != nil {
		t.Fatalf("amtool check-config %s: %v\n%s", path, err, out)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	type route struct {
		Receiver string   `yaml:"receiver"`
		Matchers []string `yaml:"matchers"`
		Continue bool     `yaml:"continue"`
		Routes   []route  `yaml:"routes"`
	}
	var cfg struct {
		Route     route `yaml:"route"`
		Receivers []struct {
			Name     string `yaml:"name"`
			Webhooks []struct {
				URL          string `yaml:"url"`
				SendResolved *bool  `yaml:"send_resolved"`
				HTTPConfig   struct {
					Authorization struct {
						Type            string `yaml:"type"`
						CredentialsFile string `yaml:"credentials_file"`
					} `yaml:"authorization"`
				} `yaml:"http_config"`
			} `yaml:"webhook_configs"`
		} `yaml:"receivers"`
	}
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	vigilReceivers := map[string]bool{}
	for _, r := range cfg.Receivers {
		for _, w := range r.Webhooks {
			u, err := url.Parse(w.URL)
			if err != nil || u.Path != actuator.WebhookPath {
				continue
			}
			vigilReceivers[r.Name] = true
			if w.SendResolved == nil || !*w.SendResolved {
				t.Errorf("receiver %s: %s without send_resolved: true (drains would never be undone)", r.Name, w.URL)
			}
			if w.HTTPConfig.Authorization.CredentialsFile == "" || (w.HTTPConfig.Authorization.Type != "" && w.HTTPConfig.Authorization.Type != "Bearer") {
				t.Errorf("receiver %s: %s without a bearer credentials_file", r.Name, w.URL)
			}
		}
		if vigilReceivers[r.Name] && len(r.Webhooks) < 2 {
			t.Errorf("receiver %s reaches %d director(s); the example should show one webhook per director", r.Name, len(r.Webhooks))
		}
	}
	if len(vigilReceivers) == 0 {
		t.Fatalf("no receiver posts to %s", actuator.WebhookPath)
	}
	var routed, continued bool
	var walk func(route)
	walk = func(r route) {
		for i, c := range r.Routes {
			if vigilReceivers[c.Receiver] {
				routed = true
				continued = c.Continue && i < len(r.Routes)-1
				if len(c.Matchers) == 0 {
					t.Errorf("the route to %s matches every alert; route only the alerts the actuator has rules for", c.Receiver)
				}
			}
			walk(c)
		}
	}
	walk(cfg.Route)
	if !routed {
		t.Fatal("no route leads to the vigil receiver")
	}
	if !continued {
		t.Error("the route to the vigil receiver must have continue: true and be followed by the routes to people")
	}
}
