package actuator

import (
	"strings"
	"text/template"
	"time"

	amtemplate "github.com/prometheus/alertmanager/template"
	"github.com/prometheus/common/model"
)

// templateData is what a rule's target templates see: one alert and the
// notification it came in.
type templateData struct {
	Status       string
	Labels       amtemplate.KV
	Annotations  amtemplate.KV
	Fingerprint  string
	StartsAt     time.Time
	EndsAt       time.Time
	GeneratorURL string

	Receiver          string
	GroupLabels       amtemplate.KV
	CommonLabels      amtemplate.KV
	CommonAnnotations amtemplate.KV
	ExternalURL       string
}

func newTemplateData(m *Message, a *amtemplate.Alert) templateData {
	return templateData{
		Status: a.Status, Labels: a.Labels, Annotations: a.Annotations, Fingerprint: a.Fingerprint,
		StartsAt: a.StartsAt, EndsAt: a.EndsAt, GeneratorURL: a.GeneratorURL,
		Receiver: m.Receiver, GroupLabels: m.GroupLabels, CommonLabels: m.CommonLabels,
		CommonAnnotations: m.CommonAnnotations, ExternalURL: m.ExternalURL,
	}
}

// matches reports whether the rule applies to an alert with labels ls on
// node routerID.
func (r *rule) matches(ls model.LabelSet, routerID string) bool {
	if !r.matchers.Matches(ls) {
		return false
	}
	if r.OnlySelf {
		self, ok := ls[SelfLabel]
		return ok && routerID != "" && string(self) == routerID
	}
	return true
}

// target renders the rule's target for an alert. Errors wrap
// ErrInvalidRequest: the same alert will always fail the same way.
func (r *rule) target(d templateData) (Target, error) {
	var t Target
	for _, f := range []struct {
		tmpl *template.Template
		dst  *string
	}{{r.vs, &t.VirtualServer}, {r.rs, &t.RealServer}, {r.instance, &t.VRRPInstance}} {
		if f.tmpl == nil {
			continue
		}
		var b strings.Builder
		if err := f.tmpl.Execute(&b, d); err != nil {
			return Target{}, invalidf("rendering target.%s: %v", f.tmpl.Name(), err)
		}
		s := strings.TrimSpace(b.String())
		if s == "" {
			return Target{}, invalidf("rendering target.%s: %q gives an empty name", f.tmpl.Name(), f.tmpl.Root.String())
		}
		*f.dst = s
	}
	return t, nil
}

// labelSet converts alert labels for the matchers.
func labelSet(kv amtemplate.KV) model.LabelSet {
	ls := make(model.LabelSet, len(kv))
	for k, v := range kv {
		ls[model.LabelName(k)] = model.LabelValue(v)
	}
	return ls
}
