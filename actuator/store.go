package actuator

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/vigil-lb/vigil/internal/atomicfile"
)

// StateFile is the name of the actuator's state file in the state
// directory.
const StateFile = "actuator.json"

// stateVersion is the state file's format version.
const stateVersion = 1

// handledTTL is how long a webhook action is remembered, after the alert
// was last seen firing, to recognise Alertmanager's re-sends. A resolved
// alert is forgotten at once.
const handledTTL = 24 * time.Hour

// seenPersistEvery bounds how stale a remembered action's last-seen time
// may be in the file: refreshing it on every re-send would write the file
// on every notification.
const seenPersistEvery = time.Hour

// Override is an active override of a real server (drain, weight) or a
// VRRP instance (hold).
type Override struct {
	Kind   OverrideKind `json:"kind"`
	Target Target       `json:"target"`
	// Weight is a weight override's weight.
	Weight *int `json:"weight,omitempty"`
	// Since is when the override got its current value and owner.
	Since  time.Time `json:"since"`
	Source Source    `json:"source"`
	Who    string    `json:"who,omitempty"`
	Reason string    `json:"reason,omitempty"`
	// Alerts are the firing alerts that want the override, while its
	// Source is the webhook. When the last one resolves (and its rule
	// says undo) the override is removed; an operator's override is never
	// removed by an alert.
	Alerts []AlertRef `json:"alerts,omitempty"`
	// UndoAt is set when every alert behind the override resolved but
	// the cooldown defers its removal: it is removed then, unless an
	// alert or an operator claims it first. UndoFor is the last alert.
	UndoAt  time.Time `json:"undo_at,omitzero"`
	UndoFor AlertRef  `json:"undo_for,omitzero"`
}

func (o Override) key() overrideKey { return overrideKey{o.Kind, o.Target} }

func (o Override) clone() Override {
	o.Alerts = slices.Clone(o.Alerts)
	if o.Weight != nil {
		w := *o.Weight
		o.Weight = &w
	}
	return o
}

type overrideKey struct {
	kind   OverrideKind
	target Target
}

// handledKey identifies a webhook action for idempotency.
type handledKey struct {
	alert  AlertRef
	target Target
}

// handled remembers a webhook action that was done (or found done).
type handled struct {
	Action   Action    `json:"action"`
	Undo     bool      `json:"undo,omitempty"`
	DryRun   bool      `json:"dry_run,omitempty"`
	At       time.Time `json:"at"`
	LastSeen time.Time `json:"last_seen"`
}

// cooldownKey is what the cooldown is kept for: a kind of change to a
// target ("drain", "weight", "vrrp").
type cooldownKey struct {
	class  string
	target Target
}

// state is everything the actuator keeps across restarts.
type state struct {
	overrides map[overrideKey]Override
	handled   map[handledKey]handled
	changed   map[cooldownKey]time.Time // last change, for the cooldown
	automated []time.Time               // automated actions, for the rate limit
}

func newState() state {
	return state{overrides: map[overrideKey]Override{}, handled: map[handledKey]handled{}, changed: map[cooldownKey]time.Time{}}
}

func (s state) clone() state {
	c := state{
		overrides: make(map[overrideKey]Override, len(s.overrides)),
		handled:   maps.Clone(s.handled),
		changed:   maps.Clone(s.changed),
		automated: slices.Clone(s.automated),
	}
	for k, o := range s.overrides {
		c.overrides[k] = o.clone()
	}
	return c
}

// list returns the overrides sorted by kind and target.
func (s state) list() []Override {
	out := make([]Override, 0, len(s.overrides))
	for _, o := range s.overrides {
		out = append(out, o.clone())
	}
	slices.SortFunc(out, func(a, b Override) int {
		if a.Kind != b.Kind {
			return slices.Index(Kinds, a.Kind) - slices.Index(Kinds, b.Kind)
		}
		return a.Target.compare(b.Target)
	})
	return out
}

// realServerOverrides projects the drains and weights for the executor.
func (s state) realServerOverrides() map[RealServerRef]RealServerOverride {
	out := map[RealServerRef]RealServerOverride{}
	for k, o := range s.overrides {
		ref := RealServerRef{k.target.VirtualServer, k.target.RealServer}
		switch k.kind {
		case KindDrain:
			ro := out[ref]
			ro.Drain = true
			out[ref] = ro
		case KindWeight:
			ro := out[ref]
			w := *o.Weight
			ro.Weight = &w
			out[ref] = ro
		}
	}
	return out
}

// holds projects the held instances for the executor, sorted.
func (s state) holds() []string {
	out := []string{}
	for k := range s.overrides {
		if k.kind == KindHold {
			out = append(out, k.target.VRRPInstance)
		}
	}
	slices.Sort(out)
	return out
}

