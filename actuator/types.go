package actuator

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Action is what a rule or an operator asks for.
type Action string

// The actions.
const (
	// ActionDrain sets a real server's weight to 0: no new connections,
	// established ones continue. It is an override until undrained.
	ActionDrain Action = "drain"
	// ActionUndrain removes a drain.
	ActionUndrain Action = "undrain"
	// ActionSetWeight overrides a real server's weight; without a weight
	// it removes the weight override.
	ActionSetWeight Action = "set_weight"
	// ActionFailover hands mastership of a VRRP instance to a peer and
	// holds off preemption for a while. It is an event, not an override.
	ActionFailover Action = "failover"
	// ActionResign is a failover of every VRRP instance of this node.
	ActionResign Action = "resign"
	// ActionHold keeps a VRRP instance from being master here while a
	// peer can be: it is an override until released.
	ActionHold Action = "hold"
	// ActionRelease removes a hold.
	ActionRelease Action = "release"
)

// Actions lists every action, in documentation order.
var Actions = []Action{ActionDrain, ActionUndrain, ActionSetWeight, ActionFailover, ActionResign, ActionHold, ActionRelease}

func (a Action) valid() bool { return slices.Contains(Actions, a) }

// targetKind is what an action acts on.
type targetKind int

const (
	targetRealServer targetKind = iota
	targetInstance
	targetNone
)

func (a Action) targetKind() targetKind {
	switch a {
	case ActionFailover, ActionHold, ActionRelease:
		return targetInstance
	case ActionResign:
		return targetNone
	default:
		return targetRealServer
	}
}

// reversible reports whether the action creates an override that a
// resolved alert can undo.
func (a Action) reversible() bool {
	return a == ActionDrain || a == ActionSetWeight || a == ActionHold
}

// Source is where a request came from.
type Source string

// The sources.
const (
	SourceWebhook Source = "webhook"
	SourceAPI     Source = "api"
	SourceCLI     Source = "cli"
)

// Sources lists every source.
var Sources = []Source{SourceWebhook, SourceAPI, SourceCLI}

// automated reports whether requests from s are subject to the cooldown
// and the rate limit (operators' are not).
func (s Source) automated() bool { return s == SourceWebhook }

// Result is what became of a request.
type Result string

// The results.
const (
	// ResultApplied: the executor carried the action out.
	ResultApplied Result = "applied"
	// ResultRefused: a guard refused it (see Outcome.Guard).
	ResultRefused Result = "refused"
	// ResultDryRun: it would have been applied; nothing was changed.
	ResultDryRun Result = "dry_run"
	// ResultFailed: it is invalid or the executor failed.
	ResultFailed Result = "failed"
	// ResultNoop: nothing to do (already done, a re-sent alert, or the
	// override is not this alert's to undo).
	ResultNoop Result = "noop"
)

// Results lists every result.
var Results = []Result{ResultApplied, ResultRefused, ResultDryRun, ResultFailed, ResultNoop}

// Guard names a safety guard.
type Guard string

// The guards.
const (
	GuardMinHealthy    Guard = "min_healthy"
	GuardMaxConcurrent Guard = "max_concurrent"
	GuardCooldown      Guard = "cooldown"
	GuardRateLimit     Guard = "rate_limit"
)

// Guards lists every guard.
var Guards = []Guard{GuardMinHealthy, GuardMaxConcurrent, GuardCooldown, GuardRateLimit}

// Target is what an action acts on: a real server of a virtual server
// (names as the configuration gives them), or a VRRP instance.
type Target struct {
	VirtualServer string `json:"virtual_server,omitempty"`
	RealServer    string `json:"real_server,omitempty"`
	VRRPInstance  string `json:"vrrp_instance,omitempty"`
}

// String names the target for messages.
func (t Target) String() string {
	switch {
	case t.VRRPInstance != "":
		return fmt.Sprintf("vrrp_instance %s", t.VRRPInstance)
	case t.VirtualServer != "" || t.RealServer != "":
		return fmt.Sprintf("real_server %s of %s", t.RealServer, t.VirtualServer)
	default:
		return "every vrrp_instance"
	}
}

