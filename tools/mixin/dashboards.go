package mixin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/statetimeline"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// Dashboard is one generated Grafana dashboard.
type Dashboard struct {
	UID  string
	JSON []byte
}

// Dashboards returns vigil's dashboards, each with a stable UID that is
// also its file name (dashboards/<uid>.json).
func Dashboards() ([]Dashboard, error) {
	var out []Dashboard
	for _, build := range []func() *board{
		overviewDashboard, vrrpDashboard, ipvsDashboard, actuatorDashboard, selfDashboard,
	} {
		b := build()
		raw, err := b.marshal()
		if err != nil {
			return nil, fmt.Errorf("dashboard %s: %w", b.uid, err)
		}
		out = append(out, Dashboard{UID: b.uid, JSON: raw})
	}
	return out, nil
}

// selector is what every dashboard query filters on: the job and instance
// variables. Queries write "{SEL}" or "{SEL," for it.
const selector = `job=~"$job",instance=~"$instance"`

func ptr[T any](v T) *T { return &v }

// datasource is the reference every panel, target, annotation and query
// variable uses: the dashboard's datasource variable.
func datasource() common.DataSourceRef {
	return common.DataSourceRef{Type: ptr("prometheus"), Uid: ptr("${datasource}")}
}

// board wraps the SDK's dashboard builder with what every vigil dashboard
// shares: the variables, panel IDs handed out in order, the {SEL}
// placeholder, and Prometheus annotations.
type board struct {
	uid         string
	b           *dashboard.DashboardBuilder
	nextID      uint32
	annotations []promAnnotation
}

func newBoard(uid, title, description string, vars ...cog.Builder[dashboard.VariableModel]) *board {
	b := dashboard.NewDashboardBuilder(title).
		Uid(uid).
		Description(description).
		Tags([]string{"vigil"}).
		Readonly().
		Refresh("30s").
		Time("now-3h", "now").
		Timezone(common.TimeZoneBrowser).
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		Link(dashboard.NewDashboardLinkBuilder("vigil dashboards").
			Type(dashboard.DashboardLinkTypeDashboards).
			Tags([]string{"vigil"}).
			AsDropdown(true).
			IncludeVars(true).
			KeepTime(true)).
		WithVariable(dashboard.NewDatasourceVariableBuilder("datasource").
			Label("Data source").
			Type("prometheus")).
		WithVariable(queryVar("job", "Job", "label_values(vigil_build_info, job)", true)).
		WithVariable(queryVar("instance", "Instance", `label_values(vigil_build_info{job=~"$job"}, instance)`, true))
	for _, v := range vars {
		b.WithVariable(v)
	}
	return &board{uid: uid, b: b, nextID: 1}
}

// queryVar is a variable filled from label values. A multi-select one
// includes "All" as the regex .+ (so a label that is present matches), as
// Grafana's dashboard linter requires for job and instance.
func queryVar(name, label, query string, multi bool) *dashboard.QueryVariableBuilder {
	v := dashboard.NewQueryVariableBuilder(name).
		Label(label).
		Query(dashboard.StringOrMap{String: ptr(query)}).
		Datasource(datasource()).
		Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
		Sort(dashboard.VariableSortAlphabeticalAsc)
	if multi {
		v.Multi(true).IncludeAll(true).AllValue(".+")
	}
	return v
}

// q fills the {SEL} placeholder of a dashboard query.
func q(expr string) string {
	return strings.NewReplacer("{SEL}", "{"+selector+"}", "{SEL,", "{"+selector+",").
		Replace(strings.TrimSpace(dedent(expr)))
}

// target is one Prometheus query of a panel.
type target struct {
	expr, legend string
	instant      bool // an instant query returning a table (for table panels)
}

func t(expr, legend string) target { return target{expr: expr, legend: legend} }

func instantTable(expr string) target { return target{expr: expr, instant: true} }

