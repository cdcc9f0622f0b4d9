package promlint

import (
	"encoding/json"
	"strings"
	"testing"
)

// goodDashboard passes every rule.
const goodDashboard = `{
  "uid": "t", "title": "T", "editable": false,
  "templating": {"list": [
    {"type": "datasource", "name": "datasource", "label": "Data source", "query": "prometheus"},
    {"type": "query", "name": "job", "label": "Job", "query": "label_values(vigil_ipvs_up, job)",
     "datasource": {"type": "prometheus", "uid": "${datasource}"}, "multi": true, "includeAll": true, "allValue": ".+", "refresh": 2},
    {"type": "query", "name": "instance", "label": "Instance", "query": "label_values(vigil_ipvs_up{job=~\"$job\"}, instance)",
     "datasource": {"type": "prometheus", "uid": "${datasource}"}, "multi": true, "includeAll": true, "allValue": ".+", "refresh": 2},
    {"type": "query", "name": "vrrp_instance", "label": "VRRP instance", "query": {"query": "label_values(vigil_vrrp_instance_state{job=~\"$job\"}, vrrp_instance)"},
     "datasource": {"type": "prometheus", "uid": "$datasource"}, "refresh": 2}
  ]},
  "annotations": {"list": [
    {"name": "builtin", "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"}},
    {"name": "changes", "datasource": {"type": "prometheus", "uid": "${datasource}"}, "titleFormat": "{{vrrp_instance}} {{state}}",
     "expr": "changes(vigil_vrrp_instance_state{job=~\"$job\",instance=~\"$instance\",vrrp_instance=~\"$vrrp_instance\"}[$__rate_interval]) > 0"}
  ]},
  "panels": [
    {"id": 1, "type": "row", "title": "Row", "datasource": {"type": "prometheus", "uid": "${datasource}"},
     "gridPos": {"x": 0, "y": 0, "w": 24, "h": 1}},
    {"id": 2, "type": "timeseries", "title": "Takeovers", "description": "d",
     "datasource": {"type": "prometheus", "uid": "${datasource}"},
     "gridPos": {"x": 0, "y": 1, "w": 12, "h": 8},
     "fieldConfig": {"defaults": {"unit": "short"}},
     "targets": [{"refId": "A", "datasource": {"type": "prometheus", "uid": "${datasource}"}, "legendFormat": "{{instance}} {{to}}",
       "expr": "sum by (instance, to) (increase(vigil_vrrp_instance_transitions_total{job=~\"$job\",instance=~\"$instance\",vrrp_instance=~\"$vrrp_instance\"}[$__rate_interval]))"}]},
    {"id": 3, "type": "stat", "title": "IPVS", "description": "d",
     "datasource": {"type": "prometheus", "uid": "$datasource"},
     "gridPos": {"x": 12, "y": 1, "w": 12, "h": 8},
     "fieldConfig": {"defaults": {"unit": "none"}},
     "targets": [{"refId": "A", "datasource": {"type": "prometheus", "uid": "${datasource}"},
       "expr": "count(vigil_ipvs_up{job=~\"$job\",instance=~\"$instance\"} == 0) or vector(0)"}]}
  ]
}`

func lintMutated(t *testing.T, mutate func(d map[string]any)) []string {
	t.Helper()
	var d map[string]any
	if err := json.Unmarshal([]byte(goodDashboard), &d); err != nil {
		t.Fatal(err)
	}
	mutate(d)
	raw, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return DashboardLint{Catalog: testCatalog(t)}.Lint(raw)
}

func panelN(d map[string]any, i int) map[string]any {
	return d["panels"].([]any)[i].(map[string]any)
}

func targetN(d map[string]any, p int) map[string]any {
	return panelN(d, p)["targets"].([]any)[0].(map[string]any)
}

func variable(d map[string]any, name string) map[string]any {
	for _, v := range d["templating"].(map[string]any)["list"].([]any) {
		if v.(map[string]any)["name"] == name {
			return v.(map[string]any)
		}
	}
	return nil
}

func TestGoodDashboardPasses(t *testing.T) {
	if problems := lintMutated(t, func(map[string]any) {}); len(problems) > 0 {
		t.Errorf("%q", problems)
	}
}

