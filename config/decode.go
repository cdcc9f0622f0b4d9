package config

import (
	"fmt"
	"math"
	"net/netip"
	"reflect"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// maxNodes bounds how many YAML nodes one document may expand to through
// aliases; it stops "billion laughs" documents. A config with thousands of
// instances stays far below it.
const maxNodes = 1 << 18

var (
	durationType    = reflect.TypeFor[time.Duration]()
	addrType        = reflect.TypeFor[netip.Addr]()
	addrPortType    = reflect.TypeFor[netip.AddrPort]()
	vipType         = reflect.TypeFor[VIP]()
	netmaskType     = reflect.TypeFor[Netmask]()
	statusRangeType = reflect.TypeFor[StatusRange]()
)

// posError is one problem found in a configuration file.
type posError struct {
	file string
	line int    // 0 when no line applies
	path string // key path such as vrrp_instances[0].priority; "" for the document
	msg  string
}

func (e *posError) Error() string {
	var b strings.Builder
	b.WriteString(e.file)
	if e.line > 0 {
		fmt.Fprintf(&b, ":%d", e.line)
	}
	b.WriteString(": ")
	if e.path != "" {
		b.WriteString(e.path)
		b.WriteString(": ")
	}
	b.WriteString(e.msg)
	return b.String()
}

// decoder walks a yaml.Node tree into Go values by reflection over the yaml
// struct tags, so a new configuration section is one new struct field. It
// never stops at the first problem: it records every error, the line of every
// key path (for validation messages) and which paths were given a value (so
// defaults never override an explicit zero).
type decoder struct {
	file  string
	lines map[string]int  // key path -> line of its key (or of its list item)
	set   map[string]bool // key paths given a non-null value
	bad   map[string]bool // key paths whose value could not be decoded
	errs  []*posError

	// dottedMasks maps the path of every Netmask written as a dotted IPv4
	// mask to its text: validation rejects that form for IPv6 services.
	dottedMasks map[string]string

	nodes    int  // values decoded so far, at most maxNodes
	tooLarge bool // maxNodes was reached; decoding stopped
}

func newDecoder(file string) *decoder {
	return &decoder{
		file:  file,
		lines: make(map[string]int),
		set:   make(map[string]bool),
		bad:   make(map[string]bool),

		dottedMasks: make(map[string]string),
	}
}

// errorAt records an error at an explicit line.
func (d *decoder) errorAt(line int, path, format string, args ...any) {
	d.errs = append(d.errs, &posError{file: d.file, line: line, path: path, msg: fmt.Sprintf(format, args...)})
}

// invalid records a validation error for path at the line where path (or its
// nearest written ancestor) appears. Errors below a path whose value could
// not be decoded are dropped: they would only restate the decoding error.
func (d *decoder) invalid(path, format string, args ...any) {
	for p := path; ; p = parentPath(p) {
		if d.bad[p] {
			return
		}
		if p == "" {
			break
		}
	}
	d.errorAt(d.lineOf(path), path, format, args...)
}

// lineOf returns the line of path, or of its nearest ancestor present in the
// file (a missing key is reported where its enclosing block starts).
func (d *decoder) lineOf(path string) int {
	for p := path; ; p = parentPath(p) {
		if l, ok := d.lines[p]; ok {
			return l
		}
		if p == "" {
			return 0
		}
	}
}

// parentPath strips the last ".key" or "[i]" from path.
func parentPath(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// describe renders a node for "got ..." in messages: scalars quoted, other
// kinds by name.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "an unsupported YAML node"
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// typeError records that the value at path is not of the wanted shape.
func (d *decoder) typeError(n *yaml.Node, path, want string) {
	d.bad[path] = true
	d.errorAt(n.Line, path, "must be %s, got %s", want, describe(n))
}

// decode stores n into v, which must be settable. A null value leaves v
// untouched, so that defaults apply.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if d.nodes >= maxNodes {
		if !d.tooLarge {
			d.tooLarge = true
			d.errorAt(n.Line, path, "document too large: more than %d values after expanding aliases", maxNodes)
		}
		return
	}
	d.nodes++
	if isNull(n) {
		return
	}
	d.set[path] = true
	d.decodeValue(n, v, path)
}

