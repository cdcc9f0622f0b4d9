package live

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/check/mariadbtest"
	"github.com/vigil-lb/vigil/internal/lab"
	"github.com/vigil-lb/vigil/tools/promlint"
)

// Timing of the monitoring. The rules file leaves the group interval to
// the global evaluation_interval.
const (
	scrapeInterval = time.Second
	scrapeTimeout  = time.Second
	evalInterval   = time.Second
	// pollInterval is how often the tests read /api/v1/alerts.
	pollInterval = 200 * time.Millisecond
	// vrrpSettle bounds how long the directors take to elect or re-elect
	// a master: VRRPv3 at 100 ms has a master-down interval under 400 ms.
	vrrpSettle = time.Second
	// startSettle bounds how long a vigil takes to start serving metrics
	// and be elected.
	startSettle = 5 * time.Second
)

// alertMargin is how much later than its `for:` an alert may fire, counted
// from when the fault shows on a director's /metrics (or the director
// stops answering): up to one scrape interval until the next scrape, the
// scrape timeout, up to one evaluation interval until the rule sees the
// sample and the alert turns pending, up to one more after `for:` until it
// turns firing, the tests' polling, and a second of slack for a loaded
// machine. A resolution takes the same path without the `for:`.
const alertMargin = scrapeInterval + scrapeTimeout + 2*evalInterval + pollInterval + time.Second

// Addresses inside the lab.
const (
	metricsPort = 9650
	promAddr    = "127.0.0.1:9090" // on the monitor's loopback
	realPort    = 8080             // busybox httpd on the client
)

// vrrpInstances are the VRRP instances every director runs: VRID 51 + i,
// virtual address 10.99.0.250 + i.
var vrrpInstances = []string{"VI_1", "VI_2"}

// Priorities: director1 is the preferred master.
var priorities = map[string]int{"director1": 150, "director2": 100}

// monitorSpec is the host Prometheus runs on.
var monitorSpec = lab.HostSpec{Name: "monitor", ID: 200}

// liveTest stops a test that cannot run here and runs it in parallel with
// the other live tests. extra names further executables it needs.
func liveTest(t *testing.T, extra ...string) {
	t.Helper()
	lab.Require(t, append([]string{"root", "ip", "prometheus", "busybox"}, extra...)...)
	t.Parallel()
}

// stack is one monitored cluster in its own topology: vigil on director1
// and director2, busybox httpd on client as their real server, Prometheus
// on monitor scraping both directors as job="vigil" with the rules file;
// with stackOptions.mysql also a MariaDB dual master on client, the
// real servers of a second virtual server.
type stack struct {
	t                       *testing.T
	topo                    *lab.Topology
	client, monitor         *lab.Host
	d1, d2                  *director
	prom                    *promAPI
	promProc                *lab.Proc
	inv                     *inventory
	alerts                  map[string]promlint.RuleEntry // alerting rules by name
	root, vigilBin, promDir string
	mysql                   *mariadbtest.Pair // nil without stackOptions.mysql
}

// stackOptions vary the stack.
type stackOptions struct {
	// mysql adds the virtual server mysql (VI_1's address, port 3306)
	// over a MariaDB dual master on client, each server checked by a
	// MySQL check that watches replication, as the classic deployment
	// in front of MySQL dual masters does.
	mysql bool
}

// director is one vigil node.
type director struct {
	s    *stack
	host *lab.Host
	proc *lab.Proc
	dir  string // configuration, state and tracked files
	cfg  string // configuration file
}

// newStack builds the topology, starts everything and returns once both
// targets are up in Prometheus and director1 is master of every instance.
func newStack(t *testing.T) *stack {
	t.Helper()
	return newStackWith(t, stackOptions{})
}

