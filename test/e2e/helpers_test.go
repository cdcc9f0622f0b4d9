// Package e2e runs the vigil binary in network namespaces (internal/lab)
// and asserts what a client sees: who holds the VIP, the client's neighbour
// table after gratuitous ARP / unsolicited NA, and pings answered. It also
// runs vigil against keepalived 2.2.7 in both directions.
package e2e

import (
	"bufio"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/lab"
)

// vigilBin is the binary under test, built once by TestMain (not under
// -short, where every test here skips).
var vigilBin string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "vigil-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	vigilBin = filepath.Join(dir, "vigil")
	out, err := exec.Command("go", "build", "-o", vigilBin, "github.com/vigil-lb/vigil/cmd/vigil").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building vigil: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// metricsPort is where every vigil under test serves /metrics, on the
// loopback of its own namespace (metricsAddr).
const metricsPort = 9650

var metricsAddr = fmt.Sprintf("127.0.0.1:%d", metricsPort)

// vigilProc is one running vigil.
type vigilProc struct {
	*lab.Proc
	host *lab.Host
	cfg  string // path of its config file
	dir  string // its state directory
}

// startVigil writes cfg to a file and runs vigil with it in h.
func startVigil(t *testing.T, h *lab.Host, cfg string) *vigilProc {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, h.Name()+".yml")
	// Every vigil keeps its IPVS ownership state in its own directory.
	cfg = strings.Replace(cfg, "global: { ", "global: { state_dir: "+dir+", ", 1)
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	p := h.Start(vigilBin, "run", "--config.file="+path,
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", metricsPort), "--log.level=debug")
	v := &vigilProc{Proc: p, host: h, cfg: path, dir: dir}
	lab.WaitFor(t, 5*time.Second, func() bool {
		_, err := scrape(h)
		return err == nil
	}, "vigil on "+h.Name()+" to serve /metrics")
	return v
}

// rewrite replaces the config file of a running vigil.
func (v *vigilProc) rewrite(t *testing.T, cfg string) {
	t.Helper()
	cfg = strings.Replace(cfg, "global: { ", "global: { state_dir: "+v.dir+", ", 1)
	if err := os.WriteFile(v.cfg, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
}

// instanceConf renders one vrrp_instances entry.
type instanceConf struct {
	Name      string
	Interface string
	VRID      int
	Priority  int
	Version   int
	Interval  string
	Preempt   *bool
	Auth      string // v2 PASS password
	VIPs      []string
	Peers     []string
	Source    string
	Extra     string // raw YAML lines appended, already indented by 4
}

func (c instanceConf) yaml() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	name := c.Name
	if name == "" {
		name = "VI_1"
	}
	iface := c.Interface
	if iface == "" {
		iface = lab.Iface
	}
	w("  - name: %s", name)
	w("    interface: %s", iface)
	w("    virtual_router_id: %d", c.VRID)
	w("    priority: %d", c.Priority)
	if c.Version != 0 {
		w("    version: %d", c.Version)
	}
	if c.Interval != "" {
		w("    advert_interval: %s", c.Interval)
	}
	if c.Preempt != nil {
		w("    preempt: %v", *c.Preempt)
	}
	if c.Auth != "" {
		w("    authentication: { type: PASS, password: %s }", c.Auth)
	}
	if c.Source != "" {
		w("    unicast_source: %s", c.Source)
	}
	if len(c.Peers) > 0 {
		w("    unicast_peers: [%s]", strings.Join(c.Peers, ", "))
	}
	w("    virtual_ipaddresses: [%s]", quoteAll(c.VIPs))
	w("    garp_master_delay: 1s")
	if c.Extra != "" {
		b.WriteString(c.Extra)
		if !strings.HasSuffix(c.Extra, "\n") {
			b.WriteString("\n")
		}
	}
	return b.String()
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}

