package promlint

import (
	"bufio"
	"bytes"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"go.yaml.in/yaml/v3"
)

// RuleFile is a Prometheus rule file as the lint reads it.
type RuleFile struct {
	Groups []struct {
		Name     string         `yaml:"name"`
		Interval model.Duration `yaml:"interval"`
		Rules    []RuleEntry    `yaml:"rules"`
	} `yaml:"groups"`
}

// RuleEntry is one recording or alerting rule.
type RuleEntry struct {
	Record      string            `yaml:"record"`
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         model.Duration    `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

// ParseRuleFile decodes a rule file strictly: unknown keys are errors.
func ParseRuleFile(raw []byte) (RuleFile, error) {
	var f RuleFile
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return f, fmt.Errorf("decoding rule file: %w", err)
	}
	return f, nil
}

// Alerts returns the alerting rules of a rule file by name.
func (f RuleFile) Alerts() map[string]RuleEntry {
	out := map[string]RuleEntry{}
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				out[r.Alert] = r
			}
		}
	}
	return out
}

// Records returns the recording rules' names.
func (f RuleFile) Records() []string {
	var out []string
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				out = append(out, r.Record)
			}
		}
	}
	return out
}

// RuleLint holds the conventions vigil's rules follow.
type RuleLint struct {
	Catalog *Catalog
	// JobSelector are the matchers every series selector must carry.
	JobSelector []*labels.Matcher
	// RunbookBase is the runbook's URL; an alert's runbook_url is it plus
	// "#" and the lower-cased alert name.
	RunbookBase string
	// RunbookAnchors are the anchors the runbook has (see RunbookAnchors).
	RunbookAnchors map[string]bool
}

var (
	alertName  = regexp.MustCompile(`^Vigil[A-Z][A-Za-z0-9]*$`)
	recordName = regexp.MustCompile(`^[a-z_]+:[a-z0-9_]+:[a-z0-9_]+$`)
	severities = []string{"critical", "warning", "info"}
)

// Lint returns the problems of a rule file. Recording rules are added to
// a copy of the catalog, with the labels their expressions leave, so that
// the alerts after them can use them.
func (l RuleLint) Lint(raw []byte) []string {
	f, err := ParseRuleFile(raw)
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	add := func(where, format string, args ...any) {
		problems = append(problems, where+": "+fmt.Sprintf(format, args...))
	}
	cat := l.Catalog.Clone()
	for _, m := range l.JobSelector {
		cat.AddTargetLabels(m.Name)
	}
	check := ExprCheck{Catalog: cat, Required: l.JobSelector}
	names := map[string]bool{}
	groups := map[string]bool{}
	for _, g := range f.Groups {
		if g.Name == "" || groups[g.Name] {
			add("group "+g.Name, "group name empty or repeated")
		}
		groups[g.Name] = true
		for i, r := range g.Rules {
			where := fmt.Sprintf("group %s rule %d", g.Name, i)
			switch {
			case r.Record != "" && r.Alert != "":
				add(where, "both record and alert")
				continue
			case r.Record != "":
				where += " (" + r.Record + ")"
				if !recordName.MatchString(r.Record) {
					add(where, "recording rule name does not follow level:metric:operations")
				}
				res := check.Check(r.Expr)
				for _, p := range res.Problems {
					add(where, "%s", p)
				}
				if res.Labels == nil {
					continue
				}
				ls := sortedKeys(res.Labels)
				for k := range r.Labels {
					ls = append(ls, k)
				}
				if err := cat.AddRecorded(r.Record, ls, where); err != nil {
					add(where, "%v", err)
				}
				continue
			case r.Alert == "":
				add(where, "neither record nor alert")
				continue
			}
			where += " (" + r.Alert + ")"
			if !alertName.MatchString(r.Alert) {
				add(where, "alert name is not CamelCase starting with Vigil")
			}
			if names[r.Alert] {
				add(where, "alert name repeated")
			}
			names[r.Alert] = true
			if time.Duration(r.For) <= 0 {
				add(where, "no for:")
			}
			if !slices.Contains(severities, r.Labels["severity"]) {
				add(where, "severity label %q is not one of %v", r.Labels["severity"], severities)
			}
			for _, a := range []string{"summary", "description", "runbook_url"} {
				if strings.TrimSpace(r.Annotations[a]) == "" {
					add(where, "no %s annotation", a)
				}
			}
			for _, k := range slices.Sorted(maps.Keys(r.Annotations)) {
				if !slices.Contains([]string{"summary", "description", "runbook_url"}, k) {
					add(where, "unexpected annotation %q", k)
				}
			}
			anchor := strings.ToLower(r.Alert)
			if want := l.RunbookBase + "#" + anchor; r.Annotations["runbook_url"] != want {
				add(where, "runbook_url is %q, want %q", r.Annotations["runbook_url"], want)
			}
			if !l.RunbookAnchors[anchor] {
				add(where, "docs/runbook.md has no heading with anchor #%s", anchor)
			}
			res := check.Check(r.Expr)
			for _, p := range res.Problems {
				add(where, "%s", p)
			}
			for _, text := range append(slices.Collect(maps.Values(r.Annotations)), slices.Collect(maps.Values(r.Labels))...) {
				if missing := MissingLabels(TemplateLabels(text), res.Labels); len(missing) > 0 {
					add(where, "a template prints $labels %v, which the expression's result does not have (it has %v)", missing, sortedKeys(res.Labels))
				}
			}
		}
	}
	sort.Strings(problems)
	return problems
}

// Clone returns a copy of the catalog that can be added to without
// changing c.
func (c *Catalog) Clone() *Catalog {
	out := NewCatalog()
	maps.Copy(out.series, c.series)
	for k, v := range c.enums {
		out.enums[k] = maps.Clone(v)
	}
	return out
}

// RunbookAnchors returns the anchors GitHub gives the headings of a
// markdown document: lower case, punctuation other than "-" and "_"
// removed, spaces turned into "-", repeats numbered "-1", "-2".
func RunbookAnchors(md []byte) map[string]bool {
	out := map[string]bool{}
	count := map[string]int{}
	fenced := false
	sc := bufio.NewScanner(bytes.NewReader(md))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		if fenced || !strings.HasPrefix(line, "#") {
			continue
		}
		text := strings.TrimSpace(strings.TrimLeft(line, "#"))
		var b strings.Builder
		for _, r := range strings.ToLower(text) {
			switch {
			case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_':
				b.WriteRune(r)
			case r == ' ':
				b.WriteRune('-')
			}
		}
		slug := b.String()
		if n := count[slug]; n > 0 {
			out[fmt.Sprintf("%s-%d", slug, n)] = true
		} else {
			out[slug] = true
		}
		count[slug]++
	}
	return out
}

// UnitTests is a promtool rule unit test file.
type UnitTests struct {
	RuleFiles          []string       `yaml:"rule_files"`
	EvaluationInterval model.Duration `yaml:"evaluation_interval"`
	GroupEvalOrder     []string       `yaml:"group_eval_order"`
	Tests              []struct {
		Name        string         `yaml:"name"`
		Interval    model.Duration `yaml:"interval"`
		InputSeries []struct {
			Series string `yaml:"series"`
			Values string `yaml:"values"`
		} `yaml:"input_series"`
		AlertRuleTests []struct {
			EvalTime  model.Duration `yaml:"eval_time"`
			Alertname string         `yaml:"alertname"`
			ExpAlerts []struct {
				ExpLabels      map[string]string `yaml:"exp_labels"`
				ExpAnnotations map[string]string `yaml:"exp_annotations"`
			} `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
		PromQLExprTests []struct {
			Expr       string         `yaml:"expr"`
			EvalTime   model.Duration `yaml:"eval_time"`
			ExpSamples []struct {
				Labels string  `yaml:"labels"`
				Value  float64 `yaml:"value"`
			} `yaml:"exp_samples"`
		} `yaml:"promql_expr_test"`
	} `yaml:"tests"`
}

