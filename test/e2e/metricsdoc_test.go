package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/vigil-lb/vigil/collector"
	"github.com/vigil-lb/vigil/internal/lab"
)

// notExposedOK lists documented metrics a live vigil in this test cannot
// expose, each with the reason. Every other documented metric must be in
// the scrape.
var notExposedOK = func() map[string]string {
	m := map[string]string{}
	noIPVS := "the host kernel has no IPVS, so kernel-held series are absent; the VM tier covers them"
	for _, n := range []string{
		"vigil_ipvs_virtual_server_connections_total", "vigil_ipvs_virtual_server_incoming_packets_total",
		"vigil_ipvs_virtual_server_outgoing_packets_total", "vigil_ipvs_virtual_server_incoming_bytes_total",
		"vigil_ipvs_virtual_server_outgoing_bytes_total",
		"vigil_ipvs_real_server_weight", "vigil_ipvs_real_server_active_connections",
		"vigil_ipvs_real_server_inactive_connections", "vigil_ipvs_real_server_persistent_connections",
		"vigil_ipvs_real_server_connections_total", "vigil_ipvs_real_server_incoming_packets_total",
		"vigil_ipvs_real_server_outgoing_packets_total", "vigil_ipvs_real_server_incoming_bytes_total",
		"vigil_ipvs_real_server_outgoing_bytes_total",
	} {
		m[n] = noIPVS
	}
	noMySQL := "the namespace lab runs no MariaDB; check/ and collector/ tests cover the MySQL details against a real MariaDB"
	for _, n := range []string{"vigil_check_mysql_replica_lag_seconds", "vigil_check_mysql_replica_io_running",
		"vigil_check_mysql_replica_sql_running", "vigil_check_mysql_read_only"} {
		m[n] = noMySQL
	}
	return m
}()

// foreignPrefixes are the metric families of the Prometheus Go client's
// standard collectors and of promhttp: not vigil's to document. Any other
// family without the vigil_ prefix is a vigil metric that escaped the
// naming rule, and with it the documentation check.
var foreignPrefixes = []string{"go_", "process_", "promhttp_"}

// metricsDocConfig exercises every VRRP metric family: an IPv4 and an IPv6
// VRRPv3 instance in one sync group, a tracked script and a tracked
// interface (both healthy, with weights, so the instances stay eligible).
func metricsDocConfig() string {
	scripts := "vrrp_scripts:\n  - { name: chk_true, command: [/bin/true], interval: 100ms, timeout: 100ms }\n"
	v4 := instanceConf{Name: "VI_4", VRID: 51, Priority: 150, Version: 3, Interval: "100ms",
		VIPs: []string{lab.VIP4.String() + "/24"},
		Extra: "    track_scripts: [{ name: chk_true, weight: -10 }]\n" +
			"    track_interfaces: [{ name: " + lab.Iface + ", weight: -20 }]\n"}
	v6 := instanceConf{Name: "VI_6", VRID: 61, Priority: 150, Version: 3, Interval: "100ms",
		VIPs: []string{lab.VIP6.String() + "/64"}}
	vs := fmt.Sprintf(`virtual_servers:
  - name: web
    address: %[1]s:80
    scheduler: wrr
    sorry_server: %[2]s:8081
    delay_loop: 100ms
    real_servers:
      - address: %[2]s:8080
        checks:
          - { type: tcp, delay_loop: 100ms, connect_timeout: 500ms }
          - { type: http, delay_loop: 100ms, connect_timeout: 500ms, http: { path: /index.html } }
          - { type: exec, delay_loop: 100ms, connect_timeout: 500ms, exec: { command: [/bin/sh, -c, "exit 7"], dynamic_weight: true } }
`, lab.VIP4, lab.IPv4(100))
	act := "actuator:\n  enabled: true\n  auth: { disabled: true }\n"
	return config("d1", scripts, v4, v6) + "sync_groups:\n  - { name: VG1, instances: [VI_4, VI_6] }\n" + vs + act
}

