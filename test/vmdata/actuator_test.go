//go:build vm

package vmdata

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// actuatorSection enables the actuator without auth (the listener is on
// the VM's loopback) and with guards that do not get in the way of a
// benchmark: no cooldown and no rate limit.
const actuatorSection = `actuator:
  enabled: true
  auth: { disabled: true }
  rules:
    - name: drain-test
      match: ['alertname="DrainTest"']
      action: drain
      target: { virtual_server: '{{ .Labels.virtual_server }}', real_server: '{{ .Labels.real_server }}' }
  guards: { cooldown: 0s, rate_limit: { actions: 0, per: 1h } }
`

func webhookPayload(status, fingerprint string) []byte {
	return fmt.Appendf(nil, `{"version":"4","groupKey":"{}:{alertname=\"DrainTest\"}","status":%q,"receiver":"vigil",
"groupLabels":{},"commonLabels":{},"commonAnnotations":{},"externalURL":"http://am",
"alerts":[{"status":%q,"labels":{"alertname":"DrainTest","virtual_server":"web","real_server":%q},
"annotations":{},"startsAt":"2026-01-01T00:00:00Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"","fingerprint":%q}]}`,
		status, status, rsAddr("rs2").String(), fingerprint)
}

// TestWebhookToKernelWeight is the actuator's latency benchmark on a real
// IPVS kernel: an Alertmanager webhook for a firing alert drains rs2
// (weight 0 in the kernel), the resolved one undoes it. It reports
// p50/p99 from the webhook's arrival to the kernel holding the new weight.
// VIGIL_BENCH_ITERATIONS sets the number of rounds (default 3, enough to
// prove the chain in the test tier; `make bench-actuator` runs 100).
func TestWebhookToKernelWeight(t *testing.T) {
	n := 3
	if s := os.Getenv("VIGIL_BENCH_ITERATIONS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	l := newLab(t, "rs1", "rs2", "sorry")
	d := newDirector(t, vsOptions{quorum: 1})
	cfg, _ := os.ReadFile(d.cfgPath)
	if err := os.WriteFile(d.cfgPath, append(cfg, actuatorSection...), 0o644); err != nil {
		t.Fatal(err)
	}
	v := d.start()
	l.serving(t)
	hook := strings.TrimSuffix(v.url, "/metrics") + "/actuator/webhook"
	post := func(body []byte) {
		resp, err := http.Post(hook, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("webhook: %s", resp.Status)
		}
	}
	weightIs := func(w int, start time.Time) time.Duration {
		want := dest("rs2", w)
		for deadline := start.Add(10 * time.Second); time.Now().Before(deadline); {
			if slices.Contains(destinations(t), want) {
				return time.Since(start)
			}
			time.Sleep(500 * time.Microsecond)
		}
		t.Fatalf("the kernel did not get %s within 10s: %v", want, destinations(t))
		return 0
	}
	var drain, undo []time.Duration
	for i := range n {
		fp := fmt.Sprintf("%016x", i+1)
		start := time.Now()
		post(webhookPayload("firing", fp))
		drain = append(drain, weightIs(0, start))
		start = time.Now()
		post(webhookPayload("resolved", fp))
		undo = append(undo, weightIs(1, start))
	}
	t.Logf("BENCH webhook→kernel weight, %d rounds: drain p50 %v p99 %v max %v; undo (resolved) p50 %v p99 %v max %v",
		n, pct(drain, 50), pct(drain, 99), pct(drain, 100), pct(undo, 50), pct(undo, 99), pct(undo, 100))
}

// pct returns the p-th percentile (nearest rank) of ds.
func pct(ds []time.Duration, p int) time.Duration {
	s := slices.Sorted(slices.Values(ds))
	i := (p*len(s)+99)/100 - 1
	return s[max(i, 0)].Round(10 * time.Microsecond)
}
