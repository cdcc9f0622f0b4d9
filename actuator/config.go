package actuator

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"text/template"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
	amtemplate "github.com/prometheus/alertmanager/template"
)

// DefaultFailoverHold is how long failover and resign hold off preemption
// when neither the rule nor the request says: without a hold, a node with
// the higher priority would take mastership straight back.
const DefaultFailoverHold = 5 * time.Minute

// SelfLabel is the alert label that only_self rules compare with this
// node's router_id.
const SelfLabel = "director"

// maxWeight is the largest weight IPVS accepts.
const maxWeight = math.MaxInt32

// Config is the actuator section of the configuration:
//
//	actuator:
//	  enabled: true
//	  dry_run: false
//	  auth: { bearer_token_file: /etc/vigil/webhook.token }
//	  rules:
//	    - name: drain-lagging-replica
//	      match: ['alertname="MySQLReplicaLag"', 'severity=~"warning|critical"']
//	      action: drain
//	      target: { virtual_server: '{{ .Labels.virtual_server }}', real_server: '{{ .Labels.real_server }}' }
//	      on_resolved: undo
//	  guards:
//	    min_healthy_per_virtual_server: 1
//	    max_concurrent_actions: 2
//	    cooldown: 5m
//	    rate_limit: { actions: 10, per: 1h }
//
// Start from DefaultConfig: its zero value has no guards.
type Config struct {
	// Enabled lets Alertmanager's webhook act. The API works either way,
	// so operators can always see and clear overrides.
	Enabled bool `yaml:"enabled"`
	// DryRun evaluates webhook requests, guards included, and changes
	// nothing. API requests have their own dry_run.
	DryRun bool        `yaml:"dry_run"`
	Auth   Auth        `yaml:"auth"`
	Rules  []Rule      `yaml:"rules"`
	Guards GuardConfig `yaml:"guards"`
}

// Auth is how webhook and API requests authenticate.
type Auth struct {
	// BearerTokenFile holds the token that requests must present as
	// "Authorization: Bearer <token>". Surrounding whitespace is ignored.
	// Without it every request is refused, unless Disabled.
	BearerTokenFile string `yaml:"bearer_token_file"`
	// Disabled accepts requests without a token: only for listeners that
	// authenticate themselves (exporter-toolkit's basic auth or client
	// certificates).
	Disabled bool `yaml:"disabled"`
}

// Rule maps matching alerts to an action.
type Rule struct {
	Name string `yaml:"name"`
	// Match are Alertmanager matchers ('alertname="X"', 'severity=~"a|b"',
	// or several in one string as '{a="b", c!="d"}'); an alert matches
	// when its labels satisfy all of them.
	Match []string `yaml:"match"`
	// OnlySelf acts only on alerts whose SelfLabel label is this node's
	// router_id.
	OnlySelf bool   `yaml:"only_self"`
	Action   Action `yaml:"action"`
	// Target fields are Go templates over the alert: .Labels,
	// .Annotations, .Status, .Fingerprint, .StartsAt, .EndsAt,
	// .GeneratorURL, and the notification's .Receiver, .GroupLabels,
	// .CommonLabels, .CommonAnnotations and .ExternalURL, with
	// Alertmanager's template functions. A missing label is an error.
	Target TargetTemplate `yaml:"target"`
	// Weight is set_weight's weight (required for it).
	Weight *int `yaml:"weight"`
	// Hold is how long failover and resign hold off preemption; 0 is
	// DefaultFailoverHold.
	Hold time.Duration `yaml:"hold"`
	// OnResolved is "undo" or "keep"; "" is undo for the actions that
	// leave an override (drain, set_weight, hold) and keep for the others,
	// which cannot be undone.
	OnResolved string `yaml:"on_resolved"`
}

// TargetTemplate is a rule's target; each field is a template.
type TargetTemplate struct {
	VirtualServer string `yaml:"virtual_server"`
	RealServer    string `yaml:"real_server"`
	VRRPInstance  string `yaml:"vrrp_instance"`
}