// TestMetricsDocMatchesLiveScrape scrapes a real vigil and holds the
// exposition to docs/metrics.md (every vigil_* family documented with its
// type and labels, every documented family exposed) and to promtool's
// linter. collector's own test does the same against fixtures; this one
// catches what only the wired-up daemon exposes.
func TestMetricsDocMatchesLiveScrape(t *testing.T) {
	lab.Require(t, "root", "ip", "ipv6", "promtool")
	t.Parallel()
	md, err := os.ReadFile("../../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	docs, err := collector.DocumentedMetrics(md)
	if err != nil {
		t.Fatalf("parsing docs/metrics.md: %v", err)
	}
	for name := range notExposedOK {
		if _, ok := docs[name]; !ok {
			t.Errorf("notExposedOK names %s, which docs/metrics.md does not document", name)
		}
	}

	topo := lab.New(t, lab.Options{})
	d1 := topo.Host("director1")
	// A real server for the checks: busybox httpd on the client host.
	www := t.TempDir()
	os.WriteFile(www+"/index.html", []byte("ok\n"), 0o644)
	topo.Host("client").Start("busybox", "httpd", "-f", "-p", "8080", "-h", www)
	startVigil(t, d1, metricsDocConfig())
	for _, in := range []string{"VI_4", "VI_6"} {
		waitState(t, d1, in, "master", 3*time.Second)
	}
	// Announcements and tracks have run once the counters move.
	lab.WaitFor(t, 2*time.Second, func() bool {
		m, err := scrape(d1)
		return err == nil &&
			m[`vigil_vrrp_gratuitous_arps_sent_total{vrrp_instance="VI_4"}`] > 0 &&
			m[`vigil_vrrp_neighbor_advertisements_sent_total{vrrp_instance="VI_6"}`] > 0 &&
			m[`vigil_vrrp_track_script_up{script="chk_true"}`] == 1 &&
			m[fmt.Sprintf("vigil_vrrp_track_interface_up{interface=%q}", lab.Iface)] == 1
	}, "announcements sent and tracks up")
	lab.WaitFor(t, 3*time.Second, func() bool {
		m, err := scrape(d1)
		return err == nil && m[`vigil_ipvs_real_server_up{real_server="10.99.0.100:8080",virtual_server="web"}`] == 1
	}, "the real server's checks to pass")
	// The actuator's series appear once it has acted: an operator drain
	// (through the CLI and API) and a webhook request.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := d1.Run(ctx, vigilBin, "drain", "web", "10.99.0.100:8080", "--force", "--reason=metrics doc test"); err != nil {
		t.Fatalf("vigil drain: %v %s", err, out)
	}
	if code := postWebhook(t, d1, "{}"); code != 400 {
		t.Fatalf("webhook with an empty object: status %d, want 400", code)
	}

	text := rawScrape(t, d1)
	parser := expfmt.NewTextParser(model.LegacyValidation)
	byName, err := parser.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("parsing the exposition: %v\n%s", err, text)
	}

	var vigilFamilies []*dto.MetricFamily
	for name, mf := range byName {
		switch {
		case strings.HasPrefix(name, collector.Namespace+"_"):
			vigilFamilies = append(vigilFamilies, mf)
		case !hasAnyPrefix(name, foreignPrefixes):
			t.Errorf("exposed family %s has neither the %s_ prefix nor that of a standard collector", name, collector.Namespace)
		}
	}
	sort.Slice(vigilFamilies, func(i, j int) bool { return vigilFamilies[i].GetName() < vigilFamilies[j].GetName() })
	if len(vigilFamilies) == 0 {
		t.Fatalf("the scrape holds no %s_ family:\n%s", collector.Namespace, text)
	}

	var problems []string
	for _, p := range collector.CompareDocs(docs, vigilFamilies) {
		if p.Kind == collector.NotExposed {
			if _, ok := notExposedOK[p.Metric]; ok {
				continue
			}
		}
		problems = append(problems, p.String())
	}
	if len(problems) > 0 {
		t.Errorf("docs/metrics.md and the live exposition disagree:\n  %s\nscrape:\n%s", strings.Join(problems, "\n  "), text)
	}

	// The scrape reflects the configuration it is meant to exercise.
	for _, want := range []string{
		`vigil_vrrp_instance_info{family="ipv4",interface="eth0",sync_group="VG1",version="3",vrid="51",vrrp_instance="VI_4"}`,
		`vigil_vrrp_instance_info{family="ipv6",interface="eth0",sync_group="VG1",version="3",vrid="61",vrrp_instance="VI_6"}`,
	} {
		if !strings.Contains(text, want+" 1\n") {
			t.Errorf("the scrape lacks %s 1", want)
		}
	}

	pctx, pcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer pcancel()
	cmd := exec.CommandContext(pctx, "promtool", "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil || out.Len() > 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out.String())
	}
	t.Logf("%d vigil_ families checked against %d documented", len(vigilFamilies), len(docs))
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
