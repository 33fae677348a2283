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
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/extensiontest"
)

func NewSettings(tt *componenttest.Telemetry) extension.Settings {
	set := extensiontest.NewNopSettings(extensiontest.NopType)
	set.ID = component.NewID(component.MustNewType("tenantheader"))
	set.TelemetrySettings = tt.NewTelemetrySettings()
	return set
}

func AssertEqualExtensionTenantheaderRequestsRefused(t *testing.T, tt *componenttest.Telemetry, dps []metricdata.DataPoint[int64], opts ...metricdatatest.Option) {
	want := metricdata.Metrics{
		Name:        "otelcol_extension_tenantheader_requests_refused",
		Description: "Number of export requests refused because their context carries no usable tenant (fail closed). [Alpha]",
		Unit:        "{request}",
		Data: metricdata.Sum[int64]{
			Temporality: metricdata.CumulativeTemporality,
			IsMonotonic: true,
			DataPoints:  dps,
		},
	}
	got, err := tt.GetMetric("otelcol_extension_tenantheader_requests_refused")
	require.NoError(t, err)
	metricdatatest.AssertEqual(t, want, got, opts...)
}
