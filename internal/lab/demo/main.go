// Command demo runs two vigil directors sharing a virtual IP in network
// namespaces, with a client pinging the VIP, and prints once a second who is
// master, where the client's ARP entry points and what the client lost:
//
//	go run ./internal/lab/demo                      # make demo
//	go run ./internal/lab/demo -failover-every 10s  # fail over by itself
//
// It prints where each director's metrics can be fetched from this host and
// the commands that cause a failover from another terminal. Ctrl-C stops
// everything and removes the namespaces. It needs root and ip(8)
// (scripts/install-deps.sh).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vigil-lb/vigil/internal/lab"
)

// options are the command-line flags.
type options struct {
	FailoverEvery time.Duration
	Metrics       [2]string // host addresses forwarded to director1's and director2's /metrics
	PingEvery     time.Duration
}

func main() {
	var o options
	fs := flag.NewFlagSet("demo", flag.ExitOnError)
	fs.DurationVar(&o.FailoverEvery, "failover-every", 0, "alternately SIGTERM the master and restart it at this period (0: never; fail it over yourself)")
	fs.StringVar(&o.Metrics[0], "metrics1", "127.0.0.1:9651", "host address that forwards to director1's /metrics")
	fs.StringVar(&o.Metrics[1], "metrics2", "127.0.0.1:9652", "host address that forwards to director2's /metrics")
	fs.DurationVar(&o.PingEvery, "ping-every", 10*time.Millisecond, "client ping interval")
	fs.Parse(os.Args[1:])
	if o.FailoverEvery < 0 || o.PingEvery <= 0 {
		fmt.Fprintln(os.Stderr, "demo: -failover-every must not be negative and -ping-every must be positive")
		os.Exit(2)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, logger, os.Stdout); err != nil {
		logger.Error("demo failed", "err", err)
		os.Exit(1)
	}
}

// The demo's virtual router.
const (
	instance    = "VI_1"
	vrid        = 51
	advertEvery = 100 * time.Millisecond
	// metricsAddr is where each vigil serves /metrics inside its own
	// namespace.
	metricsAddr = "127.0.0.1:9650"
)

var vip = netip.PrefixFrom(lab.VIP4, lab.Net4.Bits())

// director is one vigil node of the demo.
type director struct {
	host     *lab.Host
	priority int
	bin      string
	config   string
	fwd      *forwarder

	mu   sync.Mutex
	proc *lab.Proc
}

// configText renders the director's vigil.yml.
func (d *director) configText() string {
	return fmt.Sprintf(`global: { router_id: %s }
vrrp_instances:
  - name: %s
    interface: %s
    virtual_router_id: %d
    priority: %d
    version: 3
    advert_interval: %v
    virtual_ipaddresses: [%q]
`, d.host.Name(), instance, lab.Iface, vrid, d.priority, advertEvery, vip.String())
}

// argv is the command line that runs the director's vigil.
func (d *director) argv() []string {
	return []string{d.bin, "run", "--config.file=" + d.config, "--web.listen-address=" + metricsAddr}
}

// start runs vigil on the director.
func (d *director) start() *lab.Proc {
	p := d.host.Start(d.argv()...)
	d.mu.Lock()
	d.proc = p
	d.mu.Unlock()
	return p
}

// running returns the director's vigil process if it has not exited.
func (d *director) running() *lab.Proc {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.proc == nil || d.proc.Exited() {
		return nil
	}
	return d.proc
}

// state returns the instance's state as vigil reports it, or "down".
func (d *director) state() string {
	text, err := d.host.Scrape(metricsAddr)
	if err != nil {
		return "down"
	}
	m := stateRE.FindStringSubmatch(text)
	if m == nil {
		return "unknown"
	}
	return m[1]
}

// stateRE finds the state whose series is 1 (the client library sorts
// labels by name: state, then vrrp_instance).
var stateRE = regexp.MustCompile(`(?m)^vigil_vrrp_instance_state\{state="([a-z]+)",vrrp_instance="` + instance + `"\} 1$`)