func (tg target) build(refID string) *prometheus.DataqueryBuilder {
	b := prometheus.NewDataqueryBuilder().
		Expr(q(tg.expr)).
		RefId(refID).
		Datasource(datasource())
	if tg.instant {
		b.Instant().Format(prometheus.PromQueryFormatTable)
	} else {
		b.LegendFormat(tg.legend)
	}
	return b
}

func targets(ts []target) []cog.Builder[variants.Dataquery] {
	out := make([]cog.Builder[variants.Dataquery], len(ts))
	for i, tg := range ts {
		out[i] = tg.build(string(rune('A' + i)))
	}
	return out
}

func (d *board) id() uint32 {
	id := d.nextID
	d.nextID++
	return id
}

func (d *board) row(title string) {
	d.b.WithRow(dashboard.NewRowBuilder(title).Id(d.id()).Datasource(datasource()))
}

// panel holds what every panel kind takes.
type panel struct {
	title, description, unit string
	width, height            uint32
	targets                  []target
}

func (d *board) timeseries(p panel, tweak ...func(*timeseries.PanelBuilder)) {
	b := timeseries.NewPanelBuilder().
		Id(d.id()).Title(p.title).Description(p.description).Unit(p.unit).
		Datasource(datasource()).Targets(targets(p.targets)).
		Span(p.width).Height(p.height).
		FillOpacity(10).
		ShowPoints(common.VisibilityModeNever).
		Legend(common.NewVizLegendOptionsBuilder().
			DisplayMode(common.LegendDisplayModeList).
			Placement(common.LegendPlacementBottom).
			ShowLegend(true)).
		Tooltip(common.NewVizTooltipOptionsBuilder().
			Mode(common.TooltipDisplayModeMulti).
			Sort(common.SortOrderDescending))
	for _, f := range tweak {
		f(b)
	}
	d.b.WithPanel(b)
}

// bars draws a time series as bars: for counts per interval (increase).
func bars(b *timeseries.PanelBuilder) {
	b.DrawStyle(common.GraphDrawStyleBars).FillOpacity(80)
}

func (d *board) stat(p panel, tweak ...func(*stat.PanelBuilder)) {
	b := stat.NewPanelBuilder().
		Id(d.id()).Title(p.title).Description(p.description).Unit(p.unit).
		Datasource(datasource()).Targets(targets(p.targets)).
		Span(p.width).Height(p.height).
		GraphMode(common.BigValueGraphModeNone).
		ColorMode(common.BigValueColorModeBackground).
		ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"}))
	for _, f := range tweak {
		f(b)
	}
	d.b.WithPanel(b)
}

// zeroIsGood colours a count green at 0 and red from 1 on.
func zeroIsGood(b *stat.PanelBuilder) {
	b.Thresholds(thresholds("green", 1, "red"))
}

func thresholds(base string, steps ...any) *dashboard.ThresholdsConfigBuilder {
	list := []dashboard.Threshold{{Value: nil, Color: base}}
	for i := 0; i+1 < len(steps); i += 2 {
		list = append(list, dashboard.Threshold{Value: ptr(float64(steps[i].(int))), Color: steps[i+1].(string)})
	}
	return dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps(list)
}

func (d *board) timeline(p panel, mappings []dashboard.ValueMapping) {
	b := statetimeline.NewPanelBuilder().
		Id(d.id()).Title(p.title).Description(p.description).Unit(p.unit).
		Datasource(datasource()).Targets(targets(p.targets)).
		Span(p.width).Height(p.height).
		Mappings(mappings).
		ShowValue(common.VisibilityModeNever).
		MergeValues(true).
		FillOpacity(80).
		ColorScheme(dashboard.NewFieldColorBuilder().Mode(dashboard.FieldColorModeIdFixed).FixedColor("text"))
	d.b.WithPanel(b)
}

