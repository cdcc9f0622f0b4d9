package actuator

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func wantCalls(t *testing.T, ex *fakeExec, want ...string) {
	t.Helper()
	if diff := cmp.Diff(want, ex.takeCalls()); diff != "" {
		t.Errorf("executor calls (-want +got):\n%s", diff)
	}
}

func wantPost(t *testing.T, h *harness, body string, wantCode int, wantBody string) {
	t.Helper()
	code, got := h.post(body)
	if code != wantCode || got != wantBody {
		t.Errorf("webhook answered %d %q, want %d %q", code, got, wantCode, wantBody)
	}
}

func overrideSummary(os []Override) []string {
	var out []string
	for _, o := range os {
		s := string(o.Kind) + " " + o.Target.String() + " by " + string(o.Source)
		if o.Weight != nil {
			s += " weight " + strconv.Itoa(*o.Weight)
		}
		for _, a := range o.Alerts {
			s += " [" + a.Rule + "]"
		}
		if !o.UndoAt.IsZero() {
			s += " undo at " + o.UndoAt.UTC().Format(time.RFC3339)
		}
		out = append(out, s)
	}
	return out
}

func wantOverrides(t *testing.T, a *Actuator, want ...string) {
	t.Helper()
	if diff := cmp.Diff(want, overrideSummary(a.Overrides())); diff != "" {
		t.Errorf("overrides (-want +got):\n%s", diff)
	}
}

func wantAudit(t *testing.T, h *harness, want ...string) {
	t.Helper()
	if diff := cmp.Diff(want, results(h.audit())); diff != "" {
		t.Errorf("audit (-want +got):\n%s", diff)
	}
}

func TestWebhookDrainIsIdempotent(t *testing.T) {
	h := newHarness(t)
	a := lag("firing", "10.0.0.2:3306")
	applied := `alert ` + fp(a) + ` rule "drain-lagging-replica": drain real_server 10.0.0.2:3306 of db: applied` + "\n"
	wantPost(t, h, payload(a), 200, applied)
	wantCalls(t, h.ex, "overrides [db/10.0.0.2:3306 drain]")
	wantOverrides(t, h.a, "drain real_server 10.0.0.2:3306 of db by webhook [drain-lagging-replica]")

	// Alertmanager re-sends: nothing is done again, nothing is audited.
	h.advance(time.Minute)
	wantPost(t, h, payload(a), 200, `alert `+fp(a)+` rule "drain-lagging-replica": drain real_server 10.0.0.2:3306 of db: noop: already handled at 2025-01-02T03:04:05Z`+"\n")
	wantCalls(t, h.ex)
	wantAudit(t, h, "webhook drain real_server 10.0.0.2:3306 of db applied")

	recs := h.audit()
	want := Record{Time: t0, Source: SourceWebhook, Who: "vigil", RemoteAddr: "192.0.2.9:41000", Action: ActionDrain,
		Target: Target{VirtualServer: "db", RealServer: "10.0.0.2:3306"}, Reason: "MySQLReplicaLag",
		Rule: "drain-lagging-replica", Fingerprint: fp(a), Result: ResultApplied}
	if diff := cmp.Diff(want, recs[0]); diff != "" {
		t.Errorf("audit record (-want +got):\n%s", diff)
	}
}

func TestNothingMatched(t *testing.T) {
	h := newHarness(t)
	wantPost(t, h, payload(firing("alertname", "Other", "virtual_server", "db")), 200, "nothing to do\n")
	// severity=~"warning|critical" is anchored: "criticality" does not match.
	wantPost(t, h, payload(alert{"firing", kv("alertname", "MySQLReplicaLag", "severity", "criticality",
		"virtual_server", "db", "real_server", "10.0.0.2:3306")}), 200, "nothing to do\n")
	wantPost(t, h, payload(), 200, "nothing to do\n")
	wantCalls(t, h.ex)
	wantAudit(t, h)
}

func TestResolvedUndoes(t *testing.T) {
	h := newHarness(t)
	wantPost(t, h, payload(lag("firing", "10.0.0.2:3306")), 200, `alert `+fp(lag("firing", "10.0.0.2:3306"))+` rule "drain-lagging-replica": drain real_server 10.0.0.2:3306 of db: applied`+"\n")
	h.ex.takeCalls()
	h.advance(6 * time.Minute)
	r := lag("resolved", "10.0.0.2:3306")
	wantPost(t, h, payload(r), 200, `alert `+fp(r)+` rule "drain-lagging-replica": undrain real_server 10.0.0.2:3306 of db: applied`+"\n")
	wantCalls(t, h.ex, "overrides []")
	wantOverrides(t, h.a)
	// A second resolved notification finds nothing to undo.
	wantPost(t, h, payload(r), 200, "nothing to do\n")
	wantAudit(t, h, "webhook drain real_server 10.0.0.2:3306 of db applied", "webhook undrain real_server 10.0.0.2:3306 of db applied")
	// The alert fires again: a new action.
	wantPost(t, h, payload(lag("firing", "10.0.0.2:3306")), 200, `alert `+fp(r)+` rule "drain-lagging-replica": drain real_server 10.0.0.2:3306 of db: refused by cooldown: drain of real_server 10.0.0.2:3306 of db changed at 2025-01-02T03:10:05Z; not again before 2025-01-02T03:15:05Z (cooldown is 5m0s)`+"\n")
}

