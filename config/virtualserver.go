package config

import (
	"cmp"
	"encoding/hex"
	"fmt"
	"maps"
	"math"
	"net/netip"
	"net/textproto"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Limits for virtual servers, real servers and checks.
const (
	maxVSName = 64
	// maxRSWeight is ipvsadm's range. keepalived accepts up to 2^31-1, but
	// weights that large only overflow sums such as the quorum's.
	maxRSWeight    = 65535
	maxPersistence = 31 * 24 * time.Hour // keepalived's LVS_MAX_TIMEOUT
	// A check more often than ten times a second per server is a load
	// test, not a health check.
	minDelayLoop      = 100 * time.Millisecond
	maxDelayLoop      = 24 * time.Hour
	maxDrainGrace     = 24 * time.Hour
	minConnectTimeout = time.Millisecond
	maxConnectTimeout = time.Hour
	maxRetryDelay     = time.Hour
	maxWarmup         = 24 * time.Hour
	maxRetries        = 100
	maxUDPPayload     = 65507 // the largest UDP payload over IPv4
	maxDNSName        = 253
	maxDNSLabel       = 63
)

// Allowed values, in the order messages list them.
var (
	protocols   = []string{"tcp", "udp", "sctp"}
	forwardings = []string{"nat", "dr", "tun"}
	// schedulers are the kernel's IPVS schedulers, as keepalived's lvs_sched.
	schedulers = []string{"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "mh", "fo", "ovf", "twos"}
	// schedulerFlags are the flags vigil accepts, each with the scheduler it
	// needs ("" for any).
	schedulerFlags = []struct{ name, scheduler string }{
		{"sh-fallback", "sh"}, {"sh-port", "sh"}, {"mh-fallback", "mh"}, {"mh-port", "mh"}, {"ops", ""},
	}
	checkTypes  = []string{"tcp", "http", "https", "mysql", "exec", "udp", "dns"}
	httpMethods = []string{"GET", "HEAD", "POST", "OPTIONS"}
	dnsTypes    = []string{"A", "AAAA", "CNAME", "MX", "NS", "PTR", "SOA", "SRV", "TXT"}
	// dnsRcodes are the response codes of RFC 1035 and RFC 2136, by value.
	dnsRcodes = []string{"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE"}
)

// wordList renders words as "a, b or c".
func wordList(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}

// parseAddrPort parses "<addr>:<port>", "[<ipv6>]:<port>" or an address
// alone (port 0). Zones and IPv4-mapped IPv6 addresses are rejected: IPVS
// knows neither.
func parseAddrPort(s string) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		a, aerr := netip.ParseAddr(s)
		if aerr != nil {
			return netip.AddrPort{}, fmt.Errorf(`must be "<addr>:<port>", "[<ipv6>]:<port>" or an address without a port, got %q`, s)
		}
		ap = netip.AddrPortFrom(a, 0)
	}
	a := ap.Addr()
	if a.Zone() != "" {
		return netip.AddrPort{}, fmt.Errorf("%q: an address with a zone (%%%s) is not allowed", s, a.Zone())
	}
	if a.Is4In6() {
		return netip.AddrPort{}, fmt.Errorf("%q: an IPv4-mapped IPv6 address; write the IPv4 address %s", s, a.Unmap())
	}
	return ap, nil
}

// addrFamily returns a's family as Family spells it: "ipv4" or "ipv6".
func addrFamily(a netip.Addr) string {
	if a.Is4() {
		return "ipv4"
	}
	return "ipv6"
}

// parseStatusRange parses "200" or "200-299".
func parseStatusRange(s string) (StatusRange, error) {
	code := func(t string) (int, bool) {
		if t == "" || len(t) > 3 || strings.Trim(t, "0123456789") != "" {
			return 0, false
		}
		n, err := strconv.Atoi(t)
		return n, err == nil
	}
	lo, hi, isRange := strings.Cut(s, "-")
	minCode, ok := code(lo)
	maxCode := minCode
	if ok && isRange {
		maxCode, ok = code(hi)
	}
	switch {
	case !ok:
		return StatusRange{}, fmt.Errorf(`must be a status code like 200 or a range like "200-299", got %q`, s)
	case minCode < 100 || minCode > 599 || maxCode < 100 || maxCode > 599:
		return StatusRange{}, fmt.Errorf("status codes must be 100..599, got %q", s)
	case minCode > maxCode:
		return StatusRange{}, fmt.Errorf(`range %q is reversed: write "%d-%d"`, s, maxCode, minCode)
	}
	return StatusRange{minCode, maxCode}, nil
}

