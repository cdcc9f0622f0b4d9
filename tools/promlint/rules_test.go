package promlint

import (
	"strings"
	"testing"
)

const testRunbookBase = "https://example.com/runbook.md"

const goodRules = `groups:
  - name: g
    rules:
      - record: job_vrrp_instance:vigil_vrrp_instance_state_master:sum
        expr: sum by (job, vrrp_instance) (vigil_vrrp_instance_state{job="vigil",state="master"})
      - alert: VigilNoMaster
        expr: job_vrrp_instance:vigil_vrrp_instance_state_master:sum{job="vigil"} == 0
        for: 1m
        labels:
          severity: critical
        annotations:
          summary: '{{ $labels.vrrp_instance }} has no master.'
          description: 'No director of {{ $labels.job }} is master.'
          runbook_url: https://example.com/runbook.md#vigilnomaster
`

func testRuleLint(t *testing.T) RuleLint {
	return RuleLint{
		Catalog:        testCatalog(t),
		JobSelector:    mustMatchers(t, `job="vigil"`),
		RunbookBase:    testRunbookBase,
		RunbookAnchors: RunbookAnchors([]byte("# Runbook\n\n## VigilNoMaster\n\ntext\n")),
	}
}

func TestGoodRulesPass(t *testing.T) {
	if problems := testRuleLint(t).Lint([]byte(goodRules)); len(problems) > 0 {
		t.Errorf("%q", problems)
	}
}

func TestRuleLintFindsProblems(t *testing.T) {
	for _, tc := range []struct {
		old, new string
		want     string
	}{
		{"alert: VigilNoMaster", "alert: NoMaster", "alert name is not CamelCase starting with Vigil"},
		{"        for: 1m\n", "", "no for:"},
		{"severity: critical", "severity: page", `severity label "page" is not one of`},
		{"          summary: '{{ $labels.vrrp_instance }} has no master.'\n", "", "no summary annotation"},
		{"runbook_url: https://example.com/runbook.md#vigilnomaster", "runbook_url: https://example.com/runbook.md#nomaster",
			`runbook_url is "https://example.com/runbook.md#nomaster", want "https://example.com/runbook.md#vigilnomaster"`},
		{"description: 'No director", "dashboard: x\n          description: 'No director", `unexpected annotation "dashboard"`},
		{"{job=\"vigil\"} == 0", " == 0", `lacks the matcher job="vigil"`},
		{"$labels.vrrp_instance", "$labels.instance", "a template prints $labels [instance]"},
		{"sum by (job, vrrp_instance)", "sum by (vrrp_instance)", `has no label "job"`},
		{"record: job_vrrp_instance:vigil_vrrp_instance_state_master:sum", "record: masters",
			"recording rule name does not follow level:metric:operations"},
		{"expr: sum by", "bogus: 1\n        expr: sum by", "decoding rule file"},
	} {
		if !strings.Contains(goodRules, tc.old) {
			t.Fatalf("fixture lacks %q", tc.old)
		}
		problems := testRuleLint(t).Lint([]byte(strings.Replace(goodRules, tc.old, tc.new, 1)))
		found := false
		for _, p := range problems {
			found = found || strings.Contains(p, tc.want)
		}
		if !found {
			t.Errorf("%q -> %q: problems %q, want one containing %q", tc.old, tc.new, problems, tc.want)
		}
	}
	l := testRuleLint(t)
	l.RunbookAnchors = RunbookAnchors([]byte("## VigilOther\n"))
	found := false
	for _, p := range l.Lint([]byte(goodRules)) {
		found = found || strings.Contains(p, "docs/runbook.md has no heading with anchor #vigilnomaster")
	}
	if !found {
		t.Error("a missing runbook entry went unnoticed")
	}
}