func TestResolvedWithinCooldownDefersUndo(t *testing.T) {
	h := newHarness(t)
	f := lag("firing", "10.0.0.2:3306")
	h.post(payload(f))
	h.ex.takeCalls()
	h.advance(time.Minute)
	wantPost(t, h, payload(lag("resolved", "10.0.0.2:3306")), 200,
		`alert `+fp(f)+` rule "drain-lagging-replica": undrain real_server 10.0.0.2:3306 of db: refused by cooldown: undo deferred until 2025-01-02T03:09:05Z (cooldown is 5m0s)`+"\n")
	wantCalls(t, h.ex)
	wantOverrides(t, h.a, "drain real_server 10.0.0.2:3306 of db by webhook undo at 2025-01-02T03:09:05Z")

	// Not yet due.
	if next := h.a.sweep(context.Background(), t0.Add(4*time.Minute)); !next.Equal(t0.Add(5 * time.Minute)) {
		t.Errorf("sweep wants to run at %s, want %s", next, t0.Add(5*time.Minute))
	}
	wantCalls(t, h.ex)
	// Due: undone, audited as the alert's.
	h.a.sweep(context.Background(), t0.Add(5*time.Minute))
	wantCalls(t, h.ex, "overrides []")
	wantOverrides(t, h.a)
	recs := h.audit()
	last := recs[len(recs)-1]
	if last.Action != ActionUndrain || last.Result != ResultApplied || last.Who != "vigil" || last.Rule != "drain-lagging-replica" || last.Fingerprint != fp(f) {
		t.Errorf("deferred undo audited as %+v", last)
	}
	wantAudit(t, h, "webhook drain real_server 10.0.0.2:3306 of db applied",
		"webhook undrain real_server 10.0.0.2:3306 of db refused/cooldown",
		"webhook undrain real_server 10.0.0.2:3306 of db applied")
}

func TestRefiringCancelsDeferredUndo(t *testing.T) {
	h := newHarness(t)
	f := lag("firing", "10.0.0.2:3306")
	h.post(payload(f))
	h.advance(time.Minute)
	h.post(payload(lag("resolved", "10.0.0.2:3306")))
	h.advance(time.Minute)
	wantPost(t, h, payload(f), 200, `alert `+fp(f)+` rule "drain-lagging-replica": drain real_server 10.0.0.2:3306 of db: noop: already drained`+"\n")
	wantOverrides(t, h.a, "drain real_server 10.0.0.2:3306 of db by webhook [drain-lagging-replica]")
	h.ex.takeCalls()
	h.a.sweep(context.Background(), t0.Add(time.Hour))
	wantCalls(t, h.ex)
	wantOverrides(t, h.a, "drain real_server 10.0.0.2:3306 of db by webhook [drain-lagging-replica]")
}

func TestOperatorOverrideIsNotUndoneByAlert(t *testing.T) {
	t.Run("operator claims the alert's drain", func(t *testing.T) {
		h := newHarness(t)
		f := lag("firing", "10.0.0.2:3306")
		h.post(payload(f))
		out := h.a.Handle(context.Background(), Request{Action: ActionDrain, Target: Target{VirtualServer: "db", RealServer: "10.0.0.2:3306"},
			Source: SourceCLI, Who: "alice", Reason: "replica rebuild"})
		if out.Result != ResultNoop || out.Message != "already drained" {
			t.Errorf("operator drain: %+v", out)
		}
		h.advance(time.Hour)
		wantPost(t, h, payload(lag("resolved", "10.0.0.2:3306")), 200,
			`alert `+fp(f)+` rule "drain-lagging-replica": undrain real_server 10.0.0.2:3306 of db: noop: the drain override is not this alert's: drained by cli alice`+"\n")
		wantOverrides(t, h.a, "drain real_server 10.0.0.2:3306 of db by cli")
	})
	t.Run("operator drained first", func(t *testing.T) {
		h := newHarness(t)
		h.a.Handle(context.Background(), Request{Action: ActionDrain, Target: Target{VirtualServer: "db", RealServer: "10.0.0.2:3306"},
			Source: SourceAPI, Who: "bob"})
		f := lag("firing", "10.0.0.2:3306")
		wantPost(t, h, payload(f), 200, `alert `+fp(f)+` rule "drain-lagging-replica": drain real_server 10.0.0.2:3306 of db: noop: already drained`+"\n")
		h.advance(time.Hour)
		wantPost(t, h, payload(lag("resolved", "10.0.0.2:3306")), 200,
			`alert `+fp(f)+` rule "drain-lagging-replica": undrain real_server 10.0.0.2:3306 of db: noop: the drain override is not this alert's: drained by api bob`+"\n")
		wantOverrides(t, h.a, "drain real_server 10.0.0.2:3306 of db by api")
	})
	t.Run("operator undrains while the alert fires", func(t *testing.T) {
		h := newHarness(t)
		f := lag("firing", "10.0.0.2:3306")
		h.post(payload(f))
		out := h.a.Handle(context.Background(), Request{Action: ActionUndrain, Target: Target{VirtualServer: "db", RealServer: "10.0.0.2:3306"}, Source: SourceAPI})
		if out.Result != ResultApplied {
			t.Errorf("operator undrain within the cooldown: %+v", out)
		}
		// The re-sent alert does not drain again: the operator decided.
		h.ex.takeCalls()
		wantPost(t, h, payload(f), 200, `alert `+fp(f)+` rule "drain-lagging-replica": drain real_server 10.0.0.2:3306 of db: noop: already handled at 2025-01-02T03:04:05Z`+"\n")
		wantCalls(t, h.ex)
		wantOverrides(t, h.a)
	})
}