// run builds vigil and the lab, prints the instructions and the status
// until ctx ends, then removes everything.
func run(ctx context.Context, o options, logger *slog.Logger, out io.Writer) error {
	s := lab.NewSession(logger)
	defer s.Close()
	lab.Require(s, "root", "ip")

	dir := s.TempDir()
	bin := filepath.Join(dir, "vigil")
	logger.Info("building vigil", "path", bin)
	if b, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/vigil-lb/vigil/cmd/vigil").CombinedOutput(); err != nil {
		return fmt.Errorf("building vigil: %w\n%s", err, b)
	}

	topo := lab.New(s, lab.Options{})
	client := topo.Host("client")
	dirs := []*director{
		{host: topo.Host("director1"), priority: 150, bin: bin},
		{host: topo.Host("director2"), priority: 100, bin: bin},
	}
	for i, d := range dirs {
		d.config = filepath.Join(dir, d.host.Name()+".yml")
		if err := os.WriteFile(d.config, []byte(d.configText()), 0o644); err != nil {
			return err
		}
		fwd, err := listenForward(o.Metrics[i], d.host, metricsAddr, logger)
		if err != nil {
			return err
		}
		defer fwd.Close()
		d.fwd = fwd
		d.start()
	}
	lab.WaitFor(s, 10*time.Second, func() bool {
		return dirs[0].state() == "master" && dirs[1].state() == "backup"
	}, "director1 to be master and director2 backup")
	ping := client.Pinger(vip.Addr(), o.PingEvery)

	printBanner(out, o, dirs, client, topo)

	status := time.NewTicker(time.Second)
	defer status.Stop()
	var failover <-chan time.Time
	if o.FailoverEvery > 0 {
		t := time.NewTicker(o.FailoverEvery)
		defer t.Stop()
		failover = t.C
	}
	exited := map[*lab.Proc]bool{}
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintf(out, "\nstopping: %v\n", ping.Stop())
			return cleanup(out, s, dirs, client)
		case <-status.C:
			for _, d := range dirs {
				d.mu.Lock()
				p := d.proc
				d.mu.Unlock()
				if p != nil && p.Exited() && !exited[p] {
					exited[p] = true
					err := p.Wait(time.Second) // exited: returns at once
					fmt.Fprintf(out, "%s  vigil on %s (pid %d) exited: %v\n", stamp(), d.host.Name(), p.Pid(), exitText(err))
				}
			}
			fmt.Fprintln(out, statusLine(dirs, client, ping))
		case <-failover:
			failoverStep(out, dirs)
		}
	}
}

// failoverStep is one step of -failover-every: restart every director
// whose vigil is not running (stopped by the previous step, or by the
// user), or, when both run, send SIGTERM to the master.
func failoverStep(out io.Writer, dirs []*director) {
	restarted := false
	for _, d := range dirs {
		if d.running() == nil {
			p := d.start()
			fmt.Fprintf(out, "%s  -failover-every: restarted vigil on %s, pid %d (priority %d)\n", stamp(), d.host.Name(), p.Pid(), d.priority)
			restarted = true
		}
	}
	if restarted {
		return
	}
	for _, d := range dirs {
		if p := d.running(); p != nil && d.state() == "master" {
			fmt.Fprintf(out, "%s  -failover-every: SIGTERM to vigil on %s (pid %d), the master\n", stamp(), d.host.Name(), p.Pid())
			// Not Proc.Signal: that ends the demo if the process exits
			// meanwhile (a user's kill racing with this one).
			if err := syscall.Kill(p.Pid(), syscall.SIGTERM); err != nil {
				fmt.Fprintf(out, "%s  -failover-every: SIGTERM to pid %d: %v\n", stamp(), p.Pid(), err)
			}
			return
		}
	}
	fmt.Fprintf(out, "%s  -failover-every: no master to stop\n", stamp())
}

func stamp() string { return time.Now().Format("15:04:05") }

