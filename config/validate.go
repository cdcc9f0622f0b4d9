package config

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// Limits from the RFCs and keepalived.
const (
	minPriority = 1
	maxPriority = 255
	maxVRID     = 255
	maxWeight   = 253 // keepalived: |weight| <= 253, so 1 + 253 stays below 255
	// RFC 3768 5.3.7: Adver Int is 8 bits of seconds.
	maxAdvertV2 = 255 * time.Second
	// RFC 5798 5.2.7: Max Adver Int is 12 bits of centiseconds.
	advertUnitV3    = 10 * time.Millisecond
	maxAdvertV3     = 4095 * advertUnitV3
	maxPreemptDelay = 1000 * time.Second // keepalived's limit
	maxPassword     = 8                  // RFC 3768 5.3.6.1: 8 octets
	maxGARPRepeat   = 100
)

// validate checks the defaulted configuration, recording every problem.
func (d *decoder) validate(c *Config) {
	d.validateGlobal(&c.Global)
	d.validateScripts(c.VRRPScripts)
	d.validateInstances(c)
	d.validateSyncGroups(c)
	d.validateVirtualServers(c)
	d.validateActuator(c)
}

// stripRuleName removes the "(name)" actuator errors add after a rule's
// index, so the path is the key path again.
var stripRuleName = regexp.MustCompile(` \([^)]*\)`)

// validateActuator reports the actuator's own validation (matchers,
// templates, guards, the token file) at the keys it names.
func (d *decoder) validateActuator(c *Config) {
	err := c.Actuator.Validate()
	if err == nil {
		return
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		path, msg, ok := strings.Cut(e.Error(), ": ")
		if !ok {
			path, msg = "actuator", e.Error()
		}
		d.invalid(stripRuleName.ReplaceAllString(path, ""), "%s", msg)
	}
}

func (d *decoder) validateGlobal(g *Global) {
	if d.set["global.router_id"] && g.RouterID == "" {
		d.invalid("global.router_id", "must not be empty (omit it to use the hostname)")
	}
	if g.NotifyTimeout <= 0 {
		d.invalid("global.notify_timeout", "must be > 0, got %s", g.NotifyTimeout)
	}
	if !filepath.IsAbs(g.StateDir) {
		d.invalid("global.state_dir", "must be an absolute path, got %q", g.StateDir)
	}
}

// uniqueNames checks that every name is non-empty and unique; path(i) is the
// key path of the i-th name.
func (d *decoder) uniqueNames(n int, name func(int) string, path func(int) string) {
	first := make(map[string]int)
	for i := range n {
		nm := name(i)
		if nm == "" {
			d.invalid(path(i), "must not be empty")
			continue
		}
		if j, dup := first[nm]; dup {
			d.invalid(path(i), "duplicate name %q, first at line %d", nm, d.lineOf(path(j)))
			continue
		}
		first[nm] = i
	}
}

func (d *decoder) validateScripts(scripts []VRRPScript) {
	d.uniqueNames(len(scripts),
		func(i int) string { return scripts[i].Name },
		func(i int) string { return fmt.Sprintf("vrrp_scripts[%d].name", i) })
	for i := range scripts {
		s := &scripts[i]
		p := fmt.Sprintf("vrrp_scripts[%d]", i)
		d.checkArgv(p+".command", s.Command, true)
		if s.Interval <= 0 {
			d.invalid(p+".interval", "must be > 0, got %s", s.Interval)
		}
		if d.set[p+".timeout"] {
			switch {
			case s.Timeout <= 0:
				d.invalid(p+".timeout", "must be > 0, got %s", s.Timeout)
			case s.Interval > 0 && s.Timeout > s.Interval:
				d.invalid(p+".timeout", "must not exceed the interval (%s), got %s", s.Interval, s.Timeout)
			}
		}
		if s.Rise < 1 {
			d.invalid(p+".rise", "must be >= 1, got %d", s.Rise)
		}
		if s.Fall < 1 {
			d.invalid(p+".fall", "must be >= 1, got %d", s.Fall)
		}
		d.checkWeight(p+".weight", s.Weight)
	}
}