func TestTwoAlertsShareAnOverride(t *testing.T) {
	h := newHarness(t)
	crit := lag("firing", "10.0.0.2:3306")
	warn := alert{"firing", kv("alertname", "MySQLReplicaLag", "severity", "warning", "virtual_server", "db", "real_server", "10.0.0.2:3306")}
	h.post(payload(crit))
	wantPost(t, h, payload(warn), 200, `alert `+fp(warn)+` rule "drain-lagging-replica": drain real_server 10.0.0.2:3306 of db: noop: already drained`+"\n")
	wantOverrides(t, h.a, "drain real_server 10.0.0.2:3306 of db by webhook [drain-lagging-replica] [drain-lagging-replica]")
	h.advance(time.Hour)
	h.ex.takeCalls()
	crit.status = "resolved"
	wantPost(t, h, payload(crit), 200, `alert `+fp(crit)+` rule "drain-lagging-replica": undrain real_server 10.0.0.2:3306 of db: noop: still wanted for alert `+fp(warn)+` rule "drain-lagging-replica"`+"\n")
	wantCalls(t, h.ex)
	warn.status = "resolved"
	wantPost(t, h, payload(warn), 200, `alert `+fp(warn)+` rule "drain-lagging-replica": undrain real_server 10.0.0.2:3306 of db: applied`+"\n")
	wantCalls(t, h.ex, "overrides []")
}

func TestOnResolvedKeep(t *testing.T) {
	h := newHarness(t)
	f := firing("alertname", "ReplicaBroken", "virtual_server", "db", "real_server", "10.0.0.3:3306")
	h.post(payload(f))
	h.advance(time.Hour)
	f.status = "resolved"
	wantPost(t, h, payload(f), 200, "nothing to do\n")
	wantOverrides(t, h.a, "drain real_server 10.0.0.3:3306 of db by webhook [keep-drained]")
}

func TestGuardMinHealthy(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Guards.MinHealthyPerVirtualServer = 2
		c.Guards.MaxConcurrentActions = 0
	})
	h.ex.pools["db"][2].Up = false // 10.0.0.3 fails its checks
	// Draining a real server that does not serve leaves as many serving.
	f3 := lag("firing", "10.0.0.3:3306")
	wantPost(t, h, payload(f3), 200, `alert `+fp(f3)+` rule "drain-lagging-replica": drain real_server 10.0.0.3:3306 of db: applied`+"\n")
	f1 := lag("firing", "10.0.0.1:3306")
	wantPost(t, h, payload(f1), 200, `alert `+fp(f1)+` rule "drain-lagging-replica": drain real_server 10.0.0.1:3306 of db: refused by min_healthy: would leave 1 of 3 real servers serving in virtual_server "db" (min_healthy_per_virtual_server is 2)`+"\n")
	// A refusal is not remembered: the re-send is decided again.
	wantPost(t, h, payload(f1), 200, `alert `+fp(f1)+` rule "drain-lagging-replica": drain real_server 10.0.0.1:3306 of db: refused by min_healthy: would leave 1 of 3 real servers serving in virtual_server "db" (min_healthy_per_virtual_server is 2)`+"\n")
	// A weight of 0 counts as a drain, for operators too.
	zero := 0
	db1 := Target{VirtualServer: "db", RealServer: "10.0.0.1:3306"}
	out := h.a.Handle(context.Background(), Request{Action: ActionSetWeight, Weight: &zero, Target: db1, Source: SourceAPI})
	if out.Result != ResultRefused || out.Guard != GuardMinHealthy {
		t.Errorf("weight 0: %+v", out)
	}
	// A positive weight does not reduce serving.
	one := 3
	if out := h.a.Handle(context.Background(), Request{Action: ActionSetWeight, Weight: &one, Target: db1, Source: SourceAPI}); out.Result != ResultApplied {
		t.Errorf("weight 3: %+v", out)
	}
	// force lets an operator through.
	out = h.a.Handle(context.Background(), Request{Action: ActionDrain, Target: db1, Source: SourceAPI, Force: true})
	if out.Result != ResultApplied {
		t.Errorf("forced drain: %+v", out)
	}
	// The webhook cannot force.
	f2 := lag("firing", "10.0.0.2:3306")
	h.advance(time.Hour)
	code, body := h.post(payload(f2))
	if code != 200 || !strings.Contains(body, "refused by min_healthy: would leave 0 of 3") {
		t.Errorf("webhook drain of the last serving: %d %q", code, body)
	}
	wantCalls(t, h.ex, "overrides [db/10.0.0.3:3306 drain]", "overrides [db/10.0.0.1:3306 weight=3, db/10.0.0.3:3306 drain]",
		"overrides [db/10.0.0.1:3306 drain weight=3, db/10.0.0.3:3306 drain]")
}