// decodeValue stores the non-null node n into v.
func (d *decoder) decodeValue(n *yaml.Node, v reflect.Value, path string) {
	switch v.Type() {
	case durationType:
		dur, ok := scalarDuration(n)
		if !ok {
			d.typeError(n, path, `a duration like "100ms", "1s" or "2m", or a number of seconds`)
			return
		}
		v.SetInt(int64(dur))
		return
	case addrType:
		a, err := netip.ParseAddr(n.Value)
		if n.Kind != yaml.ScalarNode || err != nil {
			d.typeError(n, path, "an IP address")
			return
		}
		v.Set(reflect.ValueOf(a))
		return
	case vipType:
		if n.Kind != yaml.ScalarNode {
			d.typeError(n, path, `a string "<addr>[/<len>] [dev <if>] [label <label>] [brd <addr>] [scope <scope>]"`)
			return
		}
		vip, err := parseVIP(n.Value)
		if err != nil {
			d.bad[path] = true
			d.errorAt(n.Line, path, "%v", err)
			return
		}
		v.Set(reflect.ValueOf(vip))
		return
	case addrPortType:
		if n.Kind != yaml.ScalarNode {
			d.typeError(n, path, `an address with a port, "<addr>:<port>" or "[<ipv6>]:<port>"`)
			return
		}
		ap, err := parseAddrPort(n.Value)
		if err != nil {
			d.bad[path] = true
			d.errorAt(n.Line, path, "%v", err)
			return
		}
		v.Set(reflect.ValueOf(ap))
		return
	case netmaskType:
		bits, dotted, ok := scalarNetmask(n)
		if !ok {
			d.typeError(n, path, `a dotted IPv4 netmask like "255.255.255.0" or a prefix length like 64`)
			return
		}
		if dotted {
			d.dottedMasks[path] = n.Value
		}
		v.SetInt(int64(bits))
		return
	case statusRangeType:
		if n.Kind != yaml.ScalarNode {
			d.typeError(n, path, `a status code like 200 or a range like "200-299"`)
			return
		}
		r, err := parseStatusRange(n.Value)
		if err != nil {
			d.bad[path] = true
			d.errorAt(n.Line, path, "%v", err)
			return
		}
		v.Set(reflect.ValueOf(r))
		return
	}

	switch v.Kind() {
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Slice:
		d.decodeSlice(n, v, path)
	case reflect.Map:
		d.decodeMap(n, v, path)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		d.decodeValue(n, p.Elem(), path)
		v.Set(p)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.typeError(n, path, "a string")
			return
		}
		v.SetString(n.Value)
	case reflect.Int:
		var i int
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&i) != nil {
			d.typeError(n, path, "an integer")
			return
		}
		v.SetInt(int64(i))
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		var u uint64
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&u) != nil || v.OverflowUint(u) {
			d.typeError(n, path, fmt.Sprintf("an integer 0..%d", uint64(1)<<v.Type().Bits()-1))
			return
		}
		v.SetUint(u)
	case reflect.Bool:
		var b bool
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
			d.typeError(n, path, "true or false")
			return
		}
		v.SetBool(b)
	default:
		// Unreachable for the types in this package; a field of a new
		// kind must extend this switch.
		panic(fmt.Sprintf("config: cannot decode into %s", v.Type()))
	}
}

// scalarDuration accepts a Go duration string ("100ms", "1s", "2m") or a
// plain number of seconds (keepalived's advert_int 1 or 0.1).
func scalarDuration(n *yaml.Node) (time.Duration, bool) {
	if n.Kind != yaml.ScalarNode {
		return 0, false
	}
	switch n.ShortTag() {
	case "!!int", "!!float":
		var secs float64
		if err := n.Decode(&secs); err != nil {
			return 0, false
		}
		ns := math.Round(secs * float64(time.Second))
		if math.IsNaN(ns) || ns >= math.MaxInt64 || ns <= math.MinInt64 {
			return 0, false
		}
		return time.Duration(ns), true
	case "!!str":
		dur, err := time.ParseDuration(n.Value)
		return dur, err == nil
	}
	return 0, false
}