// table shows an instant query's series as rows, one column per label
// (the hidden ones excepted) and the value renamed to valueName.
func (d *board) table(p panel, valueName string, hidden ...string) {
	exclude := map[string]any{"Time": true, "__name__": true}
	for _, h := range hidden {
		exclude[h] = true
	}
	b := table.NewPanelBuilder().
		Id(d.id()).Title(p.title).Description(p.description).Unit(p.unit).
		Datasource(datasource()).Targets(targets(p.targets)).
		Span(p.width).Height(p.height).
		WithTransformation(dashboard.DataTransformerConfig{
			Id: "organize",
			Options: map[string]any{
				"excludeByName": exclude,
				"renameByName":  map[string]any{"Value": valueName},
			},
		})
	d.b.WithPanel(b)
}

// valueMap maps numeric values to texts and colours, as "1", "UP", "green".
func valueMap(triples ...string) []dashboard.ValueMapping {
	opts := map[string]dashboard.ValueMappingResult{}
	for i := 0; i+2 < len(triples); i += 3 {
		opts[triples[i]] = dashboard.ValueMappingResult{
			Text: ptr(triples[i+1]), Color: ptr(triples[i+2]), Index: ptr(int32(i / 3)),
		}
	}
	return []dashboard.ValueMapping{{ValueMap: &dashboard.ValueMap{Type: dashboard.MappingTypeValueToText, Options: opts}}}
}

// upDown maps 1/0 to the given words, green and red.
func upDown(up, down string) []dashboard.ValueMapping {
	return valueMap("1", up, "green", "0", down, "red")
}

// promAnnotation is a Prometheus annotation query. The foundation SDK's
// AnnotationQuery (v0.0.7) has no titleFormat, textFormat, tagKeys or
// step, which Grafana's Prometheus annotations need to say what happened,
// so annotations are written from this struct instead.
type promAnnotation struct {
	Name            string               `json:"name"`
	Datasource      common.DataSourceRef `json:"datasource"`
	Enable          bool                 `json:"enable"`
	Hide            bool                 `json:"hide"`
	IconColor       string               `json:"iconColor"`
	Expr            string               `json:"expr"`
	Step            string               `json:"step"`
	TitleFormat     string               `json:"titleFormat"`
	TextFormat      string               `json:"textFormat"`
	TagKeys         string               `json:"tagKeys"`
	UseValueForTime bool                 `json:"useValueForTime"`
}

func (d *board) annotate(name, color, expr, title, text, tagKeys string) {
	d.annotations = append(d.annotations, promAnnotation{
		Name: name, Datasource: datasource(), Enable: true, IconColor: color,
		Expr: q(expr), Step: "", TitleFormat: title, TextFormat: text, TagKeys: tagKeys,
	})
}

// The annotations every dashboard shows.
func (d *board) standardAnnotations(vrrpFilter string) {
	d.annotate("VRRP state changes", "orange", `
		(changes(vigil_vrrp_instance_last_transition_timestamp_seconds{SEL`+vrrpFilter+`}[$__rate_interval]) > 0)
		  * on (job, instance, vrrp_instance) group_left (state)
		(vigil_vrrp_instance_state{SEL`+vrrpFilter+`} == 1)`,
		"{{vrrp_instance}}: {{instance}} is now {{state}}", "VRRP instance {{vrrp_instance}} changed state on {{instance}}",
		"vrrp_instance,instance,state")
	d.annotate("Actuator actions", "purple", `
		sum by (job, instance, action, source, result) (
		  increase(vigil_actuator_actions_total{SEL}[$__rate_interval])
		) > 0`,
		"{{action}} ({{result}})", "vigil's actuator on {{instance}} ran {{action}} from {{source}}: {{result}}",
		"action,source,result")
}

// dashboardJSON is the SDK's dashboard with the annotations replaced by
// promAnnotation (the outer field wins over the embedded one).
type dashboardJSON struct {
	dashboard.Dashboard
	Annotations struct {
		List []promAnnotation `json:"list"`
	} `json:"annotations"`
}

func (d *board) marshal() ([]byte, error) {
	built, err := d.b.Build()
	if err != nil {
		return nil, err
	}
	out := dashboardJSON{Dashboard: built}
	out.Annotations.List = d.annotations
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