// checkArgv checks an argv: argv[0] must be an absolute path (vigil never
// searches PATH nor runs a shell). required says whether it may be empty.
func (d *decoder) checkArgv(path string, argv []string, required bool) {
	if len(argv) == 0 {
		if required {
			d.invalid(path, "must not be empty: give the program's absolute path and its arguments")
		}
		return
	}
	if !filepath.IsAbs(argv[0]) {
		d.invalid(path+"[0]", "must be an absolute path, got %q", argv[0])
	}
}

func (d *decoder) checkWeight(path string, w int) {
	if w < -maxWeight || w > maxWeight {
		d.invalid(path, "must be %d..%d, got %d", -maxWeight, maxWeight, w)
	}
}

// family names an address family for messages; "" for the zero Addr.
func family(a netip.Addr) string {
	switch {
	case a.Is4():
		return "IPv4"
	case a.Is6():
		return "IPv6"
	}
	return ""
}

// vridKey identifies a virtual router on the wire: RFC 5798 scopes VRIDs to
// an interface and an address family.
type vridKey struct {
	iface  string
	family string
	vrid   int
}

func (d *decoder) validateInstances(c *Config) {
	insts := c.VRRPInstances
	if len(insts) == 0 {
		d.invalid("vrrp_instances", "at least one instance is required")
		return
	}
	d.uniqueNames(len(insts),
		func(i int) string { return insts[i].Name },
		func(i int) string { return fmt.Sprintf("vrrp_instances[%d].name", i) })

	vrids := make(map[vridKey]int)       // -> instance index
	vipOwner := make(map[netip.Addr]int) // -> instance index
	vipPath := make(map[netip.Addr]string)
	for i := range insts {
		in := &insts[i]
		p := fmt.Sprintf("vrrp_instances[%d]", i)
		fam := d.validateInstance(c, in, p)

		for j, vip := range in.VirtualIPAddresses {
			a := vip.Prefix.Addr()
			if !a.IsValid() {
				continue
			}
			vp := fmt.Sprintf("%s.virtual_ipaddresses[%d]", p, j)
			if k, dup := vipOwner[a]; dup {
				d.invalid(vp, "duplicate address %s, first at line %d (instance %q)", a, d.lineOf(vipPath[a]), insts[k].Name)
				continue
			}
			vipOwner[a], vipPath[a] = i, vp
		}

		if fam == "" || in.Interface == "" || in.VirtualRouterID < 1 || in.VirtualRouterID > maxVRID {
			continue
		}
		key := vridKey{in.Interface, fam, in.VirtualRouterID}
		if k, dup := vrids[key]; dup {
			d.invalid(p+".virtual_router_id", "%d is already used on %s for %s by instance %q at line %d; must be unique per interface and address family",
				in.VirtualRouterID, in.Interface, fam, insts[k].Name, d.lineOf(fmt.Sprintf("vrrp_instances[%d].virtual_router_id", k)))
			continue
		}
		vrids[key] = i
	}
}