// scalarNetmask accepts a prefix length (24, 64) or a dotted IPv4 netmask
// ("255.255.255.0"), which must be contiguous; dotted reports the latter.
// The length's range depends on the address family and is validated later.
func scalarNetmask(n *yaml.Node) (bits int, dotted, ok bool) {
	if n.Kind != yaml.ScalarNode {
		return 0, false, false
	}
	switch n.ShortTag() {
	case "!!int":
		if err := n.Decode(&bits); err != nil {
			return 0, false, false
		}
		return bits, false, true
	case "!!str":
		a, err := netip.ParseAddr(n.Value)
		if err != nil || !a.Is4() {
			return 0, false, false
		}
		b := a.As4()
		m := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		ones := 0
		for ones < 32 && m&(1<<(31-ones)) != 0 {
			ones++
		}
		if ones < 32 && m<<ones != 0 {
			return 0, false, false // not contiguous, such as 255.0.255.0
		}
		return ones, true, true
	}
	return 0, false, false
}

// yamlKeys returns the yaml keys of struct type t, mapped to field indexes.
func yamlKeys(t reflect.Type) (map[string]int, []string) {
	idx := make(map[string]int)
	var keys []string
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || tag == "" || tag == "-" {
			continue
		}
		idx[tag] = i
		keys = append(keys, tag)
	}
	return idx, keys
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.typeError(n, path, "a mapping")
		return
	}
	fields, _ := yamlKeys(v.Type())
	seen := make(map[string]int)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.AliasNode && k.Alias != nil {
			k = k.Alias
		}
		if k.Kind != yaml.ScalarNode {
			d.errorAt(k.Line, path, "keys must be strings, got %s", describe(k))
			continue
		}
		key := k.Value
		if first, dup := seen[key]; dup {
			d.errorAt(k.Line, path, "duplicate key %q, first at line %d", key, first)
			continue
		}
		seen[key] = k.Line
		fi, ok := fields[key]
		if !ok {
			if k.ShortTag() == "!!merge" {
				d.errorAt(k.Line, path, `merge keys ("<<") are not supported: write the keys out`)
			} else {
				d.errorAt(k.Line, path, "unknown key %q", key)
			}
			continue
		}
		fp := joinPath(path, key)
		d.lines[fp] = k.Line
		d.decode(val, v.Field(fi), fp)
	}
}

// decodeMap decodes a mapping with string keys, such as HTTP headers. Keys
// are case-sensitive here; a map's own validation may fold them.
func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.typeError(n, path, "a mapping")
		return
	}
	m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
	seen := make(map[string]int)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.AliasNode && k.Alias != nil {
			k = k.Alias
		}
		switch {
		case k.Kind != yaml.ScalarNode:
			d.errorAt(k.Line, path, "keys must be strings, got %s", describe(k))
			continue
		case k.ShortTag() == "!!merge":
			d.errorAt(k.Line, path, `merge keys ("<<") are not supported: write the keys out`)
			continue
		}
		key := k.Value
		if first, dup := seen[key]; dup {
			d.errorAt(k.Line, path, "duplicate key %q, first at line %d", key, first)
			continue
		}
		seen[key] = k.Line
		fp := joinPath(path, key)
		d.lines[fp] = k.Line
		if isNull(val) {
			d.bad[fp] = true
			d.errorAt(k.Line, fp, `must not be empty: give a value ("" for an empty one)`)
			continue
		}
		e := reflect.New(v.Type().Elem()).Elem()
		d.decode(val, e, fp)
		m.SetMapIndex(reflect.ValueOf(key).Convert(v.Type().Key()), e)
	}
	v.Set(m)
}

func (d *decoder) decodeSlice(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		d.typeError(n, path, "a list")
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		ip := fmt.Sprintf("%s[%d]", path, i)
		d.lines[ip] = item.Line
		if isNull(item) {
			d.bad[ip] = true
			d.errorAt(item.Line, ip, "must not be empty: a list item needs a value")
			continue
		}
		d.decode(item, s.Index(i), ip)
	}
	v.Set(s)
}