// String returns r as written in YAML: "200" or "200-299".
func (r StatusRange) String() string {
	if r.Min == r.Max {
		return strconv.Itoa(r.Min)
	}
	return fmt.Sprintf("%d-%d", r.Min, r.Max)
}

// Contains reports whether code lies in r.
func (r StatusRange) Contains(code int) bool { return code >= r.Min && code <= r.Max }

// parseUDPData decodes a UDP check's payload or expected reply: text, or
// hex digits after "hex:" with any whitespace between them.
func parseUDPData(s string) ([]byte, error) {
	h, isHex := strings.CutPrefix(s, "hex:")
	if !isHex {
		return []byte(s), nil
	}
	b, err := hex.DecodeString(strings.Join(strings.Fields(h), ""))
	if err != nil || len(b) == 0 {
		return nil, fmt.Errorf(`must be text, or "hex:" and pairs of hex digits, got %q`, s)
	}
	return b, nil
}

// PayloadBytes returns the datagram to send. For a UDPCheck not from Load
// or Parse, an invalid "hex:" payload gives nil.
func (u UDPCheck) PayloadBytes() []byte {
	b, _ := parseUDPData(u.Payload)
	return b
}

// ExpectBytes returns the prefix the reply must start with, or nil when no
// reply is needed. For a UDPCheck not from Load or Parse, an invalid "hex:"
// value also gives nil.
func (u UDPCheck) ExpectBytes() []byte {
	if u.Expect == "" {
		return nil
	}
	b, _ := parseUDPData(u.Expect)
	return b
}

// BodyRegexp returns BodyPattern compiled, or nil when there is none. Load
// and Parse compile it once; for an HTTPCheck built otherwise it is
// compiled on each call, and nil if it does not compile.
func (h HTTPCheck) BodyRegexp() *regexp.Regexp {
	if h.bodyRegexp != nil || h.BodyPattern == "" {
		return h.bodyRegexp
	}
	re, err := regexp.Compile(h.BodyPattern)
	if err != nil {
		return nil
	}
	return re
}

// ExpectedRcode returns the numeric DNS response code ExpectRcode names
// (NOERROR is 0, NXDOMAIN 3), or -1 for a name vigil does not know.
func (n DNSCheck) ExpectedRcode() int {
	return slices.Index(dnsRcodes, n.ExpectRcode)
}

// validVSName reports whether s may name a virtual server: it also names
// files in the state directory, so it is kept to a portable character set.
func validVSName(s string) bool {
	if len(s) == 0 || len(s) > maxVSName || !isAlnum(s[0]) {
		return false
	}
	for i := range len(s) {
		if c := s[i]; !isAlnum(c) && c != '.' && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// dnsNameProblem says why s is not a domain name to query, or returns "".
func dnsNameProblem(s string) string {
	if s == "." {
		return ""
	}
	n := strings.TrimSuffix(s, ".")
	if n == "" || len(n) > maxDNSName {
		return fmt.Sprintf("must be 1..%d bytes", maxDNSName)
	}
	for _, label := range strings.Split(n, ".") {
		if label == "" {
			return "has an empty label"
		}
		if len(label) > maxDNSLabel {
			return fmt.Sprintf("label %q is longer than %d bytes", label, maxDNSLabel)
		}
		for i := range len(label) {
			if c := label[i]; !isAlnum(c) && c != '-' && c != '_' {
				return fmt.Sprintf("label %q: only letters, digits, \"-\" and \"_\" are allowed", label)
			}
		}
	}
	return ""
}

// isTokenChar reports whether c may appear in an HTTP token such as a
// header name (RFC 9110 section 5.6.2).
func isTokenChar(c byte) bool {
	return isAlnum(c) || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		if !isTokenChar(s[i]) {
			return false
		}
	}
	return true
}

// hasControl reports whether s holds a control character other than tab:
// CR and LF would split a header, NUL would end it early.
func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f })
}

