// Hand-maintained in the format mdatagen v0.161.0 generates from
// metadata.yaml (mdatagen is not installable here).

package metadatatest

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"go.opentelemetry.io/collector/component/componenttest"

	"github.com/otelcol-mesh/otelcol-mesh/processor/spannormalizerprocessor/internal/metadata"
)

func TestEveryMetricIsAssertable(t *testing.T) {
	tel := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tel.Shutdown(context.Background())) }()
	tb, err := metadata.NewTelemetryBuilder(tel.NewTelemetrySettings())
	require.NoError(t, err)
	defer tb.Shutdown()

	ctx := context.Background()
	tb.ProcessorSpannormalizerContextBreaks.Add(ctx, 5)
	tb.ProcessorSpannormalizerContextPropagated.Add(ctx, 6)
	tb.ProcessorSpannormalizerSpanNamesCollapsed.Add(ctx, 1)
	tb.ProcessorSpannormalizerSpansNormalized.Add(ctx, 2)
	tb.ProcessorSpannormalizerSpansPassedThrough.Add(ctx, 3)
	tb.ProcessorSpannormalizerValuesInvalid.Add(ctx, 4)
	tb.ProcessorSpannormalizerRouteParametersLearned.Add(ctx, 7)
	require.NoError(t, tb.RegisterProcessorSpannormalizerSpanNamesCallback(func(_ context.Context, o metric.Int64Observer) error {
		o.Observe(8)
		return nil
	}))

	AssertEqualProcessorSpannormalizerContextBreaks(t, tel, []metricdata.DataPoint[int64]{{Value: 5}}, metricdatatest.IgnoreTimestamp())
	AssertEqualProcessorSpannormalizerContextPropagated(t, tel, []metricdata.DataPoint[int64]{{Value: 6}}, metricdatatest.IgnoreTimestamp())
	AssertEqualProcessorSpannormalizerSpanNamesCollapsed(t, tel, []metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp())
	AssertEqualProcessorSpannormalizerSpansNormalized(t, tel, []metricdata.DataPoint[int64]{{Value: 2}}, metricdatatest.IgnoreTimestamp())
	AssertEqualProcessorSpannormalizerSpansPassedThrough(t, tel, []metricdata.DataPoint[int64]{{Value: 3}}, metricdatatest.IgnoreTimestamp())
	AssertEqualProcessorSpannormalizerValuesInvalid(t, tel, []metricdata.DataPoint[int64]{{Value: 4}}, metricdatatest.IgnoreTimestamp())
	AssertEqualProcessorSpannormalizerRouteParametersLearned(t, tel, []metricdata.DataPoint[int64]{{Value: 7}}, metricdatatest.IgnoreTimestamp())
	AssertEqualProcessorSpannormalizerSpanNames(t, tel, []metricdata.DataPoint[int64]{{Value: 8}}, metricdatatest.IgnoreTimestamp())
}
