//go:build vm && linux

package vmdata

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/vigil-lb/vigil/daemon"
	"github.com/vigil-lb/vigil/ipvs"
)

// vsOptions vary the virtual server of vigilConfig.
type vsOptions struct {
	quorum    int
	rs2Weight int        // 0: 1
	vrrpAddr  netip.Addr // the VRRP instance's address; zero: the VIP
	// checkTimeout is every check's connect timeout; zero: 200ms.
	checkTimeout time.Duration
}

// vigilConfig is vigil's configuration for the lab: one VRRP instance on
// the client link that becomes master alone and adds the VIP (or
// o.vrrpAddr), and the virtual server VIP:80 over rs1 (TCP check) and rs2
// (HTTP check), both checked every 200 ms (connect timeout 200 ms unless
// o says otherwise) with rise 1 and fall 1, with the sorry server.
func vigilConfig(stateDir string, o vsOptions) string {
	return fmt.Sprintf(`global:
  router_id: vmdata
  state_dir: %[1]s
vrrp_instances:
  - name: VI_1
    interface: %[2]s
    virtual_router_id: 51
    priority: 150
    advert_interval: 100ms
    garp_master_delay: 0s
    garp_master_repeat: 1
    virtual_ipaddresses:
      - %[3]s/24
virtual_servers:
  - name: web
    address: %[4]s
    protocol: tcp
    scheduler: wrr
    forwarding: nat
    quorum: %[5]d
    sorry_server: %[6]s
    delay_loop: 200ms
    real_servers:
      - address: %[7]s
        checks:
          - type: tcp
            connect_timeout: %[10]s
            retries: 0
            rise: 1
            fall: 1
      - address: %[8]s
        weight: %[9]d
        checks:
          - type: http
            connect_timeout: %[10]s
            retries: 0
            rise: 1
            fall: 1
            http:
              path: /healthz
`, stateDir, clientLink, cmp.Or(o.vrrpAddr, vip), vipPort, o.quorum, rsAddr("sorry"), rsAddr("rs1"), rsAddr("rs2"), max(o.rs2Weight, 1), cmp.Or(o.checkTimeout, 200*time.Millisecond))
}

func rsAddr(name string) netip.AddrPort { return netip.AddrPortFrom(rsAddrs[name], rsPort) }

// director is vigil's configuration and state directory in a test; it runs
// vigil (in-process, daemon.Run) as often as the test asks.
type director struct {
	t        *testing.T
	cfgPath  string
	stateDir string
	logs     *syncBuffer
	runs     int
}

func newDirector(t *testing.T, o vsOptions) *director {
	dir := t.TempDir()
	d := &director{t: t, cfgPath: filepath.Join(dir, "vigil.yml"), stateDir: filepath.Join(dir, "state"), logs: &syncBuffer{}}
	if err := os.Mkdir(d.stateDir, 0o755); err != nil {
		t.Fatal(err)
	}
	d.write(o)
	// Registered before any vigil's stop, so it runs after them.
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("VIGIL_VMDATA_LOGS") == "1" {
			t.Logf("vigil's log:\n%s", d.logs.String())
		}
	})
	return d
}

func (d *director) write(o vsOptions) {
	if err := os.WriteFile(d.cfgPath, []byte(vigilConfig(d.stateDir, o)), 0o644); err != nil {
		d.t.Fatal(err)
	}
}

// vigil is one running daemon.Run.
type vigil struct {
	t       *testing.T
	url     string // of /metrics
	reload  chan struct{}
	cancel  context.CancelFunc
	done    chan error
	stopped bool
}