// validateInstance checks one instance at key path p and returns the address
// family of its virtual addresses ("" if it has none).
func (d *decoder) validateInstance(c *Config, in *VRRPInstance, p string) string {
	if problem := ifNameProblem(in.Interface); problem != "" {
		d.invalid(p+".interface", "%s", ifNameSentence(problem, in.Interface))
	}
	switch {
	case !d.set[p+".virtual_router_id"]:
		d.invalid(p+".virtual_router_id", "is required (1..%d)", maxVRID)
	case in.VirtualRouterID < 1 || in.VirtualRouterID > maxVRID:
		d.invalid(p+".virtual_router_id", "must be 1..%d, got %d", maxVRID, in.VirtualRouterID)
	}
	if in.Priority < minPriority || in.Priority > maxPriority {
		d.invalid(p+".priority", "must be %d..%d, got %d", minPriority, maxPriority, in.Priority)
	}

	ai := in.AdvertInterval
	switch in.Version {
	case 2:
		if ai%time.Second != 0 || ai < time.Second || ai > maxAdvertV2 {
			d.invalid(p+".advert_interval", "must be whole seconds in 1s..%ds for version 2, got %s", maxAdvertV2/time.Second, ai)
		}
		if a := in.Authentication; a != nil {
			if a.Type != "PASS" {
				d.invalid(p+".authentication.type", `must be "PASS" (AH is not supported), got %q`, a.Type)
			}
			switch n := len(a.Password); {
			case n < 1:
				d.invalid(p+".authentication.password", "must be 1..%d bytes, got 0", maxPassword)
			case n > maxPassword:
				d.invalid(p+".authentication.password", "must be 1..%d bytes, got %d (keepalived truncates a longer password to its first %d bytes)", maxPassword, n, maxPassword)
			}
		}
	case 3:
		if ai%advertUnitV3 != 0 || ai < advertUnitV3 || ai > maxAdvertV3 {
			d.invalid(p+".advert_interval", "must be a multiple of 10ms in 10ms..%s for version 3, got %s", maxAdvertV3, ai)
		}
		if in.Authentication != nil {
			d.invalid(p+".authentication", "not allowed with version 3 (RFC 5798 removed authentication); remove it or set version: 2")
		}
	default:
		d.invalid(p+".version", "must be 2 or 3, got %d", in.Version)
	}
	if in.PreemptDelay < 0 || in.PreemptDelay > maxPreemptDelay {
		d.invalid(p+".preempt_delay", "must be 0s..%ds, got %s", maxPreemptDelay/time.Second, in.PreemptDelay)
	}

	fam := d.validateVIPs(in, p)
	d.validateUnicast(in, p, fam)
	d.validateTracks(c, in, p)

	d.checkArgv(p+".notify.master", in.Notify.Master, false)
	d.checkArgv(p+".notify.backup", in.Notify.Backup, false)
	d.checkArgv(p+".notify.fault", in.Notify.Fault, false)
	d.checkArgv(p+".notify.stop", in.Notify.Stop, false)

	for _, g := range []struct {
		key string
		val time.Duration
	}{
		{"garp_master_delay", in.GARPMasterDelay},
		{"garp_master_refresh", in.GARPMasterRefresh},
		{"garp_interval", in.GARPInterval},
	} {
		if g.val < 0 {
			d.invalid(p+"."+g.key, "must be >= 0s, got %s", g.val)
		}
	}
	if in.GARPMasterRepeat < 1 || in.GARPMasterRepeat > maxGARPRepeat {
		d.invalid(p+".garp_master_repeat", "must be 1..%d, got %d", maxGARPRepeat, in.GARPMasterRepeat)
	}
	// Unset, they are garp_master_*'s values, reported there if wrong.
	if d.set[p+".garp_lower_prio_delay"] && in.GARPLowerPrioDelay < 0 {
		d.invalid(p+".garp_lower_prio_delay", "must be >= 0s, got %s", in.GARPLowerPrioDelay)
	}
	if d.set[p+".garp_lower_prio_repeat"] && (in.GARPLowerPrioRepeat < 0 || in.GARPLowerPrioRepeat > maxGARPRepeat) {
		d.invalid(p+".garp_lower_prio_repeat", "must be 0..%d (0: off), got %d", maxGARPRepeat, in.GARPLowerPrioRepeat)
	}
	return fam
}

// ifNameSentence turns an ifNameProblem into a message quoting the name.
func ifNameSentence(problem, name string) string {
	if name == "" {
		return problem
	}
	return fmt.Sprintf("%q is not a valid interface name: %s", name, problem)
}

// validateVIPs checks an instance's virtual addresses and returns their
// family.
func (d *decoder) validateVIPs(in *VRRPInstance, p string) string {
	if len(in.VirtualIPAddresses) == 0 {
		d.invalid(p+".virtual_ipaddresses", "at least one address is required")
		return ""
	}
	fam := ""
	for j, vip := range in.VirtualIPAddresses {
		vp := fmt.Sprintf("%s.virtual_ipaddresses[%d]", p, j)
		a := vip.Prefix.Addr()
		f := family(a)
		if f == "" {
			continue // not decoded; already reported
		}
		if fam == "" {
			fam = f
		} else if f != fam {
			d.invalid(vp, "%s address %s mixed with %s addresses; use one instance per address family", f, a, fam)
			continue
		}
		if a.Is6() && in.Version == 2 {
			d.invalid(vp, "IPv6 address %s requires version 3, got version 2", a)
		}
		if vip.Label != "" && vip.Dev != "" && !strings.HasPrefix(vip.Label, vip.Dev) {
			d.invalid(vp, "label must start with the device name %q, got %q", vip.Dev, vip.Label)
		}
	}
	return fam
}

