package mixin

import (
	"bytes"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/tools/promlint"
)

const regenerate = "cd tools && go run ./cmd/vigil-mixin"

// TestGeneratedFilesUpToDate fails when alerts/vigil.rules.yml or a
// dashboard differs from what the generator writes, and when dashboards/
// holds a dashboard the generator no longer writes.
func TestGeneratedFilesUpToDate(t *testing.T) {
	root := repoRoot(t)
	files, err := DefaultConfig().Files()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range slices.Sorted(maps.Keys(files)) {
		got, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			t.Errorf("%s: %v; run %s", p, err, regenerate)
			continue
		}
		if !bytes.Equal(got, files[p]) {
			t.Errorf("%s is stale (%s); run %s", p, firstDifference(got, files[p]), regenerate)
		}
	}
	committed, err := filepath.Glob(filepath.Join(root, DashboardsDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range committed {
		rel, _ := filepath.Rel(root, c)
		if _, ok := files[rel]; !ok {
			t.Errorf("%s is not generated any more: delete it, or generate it", rel)
		}
	}
}

func firstDifference(a, b []byte) string {
	al, bl := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return "line " + strconv.Itoa(i+1) + ": committed " + quote(x) + ", generated " + quote(y)
		}
	}
	return "no line differs"
}

func quote(s string) string {
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return "\"" + s + "\""
}

// wantUIDs are the dashboards' UIDs. They are part of the dashboards'
// URLs and of links people keep: never change one.
var wantUIDs = []string{"vigil-actuator", "vigil-ipvs", "vigil-overview", "vigil-self", "vigil-vrrp"}

func committedDashboards(t *testing.T) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(repoRoot(t), DashboardsDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(p)] = b
	}
	return out
}

// TestDashboardUIDs: one file per stable UID, named after it.
func TestDashboardUIDs(t *testing.T) {
	var uids []string
	for file, raw := range committedDashboards(t) {
		uid, err := promlint.DashboardUID(raw)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if file != uid+".json" {
			t.Errorf("%s has uid %q; the file is named after the uid", file, uid)
		}
		uids = append(uids, uid)
	}
	sort.Strings(uids)
	if !slices.Equal(uids, wantUIDs) {
		t.Errorf("dashboard UIDs %v, want %v", uids, wantUIDs)
	}
}

// TestDashboardsLint runs the dashboard-linter rules and the catalog
// checks over every committed dashboard.
func TestDashboardsLint(t *testing.T) {
	lint := promlint.DashboardLint{Catalog: vigilCatalog(t)}
	boards := committedDashboards(t)
	if len(boards) == 0 {
		t.Fatal("no dashboards")
	}
	for file, raw := range boards {
		for _, p := range lint.Lint(raw) {
			t.Errorf("%s: %s", file, p)
		}
	}
}

func ruleLint(t *testing.T, jobSelector string) promlint.RuleLint {
	t.Helper()
	sel, err := promlint.ParseMatchers(jobSelector)
	if err != nil {
		t.Fatal(err)
	}
	return promlint.RuleLint{
		Catalog:        vigilCatalog(t),
		JobSelector:    sel,
		RunbookBase:    RunbookBase,
		RunbookAnchors: promlint.RunbookAnchors(readRepoFile(t, "docs/runbook.md")),
	}
}

// TestRulesLint checks the committed rules: names, severities, for:,
// annotations and runbook anchors, the job selector on every selector,
// metrics and labels against docs/metrics.md.
func TestRulesLint(t *testing.T) {
	for _, p := range ruleLint(t, DefaultConfig().JobSelector).Lint(readRepoFile(t, RulesPath)) {
		t.Error(p)
	}
}