func TestDashboardLintFindsProblems(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(d map[string]any)
		want   string // a substring of a problem, starting with the rule
	}{
		{"editable", func(d map[string]any) { d["editable"] = true }, "uneditable-dashboard-rule"},
		{"no datasource variable", func(d map[string]any) {
			variable(d, "datasource")["type"] = "custom"
		}, "template-datasource-rule: dashboard has no datasource variable"},
		{"datasource variable misnamed", func(d map[string]any) {
			variable(d, "datasource")["name"] = "ds"
		}, "template-datasource-rule: datasource variable is \"ds\""},
		{"no job variable", func(d map[string]any) { variable(d, "job")["name"] = "jobs" }, "template-job-rule: dashboard has no job variable"},
		{"instance not multi", func(d map[string]any) { variable(d, "instance")["multi"] = false }, "template-instance-rule: variable instance should be a multi-select"},
		{"job all value", func(d map[string]any) { variable(d, "job")["allValue"] = ".*" }, "template-job-rule: variable job has All as \".*\""},
		{"job label", func(d map[string]any) { variable(d, "job")["label"] = "job" }, "template-job-rule: variable job is labelled \"job\""},
		{"refresh", func(d map[string]any) { variable(d, "job")["refresh"] = 1 }, "template-on-time-change-reload-rule"},
		{"variable query", func(d map[string]any) {
			variable(d, "vrrp_instance")["query"] = "label_values(vigil_vrrp_instance_state, vrrp)"
		}, "template-label-promql-rule: variable \"vrrp_instance\": the series of vigil_vrrp_instance_state have no label \"vrrp\""},
		{"variable datasource", func(d map[string]any) {
			variable(d, "job")["datasource"] = map[string]any{"type": "prometheus", "uid": "P1809F7CD0C75ACF3"}
		}, "panel-datasource-rule: variable \"job\""},
		{"panel datasource", func(d map[string]any) {
			panelN(d, 1)["datasource"] = map[string]any{"type": "prometheus", "uid": "prom-main"}
		}, "panel-datasource-rule: panel 2 \"Takeovers\" does not use the datasource variable"},
		{"row datasource", func(d map[string]any) { delete(panelN(d, 0), "datasource") }, "panel-datasource-rule: panel 1 \"Row\""},
		{"target datasource", func(d map[string]any) { delete(targetN(d, 2), "datasource") }, "panel-datasource-rule: panel 3 \"IPVS\" target 0"},
		{"annotation datasource", func(d map[string]any) {
			d["annotations"].(map[string]any)["list"].([]any)[1].(map[string]any)["datasource"] = nil
		}, "panel-datasource-rule: annotation \"changes\""},
		{"no unit", func(d map[string]any) { panelN(d, 1)["fieldConfig"] = map[string]any{} }, "panel-units-rule"},
		{"bad unit", func(d map[string]any) {
			panelN(d, 1)["fieldConfig"] = map[string]any{"defaults": map[string]any{"unit": "seconds"}}
		}, "panel-units-rule"},
		{"no description", func(d map[string]any) { delete(panelN(d, 2), "description") }, "panel-title-description-rule: panel 3 \"IPVS\" has no description"},
		{"no title", func(d map[string]any) { panelN(d, 2)["title"] = "" }, "panel-title-description-rule"},
		{"no targets", func(d map[string]any) { panelN(d, 2)["targets"] = []any{} }, "panel-no-targets-rule"},
		{"duplicate id", func(d map[string]any) { panelN(d, 2)["id"] = 2 }, "panel-id-rule: panel 2 \"IPVS\" has the id of panel \"Takeovers\""},
		{"overlap", func(d map[string]any) {
			panelN(d, 2)["gridPos"] = map[string]any{"x": 6, "y": 1, "w": 12, "h": 8}
		}, "panel-gridpos-rule: panel 3 \"IPVS\" overlaps panel 2"},
		{"off grid", func(d map[string]any) {
			panelN(d, 2)["gridPos"] = map[string]any{"x": 20, "y": 9, "w": 12, "h": 8}
		}, "panel-gridpos-rule"},
		{"fixed range", func(d map[string]any) {
			targetN(d, 1)["expr"] = strings.ReplaceAll(targetN(d, 1)["expr"].(string), "$__rate_interval", "5m")
		}, "target-promql-rule: panel 2 \"Takeovers\" target 0 (A): range [5m]"},
		{"no job matcher", func(d map[string]any) {
			targetN(d, 2)["expr"] = `count(vigil_ipvs_up{instance=~"$instance"} == 0)`
		}, `lacks the matcher job=~"$job"`},
		{"no dashboard variable matcher", func(d map[string]any) {
			targetN(d, 1)["expr"] = `sum by (instance, to) (increase(vigil_vrrp_instance_transitions_total{job=~"$job",instance=~"$instance"}[$__rate_interval]))`
		}, `lacks the matcher vrrp_instance=~"$vrrp_instance"`},
		{"raw counter", func(d map[string]any) {
			targetN(d, 1)["expr"] = `vigil_vrrp_instance_transitions_total{job=~"$job",instance=~"$instance",vrrp_instance=~"$vrrp_instance"}`
		}, "is a counter"},
		{"unknown metric", func(d map[string]any) {
			targetN(d, 2)["expr"] = `vigil_ipvs_upp{job=~"$job",instance=~"$instance"}`
		}, "metric vigil_ipvs_upp does not exist"},
		{"unparsable", func(d map[string]any) { targetN(d, 2)["expr"] = `sum(` }, "does not parse"},
		{"undefined variable", func(d map[string]any) {
			targetN(d, 2)["expr"] = `vigil_ipvs_up{job=~"$job",instance=~"$instance",x=~"$nope"}`
		}, "template-variables-defined-rule: panel 3 \"IPVS\" target 0 (A): variable $nope is not defined"},
		{"legend label", func(d map[string]any) { targetN(d, 1)["legendFormat"] = "{{vrrp_instance}}" }, "target-legend-rule"},
		{"annotation title label", func(d map[string]any) {
			d["annotations"].(map[string]any)["list"].([]any)[1].(map[string]any)["titleFormat"] = "{{address}}"
		}, "target-legend-rule: annotation \"changes\""},
		{"empty query", func(d map[string]any) { targetN(d, 2)["expr"] = " " }, "target-promql-rule: panel 3 \"IPVS\" target 0 (A): empty query"},
		{"repeated refId", func(d map[string]any) {
			p := panelN(d, 2)
			p["targets"] = append(p["targets"].([]any), p["targets"].([]any)[0])
		}, "target-refid-rule"},
		{"unknown panel type", func(d map[string]any) { panelN(d, 2)["type"] = "piechart" }, "panel-type-rule"},
	} {
		problems := lintMutated(t, tc.mutate)
		found := false
		for _, p := range problems {
			found = found || strings.Contains(p, tc.want)
		}
		if !found {
			t.Errorf("%s: problems %q, want one containing %q", tc.name, problems, tc.want)
		}
	}
}

func TestExpandGrafana(t *testing.T) {
	defined := map[string]bool{"job": true}
	got, problems := ExpandGrafana(`rate(x{job=~"$job"}[$__rate_interval]) + rate(x[${__interval}]) + rate(x[[[__range]]])`, defined)
	if want := `rate(x{job=~"$job"}[4242s]) + rate(x[4243s]) + rate(x[4244s])`; got != want || len(problems) > 0 {
		t.Errorf("got %q %q, want %q", got, problems, want)
	}
	if _, problems := ExpandGrafana(`x{a="$nope"}`, defined); len(problems) != 1 || !strings.Contains(problems[0], "$nope") {
		t.Errorf("undefined variable: %q", problems)
	}
	if _, problems := ExpandGrafana(`sum by ($job) (x)`, defined); len(problems) != 1 || !strings.Contains(problems[0], "outside a quoted string") {
		t.Errorf("variable outside a string: %q", problems)
	}
	if _, problems := ExpandGrafana(`x{a="${job:regex}"}`, defined); len(problems) > 0 {
		t.Errorf("formatted variable: %q", problems)
	}
}