func TestRunbookAnchors(t *testing.T) {
	md := "# vigil runbook\n\n## VigilVRRPNoMaster\n\n### The actuator\n\n```\n## NotAHeading\n```\n\n## Tools & more\n\n## Tools & more\n"
	got := RunbookAnchors([]byte(md))
	for _, want := range []string{"vigil-runbook", "vigilvrrpnomaster", "the-actuator", "tools--more", "tools--more-1"} {
		if !got[want] {
			t.Errorf("no anchor %q in %v", want, got)
		}
	}
	if got["nota heading"] || got["notaheading"] {
		t.Error("a heading inside a code block got an anchor")
	}
}

const goodUnitTests = `rule_files: [../rules.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'vigil_vrrp_instance_state{job="vigil",instance="a",vrrp_instance="VI_1",state="master"}'
        values: '1 0 0'
    promql_expr_test:
      - expr: job_vrrp_instance:vigil_vrrp_instance_state_master:sum
        eval_time: 1m
        exp_samples:
          - labels: 'job_vrrp_instance:vigil_vrrp_instance_state_master:sum{job="vigil",vrrp_instance="VI_1"}'
            value: 0
    alert_rule_test:
      - eval_time: 0m
        alertname: VigilNoMaster
        exp_alerts: []
      - eval_time: 1m
        alertname: VigilNoMaster
        exp_alerts: []
      - eval_time: 2m
        alertname: VigilNoMaster
        exp_alerts:
          - exp_labels: {severity: critical, job: vigil, vrrp_instance: VI_1}
            exp_annotations: {summary: s, description: d, runbook_url: r}
`

func TestUnitTestCoverage(t *testing.T) {
	rules, err := ParseRuleFile([]byte(goodRules))
	if err != nil {
		t.Fatal(err)
	}
	if problems := UnitTestCoverage(rules, "rules.yml", map[string][]byte{"t.yml": []byte(goodUnitTests)}); len(problems) > 0 {
		t.Errorf("%q", problems)
	}
	for _, tc := range []struct {
		old, new string
		want     string
	}{
		{"rule_files: [../rules.yml]", "rule_files: [../other.yml]", "rule_files does not load rules.yml"},
		{"      - eval_time: 0m\n        alertname: VigilNoMaster\n        exp_alerts: []\n", "", "1 unit test cases where it does not fire"},
		{"exp_alerts:\n          - exp_labels", "exp_alerts: []\n        x_alerts:\n          - exp_labels", "t.yml: yaml: unmarshal errors"},
		{"      - eval_time: 2m\n        alertname: VigilNoMaster\n        exp_alerts:\n", "      - eval_time: 2m\n        alertname: VigilNoMaster\n        exp_alerts: []\n      - eval_time: 2m\n        alertname: VigilGone\n        exp_alerts:\n",
			`checks alert "VigilGone", which the rules do not define`},
		{"severity: critical", "severity: warning", `expects label severity="warning", the rule sets "critical"`},
		{"runbook_url: r", "runbook: r", "does not expect annotation runbook_url"},
		{"expr: job_vrrp_instance:vigil_vrrp_instance_state_master:sum", "expr: up", "no promql_expr_test evaluates it"},
		{"eval_time: 2m\n        alertname: VigilNoMaster\n        exp_alerts:\n          -", "eval_time: 0m\n        alertname: VigilNoMaster\n        exp_alerts:\n          -",
			"no case where it is silent earlier in a test in which it then fires"},
	} {
		if !strings.Contains(goodUnitTests, tc.old) {
			t.Fatalf("fixture lacks %q", tc.old)
		}
		files := map[string][]byte{"t.yml": []byte(strings.Replace(goodUnitTests, tc.old, tc.new, 1))}
		problems := UnitTestCoverage(rules, "rules.yml", files)
		found := false
		for _, p := range problems {
			found = found || strings.Contains(p, tc.want)
		}
		if !found {
			t.Errorf("%q -> %q: problems %q, want one containing %q", tc.old, tc.new, problems, tc.want)
		}
	}
	if problems := UnitTestCoverage(rules, "rules.yml", nil); len(problems) == 0 || !strings.Contains(problems[0], "no unit test case where it fires") {
		t.Errorf("no tests at all: %q", problems)
	}
}
