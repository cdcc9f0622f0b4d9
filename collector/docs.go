package collector

import (
	"bufio"
	"bytes"
	"fmt"
	"slices"
	"sort"
	"strings"

	dto "github.com/prometheus/client_model/go"
)

// Doc is one metric as docs/metrics.md documents it.
type Doc struct {
	Name    string
	Type    string   // counter, gauge, histogram, summary or untyped
	Labels  []string // sorted; empty for a metric without labels
	Meaning string
	Line    int // line of the table row in the markdown file
}

// docTypes maps the documented type names to exposition types.
var docTypes = map[string]dto.MetricType{
	"counter":   dto.MetricType_COUNTER,
	"gauge":     dto.MetricType_GAUGE,
	"histogram": dto.MetricType_HISTOGRAM,
	"summary":   dto.MetricType_SUMMARY,
	"untyped":   dto.MetricType_UNTYPED,
}

// DocumentedMetrics parses the metric tables of a markdown document such
// as docs/metrics.md and returns the documented metrics by name.
//
// A metric table is a pipe table whose first header cell is "Metric"; it
// must also have "Type", "Labels" and "Meaning" columns, in any order.
// Other tables, and tables inside fenced code blocks, are ignored. In a
// row the metric name is written in backticks, the type is one of the
// keys of docTypes, and the labels are a comma-separated list of
// backticked names, or "—", "-" or empty for none. A literal pipe inside a
// cell is written "\|". Rows that repeat a metric, name no metric, or have
// an unknown type or an empty meaning are errors.
func DocumentedMetrics(md []byte) (map[string]Doc, error) {
	docs := map[string]Doc{}
	var (
		cols    map[string]int // column name -> index; nil outside a metric table
		inTable bool           // inside any table (metric or not)
		fenced  bool
		header  []string // the previous line's cells: a candidate header
		lineNo  int
	)
	sc := bufio.NewScanner(bytes.NewReader(md))
	for sc.Scan() {
		lineNo++
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "```") || strings.HasPrefix(line, "~~~") {
			fenced = !fenced
			cols, inTable, header = nil, false, nil
			continue
		}
		if fenced || !strings.HasPrefix(line, "|") {
			cols, inTable, header = nil, false, nil
			continue
		}
		cells := splitRow(line)
		switch {
		case !inTable && header == nil:
			header = cells
			continue
		case !inTable:
			if !isDelimiterRow(cells) {
				return nil, fmt.Errorf("line %d: table header not followed by a delimiter row", lineNo)
			}
			inTable = true
			if !strings.EqualFold(header[0], "metric") {
				continue // not a metric table
			}
			cols = map[string]int{}
			for i, h := range header {
				cols[strings.ToLower(h)] = i
			}
			for _, want := range []string{"type", "labels", "meaning"} {
				if _, ok := cols[want]; !ok {
					return nil, fmt.Errorf("line %d: metric table has no %q column", lineNo-1, want)
				}
			}
			continue
		case cols == nil:
			continue // a row of some other table
		}
		d, err := parseDocRow(cells, cols)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", lineNo, err)
		}
		d.Line = lineNo
		if prev, ok := docs[d.Name]; ok {
			return nil, fmt.Errorf("line %d: %s already documented on line %d", lineNo, d.Name, prev.Line)
		}
		docs[d.Name] = d
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return docs, nil
}

func parseDocRow(cells []string, cols map[string]int) (Doc, error) {
	cell := func(name string) string {
		if i := cols[name]; i < len(cells) {
			return cells[i]
		}
		return ""
	}
	var d Doc
	names := backticked(cell("metric"))
	if len(names) != 1 || names[0] == "" {
		return d, fmt.Errorf("metric cell %q must hold one name in backticks", cell("metric"))
	}
	d.Name = names[0]
	d.Type = strings.ToLower(strings.TrimSpace(cell("type")))
	if _, ok := docTypes[d.Type]; !ok {
		return d, fmt.Errorf("%s: unknown type %q", d.Name, cell("type"))
	}
	switch l := strings.TrimSpace(cell("labels")); l {
	case "", "-", "—":
	default:
		for _, part := range strings.Split(l, ",") {
			ls := backticked(part)
			if len(ls) != 1 || ls[0] == "" {
				return d, fmt.Errorf("%s: label %q must be one name in backticks", d.Name, strings.TrimSpace(part))
			}
			d.Labels = append(d.Labels, ls[0])
		}
	}
	sort.Strings(d.Labels)
	for i := 1; i < len(d.Labels); i++ {
		if d.Labels[i] == d.Labels[i-1] {
			return d, fmt.Errorf("%s: label %q listed twice", d.Name, d.Labels[i])
		}
	}
	d.Meaning = cell("meaning")
	if d.Meaning == "" {
		return d, fmt.Errorf("%s: empty meaning", d.Name)
	}
	return d, nil
}