// config renders a whole vigil.yml from instances and raw extra sections.
func config(routerID string, extra string, instances ...instanceConf) string {
	var b strings.Builder
	fmt.Fprintf(&b, "global: { router_id: %s }\n", routerID)
	b.WriteString(extra)
	b.WriteString("vrrp_instances:\n")
	for _, in := range instances {
		b.WriteString(in.yaml())
	}
	return b.String()
}

func boolp(b bool) *bool { return &b }

// scrape fetches /metrics from the vigil in h, dialling from inside h's
// namespace.
func scrape(h *lab.Host) (map[string]float64, error) {
	text, err := h.Scrape(metricsAddr)
	if err != nil {
		return nil, err
	}
	return parseExposition(text), nil
}

// rawScrape returns the exposition text.
func rawScrape(t *testing.T, h *lab.Host) string {
	t.Helper()
	text, err := h.Scrape(metricsAddr)
	if err != nil {
		t.Fatal(err)
	}
	return text
}

// parseExposition maps "name{labels}" (labels as exposed) to values.
func parseExposition(s string) map[string]float64 {
	m := map[string]float64{}
	for _, line := range strings.Split(s, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		m[line[:i]] = v
	}
	return m
}

// metric returns one series' value from the vigil in h, or -1 if absent or
// unreachable.
func metric(h *lab.Host, series string) float64 {
	m, err := scrape(h)
	if err != nil {
		return -1
	}
	v, ok := m[series]
	if !ok {
		return -1
	}
	return v
}

// stateOf returns the state vigil in h reports for instance, "" if unknown.
func stateOf(h *lab.Host, instance string) string {
	m, err := scrape(h)
	if err != nil {
		return ""
	}
	for _, s := range []string{"init", "backup", "master", "fault", "stop"} {
		if m[fmt.Sprintf(`vigil_vrrp_instance_state{state=%q,vrrp_instance=%q}`, s, instance)] == 1 {
			return s
		}
	}
	return ""
}

// waitState waits for instance on h to report state.
func waitState(t *testing.T, h *lab.Host, instance, state string, timeout time.Duration) time.Duration {
	t.Helper()
	return lab.WaitFor(t, timeout, func() bool { return stateOf(h, instance) == state },
		fmt.Sprintf("%s on %s to be %s", instance, h.Name(), state))
}

// waitHolder waits until exactly want (and no other director) holds vip.
func waitHolder(t *testing.T, vip netip.Addr, want *lab.Host, others []*lab.Host, timeout time.Duration) time.Duration {
	t.Helper()
	return lab.WaitFor(t, timeout, func() bool {
		if !want.HasAddr(vip) {
			return false
		}
		for _, o := range others {
			if o.HasAddr(vip) {
				return false
			}
		}
		return true
	}, fmt.Sprintf("%s to be the only holder of %s", want.Name(), vip))
}

// waitNeigh waits until client's neighbour entry for vip points at owner.
func waitNeigh(t *testing.T, client *lab.Host, vip netip.Addr, owner *lab.Host, timeout time.Duration) {
	t.Helper()
	want := owner.MAC().String()
	var last string
	took, ok := lab.Within(timeout, func() bool {
		mac, state, err := client.Neigh(vip)
		last = fmt.Sprintf("%s (%s, err %v)", mac, state, err)
		return err == nil && mac == want
	})
	if !ok {
		t.Fatalf("client neighbour entry for %s: %s after %v, want %s (%s)", vip, last, took, want, owner.Name())
	}
}

// waitAnswered waits until the client's pings to vip are being answered.
func waitAnswered(t *testing.T, p *lab.Pinger, timeout time.Duration) {
	t.Helper()
	base := p.Stats().Received
	lab.WaitFor(t, timeout, func() bool { return p.Stats().Received >= base+3 }, "pings to be answered")
}

// postWebhook POSTs body to the actuator's webhook of the vigil in h and
// returns the status code.
func postWebhook(t *testing.T, h *lab.Host, body string) int {
	t.Helper()
	var conn net.Conn
	if err := h.Do(func() error {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", metricsPort), time.Second)
		conn = c
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(conn, "POST /actuator/webhook HTTP/1.1\r\nHost: vigil\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
