package actuator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	amtemplate "github.com/prometheus/alertmanager/template"
)

// WebhookPath is where the daemon serves WebhookHandler.
const WebhookPath = "/actuator/webhook"

// WebhookVersion is the webhook payload version the actuator accepts.
const WebhookVersion = "4"

// maxWebhookBody bounds a webhook request's body.
const maxWebhookBody = 4 << 20

// Message is Alertmanager's webhook payload, as notify/webhook.Message
// sends it (version 4).
type Message struct {
	amtemplate.Data

	Version         string `json:"version"`
	GroupKey        string `json:"groupKey"`
	TruncatedAlerts uint64 `json:"truncatedAlerts"`
}

// DecodeWebhook reads one webhook payload from r and checks it: one JSON
// object and nothing after it, version "4", every alert firing or
// resolved. Alerts without a fingerprint get their labels' fingerprint, as
// Alertmanager computes it. Fields it does not know are ignored, as newer
// Alertmanagers may add some.
func DecodeWebhook(r io.Reader) (*Message, error) {
	dec := json.NewDecoder(r)
	var m Message
	if err := dec.Decode(&m); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty body")
		}
		return nil, fmt.Errorf("decoding webhook payload: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, fmt.Errorf("decoding webhook payload: %w", err)
		}
		return nil, errors.New("decoding webhook payload: data after the JSON object")
	}
	if m.Version != WebhookVersion {
		return nil, fmt.Errorf("unsupported webhook payload version %q (want %q)", m.Version, WebhookVersion)
	}
	for i := range m.Alerts {
		a := &m.Alerts[i]
		if a.Status != string(StatusFiring) && a.Status != string(StatusResolved) {
			return nil, fmt.Errorf("alerts[%d]: status %q is neither firing nor resolved", i, a.Status)
		}
		if a.Fingerprint == "" {
			a.Fingerprint = labelSet(a.Labels).Fingerprint().String()
		}
	}
	return &m, nil
}

// AlertStatus is an alert's status in a payload.
type AlertStatus string

// The alert statuses.
const (
	StatusFiring   AlertStatus = "firing"
	StatusResolved AlertStatus = "resolved"
)

// WebhookHandler serves Alertmanager's webhook (POST, version 4 payload).
// The answer is text, one line per outcome:
//
//	200  handled: applied, refused by a guard, dry run, already done,
//	     nothing matched ("nothing to do")
//	400  payload that does not decode or is not version 4
//	401  missing or wrong bearer token (nothing is done)
//	403  actuator.enabled is false
//	405  not POST
//	413  body over 4 MiB
//	422  an action that can never succeed: a template that fails on the
//	     alert, a target this node does not have, a final executor error
//	     (the body lists the failures; the rest was done)
//	503  a retryable executor failure (the body lists the failures);
//	     Alertmanager retries and what was done is not done twice
//
// webhookCodes lists these codes; every answer is counted in
// vigil_actuator_webhook_requests_total, which has a series at 0 for each
// of them from the start.
func (a *Actuator) WebhookHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		a.serveWebhook(rec, r)
		a.metrics.webhook.WithLabelValues(strconv.Itoa(rec.code)).Inc()
	})
}

// webhookCodes are the status codes WebhookHandler answers with (the
// table in its comment). A code the handler can answer must be here: the
// actuator's tests fail when an answer's code is not.
var webhookCodes = []int{
	http.StatusOK,
	http.StatusBadRequest,
	http.StatusUnauthorized,
	http.StatusForbidden,
	http.StatusMethodNotAllowed,
	http.StatusRequestEntityTooLarge,
	http.StatusUnprocessableEntity,
	http.StatusServiceUnavailable,
}

func (a *Actuator) serveWebhook(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		textResponse(w, http.StatusMethodNotAllowed, "method not allowed: use POST\n")
		return
	}
	cfg := a.cfg.Load()
	if !authorized(cfg, r) {
		unauthorized(w)
		return
	}
	if !cfg.cfg.Enabled {
		textResponse(w, http.StatusForbidden, "actuator disabled (actuator.enabled is false)\n")
		return
	}
	m, err := DecodeWebhook(http.MaxBytesReader(w, r.Body, maxWebhookBody))
	if err != nil {
		code := http.StatusBadRequest
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			code, err = http.StatusRequestEntityTooLarge, fmt.Errorf("body larger than %d bytes", mbe.Limit)
		}
		textResponse(w, code, err.Error()+"\n")
		return
	}
	if m.TruncatedAlerts > 0 {
		a.logger.Warn("Alertmanager truncated the notification: raise the receiver's max_alerts", "truncated", m.TruncatedAlerts, "receiver", m.Receiver)
	}
	outs := a.HandleWebhook(r.Context(), m, r.RemoteAddr)
	code := http.StatusOK
	for _, o := range outs {
		if o.Result != ResultFailed {
			continue
		}
		if o.Retryable() {
			code = http.StatusServiceUnavailable
		} else if code == http.StatusOK {
			code = http.StatusUnprocessableEntity
		}
	}
	var b strings.Builder
	for _, o := range outs {
		if code == http.StatusOK || o.Result == ResultFailed {
			b.WriteString(o.String() + "\n")
		}
	}
	if b.Len() == 0 {
		b.WriteString("nothing to do\n")
	}
	textResponse(w, code, b.String())
}

// HandleWebhook acts on a decoded payload: for each firing alert, every
// rule that matches it; for each resolved alert, the undo of what it
// caused. remote is the sender's address, for the audit log.
func (a *Actuator) HandleWebhook(ctx context.Context, m *Message, remote string) []Outcome {
	a.mu.Lock()
	defer a.mu.Unlock()
	cfg := a.cfg.Load()
	now := a.now()
	var outs []Outcome
	for i := range m.Alerts {
		al := &m.Alerts[i]
		if AlertStatus(al.Status) == StatusResolved {
			outs = append(outs, a.resolve(ctx, cfg, al.Fingerprint, m.Receiver, remote, now)...)
			continue
		}
		ls := labelSet(al.Labels)
		for _, r := range cfg.rules {
			if !r.matches(ls, a.routerID) {
				continue
			}
			ref := AlertRef{Rule: r.Name, Fingerprint: al.Fingerprint}
			req := Request{
				Action: r.Action, Weight: r.Weight, Source: SourceWebhook, Who: m.Receiver, RemoteAddr: remote,
				Reason: alertReason(al), Alert: &ref, OnResolvedUndo: r.undo, DryRun: cfg.cfg.DryRun,
			}
			if r.Action == ActionFailover || r.Action == ActionResign {
				req.Hold = r.hold
			}
			t, err := r.target(newTemplateData(m, al))
			if err != nil {
				out := Outcome{Action: r.Action, Rule: r.Name, Fingerprint: al.Fingerprint}
				outs = append(outs, a.finish(req, out.failed(err), now))
				continue
			}
			req.Target = t
			outs = append(outs, a.handle(ctx, cfg, req, now))
		}
	}
	return outs
}

// alertReason is the audit reason for an alert's action: its name and
// summary.
func alertReason(al *amtemplate.Alert) string {
	s := al.Labels["alertname"]
	if sum := al.Annotations["summary"]; sum != "" {
		s += ": " + sum
	}
	return s
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}

func textResponse(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	io.WriteString(w, body)
}