// start runs vigil until stop or the end of the test, and returns once
// its metrics are served.
func (d *director) start() *vigil {
	t := d.t
	t.Helper()
	d.runs++
	addr := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	v := &vigil{t: t, url: "http://" + addr + "/metrics", reload: make(chan struct{}, 1), cancel: cancel, done: make(chan error, 1)}
	logger := slog.New(slog.NewTextHandler(d.logs, &slog.HandlerOptions{Level: slog.LevelDebug})).With("run", d.runs)
	ready := make(chan struct{})
	go func() {
		v.done <- daemon.Run(ctx, daemon.Options{
			ConfigFile:      d.cfgPath,
			ListenAddresses: []string{addr},
			Logger:          logger,
			Reload:          v.reload,
			Ready:           func() { close(ready) },
		})
	}()
	t.Cleanup(func() { v.stop() })
	select {
	case <-ready:
	case err := <-v.done:
		v.stopped = true
		t.Fatalf("vigil exited during start: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("vigil did not start within 20s")
	}
	waitFor(t, 5*time.Second, "vigil to serve /metrics", func() (bool, string) {
		_, err := v.scrape()
		return err == nil, fmt.Sprint(err)
	})
	return v
}

// stop cancels Run and waits for it to return; it reports how long that
// took.
func (v *vigil) stop() time.Duration {
	if v.stopped {
		return 0
	}
	v.stopped = true
	start := time.Now()
	v.cancel()
	select {
	case err := <-v.done:
		if err != nil {
			v.t.Errorf("vigil: Run returned %v", err)
		}
	case <-time.After(15 * time.Second):
		v.t.Errorf("vigil: Run did not return within 15s of cancel")
	}
	return time.Since(start)
}

// freePort returns a loopback address with a port nothing listens on.
func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// syncBuffer is a bytes.Buffer for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// metrics are one scrape of vigil's /metrics.
type metrics map[string]*dto.MetricFamily

var metricsClient = &http.Client{Timeout: 5 * time.Second}

func (v *vigil) scrape() (metrics, error) {
	resp, err := metricsClient.Get(v.url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", v.url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", v.url, err)
	}
	return metrics(mfs), nil
}

// sample is one series' labels and value.
type sample struct {
	labels map[string]string
	value  float64
}

// samples returns the series of name whose labels include want (pairs of
// name and value).
func (m metrics) samples(name string, want ...string) []sample {
	var out []sample
	mf := m[name]
	if mf == nil {
		return nil
	}
next:
	for _, mt := range mf.GetMetric() {
		s := sample{labels: map[string]string{}}
		for _, lp := range mt.GetLabel() {
			s.labels[lp.GetName()] = lp.GetValue()
		}
		for i := 0; i+1 < len(want); i += 2 {
			if s.labels[want[i]] != want[i+1] {
				continue next
			}
		}
		switch {
		case mt.Gauge != nil:
			s.value = mt.Gauge.GetValue()
		case mt.Counter != nil:
			s.value = mt.Counter.GetValue()
		case mt.Untyped != nil:
			s.value = mt.Untyped.GetValue()
		}
		out = append(out, s)
	}
	return out
}

// value returns the value of the one series of name with the labels want.
func (m metrics) value(name string, want ...string) (float64, error) {
	s := m.samples(name, want...)
	if len(s) != 1 {
		return 0, fmt.Errorf("%s%v: %d series, want 1", name, want, len(s))
	}
	return s[0].value, nil
}

// metricIs polls until the series of name with labels want has value.
func (v *vigil) metricIs(timeout time.Duration, value float64, name string, want ...string) {
	v.t.Helper()
	waitFor(v.t, timeout, fmt.Sprintf("%s%v == %v", name, want, value), func() (bool, string) {
		m, err := v.scrape()
		if err != nil {
			return false, err.Error()
		}
		got, err := m.value(name, want...)
		if err != nil {
			return false, err.Error()
		}
		return got == value, fmt.Sprintf("it is %v", got)
	})
}

// mustScrape scrapes or fails the test.
func (v *vigil) mustScrape() metrics {
	v.t.Helper()
	m, err := v.scrape()
	if err != nil {
		v.t.Fatal(err)
	}
	return m
}

// kernelTable reads the root namespace's IPVS table through vigil's own
// adapter, fresh for every call.
func kernelTable(t *testing.T) []ipvs.Service {
	t.Helper()
	k := ipvs.NewNetlinkKernel()
	defer k.Close()
	svcs, err := k.Services(context.Background())
	if err != nil {
		t.Fatalf("reading the IPVS table: %v", err)
	}
	return svcs
}

