package config

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Load reads and parses the configuration file at path. Every error message
// starts with path; see Parse.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("%s: %s: %w", path, pe.Op, pe.Err)
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return Parse(data, path)
}

// Parse decodes, defaults and validates one YAML document. filename is used
// only in error messages. On failure the error joins (errors.Join) every
// problem found, sorted by line, each formatted as
//
//	<filename>:<line>: <key path>: <message>
//
// and no Config is returned.
func Parse(data []byte, filename string) (*Config, error) {
	root, perr := parseDocument(data, filename)
	if perr != nil {
		return nil, perr
	}

	d := newDecoder(filename)
	d.lines[""] = root.Line
	var c Config
	if root.Kind != yaml.MappingNode {
		_, keys := yamlKeys(reflect.TypeFor[Config]())
		d.errorAt(root.Line, "", "must be a mapping with the keys %s, got %s", strings.Join(keys, ", "), describe(root))
		return nil, d.err()
	}
	d.decode(root, reflect.ValueOf(&c).Elem(), "")
	if d.tooLarge {
		return nil, d.err() // validating an alias bomb would only repeat itself
	}
	d.applyDefaults(&c)
	d.validate(&c)
	if err := d.err(); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	c.Hash = hex.EncodeToString(sum[:])
	return &c, nil
}

// err returns every recorded error sorted by line, or nil.
func (d *decoder) err() error {
	if len(d.errs) == 0 {
		return nil
	}
	slices.SortStableFunc(d.errs, func(a, b *posError) int { return cmp.Compare(a.line, b.line) })
	errs := make([]error, 0, len(d.errs))
	seen := make(map[string]bool)
	for _, e := range d.errs {
		if s := e.Error(); !seen[s] {
			seen[s] = true
			errs = append(errs, e)
		}
	}
	return errors.Join(errs...)
}

var yamlLineError = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseDocument returns the root node of the single YAML document in data.
func parseDocument(data []byte, filename string) (root *yaml.Node, err error) {
	syntaxError := func(err error) error {
		msg := strings.ReplaceAll(err.Error(), "\n", " ")
		if m := yamlLineError.FindStringSubmatch(msg); m != nil {
			line, _ := strconv.Atoi(m[1])
			return &posError{file: filename, line: line, msg: "invalid YAML: " + m[2]}
		}
		return &posError{file: filename, msg: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
	}
	// yaml.v3 has panicked on malformed input before (CVE-2022-28948); an operator's
	// typo must never take the daemon down.
	defer func() {
		if r := recover(); r != nil {
			root, err = nil, &posError{file: filename, msg: fmt.Sprintf("invalid YAML: %v", r)}
		}
	}()

	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &posError{file: filename, msg: "empty configuration: at least one vrrp_instance is required"}
		}
		return nil, syntaxError(err)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == nil:
		return nil, &posError{file: filename, line: next.Line, msg: "multiple YAML documents; the configuration must be exactly one"}
	case !errors.Is(err, io.EOF):
		return nil, syntaxError(err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || isNull(doc.Content[0]) {
		return nil, &posError{file: filename, line: doc.Line, msg: "empty configuration: at least one vrrp_instance is required"}
	}
	return doc.Content[0], nil
}

// Instance returns the VRRP instance called name.
func (c *Config) Instance(name string) (*VRRPInstance, bool) {
	for i := range c.VRRPInstances {
		if c.VRRPInstances[i].Name == name {
			return &c.VRRPInstances[i], true
		}
	}
	return nil, false
}

// Script returns the VRRP script called name.
func (c *Config) Script(name string) (*VRRPScript, bool) {
	for i := range c.VRRPScripts {
		if c.VRRPScripts[i].Name == name {
			return &c.VRRPScripts[i], true
		}
	}
	return nil, false
}

// VirtualServer returns the virtual server called name.
func (c *Config) VirtualServer(name string) (*VirtualServer, bool) {
	for i := range c.VirtualServers {
		if c.VirtualServers[i].Name == name {
			return &c.VirtualServers[i], true
		}
	}
	return nil, false
}