// TestGuardMinHealthyBelowAlready: when fewer than the minimum already
// serve, changes that do not reduce serving are still allowed, and a
// webhook request cannot force.
func TestGuardMinHealthyBelowAlready(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Guards.MinHealthyPerVirtualServer = 3 })
	h.ex.pools["db"][2].Up = false
	f3 := lag("firing", "10.0.0.3:3306")
	wantPost(t, h, payload(f3), 200, `alert `+fp(f3)+` rule "drain-lagging-replica": drain real_server 10.0.0.3:3306 of db: applied`+"\n")
	ref := AlertRef{Rule: "drain-lagging-replica", Fingerprint: "0123"}
	out := h.a.Handle(context.Background(), Request{Action: ActionDrain, Target: Target{VirtualServer: "db", RealServer: "10.0.0.1:3306"},
		Source: SourceWebhook, Alert: &ref, Force: true})
	if out.Result != ResultRefused || out.Guard != GuardMinHealthy {
		t.Errorf("forced webhook drain: %+v", out)
	}
}

func TestGuardMaxConcurrent(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Guards.MaxConcurrentActions = 2 })
	h.post(payload(lag("firing", "10.0.0.1:3306")))
	seven, nine := 7, 9
	web1 := Target{VirtualServer: "web", RealServer: "10.0.1.1:80"}
	if out := h.a.Handle(context.Background(), Request{Action: ActionSetWeight, Weight: &seven, Target: web1, Source: SourceAPI}); out.Result != ResultApplied {
		t.Fatalf("second override: %+v", out)
	}
	hold := firing("alertname", "DirectorMaintenance", "director", "lb1", "vrrp_instance", "VI_2")
	wantPost(t, h, payload(hold), 200, `alert `+fp(hold)+` rule "hold-director": hold vrrp_instance VI_2: refused by max_concurrent: 2 overrides active (max_concurrent_actions is 2)`+"\n")
	// Changing an active override is not a new one.
	if out := h.a.Handle(context.Background(), Request{Action: ActionSetWeight, Weight: &nine, Target: web1, Source: SourceAPI}); out.Result != ResultApplied {
		t.Errorf("changing a weight at the limit: %+v", out)
	}
	// Operators are held too, unless they force.
	out := h.a.Handle(context.Background(), Request{Action: ActionHold, Target: Target{VRRPInstance: "VI_1"}, Source: SourceAPI})
	if out.Result != ResultRefused || out.Guard != GuardMaxConcurrent {
		t.Errorf("operator hold at the limit: %+v", out)
	}
	out = h.a.Handle(context.Background(), Request{Action: ActionHold, Target: Target{VRRPInstance: "VI_1"}, Source: SourceAPI, Force: true})
	if out.Result != ResultApplied {
		t.Errorf("forced hold: %+v", out)
	}
	// Removing is always allowed.
	out = h.a.Handle(context.Background(), Request{Action: ActionRelease, Target: Target{VRRPInstance: "VI_1"}, Source: SourceAPI})
	if out.Result != ResultApplied {
		t.Errorf("release: %+v", out)
	}
	wantCalls(t, h.ex, "overrides [db/10.0.0.1:3306 drain]", "overrides [db/10.0.0.1:3306 drain, web/10.0.1.1:80 weight=7]",
		"overrides [db/10.0.0.1:3306 drain, web/10.0.1.1:80 weight=9]", "holds [VI_1]", "holds []")
}

func TestGuardCooldown(t *testing.T) {
	h := newHarness(t)
	crit := lag("firing", "10.0.0.2:3306")
	warn := alert{"firing", kv("alertname", "MySQLReplicaLag", "severity", "warning", "virtual_server", "db", "real_server", "10.0.0.2:3306")}
	h.post(payload(crit))
	h.advance(time.Minute)
	// An operator is not held by the cooldown...
	out := h.a.Handle(context.Background(), Request{Action: ActionUndrain, Target: Target{VirtualServer: "db", RealServer: "10.0.0.2:3306"}, Source: SourceAPI})
	if out.Result != ResultApplied {
		t.Fatalf("operator undrain: %+v", out)
	}
	// ...but an operator's change starts it for automation.
	h.advance(time.Minute)
	refused := `alert ` + fp(warn) + ` rule "drain-lagging-replica": drain real_server 10.0.0.2:3306 of db: refused by cooldown: drain of real_server 10.0.0.2:3306 of db changed at 2025-01-02T03:05:05Z; not again before 2025-01-02T03:10:05Z (cooldown is 5m0s)` + "\n"
	wantPost(t, h, payload(warn), 200, refused)
	h.advance(4*time.Minute - time.Second) // 03:10:04
	wantPost(t, h, payload(warn), 200, refused)
	h.advance(time.Second)
	wantPost(t, h, payload(warn), 200, `alert `+fp(warn)+` rule "drain-lagging-replica": drain real_server 10.0.0.2:3306 of db: applied`+"\n")
	// Failovers of one instance are kept apart too.
	nic := firing("alertname", "DirectorNICErrors", "director", "lb1")
	wantPost(t, h, payload(nic), 200, `alert `+fp(nic)+` rule "leave-sick-director": failover vrrp_instance VI_1: applied`+"\n")
	nic2 := firing("alertname", "DirectorNICErrors", "director", "lb1", "device", "eth1")
	h.advance(time.Minute)
	wantPost(t, h, payload(nic2), 200, `alert `+fp(nic2)+` rule "leave-sick-director": failover vrrp_instance VI_1: refused by cooldown: vrrp of vrrp_instance VI_1 changed at 2025-01-02T03:10:05Z; not again before 2025-01-02T03:15:05Z (cooldown is 5m0s)`+"\n")
}