// GuardConfig limits what actions may do. A zero field disables its guard.
type GuardConfig struct {
	// MinHealthyPerVirtualServer refuses a drain (or a weight of 0) that
	// would leave fewer real servers serving (up, weight above 0) in the
	// virtual server.
	MinHealthyPerVirtualServer int `yaml:"min_healthy_per_virtual_server"`
	// MaxConcurrentActions refuses a new override (drain, weight or hold)
	// while that many are active.
	MaxConcurrentActions int `yaml:"max_concurrent_actions"`
	// Cooldown refuses an automated change of a target within Cooldown of
	// the previous change of the same kind of the same target, and
	// defers the undo of a resolved alert's action until then.
	Cooldown time.Duration `yaml:"cooldown"`
	// RateLimit caps automated actions.
	RateLimit RateLimit `yaml:"rate_limit"`
}

// RateLimit allows at most Actions automated actions in any window of
// length Per.
type RateLimit struct {
	Actions int           `yaml:"actions"`
	Per     time.Duration `yaml:"per"`
}

// DefaultConfig is the configuration the actuator section starts from:
// disabled, with the guards of the documentation's example.
func DefaultConfig() Config {
	return Config{Guards: GuardConfig{
		MinHealthyPerVirtualServer: 1,
		MaxConcurrentActions:       2,
		Cooldown:                   5 * time.Minute,
		RateLimit:                  RateLimit{Actions: 10, Per: time.Hour},
	}}
}

// On-resolved policies.
const (
	OnResolvedUndo = "undo"
	OnResolvedKeep = "keep"
)

// Validate reports every problem of the configuration, one per line,
// naming the key ("actuator.rules[0].action: ..."). It reads no files.
func (c Config) Validate() error {
	_, err := compile(c)
	return err
}

// compiled is a validated configuration, ready to use.
type compiled struct {
	cfg    Config
	rules  []*rule
	token  []byte // nil: no token configured
	noAuth bool
}

// rule is a compiled Rule.
type rule struct {
	Rule
	matchers labels.Matchers
	vs, rs   *template.Template // nil: empty field
	instance *template.Template
	undo     bool
	hold     time.Duration
}

