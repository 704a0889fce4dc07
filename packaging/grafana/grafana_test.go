package grafana

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
)

// The shipped dashboard is valid JSON with queries, a bridge variable and
// a data source variable, and every query parses.
func TestShippedDashboard(t *testing.T) {
	var d struct {
		UID        string `json:"uid"`
		Templating struct {
			List []struct{ Name string } `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(Dashboard, &d); err != nil {
		t.Fatal(err)
	}
	var vars []string
	for _, v := range d.Templating.List {
		vars = append(vars, v.Name)
	}
	if d.UID == "" || !reflect.DeepEqual(vars, []string{"datasource", "job", "bridge"}) {
		t.Errorf("uid %q, variables %v; want a uid and datasource, job, bridge", d.UID, vars)
	}
	sels, err := Selectors(Dashboard)
	if err != nil {
		t.Fatal(err)
	}
	if len(sels) < 20 {
		t.Errorf("%d selectors, want the dashboard's (at least 20)", len(sels))
	}
}

// Queries finds targets in rows' panels and variable queries in either
// form; it refuses panels without queries and variables that are not
// label_values.
func TestQueries(t *testing.T) {
	tests := []struct {
		name, dashboard string
		want            []string
		err             string
	}{
		{"nested and variables", `{"panels":[{"type":"row","panels":[{"type":"stat","targets":[{"expr":"a"}]}]},{"type":"timeseries","targets":[{"expr":"b"},{"expr":"c"}]}],
			"templating":{"list":[{"type":"query","name":"v","query":"label_values(d{x=\"1\"}, y)"},{"type":"query","name":"w","query":{"query":"label_values(e,z)"}},{"type":"datasource","query":"prometheus"}]}}`,
			[]string{"a", "b", "c", `d{x="1"}`, "e"}, ""},
		{"panel without a query", `{"panels":[{"type":"stat","title":"X"}]}`, nil, `panel "X" has no query`},
		{"empty query", `{"panels":[{"type":"stat","title":"X","targets":[{"refId":"A","expr":" "}]}]}`, nil, `query A is empty`},
		{"other variable query", `{"templating":{"list":[{"type":"query","name":"v","query":"up"}]}}`, nil, "not label_values"},
		{"not JSON", `{`, nil, "dashboard: unexpected end"},
	}
	for _, tt := range tests {
		got, err := Queries([]byte(tt.dashboard))
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: error %v, want %q", tt.name, err, tt.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
}

// Check names a missing metric and a missing label, and takes a
// histogram's series, le on its buckets, and Prometheus's own labels.
func TestCheck(t *testing.T) {
	labelled := func(name string, typ dto.MetricType, labels ...string) *dto.MetricFamily {
		m := &dto.Metric{}
		for _, l := range labels {
			m.Label = append(m.Label, &dto.LabelPair{Name: proto.String(l), Value: proto.String("v")})
		}
		return &dto.MetricFamily{Name: proto.String(name), Type: typ.Enum(), Metric: []*dto.Metric{m}}
	}
	fams := Families([]*dto.MetricFamily{
		labelled("g", dto.MetricType_GAUGE, "bridge"),
		labelled("h", dto.MetricType_HISTOGRAM, "bridge"),
		labelled("c_count", dto.MetricType_COUNTER),
	})
	dash := func(exprs ...string) []byte {
		b, _ := json.Marshal(map[string]any{"panels": []map[string]any{{"type": "stat", "targets": func() []map[string]string {
			var ts []map[string]string
			for _, e := range exprs {
				ts = append(ts, map[string]string{"expr": e})
			}
			return ts
		}()}}})
		return b
	}
	tests := []struct {
		expr string
		want []string
	}{
		{`g{bridge=~"$bridge",job="$job",instance=~"${instance:regex}"}`, nil},
		{`histogram_quantile(0.9, rate(h_bucket{le!="",bridge="x"}[$__rate_interval])) / rate(h_sum[$__range]) * rate(h_count[5m])`, nil},
		{`c_count + rate(c_count[1m])`, nil},
		{`g_bucket`, []string{"g_bucket"}},
		{`h_total`, []string{"h_total"}},
		{`gg`, []string{"gg (in"}},
		{`g{port="p1"}`, []string{"g has no label port"}},
		{`h_sum{le="1"}`, []string{"h_sum has no label le"}},
	}
	for _, tt := range tests {
		var got []string
		if err := Check(dash(tt.expr), fams); err != nil {
			got = strings.Split(err.Error(), "\n")
		}
		if len(got) != len(tt.want) {
			t.Errorf("%s: %q, want %q", tt.expr, got, tt.want)
			continue
		}
		for i := range got {
			if !strings.Contains(got[i], tt.want[i]) {
				t.Errorf("%s: %q, want %q", tt.expr, got, tt.want)
			}
		}
	}
	if err := Check(dash(`sum(`), fams); err == nil || !strings.Contains(err.Error(), "parse error") {
		t.Errorf("a query that does not parse: %v", err)
	}
}