// validateUnicast checks unicast_source and unicast_peers against the
// instance's address family fam.
func (d *decoder) validateUnicast(in *VRRPInstance, p, fam string) {
	check := func(path string, a netip.Addr) bool {
		switch {
		case a.IsUnspecified() || a.IsMulticast():
			d.invalid(path, "must be a unicast address, got %s", a)
		case fam != "" && family(a) != fam:
			d.invalid(path, "%s address %s does not match the instance's %s virtual addresses", family(a), a, fam)
		default:
			return true
		}
		return false
	}
	src := in.UnicastSource
	if src.IsValid() {
		if len(in.UnicastPeers) == 0 {
			d.invalid(p+".unicast_source", "only used with unicast_peers: add unicast_peers or remove it")
		} else {
			check(p+".unicast_source", src)
		}
	}
	first := make(map[netip.Addr]int)
	for j, peer := range in.UnicastPeers {
		pp := fmt.Sprintf("%s.unicast_peers[%d]", p, j)
		if !peer.IsValid() || !check(pp, peer) {
			continue
		}
		if k, dup := first[peer]; dup {
			d.invalid(pp, "duplicate peer %s, first at line %d", peer, d.lineOf(fmt.Sprintf("%s.unicast_peers[%d]", p, k)))
			continue
		}
		first[peer] = j
		if peer == src {
			d.invalid(pp, "%s is this node's unicast_source, not a peer", peer)
		}
	}
}

func (d *decoder) validateTracks(c *Config, in *VRRPInstance, p string) {
	seen := make(map[string]string) // name -> first path
	for j, t := range in.TrackInterfaces {
		tp := fmt.Sprintf("%s.track_interfaces[%d]", p, j)
		if problem := ifNameProblem(t.Name); problem != "" {
			d.invalid(tp+".name", "%s", ifNameSentence(problem, t.Name))
		} else if first, dup := seen[t.Name]; dup {
			d.invalid(tp+".name", "duplicate track %q, first at line %d", t.Name, d.lineOf(first))
		} else {
			seen[t.Name] = tp
		}
		if d.set[tp+".weight"] && t.Weight != nil {
			d.checkWeight(tp+".weight", *t.Weight)
		}
	}
	clear(seen)
	for j, t := range in.TrackScripts {
		tp := fmt.Sprintf("%s.track_scripts[%d]", p, j)
		_, known := c.Script(t.Name)
		switch first, dup := seen[t.Name]; {
		case t.Name == "":
			d.invalid(tp+".name", "must not be empty")
		case !known:
			d.invalid(tp+".name", "no vrrp_script named %q", t.Name)
		case dup:
			d.invalid(tp+".name", "duplicate track %q, first at line %d", t.Name, d.lineOf(first))
		default:
			seen[t.Name] = tp
		}
		if d.set[tp+".weight"] && t.Weight != nil {
			d.checkWeight(tp+".weight", *t.Weight)
		}
	}
}

func (d *decoder) validateSyncGroups(c *Config) {
	groups := c.SyncGroups
	d.uniqueNames(len(groups),
		func(i int) string { return groups[i].Name },
		func(i int) string { return fmt.Sprintf("sync_groups[%d].name", i) })
	type membership struct {
		group int
		path  string
	}
	member := make(map[string]membership)
	for i, g := range groups {
		p := fmt.Sprintf("sync_groups[%d]", i)
		if len(g.Instances) == 0 {
			d.invalid(p+".instances", "at least one instance is required")
		}
		for k, name := range g.Instances {
			ip := fmt.Sprintf("%s.instances[%d]", p, k)
			if _, ok := c.Instance(name); !ok {
				d.invalid(ip, "no vrrp_instance named %q", name)
				continue
			}
			prev, dup := member[name]
			switch {
			case dup && prev.group == i:
				d.invalid(ip, "duplicate instance %q, first at line %d", name, d.lineOf(prev.path))
			case dup:
				d.invalid(ip, "instance %q is already in sync group %q at line %d; an instance may be in one group only",
					name, groups[prev.group].Name, d.lineOf(prev.path))
			default:
				member[name] = membership{i, ip}
			}
		}
	}
}
