package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/lab"
)

// The monitoring stack of the actuator tests: Prometheus and Alertmanager
// (Debian's packages) run inside a lab host, listening on its loopback, with
// configuration files generated into the test's temporary directory.
// Prometheus scrapes vigil over the lab network and sends alerts to
// Alertmanager, whose webhook receiver reaches vigil over the lab network
// too: the chain a production deployment has, at test speed (1 s scrapes
// and evaluations, no group_wait).

// Where the stack listens, on the loopback of its host's namespace.
const (
	promAddr = "127.0.0.1:9090"
	amAddr   = "127.0.0.1:9093"
)

// monitorHost is the lab host that runs the stack; it needs an explicit ID
// (it is not one of the lab's well-known names).
var monitorHost = lab.HostSpec{Name: "monitor", ID: 50}

// nsClient returns an HTTP client whose connections are opened inside h's
// namespace, so that it reaches what listens on h's loopback and nothing
// outside the lab.
func nsClient(h *lab.Host) *http.Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var c net.Conn
			err := h.Do(func() error {
				var err error
				c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
				return err
			})
			return c, err
		},
		DisableKeepAlives: true,
		Proxy:             nil, // never an environment proxy: everything is in the lab
	}
	return &http.Client{Transport: tr, Timeout: 5 * time.Second}
}

