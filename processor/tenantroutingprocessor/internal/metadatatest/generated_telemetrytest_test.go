// Hand-maintained in the format mdatagen v0.161.0 generates from metadata.yaml
// (mdatagen is not installable in this build environment). Keep in sync with
// metadata.yaml; regenerate with mdatagen once it is available.

package metadatatest

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"go.opentelemetry.io/collector/component/componenttest"

	"github.com/otelcol-mesh/otelcol-mesh/processor/tenantroutingprocessor/internal/metadata"
)

func TestEveryMetricIsAssertable(t *testing.T) {
	tel := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tel.Shutdown(context.Background())) }()
	tb, err := metadata.NewTelemetryBuilder(tel.NewTelemetrySettings())
	require.NoError(t, err)
	defer tb.Shutdown()

	ctx := context.Background()
	tb.ProcessorTenantroutingEdgeCopies.Add(ctx, 1)
	tb.ProcessorTenantroutingSpansDropped.Add(ctx, 2)
	tb.ProcessorTenantroutingSpansRouted.Add(ctx, 3)
	tb.ProcessorTenantroutingSpansTruncated.Add(ctx, 4)

	AssertEqualProcessorTenantroutingEdgeCopies(t, tel, []metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp())
	AssertEqualProcessorTenantroutingSpansDropped(t, tel, []metricdata.DataPoint[int64]{{Value: 2}}, metricdatatest.IgnoreTimestamp())
	AssertEqualProcessorTenantroutingSpansRouted(t, tel, []metricdata.DataPoint[int64]{{Value: 3}}, metricdatatest.IgnoreTimestamp())
	AssertEqualProcessorTenantroutingSpansTruncated(t, tel, []metricdata.DataPoint[int64]{{Value: 4}}, metricdatatest.IgnoreTimestamp())
}
