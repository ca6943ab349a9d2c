package prom_test

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// metricName matches the names of latchkey's, Go's and the process's
// metrics in a PromQL expression.
var metricName = regexp.MustCompile(`\b(?:latchkey|go|process)_[a-z0-9_]+\b`)

// exported returns the names of every series family the metrics export,
// each histogram's _bucket, _sum and _count too.
func exported(t *testing.T) map[string]bool {
	t.Helper()
	m := newMetrics()
	m.Route("GET /v1/me").Request(200, time.Millisecond)
	fams, err := m.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range fams {
		names[f.GetName()] = true
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			names[f.GetName()+suffix] = true
		}
	}
	return names
}

// checkNames fails for each metric that exprs name and the metrics do
// not export: a dashboard or a rule that drifted from the code.
func checkNames(t *testing.T, file string, exprs []string) {
	t.Helper()
	names := exported(t)
	seen := 0
	for _, e := range exprs {
		for _, n := range metricName.FindAllString(e, -1) {
			seen++
			if !names[n] {
				t.Errorf("%s names %s, which latchkey does not export (in %q)", file, n, e)
			}
		}
	}
	if seen == 0 {
		t.Fatalf("%s names no metric", file)
	}
}

// TestDashboardMetricsExist reads the Grafana dashboard: every query of
// every panel and variable names metrics that exist.
func TestDashboardMetricsExist(t *testing.T) {
	const file = "../monitoring/grafana-dashboard.json"
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Query any `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	var exprs []string
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			exprs = append(exprs, q.Expr)
		}
	}
	for _, v := range d.Templating.List {
		if q, ok := v.Query.(string); ok {
			exprs = append(exprs, q)
		}
	}
	checkNames(t, file, exprs)
}

// TestAlertMetricsExist reads the alerting rules (promtool checks their
// syntax in CI): every expression names metrics that exist.
func TestAlertMetricsExist(t *testing.T) {
	const file = "../monitoring/alerts.yml"
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var exprs []string
	for _, line := range strings.Split(string(b), "\n") {
		if l := strings.TrimSpace(line); !strings.HasPrefix(l, "#") && !strings.HasPrefix(l, "summary:") && !strings.HasPrefix(l, "description:") {
			exprs = append(exprs, l)
		}
	}
	checkNames(t, file, exprs)
}
