//go:build vm && linux

package live

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/vigil-lb/vigil/daemon"
	"github.com/vigil-lb/vigil/internal/lab"
	"github.com/vigil-lb/vigil/internal/vmtest"
)

// The VM tier's topology, all in the VM's root network namespace, whose
// IPVS table vigil programs: VRRP instance VI_1 on one end of a veth pair
// (the other end only swallows the adverts), and the real servers as
// addresses of a dummy link, two of them with an HTTP server of the test
// behind them and the third with nothing, so that its check fails; the
// sorry server is one more address there.
const (
	vmVRRPLink = "vl0"
	vmPeerLink = "vl1"
	vmRSLink   = "vrs0"
	vmRSPort   = 8080
)

var (
	vmDirectorAddr = netip.MustParsePrefix("10.1.0.1/24")
	vmVIP          = netip.MustParseAddr("10.1.0.100")
	vmRealServers  = []netip.Addr{netip.MustParseAddr("10.2.0.11"), netip.MustParseAddr("10.2.0.12"), netip.MustParseAddr("10.2.0.13")}
	vmSorryServer  = netip.MustParseAddr("10.2.0.99") // configured, never needed: quorum 1 holds
)

// TestVMDashboardsReturnData is TestRulesAndDashboardsEvaluate on a real
// IPVS kernel: vigil programs the VM's IPVS table, Prometheus (copied in
// by scripts/vm/exec.sh, VIGIL_VM_PROGRAMS) scrapes it and evaluates the
// rules file, and the test makes the events the dashboards show: VI_1
// goes to FAULT and back, the configuration is reloaded, and, the way an
// operator's Alertmanager would, a webhook drains a real server and a
// second one is refused by the min_healthy guard. Then every rule
// must evaluate cleanly and every dashboard query must return data, the
// IPVS kernel series and the actuator's included, except the few
// allowedEmpty entries marked InVM. `make test-vm` runs it:
//
//	cd tools && VIGIL_VM_PROGRAMS=prometheus \
//	  VIGIL_VM_INCLUDE=../../go.mod:../../alerts:../../dashboards:../../docs \
//	  CGO_ENABLED=0 go test -tags vm -exec ../scripts/vm/exec.sh -run '^TestVM' ./live
func TestVMDashboardsReturnData(t *testing.T) {
	vmtest.Require(t)
	root := mustRoot(t)
	inv, err := loadInventory(root)
	if err != nil {
		t.Fatal(err)
	}
	prometheus, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatalf("prometheus is not in the VM: run the test with VIGIL_VM_PROGRAMS=prometheus (make test-vm does): %v", err)
	}

	vmNetwork(t)
	for _, a := range vmRealServers[:2] {
		vmHTTPServer(t, netip.AddrPortFrom(a, vmRSPort))
	}
	v := startVMVigil(t)
	m := &monitored{inv: inv, targets: []string{v.addr}, kernel: true}
	m.prom = startVMPrometheus(t, prometheus, filepath.Join(root, rulesFile), v.addr)
	s := &stack{t: t, prom: m.prom} // for waitQuery
	s.waitQuery(30*time.Second, `up{job="vigil"} == 1`, "Prometheus to scrape vigil")
	s.waitQuery(30*time.Second, `vigil_vrrp_instance_state{job="vigil",vrrp_instance="VI_1",state="master"} == 1`, "VI_1 to be master")
	s.waitQuery(30*time.Second, `vigil_ipvs_real_server_weight{job="vigil"}`, "the real servers to be in the kernel")

	// The events the dashboards show, after a few scrapes of the steady
	// state so that changes() and increase() see them.
	time.Sleep(3 * scrapeInterval)
	v.setHealthy(false)
	s.waitQuery(alertMargin, `vigil_vrrp_instance_state{job="vigil",vrrp_instance="VI_1",state="fault"} == 1`, "VI_1 to be in FAULT")
	v.setHealthy(true)
	s.waitQuery(alertMargin, `vigil_vrrp_instance_state{job="vigil",vrrp_instance="VI_1",state="master"} == 1`, "VI_1 to be master again")
	v.reload("reloaded by TestVMDashboardsReturnData")
	v.webhook("firing", "DrainTest", vmRealServers[1], "0000000000000001") // drained
	v.webhook("firing", "DrainTest", vmRealServers[0], "0000000000000002") // the last healthy one: refused
	s.waitQuery(alertMargin, `changes(vigil_config_hash{job="vigil"}[1m]) > 0`, "Prometheus to see the new configuration hash")
	s.waitQuery(alertMargin, fmt.Sprintf(`vigil_ipvs_real_server_weight{job="vigil",real_server="%s"} == 0`,
		netip.AddrPortFrom(vmRealServers[1], vmRSPort)), "Prometheus to see the drained real server at weight 0 in the kernel")
	s.waitQuery(alertMargin, `vigil_actuator_guard_refusals_total{job="vigil",guard="min_healthy"} > 0`,
		"Prometheus to see the min_healthy guard's refusal")

	t.Run("rules", func(t *testing.T) { checkRules(t, m) })
	t.Run("queries", func(t *testing.T) { checkQueries(t, m) })
	if t.Failed() {
		t.Logf("vigil's log:\n%s", v.logs.String())
	}
}