// TestJobSelector generates the rules for another job selector: every
// selector carries it, and nothing of the default is left.
func TestJobSelector(t *testing.T) {
	cfg := DefaultConfig()
	cfg.JobSelector = `job=~"lb-.+",env="prod"`
	raw, err := cfg.MarshalRules(cfg.Rules())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ruleLint(t, cfg.JobSelector).Lint(raw) {
		t.Error(p)
	}
	if bytes.Contains(raw, []byte(`job="vigil"`)) {
		t.Error(`rules generated for another job selector still contain job="vigil"`)
	}
	if !bytes.Contains(raw, []byte(`-job-selector 'job=~"lb-.+",env="prod"'`)) {
		t.Error("the header does not say how the file was generated")
	}
}

func TestConfigValidate(t *testing.T) {
	for name, mutate := range map[string]func(*Config){
		"empty selector":  func(c *Config) { c.JobSelector = " " },
		"braces":          func(c *Config) { c.JobSelector = `{job="vigil"}` },
		"no takeovers":    func(c *Config) { c.FlapTakeovers = 0 },
		"no repairs":      func(c *Config) { c.RepeatedRepairs = 0 },
		"no lateness":     func(c *Config) { c.CheckLateness = 0 },
		"no lag":          func(c *Config) { c.MySQLMaxReplicaLag = -time.Second },
		"no override age": func(c *Config) { c.OverrideMaxAge = 0 },
	} {
		c := DefaultConfig()
		mutate(&c)
		if _, err := c.Files(); err == nil {
			t.Errorf("%s: generated anyway", name)
		}
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Errorf("default config: %v", err)
	}
}

var runbookAlertHeading = regexp.MustCompile(`(?m)^## (Vigil[A-Za-z0-9]+)\s*$`)

// TestRunbookHasNoStaleEntries: every alert heading in the runbook names
// an alert that exists (TestRulesLint checks the other direction).
func TestRunbookHasNoStaleEntries(t *testing.T) {
	rules, err := promlint.ParseRuleFile(readRepoFile(t, RulesPath))
	if err != nil {
		t.Fatal(err)
	}
	alerts := rules.Alerts()
	md := readRepoFile(t, "docs/runbook.md")
	headings := runbookAlertHeading.FindAllSubmatch(md, -1)
	if len(headings) != len(alerts) {
		t.Errorf("runbook has %d alert headings, the rules %d alerts", len(headings), len(alerts))
	}
	for _, h := range headings {
		if _, ok := alerts[string(h[1])]; !ok {
			t.Errorf("runbook has an entry for %s, which is not an alert", h[1])
		}
	}
}

func unitTestFiles(t *testing.T) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(repoRoot(t), "alerts", "tests", "*.yml"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(p)] = b
	}
	return out
}

// TestUnitTestsCoverEveryRule: the promtool tests make every alert fire
// and stay silent, and evaluate every recording rule.
func TestUnitTestsCoverEveryRule(t *testing.T) {
	rules, err := promlint.ParseRuleFile(readRepoFile(t, RulesPath))
	if err != nil {
		t.Fatal(err)
	}
	files := unitTestFiles(t)
	if len(files) == 0 {
		t.Fatal("no alerts/tests/*.yml")
	}
	for _, p := range promlint.UnitTestCoverage(rules, filepath.Base(RulesPath), files) {
		t.Error(p)
	}
}

// promtool returns the path of promtool. Without it the test is skipped,
// and fails under CI=true, as the lab's prerequisites do
// (scripts/install-deps.sh installs Debian's prometheus package).
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		msg := "promtool not found: apt-get install prometheus"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return p
}

// TestPromtool runs promtool check rules and promtool test rules: the
// rules load in Prometheus, and every unit test passes.
func TestPromtool(t *testing.T) {
	bin := promtool(t)
	root := repoRoot(t)
	run := func(args ...string) {
		cmd := exec.Command(bin, args...)
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		} else {
			t.Logf("promtool %s:\n%s", strings.Join(args, " "), out)
		}
	}
	run("check", "rules", RulesPath)
	files := slices.Sorted(maps.Keys(unitTestFiles(t)))
	args := []string{"test", "rules"}
	for _, f := range files {
		args = append(args, filepath.Join("alerts", "tests", f))
	}
	run(args...)
}