// validateVirtualServers checks every virtual server and that no two claim
// the same IPVS service.
func (d *decoder) validateVirtualServers(c *Config) {
	vss := c.VirtualServers
	d.uniqueNames(len(vss),
		func(i int) string { return vss[i].Name },
		func(i int) string { return fmt.Sprintf("virtual_servers[%d].name", i) })
	type owner struct {
		index int
		path  string
	}
	services := make(map[string]owner)
	for i := range vss {
		p := fmt.Sprintf("virtual_servers[%d]", i)
		key, keyPath := d.validateVirtualServer(&vss[i], p)
		if key == "" {
			continue
		}
		if o, dup := services[key]; dup {
			d.invalid(keyPath, "%s is already used by virtual server %q at line %d", key, vss[o.index].Name, d.lineOf(o.path))
			continue
		}
		services[key] = owner{i, keyPath}
	}
}

// vsIdentity is what validation learned about how a virtual server is
// identified; the checks of its real servers depend on it.
type vsIdentity struct {
	family string // "ipv4" or "ipv6"; "" when unknown (already reported)
	fwmark bool   // a firewall-mark service
	port   uint16 // the address's port; 0 for fwmark or all-ports services
}

// validateVirtualServer checks one virtual server at key path p. It returns
// the IPVS service it claims ("tcp/10.0.0.1:80", "fwmark 10 (ipv4)") and the
// key path that names it, or "" when that is unknown.
func (d *decoder) validateVirtualServer(vs *VirtualServer, p string) (key, keyPath string) {
	if vs.Name != "" && !validVSName(vs.Name) {
		d.invalid(p+".name", `must be 1..%d letters, digits, ".", "_" or "-", starting with a letter or digit, got %q`, maxVSName, vs.Name)
	}

	var id vsIdentity
	hasAddr, hasMark := d.set[p+".address"], d.set[p+".fwmark"]
	if !hasMark && !slices.Contains(protocols, vs.Protocol) {
		d.invalid(p+".protocol", "must be %s, got %q", wordList(protocols), vs.Protocol)
	}
	switch {
	case hasAddr && hasMark:
		d.invalid(p+".fwmark", "not allowed with address: a virtual server is an address or a firewall mark, not both")
	case !hasAddr && !hasMark:
		d.invalid(p+".address", "is required, or fwmark for a firewall-mark service")
	case hasMark:
		id.fwmark = true
		if vs.Fwmark == 0 {
			d.invalid(p+".fwmark", "must be 1..%d, got 0", uint32(math.MaxUint32))
		}
		if d.set[p+".protocol"] {
			d.invalid(p+".protocol", "not used with fwmark: a firewall-mark service takes whatever the mark was set on; remove it")
		}
		if vs.Family == "ipv4" || vs.Family == "ipv6" {
			id.family = vs.Family
		} else {
			d.invalid(p+".family", `must be "ipv4" or "ipv6", got %q`, vs.Family)
		}
		if vs.Fwmark != 0 && id.family != "" {
			key, keyPath = fmt.Sprintf("fwmark %d (%s)", vs.Fwmark, id.family), p+".fwmark"
		}
	default:
		if d.set[p+".family"] {
			d.invalid(p+".family", "only used with fwmark: an address service has its address's family")
		}
		a := vs.Address.Addr()
		if !a.IsValid() || !d.checkUnicast(p+".address", a) {
			break // not decoded (already reported) or not unicast
		}
		if vs.Address.Port() == 0 && vs.PersistenceTimeout == 0 {
			d.invalid(p+".address", "%s has no port: add one, or set persistence_timeout for an all-ports service", a)
			break
		}
		id.family, id.port = addrFamily(a), vs.Address.Port()
		if slices.Contains(protocols, vs.Protocol) {
			key, keyPath = vs.Protocol+"/"+vs.Address.String(), p+".address"
		}
	}

	if !slices.Contains(schedulers, vs.Scheduler) {
		d.invalid(p+".scheduler", "must be one of %s, got %q", strings.Join(schedulers, ", "), vs.Scheduler)
	}
	d.validateSchedulerFlags(vs, p, hasAddr && !hasMark)
	d.checkOneOf(p+".forwarding", vs.Forwarding, forwardings)
	d.validatePersistence(vs, p, id.family)
	if vs.Quorum < 1 {
		d.invalid(p+".quorum", "must be >= 1, got %d", vs.Quorum)
	}
	if vs.Hysteresis < 0 {
		d.invalid(p+".hysteresis", "must be >= 0, got %d", vs.Hysteresis)
	}
	if vs.SorryServer.IsValid() {
		d.checkServer(p+".sorry_server", vs.SorryServer, vs.SorryServerForwarding, id)
	}
	if d.set[p+".sorry_server_forwarding"] {
		if d.set[p+".sorry_server"] {
			d.checkOneOf(p+".sorry_server_forwarding", vs.SorryServerForwarding, forwardings)
		} else {
			d.invalid(p+".sorry_server_forwarding", "only used with sorry_server")
		}
	}
	d.checkDurationRange(p+".delay_loop", vs.DelayLoop, minDelayLoop, maxDelayLoop)
	d.checkDurationRange(p+".drain_grace", vs.DrainGrace, 0, maxDrainGrace)

	first := make(map[netip.AddrPort]string)
	for j := range vs.RealServers {
		rp := fmt.Sprintf("%s.real_servers[%d]", p, j)
		d.validateRealServer(&vs.RealServers[j], rp, id, first)
	}
	return key, keyPath
}

