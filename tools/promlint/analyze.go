package promlint

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// ExprCheck says what to check in an expression besides what every
// expression is checked for (it parses; its metrics exist and have the
// labels it filters and groups by; counters are read through rate-like
// functions and only counters are).
type ExprCheck struct {
	Catalog *Catalog
	// Required are matchers every series selector must carry, such as
	// the job selector of the rules or job=~"$job" in dashboards.
	Required []*labels.Matcher
	// RequiredIfLabel are matchers a series selector must carry when the
	// series it selects has the matcher's label, such as
	// vrrp_instance=~"$vrrp_instance" in a dashboard about one instance.
	RequiredIfLabel []*labels.Matcher
	// Range, if not zero, is the only range a range selector may have
	// (dashboards: the placeholder $__rate_interval expands to).
	Range time.Duration
}

// Result is what checking one expression found.
type Result struct {
	// Labels are the labels the expression's result can carry; nil when
	// they cannot be known (an unknown metric inside).
	Labels map[string]bool
	// Problems are human-readable findings; none means the expression
	// passed.
	Problems []string
}

// ParseExpr parses PromQL with the default options of the parser.
func ParseExpr(expr string) (parser.Expr, error) {
	return parser.NewParser(parser.Options{}).ParseExpr(expr)
}

// ParseMatchers parses label matchers written without braces, like
// `job="vigil"` or `job=~"$job",instance=~"$instance"`.
func ParseMatchers(s string) ([]*labels.Matcher, error) {
	return parser.NewParser(parser.Options{}).ParseMetricSelector("{" + s + "}")
}

// Check parses expr and checks it.
func (o ExprCheck) Check(expr string) Result {
	e, err := ParseExpr(expr)
	if err != nil {
		return Result{Problems: []string{"does not parse: " + err.Error()}}
	}
	return o.CheckParsed(e)
}

// CheckParsed checks a parsed expression.
func (o ExprCheck) CheckParsed(e parser.Expr) Result {
	w := &walker{o: o, seen: map[string]bool{}}
	in := w.expr(e, false)
	return Result{Labels: in.labels, Problems: w.problems}
}

type lset = map[string]bool // nil: unknown

type info struct {
	labels lset
	scalar bool
}

type walker struct {
	o        ExprCheck
	problems []string
	seen     map[string]bool
}

func (w *walker) problem(format string, args ...any) {
	p := fmt.Sprintf(format, args...)
	if !w.seen[p] {
		w.seen[p] = true
		w.problems = append(w.problems, p)
	}
}

func set(names ...string) lset {
	s := lset{}
	for _, n := range names {
		s[n] = true
	}
	return s
}

func copySet(s lset) lset {
	if s == nil {
		return nil
	}
	out := lset{}
	for k := range s {
		out[k] = true
	}
	return out
}