// vmNetwork builds the topology and removes it when the test ends.
func vmNetwork(t *testing.T) {
	t.Helper()
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: vmVRRPLink}, PeerName: vmPeerLink}
	dummy := &netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: vmRSLink}}
	for _, l := range []netlink.Link{veth, dummy} {
		if err := netlink.LinkAdd(l); err != nil {
			t.Fatalf("adding link %s: %v", l.Attrs().Name, err)
		}
		t.Cleanup(func() { netlink.LinkDel(l) })
	}
	addr := func(link string, p netip.Prefix) {
		l, err := netlink.LinkByName(link)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := netlink.ParseAddr(p.String())
		if err := netlink.AddrAdd(l, a); err != nil {
			t.Fatalf("adding %s to %s: %v", p, link, err)
		}
	}
	addr(vmVRRPLink, vmDirectorAddr)
	for _, a := range append([]netip.Addr{vmSorryServer}, vmRealServers...) {
		addr(vmRSLink, netip.PrefixFrom(a, 32))
	}
	for _, name := range []string{vmVRRPLink, vmPeerLink, vmRSLink} {
		l, err := netlink.LinkByName(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := netlink.LinkSetUp(l); err != nil {
			t.Fatalf("setting %s up: %v", name, err)
		}
	}
}