// tableString renders a table without its counters, one service per line
// with its destinations sorted, so that tables compare as strings.
func tableString(svcs []ipvs.Service) string {
	svcs = slices.Clone(svcs)
	slices.SortFunc(svcs, func(a, b ipvs.Service) int { return a.Key.Compare(b.Key) })
	var b strings.Builder
	for _, s := range svcs {
		fmt.Fprintf(&b, "%s %s flags=%s timeout=%s netmask=%d:", s.Key, s.Scheduler, s.Flags, s.Timeout, s.Netmask)
		ds := slices.Clone(s.Destinations)
		slices.SortFunc(ds, func(a, b ipvs.Destination) int { return a.Address.Compare(b.Address) })
		for _, d := range ds {
			fmt.Fprintf(&b, " %s/%s/w%d/u%d/l%d", d.Address, d.Forwarding, d.Weight, d.UpperThreshold, d.LowerThreshold)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// vigilService returns the VIP's service from the kernel, if there.
func vigilService(t *testing.T) (ipvs.Service, bool) {
	t.Helper()
	key := ipvs.AddrKey(ipvs.TCP, vipPort)
	for _, s := range kernelTable(t) {
		if s.Key == key {
			return s, true
		}
	}
	return ipvs.Service{}, false
}

// destinations lists the VIP service's destinations in the kernel as
// "addr/weight", sorted; nil when the service is missing.
func destinations(t *testing.T) []string {
	s, ok := vigilService(t)
	if !ok {
		return nil
	}
	out := []string{}
	for _, d := range s.Destinations {
		out = append(out, fmt.Sprintf("%s/%d", d.Address, d.Weight))
	}
	slices.Sort(out)
	return out
}

// destsAre polls the kernel until the VIP service holds exactly want
// ("addr/weight", any order) and reports how long that took.
func destsAre(t *testing.T, timeout time.Duration, want ...string) time.Duration {
	t.Helper()
	want = slices.Sorted(slices.Values(want))
	return waitFor(t, timeout, fmt.Sprintf("the kernel's %s destinations to be %v", vipPort, want), func() (bool, string) {
		got := destinations(t)
		return slices.Equal(got, want), fmt.Sprintf("they are %v", got)
	})
}

func dest(name string, weight int) string { return fmt.Sprintf("%s/%d", rsAddr(name), weight) }

// serving waits for v to hold the VIP and to have programmed both real
// servers; it returns how long the VIP took.
func (l *lab) serving(t *testing.T) time.Duration {
	t.Helper()
	took := waitFor(t, 10*time.Second, "vigil to become master and add the VIP", func() (bool, string) {
		return l.hasVIP(), "no " + vip.String() + " on " + clientLink
	})
	destsAre(t, 5*time.Second, dest("rs1", 1), dest("rs2", 1))
	return took
}

// only reports whether every request was answered by who.
func only(got map[string]int, who string, n int) bool {
	return len(got) == 1 && got[who] == n
}

// TestNATDataPath sends requests from the client through the VIP: IPVS
// (LVS-NAT, wrr) spreads them over both real servers, and their answers
// come back through the director.
func TestNATDataPath(t *testing.T) {
	l := newLab(t, "rs1", "rs2", "sorry")
	d := newDirector(t, vsOptions{quorum: 1})
	d.start()
	took := l.serving(t)
	t.Logf("VIP up %v after vigil's start; table:\n%s", took, tableString(kernelTable(t)))

	s, _ := vigilService(t)
	if s.Scheduler != "wrr" {
		t.Errorf("scheduler %q, want wrr", s.Scheduler)
	}
	for _, dst := range s.Destinations {
		if dst.Forwarding != ipvs.ForwardNAT {
			t.Errorf("destination %s: forwarding %s, want nat", dst.Address, dst.Forwarding)
		}
	}
	before := s.Stats.Connections

	c := l.httpClient(3 * time.Second)
	const n = 40
	got := requests(c, n)
	t.Logf("%d requests to %s: %v", n, vipPort, got)
	if got["rs1"] == 0 || got["rs2"] == 0 || got["rs1"]+got["rs2"] != n {
		t.Errorf("answers %v, want all %d from rs1 and rs2, both of them", got, n)
	}
	// Equal weights under wrr alternate; health checks go to the real
	// servers directly, not through IPVS.
	if diff := got["rs1"] - got["rs2"]; diff < -2 || diff > 2 {
		t.Errorf("answers %v: wrr with equal weights should split them evenly", got)
	}
	// The kernel folds its per-CPU counters into what netlink reports
	// every 2 seconds (the rate estimator's timer), so the count lags.
	took = waitFor(t, 5*time.Second, fmt.Sprintf("the kernel to count %d connections to %s", n, vipPort), func() (bool, string) {
		s, _ := vigilService(t)
		conns := s.Stats.Connections - before
		return conns >= n, fmt.Sprintf("it counts %d: the requests did not go through IPVS", conns)
	})
	t.Logf("kernel counters caught up %v after the requests", took)
}

// TestHealthMovesTraffic stops rs1: its failing check withdraws it from
// the kernel and every request lands on rs2; started again, it comes back.
func TestHealthMovesTraffic(t *testing.T) {
	l := newLab(t, "rs1", "rs2", "sorry")
	d := newDirector(t, vsOptions{quorum: 1})
	v := d.start()
	l.serving(t)
	c := l.httpClient(3 * time.Second)

	l.rs["rs1"].stop()
	took := destsAre(t, 3*time.Second, dest("rs2", 1))
	t.Logf("rs1 withdrawn %v after it stopped (delay_loop 200ms, fall 1)", took)
	v.metricIs(2*time.Second, 0, "vigil_ipvs_real_server_up", "real_server", rsAddr("rs1").String())
	v.metricIs(2*time.Second, 0, "vigil_ipvs_real_server_in_kernel", "real_server", rsAddr("rs1").String())
	if got := requests(c, 20); !only(got, "rs2", 20) {
		t.Errorf("with rs1 down: answers %v, want all 20 from rs2", got)
	}

	l.rs["rs1"].start(t)
	took = destsAre(t, 3*time.Second, dest("rs1", 1), dest("rs2", 1))
	t.Logf("rs1 back %v after it started (rise 1)", took)
	v.metricIs(2*time.Second, 1, "vigil_ipvs_real_server_up", "real_server", rsAddr("rs1").String())
	if got := requests(c, 20); got["rs1"] == 0 || got["rs2"] == 0 || got["rs1"]+got["rs2"] != 20 {
		t.Errorf("with rs1 back: answers %v, want all 20 from rs1 and rs2, both of them", got)
	}
}

// TestQuorumLostSorryServer stops both real servers: with quorum 1 lost,
// the sorry server alone serves; one real server back restores quorum and
// withdraws the sorry server.
func TestQuorumLostSorryServer(t *testing.T) {
	l := newLab(t, "rs1", "rs2", "sorry")
	d := newDirector(t, vsOptions{quorum: 1})
	v := d.start()
	l.serving(t)
	c := l.httpClient(3 * time.Second)
	v.metricIs(time.Second, 0, "vigil_ipvs_virtual_server_sorry_server_active", "virtual_server", "web")

	l.rs["rs1"].stop()
	l.rs["rs2"].stop()
	took := destsAre(t, 3*time.Second, dest("sorry", 1))
	t.Logf("sorry server alone %v after both real servers stopped", took)
	v.metricIs(2*time.Second, 1, "vigil_ipvs_virtual_server_sorry_server_active", "virtual_server", "web")
	v.metricIs(2*time.Second, 0, "vigil_ipvs_virtual_server_quorum_up", "virtual_server", "web")
	if got := requests(c, 10); !only(got, "sorry", 10) {
		t.Errorf("quorum lost: answers %v, want all 10 from the sorry server", got)
	}

	l.rs["rs2"].start(t)
	took = destsAre(t, 3*time.Second, dest("rs2", 1))
	t.Logf("sorry server withdrawn %v after rs2 started", took)
	v.metricIs(2*time.Second, 0, "vigil_ipvs_virtual_server_sorry_server_active", "virtual_server", "web")
	v.metricIs(2*time.Second, 1, "vigil_ipvs_virtual_server_quorum_up", "virtual_server", "web")
	if got := requests(c, 10); !only(got, "rs2", 10) {
		t.Errorf("quorum back: answers %v, want all 10 from rs2", got)
	}
}

// TestQuorumTwoSorryServer needs both real servers (quorum 2): one
// failure loses quorum, and the sorry server replaces the pool, the
// healthy rs2 included, as keepalived does.
func TestQuorumTwoSorryServer(t *testing.T) {
	l := newLab(t, "rs1", "rs2", "sorry")
	d := newDirector(t, vsOptions{quorum: 2})
	v := d.start()
	l.serving(t)
	c := l.httpClient(3 * time.Second)

	l.rs["rs1"].stop()
	took := destsAre(t, 3*time.Second, dest("sorry", 1))
	t.Logf("sorry server alone %v after rs1 stopped", took)
	m := v.mustScrape()
	for _, want := range []struct {
		name   string
		labels []string
		value  float64
	}{
		{"vigil_ipvs_virtual_server_sorry_server_active", []string{"virtual_server", "web"}, 1},
		{"vigil_ipvs_virtual_server_quorum_up", []string{"virtual_server", "web"}, 0},
		{"vigil_ipvs_virtual_server_alive_weight", []string{"virtual_server", "web"}, 1},
		{"vigil_ipvs_real_server_up", []string{"real_server", rsAddr("rs2").String()}, 1},
		{"vigil_ipvs_real_server_in_kernel", []string{"real_server", rsAddr("rs2").String()}, 0},
		{"vigil_ipvs_real_server_in_kernel", []string{"real_server", rsAddr("sorry").String()}, 1},
	} {
		got, err := m.value(want.name, want.labels...)
		if err != nil || got != want.value {
			t.Errorf("%s%v = %v (%v), want %v", want.name, want.labels, got, err, want.value)
		}
	}
	if got := requests(c, 10); !only(got, "sorry", 10) {
		t.Errorf("quorum 2 lost: answers %v, want all 10 from the sorry server", got)
	}

	l.rs["rs1"].start(t)
	took = destsAre(t, 3*time.Second, dest("rs1", 1), dest("rs2", 1))
	t.Logf("real servers back, sorry server withdrawn %v after rs1 started", took)
	v.metricIs(2*time.Second, 0, "vigil_ipvs_virtual_server_sorry_server_active", "virtual_server", "web")
	if got := requests(c, 10); got["rs1"] == 0 || got["rs2"] == 0 || got["rs1"]+got["rs2"] != 10 {
		t.Errorf("quorum 2 back: answers %v, want all 10 from rs1 and rs2, both of them", got)
	}
}

// TestRestartKeepsConnections restarts vigil under 20 long-lived
// connections through the VIP. vigil leaves the IPVS table as it is when
// it stops, and the restarted vigil adopts it (ownership file in
// state_dir) without a single kernel operation, so the kernel's connection
// entries keep pointing at live destinations and no connection is reset.
//
// keepalived, by contrast, removes its virtual servers when it stops
// (unless run with --dont-release-ipvs) and creates them anew when it
// starts: TestRestartComparedWithKeepalived runs the same restart with
// keepalived 2.2.7 in this lab and measures what that does to the streams.
//
// What the streams do see is the VIP's absence: vigil, like keepalived,
// releases its VRRP addresses when it stops, and a restarted instance
// waits Master_Down_Interval as backup before it adds them again. Meanwhile
// the client's packets (its ACKs) reach the director but no longer match
// IPVS, so the server side stalls once its window fills or a
// retransmission timer fires; the streams resume when the VIP is back.
func TestRestartKeepsConnections(t *testing.T) {
	l := newLab(t, "rs1", "rs2", "sorry")
	d := newDirector(t, vsOptions{quorum: 1})
	v1 := d.start()
	l.serving(t)

	const n = 20
	streams := make([]*stream, 0, n)
	t.Cleanup(func() {
		for _, s := range streams {
			s.close()
		}
	})
	sc := l.httpClient(0)
	perServer := map[string]int{}
	for range n {
		s, err := openStream(sc)
		if err != nil {
			t.Fatalf("opening stream %d: %v", len(streams), err)
		}
		streams = append(streams, s)
		perServer[s.server]++
	}
	t.Logf("%d streams open: %v", n, perServer)
	time.Sleep(500 * time.Millisecond)
	for i, s := range streams {
		if st := s.stats(); st.bytes == 0 || st.err != nil {
			t.Fatalf("stream %d (%s) before the restart: %d bytes, err %v", i, s.server, st.bytes, st.err)
		}
	}

	before := tableString(kernelTable(t))
	stopStart := time.Now()
	stopTook := v1.stop()
	if l.hasVIP() {
		t.Errorf("vigil stopped but %s is still on %s", vip, clientLink)
	}
	checkOwnership(t, d.stateDir)
	if got := tableString(kernelTable(t)); got != before {
		t.Errorf("vigil's stop changed the IPVS table:\nbefore\n%safter\n%s", before, got)
	}
	mark := make([]int, n)
	for i, s := range streams {
		mark[i] = s.stats().bytes
	}

	v2 := d.start()
	// The first pass runs before Ready (apply); wait for it to be counted.
	waitFor(t, 5*time.Second, "the restarted vigil's first reconcile pass", func() (bool, string) {
		m, err := v2.scrape()
		if err != nil {
			return false, err.Error()
		}
		runs, err := m.value("vigil_ipvs_reconcile_runs_total")
		return err == nil && runs >= 1, fmt.Sprintf("runs %v, %v", runs, err)
	})
	assertNoChanges(t, v2.mustScrape(), "after the restart's first pass")
	waitFor(t, 10*time.Second, "the restarted vigil to add the VIP", func() (bool, string) {
		return l.hasVIP(), "not yet"
	})
	t.Logf("vigil stopped in %v; VIP back %v after the stop began (restart and Master_Down_Interval)", stopTook, time.Since(stopStart))

	// Let the checks run several rounds and the streams catch up.
	time.Sleep(1500 * time.Millisecond)
	assertNoChanges(t, v2.mustScrape(), "1.5s after the restart")
	if got := tableString(kernelTable(t)); got != before {
		t.Errorf("IPVS table changed across the restart:\nbefore\n%safter\n%s", before, got)
	}

	var worst time.Duration
	for i, s := range streams {
		st := s.stats()
		worst = max(worst, st.maxGap)
		switch {
		case st.err != nil:
			t.Errorf("stream %d (%s): %v after %d bytes", i, s.server, st.err, st.bytes)
		case st.bytes <= mark[i]:
			t.Errorf("stream %d (%s): no bytes since vigil stopped (%d)", i, s.server, st.bytes)
		case st.maxGap > maxStreamGap:
			t.Errorf("stream %d (%s): longest gap %v, want at most %v", i, s.server, st.maxGap, maxStreamGap)
		}
	}
	t.Logf("longest gap between bytes over all %d streams: %v", n, worst)
}

// maxStreamGap bounds the silence a stream may see during vigil's restart:
// the VIP's absence (restart plus Master_Down_Interval, about 0.4 s at
// advert_interval 100ms) plus TCP's retransmission backoff, under TCG.
const maxStreamGap = 2 * time.Second

// assertNoChanges checks that vigil's reconciler has made no kernel
// operation: every vigil_ipvs_reconcile_changes_total series is 0, and no
// drift was repaired.
func assertNoChanges(t *testing.T, m metrics, when string) {
	t.Helper()
	ss := m.samples("vigil_ipvs_reconcile_changes_total")
	if len(ss) == 0 {
		t.Errorf("%s: no vigil_ipvs_reconcile_changes_total series", when)
	}
	for _, s := range ss {
		if s.value != 0 {
			t.Errorf("%s: vigil_ipvs_reconcile_changes_total{kind=%q} = %v, want 0", when, s.labels["kind"], s.value)
		}
	}
	if got, err := m.value("vigil_ipvs_drift_repaired_total"); err != nil || got != 0 {
		t.Errorf("%s: vigil_ipvs_drift_repaired_total = %v (%v), want 0", when, got, err)
	}
}

// checkOwnership checks that the ownership file in stateDir records the
// VIP's service, and only it.
func checkOwnership(t *testing.T, stateDir string) {
	t.Helper()
	path := filepath.Join(stateDir, ipvs.StateFile)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("ownership file: %v", err)
		return
	}
	var doc struct {
		Services []string `json:"services"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Errorf("ownership file %s: %v\n%s", path, err, b)
		return
	}
	if want := []string{ipvs.AddrKey(ipvs.TCP, vipPort).String()}; !slices.Equal(doc.Services, want) {
		t.Errorf("ownership file lists %v, want %v", doc.Services, want)
	}
}

// TestForeignServiceLeftAlone creates a service that is not vigil's before
// vigil starts: vigil neither adopts nor changes it, on start or on a
// reload that changes vigil's own service.
func TestForeignServiceLeftAlone(t *testing.T) {
	l := newLab(t, "rs1", "rs2", "sorry")
	foreign := createForeign(t)
	if got := tableString(kernelTable(t)); got != foreign {
		t.Fatalf("before vigil starts the table is\n%swant\n%s", got, foreign)
	}

	d := newDirector(t, vsOptions{quorum: 1})
	v := d.start()
	l.serving(t)
	assertForeign(t, foreign, "after vigil's start")

	hash := func() float64 {
		h, err := v.mustScrape().value("vigil_config_hash")
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	oldHash := hash()
	d.write(vsOptions{quorum: 1, rs2Weight: 2})
	v.reload <- struct{}{}
	took := destsAre(t, 5*time.Second, dest("rs1", 1), dest("rs2", 2))
	t.Logf("reload applied (rs2 weight 2) %v after the request", took)
	v.metricIs(time.Second, 1, "vigil_config_last_reload_successful")
	if hash() == oldHash {
		t.Errorf("vigil_config_hash unchanged after the reload")
	}
	assertForeign(t, foreign, "after a reload")
	checkOwnership(t, d.stateDir)

	v.stop()
	assertForeign(t, foreign, "after vigil's stop")
}

// assertForeign checks that the table still holds the foreign service
// exactly as it was created (line is its tableString line).
func assertForeign(t *testing.T, line, when string) {
	t.Helper()
	if got := tableString(kernelTable(t)); !strings.Contains(got, line) {
		t.Errorf("%s: the foreign service changed or vanished; want\n%sin\n%s", when, line, got)
	}
}

// TestDriftRepaired removes rs2's destination behind vigil's back: vigil's
// periodic resync (5 s) puts it back and counts the repair.
func TestDriftRepaired(t *testing.T) {
	l := newLab(t, "rs1", "rs2", "sorry")
	d := newDirector(t, vsOptions{quorum: 1})
	v := d.start()
	l.serving(t)
	if got, err := v.mustScrape().value("vigil_ipvs_drift_repaired_total"); err != nil || got != 0 {
		t.Fatalf("vigil_ipvs_drift_repaired_total = %v (%v) before any drift, want 0", got, err)
	}

	removeDestination(t, rsAddr("rs2"))
	if got := destinations(t); !slices.Equal(got, []string{dest("rs1", 1)}) {
		t.Fatalf("after removing rs2 behind vigil's back the kernel holds %v", got)
	}
	took := destsAre(t, 6500*time.Millisecond, dest("rs1", 1), dest("rs2", 1))
	t.Logf("rs2 restored %v after it was removed (resync interval 5s)", took)
	waitFor(t, 2*time.Second, "vigil_ipvs_drift_repaired_total > 0", func() (bool, string) {
		m, err := v.scrape()
		if err != nil {
			return false, err.Error()
		}
		got, err := m.value("vigil_ipvs_drift_repaired_total")
		return err == nil && got > 0, fmt.Sprintf("%v, %v", got, err)
	})
	if got := requests(l.httpClient(3*time.Second), 10); got["rs1"] == 0 || got["rs2"] == 0 || got["rs1"]+got["rs2"] != 10 {
		t.Errorf("after the repair: answers %v, want all 10 from rs1 and rs2, both of them", got)
	}
}
