package promlint

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

// The rules below are those of Grafana's dashboard-linter
// (github.com/grafana/dashboard-linter, lint/rule_*.go), re-implemented
// because the linter cannot be fetched here, made stricter where vigil's
// dashboards promise more (every range is $__rate_interval; rows,
// annotations and variables use the datasource variable too; counters are
// known from docs/metrics.md rather than guessed from a _total suffix),
// and extended with checks against the metric catalog.

// GrafanaDashboard is the part of a dashboard's JSON model the lint reads.
type GrafanaDashboard struct {
	UID        string         `json:"uid"`
	Title      string         `json:"title"`
	Editable   *bool          `json:"editable"`
	Panels     []GrafanaPanel `json:"panels"`
	Templating struct {
		List []GrafanaVariable `json:"list"`
	} `json:"templating"`
	Annotations struct {
		List []GrafanaAnnotation `json:"list"`
	} `json:"annotations"`
}

// GrafanaDatasource is a data source reference.
type GrafanaDatasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// GrafanaPanel is a panel or a row (whose collapsed panels it holds).
type GrafanaPanel struct {
	ID          int                `json:"id"`
	Type        string             `json:"type"`
	Title       string             `json:"title"`
	Description string             `json:"description"`
	Datasource  *GrafanaDatasource `json:"datasource"`
	Targets     []GrafanaTarget    `json:"targets"`
	GridPos     struct {
		X int `json:"x"`
		Y int `json:"y"`
		W int `json:"w"`
		H int `json:"h"`
	} `json:"gridPos"`
	FieldConfig struct {
		Defaults struct {
			Unit string `json:"unit"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
	Panels []GrafanaPanel `json:"panels"`
}

// GrafanaTarget is a panel's query.
type GrafanaTarget struct {
	RefID        string             `json:"refId"`
	Expr         string             `json:"expr"`
	LegendFormat string             `json:"legendFormat"`
	Datasource   *GrafanaDatasource `json:"datasource"`
}

// GrafanaVariable is a template variable.
type GrafanaVariable struct {
	Name       string             `json:"name"`
	Label      string             `json:"label"`
	Type       string             `json:"type"`
	Query      json.RawMessage    `json:"query"`
	Datasource *GrafanaDatasource `json:"datasource"`
	Multi      bool               `json:"multi"`
	IncludeAll bool               `json:"includeAll"`
	AllValue   string             `json:"allValue"`
	Refresh    int                `json:"refresh"`
}

// QueryString returns the variable's query, written as a string or as an
// object with a "query" field.
func (v GrafanaVariable) QueryString() string {
	var s string
	if json.Unmarshal(v.Query, &s) == nil {
		return s
	}
	var obj struct {
		Query string `json:"query"`
	}
	if json.Unmarshal(v.Query, &obj) == nil {
		return obj.Query
	}
	return ""
}

// GrafanaAnnotation is an annotation query.
type GrafanaAnnotation struct {
	Name        string             `json:"name"`
	Datasource  *GrafanaDatasource `json:"datasource"`
	Expr        string             `json:"expr"`
	TitleFormat string             `json:"titleFormat"`
	TextFormat  string             `json:"textFormat"`
	BuiltIn     float64            `json:"builtIn"`
}

// RateInterval is the duration $__rate_interval expands to for checking;
// a range of exactly this length was written as $__rate_interval.
const RateInterval = 4242 * time.Second

// grafanaDurations are Grafana's global variables that stand for a
// duration, with distinct stand-ins so that a check can tell them apart.
var grafanaDurations = map[string]string{
	"__rate_interval": "4242s",
	"__interval":      "4243s",
	"__range":         "4244s",
}

// grafanaGlobals are the other global variables Grafana defines.
var grafanaGlobals = []string{
	"__interval_ms", "__range_s", "__range_ms", "__from", "__to", "__dashboard",
	"__name", "__org", "__user", "timeFilter", "__timeFilter",
}

var variableRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_.]*)(?::[A-Za-z]+)?\}|\$([A-Za-z_][A-Za-z0-9_]*)|\[\[([A-Za-z_][A-Za-z0-9_.]*)\]\]`)

// ExpandGrafana replaces the duration variables of a Grafana query with
// stand-ins that parse as durations and returns the result, with a
// problem for every variable that is not defined (defined holds the
// dashboard's variables) and for every variable used outside a quoted
// string, where no stand-in could make the query parse as Grafana would.
func ExpandGrafana(expr string, defined map[string]bool) (string, []string) {
	var problems []string
	out := variableRef.ReplaceAllStringFunc(expr, func(ref string) string {
		m := variableRef.FindStringSubmatch(ref)
		name := m[1] + m[2] + m[3]
		if d, ok := grafanaDurations[name]; ok {
			return d
		}
		if !defined[name] && !slices.Contains(grafanaGlobals, name) {
			problems = append(problems, fmt.Sprintf("variable $%s is not defined", name))
		}
		return ref
	})
	if strings.Contains(stripStrings(out), "$") {
		problems = append(problems, "a variable is used outside a quoted string")
	}
	return out, problems
}

// stripStrings removes the contents of PromQL string literals.
func stripStrings(s string) string {
	var b strings.Builder
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote == 0 && (c == '"' || c == '\'' || c == '`'):
			quote = c
		case quote != 0 && c == '\\' && quote != '`':
			i++
		case quote != 0 && c == quote:
			quote = 0
		case quote == 0:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// validUnits are Grafana unit IDs (packages/grafana-data valueFormats),
// the categories a load balancer's panels use.
var validUnits = []string{
	"none", "short", "percent", "percentunit", "string", "bool", "bool_yes_no", "bool_on_off",
	"bytes", "decbytes", "bits", "decbits", "kbytes", "mbytes", "gbytes",
	"pps", "binBps", "Bps", "binbps", "bps", "KBs", "MBs", "GBs",
	"ns", "µs", "ms", "s", "m", "h", "d", "dtdurationms", "dtdurations", "dthms", "dtdhms",
	"dateTimeAsIso", "dateTimeAsIsoNoDateIfToday", "dateTimeAsLocal", "dateTimeFromNow",
	"hertz", "cps", "ops", "reqps", "rps", "wps", "iops", "cpm", "opm", "rpm", "wpm",
}

// panelsWithQueries are the panel types whose targets, units and
// descriptions the lint requires (the linter's list plus the newer
// visualisations vigil uses).
var panelsWithQueries = []string{"stat", "singlestat", "graph", "table", "timeseries", "gauge", "state-timeline", "bargauge", "status-history", "heatmap"}

// DashboardLint lints dashboards.
type DashboardLint struct {
	Catalog *Catalog
}

// Lint returns the problems of one dashboard, each prefixed with the rule
// it breaks.
func (l DashboardLint) Lint(raw []byte) []string {
	var d GrafanaDashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		return []string{"dashboard-json: " + err.Error()}
	}
	var problems []string
	add := func(rule, format string, args ...any) {
		problems = append(problems, rule+": "+fmt.Sprintf(format, args...))
	}

	if d.UID == "" {
		add("dashboard-uid-rule", "dashboard %q has no uid", d.Title)
	}
	if d.Title == "" {
		add("dashboard-title-rule", "dashboard %q has no title", d.UID)
	}
	if d.Editable == nil || *d.Editable {
		add("uneditable-dashboard-rule", "dashboard is editable; it should be \"editable\": false (change the generator, not the JSON)")
	}

	// Variables.
	defined := map[string]bool{}
	var datasources []GrafanaVariable
	for _, v := range d.Templating.List {
		if defined[v.Name] {
			add("template-unique-rule", "variable %q is defined twice", v.Name)
		}
		defined[v.Name] = true
		if v.Type == "datasource" {
			datasources = append(datasources, v)
		}
	}
	switch {
	case len(datasources) == 0:
		add("template-datasource-rule", "dashboard has no datasource variable")
	case len(datasources) > 1:
		add("template-datasource-rule", "dashboard has %d datasource variables; vigil's dashboards have one", len(datasources))
	default:
		v := datasources[0]
		if v.Name != "datasource" || v.Label != "Data source" || v.QueryString() != "prometheus" {
			add("template-datasource-rule", "datasource variable is %q labelled %q for %q; want \"datasource\" labelled \"Data source\" for \"prometheus\"", v.Name, v.Label, v.QueryString())
		}
	}
	for _, name := range []string{"job", "instance"} {
		l.checkLabelVariable(&d, name, true, func(f string, a ...any) { add("template-"+name+"-rule", f, a...) })
	}
	var required []*labels.Matcher
	var requiredIfLabel []*labels.Matcher
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		if v.Name != "job" && v.Name != "instance" {
			l.checkLabelVariable(&d, v.Name, false, func(f string, a ...any) { add("template-label-variable-rule", f, a...) })
		}
		m := labels.MustNewMatcher(labels.MatchRegexp, v.Name, "$"+v.Name)
		if v.Name == "job" || v.Name == "instance" {
			required = append(required, m)
		} else {
			requiredIfLabel = append(requiredIfLabel, m)
		}
	}

	check := ExprCheck{Catalog: l.Catalog, Required: required, RequiredIfLabel: requiredIfLabel, Range: RateInterval}
	checkQuery := func(where, expr string, formats ...string) {
		if strings.TrimSpace(expr) == "" {
			add("target-promql-rule", "%s: empty query", where)
			return
		}
		expanded, vp := ExpandGrafana(expr, defined)
		for _, p := range vp {
			add("template-variables-defined-rule", "%s: %s", where, p)
		}
		res := check.Check(expanded)
		for _, p := range res.Problems {
			add("target-promql-rule", "%s: %s", where, p)
		}
		for _, f := range formats {
			if missing := MissingLabels(LegendLabels(f), res.Labels); len(missing) > 0 {
				add("target-legend-rule", "%s: %q prints %v, which the query's result does not have (it has %v)", where, f, missing, sortedKeys(res.Labels))
			}
		}
	}

	// Panels.
	ids := map[int]string{}
	var all []GrafanaPanel
	for _, p := range d.Panels {
		all = append(all, p)
		all = append(all, p.Panels...)
	}
	for _, p := range all {
		where := fmt.Sprintf("panel %d %q", p.ID, p.Title)
		if p.ID <= 0 {
			add("panel-id-rule", "%s has no id", where)
		} else if prev, dup := ids[p.ID]; dup {
			add("panel-id-rule", "%s has the id of panel %q", where, prev)
		}
		ids[p.ID] = p.Title
		if !usesDatasourceVariable(p.Datasource) {
			add("panel-datasource-rule", "%s does not use the datasource variable: %s", where, dsString(p.Datasource))
		}
		if p.Title == "" {
			add("panel-title-description-rule", "%s has no title", where)
		}
		if p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X < 0 || p.GridPos.X+p.GridPos.W > 24 {
			add("panel-gridpos-rule", "%s is placed outside the 24-column grid: %+v", where, p.GridPos)
		}
		if p.Type == "row" {
			continue
		}
		if !slices.Contains(panelsWithQueries, p.Type) {
			add("panel-type-rule", "%s has type %q, which the lint does not know", where, p.Type)
			continue
		}
		if p.Description == "" {
			add("panel-title-description-rule", "%s has no description", where)
		}
		if !slices.Contains(validUnits, p.FieldConfig.Defaults.Unit) {
			add("panel-units-rule", "%s has no or an invalid unit: %q", where, p.FieldConfig.Defaults.Unit)
		}
		if len(p.Targets) == 0 {
			add("panel-no-targets-rule", "%s has no targets", where)
		}
		refs := map[string]bool{}
		for i, tg := range p.Targets {
			tw := fmt.Sprintf("%s target %d (%s)", where, i, tg.RefID)
			if tg.RefID == "" || refs[tg.RefID] {
				add("target-refid-rule", "%s: refId missing or repeated", tw)
			}
			refs[tg.RefID] = true
			if !usesDatasourceVariable(tg.Datasource) {
				add("panel-datasource-rule", "%s does not use the datasource variable: %s", tw, dsString(tg.Datasource))
			}
			checkQuery(tw, tg.Expr, tg.LegendFormat)
		}
	}
	if overlaps := overlapping(d.Panels); len(overlaps) > 0 {
		for _, o := range overlaps {
			add("panel-gridpos-rule", "%s", o)
		}
	}

	// Variable queries.
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		where := fmt.Sprintf("variable %q", v.Name)
		if !usesDatasourceVariable(v.Datasource) {
			add("panel-datasource-rule", "%s does not use the datasource variable: %s", where, dsString(v.Datasource))
		}
		if v.Refresh != 2 {
			add("template-on-time-change-reload-rule", "%s refreshes %d; want 2 (on time range change)", where, v.Refresh)
		}
		l.checkVariableQuery(where, v.QueryString(), defined, func(f string, a ...any) { add("template-label-promql-rule", f, a...) })
	}

	// Annotations.
	for _, a := range d.Annotations.List {
		where := fmt.Sprintf("annotation %q", a.Name)
		if a.BuiltIn == 1 {
			continue
		}
		if !usesDatasourceVariable(a.Datasource) {
			add("panel-datasource-rule", "%s does not use the datasource variable: %s", where, dsString(a.Datasource))
		}
		if a.TitleFormat == "" {
			add("annotation-title-rule", "%s has no titleFormat", where)
		}
		checkQuery(where, a.Expr, a.TitleFormat, a.TextFormat)
	}
	return problems
}