// stateDoc is the state file:
//
//	{
//	  "version": 1,
//	  "overrides": [{"kind": "drain", "target": {"virtual_server": "db", "real_server": "10.0.0.2:3306"},
//	                 "since": "...", "source": "webhook", "who": "vigil",
//	                 "alerts": [{"rule": "drain-lagging-replica", "fingerprint": "1a2b3c4d5e6f7a8b"}]}],
//	  "handled": [{"alert": {...}, "target": {...}, "action": "drain", "undo": true, "at": "...", "last_seen": "..."}],
//	  "cooldowns": [{"class": "drain", "target": {...}, "changed": "..."}],
//	  "automated": ["..."]
//	}
type stateDoc struct {
	Version   int             `json:"version"`
	Overrides []Override      `json:"overrides"`
	Handled   []handledRecord `json:"handled,omitempty"`
	Cooldowns []cooldownRec   `json:"cooldowns,omitempty"`
	Automated []time.Time     `json:"automated,omitempty"`
}

type handledRecord struct {
	Alert  AlertRef `json:"alert"`
	Target Target   `json:"target"`
	handled
}

type cooldownRec struct {
	Class   string    `json:"class"`
	Target  Target    `json:"target"`
	Changed time.Time `json:"changed"`
}

func (s state) doc() stateDoc {
	d := stateDoc{Version: stateVersion, Overrides: s.list(), Automated: slices.Clone(s.automated)}
	for k, h := range s.handled {
		d.Handled = append(d.Handled, handledRecord{Alert: k.alert, Target: k.target, handled: h})
	}
	slices.SortFunc(d.Handled, func(a, b handledRecord) int {
		if a.Alert != b.Alert {
			if a.Alert.Fingerprint != b.Alert.Fingerprint {
				return cmp.Compare(a.Alert.Fingerprint, b.Alert.Fingerprint)
			}
			return cmp.Compare(a.Alert.Rule, b.Alert.Rule)
		}
		return a.Target.compare(b.Target)
	})
	for k, t := range s.changed {
		d.Cooldowns = append(d.Cooldowns, cooldownRec{Class: k.class, Target: k.target, Changed: t})
	}
	slices.SortFunc(d.Cooldowns, func(a, b cooldownRec) int {
		if a.Class != b.Class {
			return cmp.Compare(a.Class, b.Class)
		}
		return a.Target.compare(b.Target)
	})
	return d
}

// Store keeps the actuator's state in memory and in a file: the overrides,
// the webhook actions already done (for idempotency), and the times the
// cooldown and the rate limit need. The Actuator serialises access.
type Store struct {
	path string
	cur  state
}

// OpenStore loads the store from dir/StateFile; a missing file is an empty
// store. The directory is created if needed.
func OpenStore(dir string) (*Store, error) {
	if dir == "" {
		return nil, errors.New("actuator state directory not set")
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("creating actuator state directory: %w", err)
	}
	s := &Store{path: filepath.Join(dir, StateFile), cur: newState()}
	b, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading actuator state: %w", err)
	}
	var d stateDoc
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("reading actuator state %q: %w (the file holds the operators' drains, weights and holds: repair it, or remove it to forget them)", s.path, err)
	}
	if d.Version != stateVersion {
		return nil, fmt.Errorf("reading actuator state %q: unsupported version %d", s.path, d.Version)
	}
	for _, o := range d.Overrides {
		if !slices.Contains(Kinds, o.Kind) || (o.Kind == KindWeight && o.Weight == nil) {
			return nil, fmt.Errorf("reading actuator state %q: bad override %+v", s.path, o)
		}
		s.cur.overrides[o.key()] = o
	}
	for _, h := range d.Handled {
		s.cur.handled[handledKey{h.Alert, h.Target}] = h.handled
	}
	for _, c := range d.Cooldowns {
		s.cur.changed[cooldownKey{c.Class, c.Target}] = c.Changed
	}
	s.cur.automated = d.Automated
	return s, nil
}

// Overrides lists the active overrides, sorted by kind and target.
func (s *Store) Overrides() []Override { return s.cur.list() }

// commit makes next the current state, writing it first: on error the
// current state stays.
func (s *Store) commit(next state) error {
	b, err := json.MarshalIndent(next.doc(), "", "  ")
	if err != nil {
		return fmt.Errorf("encoding actuator state: %w", err)
	}
	if err := atomicfile.WriteFile(s.path, append(b, '\n'), 0o640); err != nil {
		return fmt.Errorf("writing actuator state: %w", err)
	}
	s.cur = next
	return nil
}
