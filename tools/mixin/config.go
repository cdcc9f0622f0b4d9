// Package mixin generates vigil's Prometheus rules and Grafana dashboards
// the way monitoring mixins do: the rules and dashboards are code, a Config
// carries what differs between installations (the job selector, a few
// thresholds), and the generated files are committed next to it so that
// users who never run Go can load them as they are. cmd/vigil-mixin writes
// them; the tests of this module fail when the committed files are stale.
package mixin

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// RunbookBase is where the runbook lives; every alert's runbook_url is this
// plus "#" and the alert name in lower case (the anchor GitHub gives the
// alert's heading in docs/runbook.md).
const RunbookBase = "https://github.com/vigil-lb/vigil/blob/main/docs/runbook.md"

// Config is what an installation may change. DefaultConfig is what the
// committed alerts/vigil.rules.yml is generated with.
type Config struct {
	// JobSelector is one or more label matchers, without braces, that
	// select vigil's scrape targets, such as `job="vigil"`. Every series
	// selector of every rule carries them.
	JobSelector string

	// FlapTakeovers is how many times the mastership of one VRRP instance
	// may move within FlapWindow before VigilVRRPFlapping fires.
	FlapTakeovers int
	FlapWindow    model.Duration

	// RepeatedRepairs is how many times within an hour vigil may put back a
	// virtual address or an IPVS object someone else changed before the
	// "repeatedly" alerts fire.
	RepeatedRepairs int

	// CheckLateness is the 99th percentile of check scheduling lateness
	// above which VigilCheckSchedulingLate fires.
	CheckLateness time.Duration

	// MySQLMaxReplicaLag is the replication lag above which
	// VigilMySQLReplicaLagging fires.
	MySQLMaxReplicaLag time.Duration

	// OverrideMaxAge is how long an operator override (drain, weight,
	// failover) may stay in place before VigilActuatorOverrideHeldTooLong
	// fires.
	OverrideMaxAge time.Duration
}

// DefaultConfig returns the configuration the committed files are
// generated with.
func DefaultConfig() Config {
	return Config{
		JobSelector:        `job="vigil"`,
		FlapTakeovers:      3,
		FlapWindow:         model.Duration(time.Hour),
		RepeatedRepairs:    2,
		CheckLateness:      time.Second,
		MySQLMaxReplicaLag: 30 * time.Second,
		OverrideMaxAge:     6 * time.Hour,
	}
}

// Validate reports a configuration the generator cannot use.
func (c Config) Validate() error {
	sel := strings.TrimSpace(c.JobSelector)
	if sel == "" {
		return fmt.Errorf("job selector is empty")
	}
	if strings.ContainsAny(sel, "{}") {
		return fmt.Errorf("job selector %q: give the matchers without braces, like job=\"vigil\"", c.JobSelector)
	}
	if _, err := c.selectorLabels(); err != nil {
		return err
	}
	switch {
	case c.FlapTakeovers < 1:
		return fmt.Errorf("flap takeovers %d: must be at least 1", c.FlapTakeovers)
	case c.FlapWindow <= 0:
		return fmt.Errorf("flap window %s: must be positive", c.FlapWindow)
	case c.RepeatedRepairs < 1:
		return fmt.Errorf("repeated repairs %d: must be at least 1", c.RepeatedRepairs)
	case c.CheckLateness <= 0:
		return fmt.Errorf("check lateness %s: must be positive", c.CheckLateness)
	case c.MySQLMaxReplicaLag <= 0:
		return fmt.Errorf("mysql max replica lag %s: must be positive", c.MySQLMaxReplicaLag)
	case c.OverrideMaxAge <= 0:
		return fmt.Errorf("override max age %s: must be positive", c.OverrideMaxAge)
	}
	return nil
}

// selectorLabels returns the label names the job selector matches on,
// job first (even when the selector does not name it).
func (c Config) selectorLabels() ([]string, error) {
	ms, err := parser.NewParser(parser.Options{}).ParseMetricSelector("{" + strings.TrimSpace(c.JobSelector) + "}")
	if err != nil {
		return nil, fmt.Errorf("job selector %q: %w", c.JobSelector, err)
	}
	names := []string{"job"}
	for _, m := range ms {
		if m.Name == labels.MetricName {
			return nil, fmt.Errorf("job selector %q: selects a metric name", c.JobSelector)
		}
		if !slices.Contains(names, m.Name) {
			names = append(names, m.Name)
		}
	}
	return names, nil
}

// withJob fills the placeholders of a rule expression, so that rule
// expressions read like the PromQL they become: "{JOB}" and "{JOB," take
// the job selector; "JOBLABELS" in by (...) and on (...) clauses takes the
// labels the job selector matches on, so that aggregations keep them (a
// selector on env="prod" must find env on a recorded series, and alerts
// carry it).
func (c Config) withJob(expr string) string {
	sel := strings.TrimSpace(c.JobSelector)
	names, err := c.selectorLabels()
	if err != nil {
		panic(err) // Files validates the configuration first
	}
	return strings.NewReplacer(
		"{JOB}", "{"+sel+"}",
		"{JOB,", "{"+sel+",",
		"JOBLABELS", strings.Join(names, ", "),
	).Replace(expr)
}

// seconds formats d as a PromQL number of seconds.
func seconds(d time.Duration) string {
	return fmt.Sprintf("%g", d.Seconds())
}

// human formats d for annotation text: "6h", "30s", "1m30s".
func human(d time.Duration) string {
	return model.Duration(d).String()
}