func usesDatasourceVariable(ds *GrafanaDatasource) bool {
	return ds != nil && ds.Type == "prometheus" && (ds.UID == "${datasource}" || ds.UID == "$datasource")
}

func dsString(ds *GrafanaDatasource) string {
	if ds == nil {
		return "none"
	}
	return fmt.Sprintf("type %q uid %q", ds.Type, ds.UID)
}

// checkLabelVariable checks a variable that selects values of the label of
// the same name. The job and instance variables (linter: checkTemplate)
// must exist and be multi-select with "All" as .+.
func (l DashboardLint) checkLabelVariable(d *GrafanaDashboard, name string, mustMulti bool, add func(string, ...any)) {
	var v *GrafanaVariable
	for i := range d.Templating.List {
		if d.Templating.List[i].Name == name {
			v = &d.Templating.List[i]
		}
	}
	if v == nil {
		add("dashboard has no %s variable", name)
		return
	}
	if v.Type != "query" {
		add("variable %s is of type %q; want a Prometheus query", name, v.Type)
	}
	if v.Label == "" || (mustMulti && v.Label != strings.ToUpper(name[:1])+name[1:]) {
		add("variable %s is labelled %q", name, v.Label)
	}
	if !strings.Contains(v.QueryString(), ", "+name+")") {
		add("variable %s does not take the values of the label %s: %q", name, name, v.QueryString())
	}
	if mustMulti && (!v.Multi || !v.IncludeAll) {
		add("variable %s should be a multi-select with All", name)
	}
	if v.IncludeAll && v.AllValue != ".+" {
		add("variable %s has All as %q; want \".+\"", name, v.AllValue)
	}
}