func (d *decoder) validateSchedulerFlags(vs *VirtualServer, p string, addrService bool) {
	names := make([]string, len(schedulerFlags))
	for i, f := range schedulerFlags {
		names[i] = f.name
	}
	seen := make(map[string]bool)
	for j, flag := range vs.SchedulerFlags {
		fp := fmt.Sprintf("%s.scheduler_flags[%d]", p, j)
		i := slices.Index(names, flag)
		switch {
		case i < 0:
			d.invalid(fp, "must be one of %s, got %q", wordList(names), flag)
		case seen[flag]:
			d.invalid(fp, "duplicate flag %q", flag)
		case schedulerFlags[i].scheduler != "" && vs.Scheduler != schedulerFlags[i].scheduler:
			d.invalid(fp, "%q only applies to the %s scheduler, got scheduler %q", flag, schedulerFlags[i].scheduler, vs.Scheduler)
		case flag == "ops" && addrService && vs.Protocol != "udp":
			d.invalid(fp, `"ops" (one-packet scheduling) only applies to udp and fwmark services, got protocol %q`, vs.Protocol)
		}
		seen[flag] = true
	}
}

// validatePersistence checks persistence_timeout and persistence_netmask
// for a service of family fam ("" if unknown).
func (d *decoder) validatePersistence(vs *VirtualServer, p, fam string) {
	pt := vs.PersistenceTimeout
	if pt < 0 || pt > maxPersistence || pt%time.Second != 0 {
		d.invalid(p+".persistence_timeout", "must be whole seconds in 0s..%s, got %s", maxPersistence, pt)
	}
	np := p + ".persistence_netmask"
	if !d.set[np] {
		return
	}
	bits := int(vs.PersistenceNetmask)
	raw, dotted := d.dottedMasks[np]
	if !dotted {
		raw = strconv.Itoa(bits)
	}
	switch {
	case pt <= 0:
		d.invalid(np, "only used with persistence_timeout > 0")
	case fam == "ipv6" && dotted:
		d.invalid(np, "a dotted netmask is for IPv4 services: give an IPv6 prefix length such as 64, got %s", raw)
	case fam == "ipv6" && (bits < 1 || bits > 128):
		d.invalid(np, "must be a prefix length 1..128, got %s", raw)
	case fam == "ipv4" && (bits < 1 || bits > 32):
		d.invalid(np, "must be a netmask of 1..32 bits, got %s", raw)
	}
}

func (d *decoder) checkOneOf(path, val string, allowed []string) {
	if !slices.Contains(allowed, val) {
		d.invalid(path, "must be %s, got %q", wordList(allowed), val)
	}
}

func (d *decoder) checkDurationRange(path string, v, lo, hi time.Duration) {
	if v < lo || v > hi {
		d.invalid(path, "must be %s..%s, got %s", lo, hi, v)
	}
}

