package actuator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// APIPrefix is where the daemon serves APIHandler.
const APIPrefix = "/api/v1/"

// maxAPIBody bounds an API request's body.
const maxAPIBody = 64 << 10

// Audit tail limits of GET /api/v1/actions.
const (
	defaultActionsLimit = 100
	maxActionsLimit     = 10000
)

// Request headers of the API.
const (
	// HeaderSource is "cli" when the vigil CLI sends the request; anything
	// else is the API.
	HeaderSource = "Vigil-Source"
	// HeaderUser names the operator for the audit log when the listener
	// does not authenticate users itself (basic auth wins).
	HeaderUser = "Vigil-User"
)

// APIRequest is the body of the API's POST requests. Fields that the
// action does not take are errors.
type APIRequest struct {
	VirtualServer string `json:"virtual_server,omitempty"`
	RealServer    string `json:"real_server,omitempty"`
	VRRPInstance  string `json:"vrrp_instance,omitempty"`
	// Weight is /weight's weight, required there: a number, or null to
	// remove the weight override.
	Weight json.RawMessage `json:"weight,omitempty"`
	// Hold is how long /failover and /resign hold off preemption, as
	// "10m"; "" is DefaultFailoverHold.
	Hold   string `json:"hold,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Force bypasses the min_healthy_per_virtual_server and
	// max_concurrent_actions guards.
	Force  bool `json:"force,omitempty"`
	DryRun bool `json:"dry_run,omitempty"`
}

// APIHandler serves the operators' API (paths under APIPrefix), with the
// same authentication as the webhook. Answers are JSON.
//
//	GET  /api/v1/status          {"enabled", "dry_run", "overrides", "node"}
//	GET  /api/v1/overrides       {"overrides": [Override...]}
//	GET  /api/v1/actions?limit=N {"actions": [Record...]}, the last N (default 100, at most 10000), oldest first
//	POST /api/v1/drain           {"virtual_server", "real_server", "reason", "force", "dry_run"}
//	POST /api/v1/undrain         {"virtual_server", "real_server", "reason", "dry_run"}
//	POST /api/v1/weight          {"virtual_server", "real_server", "weight": N|null, "reason", "force", "dry_run"}
//	POST /api/v1/failover        {"vrrp_instance", "hold", "reason", "dry_run"}
//	POST /api/v1/resign          {"hold", "reason", "dry_run"}
//	POST /api/v1/hold            {"vrrp_instance", "reason", "force", "dry_run"}
//	POST /api/v1/release         {"vrrp_instance", "reason", "dry_run"}
//
// A POST answers the Outcome: 200 applied, noop or dry_run; 409 refused by
// a guard; 400 invalid; 404 unknown target; 503 retryable failure; 500
// other failure. Errors before an outcome exists are {"error": "..."}.
func (a *Actuator) APIHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/status", a.apiStatus)
	mux.HandleFunc("GET /api/v1/overrides", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"overrides": a.Overrides()})
	})
	mux.HandleFunc("GET /api/v1/actions", a.apiActions)
	for path, act := range map[string]Action{
		"drain": ActionDrain, "undrain": ActionUndrain, "weight": ActionSetWeight,
		"failover": ActionFailover, "resign": ActionResign, "hold": ActionHold, "release": ActionRelease,
	} {
		mux.HandleFunc("POST /api/v1/"+path, func(w http.ResponseWriter, r *http.Request) { a.apiAction(w, r, act) })
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		if authorized(a.cfg.Load(), r) {
			mux.ServeHTTP(rec, r)
		} else {
			rec.Header().Set("WWW-Authenticate", `Bearer realm="vigil"`)
			writeJSON(rec, http.StatusUnauthorized, apiError{"unauthorized"})
		}
		a.metrics.api.WithLabelValues(strconv.Itoa(rec.code)).Inc()
	})
}

type apiError struct {
	Error string `json:"error"`
}

func (a *Actuator) apiStatus(w http.ResponseWriter, r *http.Request) {
	cfg := a.cfg.Load()
	var node any
	if a.status != nil {
		var err error
		if node, err = a.status(r.Context()); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, apiError{"node status: " + err.Error()})
			return
		}
	}
	writeJSON(w, http.StatusOK, struct {
		Enabled   bool       `json:"enabled"`
		DryRun    bool       `json:"dry_run"`
		Overrides []Override `json:"overrides"`
		Node      any        `json:"node"`
	}{cfg.cfg.Enabled, cfg.cfg.DryRun, a.Overrides(), node})
}

func (a *Actuator) apiActions(w http.ResponseWriter, r *http.Request) {
	n := defaultActionsLimit
	if s := r.URL.Query().Get("limit"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 || v > maxActionsLimit {
			writeJSON(w, http.StatusBadRequest, apiError{fmt.Sprintf("limit: want an integer from 1 to %d, got %q", maxActionsLimit, s)})
			return
		}
		n = v
	}
	recs, err := a.AuditTail(n)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, apiError{err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"actions": recs})
}

func (a *Actuator) apiAction(w http.ResponseWriter, r *http.Request, act Action) {
	body, err := decodeAPIRequest(http.MaxBytesReader(w, r.Body, maxAPIBody))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{err.Error()})
		return
	}
	req, err := body.request(act)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{err.Error()})
		return
	}
	req.Source, req.RemoteAddr = SourceAPI, r.RemoteAddr
	if r.Header.Get(HeaderSource) == string(SourceCLI) {
		req.Source = SourceCLI
	}
	req.Who = r.Header.Get(HeaderUser)
	if user, _, ok := r.BasicAuth(); ok {
		req.Who = user
	}
	out := a.Handle(r.Context(), req)
	writeJSON(w, apiCode(out), out)
}

func decodeAPIRequest(r io.Reader) (APIRequest, error) {
	var body APIRequest
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		if errors.Is(err, io.EOF) {
			return body, errors.New("empty body: want a JSON object")
		}
		return body, fmt.Errorf("decoding request: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return body, errors.New("decoding request: data after the JSON object")
	}
	return body, nil
}

// request turns the body into a Request for act.
func (b APIRequest) request(act Action) (Request, error) {
	req := Request{
		Action: act, Reason: b.Reason, Force: b.Force, DryRun: b.DryRun,
		Target: Target{VirtualServer: b.VirtualServer, RealServer: b.RealServer, VRRPInstance: b.VRRPInstance},
	}
	if act == ActionSetWeight {
		if b.Weight == nil {
			return req, errors.New("weight: required (null removes the weight override)")
		}
		if !bytes.Equal(b.Weight, []byte("null")) {
			var w int
			if err := json.Unmarshal(b.Weight, &w); err != nil {
				return req, fmt.Errorf("weight: want an integer or null, got %s", b.Weight)
			}
			req.Weight = &w
		}
	} else if b.Weight != nil {
		return req, fmt.Errorf("weight: only for /weight")
	}
	if b.Hold != "" {
		if act != ActionFailover && act != ActionResign {
			return req, errors.New("hold: only for /failover and /resign")
		}
		d, err := time.ParseDuration(b.Hold)
		if err != nil || d <= 0 {
			return req, fmt.Errorf("hold: want a positive duration such as \"10m\", got %q", b.Hold)
		}
		req.Hold = d
	}
	return req, nil
}

// apiCode is the HTTP status of an outcome.
func apiCode(o Outcome) int {
	switch o.Result {
	case ResultRefused:
		return http.StatusConflict
	case ResultFailed:
		switch {
		case errors.Is(o.Err, ErrInvalidRequest):
			return http.StatusBadRequest
		case errors.Is(o.Err, ErrUnknownTarget):
			return http.StatusNotFound
		case o.Retryable():
			return http.StatusServiceUnavailable
		default:
			return http.StatusInternalServerError
		}
	}
	return http.StatusOK
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"error": "encoding the answer"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}