var labelValuesQuery = regexp.MustCompile(`^label_values\((.+),\s*([A-Za-z_][A-Za-z0-9_]*)\)$`)

// checkVariableQuery checks label_values(selector, label): the selector
// is valid PromQL whose metrics exist and have the label.
func (l DashboardLint) checkVariableQuery(where, query string, defined map[string]bool, add func(string, ...any)) {
	m := labelValuesQuery.FindStringSubmatch(strings.TrimSpace(query))
	if m == nil {
		add("%s: %q is not label_values(selector, label)", where, query)
		return
	}
	expanded, vp := ExpandGrafana(m[1], defined)
	for _, p := range vp {
		add("%s: %s", where, p)
	}
	res := ExprCheck{Catalog: l.Catalog}.Check(expanded)
	for _, p := range res.Problems {
		add("%s: %s", where, p)
	}
	if res.Labels != nil && !res.Labels[m[2]] {
		add("%s: the series of %s have no label %q", where, m[1], m[2])
	}
}

// overlapping reports panels (rows expanded) that cover the same cell.
func overlapping(panels []GrafanaPanel) []string {
	type cell struct{ x, y int }
	owner := map[cell]string{}
	var out []string
	for _, p := range panels {
		name := fmt.Sprintf("panel %d %q", p.ID, p.Title)
		reported := false
		for x := p.GridPos.X; x < p.GridPos.X+p.GridPos.W; x++ {
			for y := p.GridPos.Y; y < p.GridPos.Y+p.GridPos.H; y++ {
				c := cell{x, y}
				if prev, ok := owner[c]; ok && !reported {
					out = append(out, fmt.Sprintf("%s overlaps %s at x=%d y=%d", name, prev, x, y))
					reported = true
				}
				owner[c] = name
			}
		}
	}
	return out
}

// DashboardUID returns the uid of a dashboard's JSON.
func DashboardUID(raw []byte) (string, error) {
	var d GrafanaDashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		return "", err
	}
	return d.UID, nil
}