// UnitTestCoverage checks that promtool unit tests (files by name) cover
// every rule of the rule file: every alert fires in some case, with its
// labels and all of its annotations expected, and stays silent in at
// least two cases, one of them earlier in the same test than a case where
// it fires (before its for:, or just before its threshold is crossed);
// every recording rule is evaluated by a promql_expr_test; and no test
// names an alert that does not exist.
func UnitTestCoverage(rules RuleFile, rulesFileName string, files map[string][]byte) []string {
	type cover struct {
		firing, silent     int
		silentBeforeFiring bool
		incomplete         []string
	}
	alerts := rules.Alerts()
	covered := map[string]*cover{}
	for name := range alerts {
		covered[name] = &cover{}
	}
	records := map[string]bool{}
	for _, r := range rules.Records() {
		records[r] = false
	}
	var problems []string
	for _, fname := range slices.Sorted(maps.Keys(files)) {
		var u UnitTests
		dec := yaml.NewDecoder(bytes.NewReader(files[fname]))
		dec.KnownFields(true)
		if err := dec.Decode(&u); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", fname, err))
			continue
		}
		if !slices.ContainsFunc(u.RuleFiles, func(p string) bool { return strings.HasSuffix(p, "/"+rulesFileName) || p == rulesFileName }) {
			problems = append(problems, fmt.Sprintf("%s: rule_files does not load %s", fname, rulesFileName))
		}
		for _, tc := range u.Tests {
			firstFiring := map[string]time.Duration{}
			for _, a := range tc.AlertRuleTests {
				if len(a.ExpAlerts) > 0 {
					if t, ok := firstFiring[a.Alertname]; !ok || time.Duration(a.EvalTime) < t {
						firstFiring[a.Alertname] = time.Duration(a.EvalTime)
					}
				}
			}
			for _, a := range tc.AlertRuleTests {
				c, ok := covered[a.Alertname]
				if !ok {
					problems = append(problems, fmt.Sprintf("%s: test %q checks alert %q, which the rules do not define", fname, tc.Name, a.Alertname))
					continue
				}
				if len(a.ExpAlerts) == 0 {
					c.silent++
					if t, ok := firstFiring[a.Alertname]; ok && time.Duration(a.EvalTime) < t {
						c.silentBeforeFiring = true
					}
					continue
				}
				c.firing++
				rule := alerts[a.Alertname]
				for _, e := range a.ExpAlerts {
					for k, v := range rule.Labels {
						if e.ExpLabels[k] != v {
							c.incomplete = append(c.incomplete, fmt.Sprintf("%s test %q at %s expects label %s=%q, the rule sets %q", fname, tc.Name, a.EvalTime, k, e.ExpLabels[k], v))
						}
					}
					for k := range rule.Annotations {
						if _, ok := e.ExpAnnotations[k]; !ok {
							c.incomplete = append(c.incomplete, fmt.Sprintf("%s test %q at %s does not expect annotation %s", fname, tc.Name, a.EvalTime, k))
						}
					}
				}
			}
			for _, pt := range tc.PromQLExprTests {
				for r := range records {
					if strings.Contains(pt.Expr, r) {
						records[r] = true
					}
				}
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(covered)) {
		c := covered[name]
		switch {
		case c.firing == 0:
			problems = append(problems, fmt.Sprintf("alert %s: no unit test case where it fires", name))
		case c.silent < 2:
			problems = append(problems, fmt.Sprintf("alert %s: %d unit test cases where it does not fire; want at least 2 (below the threshold, before for:)", name, c.silent))
		case !c.silentBeforeFiring:
			problems = append(problems, fmt.Sprintf("alert %s: no case where it is silent earlier in a test in which it then fires", name))
		}
		problems = append(problems, c.incomplete...)
	}
	for _, r := range slices.Sorted(maps.Keys(records)) {
		if !records[r] {
			problems = append(problems, fmt.Sprintf("recording rule %s: no promql_expr_test evaluates it", r))
		}
	}
	return problems
}