func TestGuardRateLimit(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Guards = GuardConfig{RateLimit: RateLimit{Actions: 2, Per: time.Hour}}
	})
	h.post(payload(lag("firing", "10.0.0.1:3306")))
	h.advance(10 * time.Minute)
	h.post(payload(lag("firing", "10.0.0.2:3306")))
	h.advance(10 * time.Minute)
	f3 := lag("firing", "10.0.0.3:3306")
	wantPost(t, h, payload(f3), 200, `alert `+fp(f3)+` rule "drain-lagging-replica": drain real_server 10.0.0.3:3306 of db: refused by rate_limit: 2 automated actions in the last 1h0m0s (rate_limit is 2 per 1h0m0s)`+"\n")
	// Operators are not rate limited, and do not count.
	out := h.a.Handle(context.Background(), Request{Action: ActionDrain, Target: Target{VirtualServer: "web", RealServer: "10.0.1.1:80"}, Source: SourceCLI})
	if out.Result != ResultApplied {
		t.Errorf("operator drain: %+v", out)
	}
	// No-ops do not count either.
	wantPost(t, h, payload(firing("alertname", "ReplicaBroken", "virtual_server", "web", "real_server", "10.0.1.1:80")), 200,
		`alert `+fp(firing("alertname", "ReplicaBroken", "virtual_server", "web", "real_server", "10.0.1.1:80"))+` rule "keep-drained": drain real_server 10.0.1.1:80 of web: noop: already drained`+"\n")
	// The window slides: the first action leaves it an hour after it.
	h.advance(40*time.Minute - time.Second)
	if _, body := h.post(payload(f3)); !strings.Contains(body, "refused by rate_limit") {
		t.Errorf("just inside the window: %q", body)
	}
	h.advance(time.Second)
	wantPost(t, h, payload(f3), 200, `alert `+fp(f3)+` rule "drain-lagging-replica": drain real_server 10.0.0.3:3306 of db: applied`+"\n")
	var refusals int
	for _, r := range h.audit() {
		if r.Guard == GuardRateLimit {
			refusals++
		}
	}
	if refusals != 2 {
		t.Errorf("%d rate limit refusals audited, want 2", refusals)
	}
}

func TestDryRun(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.DryRun = true })
	f := lag("firing", "10.0.0.2:3306")
	wantPost(t, h, payload(f), 200, `alert `+fp(f)+` rule "drain-lagging-replica": drain real_server 10.0.0.2:3306 of db: dry_run`+"\n")
	wantPost(t, h, payload(f), 200, `alert `+fp(f)+` rule "drain-lagging-replica": drain real_server 10.0.0.2:3306 of db: noop: already handled at 2025-01-02T03:04:05Z`+"\n")
	// Guards are evaluated in a dry run.
	h.ex.pools["web"][1].Up = false
	w1 := firing("alertname", "MySQLReplicaLag", "severity", "warning", "virtual_server", "web", "real_server", "10.0.1.1:80")
	wantPost(t, h, payload(w1), 200, `alert `+fp(w1)+` rule "drain-lagging-replica": drain real_server 10.0.1.1:80 of web: refused by min_healthy: would leave 0 of 2 real servers serving in virtual_server "web" (min_healthy_per_virtual_server is 1)`+"\n")
	wantCalls(t, h.ex)
	wantOverrides(t, h.a)
	if _, err := os.Stat(filepath.Join(h.dir, "state", StateFile)); !os.IsNotExist(err) {
		t.Errorf("a dry run wrote the state file: %v", err)
	}
	// Resolving reports the undo it would do.
	wantPost(t, h, payload(lag("resolved", "10.0.0.2:3306")), 200, `alert `+fp(f)+` rule "drain-lagging-replica": undrain real_server 10.0.0.2:3306 of db: dry_run: alert resolved`+"\n")

	// Turning dry_run off: what was only a dry run is done for real.
	h.post(payload(f))
	h.cfg.DryRun = false
	if err := h.a.Reload(h.cfg); err != nil {
		t.Fatal(err)
	}
	wantPost(t, h, payload(f), 200, `alert `+fp(f)+` rule "drain-lagging-replica": drain real_server 10.0.0.2:3306 of db: applied`+"\n")
	wantCalls(t, h.ex, "overrides [db/10.0.0.2:3306 drain]")
	wantAudit(t, h, "webhook drain real_server 10.0.0.2:3306 of db dry_run",
		"webhook drain real_server 10.0.1.1:80 of web refused/min_healthy",
		"webhook undrain real_server 10.0.0.2:3306 of db dry_run",
		"webhook drain real_server 10.0.0.2:3306 of db dry_run",
		"webhook drain real_server 10.0.0.2:3306 of db applied")
}

