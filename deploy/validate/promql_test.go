package validate

import (
	"reflect"
	"testing"
)

func TestMetricNames(t *testing.T) {
	tests := []struct {
		expr string
		want []string
	}{
		{`sum by (receiver, transport) (rate(otelcol_receiver_accepted_spans{instance=~"$instance"}[$__rate_interval]))`,
			[]string{"otelcol_receiver_accepted_spans"}},
		{`max by (exporter) (otelcol_exporter_queue_size{a="b"}) / on(exporter) group_left max by (exporter) (otelcol_exporter_queue_capacity)`,
			[]string{"otelcol_exporter_queue_capacity", "otelcol_exporter_queue_size"}},
		{`histogram_quantile(0.99, sum by (le) (rate(otelcol_processor_batch_batch_send_size_bucket[5m])))`,
			[]string{"otelcol_processor_batch_batch_send_size_bucket"}},
		{`rate(x_total[1m]) * 1e3 > bool 0.5`, []string{"x_total"}},
		{`label_replace(up, "dst", "$1", "src", "(.*)") offset 5m`, []string{"up"}},
		{`sum without (pod) (a) and ignoring (x) b or c unless d`, []string{"a", "b", "c", "d"}},
		{`count(a{job="x", re=~"{nested}"})`, []string{"a"}},
	}
	for _, tt := range tests {
		if got := MetricNames(tt.expr); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("MetricNames(%q) = %v, want %v", tt.expr, got, tt.want)
		}
	}
	if got := QueryMetricNames(`label_values(otelcol_process_uptime, instance)`); !reflect.DeepEqual(got, []string{"otelcol_process_uptime"}) {
		t.Errorf("label_values query: %v", got)
	}
}

func TestDashboardQueriesFindsNestedPanelsAndVariables(t *testing.T) {
	dash := []byte(`{"panels":[{"type":"row","panels":[{"targets":[{"expr":"a"}]}]},{"targets":[{"expr":"b"},{"expr":""}]}],
		"templating":{"list":[{"type":"query","query":"label_values(c, x)"},{"type":"query","query":{"query":"label_values(d, y)"}},{"type":"datasource","query":"prometheus"}]}}`)
	got, err := DashboardQueries(dash)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"a", "b", "label_values(c, x)", "label_values(d, y)"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("DashboardQueries = %v, want %v", got, want)
	}
}