func (t Target) compare(o Target) int {
	return cmp.Or(cmp.Compare(t.VirtualServer, o.VirtualServer), cmp.Compare(t.RealServer, o.RealServer),
		cmp.Compare(t.VRRPInstance, o.VRRPInstance))
}

// RealServerRef names a real server of a virtual server.
type RealServerRef struct {
	VirtualServer string
	RealServer    string
}

// OverrideKind is the kind of an override.
type OverrideKind string

// The override kinds.
const (
	KindDrain  OverrideKind = "drain"
	KindWeight OverrideKind = "weight"
	KindHold   OverrideKind = "hold"
)

// Kinds lists every override kind.
var Kinds = []OverrideKind{KindDrain, KindWeight, KindHold}

// AlertRef names the alert, and the rule it matched, behind an action.
type AlertRef struct {
	Rule        string `json:"rule"`
	Fingerprint string `json:"fingerprint"`
}

// Request asks for one action.
type Request struct {
	Action Action
	Target Target
	// Weight is set_weight's weight; nil removes the weight override.
	Weight *int
	// Hold is how long a failover or resign holds off preemption; 0 is
	// DefaultFailoverHold.
	Hold time.Duration

	Source     Source
	Who        string // the operator, or the Alertmanager receiver
	RemoteAddr string
	Reason     string
	// Force lets an operator (never the webhook) bypass the
	// min_healthy_per_virtual_server and max_concurrent_actions guards.
	Force bool
	// DryRun evaluates the request, guards included, and changes nothing.
	DryRun bool

	// Alert is the alert behind a webhook request: its fingerprint, rule
	// and Target make the request idempotent. OnResolvedUndo says whether
	// the alert's resolution undoes what the request did.
	Alert          *AlertRef
	OnResolvedUndo bool
}

// Outcome is what Handle did with a request.
type Outcome struct {
	Result      Result `json:"result"`
	Action      Action `json:"action"`
	Target      Target `json:"target"`
	Rule        string `json:"rule,omitempty"`
	Fingerprint string `json:"fingerprint,omitempty"`
	// Guard is the guard that refused the request.
	Guard Guard `json:"guard,omitempty"`
	// Message says why a request was refused, failed or was a no-op.
	Message string `json:"message,omitempty"`
	// Err is the failure; errors.Is tells ErrInvalidRequest and
	// ErrUnknownTarget (never retried) from executor failures, and
	// IsRetryable whether a retry may succeed.
	Err error `json:"-"`

	duplicate bool // a re-sent alert: counted, not audited
}

// Retryable reports whether the request failed in a way a retry may fix.
func (o Outcome) Retryable() bool { return o.Result == ResultFailed && IsRetryable(o.Err) }

// String describes the outcome on one line, as the webhook answers it.
func (o Outcome) String() string {
	s := ""
	if o.Fingerprint != "" || o.Rule != "" {
		s = fmt.Sprintf("alert %s rule %q: ", o.Fingerprint, o.Rule)
	}
	if o.Target == (Target{}) && o.Action.targetKind() != targetNone {
		s += fmt.Sprintf("%s: %s", o.Action, o.Result) // the target did not render
	} else {
		s += fmt.Sprintf("%s %s: %s", o.Action, o.Target, o.Result)
	}
	if o.Guard != "" {
		s += " by " + string(o.Guard)
	}
	if o.Message != "" {
		s += ": " + o.Message
	}
	return s
}

// ErrInvalidRequest is wrapped by every error about a request that can
// never succeed as given: a malformed body, a missing or extra target
// field, a template that fails on the alert.
var ErrInvalidRequest = errors.New("invalid request")

// ErrUnknownTarget is wrapped by errors about a target this node does not
// have. Executors return it too.
var ErrUnknownTarget = errors.New("unknown target")

// classified is an error whose message stands alone but that errors.Is
// matches to a sentinel.
type classified struct {
	msg  string
	kind error
}

func (e *classified) Error() string        { return e.msg }
func (e *classified) Is(target error) bool { return target == e.kind }

func invalidf(format string, args ...any) error {
	return &classified{msg: fmt.Sprintf(format, args...), kind: ErrInvalidRequest}
}

func unknownTargetf(format string, args ...any) error {
	return &classified{msg: fmt.Sprintf(format, args...), kind: ErrUnknownTarget}
}
