package harness

import (
	"context"
	"fmt"
	"net/http"
	"sort"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Sample is one scraped time series value.
type Sample struct {
	Labels map[string]string
	Value  float64
}

// Metrics maps a metric family name (as exposed, e.g.
// "otelcol_receiver_accepted_spans") to its samples.
type Metrics map[string][]Sample

// Scrape reads a Prometheus text endpoint.
func Scrape(ctx context.Context, url string) (Metrics, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: %s", url, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	out := make(Metrics, len(families))
	for name, fam := range families {
		for _, m := range fam.GetMetric() {
			out[name] = append(out[name], Sample{Labels: labelsOf(m), Value: valueOf(fam.GetType(), m)})
		}
	}
	return out, nil
}

func labelsOf(m *dto.Metric) map[string]string {
	labels := make(map[string]string, len(m.GetLabel()))
	for _, lp := range m.GetLabel() {
		labels[lp.GetName()] = lp.GetValue()
	}
	return labels
}

func valueOf(typ dto.MetricType, m *dto.Metric) float64 {
	switch typ {
	case dto.MetricType_COUNTER:
		return m.GetCounter().GetValue()
	case dto.MetricType_GAUGE:
		return m.GetGauge().GetValue()
	case dto.MetricType_HISTOGRAM:
		return float64(m.GetHistogram().GetSampleCount())
	case dto.MetricType_SUMMARY:
		return float64(m.GetSummary().GetSampleCount())
	default:
		return m.GetUntyped().GetValue()
	}
}

// Sum adds up the samples of a metric whose labels include every pair in
// match (nil matches all).
func (m Metrics) Sum(name string, match map[string]string) float64 {
	var total float64
	for _, s := range m[name] {
		if labelsMatch(s.Labels, match) {
			total += s.Value
		}
	}
	return total
}

// Names lists the metric family names, sorted.
func (m Metrics) Names() []string {
	out := make([]string, 0, len(m))
	for name := range m {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

func labelsMatch(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}