func TestAPIDryRun(t *testing.T) {
	h := newHarness(t)
	out := h.a.Handle(context.Background(), Request{Action: ActionFailover, Target: Target{VRRPInstance: "VI_1"}, Source: SourceAPI, DryRun: true})
	if out.Result != ResultDryRun {
		t.Errorf("dry run failover: %+v", out)
	}
	out = h.a.Handle(context.Background(), Request{Action: ActionUndrain, Target: Target{VirtualServer: "db", RealServer: "10.0.0.1:3306"}, Source: SourceAPI, DryRun: true})
	if out.Result != ResultNoop || out.Message != "no drain override" {
		t.Errorf("dry run undrain of nothing: %+v", out)
	}
	wantCalls(t, h.ex)
}

func TestOverridesSurviveRestart(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Guards.MaxConcurrentActions = 0 })
	f := lag("firing", "10.0.0.2:3306")
	h.post(payload(f))
	five := 5
	h.a.Handle(context.Background(), Request{Action: ActionSetWeight, Weight: &five, Target: Target{VirtualServer: "web", RealServer: "10.0.1.2:80"}, Source: SourceAPI, Who: "alice"})
	h.a.Handle(context.Background(), Request{Action: ActionHold, Target: Target{VRRPInstance: "VI_2"}, Source: SourceCLI, Who: "bob"})
	nic := firing("alertname", "DirectorNICErrors", "director", "lb1")
	h.post(payload(nic))
	before := h.a.Overrides()
	h.ex.takeCalls()

	h.advance(time.Hour)
	h.start() // a restart: new Actuator, same state directory
	if diff := cmp.Diff(before, h.a.Overrides()); diff != "" {
		t.Errorf("overrides after restart (-before +after):\n%s", diff)
	}
	if err := h.a.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	wantCalls(t, h.ex, "overrides [db/10.0.0.2:3306 drain, web/10.0.1.2:80 weight=5]", "holds [VI_2]")

	// Re-sends after the restart are still recognised: no second failover.
	wantPost(t, h, payload(nic), 200, `alert `+fp(nic)+` rule "leave-sick-director": failover vrrp_instance VI_1: noop: already handled at 2025-01-02T03:04:05Z`+"\n")
	wantCalls(t, h.ex)
	// And the resolution undoes the alert's drain.
	wantPost(t, h, payload(lag("resolved", "10.0.0.2:3306")), 200, `alert `+fp(f)+` rule "drain-lagging-replica": undrain real_server 10.0.0.2:3306 of db: applied`+"\n")
	wantCalls(t, h.ex, "overrides [web/10.0.1.2:80 weight=5]")

	// The file is whole JSON, written atomically (no temporary left).
	entries, err := os.ReadDir(filepath.Join(h.dir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if diff := cmp.Diff([]string{AuditFile, StateFile}, names); diff != "" {
		t.Errorf("state directory (-want +got):\n%s", diff)
	}
	fi, err := os.Stat(filepath.Join(h.dir, "state", StateFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o640 {
		t.Errorf("state file mode %v, want 0640", fi.Mode().Perm())
	}
}

func TestReloadKeepsOverrides(t *testing.T) {
	h := newHarness(t)
	h.post(payload(lag("firing", "10.0.0.2:3306")))
	h.cfg.Rules = h.cfg.Rules[1:] // the rule goes away
	if err := h.a.Reload(h.cfg); err != nil {
		t.Fatal(err)
	}
	wantOverrides(t, h.a, "drain real_server 10.0.0.2:3306 of db by webhook [drain-lagging-replica]")
	// The undo decided when the action was taken still happens.
	h.advance(time.Hour)
	h.ex.takeCalls()
	h.post(payload(lag("resolved", "10.0.0.2:3306")))
	wantCalls(t, h.ex, "overrides []")

	// A bad configuration changes nothing.
	bad := h.cfg
	bad.Auth.BearerTokenFile = filepath.Join(h.dir, "missing.token")
	if err := h.a.Reload(bad); err == nil || !strings.Contains(err.Error(), "reading actuator.auth.bearer_token_file") {
		t.Errorf("reload with a missing token file: %v", err)
	}
	if code, _ := h.post(payload()); code != 200 {
		t.Errorf("after a failed reload the old token stopped working: %d", code)
	}
}

func TestVRRPActions(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Guards.Cooldown = 0 })
	// only_self: the director label must name this node.
	wantPost(t, h, payload(firing("alertname", "DirectorNICErrors", "director", "lb2")), 200, "nothing to do\n")
	wantPost(t, h, payload(firing("alertname", "DirectorNICErrors")), 200, "nothing to do\n")
	nic := firing("alertname", "DirectorNICErrors", "director", "lb1")
	wantPost(t, h, payload(nic), 200, `alert `+fp(nic)+` rule "leave-sick-director": failover vrrp_instance VI_1: applied`+"\n")
	wantCalls(t, h.ex, "resign VI_1 5m0s")
	// failover cannot be undone: resolving does nothing.
	nic.status = "resolved"
	wantPost(t, h, payload(nic), 200, "nothing to do\n")

	dying := firing("alertname", "DirectorDying")
	wantPost(t, h, payload(dying), 200, `alert `+fp(dying)+` rule "resign-all": resign every vrrp_instance: applied`+"\n")
	wantCalls(t, h.ex, "resign VI_1 1m0s", "resign VI_2 1m0s")

	maint := firing("alertname", "DirectorMaintenance", "director", "lb1", "vrrp_instance", "VI_2")
	wantPost(t, h, payload(maint), 200, `alert `+fp(maint)+` rule "hold-director": hold vrrp_instance VI_2: applied`+"\n")
	wantCalls(t, h.ex, "holds [VI_2]")
	wantOverrides(t, h.a, "hold vrrp_instance VI_2 by webhook [hold-director]")
	maint.status = "resolved"
	wantPost(t, h, payload(maint), 200, `alert `+fp(maint)+` rule "hold-director": release vrrp_instance VI_2: applied`+"\n")
	wantCalls(t, h.ex, "holds []")

	bogus := firing("alertname", "DirectorMaintenance", "director", "lb1", "vrrp_instance", "VI_9")
	wantPost(t, h, payload(bogus), 422, `alert `+fp(bogus)+` rule "hold-director": hold vrrp_instance VI_9: failed: no vrrp_instance "VI_9" on this node`+"\n")

	h.ex.instances = nil
	out := h.a.Handle(context.Background(), Request{Action: ActionResign, Source: SourceAPI})
	if out.Result != ResultFailed || !errors.Is(out.Err, ErrUnknownTarget) {
		t.Errorf("resign without instances: %+v", out)
	}
}

func TestExecutorFailures(t *testing.T) {
	t.Run("retryable", func(t *testing.T) {
		h := newHarness(t)
		f := lag("firing", "10.0.0.2:3306")
		h.ex.fail = Retryable(errors.New("load balancer busy"))
		wantPost(t, h, payload(f), 503, `alert `+fp(f)+` rule "drain-lagging-replica": drain real_server 10.0.0.2:3306 of db: failed: setting real server overrides: load balancer busy`+"\n")
		wantOverrides(t, h.a)
		// Alertmanager retries: not a duplicate, done now.
		wantPost(t, h, payload(f), 200, `alert `+fp(f)+` rule "drain-lagging-replica": drain real_server 10.0.0.2:3306 of db: applied`+"\n")
		wantAudit(t, h, "webhook drain real_server 10.0.0.2:3306 of db failed", "webhook drain real_server 10.0.0.2:3306 of db applied")
	})
	t.Run("context ended", func(t *testing.T) {
		h := newHarness(t)
		h.ex.fail = context.DeadlineExceeded
		out := h.a.Handle(context.Background(), Request{Action: ActionFailover, Target: Target{VRRPInstance: "VI_1"}, Source: SourceAPI})
		if !out.Retryable() {
			t.Errorf("deadline: %+v not retryable", out)
		}
	})
	t.Run("final", func(t *testing.T) {
		h := newHarness(t)
		f := lag("firing", "10.0.0.2:3306")
		h.ex.fail = errors.New("no such destination")
		wantPost(t, h, payload(f), 422, `alert `+fp(f)+` rule "drain-lagging-replica": drain real_server 10.0.0.2:3306 of db: failed: setting real server overrides: no such destination`+"\n")
	})
	t.Run("persisting fails", func(t *testing.T) {
		h := newHarness(t)
		h.post(payload(lag("firing", "10.0.0.1:3306")))
		h.ex.takeCalls()
		// The state directory turns into a file: nothing can be written.
		state := filepath.Join(h.dir, "state")
		if err := os.Rename(state, state+".moved"); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(state, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		h.a.audit = &Audit{path: filepath.Join(h.dir, "audit.log")}
		f := lag("firing", "10.0.0.2:3306")
		code, body := h.post(payload(f))
		if code != 503 || !strings.HasPrefix(body, `alert `+fp(f)+` rule "drain-lagging-replica": drain real_server 10.0.0.2:3306 of db: failed: writing actuator state: `) {
			t.Errorf("webhook answered %d %q", code, body)
		}
		// The executor was told, then told the previous overrides again.
		wantCalls(t, h.ex, "overrides [db/10.0.0.1:3306 drain, db/10.0.0.2:3306 drain]", "overrides [db/10.0.0.1:3306 drain]")
		wantOverrides(t, h.a, "drain real_server 10.0.0.1:3306 of db by webhook [drain-lagging-replica]")
	})
}

func TestPartialFailure(t *testing.T) {
	h := newHarness(t)
	good := lag("firing", "10.0.0.1:3306")
	noLabel := alert{"firing", kv("alertname", "MySQLReplicaLag", "severity", "critical", "virtual_server", "db")}
	unknown := lag("firing", "10.9.9.9:3306")
	code, body := h.post(payload(good, noLabel, unknown))
	want := `alert ` + fp(noLabel) + ` rule "drain-lagging-replica": drain: failed: rendering target.real_server: template: real_server:1:10: executing "real_server" at <.Labels.real_server>: map has no entry for key "real_server"` + "\n" +
		`alert ` + fp(unknown) + ` rule "drain-lagging-replica": drain real_server 10.9.9.9:3306 of db: failed: virtual_server "db" has no real_server "10.9.9.9:3306"` + "\n"
	if code != 422 || body != want {
		t.Errorf("webhook answered %d\n%s\nwant 422\n%s", code, body, want)
	}
	// The good alert was acted on.
	wantCalls(t, h.ex, "overrides [db/10.0.0.1:3306 drain]")
	wantAudit(t, h, "webhook drain real_server 10.0.0.1:3306 of db applied", "webhook drain failed",
		"webhook drain real_server 10.9.9.9:3306 of db failed")
}

func TestUndoForRemovedTarget(t *testing.T) {
	h := newHarness(t)
	h.a.Handle(context.Background(), Request{Action: ActionDrain, Target: Target{VirtualServer: "db", RealServer: "10.0.0.3:3306"}, Source: SourceAPI})
	// The real server leaves the configuration; its drain can still be
	// removed, but not set again.
	h.ex.pools["db"] = h.ex.pools["db"][:2]
	out := h.a.Handle(context.Background(), Request{Action: ActionUndrain, Target: Target{VirtualServer: "db", RealServer: "10.0.0.3:3306"}, Source: SourceAPI})
	if out.Result != ResultApplied {
		t.Errorf("undrain of a removed real server: %+v", out)
	}
	out = h.a.Handle(context.Background(), Request{Action: ActionDrain, Target: Target{VirtualServer: "db", RealServer: "10.0.0.3:3306"}, Source: SourceAPI})
	if out.Result != ResultFailed || !errors.Is(out.Err, ErrUnknownTarget) {
		t.Errorf("drain of a removed real server: %+v", out)
	}
}

func TestRequestValidation(t *testing.T) {
	h := newHarness(t)
	one, big := 1, maxWeight+1
	rs := Target{VirtualServer: "db", RealServer: "10.0.0.1:3306"}
	for _, tc := range []struct {
		req  Request
		want string
	}{
		{Request{Action: "reboot", Source: SourceAPI}, `unknown action "reboot" (want one of drain, undrain, set_weight, failover, resign, hold, release)`},
		{Request{Action: ActionDrain, Source: "cron", Target: rs}, `unknown source "cron"`},
		{Request{Action: ActionDrain, Source: SourceWebhook, Target: rs}, `a webhook request needs its alert`},
		{Request{Action: ActionDrain, Source: SourceAPI, Target: Target{VirtualServer: "db"}}, `drain needs virtual_server and real_server`},
		{Request{Action: ActionDrain, Source: SourceAPI, Target: Target{VirtualServer: "db", RealServer: "x", VRRPInstance: "VI_1"}}, `drain takes no vrrp_instance`},
		{Request{Action: ActionHold, Source: SourceAPI}, `hold needs vrrp_instance`},
		{Request{Action: ActionFailover, Source: SourceAPI, Target: Target{VirtualServer: "db", VRRPInstance: "VI_1"}}, `failover takes only vrrp_instance`},
		{Request{Action: ActionResign, Source: SourceAPI, Target: Target{VRRPInstance: "VI_1"}}, `resign acts on every vrrp_instance and takes no target`},
		{Request{Action: ActionDrain, Source: SourceAPI, Target: rs, Weight: &one}, `weight is only for set_weight`},
		{Request{Action: ActionSetWeight, Source: SourceAPI, Target: rs, Weight: &big}, `weight 2147483648 out of range [0, 2147483647]`},
		{Request{Action: ActionFailover, Source: SourceAPI, Target: Target{VRRPInstance: "VI_1"}, Hold: -time.Second}, `hold must not be negative, got -1s`},
		{Request{Action: ActionHold, Source: SourceAPI, Target: Target{VRRPInstance: "VI_1"}, Hold: time.Second}, `hold is only for failover and resign`},
	} {
		out := h.a.Handle(context.Background(), tc.req)
		if out.Result != ResultFailed || !errors.Is(out.Err, ErrInvalidRequest) || out.Message != tc.want {
			t.Errorf("%+v: got %+v, want failed %q", tc.req, out, tc.want)
		}
	}
	wantCalls(t, h.ex)
}

func TestHandledIsForgotten(t *testing.T) {
	h := newHarness(t)
	f := lag("firing", "10.0.0.1:3306")
	h.post(payload(f))
	// Seen again within the TTL: the memory is refreshed.
	h.advance(handledTTL - time.Minute)
	h.post(payload(f))
	h.advance(handledTTL - time.Minute)
	h.a.sweep(context.Background(), h.now)
	if _, body := h.post(payload(f)); !strings.Contains(body, "already handled") {
		t.Errorf("re-send within the TTL of the last sighting: %q", body)
	}
	// Not seen for longer than the TTL: forgotten (the drain stays).
	h.advance(handledTTL + time.Minute)
	h.a.sweep(context.Background(), h.now)
	if _, body := h.post(payload(f)); !strings.Contains(body, "noop: already drained") {
		t.Errorf("re-send after the TTL: %q", body)
	}
	if n := len(h.a.store.cur.handled); n != 1 {
		t.Errorf("%d handled entries, want 1", n)
	}
}

func TestRunSyncsAndSweeps(t *testing.T) {
	h := newHarness(t)
	h.a.Handle(context.Background(), Request{Action: ActionHold, Target: Target{VRRPInstance: "VI_1"}, Source: SourceAPI})
	h.ex.takeCalls()
	h.start()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- h.a.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		h.ex.mu.Lock()
		calls := slices.Clone(h.ex.calls)
		h.ex.mu.Unlock()
		if len(calls) == 2 {
			if diff := cmp.Diff([]string{"overrides []", "holds [VI_1]"}, calls); diff != "" {
				t.Errorf("Run's sync (-want +got):\n%s", diff)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Run did not sync: %v", calls)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}