// limitedBroadcast is 255.255.255.255, which no server has.
var limitedBroadcast = netip.AddrFrom4([4]byte{255, 255, 255, 255})

// checkUnicast reports whether a may be a service or server address.
func (d *decoder) checkUnicast(path string, a netip.Addr) bool {
	if a.IsUnspecified() || a.IsMulticast() || a == limitedBroadcast {
		d.invalid(path, "must be a unicast address, got %s", a)
		return false
	}
	return true
}

// checkServer checks the address of a real server or sorry server with
// forwarding method fwd against its virtual server, and reports whether it
// is fine.
func (d *decoder) checkServer(path string, ap netip.AddrPort, fwd string, id vsIdentity) bool {
	a := ap.Addr()
	if !d.checkUnicast(path, a) {
		return false
	}
	if id.family == "" {
		return true // the virtual server's identity is broken; already reported
	}
	if f := addrFamily(a); f != id.family {
		d.invalid(path, "%s address %s does not match the virtual server's family, %s", family(a), a, id.family)
		return false
	}
	if id.fwmark {
		return true // port 0 keeps the packet's port
	}
	tunneled := fwd == "dr" || fwd == "tun"
	switch {
	case ap.Port() == 0 && id.port != 0:
		d.invalid(path, "%s has no port: only servers of fwmark and all-ports services may omit it", a)
	case tunneled && ap.Port() != id.port && id.port == 0:
		// ipvsadm silently replaces the port with the service's.
		d.invalid(path, "%s forwarding cannot change the port: omit it, as the virtual server takes all ports, got %s", fwd, ap)
	case tunneled && ap.Port() != id.port:
		d.invalid(path, "%s forwarding cannot change the port: must be %d, the virtual server's, got %s", fwd, id.port, ap)
	default:
		return true
	}
	return false
}

// serverString renders a server address as written: without ":0" when it
// has no port.
func serverString(ap netip.AddrPort) string {
	if ap.Port() == 0 {
		return ap.Addr().String()
	}
	return ap.String()
}

// validateRealServer checks one real server at key path rp. first maps the
// real servers seen so far in the virtual server to their paths.
func (d *decoder) validateRealServer(rs *RealServer, rp string, id vsIdentity, first map[netip.AddrPort]string) {
	portless := false
	switch {
	case !d.set[rp+".address"]:
		d.invalid(rp+".address", "is required")
	case !rs.Address.IsValid():
		// not decoded; already reported
	case d.checkServer(rp+".address", rs.Address, rs.Forwarding, id):
		if f, dup := first[rs.Address]; dup {
			d.invalid(rp+".address", "duplicate real server %s, first at line %d", serverString(rs.Address), d.lineOf(f))
			break
		}
		first[rs.Address] = rp + ".address"
		portless = rs.Address.Port() == 0
	}
	if rs.Weight < 0 || rs.Weight > maxRSWeight {
		d.invalid(rp+".weight", "must be 0..%d, got %d", maxRSWeight, rs.Weight)
	}
	if d.set[rp+".forwarding"] {
		d.checkOneOf(rp+".forwarding", rs.Forwarding, forwardings)
	}
	switch lo, hi := rs.LowerThreshold, rs.UpperThreshold; {
	case lo > 0 && hi == 0:
		d.invalid(rp+".lower_threshold", "only used with upper_threshold > 0 (0 is no limit)")
	case lo > hi:
		d.invalid(rp+".lower_threshold", "must not exceed upper_threshold (%d), got %d", hi, lo)
	}
	for k := range rs.Checks {
		d.validateCheck(&rs.Checks[k], fmt.Sprintf("%s.checks[%d]", rp, k), portless)
	}
}