// newStackWith is newStack with options.
func newStackWith(t *testing.T, o stackOptions) *stack {
	t.Helper()
	s := &stack{t: t, root: mustRoot(t), vigilBin: vigilBinary(t)}
	var err error
	if s.inv, err = loadInventory(s.root); err != nil {
		t.Fatal(err)
	}
	s.alerts = s.inv.Rules.Alerts()
	s.topo = lab.New(t, lab.Options{Hosts: append(lab.Hosts("director1", "director2", "client"), monitorSpec)})
	s.client, s.monitor = s.topo.Host("client"), s.topo.Host("monitor")

	web := t.TempDir()
	if err := os.WriteFile(filepath.Join(web, "index.html"), []byte("ok\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s.client.Start("busybox", "httpd", "-f", "-p", fmt.Sprintf("%s:%d", s.client.Addr4(), realPort), "-h", web)
	if o.mysql {
		s.mysql = mariadbtest.StartDualMasterWith(t, mariadbtest.Options{Wrapper: s.client.Wrapper(), Bind: s.client.Addr4()})
	}

	s.d1 = s.newDirector("director1")
	s.d2 = s.newDirector("director2")
	s.d1.start()
	s.d2.start()
	s.startPrometheus()

	s.waitQuery(10*time.Second, `count(up{job="vigil"} == 1) == 2`, "both directors to be up in Prometheus")
	for _, vi := range vrrpInstances {
		s.waitMaster(vi, s.d1, startSettle)
	}
	return s
}

// newDirector prepares a director with its tracked files present.
func (s *stack) newDirector(name string) *director {
	d := &director{s: s, host: s.topo.Host(name), dir: s.t.TempDir()}
	d.cfg = filepath.Join(d.dir, "vigil.yml")
	for _, vi := range vrrpInstances {
		d.setHealthy(vi, true)
	}
	if err := os.WriteFile(d.cfg, []byte(d.config()), 0o644); err != nil {
		s.t.Fatal(err)
	}
	return d
}

// target is the director's scrape target, its instance label.
func (d *director) target() string {
	return net.JoinHostPort(d.host.Addr4().String(), fmt.Sprint(metricsPort))
}

// healthFile is the file the tracked script of instance vi tests for.
func (d *director) healthFile(vi string) string {
	return filepath.Join(d.dir, strings.ToLower(vi)+".healthy")
}

// setHealthy creates or removes the tracked file of instance vi. Its
// script has weight 0, so a missing file puts the instance in FAULT.
func (d *director) setHealthy(vi string, ok bool) {
	d.s.t.Helper()
	var err error
	if ok {
		err = os.WriteFile(d.healthFile(vi), nil, 0o644)
	} else {
		err = os.Remove(d.healthFile(vi))
	}
	if err != nil {
		d.s.t.Fatal(err)
	}
}

// config renders the director's vigil.yml: VI_1 and VI_2 over VRRPv3 at
// 100 ms, each tracking eth0 and a script that tests for its file, both
// with weight 0; one virtual server on VI_1's address balancing to the
// client's HTTP server, health-checked over HTTP.
func (d *director) config() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("global: { router_id: %s, state_dir: %s }", d.host.Name(), d.dir)
	w("vrrp_scripts:")
	for _, vi := range vrrpInstances {
		w("  - { name: chk_%s, command: [/usr/bin/test, -e, %s], interval: 100ms, timeout: 100ms }", strings.ToLower(vi), d.healthFile(vi))
	}
	w("vrrp_instances:")
	for i, vi := range vrrpInstances {
		w("  - name: %s", vi)
		w("    interface: %s", lab.Iface)
		w("    virtual_router_id: %d", 51+i)
		w("    priority: %d", priorities[d.host.Name()])
		w("    version: 3")
		w("    advert_interval: 100ms")
		w("    virtual_ipaddresses: [%q]", netip.PrefixFrom(vip(i), 24))
		w("    garp_master_delay: 1s")
		w("    track_scripts: [{ name: chk_%s, weight: 0 }]", strings.ToLower(vi))
		w("    track_interfaces: [{ name: %s, weight: 0 }]", lab.Iface)
	}
	w("virtual_servers:")
	w("  - name: web")
	w("    address: %s:80", vip(0))
	w("    real_servers:")
	w("      - address: %s:%d", lab.IPv4(100), realPort)
	w("        checks: [{ type: http, delay_loop: 500ms, connect_timeout: 400ms, http: { path: /index.html } }]")
	if p := d.s.mysql; p != nil {
		w("  - name: mysql")
		w("    address: %s:3306", vip(0))
		w("    real_servers:")
		for _, srv := range []*mariadbtest.Server{p.A, p.B} {
			w("      - address: %s", srv.Addr)
			w("        checks:")
			w("          - type: mysql")
			w("            delay_loop: 500ms")
			w("            connect_timeout: 400ms")
			w("            mysql: { user: %s, password: %s, max_replica_lag: 30s, require_replica_running: true }",
				mariadbtest.MonitorUser, mariadbtest.MonitorPassword)
		}
	}
	return b.String()
}

// vip returns the virtual address of the i-th VRRP instance.
func vip(i int) netip.Addr { return lab.IPv4(uint8(250 + i)) }

// start runs vigil on the director, listening on its lab address (for
// Prometheus) and its loopback, and waits until it serves /metrics.
func (d *director) start() {
	t := d.s.t
	t.Helper()
	d.proc = d.host.Start(d.s.vigilBin, "run", "--config.file="+d.cfg,
		"--web.listen-address="+d.target(),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", metricsPort),
		"--log.level=info")
	lab.WaitFor(t, startSettle, func() bool { return d.serving() }, "vigil on "+d.host.Name()+" to serve /metrics")
}

// serving reports whether the director's vigil accepts connections on its
// metrics port, checked from inside its namespace.
func (d *director) serving() bool {
	err := d.host.Do(func() error {
		c, err := net.DialTimeout("tcp", d.target(), time.Second)
		if err == nil {
			c.Close()
		}
		return err
	})
	return err == nil
}

// kill crashes the director's vigil (SIGKILL to its process group).
func (d *director) kill() {
	d.s.t.Helper()
	d.proc.Kill()
}

// reload rewrites the director's configuration with a trailing comment,
// which changes vigil_config_hash and nothing else, and sends SIGHUP.
func (d *director) reload(comment string) {
	t := d.s.t
	t.Helper()
	if err := os.WriteFile(d.cfg, []byte(d.config()+"# "+comment+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d.proc.Signal(syscall.SIGHUP)
}

// startPrometheus runs Prometheus on the monitor host with a 1 s scrape
// and evaluation interval, the rules file of the repository as it is, and
// a fresh TSDB, and waits until it is ready.
func (s *stack) startPrometheus() {
	t := s.t
	t.Helper()
	s.promDir = t.TempDir()
	cfg := prometheusConfig(filepath.Join(s.root, rulesFile), s.d1.target(), s.d2.target())
	path := filepath.Join(s.promDir, "prometheus.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	s.promProc = s.monitor.Start("prometheus",
		"--config.file="+path,
		"--storage.tsdb.path="+filepath.Join(s.promDir, "data"),
		"--web.listen-address="+promAddr,
		"--log.level=info")
	s.prom = newPromAPI(s.monitor, promAddr)
	t.Cleanup(s.prom.close)
	lab.WaitFor(t, 30*time.Second, func() bool {
		if s.promProc.Exited() {
			t.Fatalf("prometheus exited:\n%s", tail(s.promProc.Log(), 30))
		}
		return s.prom.ready()
	}, "prometheus to be ready")
}

// prometheusConfig is the configuration of the tests' Prometheus: the
// stack's intervals, the rules file, and the targets as job="vigil".
func prometheusConfig(rules string, targets ...string) string {
	quoted := make([]string, len(targets))
	for i, target := range targets {
		quoted[i] = strconv.Quote(target)
	}
	return fmt.Sprintf(`global:
  scrape_interval: %s
  scrape_timeout: %s
  evaluation_interval: %s
rule_files:
  - %q
scrape_configs:
  - job_name: vigil
    static_configs:
      - targets: [%s]
`, model(scrapeInterval), model(scrapeTimeout), model(evalInterval), rules, strings.Join(quoted, ", "))
}

// model renders a duration as Prometheus's configuration writes it.
func model(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%ds", int(d/time.Second))
	}
	return fmt.Sprintf("%dms", d.Milliseconds())
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// waitQuery waits until expr returns data in Prometheus.
func (s *stack) waitQuery(timeout time.Duration, expr, what string) time.Duration {
	s.t.Helper()
	var last string
	took, ok := lab.Within(timeout, func() bool {
		r, err := s.prom.query(expr)
		switch {
		case err != nil:
			last = err.Error()
		case r.empty():
			last = "no data"
		default:
			return true
		}
		return false
	})
	if !ok {
		s.t.Fatalf("timed out after %v waiting for %s (%s: %s)", timeout, what, expr, last)
	}
	return took
}

// waitMaster waits until Prometheus sees d as the only master of vi.
func (s *stack) waitMaster(vi string, d *director, timeout time.Duration) {
	s.t.Helper()
	s.waitQuery(timeout, fmt.Sprintf(
		`sum by (vrrp_instance) (vigil_vrrp_instance_state{job="vigil",vrrp_instance=%q,state="master"}) == 1
		  and on (vrrp_instance) vigil_vrrp_instance_state{job="vigil",instance=%q,vrrp_instance=%q,state="master"} == 1`,
		vi, d.target(), vi), fmt.Sprintf("%s to be the only master of %s", d.host.Name(), vi))
}

// waitState waits until Prometheus sees instance vi of d in state.
func (s *stack) waitState(vi string, d *director, state string, timeout time.Duration) {
	s.t.Helper()
	s.waitQuery(timeout, fmt.Sprintf(`vigil_vrrp_instance_state{job="vigil",instance=%q,vrrp_instance=%q,state=%q} == 1`,
		d.target(), vi, state), fmt.Sprintf("%s of %s to be %s", vi, d.host.Name(), state))
}

// forOf returns the `for:` of an alerting rule, failing the test when the
// rule is missing or its `for:` is too long to test here.
func (s *stack) forOf(name string) time.Duration {
	s.t.Helper()
	r, ok := s.alerts[name]
	if !ok {
		s.t.Fatalf("%s has no alert %s", rulesFile, name)
	}
	d := time.Duration(r.For)
	if d > 2*time.Minute {
		s.t.Fatalf("%s has for: %v; the live tests are sized for at most 2m: shorten the scenario's budget deliberately, do not change the rule", name, d)
	}
	return d
}

// alertState returns the state of the active alert name with labels want
// ("" when it is inactive) and the alert.
func (s *stack) alertState(name string, want map[string]string) (string, alert, error) {
	alerts, err := s.prom.alerts()
	if err != nil {
		return "", alert{}, err
	}
	a, ok := findAlert(alerts, name, want)
	if !ok {
		return "", a, nil
	}
	return a.State, a, nil
}

// expectation is an alert state a test waits for.
type expectation struct {
	Name  string
	Want  map[string]string // labels the alert must carry
	State string            // "pending", "firing", or "" for inactive
	// Start is when the fault (or its end) was injected; Min and Bound
	// limit the time from Start to the state: an alert may not fire
	// before its `for:` has passed since the fault began.
	Start      time.Time
	Min, Bound time.Duration
	// Since names the event at Start, for messages.
	Since string

	// Took and Alert are filled in when the state is seen.
	Took  time.Duration
	Alert alert
	done  bool
}

// waitAlerts polls /api/v1/alerts until every expectation is met, failing
// the test when one is met too early or not within its bound. Polling
// them together measures each one's time even when they overlap.
func (s *stack) waitAlerts(es ...*expectation) {
	s.t.Helper()
	last := map[*expectation]alert{}
	var lastErr error
	for {
		alerts, err := s.prom.alerts()
		now := time.Now()
		lastErr = err
		pending := 0
		for _, e := range es {
			if e.done {
				continue
			}
			took := now.Sub(e.Start)
			if err == nil {
				a, _ := findAlert(alerts, e.Name, e.Want)
				last[e] = a
				if a.State == e.State {
					if took < e.Min {
						s.t.Fatalf("%s became %s after %v, before its for: of %v had passed: %v", selectorString(e.Name, e.Want), stateName(e.State), took, e.Min, a)
					}
					e.Took, e.Alert, e.done = took, a, true
					continue
				}
			}
			if took > e.Bound {
				s.t.Fatalf("%s not %s within %v (last seen %s: %v; error %v)", selectorString(e.Name, e.Want), stateName(e.State), e.Bound, stateName(last[e].State), last[e], lastErr)
			}
			pending++
		}
		if pending == 0 {
			return
		}
		time.Sleep(pollInterval)
	}
}

// waitAlert waits for one alert state; see waitAlerts.
func (s *stack) waitAlert(name string, want map[string]string, state string, start time.Time, min, bound time.Duration) (time.Duration, alert) {
	s.t.Helper()
	e := &expectation{Name: name, Want: want, State: state, Start: start, Min: min, Bound: bound}
	s.waitAlerts(e)
	return e.Took, e.Alert
}

// neverFiring checks for d that the alert does not fire, and returns the
// states it was seen in.
func (s *stack) neverFiring(name string, want map[string]string, d time.Duration) map[string]int {
	s.t.Helper()
	seen := map[string]int{}
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		got, a, err := s.alertState(name, want)
		if err != nil {
			s.t.Fatalf("reading alerts: %v", err)
		}
		seen[stateName(got)]++
		if got == "firing" {
			s.t.Fatalf("%s fired: %v", selectorString(name, want), a)
		}
		time.Sleep(pollInterval)
	}
	return seen
}

func stateName(s string) string {
	if s == "" {
		return "inactive"
	}
	return s
}

// scalar runs a query that must return exactly one sample and returns its
// value.
func (s *stack) scalar(expr string) float64 {
	s.t.Helper()
	r, err := s.prom.query(expr)
	if err != nil {
		s.t.Fatalf("%s: %v", expr, err)
	}
	if len(r.Samples) != 1 {
		s.t.Fatalf("%s: %d samples, want 1: %+v", expr, len(r.Samples), r.Samples)
	}
	return r.Samples[0].Value
}
