// Hand-maintained in the format mdatagen v0.161.0 generates from metadata.yaml
// (mdatagen is not installable in this build environment). Keep in sync with
// metadata.yaml; regenerate with mdatagen once it is available.

package metadata

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
)

func TestNewTelemetryBuilderAppliesOptions(t *testing.T) {
	called := 0
	tb, err := NewTelemetryBuilder(componenttest.NewNopTelemetrySettings(),
		telemetryBuilderOptionFunc(func(*TelemetryBuilder) { called++ }))
	require.NoError(t, err)
	defer tb.Shutdown()
	assert.Equal(t, 1, called)
	assert.NotNil(t, tb.ExporterTenantlanesLanesCreated)
	assert.NotNil(t, tb.ExporterTenantlanesRequestsRefused)
}

func TestScopeName(t *testing.T) {
	assert.Equal(t, "tenantlanes", Type.String())
	assert.Equal(t, "github.com/otelcol-mesh/otelcol-mesh/exporter/tenantlanesexporter", ScopeName)
}