// validateCheck checks one health check at key path cp. portless says that
// its real server has no port, so a probe that connects needs connect_port.
func (d *decoder) validateCheck(ch *Check, cp string, portless bool) {
	block := "" // the sub-block the type needs
	typeOK := true
	switch ch.Type {
	case "tcp":
	case "http", "https":
		block = "http"
	case "mysql", "exec", "udp", "dns":
		block = ch.Type
	case "":
		typeOK = false
		d.invalid(cp+".type", "is required: %s", wordList(checkTypes))
	default:
		typeOK = false
		d.invalid(cp+".type", "must be %s, got %q", wordList(checkTypes), ch.Type)
	}
	blocks := []struct {
		key     string
		present bool
	}{
		{"mysql", ch.MySQL != nil}, {"http", ch.HTTP != nil}, {"exec", ch.Exec != nil},
		{"udp", ch.UDP != nil}, {"dns", ch.DNS != nil},
	}
	for _, b := range blocks {
		switch {
		case !typeOK:
		case b.present && b.key != block:
			d.invalid(cp+"."+b.key, "not used with type %q", ch.Type)
		case !b.present && b.key == block:
			hint := ""
			if block != "mysql" && block != "exec" {
				hint = " ({} for the defaults)"
			}
			d.invalid(cp+"."+b.key, "is required with type %q%s", ch.Type, hint)
		}
	}

	d.checkDurationRange(cp+".connect_timeout", ch.ConnectTimeout, minConnectTimeout, maxConnectTimeout)
	// Inherited values are checked where they are written.
	if d.set[cp+".delay_loop"] {
		d.checkDurationRange(cp+".delay_loop", ch.DelayLoop, minDelayLoop, maxDelayLoop)
	}
	if ch.Retries < 0 || ch.Retries > maxRetries {
		d.invalid(cp+".retries", "must be 0..%d, got %d", maxRetries, ch.Retries)
	}
	if d.set[cp+".retry_delay"] {
		d.checkDurationRange(cp+".retry_delay", ch.RetryDelay, 0, maxRetryDelay)
	}
	if d.set[cp+".warmup"] {
		d.checkDurationRange(cp+".warmup", ch.Warmup, 0, maxWarmup)
	}
	if ch.Rise < 1 {
		d.invalid(cp+".rise", "must be >= 1, got %d", ch.Rise)
	}
	if ch.Fall < 1 {
		d.invalid(cp+".fall", "must be >= 1, got %d", ch.Fall)
	}
	switch {
	case d.set[cp+".connect_port"] && ch.ConnectPort == 0:
		d.invalid(cp+".connect_port", "must be 1..65535, got 0")
	case portless && typeOK && ch.Type != "exec" && ch.ConnectPort == 0:
		d.invalid(cp+".connect_port", "is required: the real server has no port to check")
	}

	if !typeOK {
		return
	}
	switch {
	case block == "mysql" && ch.MySQL != nil:
		d.validateMySQLCheck(ch.MySQL, cp+".mysql")
	case block == "http" && ch.HTTP != nil:
		d.validateHTTPCheck(ch.HTTP, cp+".http", ch.Type == "https")
	case block == "exec" && ch.Exec != nil:
		d.checkArgv(cp+".exec.command", ch.Exec.Command, true)
	case block == "udp" && ch.UDP != nil:
		d.checkUDPData(cp+".udp.payload", ch.UDP.Payload)
		d.checkUDPData(cp+".udp.expect", ch.UDP.Expect)
	case block == "dns" && ch.DNS != nil:
		n, np := ch.DNS, cp+".dns"
		if problem := dnsNameProblem(n.Name); problem != "" {
			d.invalid(np+".name", "%q is not a domain name: %s", n.Name, problem)
		}
		d.checkOneOf(np+".type", n.Type, dnsTypes)
		d.checkOneOf(np+".expect_rcode", n.ExpectRcode, dnsRcodes)
	}
}

func (d *decoder) validateMySQLCheck(m *MySQLCheck, mp string) {
	switch {
	case !d.set[mp+".user"]:
		d.invalid(mp+".user", "is required")
	case m.User == "":
		d.invalid(mp+".user", "must not be empty")
	}
	switch {
	case d.set[mp+".password"] && d.set[mp+".password_file"]:
		d.invalid(mp+".password_file", "not allowed with password: give one or the other")
	case d.set[mp+".password_file"] && !filepath.IsAbs(m.PasswordFile):
		d.invalid(mp+".password_file", "must be an absolute path, got %q", m.PasswordFile)
	}
	if lag := m.MaxReplicaLag; lag < 0 || lag%time.Second != 0 {
		d.invalid(mp+".max_replica_lag", "must be whole seconds >= 0s (0s: not checked), got %s", lag)
	}
}