func sortedKeys(s lset) []string {
	out := make([]string, 0, len(s))
	for k := range s {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// rateFuncs are the functions that read a counter correctly.
var rateFuncs = map[string]bool{"rate": true, "irate": true, "increase": true, "resets": true}

func (w *walker) expr(e parser.Expr, counterOK bool) info {
	switch n := e.(type) {
	case *parser.VectorSelector:
		return w.selector(n, counterOK)
	case *parser.MatrixSelector:
		if w.o.Range != 0 && n.Range != w.o.Range {
			w.problem("range [%s] of %s should be [$__rate_interval]", rangeString(n.Range), n.VectorSelector)
		}
		return w.expr(n.VectorSelector, counterOK)
	case *parser.SubqueryExpr:
		return w.expr(n.Expr, counterOK)
	case *parser.ParenExpr:
		return w.expr(n.Expr, counterOK)
	case *parser.StepInvariantExpr:
		return w.expr(n.Expr, counterOK)
	case *parser.UnaryExpr:
		return w.expr(n.Expr, false)
	case *parser.NumberLiteral, *parser.StringLiteral:
		return info{labels: lset{}, scalar: true}
	case *parser.Call:
		return w.call(n)
	case *parser.AggregateExpr:
		return w.aggregate(n)
	case *parser.BinaryExpr:
		return w.binary(n)
	}
	w.problem("cannot check %T %s", e, e)
	return info{}
}

func rangeString(d time.Duration) string {
	return strings.TrimSuffix(strings.TrimSuffix(d.String(), "0s"), "0m")
}

func (w *walker) selector(n *parser.VectorSelector, counterOK bool) info {
	name := n.Name
	for _, m := range n.LabelMatchers {
		if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
			name = m.Value
		}
	}
	if name == "" {
		w.problem("selector %s names no metric", n)
		return info{}
	}
	for _, req := range w.o.Required {
		if !hasMatcher(n.LabelMatchers, req) {
			w.problem("selector %s lacks the matcher %s", n, req)
		}
	}
	s, ok := w.o.Catalog.Lookup(name)
	if !ok {
		w.problem("metric %s does not exist (not in docs/metrics.md, not a standard go_/process_ or scrape series, not a recording rule)", name)
		return info{}
	}
	for _, req := range w.o.RequiredIfLabel {
		if s.Labels[req.Name] && !hasMatcher(n.LabelMatchers, req) {
			w.problem("selector %s lacks the matcher %s", n, req)
		}
	}
	for _, m := range n.LabelMatchers {
		if m.Name == labels.MetricName {
			continue
		}
		if !s.Labels[m.Name] {
			w.problem("%s has no label %q (its labels: %s)", name, m.Name, strings.Join(sortedKeys(s.Labels), ", "))
			continue
		}
		if values := w.o.Catalog.enum(name, m.Name); values != nil {
			w.enumMatcher(name, m, values)
		}
	}
	switch {
	case s.Counter && !counterOK:
		w.problem("%s is a counter: read it with rate(), irate(), increase() or resets(), not as a raw value", name)
	case !s.Counter && counterOK:
		w.problem("%s is not a counter: rate(), irate(), increase() and resets() of it mean nothing", name)
	}
	return info{labels: copySet(s.Labels)}
}

func hasMatcher(ms []*labels.Matcher, want *labels.Matcher) bool {
	for _, m := range ms {
		if m.Name == want.Name && m.Type == want.Type && m.Value == want.Value {
			return true
		}
	}
	return false
}

var literalAlternation = regexp.MustCompile(`^[A-Za-z0-9_]+(\|[A-Za-z0-9_]+)*$`)

// enumMatcher checks a matcher on a label whose values are known.
func (w *walker) enumMatcher(metric string, m *labels.Matcher, values []string) {
	switch m.Type {
	case labels.MatchEqual, labels.MatchNotEqual:
		if !slices.Contains(values, m.Value) {
			w.problem("%s{%s}: %q is not a value of %s (values: %s)", metric, m, m.Value, m.Name, strings.Join(values, ", "))
		}
	case labels.MatchRegexp, labels.MatchNotRegexp:
		if literalAlternation.MatchString(m.Value) {
			for _, v := range strings.Split(m.Value, "|") {
				if !slices.Contains(values, v) {
					w.problem("%s{%s}: %q is not a value of %s (values: %s)", metric, m, v, m.Name, strings.Join(values, ", "))
				}
			}
			return
		}
		if m.Type == labels.MatchRegexp && !slices.ContainsFunc(values, m.Matches) {
			w.problem("%s{%s} matches none of the values of %s (%s)", metric, m, m.Name, strings.Join(values, ", "))
		}
	}
}

func (w *walker) call(n *parser.Call) info {
	name := n.Func.Name
	args := make([]info, len(n.Args))
	for i, a := range n.Args {
		args[i] = w.expr(a, rateFuncs[name] && i == 0)
	}
	firstVector := func() info {
		for _, a := range args {
			if !a.scalar {
				return info{labels: copySet(a.labels)}
			}
		}
		return info{labels: lset{}}
	}
	switch name {
	case "histogram_quantile":
		in := args[1]
		if in.labels != nil && !in.labels["le"] {
			w.problem("histogram_quantile(%s): its argument has no le label; keep le when aggregating buckets", n.Args[1])
		}
		out := copySet(in.labels)
		delete(out, "le")
		return info{labels: out}
	case "label_replace", "label_join":
		out := copySet(args[0].labels)
		dst, ok := n.Args[1].(*parser.StringLiteral)
		if !ok {
			return info{}
		}
		srcs := n.Args[3:]
		if name == "label_replace" {
			srcs = n.Args[3:4]
		}
		for _, a := range srcs {
			if src, ok := a.(*parser.StringLiteral); ok && out != nil && !out[src.Val] {
				w.problem("%s(...): the series have no label %q", name, src.Val)
			}
		}
		if out != nil {
			out[dst.Val] = true
		}
		return info{labels: out}
	case "absent", "absent_over_time":
		out := lset{}
		var sel *parser.VectorSelector
		switch a := n.Args[0].(type) {
		case *parser.VectorSelector:
			sel = a
		case *parser.MatrixSelector:
			sel, _ = a.VectorSelector.(*parser.VectorSelector)
		}
		if sel != nil {
			for _, m := range sel.LabelMatchers {
				if m.Type == labels.MatchEqual && m.Name != labels.MetricName {
					out[m.Name] = true
				}
			}
		}
		return info{labels: out}
	case "vector":
		return info{labels: lset{}}
	}
	if n.Func.ReturnType == parser.ValueTypeScalar {
		return info{labels: lset{}, scalar: true}
	}
	return firstVector()
}

func (w *walker) aggregate(n *parser.AggregateExpr) info {
	in := w.expr(n.Expr, false)
	if n.Param != nil {
		w.expr(n.Param, false)
	}
	op := n.Op.String()
	if in.labels != nil {
		for _, g := range n.Grouping {
			if !in.labels[g] {
				w.problem("%s %s (%s): the aggregated series have no label %q", op, byWord(n.Without), strings.Join(n.Grouping, ", "), g)
			}
		}
	}
	switch op {
	case "topk", "bottomk", "limitk", "limit_ratio":
		return info{labels: copySet(in.labels)}
	}
	var out lset
	if n.Without {
		out = copySet(in.labels)
		for _, g := range n.Grouping {
			delete(out, g)
		}
	} else {
		out = set(n.Grouping...)
	}
	if op == "count_values" && out != nil {
		if p, ok := n.Param.(*parser.StringLiteral); ok {
			out[p.Val] = true
		}
	}
	return info{labels: out}
}

func byWord(without bool) string {
	if without {
		return "without"
	}
	return "by"
}

func (w *walker) binary(n *parser.BinaryExpr) info {
	l := w.expr(n.LHS, false)
	r := w.expr(n.RHS, false)
	switch {
	case l.scalar && r.scalar:
		return info{labels: lset{}, scalar: true}
	case l.scalar:
		return info{labels: copySet(r.labels)}
	case r.scalar:
		return info{labels: copySet(l.labels)}
	}
	vm := n.VectorMatching
	if vm == nil {
		vm = &parser.VectorMatching{Card: parser.CardOneToOne}
	}
	op := n.Op.String()
	known := l.labels != nil && r.labels != nil
	if vm.On {
		for _, ml := range vm.MatchingLabels {
			if l.labels != nil && !l.labels[ml] {
				w.problem("%s on (%s): the left side has no label %q", op, strings.Join(vm.MatchingLabels, ", "), ml)
			}
			if r.labels != nil && !r.labels[ml] {
				w.problem("%s on (%s): the right side has no label %q", op, strings.Join(vm.MatchingLabels, ", "), ml)
			}
		}
	} else if known {
		for _, ml := range vm.MatchingLabels {
			if !l.labels[ml] && !r.labels[ml] {
				w.problem("%s ignoring (%s): neither side has label %q", op, strings.Join(vm.MatchingLabels, ", "), ml)
			}
		}
		// Without on() both sides must agree on every label not ignored,
		// or nothing ever matches.
		if op != "or" && vm.Card != parser.CardManyToOne && vm.Card != parser.CardOneToMany {
			var onlyL, onlyR []string
			for k := range l.labels {
				if !r.labels[k] && !slices.Contains(vm.MatchingLabels, k) {
					onlyL = append(onlyL, k)
				}
			}
			for k := range r.labels {
				if !l.labels[k] && !slices.Contains(vm.MatchingLabels, k) {
					onlyR = append(onlyR, k)
				}
			}
			if len(onlyL)+len(onlyR) > 0 {
				sort.Strings(onlyL)
				sort.Strings(onlyR)
				w.problem("%s without on(): the sides' labels differ (only left: %v, only right: %v), so no series ever match", op, onlyL, onlyR)
			}
		}
	}
	switch vm.Card {
	case parser.CardManyToOne:
		for _, inc := range vm.Include {
			if r.labels != nil && !r.labels[inc] {
				w.problem("group_left (%s): the right side has no label %q", strings.Join(vm.Include, ", "), inc)
			}
		}
	case parser.CardOneToMany:
		for _, inc := range vm.Include {
			if l.labels != nil && !l.labels[inc] {
				w.problem("group_right (%s): the left side has no label %q", strings.Join(vm.Include, ", "), inc)
			}
		}
	}
	switch op {
	case "and", "unless":
		return info{labels: copySet(l.labels)}
	case "or":
		if !known {
			return info{}
		}
		out := copySet(l.labels)
		for k := range r.labels {
			out[k] = true
		}
		return info{labels: out}
	}
	switch vm.Card {
	case parser.CardManyToOne, parser.CardOneToMany:
		side := l
		if vm.Card == parser.CardOneToMany {
			side = r
		}
		out := copySet(side.labels)
		for _, inc := range vm.Include {
			if out != nil {
				out[inc] = true
			}
		}
		return info{labels: out}
	}
	if vm.On {
		return info{labels: set(vm.MatchingLabels...)}
	}
	out := copySet(l.labels)
	for _, ml := range vm.MatchingLabels {
		delete(out, ml)
	}
	return info{labels: out}
}

var (
	alertLabelRef  = regexp.MustCompile(`\$labels\.([A-Za-z_][A-Za-z0-9_]*)`)
	legendLabelRef = regexp.MustCompile(`\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}`)
)

// TemplateLabels returns the labels an alert's annotation or label
// template prints through $labels.
func TemplateLabels(text string) []string {
	var out []string
	for _, m := range alertLabelRef.FindAllStringSubmatch(text, -1) {
		out = append(out, m[1])
	}
	return out
}

// LegendLabels returns the labels a Grafana legend (or annotation title
// or text) format prints as {{label}}.
func LegendLabels(format string) []string {
	var out []string
	for _, m := range legendLabelRef.FindAllStringSubmatch(format, -1) {
		out = append(out, m[1])
	}
	return out
}

// MissingLabels returns the names in refs that are not in have; nothing
// when have is unknown.
func MissingLabels(refs []string, have map[string]bool) []string {
	if have == nil {
		return nil
	}
	var out []string
	for _, r := range refs {
		if !have[r] && !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}
