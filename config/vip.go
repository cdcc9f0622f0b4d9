package config

import (
	"fmt"
	"net/netip"
	"strings"
)

// maxIfNameLen is the longest interface name or address label the kernel
// accepts (IFNAMSIZ - 1).
const maxIfNameLen = 15

// vipScopes are the address scopes a VIP may name.
var vipScopes = []string{"global", "site", "link", "host"}

// parseVIP parses keepalived's virtual_ipaddress syntax:
//
//	<addr>[/<len>] [dev <if>] [label <label>] [brd <addr>] [scope global|site|link|host]
//
// Without a length the prefix is a host route, /32 or /128, as in
// keepalived. Scope defaults to "global"; Dev is left empty for the caller to
// default to the instance's interface. Errors name the offending token.
func parseVIP(s string) (VIP, error) {
	tokens := strings.Fields(s)
	if len(tokens) == 0 {
		return VIP{}, fmt.Errorf(`must be "<addr>[/<len>] [dev <if>] [label <label>] [brd <addr>] [scope <scope>]", got %q`, s)
	}
	var v VIP
	p, err := parseVIPPrefix(tokens[0])
	if err != nil {
		return VIP{}, err
	}
	v.Prefix = p
	ipv4 := p.Addr().Is4()

	seen := make(map[string]bool)
	for i := 1; i < len(tokens); i += 2 {
		opt := tokens[i]
		switch opt {
		case "dev", "label", "brd", "scope":
		default:
			return VIP{}, fmt.Errorf("unknown option %q: want dev, label, brd or scope", opt)
		}
		if seen[opt] {
			return VIP{}, fmt.Errorf("option %q given twice", opt)
		}
		seen[opt] = true
		if i+1 >= len(tokens) {
			return VIP{}, fmt.Errorf("option %q needs a value", opt)
		}
		val := tokens[i+1]
		switch opt {
		case "dev":
			if problem := ifNameProblem(val); problem != "" {
				return VIP{}, fmt.Errorf("dev %q: %s", val, problem)
			}
			v.Dev = val
		case "label":
			if !ipv4 {
				return VIP{}, fmt.Errorf("label %q: labels are only valid for IPv4 addresses", val)
			}
			if len(val) > maxIfNameLen {
				return VIP{}, fmt.Errorf("label %q: must be at most %d bytes, got %d", val, maxIfNameLen, len(val))
			}
			v.Label = val
		case "brd":
			if !ipv4 {
				return VIP{}, fmt.Errorf("brd %q: a broadcast address is only valid for IPv4 addresses", val)
			}
			b, err := netip.ParseAddr(val)
			if err != nil || !b.Is4() {
				return VIP{}, fmt.Errorf("brd %q: must be an IPv4 address", val)
			}
			v.Broadcast = b
		case "scope":
			if !isScope(val) {
				return VIP{}, fmt.Errorf("scope %q: must be global, site, link or host", val)
			}
			v.Scope = val
		}
	}
	if v.Scope == "" {
		v.Scope = "global"
	}
	return v, nil
}

// parseVIPPrefix parses "<addr>" or "<addr>/<len>".
func parseVIPPrefix(tok string) (netip.Prefix, error) {
	addrPart, _, hasLen := strings.Cut(tok, "/")
	a, err := netip.ParseAddr(addrPart)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("address %q: must be an IPv4 or IPv6 address, optionally with /<len>", tok)
	}
	if a.IsUnspecified() || a.IsMulticast() {
		return netip.Prefix{}, fmt.Errorf("address %q: must be a unicast address", tok)
	}
	if !hasLen {
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(tok)
	if err != nil || p.Bits() < 1 {
		return netip.Prefix{}, fmt.Errorf("address %q: prefix length must be 1..%d", tok, a.BitLen())
	}
	return p, nil
}

func isScope(s string) bool {
	for _, sc := range vipScopes {
		if s == sc {
			return true
		}
	}
	return false
}

// ifNameProblem says why s is not a valid Linux interface name (the kernel's
// dev_valid_name), or returns "".
func ifNameProblem(s string) string {
	switch {
	case s == "":
		return "must not be empty"
	case len(s) > maxIfNameLen:
		return fmt.Sprintf("must be at most %d bytes, got %d", maxIfNameLen, len(s))
	case s == "." || s == "..":
		return `must not be "." or ".."`
	case strings.ContainsAny(s, "/: \t\n\v\f\r"):
		return `must not contain "/", ":" or whitespace`
	}
	return ""
}

// String returns v in keepalived's virtual_ipaddress syntax; Parse accepts
// the result and yields v again.
func (v VIP) String() string {
	var b strings.Builder
	b.WriteString(v.Prefix.String())
	if v.Dev != "" {
		b.WriteString(" dev ")
		b.WriteString(v.Dev)
	}
	if v.Label != "" {
		b.WriteString(" label ")
		b.WriteString(v.Label)
	}
	if v.Broadcast.IsValid() {
		b.WriteString(" brd ")
		b.WriteString(v.Broadcast.String())
	}
	if v.Scope != "" {
		b.WriteString(" scope ")
		b.WriteString(v.Scope)
	}
	return b.String()
}
