package actuator

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	amtemplate "github.com/prometheus/alertmanager/template"
)

func TestValidate(t *testing.T) {
	if err := testConfig(t, t.TempDir()).Validate(); err != nil {
		t.Errorf("test configuration: %v", err)
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Errorf("default configuration: %v", err)
	}
	five, neg := 5, -1
	drain := func(r Rule) Rule {
		if r.Name == "" {
			r.Name = "r"
		}
		if r.Match == nil {
			r.Match = []string{`alertname="X"`}
		}
		if r.Action == "" {
			r.Action = ActionDrain
		}
		if r.Target == (TargetTemplate{}) && r.Action.targetKind() == targetRealServer {
			r.Target = TargetTemplate{VirtualServer: "db", RealServer: "{{ .Labels.rs }}"}
		}
		return r
	}
	for _, tc := range []struct {
		name string
		cfg  Config
		want []string
	}{
		{"enabled without auth", Config{Enabled: true}, []string{
			`actuator.auth: an enabled actuator needs bearer_token_file (or disabled: true behind a listener that authenticates)`}},
		{"both auths", Config{Auth: Auth{BearerTokenFile: "/t", Disabled: true}}, []string{
			`actuator.auth: bearer_token_file and disabled: true exclude each other`}},
		{"negative guards", Config{Guards: GuardConfig{MinHealthyPerVirtualServer: -1, MaxConcurrentActions: -2, Cooldown: -time.Second,
			RateLimit: RateLimit{Actions: -3}}}, []string{
			`actuator.guards.min_healthy_per_virtual_server: must not be negative, got -1`,
			`actuator.guards.max_concurrent_actions: must not be negative, got -2`,
			`actuator.guards.cooldown: must not be negative, got -1s`,
			`actuator.guards.rate_limit.actions: must not be negative, got -3`}},
		{"rate limit without per", Config{Guards: GuardConfig{RateLimit: RateLimit{Actions: 3}}}, []string{
			`actuator.guards.rate_limit.per: must be positive when actions is set, got 0s`}},
		{"rule names", Config{Rules: []Rule{drain(Rule{Name: "a"}), drain(Rule{Name: "a"}), drain(Rule{Name: "-"}), {Match: []string{`a="b"`}, Action: ActionResign}}}, []string{
			`actuator.rules[1].name: "a" is also the name of rules[0]`,
			`actuator.rules[3].name: missing`}},
		{"matchers", Config{Rules: []Rule{drain(Rule{Match: []string{}}), drain(Rule{Name: "m", Match: []string{`alertname=~"("`, ``, `{}`}})}}, []string{
			`actuator.rules[0] (r).match: needs at least one matcher (a rule without one would match every alert)`,
			"actuator.rules[1] (m).match[0]: parsing \"alertname=~\\\"(\\\"\": error parsing regexp: missing closing ): `^(?:()$`",
			`actuator.rules[1] (m).match[1]: no matcher in ""`,
			`actuator.rules[1] (m).match[2]: no matcher in "{}"`}},
		{"action", Config{Rules: []Rule{drain(Rule{Action: "reboot", Target: TargetTemplate{VirtualServer: "x"}})}}, []string{
			`actuator.rules[0] (r).action: unknown action "reboot" (want one of drain, undrain, set_weight, failover, resign, hold, release)`}},
		{"targets", Config{Rules: []Rule{
			drain(Rule{Name: "a", Target: TargetTemplate{VirtualServer: "db", VRRPInstance: "VI_1"}}),
			drain(Rule{Name: "b", Action: ActionFailover, Target: TargetTemplate{VirtualServer: "db"}}),
			drain(Rule{Name: "c", Action: ActionResign, Target: TargetTemplate{VRRPInstance: "VI_1"}}),
		}}, []string{
			`actuator.rules[0] (a).target.real_server: required for drain`,
			`actuator.rules[0] (a).target.vrrp_instance: not for drain`,
			`actuator.rules[1] (b).target.vrrp_instance: required for failover`,
			`actuator.rules[1] (b).target: failover takes only vrrp_instance`,
			`actuator.rules[2] (c).target: resign acts on every vrrp_instance and takes no target`}},
		{"weights", Config{Rules: []Rule{
			drain(Rule{Name: "a", Action: ActionSetWeight}),
			drain(Rule{Name: "b", Action: ActionSetWeight, Weight: &neg}),
			drain(Rule{Name: "c", Weight: &five}),
		}}, []string{
			`actuator.rules[0] (a).weight: required for set_weight`,
			`actuator.rules[1] (b).weight: out of range [0, 2147483647], got -1`,
			`actuator.rules[2] (c).weight: only for set_weight, not drain`}},
		{"holds and on_resolved", Config{Rules: []Rule{
			drain(Rule{Name: "a", Hold: time.Minute}),
			drain(Rule{Name: "b", Action: ActionFailover, Target: TargetTemplate{VRRPInstance: "VI_1"}, Hold: -time.Minute, OnResolved: "undo"}),
			drain(Rule{Name: "c", OnResolved: "revert"}),
		}}, []string{
			`actuator.rules[0] (a).hold: only for failover and resign, not drain`,
			`actuator.rules[1] (b).hold: must not be negative, got -1m0s`,
			`actuator.rules[1] (b).on_resolved: failover cannot be undone (undo is for drain, set_weight and hold)`,
			`actuator.rules[2] (c).on_resolved: want undo or keep, got "revert"`}},
		{"templates", Config{Rules: []Rule{drain(Rule{Target: TargetTemplate{VirtualServer: "{{ .Labels.vs", RealServer: "{{ nosuchfunc }}"}})}}, []string{
			`actuator.rules[0] (r).target.virtual_server: template: virtual_server:1: unclosed action`,
			`actuator.rules[0] (r).target.real_server: template: real_server:1: function "nosuchfunc" not defined`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if err == nil {
				t.Fatalf("no error, want\n%s", strings.Join(tc.want, "\n"))
			}
			if got := err.Error(); got != strings.Join(tc.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", got, strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestOnResolvedDefault(t *testing.T) {
	five := 5
	for _, tc := range []struct {
		r    Rule
		undo bool
	}{
		{Rule{Action: ActionDrain, Target: TargetTemplate{VirtualServer: "a", RealServer: "b"}}, true},
		{Rule{Action: ActionSetWeight, Weight: &five, Target: TargetTemplate{VirtualServer: "a", RealServer: "b"}}, true},
		{Rule{Action: ActionHold, Target: TargetTemplate{VRRPInstance: "VI_1"}}, true},
		{Rule{Action: ActionFailover, Target: TargetTemplate{VRRPInstance: "VI_1"}}, false},
		{Rule{Action: ActionUndrain, Target: TargetTemplate{VirtualServer: "a", RealServer: "b"}}, false},
		{Rule{Action: ActionDrain, OnResolved: OnResolvedKeep, Target: TargetTemplate{VirtualServer: "a", RealServer: "b"}}, false},
	} {
		tc.r.Name, tc.r.Match = "r", []string{`a="b"`}
		cc, err := compile(Config{Rules: []Rule{tc.r}})
		if err != nil {
			t.Fatal(err)
		}
		if cc.rules[0].undo != tc.undo {
			t.Errorf("%s on_resolved %q: undo %v, want %v", tc.r.Action, tc.r.OnResolved, cc.rules[0].undo, tc.undo)
		}
	}
}

func TestTokenFile(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := Config{Auth: Auth{BearerTokenFile: empty}}
	if _, err := load(c); err == nil || err.Error() != `actuator.auth.bearer_token_file "`+empty+`" is empty` {
		t.Errorf("empty token file: %v", err)
	}
	c.Auth.BearerTokenFile = filepath.Join(dir, "missing")
	if _, err := load(c); err == nil || !strings.HasPrefix(err.Error(), "reading actuator.auth.bearer_token_file: open ") {
		t.Errorf("missing token file: %v", err)
	}
	if _, err := New(c, Options{Executor: newFakeExec(), StateDir: dir}); err == nil {
		t.Error("New with a missing token file succeeded")
	}
}

func TestRuleMatching(t *testing.T) {
	cc, err := compile(Config{Rules: []Rule{
		{Name: "regex", Match: []string{`alertname="Lag"`, `severity=~"warning|critical"`}, Action: ActionResign},
		{Name: "negative", Match: []string{`alertname="Lag"`, `env!="staging"`, `team!~"db-.*"`}, Action: ActionResign},
		{Name: "several in one", Match: []string{`{alertname="Lag", severity="page"}`}, Action: ActionResign},
		{Name: "unquoted", Match: []string{`alertname=Lag`}, Action: ActionResign},
		{Name: "self", Match: []string{`alertname="Lag"`}, OnlySelf: true, Action: ActionResign},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		labels map[string]string
		want   []string
	}{
		{kv("alertname", "Lag", "severity", "critical"), []string{"regex", "negative", "unquoted"}},
		{kv("alertname", "Lag", "severity", "warning", "env", "staging"), []string{"regex", "unquoted"}},
		{kv("alertname", "Lag", "severity", "warnings"), []string{"negative", "unquoted"}},
		{kv("alertname", "Lag", "team", "db-eu"), []string{"unquoted"}},
		{kv("alertname", "Lag", "team", "web", "severity", "page"), []string{"negative", "several in one", "unquoted"}},
		{kv("alertname", "Lag", "director", "lb1", "env", "staging"), []string{"unquoted", "self"}},
		{kv("alertname", "Lag", "director", "lb2", "env", "staging"), []string{"unquoted"}},
		{kv("alertname", "Lagging"), nil},
	} {
		var got []string
		for _, r := range cc.rules {
			if r.matches(labelSet(tc.labels), "lb1") {
				got = append(got, r.Name)
			}
		}
		if strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("%v matches %q, want %q", tc.labels, got, tc.want)
		}
	}
	// only_self never matches on a node without a router_id.
	if cc.rules[4].matches(labelSet(kv("alertname", "Lag", "director", "")), "") {
		t.Error("only_self matched an empty director on a node without router_id")
	}
}

func TestRuleTemplates(t *testing.T) {
	r := func(tt TargetTemplate) *rule {
		cc, err := compile(Config{Rules: []Rule{{Name: "r", Match: []string{`a="b"`}, Action: ActionDrain, Target: tt}}})
		if err != nil {
			t.Fatal(err)
		}
		return cc.rules[0]
	}
	m := &Message{}
	m.Receiver, m.GroupLabels = "vigil", amtemplate.KV{"cluster": "EU1"}
	al := &amtemplate.Alert{Status: "firing", Fingerprint: "abc",
		Labels:      amtemplate.KV{"vs": "db", "instance": "10.0.0.2:9104", "empty": ""},
		Annotations: amtemplate.KV{"rs": "10.0.0.2:3306"}}
	d := newTemplateData(m, al)
	for _, tc := range []struct {
		tt      TargetTemplate
		want    Target
		wantErr string
	}{
		{TargetTemplate{VirtualServer: "{{ .Labels.vs }}", RealServer: "{{ .Annotations.rs }}"},
			Target{VirtualServer: "db", RealServer: "10.0.0.2:3306"}, ""},
		{TargetTemplate{VirtualServer: "{{ .Labels.vs }}-{{ .GroupLabels.cluster | toLower }}", RealServer: `{{ reReplaceAll ":9104" ":3306" .Labels.instance }}`},
			Target{VirtualServer: "db-eu1", RealServer: "10.0.0.2:3306"}, ""},
		{TargetTemplate{VirtualServer: "static", RealServer: " {{ .Labels.vs }} "},
			Target{VirtualServer: "static", RealServer: "db"}, ""},
		{TargetTemplate{VirtualServer: "{{ .Labels.nope }}", RealServer: "x"}, Target{},
			`rendering target.virtual_server: template: virtual_server:1:10: executing "virtual_server" at <.Labels.nope>: map has no entry for key "nope"`},
		{TargetTemplate{VirtualServer: "db", RealServer: "{{ .Labels.empty }}"}, Target{},
			`rendering target.real_server: "{{.Labels.empty}}" gives an empty name`},
	} {
		got, err := r(tc.tt).target(d)
		if tc.wantErr != "" {
			if err == nil || err.Error() != tc.wantErr {
				t.Errorf("%+v: error %v, want %q", tc.tt, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%+v: %+v %v, want %+v", tc.tt, got, err, tc.want)
		}
	}
}