// splitRow splits a pipe-table row into trimmed cells, honouring "\|".
func splitRow(line string) []string {
	line = strings.TrimPrefix(line, "|")
	if strings.HasSuffix(line, "|") && !strings.HasSuffix(line, `\|`) {
		line = strings.TrimSuffix(line, "|")
	}
	var (
		cells []string
		cur   strings.Builder
	)
	for i := 0; i < len(line); i++ {
		switch {
		case line[i] == '\\' && i+1 < len(line) && line[i+1] == '|':
			cur.WriteByte('|')
			i++
		case line[i] == '|':
			cells = append(cells, strings.TrimSpace(cur.String()))
			cur.Reset()
		default:
			cur.WriteByte(line[i])
		}
	}
	return append(cells, strings.TrimSpace(cur.String()))
}

func isDelimiterRow(cells []string) bool {
	for _, c := range cells {
		c = strings.Trim(c, ":")
		if len(c) < 1 || strings.Trim(c, "-") != "" {
			return false
		}
	}
	return true
}

// backticked returns the contents of the backtick spans in s; nil if s
// holds text outside them.
func backticked(s string) []string {
	s = strings.TrimSpace(s)
	var out []string
	for s != "" {
		if s[0] != '`' {
			return nil
		}
		end := strings.IndexByte(s[1:], '`')
		if end < 0 {
			return nil
		}
		out = append(out, s[1:1+end])
		s = strings.TrimSpace(s[end+2:])
	}
	return out
}

// DocProblemKind classifies a disagreement between documentation and
// exposition.
type DocProblemKind int

// Kinds of DocProblem.
const (
	// Undocumented: a vigil_* metric is exposed but not documented.
	Undocumented DocProblemKind = iota
	// TypeMismatch: the documented type differs from the exposed one.
	TypeMismatch
	// LabelMismatch: the documented labels differ from the exposed ones.
	LabelMismatch
	// NotExposed: a documented metric is not exposed. A scrape of a live
	// vigil legitimately lacks some (e.g. transitions that never
	// happened), so callers decide whether this kind matters.
	NotExposed
)

// DocProblem is one disagreement between docs/metrics.md and an
// exposition.
type DocProblem struct {
	Metric string
	Kind   DocProblemKind
	Detail string
}

func (p DocProblem) String() string {
	return p.Metric + ": " + p.Detail
}

// CompareDocs reports every disagreement between docs and the exposed
// metric families, ordered by metric name. Only families named with the
// vigil_ prefix are considered: the standard go_* and process_* metrics
// are not vigil's to document. A family's label set is the union of its
// series' label names (histogram and summary "le"/"quantile" are not
// labels in the exposition model and are not documented).
func CompareDocs(docs map[string]Doc, families []*dto.MetricFamily) []DocProblem {
	var problems []DocProblem
	exposed := map[string]bool{}
	for _, mf := range families {
		name := mf.GetName()
		if !strings.HasPrefix(name, Namespace+"_") {
			continue
		}
		exposed[name] = true
		d, ok := docs[name]
		if !ok {
			problems = append(problems, DocProblem{name, Undocumented,
				fmt.Sprintf("exposed as a %s with labels %s but not documented",
					strings.ToLower(mf.GetType().String()), labelList(familyLabels(mf)))})
			continue
		}
		if got := mf.GetType(); docTypes[d.Type] != got {
			problems = append(problems, DocProblem{name, TypeMismatch,
				fmt.Sprintf("documented (line %d) as a %s, exposed as a %s", d.Line, d.Type, strings.ToLower(got.String()))})
		}
		got := familyLabels(mf)
		if missing, extra := diff(d.Labels, got), diff(got, d.Labels); len(missing)+len(extra) > 0 {
			var parts []string
			if len(extra) > 0 {
				parts = append(parts, "exposed but undocumented labels "+labelList(extra))
			}
			if len(missing) > 0 {
				parts = append(parts, "documented but unexposed labels "+labelList(missing))
			}
			problems = append(problems, DocProblem{name, LabelMismatch,
				fmt.Sprintf("documented (line %d) with labels %s, exposed with %s: %s",
					d.Line, labelList(d.Labels), labelList(got), strings.Join(parts, "; "))})
		}
	}
	for name, d := range docs {
		if !exposed[name] {
			problems = append(problems, DocProblem{name, NotExposed,
				fmt.Sprintf("documented (line %d) but not exposed", d.Line)})
		}
	}
	sort.SliceStable(problems, func(i, j int) bool {
		if problems[i].Metric != problems[j].Metric {
			return problems[i].Metric < problems[j].Metric
		}
		return problems[i].Kind < problems[j].Kind
	})
	return problems
}

// familyLabels returns the sorted union of the label names of mf's series.
func familyLabels(mf *dto.MetricFamily) []string {
	var out []string
	for _, m := range mf.GetMetric() {
		for _, lp := range m.GetLabel() {
			if !slices.Contains(out, lp.GetName()) {
				out = append(out, lp.GetName())
			}
		}
	}
	sort.Strings(out)
	return out
}

// diff returns the elements of a not in b.
func diff(a, b []string) []string {
	var out []string
	for _, s := range a {
		if !slices.Contains(b, s) {
			out = append(out, s)
		}
	}
	return out
}

func labelList(ls []string) string {
	if len(ls) == 0 {
		return "{}"
	}
	return "{" + strings.Join(ls, ", ") + "}"
}
