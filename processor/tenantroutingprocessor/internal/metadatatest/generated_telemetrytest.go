// Hand-maintained in the format mdatagen v0.161.0 generates from metadata.yaml
// (mdatagen is not installable in this build environment). Keep in sync with
// metadata.yaml; regenerate with mdatagen once it is available.

package metadatatest

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"
)

func NewSettings(tt *componenttest.Telemetry) processor.Settings {
	set := processortest.NewNopSettings(processortest.NopType)
	set.ID = component.NewID(component.MustNewType("tenantrouting"))
	set.TelemetrySettings = tt.NewTelemetrySettings()
	return set
}

func AssertEqualProcessorTenantroutingEdgeCopies(t *testing.T, tt *componenttest.Telemetry, dps []metricdata.DataPoint[int64], opts ...metricdatatest.Option) {
	want := metricdata.Metrics{
		Name:        "otelcol_processor_tenantrouting_edge_copies",
		Description: "Number of edge spans copied to the platform tenant in addition to the tenant of their destination namespace. [Alpha]",
		Unit:        "{span}",
		Data: metricdata.Sum[int64]{
			Temporality: metricdata.CumulativeTemporality,
			IsMonotonic: true,
			DataPoints:  dps,
		},
	}
	got, err := tt.GetMetric("otelcol_processor_tenantrouting_edge_copies")
	require.NoError(t, err)
	metricdatatest.AssertEqual(t, want, got, opts...)
}

func AssertEqualProcessorTenantroutingSpansDropped(t *testing.T, tt *componenttest.Telemetry, dps []metricdata.DataPoint[int64], opts ...metricdatatest.Option) {
	want := metricdata.Metrics{
		Name:        "otelcol_processor_tenantrouting_spans_dropped",
		Description: "Number of spans not passed downstream, by reason (no_tenant: no tenant, dropped; invalid_id: all-zero trace or span ID, dropped; too_large: over max_span_bytes even after truncating its string attribute values, dropped; rate_limited: refused by the tenant's rate limit, with a retryable error when nothing else of the request was passed on, else dropped; export_failed: refused by the next component while another share of the request was passed on, dropped so that a retry cannot duplicate that share). [Alpha]",
		Unit:        "{span}",
		Data: metricdata.Sum[int64]{
			Temporality: metricdata.CumulativeTemporality,
			IsMonotonic: true,
			DataPoints:  dps,
		},
	}
	got, err := tt.GetMetric("otelcol_processor_tenantrouting_spans_dropped")
	require.NoError(t, err)
	metricdatatest.AssertEqual(t, want, got, opts...)
}

func AssertEqualProcessorTenantroutingSpansRouted(t *testing.T, tt *componenttest.Telemetry, dps []metricdata.DataPoint[int64], opts ...metricdatatest.Option) {
	want := metricdata.Metrics{
		Name:        "otelcol_processor_tenantrouting_spans_routed",
		Description: "Number of spans passed downstream, per tenant (edge copies included). [Alpha]",
		Unit:        "{span}",
		Data: metricdata.Sum[int64]{
			Temporality: metricdata.CumulativeTemporality,
			IsMonotonic: true,
			DataPoints:  dps,
		},
	}
	got, err := tt.GetMetric("otelcol_processor_tenantrouting_spans_routed")
	require.NoError(t, err)
	metricdatatest.AssertEqual(t, want, got, opts...)
}

func AssertEqualProcessorTenantroutingSpansTruncated(t *testing.T, tt *componenttest.Telemetry, dps []metricdata.DataPoint[int64], opts ...metricdatatest.Option) {
	want := metricdata.Metrics{
		Name:        "otelcol_processor_tenantrouting_spans_truncated",
		Description: "Number of spans over max_span_bytes whose largest string attribute values were truncated (the span is marked with mesh.truncated, the number of bytes cut) and passed on. [Alpha]",
		Unit:        "{span}",
		Data: metricdata.Sum[int64]{
			Temporality: metricdata.CumulativeTemporality,
			IsMonotonic: true,
			DataPoints:  dps,
		},
	}
	got, err := tt.GetMetric("otelcol_processor_tenantrouting_spans_truncated")
	require.NoError(t, err)
	metricdatatest.AssertEqual(t, want, got, opts...)
}