func compile(c Config) (*compiled, error) {
	var errs []error
	fail := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("actuator.%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if c.Enabled && c.Auth.BearerTokenFile == "" && !c.Auth.Disabled {
		fail("auth", "an enabled actuator needs bearer_token_file (or disabled: true behind a listener that authenticates)")
	}
	if c.Auth.BearerTokenFile != "" && c.Auth.Disabled {
		fail("auth", "bearer_token_file and disabled: true exclude each other")
	}
	g := c.Guards
	if g.MinHealthyPerVirtualServer < 0 {
		fail("guards.min_healthy_per_virtual_server", "must not be negative, got %d", g.MinHealthyPerVirtualServer)
	}
	if g.MaxConcurrentActions < 0 {
		fail("guards.max_concurrent_actions", "must not be negative, got %d", g.MaxConcurrentActions)
	}
	if g.Cooldown < 0 {
		fail("guards.cooldown", "must not be negative, got %s", g.Cooldown)
	}
	if g.RateLimit.Actions < 0 {
		fail("guards.rate_limit.actions", "must not be negative, got %d", g.RateLimit.Actions)
	}
	if g.RateLimit.Actions > 0 && g.RateLimit.Per <= 0 {
		fail("guards.rate_limit.per", "must be positive when actions is set, got %s", g.RateLimit.Per)
	}

	out := &compiled{cfg: c, noAuth: c.Auth.Disabled}
	names := map[string]int{}
	for i, r := range c.Rules {
		key := fmt.Sprintf("rules[%d]", i)
		cr := &rule{Rule: r}
		if r.Name == "" {
			fail(key+".name", "missing")
		} else if j, dup := names[r.Name]; dup {
			fail(key+".name", "%q is also the name of rules[%d]", r.Name, j)
		} else {
			names[r.Name] = i
			key = fmt.Sprintf("rules[%d] (%s)", i, r.Name)
		}
		if len(r.Match) == 0 {
			fail(key+".match", "needs at least one matcher (a rule without one would match every alert)")
		}
		for j, m := range r.Match {
			ms, err := labels.ParseMatchers(m)
			switch {
			case err != nil:
				fail(fmt.Sprintf("%s.match[%d]", key, j), "parsing %q: %v", m, err)
			case len(ms) == 0:
				fail(fmt.Sprintf("%s.match[%d]", key, j), "no matcher in %q", m)
			}
			cr.matchers = append(cr.matchers, ms...)
		}
		if !r.Action.valid() {
			fail(key+".action", "unknown action %q (want one of %s)", r.Action, actionList())
		} else {
			checkRuleTarget(r, key, fail)
		}
		if r.Action == ActionSetWeight {
			if r.Weight == nil {
				fail(key+".weight", "required for set_weight")
			} else if *r.Weight < 0 || *r.Weight > maxWeight {
				fail(key+".weight", "out of range [0, %d], got %d", maxWeight, *r.Weight)
			}
		} else if r.Weight != nil {
			fail(key+".weight", "only for set_weight, not %s", r.Action)
		}
		if r.Hold < 0 {
			fail(key+".hold", "must not be negative, got %s", r.Hold)
		} else if r.Hold > 0 && r.Action != ActionFailover && r.Action != ActionResign {
			fail(key+".hold", "only for failover and resign, not %s", r.Action)
		}
		cr.hold = r.Hold
		if cr.hold == 0 {
			cr.hold = DefaultFailoverHold
		}
		switch r.OnResolved {
		case "":
			cr.undo = r.Action.reversible()
		case OnResolvedUndo:
			cr.undo = true
			if r.Action.valid() && !r.Action.reversible() {
				fail(key+".on_resolved", "%s cannot be undone (undo is for drain, set_weight and hold)", r.Action)
			}
		case OnResolvedKeep:
		default:
			fail(key+".on_resolved", "want undo or keep, got %q", r.OnResolved)
		}
		var err error
		parse := func(field, text string) *template.Template {
			if text == "" {
				return nil
			}
			var t *template.Template
			t, err = template.New(field).Option("missingkey=error").Funcs(template.FuncMap(amtemplate.DefaultFuncs)).Parse(text)
			if err != nil {
				fail(key+".target."+field, "%v", err)
			}
			return t
		}
		cr.vs = parse("virtual_server", r.Target.VirtualServer)
		cr.rs = parse("real_server", r.Target.RealServer)
		cr.instance = parse("vrrp_instance", r.Target.VRRPInstance)
		out.rules = append(out.rules, cr)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

func checkRuleTarget(r Rule, key string, fail func(key, format string, args ...any)) {
	t := r.Target
	switch r.Action.targetKind() {
	case targetRealServer:
		if t.VirtualServer == "" {
			fail(key+".target.virtual_server", "required for %s", r.Action)
		}
		if t.RealServer == "" {
			fail(key+".target.real_server", "required for %s", r.Action)
		}
		if t.VRRPInstance != "" {
			fail(key+".target.vrrp_instance", "not for %s", r.Action)
		}
	case targetInstance:
		if t.VRRPInstance == "" {
			fail(key+".target.vrrp_instance", "required for %s", r.Action)
		}
		if t.VirtualServer != "" || t.RealServer != "" {
			fail(key+".target", "%s takes only vrrp_instance", r.Action)
		}
	case targetNone:
		if t != (TargetTemplate{}) {
			fail(key+".target", "%s acts on every vrrp_instance and takes no target", r.Action)
		}
	}
}

func actionList() string {
	s := make([]string, len(Actions))
	for i, a := range Actions {
		s[i] = string(a)
	}
	return strings.Join(s, ", ")
}

// readToken reads the bearer token file.
func readToken(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading actuator.auth.bearer_token_file: %w", err)
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil, fmt.Errorf("actuator.auth.bearer_token_file %q is empty", path)
	}
	return b, nil
}

// load compiles c and reads its token file: all the fallible work of a
// (re)load.
func load(c Config) (*compiled, error) {
	cc, err := compile(c)
	if err != nil {
		return nil, err
	}
	if c.Auth.BearerTokenFile != "" {
		if cc.token, err = readToken(c.Auth.BearerTokenFile); err != nil {
			return nil, err
		}
	}
	return cc, nil
}