func (d *decoder) validateHTTPCheck(h *HTTPCheck, hp string, https bool) {
	d.checkOneOf(hp+".method", h.Method, httpMethods)
	if !strings.HasPrefix(h.Path, "/") || strings.ContainsAny(h.Path, " #") || hasControl(h.Path) {
		d.invalid(hp+".path", `must start with "/" and contain no spaces, "#" or control characters, got %q`, h.Path)
	}
	if d.set[hp+".host"] && (h.Host == "" || strings.ContainsAny(h.Host, " /?#@") || hasControl(h.Host)) {
		d.invalid(hp+".host", "must be a host name or address, optionally with a port, got %q", h.Host)
	}
	if d.set[hp+".expect_status"] && len(h.ExpectStatus) == 0 {
		d.invalid(hp+".expect_status", "at least one status code or range is required")
	}
	if h.BodyPattern != "" {
		re, err := regexp.Compile(h.BodyPattern)
		if err != nil {
			d.invalid(hp+".body_regexp", "does not compile: %v", err)
		}
		h.bodyRegexp = re
	}
	if d.set[hp+".digest"] {
		if _, err := hex.DecodeString(h.Digest); err != nil || len(h.Digest) != 32 {
			d.invalid(hp+".digest", "must be 32 hex digits, the MD5 of the body as genhash prints it, got %q", h.Digest)
		} else {
			h.Digest = strings.ToLower(h.Digest)
		}
	}
	if h.Method == "HEAD" {
		for _, k := range []string{"body_regexp", "digest"} {
			if d.set[hp+"."+k] {
				d.invalid(hp+"."+k, "needs a response body, which method HEAD does not get")
			}
		}
	}
	d.validateHeaders(h.Headers, hp+".headers")

	for _, k := range []string{"tls_server_name", "tls_insecure_skip_verify", "tls_ca_file"} {
		if d.set[hp+"."+k] && !https {
			d.invalid(hp+"."+k, `only used with type "https"`)
		}
	}
	if !https {
		return
	}
	if d.set[hp+".tls_server_name"] && (h.TLSServerName == "" || strings.ContainsAny(h.TLSServerName, " /:") || hasControl(h.TLSServerName)) {
		d.invalid(hp+".tls_server_name", "must be a host name, got %q", h.TLSServerName)
	}
	if d.set[hp+".tls_ca_file"] {
		switch {
		case !filepath.IsAbs(h.TLSCAFile):
			d.invalid(hp+".tls_ca_file", "must be an absolute path, got %q", h.TLSCAFile)
		case h.TLSInsecureSkipVerify:
			d.invalid(hp+".tls_ca_file", "not used with tls_insecure_skip_verify: true, which verifies nothing")
		}
	}
}

// validateHeaders checks header names and values, in file order so that
// "first at line" names the earlier one.
func (d *decoder) validateHeaders(headers map[string]string, hp string) {
	names := slices.SortedFunc(maps.Keys(headers), func(a, b string) int {
		return cmp.Or(cmp.Compare(d.lines[joinPath(hp, a)], d.lines[joinPath(hp, b)]), strings.Compare(a, b))
	})
	firstOf := make(map[string]string) // canonical name -> path
	for _, name := range names {
		path := joinPath(hp, name)
		canon := textproto.CanonicalMIMEHeaderKey(name)
		switch f, dup := firstOf[canon]; {
		case !validHeaderName(name):
			d.invalid(path, `%q is not a header name: use letters, digits and !#$%%&'*+-.^_`+"`"+`|~`, name)
		case canon == "Host":
			d.invalid(path, "set the Host header with host:")
		case dup:
			d.invalid(path, "duplicate header %q, first at line %d (header names ignore case)", name, d.lineOf(f))
		default:
			firstOf[canon] = path
		}
		if hasControl(headers[name]) {
			d.invalid(path, "value must not contain control characters such as CR or LF, got %q", headers[name])
		}
	}
}

func (d *decoder) checkUDPData(path, s string) {
	b, err := parseUDPData(s)
	switch {
	case err != nil:
		d.invalid(path, "%v", err)
	case len(b) > maxUDPPayload:
		d.invalid(path, "must be at most %d bytes, got %d", maxUDPPayload, len(b))
	}
}
