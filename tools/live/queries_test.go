package live

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"

	"github.com/vigil-lb/vigil/collector"
	"github.com/vigil-lb/vigil/tools/promlint"
)

// Files under test, relative to the repository root.
const (
	rulesFile     = "alerts/vigil.rules.yml"
	dashboardsDir = "dashboards"
	metricsDoc    = "docs/metrics.md"
)

// substitutions are the values the dashboards' template variables take in
// the live tests, as Grafana would substitute them: every director of job
// vigil, VRRP instance VI_1, every virtual and real server; the interval
// variables as Grafana computes them for a 1s scrape interval and a
// dashboard a few minutes wide, rounded up so that a range always holds
// several samples. $datasource names the data source and never appears in
// a query.
var substitutions = map[string]string{
	"job":             "vigil",
	"instance":        ".+",
	"vrrp_instance":   "VI_1",
	"virtual_server":  ".+",
	"real_server":     ".+",
	"__rate_interval": "1m",
	"__interval":      "15s",
}

// variableRef matches $var, ${var} (with an optional :format) and [[var]],
// as promlint.ExpandGrafana does.
var variableRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_.]*)(?::[A-Za-z]+)?\}|\$([A-Za-z_][A-Za-z0-9_]*)|\[\[([A-Za-z_][A-Za-z0-9_.]*)\]\]`)

// expand replaces the template variables of a dashboard query with their
// substitutions.
func expand(expr string) (string, error) {
	var unknown []string
	out := variableRef.ReplaceAllStringFunc(expr, func(ref string) string {
		m := variableRef.FindStringSubmatch(ref)
		name := m[1] + m[2] + m[3]
		v, ok := substitutions[name]
		if !ok {
			unknown = append(unknown, "$"+name)
			return ref
		}
		return v
	})
	if len(unknown) > 0 {
		return "", fmt.Errorf("no substitution for %s", strings.Join(unknown, ", "))
	}
	return out, nil
}

// class says what a query reads, which decides whether it must return
// data in the lab.
type class int

const (
	// classCore reads VRRP, configuration, build, process or Go runtime
	// series, or Prometheus's own scrape series (up): the lab produces
	// all of them, so the query must return data.
	classCore class = iota
	// classLB reads the configuration side of IPVS (virtual and real
	// servers as configured, their health) or health-check series: they
	// exist without IPVS in the kernel, so the query must return data.
	classLB
	// classActuator reads the actuator's series, some of which exist only
	// once an action or a request has happened.
	classActuator
	// classKernel reads an IPVS series that exists only while its virtual
	// or real server is in the kernel's IPVS table (docs/metrics.md:
	// "Only while in the kernel"). The lab's kernel has no IPVS, so the
	// query only has to evaluate.
	classKernel
)

func (c class) String() string {
	return [...]string{"core", "lb", "actuator", "kernel"}[c]
}

// coreMetric reports whether a series belongs to classCore.
func coreMetric(name string) bool {
	for _, p := range []string{"vigil_vrrp_", "vigil_config_", "process_", "go_", "scrape_", "job_vrrp_instance:"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return name == "vigil_build_info" || name == "up"
}

// query is one PromQL expression of the rules file or of a dashboard.
type query struct {
	// Key names the query in failures and in allowedEmpty:
	// `vigil-vrrp.json: panel "Transitions" A`,
	// `vigil-self.json: annotation "Configuration changes"`,
	// `vigil-ipvs.json: variable virtual_server`, `alert VigilVRRPNoMaster`.
	Key string
	// Expr is the query as written; Expanded has the template variables
	// substituted (the same as Expr for rules). For a label_values
	// variable both are the variable's series selector.
	Expr, Expanded string
	// Label is, for a label_values variable, the label whose values the
	// variable takes.
	Label string
	// Rule marks the expression of a rule: it must evaluate, but need not
	// return data (most alerts are quiet).
	Rule bool
	// Parsed is Expanded parsed; Metrics the series names it reads.
	Parsed  parser.Expr
	Metrics []string
	Class   class
}

// inventory is every query under test.
type inventory struct {
	Rules      promlint.RuleFile
	Queries    []query
	KernelOnly map[string]bool // series names that exist only in the kernel's IPVS table
}

// loadInventory reads the rules file, every dashboard and the metric
// documentation from the repository at root.
func loadInventory(root string) (*inventory, error) {
	inv := &inventory{KernelOnly: map[string]bool{}}
	md, err := os.ReadFile(filepath.Join(root, metricsDoc))
	if err != nil {
		return nil, err
	}
	docs, err := collector.DocumentedMetrics(md)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", metricsDoc, err)
	}
	for name, d := range docs {
		if strings.Contains(d.Meaning, "Only while in the kernel") {
			inv.KernelOnly[name] = true
		}
	}
	if len(inv.KernelOnly) == 0 {
		return nil, fmt.Errorf("%s documents no series as \"Only while in the kernel\"; the kernel classification needs updating", metricsDoc)
	}

	raw, err := os.ReadFile(filepath.Join(root, rulesFile))
	if err != nil {
		return nil, err
	}
	if inv.Rules, err = promlint.ParseRuleFile(raw); err != nil {
		return nil, fmt.Errorf("%s: %w", rulesFile, err)
	}
	for _, g := range inv.Rules.Groups {
		for _, r := range g.Rules {
			key := "alert " + r.Alert
			if r.Record != "" {
				key = "record " + r.Record
			}
			inv.Queries = append(inv.Queries, query{Key: key, Expr: r.Expr, Expanded: r.Expr, Rule: true})
		}
	}

	files, err := filepath.Glob(filepath.Join(root, dashboardsDir, "*.json"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no dashboards in %s", filepath.Join(root, dashboardsDir))
	}
	slices.Sort(files)
	for _, f := range files {
		qs, err := dashboardQueries(f)
		if err != nil {
			return nil, err
		}
		inv.Queries = append(inv.Queries, qs...)
	}

	for i := range inv.Queries {
		q := &inv.Queries[i]
		if q.Parsed, err = promlint.ParseExpr(q.Expanded); err != nil {
			return nil, fmt.Errorf("%s: %q does not parse: %w", q.Key, q.Expanded, err)
		}
		q.Metrics = metricNames(q.Parsed)
		q.Class = inv.classify(q.Metrics)
	}
	return inv, nil
}

var labelValues = regexp.MustCompile(`^label_values\((.+),\s*([A-Za-z_][A-Za-z0-9_]*)\)$`)

// dashboardQueries returns the panel targets (rows' collapsed panels
// included), annotation queries and query variables of one dashboard.
func dashboardQueries(path string) ([]query, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var d promlint.GrafanaDashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	file := filepath.Base(path)
	var out []query
	add := func(key, expr, label string) error {
		if strings.TrimSpace(expr) == "" {
			return fmt.Errorf("%s: empty query", key)
		}
		x, err := expand(expr)
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		out = append(out, query{Key: key, Expr: expr, Expanded: x, Label: label})
		return nil
	}
	var panels []promlint.GrafanaPanel
	for _, p := range d.Panels {
		panels = append(panels, p)
		panels = append(panels, p.Panels...)
	}
	for _, p := range panels {
		for _, tg := range p.Targets {
			if err := add(fmt.Sprintf("%s: panel %q %s", file, p.Title, tg.RefID), tg.Expr, ""); err != nil {
				return nil, err
			}
		}
	}
	for _, a := range d.Annotations.List {
		if a.BuiltIn == 1 {
			continue
		}
		if err := add(fmt.Sprintf("%s: annotation %q", file, a.Name), a.Expr, ""); err != nil {
			return nil, err
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		key := fmt.Sprintf("%s: variable %s", file, v.Name)
		m := labelValues.FindStringSubmatch(strings.TrimSpace(v.QueryString()))
		if m == nil {
			return nil, fmt.Errorf("%s: %q is not label_values(selector, label)", key, v.QueryString())
		}
		if err := add(key, m[1], m[2]); err != nil {
			return nil, err
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no queries", path)
	}
	return out, nil
}

// metricNames returns the sorted series names an expression selects.
func metricNames(e parser.Expr) []string {
	var names []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		for _, m := range vs.LabelMatchers {
			if m.Name == "__name__" {
				name = m.Value
			}
		}
		if name != "" && !slices.Contains(names, name) {
			names = append(names, name)
		}
		return nil
	})
	slices.Sort(names)
	return names
}

// classify returns the class of a query reading metrics: kernel if it
// reads any kernel-only series, else actuator if it reads an actuator
// series, else core if it reads any core series, else lb.
func (inv *inventory) classify(metrics []string) class {
	switch {
	case slices.ContainsFunc(metrics, func(m string) bool { return inv.KernelOnly[m] }):
		return classKernel
	case slices.ContainsFunc(metrics, func(m string) bool { return strings.HasPrefix(m, "vigil_actuator_") }):
		return classActuator
	case slices.ContainsFunc(metrics, coreMetric):
		return classCore
	}
	return classLB
}

// emptyOK says why a dashboard query may return nothing in the lab (and,
// with InVM, in the VM tier).
type emptyOK struct {
	// Why is the reason, for the report.
	Why string
	// Filtered marks a query that is empty only because a comparison with
	// a number (`> 0`, `== 1`) filters out the series it computes: with
	// the comparisons removed (relax) it must return data, which proves
	// that its selectors, joins and functions are right.
	Filtered bool
	// InVM marks an entry that holds in the VM tier too (vm_test.go),
	// where vigil programs a real IPVS table and the test acts through the
	// actuator. Every other query must return data there.
	InVM bool
	// VMOnly marks an InVM entry that does not hold in the lab.
	VMOnly bool
}

// Reasons shared by several entries.
const (
	noActions   = "> 0: no actuator action happens in the lab; vigil_actuator_actions_total exists at 0 for every action, source and result"
	noDrops     = "no VRRP packet is dropped in a healthy lab; the error counters exist at 0 for every reason"
	noOverrides = "no override is active in the lab"
)

// allowedEmpty lists every dashboard query that may return no data in the
// lab, with the reason; those marked InVM may be empty in the VM tier too. Queries that read IPVS kernel series (classKernel)
// are not listed: they are allowed to be empty because the lab's kernel
// has no IPVS, which the class says. A key starting with "*: " applies to
// every dashboard. VRRP, configuration, build, process and scrape queries
// (classCore) may only be listed as Filtered. TestQueryInventory keeps the
// table free of stale and redundant entries.
var allowedEmpty = map[string]emptyOK{
	`*: annotation "Actuator actions"`:                            {Filtered: true, Why: noActions},
	`vigil-actuator.json: panel "Actions by action and result" A`: {Filtered: true, Why: noActions},
	`vigil-actuator.json: panel "Guard refusals" A`: {Filtered: true,
		Why: "> 0: no guard refuses anything; the refusal counters exist at 0 for every guard"},
	`vigil-actuator.json: panel "Oldest override age" A`: {
		Why: noOverrides + ": vigil_actuator_override_age_seconds is absent without one"},
	`vigil-actuator.json: panel "Drained real servers" A`: {Filtered: true,
		Why: "== 1: " + noOverrides + ", so nothing is drained"},
	`vigil-ipvs.json: panel "Consecutive failures" A`: {Filtered: true,
		Why: "> 0: the real server (busybox httpd on client) passes its check"},
	`vigil-ipvs.json: panel "Skipped runs" A`: {Filtered: true, InVM: true,
		Why: "> 0: no check overruns its delay_loop"},
	`vigil-ipvs.json: panel "MySQL replica lag" A`: {InVM: true, VMOnly: true,
		Why: "the VM runs no MySQL check (the lab checks a MariaDB dual master), so vigil_check_mysql_replica_lag_seconds has no series"},
	`vigil-ipvs.json: panel "Kernel operations" A`: {Filtered: true,
		Why: "> 0: without IPVS in the kernel vigil performs no kernel operation; the counters exist at 0 for every kind"},
	`vigil-overview.json: panel "Dropped VRRP packets" A`:  {Filtered: true, InVM: true, Why: "> 0: " + noDrops},
	`vigil-vrrp.json: panel "Dropped packets by reason" A`: {Filtered: true, InVM: true, Why: "> 0: " + noDrops},
	`vigil-vrrp.json: panel "Dropped packets on the interface" A`: {Filtered: true, InVM: true,
		Why: "> 0: " + noDrops + ", and packets for unknown VRIDs are not sent"},
}

// emptyAllowance returns the allowedEmpty entry of a query and its key.
func emptyAllowance(key string) (emptyOK, string, bool) {
	if e, ok := allowedEmpty[key]; ok {
		return e, key, true
	}
	if i := strings.Index(key, ": "); i >= 0 {
		wild := "*" + key[i:]
		if e, ok := allowedEmpty[wild]; ok {
			return e, wild, true
		}
	}
	return emptyOK{}, "", false
}

// relax removes from e every comparison of a vector with a number literal
// that is not a `bool` comparison, keeping the vector side: `x > 0`
// becomes `x`. The result computes the same series the original filters.
func relax(e parser.Expr) parser.Expr {
	switch n := e.(type) {
	case *parser.BinaryExpr:
		if n.Op.IsComparisonOperator() && !n.ReturnBool {
			if isNumber(n.RHS) {
				return relax(n.LHS)
			}
			if isNumber(n.LHS) {
				return relax(n.RHS)
			}
		}
		c := *n
		c.LHS, c.RHS = relax(n.LHS), relax(n.RHS)
		return &c
	case *parser.ParenExpr:
		c := *n
		c.Expr = relax(n.Expr)
		return &c
	case *parser.AggregateExpr:
		c := *n
		c.Expr = relax(n.Expr)
		return &c
	case *parser.Call:
		c := *n
		c.Args = make(parser.Expressions, len(n.Args))
		for i, a := range n.Args {
			c.Args[i] = relax(a)
		}
		return &c
	case *parser.UnaryExpr:
		c := *n
		c.Expr = relax(n.Expr)
		return &c
	case *parser.SubqueryExpr:
		c := *n
		c.Expr = relax(n.Expr)
		return &c
	case *parser.StepInvariantExpr:
		c := *n
		c.Expr = relax(n.Expr)
		return &c
	}
	return e
}

// isNumber reports whether e is a number literal, possibly in parentheses
// or negated.
func isNumber(e parser.Expr) bool {
	switch n := e.(type) {
	case *parser.NumberLiteral:
		return true
	case *parser.ParenExpr:
		return isNumber(n.Expr)
	case *parser.UnaryExpr:
		return isNumber(n.Expr)
	}
	return false
}

// TestQueryInventory needs no lab: every rule and dashboard query is
// found, has its variables substituted and parses, and allowedEmpty names
// only dashboard queries that exist, never one whose class already
// allows it to be empty, and VRRP, configuration, build, process and
// scrape queries only when a filter empties them.
func TestQueryInventory(t *testing.T) {
	inv, err := loadInventory(mustRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	count := map[class]int{}
	for _, q := range inv.Queries {
		if q.Rule {
			continue
		}
		count[q.Class]++
		if len(q.Metrics) == 0 {
			t.Errorf("%s: %q reads no series", q.Key, q.Expanded)
		}
		e, key, ok := emptyAllowance(q.Key)
		if !ok {
			continue
		}
		used[key] = true
		if q.Class == classKernel {
			t.Errorf("allowedEmpty[%q]: the query reads IPVS kernel series %v, which already allows it to be empty", key, q.Metrics)
		}
		if q.Class == classCore && !e.Filtered {
			t.Errorf("allowedEmpty[%q]: a %s query must return data; only a filtered one may be listed", key, q.Class)
		}
		if e.VMOnly && !e.InVM {
			t.Errorf("allowedEmpty[%q] is VMOnly but not InVM: it would hold nowhere", key)
		}
		if e.Filtered && relax(q.Parsed).String() == q.Parsed.String() {
			t.Errorf("allowedEmpty[%q] is Filtered, but %q has no comparison with a number to remove", key, q.Expanded)
		}
	}
	for key := range allowedEmpty {
		if !used[key] {
			t.Errorf("allowedEmpty[%q] names no dashboard query: remove it", key)
		}
	}
	t.Logf("%d queries: %d rules; dashboards: %d core, %d lb, %d actuator, %d kernel", len(inv.Queries),
		len(inv.Rules.Records())+len(inv.Rules.Alerts()), count[classCore], count[classLB], count[classActuator], count[classKernel])
}

// TestRelax pins what relax removes.
func TestRelax(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`sum by (a) (rate(x[1m])) > 0`, `sum by (a) (rate(x[1m]))`},
		{`x == 1`, `x`},
		{`0 < x`, `x`},
		{`(x > 0) and on (a) y`, `(x) and on (a) y`},
		{`x > bool 0`, `x > bool 0`},
		{`x != on (a) y`, `x != on (a) y`},
		{`count(x == 0) or vector(0)`, `count(x) or vector(0)`},
		{`increase(x[1h]) > 2`, `increase(x[1h])`},
	} {
		e, err := promlint.ParseExpr(c.in)
		if err != nil {
			t.Fatal(err)
		}
		want, err := promlint.ParseExpr(c.want)
		if err != nil {
			t.Fatal(err)
		}
		if got := relax(e).String(); got != want.String() {
			t.Errorf("relax(%s) = %s, want %s", c.in, got, want)
		}
	}
}

// TestExpand pins the variable syntaxes expand knows.
func TestExpand(t *testing.T) {
	got, err := expand(`rate(x{job=~"$job",instance=~"${instance}",vrrp_instance=~"[[vrrp_instance]]"}[$__rate_interval])`)
	if err != nil {
		t.Fatal(err)
	}
	if want := `rate(x{job=~"vigil",instance=~".+",vrrp_instance=~"VI_1"}[1m])`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if _, err := expand(`x{a=~"$nope"}`); err == nil {
		t.Error("an unknown variable expanded")
	}
}
