package lab

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// KeepalivedConf is a keepalived configuration holding only VRRP: the
// reference implementation vigil is tested against. Render turns it into
// keepalived.conf text in the layout of shared/vectors/vrrp/keepalived-conf.
type KeepalivedConf struct {
	// RouterID is global_defs router_id; "vigil_lab" when empty.
	RouterID string
	// Version is global_defs vrrp_version: 2 (RFC 3768) or 3 (RFC 5798).
	Version int
	// GlobalExtra are raw lines appended to global_defs, e.g.
	// "vrrp_garp_master_delay 1".
	GlobalExtra []string
	// Instances are the vrrp_instance blocks; at least one.
	Instances []KeepalivedInstance
}

// KeepalivedInstance is one vrrp_instance block.
type KeepalivedInstance struct {
	// Name is the instance name; "VI_<VRID>" when empty.
	Name string
	// State is the initial state, "MASTER" or "BACKUP"; omitted when empty
	// (keepalived then starts as BACKUP).
	State string
	// Interface is the interface VRRP runs on; Iface ("eth0") when empty.
	Interface string
	// VRID is virtual_router_id, 1-255.
	VRID uint8
	// Priority is 1-255 (255: the address owner).
	Priority uint8
	// AdvertInterval is advert_int: whole seconds for version 2,
	// centiseconds for version 3 (10 ms to 40.95 s). 1 s when zero.
	AdvertInterval time.Duration
	// AuthPass enables VRRPv2 simple-text authentication (auth_type PASS)
	// with this password of at most 8 characters. Version 2 only.
	AuthPass string
	// NoPreempt keeps a higher-priority router from taking over from a
	// running master. keepalived requires State BACKUP (or empty) with it.
	NoPreempt bool
	// PreemptDelay is preempt_delay, in whole seconds.
	PreemptDelay time.Duration
	// UnicastSrc is unicast_src_ip; optional with UnicastPeers.
	UnicastSrc netip.Addr
	// UnicastPeers switches adverts from multicast to unicast to these
	// peers.
	UnicastPeers []netip.Addr
	// VIPs are the virtual addresses (virtual_ipaddress), all of one
	// family; IPv6 needs Version 3. Each is rendered as
	// "<prefix> dev <Interface>".
	VIPs []netip.Prefix
	// Extra are raw lines placed before virtual_ipaddress, e.g.
	// "garp_master_refresh 5".
	Extra []string
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// Render returns the configuration text, or an error naming the first
// invalid field.
func (c KeepalivedConf) Render() (string, error) {
	if c.Version != 2 && c.Version != 3 {
		return "", fmt.Errorf("keepalived conf: Version %d: want 2 or 3", c.Version)
	}
	routerID := c.RouterID
	if routerID == "" {
		routerID = "vigil_lab"
	}
	if !nameRE.MatchString(routerID) {
		return "", fmt.Errorf("keepalived conf: RouterID %q: want letters, digits, _ . -", routerID)
	}
	if len(c.Instances) == 0 {
		return "", errors.New("keepalived conf: no Instances")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "global_defs {\n    router_id %s\n    vrrp_version %d\n", routerID, c.Version)
	for _, l := range c.GlobalExtra {
		fmt.Fprintf(&b, "    %s\n", l)
	}
	b.WriteString("}\n")
	names := map[string]bool{}
	for i, in := range c.Instances {
		if err := in.render(&b, c.Version, names); err != nil {
			return "", fmt.Errorf("keepalived conf: instance %d: %w", i, err)
		}
	}
	return b.String(), nil
}

func (in KeepalivedInstance) render(b *strings.Builder, version int, names map[string]bool) error {
	name := in.Name
	if name == "" {
		name = fmt.Sprintf("VI_%d", in.VRID)
	}
	if !nameRE.MatchString(name) {
		return fmt.Errorf("Name %q: want letters, digits, _ . -", name)
	}
	if names[name] {
		return fmt.Errorf("Name %q: duplicate", name)
	}
	names[name] = true
	iface := in.Interface
	if iface == "" {
		iface = Iface
	}
	if in.VRID == 0 {
		return errors.New("VRID 0: want 1-255")
	}
	if in.Priority == 0 {
		return errors.New("Priority 0: want 1-255 (0 is reserved for the stop advert)")
	}
	switch in.State {
	case "", "MASTER", "BACKUP":
	default:
		return fmt.Errorf("State %q: want MASTER, BACKUP or empty", in.State)
	}
	if in.NoPreempt && in.State == "MASTER" {
		return errors.New("NoPreempt with State MASTER: keepalived ignores nopreempt then; use BACKUP")
	}
	interval := in.AdvertInterval
	if interval == 0 {
		interval = time.Second
	}
	switch {
	case version == 2 && (interval%time.Second != 0 || interval > 255*time.Second):
		return fmt.Errorf("AdvertInterval %v: VRRPv2 needs whole seconds, 1-255", interval)
	case version == 3 && (interval%(10*time.Millisecond) != 0 || interval < 10*time.Millisecond || interval > 40950*time.Millisecond):
		return fmt.Errorf("AdvertInterval %v: VRRPv3 needs centiseconds, 10ms-40.95s", interval)
	}
	if in.AuthPass != "" {
		if version != 2 {
			return errors.New("AuthPass: authentication exists only in VRRPv2")
		}
		if len(in.AuthPass) > 8 || strings.ContainsAny(in.AuthPass, " \t\n{}#!") {
			return fmt.Errorf("AuthPass %q: want at most 8 characters without blanks, braces or comment marks", in.AuthPass)
		}
	}
	if in.PreemptDelay%time.Second != 0 || in.PreemptDelay < 0 || in.PreemptDelay > time.Hour {
		return fmt.Errorf("PreemptDelay %v: want whole seconds, 0-3600", in.PreemptDelay)
	}
	if len(in.VIPs) == 0 {
		return errors.New("no VIPs")
	}
	v6 := in.VIPs[0].Addr().Is6()
	if v6 && version == 2 {
		return fmt.Errorf("VIP %s: VRRPv2 is IPv4 only", in.VIPs[0])
	}
	for _, p := range in.VIPs {
		if !p.IsValid() || p.Addr().Is6() != v6 {
			return fmt.Errorf("VIP %s: all VIPs of an instance must be valid and of one family", p)
		}
	}
	peers := in.UnicastPeers
	if in.UnicastSrc.IsValid() {
		peers = append([]netip.Addr{in.UnicastSrc}, peers...)
	}
	for _, a := range peers {
		if !a.IsValid() || a.Is6() != v6 {
			return fmt.Errorf("unicast address %s: must be of the VIPs' family", a)
		}
	}

	fmt.Fprintf(b, "vrrp_instance %s {\n", name)
	if in.State != "" {
		fmt.Fprintf(b, "    state %s\n", in.State)
	}
	fmt.Fprintf(b, "    interface %s\n", iface)
	fmt.Fprintf(b, "    virtual_router_id %d\n", in.VRID)
	fmt.Fprintf(b, "    priority %d\n", in.Priority)
	fmt.Fprintf(b, "    advert_int %s\n", strconv.FormatFloat(interval.Seconds(), 'f', -1, 64))
	if in.AuthPass != "" {
		fmt.Fprintf(b, "    authentication {\n        auth_type PASS\n        auth_pass %s\n    }\n", in.AuthPass)
	}
	if in.NoPreempt {
		b.WriteString("    nopreempt\n")
	}
	if in.PreemptDelay > 0 {
		fmt.Fprintf(b, "    preempt_delay %d\n", in.PreemptDelay/time.Second)
	}
	if in.UnicastSrc.IsValid() {
		fmt.Fprintf(b, "    unicast_src_ip %s\n", in.UnicastSrc)
	}
	if len(in.UnicastPeers) > 0 {
		b.WriteString("    unicast_peer {\n")
		for _, a := range in.UnicastPeers {
			fmt.Fprintf(b, "        %s\n", a)
		}
		b.WriteString("    }\n")
	}
	for _, l := range in.Extra {
		fmt.Fprintf(b, "    %s\n", l)
	}
	b.WriteString("    virtual_ipaddress {\n")
	for _, p := range in.VIPs {
		fmt.Fprintf(b, "        %s dev %s\n", p, iface)
	}
	b.WriteString("    }\n}\n")
	return nil
}

// KeepalivedVersion returns the version keepalived reports ("2.2.7").
func KeepalivedVersion(ctx context.Context) (string, error) {
	bin, err := lookPath("keepalived")
	if err != nil {
		return "", err
	}
	// keepalived prints its version on standard error.
	out, err := exec.CommandContext(ctx, bin, "--version").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("keepalived --version: %w: %s", err, firstLine(string(out)))
	}
	m := regexp.MustCompile(`Keepalived v([0-9][0-9.]*)`).FindSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("keepalived --version: no version in %q", firstLine(string(out)))
	}
	return string(m[1]), nil
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// StartKeepalived renders conf, checks it with `keepalived --config-test`
// inside the host, and runs keepalived there in the foreground with the VRRP
// subsystem only, logging to the process log (no syslog), with its own pid
// files. Files go to t.TempDir(); the process is stopped at t's cleanup (or
// when the topology closes), so a subtest can scope keepalived to itself.
// keepalived runs under `ip netns exec` and never sees the host namespace.
func (h *Host) StartKeepalived(t TB, conf KeepalivedConf) *Proc {
	t.Helper()
	text, err := conf.Render()
	if err != nil {
		t.Fatalf("lab: %s: %v", h.name, err)
	}
	mustLookPath(t, "keepalived")
	dir := t.TempDir()
	confPath := filepath.Join(dir, "keepalived-"+h.name+".conf")
	if err := os.WriteFile(confPath, []byte(text), 0o644); err != nil {
		t.Fatalf("lab: %s: %v", h.name, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := h.Run(ctx, "keepalived", "--config-test", "--use-file="+confPath); err != nil {
		t.Fatalf("lab: %s: keepalived rejects its configuration: %v\n%s", h.name, err, text)
	}
	return h.startProc(t, dir, []string{
		"keepalived",
		"--dont-fork",
		"--log-console",
		"--log-detail",
		"--no-syslog",
		"--vrrp",
		"--use-file=" + confPath,
		"--pid=" + filepath.Join(dir, "keepalived-"+h.name+".pid"),
		"--vrrp_pid=" + filepath.Join(dir, "keepalived-vrrp-"+h.name+".pid"),
	})
}
