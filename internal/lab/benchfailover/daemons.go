package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/vigil-lb/vigil/internal/lab"
)

// proto is a VRRP version and advertisement interval.
type proto struct {
	Version  int
	Interval time.Duration
}

func (p proto) String() string { return fmt.Sprintf("v%d %v", p.Version, p.Interval) }

// vrInstance is one virtual router a daemon runs.
type vrInstance struct {
	Name string
	VRID uint8
	VIP  netip.Prefix
}

// daemonSpec is what one director runs.
type daemonSpec struct {
	Proto    proto
	Priority uint8
	// Master sets keepalived's initial state to MASTER (BACKUP
	// otherwise); vigil has no such setting and elects by priority.
	Master    bool
	Instances []vrInstance
}

// implementation is a VRRP daemon under test.
type implementation interface {
	Name() string
	// Check returns nil if the implementation accepts spec, or the reason
	// it refuses it (its own error message).
	Check(ctx context.Context, h *lab.Host, spec daemonSpec) error
	// Start runs the daemon on h; its files go to tb's temporary
	// directories.
	Start(tb lab.TB, h *lab.Host, spec daemonSpec) *daemon
}

// daemon is one running VRRP daemon.
type daemon struct {
	Proc *lab.Proc
	// States returns each instance's state in lower case ("master",
	// "backup", "fault", ...), as the daemon itself reports it.
	States func() (map[string]string, error)
}

// allIn reports whether every instance of spec is in state.
func (d *daemon) allIn(spec daemonSpec, state string) bool {
	if d.Proc.Exited() {
		return false
	}
	st, err := d.States()
	if err != nil {
		return false
	}
	for _, in := range spec.Instances {
		if st[in.Name] != state {
			return false
		}
	}
	return true
}

// vigilMetricsAddr is where every vigil serves /metrics, on the loopback of
// its own namespace.
const vigilMetricsAddr = "127.0.0.1:9650"

// vigilImpl runs the vigil binary at bin.
type vigilImpl struct{ bin string }

func (vigilImpl) Name() string { return "vigil" }

// config renders vigil.yml for spec; garp_* keys keep their defaults, which
// are keepalived's.
func (vigilImpl) config(h *lab.Host, spec daemonSpec) string {
	var b strings.Builder
	fmt.Fprintf(&b, "global: { router_id: %s }\nvrrp_instances:\n", h.Name())
	for _, in := range spec.Instances {
		fmt.Fprintf(&b, "  - name: %s\n", in.Name)
		fmt.Fprintf(&b, "    interface: %s\n", lab.Iface)
		fmt.Fprintf(&b, "    virtual_router_id: %d\n", in.VRID)
		fmt.Fprintf(&b, "    priority: %d\n", spec.Priority)
		fmt.Fprintf(&b, "    version: %d\n", spec.Proto.Version)
		fmt.Fprintf(&b, "    advert_interval: %v\n", spec.Proto.Interval)
		fmt.Fprintf(&b, "    virtual_ipaddresses: [%q]\n", in.VIP.String())
	}
	return b.String()
}

func (v vigilImpl) writeConfig(dir string, h *lab.Host, spec daemonSpec) (string, error) {
	path := filepath.Join(dir, "vigil-"+h.Name()+".yml")
	return path, os.WriteFile(path, []byte(v.config(h, spec)), 0o644)
}

func (v vigilImpl) Check(ctx context.Context, h *lab.Host, spec daemonSpec) error {
	dir, err := os.MkdirTemp("", "vigil-bench-check-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path, err := v.writeConfig(dir, h, spec)
	if err != nil {
		return err
	}
	out, err := exec.CommandContext(ctx, v.bin, "check-config", path).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s", strings.TrimSpace(string(out)))
	}
	return nil
}

func (v vigilImpl) Start(tb lab.TB, h *lab.Host, spec daemonSpec) *daemon {
	path, err := v.writeConfig(tb.TempDir(), h, spec)
	if err != nil {
		tb.Fatalf("writing vigil config: %v", err)
	}
	p := h.Start(v.bin, "run", "--config.file="+path, "--web.listen-address="+vigilMetricsAddr, "--log.level=info")
	return &daemon{Proc: p, States: func() (map[string]string, error) {
		text, err := h.Scrape(vigilMetricsAddr)
		if err != nil {
			return nil, err
		}
		return vigilStates(text), nil
	}}
}

var (
	labelRE = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)
)

// vigilStates reads vigil_vrrp_instance_state (one series per state, 1 for
// the current one) from an exposition.
func vigilStates(exposition string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(exposition, "\n") {
		rest, ok := strings.CutPrefix(line, "vigil_vrrp_instance_state{")
		if !ok {
			continue
		}
		labels, value, ok := strings.Cut(rest, "} ")
		if !ok || strings.TrimSpace(value) != "1" {
			continue
		}
		var inst, state string
		for _, m := range labelRE.FindAllStringSubmatch(labels, -1) {
			switch m[1] {
			case "vrrp_instance":
				inst = m[2]
			case "state":
				state = m[2]
			}
		}
		if inst != "" {
			out[inst] = state
		}
	}
	return out
}

// keepalivedImpl runs keepalived through lab.Host.StartKeepalived.
type keepalivedImpl struct{}

func (keepalivedImpl) Name() string { return "keepalived" }

func (keepalivedImpl) conf(spec daemonSpec) lab.KeepalivedConf {
	state := "BACKUP"
	if spec.Master {
		state = "MASTER"
	}
	c := lab.KeepalivedConf{Version: spec.Proto.Version}
	for _, in := range spec.Instances {
		c.Instances = append(c.Instances, lab.KeepalivedInstance{
			Name:           in.Name,
			State:          state,
			VRID:           in.VRID,
			Priority:       spec.Priority,
			AdvertInterval: spec.Proto.Interval,
			VIPs:           []netip.Prefix{in.VIP},
		})
	}
	return c
}

func (k keepalivedImpl) Check(ctx context.Context, h *lab.Host, spec daemonSpec) error {
	text, err := k.conf(spec).Render()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "vigil-bench-check-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		return err
	}
	_, err = h.Run(ctx, "keepalived", "--config-test", "--use-file="+path)
	return err
}

func (k keepalivedImpl) Start(tb lab.TB, h *lab.Host, spec daemonSpec) *daemon {
	p := h.StartKeepalived(tb, k.conf(spec))
	return &daemon{Proc: p, States: func() (map[string]string, error) {
		return keepalivedStates(p.Log()), nil
	}}
}

// kaStateRE matches keepalived 2.2.7's state change lines, e.g.
// "(VI_1) Entering MASTER STATE" or "(VI_1) Entering BACKUP STATE (init)".
var kaStateRE = regexp.MustCompile(`\(([A-Za-z0-9_.-]+)\) Entering (MASTER|BACKUP|FAULT) STATE`)

// keepalivedStates returns the state each instance entered last, read from
// keepalived's log.
func keepalivedStates(log string) map[string]string {
	out := map[string]string{}
	for _, m := range kaStateRE.FindAllStringSubmatch(log, -1) {
		out[m[1]] = strings.ToLower(m[2])
	}
	return out
}
