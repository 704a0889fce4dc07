// Package grafana holds igmpsnoop's Grafana dashboard (igmpsnoop.json, to
// import into Grafana) and reads the series its queries select, so tests
// can hold the dashboard to the metrics the daemon exports: a renamed
// metric or label must break a test, not a panel nobody looks at.
package grafana

import (
	_ "embed" // the dashboard
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// Dashboard is packaging/grafana/igmpsnoop.json.
//
//go:embed igmpsnoop.json
var Dashboard []byte

// Selector is one series selector of a dashboard query.
type Selector struct {
	Query  string   // the query it is in, as the dashboard has it
	Metric string   // the metric name it selects
	Labels []string // the labels it matches on, but the name
}

// scrapeLabels are the labels Prometheus adds to every series it scrapes:
// a query may match on them though no exporter has them.
var scrapeLabels = []string{"job", "instance"}

// gVars are Grafana's template variables: $name, ${name} and
// ${name:format}. Interval variables ($__rate_interval, ...) stand in a
// range, the others in a label value.
var gVars = regexp.MustCompile(`\$(\{[A-Za-z0-9_]+(:[a-z]+)?\}|[A-Za-z0-9_]+)`)

// labelValues is Grafana's label_values(selector, label) variable query.
var labelValues = regexp.MustCompile(`^\s*label_values\((.*),\s*[A-Za-z_][A-Za-z0-9_]*\s*\)\s*$`)

// Queries returns every PromQL query of a dashboard: each target's expr
// in every panel (rows' panels included), and the selector of every
// label_values variable query.
func Queries(dashboard []byte) ([]string, error) {
	var d struct {
		Panels     []panel `json:"panels"`
		Templating struct {
			List []struct {
				Name  string          `json:"name"`
				Type  string          `json:"type"`
				Query json.RawMessage `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(dashboard, &d); err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	var qs []string
	var walk func([]panel) error
	walk = func(ps []panel) error {
		for _, p := range ps {
			if p.Type != "row" && len(p.Targets) == 0 {
				return fmt.Errorf("dashboard: panel %q has no query", p.Title)
			}
			for _, t := range p.Targets {
				if strings.TrimSpace(t.Expr) == "" {
					return fmt.Errorf("dashboard: panel %q: query %s is empty", p.Title, t.RefID)
				}
				qs = append(qs, t.Expr)
			}
			if err := walk(p.Panels); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(d.Panels); err != nil {
		return nil, err
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		// The query is a string in old dashboards, an object in new ones.
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q.Query); err != nil {
			if err := json.Unmarshal(v.Query, &q); err != nil {
				return nil, fmt.Errorf("dashboard: variable %s: query: %w", v.Name, err)
			}
		}
		m := labelValues.FindStringSubmatch(q.Query)
		if m == nil {
			return nil, fmt.Errorf("dashboard: variable %s: %q is not label_values(selector, label)", v.Name, q.Query)
		}
		qs = append(qs, m[1])
	}
	return qs, nil
}

// panel is what Queries reads of a dashboard panel.
type panel struct {
	Type    string  `json:"type"`
	Title   string  `json:"title"`
	Panels  []panel `json:"panels"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
}

// Selectors parses every query of a dashboard as PromQL, Grafana's
// variables replaced by values of their kind, and returns its series
// selectors.
func Selectors(dashboard []byte) ([]Selector, error) {
	qs, err := Queries(dashboard)
	if err != nil {
		return nil, err
	}
	p := parser.NewParser(parser.Options{})
	var out []Selector
	for _, q := range qs {
		expr, err := p.ParseExpr(substitute(q))
		if err != nil {
			return nil, fmt.Errorf("dashboard query %q: %w", q, err)
		}
		var found error
		parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
			vs, ok := n.(*parser.VectorSelector)
			if !ok {
				return nil
			}
			s := Selector{Query: q, Metric: vs.Name}
			for _, m := range vs.LabelMatchers {
				if m.Name != labels.MetricName {
					s.Labels = append(s.Labels, m.Name)
				}
			}
			if s.Metric == "" {
				found = errors.Join(found, fmt.Errorf("dashboard query %q: a selector without a metric name", q))
			}
			out = append(out, s)
			return nil
		})
		if found != nil {
			return nil, found
		}
	}
	return out, nil
}

// substitute replaces Grafana's variables in q by values PromQL takes
// where they stand: a duration for the interval variables, a label value
// for the others.
func substitute(q string) string {
	return gVars.ReplaceAllStringFunc(q, func(v string) string {
		if strings.HasPrefix(strings.Trim(v, "${"), "__") {
			return "5m"
		}
		return "x"
	})
}

// Check returns, one per line, what the dashboard's selectors ask of
// families (a scrape, by metric name) that is not there: a metric not
// exported, or a label the metric does not carry; or why the dashboard
// cannot be read. A histogram's _bucket, _sum and _count series are its
// family's (with le on _bucket); job and instance are Prometheus's own
// labels.
func Check(dashboard []byte, families map[string]*dto.MetricFamily) error {
	sels, err := Selectors(dashboard)
	if err != nil {
		return err
	}
	var problems []error
	for _, s := range sels {
		f, extra := family(s.Metric, families)
		if f == nil {
			problems = append(problems, fmt.Errorf("%s (in %q) is not exported", s.Metric, s.Query))
			continue
		}
		have := slices.Concat(scrapeLabels, extra)
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				have = append(have, l.GetName())
			}
		}
		for _, l := range s.Labels {
			if !slices.Contains(have, l) {
				problems = append(problems, fmt.Errorf("%s has no label %s (in %q)", s.Metric, l, s.Query))
			}
		}
	}
	return errors.Join(problems...)
}

// family returns the family a series name belongs to, and the labels its
// series have beyond the family's (le on a histogram's buckets).
func family(name string, families map[string]*dto.MetricFamily) (*dto.MetricFamily, []string) {
	if f, ok := families[name]; ok {
		return f, nil
	}
	for _, sfx := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, sfx)
		if !ok {
			continue
		}
		f, ok := families[base]
		if !ok {
			return nil, nil
		}
		switch t := f.GetType(); {
		case t == dto.MetricType_HISTOGRAM && sfx == "_bucket":
			return f, []string{"le"}
		case (t == dto.MetricType_HISTOGRAM || t == dto.MetricType_SUMMARY) && sfx != "_bucket":
			return f, nil
		}
	}
	return nil, nil
}

// Metrics returns the metric names the dashboard's selectors name, each
// once, sorted.
func Metrics(sels []Selector) []string {
	var names []string
	for _, s := range sels {
		names = append(names, s.Metric)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// Families indexes a gathered or parsed scrape by metric name.
func Families(fams []*dto.MetricFamily) map[string]*dto.MetricFamily {
	out := make(map[string]*dto.MetricFamily, len(fams))
	for _, f := range fams {
		out[f.GetName()] = f
	}
	return out
}