// vmHTTPServer serves 200 "ok" at addr until the test ends.
func vmHTTPServer(t *testing.T, addr netip.AddrPort) {
	t.Helper()
	ln, err := net.Listen("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

// vmVigil is vigil running in the test process (daemon.Run), as the
// director of the VM.
type vmVigil struct {
	t       *testing.T
	addr    string // host:port of its listener: metrics, actuator webhook
	cfg     string
	health  string // the file VI_1's tracked script tests for
	logs    *lockedBuffer
	reloads chan struct{}
}

// vmVigilConfig is the director's configuration: VI_1 master alone while
// healthFile exists (it tracks a script testing for it, and its
// interface), and
// one virtual server on its address over the three real servers, with an
// actuator that drains a real server named by an alert's labels and
// refuses to leave a virtual server without a healthy real server.
func vmVigilConfig(stateDir, healthFile string) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("global: { router_id: vm, state_dir: %s }", stateDir)
	w("vrrp_scripts:")
	w("  - { name: chk_vi_1, command: [/bin/test, -e, %s], interval: 100ms, timeout: 100ms }", healthFile)
	w("vrrp_instances:")
	w("  - name: VI_1")
	w("    interface: %s", vmVRRPLink)
	w("    virtual_router_id: 51")
	w("    priority: 150")
	w("    advert_interval: 100ms")
	w("    virtual_ipaddresses: [%q]", netip.PrefixFrom(vmVIP, 24))
	w("    track_scripts: [{ name: chk_vi_1, weight: 0 }]")
	w("    track_interfaces: [{ name: %s, weight: 0 }]", vmVRRPLink)
	w("virtual_servers:")
	w("  - name: web")
	w("    address: %s", netip.AddrPortFrom(vmVIP, 80))
	w("    forwarding: nat")
	w("    sorry_server: %s", netip.AddrPortFrom(vmSorryServer, vmRSPort))
	w("    delay_loop: 500ms")
	w("    real_servers:")
	for i, a := range vmRealServers {
		check := "{ type: tcp, connect_timeout: 400ms }"
		if i == 1 {
			check = "{ type: http, connect_timeout: 400ms, http: { path: /healthz } }"
		}
		w("      - { address: %q, checks: [%s] }", netip.AddrPortFrom(a, vmRSPort), check)
	}
	w("actuator:")
	w("  enabled: true")
	w("  auth: { disabled: true }")
	w("  rules:")
	w("    - name: drain-test")
	w("      match: ['alertname=\"DrainTest\"']")
	w("      action: drain")
	w("      target: { virtual_server: '{{ .Labels.virtual_server }}', real_server: '{{ .Labels.real_server }}' }")
	w("  guards: { min_healthy_per_virtual_server: 1, cooldown: 0s }")
	return b.String()
}

// startVMVigil runs vigil until the test ends and returns once it serves.
func startVMVigil(t *testing.T) *vmVigil {
	t.Helper()
	dir := t.TempDir()
	stateDir := filepath.Join(dir, "state")
	if err := os.Mkdir(stateDir, 0o755); err != nil {
		t.Fatal(err)
	}
	v := &vmVigil{t: t, cfg: filepath.Join(dir, "vigil.yml"), health: filepath.Join(dir, "vi_1.healthy"),
		logs: &lockedBuffer{}, reloads: make(chan struct{}, 1)}
	v.setHealthy(true)
	if err := os.WriteFile(v.cfg, []byte(vmVigilConfig(stateDir, v.health)), 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	v.addr = ln.Addr().String()
	ln.Close()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ready := make(chan struct{})
	go func() {
		done <- daemon.Run(ctx, daemon.Options{
			ConfigFile:      v.cfg,
			ListenAddresses: []string{v.addr},
			Logger:          slog.New(slog.NewTextHandler(v.logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
			Reload:          v.reloads,
			Ready:           func() { close(ready) },
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("vigil: Run returned %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("vigil: Run did not return within 15s of cancel")
		}
	})
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("vigil exited during start: %v\n%s", err, v.logs.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("vigil did not start within 30s\n%s", v.logs.String())
	}
	return v
}

// setHealthy creates or removes the file VI_1's tracked script tests for;
// without it VI_1 is in FAULT.
func (v *vmVigil) setHealthy(ok bool) {
	v.t.Helper()
	var err error
	if ok {
		err = os.WriteFile(v.health, nil, 0o644)
	} else {
		err = os.Remove(v.health)
	}
	if err != nil {
		v.t.Fatal(err)
	}
}

// reload appends a comment to the configuration, which changes
// vigil_config_hash and nothing else, and asks vigil to reload.
func (v *vmVigil) reload(comment string) {
	v.t.Helper()
	f, err := os.OpenFile(v.cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err == nil {
		_, err = fmt.Fprintf(f, "# %s\n", comment)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		v.t.Fatal(err)
	}
	v.reloads <- struct{}{}
}

// webhook posts an Alertmanager v4 notification with one alert for real
// server rs of virtual server web, and requires a 200.
func (v *vmVigil) webhook(status, alertname string, rs netip.Addr, fingerprint string) {
	v.t.Helper()
	labels := map[string]string{"alertname": alertname, "virtual_server": "web", "real_server": netip.AddrPortFrom(rs, vmRSPort).String()}
	body, err := json.Marshal(map[string]any{
		"version": "4", "groupKey": fmt.Sprintf("{}:{alertname=%q}", alertname), "status": status, "receiver": "vigil",
		"groupLabels": map[string]string{}, "commonLabels": labels, "commonAnnotations": map[string]string{},
		"externalURL": "http://alertmanager.invalid",
		"alerts": []map[string]any{{
			"status": status, "labels": labels, "annotations": map[string]string{},
			"startsAt": "2026-01-01T00:00:00Z", "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "", "fingerprint": fingerprint,
		}},
	})
	if err != nil {
		v.t.Fatal(err)
	}
	resp, err := http.Post("http://"+v.addr+"/actuator/webhook", "application/json", bytes.NewReader(body))
	if err != nil {
		v.t.Fatal(err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		v.t.Fatalf("webhook for %s: %s: %s", rs, resp.Status, answer)
	}
}

// startVMPrometheus runs Prometheus on the VM's loopback with the stack's
// configuration (prometheusConfig) for vigil at target, and returns its
// API once it is ready.
func startVMPrometheus(t *testing.T, bin, rules, target string) *promAPI {
	t.Helper()
	dir := t.TempDir()
	cfg := prometheusConfig(rules, target)
	path := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	logs := &lockedBuffer{}
	cmd := exec.Command(bin, "--config.file="+path, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=info")
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("prometheus's log:\n%s", tail(logs.String(), 40))
		}
	})
	p := newPromAPI(nil, addr)
	t.Cleanup(p.close)
	lab.WaitFor(t, 60*time.Second, func() bool {
		select {
		case <-exited:
			t.Fatalf("prometheus exited: %v\n%s", cmd.ProcessState, tail(logs.String(), 30))
		default:
		}
		return p.ready()
	}, "prometheus to be ready")
	return p
}

// lockedBuffer is a bytes.Buffer for concurrent writers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