// httpIn sends a request from inside h and returns the status and body.
func httpIn(h *lab.Host, method, rawURL string, header http.Header, body string) (int, string, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, rawURL, rd)
	if err != nil {
		return 0, "", err
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := nsClient(h).Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// scrapeTarget is one target of the "vigil" job, with target labels.
type scrapeTarget struct {
	Addr   string
	Labels map[string]string
}

// promStack is a running Prometheus and Alertmanager.
type promStack struct {
	host     *lab.Host
	prom, am *lab.Proc
	dir      string
}

// startPromStack starts Alertmanager with amConfig (a whole alertmanager.yml)
// and Prometheus scraping targets every second and evaluating rules (the
// YAML list under a group's "rules:", indented by 6) every second, both in
// h. It returns once both are ready.
func startPromStack(t *testing.T, h *lab.Host, targets []scrapeTarget, rules, amConfig string) *promStack {
	t.Helper()
	s := &promStack{host: h, dir: t.TempDir()}
	write := func(name, content string) string {
		t.Helper()
		p := filepath.Join(s.dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}

	amFile := write("alertmanager.yml", amConfig)
	s.am = h.Start("prometheus-alertmanager",
		"--config.file="+amFile,
		"--storage.path="+filepath.Join(s.dir, "am-data"),
		"--web.listen-address="+amAddr,
		"--cluster.listen-address=", // no gossip: a single Alertmanager
		"--log.level=debug")

	var b strings.Builder
	b.WriteString("groups:\n  - name: vigil-actuator-e2e\n    interval: 1s\n    rules:\n")
	b.WriteString(rules)
	rulesFile := write("rules.yml", b.String())

	b.Reset()
	fmt.Fprintf(&b, `global:
  scrape_interval: 1s
  scrape_timeout: 800ms
  evaluation_interval: 1s
rule_files: [%q]
alerting:
  alertmanagers:
    - static_configs: [{ targets: [%q] }]
scrape_configs:
  - job_name: vigil
    static_configs:
`, rulesFile, amAddr)
	for _, tg := range targets {
		fmt.Fprintf(&b, "      - targets: [%q]\n", tg.Addr)
		if len(tg.Labels) > 0 {
			b.WriteString("        labels:\n")
			keys := make([]string, 0, len(tg.Labels))
			for k := range tg.Labels {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				fmt.Fprintf(&b, "          %s: %q\n", k, tg.Labels[k])
			}
		}
	}
	promFile := write("prometheus.yml", b.String())
	s.prom = h.Start("prometheus",
		"--config.file="+promFile,
		"--storage.tsdb.path="+filepath.Join(s.dir, "prom-data"),
		"--web.listen-address="+promAddr,
		"--log.level=info")

	for _, p := range []struct {
		proc *lab.Proc
		addr string
	}{{s.am, amAddr}, {s.prom, promAddr}} {
		lab.WaitFor(t, 20*time.Second, func() bool {
			if p.proc.Exited() {
				t.Fatalf("%s exited during start:\n%s", p.proc.Argv()[0], p.proc.Log())
			}
			code, _, err := httpIn(h, "GET", "http://"+p.addr+"/-/ready", nil, "")
			return err == nil && code == http.StatusOK
		}, p.proc.Argv()[0]+" to be ready")
	}
	return s
}

// waitDiscovered waits until Prometheus has scraped every target
// successfully and knows its Alertmanager. Prometheus 2.42 hands
// discovered targets and Alertmanagers over every 5 s, so this takes up to
// 5 s after the start: start the stack early and call this last. An alert
// that fires before the Alertmanager is known is only sent again after
// --rules.alert.resend-delay (1m).
func (s *promStack) waitDiscovered(t *testing.T) {
	t.Helper()
	var last string
	_, ok := lab.Within(15*time.Second, func() bool {
		code, body, err := httpIn(s.host, "GET", "http://"+promAddr+"/api/v1/alertmanagers", nil, "")
		if err != nil || code != http.StatusOK {
			last = fmt.Sprintf("alertmanagers: %d %v", code, err)
			return false
		}
		var am struct {
			Data struct {
				Active []struct {
					URL string `json:"url"`
				} `json:"activeAlertmanagers"`
			} `json:"data"`
		}
		if json.Unmarshal([]byte(body), &am) != nil || len(am.Data.Active) == 0 {
			last = "no active Alertmanager: " + body
			return false
		}
		code, body, err = httpIn(s.host, "GET", "http://"+promAddr+"/api/v1/targets?state=active", nil, "")
		if err != nil || code != http.StatusOK {
			last = fmt.Sprintf("targets: %d %v", code, err)
			return false
		}
		var tg struct {
			Data struct {
				Active []struct {
					ScrapeURL string `json:"scrapeUrl"`
					Health    string `json:"health"`
				} `json:"activeTargets"`
			} `json:"data"`
		}
		if json.Unmarshal([]byte(body), &tg) != nil || len(tg.Data.Active) == 0 {
			last = "no active target: " + body
			return false
		}
		for _, a := range tg.Data.Active {
			if a.Health != "up" {
				last = fmt.Sprintf("target %s is %q", a.ScrapeURL, a.Health)
				return false
			}
		}
		return true
	})
	if !ok {
		t.Fatalf("Prometheus did not discover its targets and Alertmanager: %s\n%s", last, tailLines(s.prom.Log(), 20))
	}
}

// query evaluates expr now and returns the values of the result vector by
// their label set as Prometheus prints it.
func (s *promStack) query(expr string) (map[string]float64, error) {
	code, body, err := httpIn(s.host, "GET", "http://"+promAddr+"/api/v1/query?query="+url.QueryEscape(expr), nil, "")
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("query %q: status %d: %s", expr, code, body)
	}
	var r struct {
		Data struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		return nil, fmt.Errorf("query %q: %w", expr, err)
	}
	out := map[string]float64{}
	for _, e := range r.Data.Result {
		var v float64
		if str, ok := e.Value[1].(string); ok {
			fmt.Sscan(str, &v)
		}
		keys := make([]string, 0, len(e.Metric))
		for k := range e.Metric {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		var ls []string
		for _, k := range keys {
			ls = append(ls, fmt.Sprintf("%s=%q", k, e.Metric[k]))
		}
		out["{"+strings.Join(ls, ",")+"}"] = v
	}
	return out, nil
}

// waitQuery waits until expr returns a non-empty vector.
func (s *promStack) waitQuery(t *testing.T, expr string, timeout time.Duration) {
	t.Helper()
	var last error
	_, ok := lab.Within(timeout, func() bool {
		r, err := s.query(expr)
		last = err
		return err == nil && len(r) > 0
	})
	if !ok {
		t.Fatalf("Prometheus: %q stayed empty for %v (last error %v)\n%s", expr, timeout, last, tailLines(s.prom.Log(), 20))
	}
}

// amCounter sums Alertmanager's own series of metric name whose labels
// contain every one of the given `k="v"` pairs.
func (s *promStack) amCounter(name string, labels ...string) (float64, error) {
	code, body, err := httpIn(s.host, "GET", "http://"+amAddr+"/metrics", nil, "")
	if err != nil {
		return 0, err
	}
	if code != http.StatusOK {
		return 0, fmt.Errorf("alertmanager /metrics: status %d", code)
	}
	sum := 0.0
	for series, v := range parseExposition(body) {
		n, rest, _ := strings.Cut(series, "{")
		if n != name {
			continue
		}
		match := true
		for _, l := range labels {
			match = match && strings.Contains(rest, l)
		}
		if match {
			sum += v
		}
	}
	return sum, nil
}

// tailLines returns the last n lines of s.
func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// amVigilConfig renders an alertmanager.yml shaped like
// examples/alertmanager.yml, at test speed: alerts whose alertname matches
// alertnames go to the vigil receiver and (continue: true) on to the
// routes for people, here one receiver that does nothing; the vigil
// receiver POSTs
// them, resolved ones included, to every webhook URL with the bearer token
// in tokenFile.
func amVigilConfig(tokenFile, alertnames string, webhooks ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `global:
  resolve_timeout: 10s
route:
  receiver: humans
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1m
  routes:
    - receiver: vigil-directors
      matchers: ['alertname=~"%s"']
      group_by: ['...']
      group_wait: 0s
      group_interval: 1s
      repeat_interval: 1m
      continue: true
    - receiver: humans
receivers:
  - name: humans
  - name: vigil-directors
    webhook_configs:
`, alertnames)
	for _, u := range webhooks {
		fmt.Fprintf(&b, `      - url: %q
        send_resolved: true
        max_alerts: 0
        http_config:
          authorization: { type: Bearer, credentials_file: %q }
`, u, tokenFile)
	}
	return b.String()
}
