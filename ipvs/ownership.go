package ipvs

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/netip"
	"os"
	"slices"
	"time"

	"github.com/vigil-lb/vigil/internal/atomicfile"
)

// StateFile is the name of the ownership file in the state directory.
const StateFile = "ipvs.json"

// stateVersion is the ownership file's format version.
const stateVersion = 1

// stateDoc is the ownership file:
//
//	{
//	  "version": 1,
//	  "services": ["tcp/192.0.2.1:80", "fwmark4/10"],
//	  "drains": [
//	    {"service": "tcp/192.0.2.1:80", "destination": "10.0.0.3:80", "deadline": "2025-01-02T03:04:05Z"},
//	    {"service": "udp/192.0.2.1:53", "deadline": "2025-01-02T03:04:35Z"}
//	  ]
//	}
//
// services are the keys vigil created or adopted; a drain without a
// destination drains the whole service.
type stateDoc struct {
	Version  int           `json:"version"`
	Services []ServiceKey  `json:"services"`
	Drains   []drainRecord `json:"drains,omitempty"`
}

type drainRecord struct {
	Service     ServiceKey     `json:"service"`
	Destination netip.AddrPort `json:"destination,omitzero"`
	Deadline    time.Time      `json:"deadline"`
}

// drainKey names a pending drain: a destination, or with a zero dest the
// whole service.
type drainKey struct {
	svc  ServiceKey
	dest netip.AddrPort
}

// ownership is what vigil owns in the kernel and which removals are
// pending, optionally persisted to a file.
type ownership struct {
	path   string // "" when not persisted
	owned  map[ServiceKey]bool
	drains map[drainKey]time.Time
}

func newOwnership(path string) *ownership {
	return &ownership{path: path, owned: map[ServiceKey]bool{}, drains: map[drainKey]time.Time{}}
}

// loadOwnership reads the file at path; a missing file is an empty record.
func loadOwnership(path string) (*ownership, error) {
	o := newOwnership(path)
	if path == "" {
		return o, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return o, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading ipvs ownership: %w", err)
	}
	var doc stateDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("reading ipvs ownership %q: %w (removing the file is safe: vigil then adopts the services it is configured with and leaves the rest alone)", path, err)
	}
	if doc.Version != stateVersion {
		return nil, fmt.Errorf("reading ipvs ownership %q: unsupported version %d", path, doc.Version)
	}
	// JSON null and missing fields decode to zero values without
	// ServiceKey.UnmarshalText: check every entry, or a record that
	// loads would be saved as one that does not.
	for i, k := range doc.Services {
		if err := k.Validate(); err != nil {
			return nil, fmt.Errorf("reading ipvs ownership %q: services[%d]: %w", path, i, err)
		}
		o.owned[k] = true
	}
	for i, d := range doc.Drains {
		if err := d.Service.Validate(); err != nil {
			return nil, fmt.Errorf("reading ipvs ownership %q: drains[%d].service: %w", path, i, err)
		}
		if d.Deadline.IsZero() {
			return nil, fmt.Errorf("reading ipvs ownership %q: drains[%d].deadline: missing", path, i)
		}
		// The file holds deadlines in UTC (doc); one that cannot be
		// written so (a year outside 0..9999 once in UTC) would make
		// every later save fail.
		if _, err := d.Deadline.UTC().MarshalText(); err != nil {
			return nil, fmt.Errorf("reading ipvs ownership %q: drains[%d].deadline: %w", path, i, err)
		}
		o.drains[drainKey{d.Service, d.Destination}] = d.Deadline
	}
	return o, nil
}

// doc returns the record in its file form, sorted so that equal records
// give equal files.
func (o *ownership) doc() stateDoc {
	doc := stateDoc{Version: stateVersion, Services: slices.SortedFunc(maps.Keys(o.owned), ServiceKey.Compare)}
	for k, t := range o.drains {
		doc.Drains = append(doc.Drains, drainRecord{Service: k.svc, Destination: k.dest, Deadline: t.UTC()})
	}
	slices.SortFunc(doc.Drains, func(a, b drainRecord) int {
		if c := a.Service.Compare(b.Service); c != 0 {
			return c
		}
		return a.Destination.Compare(b.Destination)
	})
	return doc
}

// save writes the record atomically; it does nothing when not persisted.
func (o *ownership) save() error {
	if o.path == "" {
		return nil
	}
	b, err := json.MarshalIndent(o.doc(), "", "  ")
	if err != nil {
		return fmt.Errorf("encoding ipvs ownership: %w", err)
	}
	if err := atomicfile.WriteFile(o.path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing ipvs ownership: %w", err)
	}
	return nil
}
