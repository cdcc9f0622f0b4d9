package live

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-lb/vigil/internal/lab"
)

// promAPI talks to Prometheus's HTTP API. Its connections are dialled from
// inside the namespace Prometheus runs in, so no traffic leaves the lab.
type promAPI struct {
	base string
	hc   *http.Client
}

// newPromAPI returns a client for the Prometheus listening on addr
// (host:port) inside h, or in the test's own namespace when h is nil.
func newPromAPI(h *lab.Host, addr string) *promAPI {
	if h == nil {
		return &promAPI{base: "http://" + addr, hc: &http.Client{Timeout: 10 * time.Second}}
	}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
			var c net.Conn
			err := h.Do(func() error {
				var err error
				c, err = (&net.Dialer{}).DialContext(ctx, network, a)
				return err
			})
			return c, err
		},
		MaxIdleConnsPerHost: 4,
	}
	return &promAPI{base: "http://" + addr, hc: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
}

// close drops the client's idle connections.
func (p *promAPI) close() { p.hc.CloseIdleConnections() }

// apiError is an error answer of the API ({"status":"error",...}).
type apiError struct {
	Status    int
	ErrorType string
	Message   string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("HTTP %d, %s: %s", e.Status, e.ErrorType, e.Message)
}

// get fetches path with params and decodes the envelope's data into out.
// It returns the envelope's warnings.
func (p *promAPI) get(path string, params url.Values, out any) ([]string, error) {
	u := p.base + path
	if len(params) > 0 {
		u += "?" + params.Encode()
	}
	resp, err := p.hc.Get(u)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	var env struct {
		Status    string          `json:"status"`
		Data      json.RawMessage `json:"data"`
		ErrorType string          `json:"errorType"`
		Error     string          `json:"error"`
		Warnings  []string        `json:"warnings"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, fmt.Errorf("GET %s: HTTP %d: decoding %q: %w", path, resp.StatusCode, truncate(string(body), 200), err)
	}
	if env.Status != "success" {
		return env.Warnings, &apiError{Status: resp.StatusCode, ErrorType: env.ErrorType, Message: env.Error}
	}
	if out != nil {
		if err := json.Unmarshal(env.Data, out); err != nil {
			return env.Warnings, fmt.Errorf("GET %s: decoding data: %w", path, err)
		}
	}
	return env.Warnings, nil
}

// ready reports whether Prometheus answers /-/ready with 200.
func (p *promAPI) ready() bool {
	resp, err := p.hc.Get(p.base + "/-/ready")
	if err != nil {
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// sample is one series of an instant vector.
type sample struct {
	Metric map[string]string
	Value  float64
}

// result is an instant query's result.
type result struct {
	Type     string // vector, scalar, matrix or string
	Samples  []sample
	Warnings []string
}

// empty reports whether the result holds no data. A scalar or string
// always holds one value.
func (r result) empty() bool {
	return (r.Type == "vector" || r.Type == "matrix") && len(r.Samples) == 0
}

// query runs an instant query at the current time.
func (p *promAPI) query(expr string) (result, error) {
	var data struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	warnings, err := p.get("/api/v1/query", url.Values{"query": {expr}}, &data)
	if err != nil {
		return result{}, err
	}
	r := result{Type: data.ResultType, Warnings: warnings}
	switch data.ResultType {
	case "vector":
		var v []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		}
		if err := json.Unmarshal(data.Result, &v); err != nil {
			return r, err
		}
		for _, s := range v {
			f, err := sampleValue(s.Value[1])
			if err != nil {
				return r, err
			}
			r.Samples = append(r.Samples, sample{Metric: s.Metric, Value: f})
		}
	case "matrix":
		var m []struct {
			Metric map[string]string `json:"metric"`
		}
		if err := json.Unmarshal(data.Result, &m); err != nil {
			return r, err
		}
		for _, s := range m {
			r.Samples = append(r.Samples, sample{Metric: s.Metric})
		}
	case "scalar", "string":
	default:
		return r, fmt.Errorf("query %q: unknown result type %q", expr, data.ResultType)
	}
	return r, nil
}

func sampleValue(v any) (float64, error) {
	s, ok := v.(string)
	if !ok {
		return 0, fmt.Errorf("sample value %v is not a string", v)
	}
	return strconv.ParseFloat(s, 64)
}

// ruleGroup and rule are the parts of /api/v1/rules the tests read.
type ruleGroup struct {
	Name           string    `json:"name"`
	File           string    `json:"file"`
	Rules          []rule    `json:"rules"`
	LastEvaluation time.Time `json:"lastEvaluation"`
}

type rule struct {
	Name           string    `json:"name"`
	Query          string    `json:"query"`
	Type           string    `json:"type"` // alerting or recording
	Health         string    `json:"health"`
	LastError      string    `json:"lastError"`
	LastEvaluation time.Time `json:"lastEvaluation"`
	Duration       float64   `json:"duration"` // for:, in seconds
}

// rules returns the loaded rule groups.
func (p *promAPI) rules() ([]ruleGroup, error) {
	var data struct {
		Groups []ruleGroup `json:"groups"`
	}
	_, err := p.get("/api/v1/rules", nil, &data)
	return data.Groups, err
}

// alert is one active (pending or firing) alert of /api/v1/alerts.
type alert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	State       string            `json:"state"`
	ActiveAt    time.Time         `json:"activeAt"`
	Value       string            `json:"value"`
}

func (a alert) String() string {
	return fmt.Sprintf("%v %s, active since %s, value %s", a.Labels, a.State, a.ActiveAt.Format(time.RFC3339Nano), a.Value)
}

// alerts returns the active alerts.
func (p *promAPI) alerts() ([]alert, error) {
	var data struct {
		Alerts []alert `json:"alerts"`
	}
	_, err := p.get("/api/v1/alerts", nil, &data)
	return data.Alerts, err
}

// matches reports whether a has every label of want.
func (a alert) matches(name string, want map[string]string) bool {
	if a.Labels["alertname"] != name {
		return false
	}
	for k, v := range want {
		if a.Labels[k] != v {
			return false
		}
	}
	return true
}

// findAlert returns the active alert name with the labels of want, if any.
func findAlert(alerts []alert, name string, want map[string]string) (alert, bool) {
	for _, a := range alerts {
		if a.matches(name, want) {
			return a, true
		}
	}
	return alert{}, false
}

// selectorString renders an alert name with label matchers for messages.
func selectorString(name string, want map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(want)) {
		parts = append(parts, fmt.Sprintf("%s=%q", k, want[k]))
	}
	return name + "{" + strings.Join(parts, ",") + "}"
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