func exitText(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// printBanner says what runs where and how to poke at it.
func printBanner(out io.Writer, o options, dirs []*director, client *lab.Host, topo *lab.Topology) {
	p := func(format string, args ...any) { fmt.Fprintf(out, format, args...) }
	d1, d2 := dirs[0], dirs[1]
	p("\nvigil demo: director1 and director2 share %s (VRRPv3, VRID %d, an advert every %v); the client pings it every %v.\n\n",
		vip, vrid, advertEvery, o.PingEvery)
	p("  %-10s %-32s %-12s %-9s %s\n", "host", "network namespace", "address", "vigil pid", "metrics, from this host")
	for _, d := range dirs {
		p("  %-10s %-32s %-12s %-9d http://%s/metrics  (priority %d)\n", d.host.Name(), d.host.NS(), d.host.Addr4(), d.running().Pid(), d.fwd.Addr(), d.priority)
	}
	p("  %-10s %-32s %-12s\n\n", client.Name(), client.NS(), client.Addr4())
	p("Each vigil serves /metrics on %s inside its namespace; this process forwards the host addresses above to it.\n", metricsAddr)
	p("Configs: %s, %s\n", d1.config, d2.config)
	p("Logs:    tail -f %s %s\n\n", d1.running().LogPath(), d2.running().LogPath())
	p("In another terminal, as root:\n")
	cmd := func(what, c string) { p("  %-28s %s\n", what+":", c) }
	cmd("states", fmt.Sprintf("curl -s %s/metrics | grep vigil_vrrp_instance_state", d1.fwd.Addr()))
	cmd("who holds the VIP", fmt.Sprintf("ip netns exec %s ip -br addr show dev eth0", d1.host.NS()))
	cmd("client's ARP entry", fmt.Sprintf("ip netns exec %s ip neigh show %s", client.NS(), vip.Addr()))
	cmd("VRRP and ARP on the wire", fmt.Sprintf("ip netns exec %s tcpdump -lni eth0 'vrrp or arp'", client.NS()))
	cmd("planned failover", fmt.Sprintf("kill -TERM %d    # director1 hands over make-before-break", d1.running().Pid()))
	cmd("crash", fmt.Sprintf("kill -KILL %d", d1.running().Pid()))
	cmd("director1 link down / up", fmt.Sprintf("ip netns exec %s ip link set eth0 down   (then: up)", d1.host.NS()))
	cmd("restart director1 by hand", fmt.Sprintf("ip netns exec %s %s &", d1.host.NS(), strings.Join(d1.argv(), " ")))
	if o.FailoverEvery > 0 {
		p("\n-failover-every %v: the demo alternately sends SIGTERM to the master and restarts it.\n", o.FailoverEvery)
	}
	p("Ctrl-C stops everything and removes the namespaces.\n\n")
}

// statusLine reports, once a second, each director's state, who holds the
// VIP, the client's neighbour entry and what the client's pings saw.
func statusLine(dirs []*director, client *lab.Host, ping *lab.Pinger) string {
	var parts []string
	for _, d := range dirs {
		pid := "-"
		if p := d.running(); p != nil {
			pid = fmt.Sprint(p.Pid())
		}
		vipMark := ""
		if d.host.HasAddr(vip.Addr()) {
			vipMark = "+VIP"
		}
		parts = append(parts, fmt.Sprintf("%s %-6s %-4s (pid %s)", d.host.Name(), d.state(), vipMark, pid))
	}
	neigh := "no entry"
	if mac, state, err := client.Neigh(vip.Addr()); err == nil {
		neigh = fmt.Sprintf("%s %s", macOwner(mac, dirs), state)
	}
	st := ping.Stats()
	gap := "-"
	if st.Longest.Duration() > 0 {
		gap = fmt.Sprintf("%v at %s", st.LongestGap().Round(time.Millisecond/10), st.Longest.Start.Format("15:04:05"))
	}
	if st.LongestSendGap > st.GapThreshold {
		// A gap this size in sending means the pinger itself was not
		// scheduled; replies cannot come faster than requests.
		gap += fmt.Sprintf(" (the pinger itself stalled up to %v)", st.LongestSendGap.Round(time.Millisecond/10))
	}
	return fmt.Sprintf("%s  %s | client: %s -> %s | pings sent %d lost %d, longest gap %s",
		stamp(), strings.Join(parts, "  "), vip.Addr(), neigh, st.Sent, st.Lost(), gap)
}

// macOwner names the director a MAC address belongs to.
func macOwner(mac string, dirs []*director) string {
	if mac == "" {
		return "(none)"
	}
	for _, d := range dirs {
		if d.host.MAC().String() == mac {
			return fmt.Sprintf("%s (%s)", mac, d.host.Name())
		}
	}
	return mac
}

// cleanup stops everything and checks that the namespaces are gone.
func cleanup(out io.Writer, s *lab.Session, dirs []*director, client *lab.Host) error {
	names := []string{client.NS()}
	for _, d := range dirs {
		names = append(names, d.host.NS())
	}
	prefix := strings.TrimSuffix(client.NS(), client.Name()) // "<prefix>-<pid>-<random>-"
	for _, d := range dirs {
		d.fwd.Close()
	}
	s.Close()
	left, err := namespacesWithPrefix(prefix)
	if err != nil {
		return err
	}
	if len(left) > 0 {
		return fmt.Errorf("namespaces left behind: %s", strings.Join(left, " "))
	}
	fmt.Fprintf(out, "removed the lab: `ip netns list` shows no %s* namespace (had %s and the switch)\n", prefix, strings.Join(names, ", "))
	return nil
}

// namespacesWithPrefix lists named network namespaces (ip netns list)
// starting with prefix.
func namespacesWithPrefix(prefix string) ([]string, error) {
	ents, err := os.ReadDir("/run/netns")
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) {
			out = append(out, e.Name())
		}
	}
	return out, nil
}
