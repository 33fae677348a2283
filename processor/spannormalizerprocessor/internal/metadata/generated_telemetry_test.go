// Hand-maintained in the format mdatagen v0.161.0 generates from
// metadata.yaml (mdatagen is not installable here).

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
	assert.NotNil(t, tb.ProcessorSpannormalizerContextBreaks)
	assert.NotNil(t, tb.ProcessorSpannormalizerContextPropagated)
	assert.NotNil(t, tb.ProcessorSpannormalizerRouteParametersLearned)
	assert.NotNil(t, tb.ProcessorSpannormalizerSpanNames)
	assert.NotNil(t, tb.ProcessorSpannormalizerSpansNormalized)
	assert.NotNil(t, tb.ProcessorSpannormalizerSpansPassedThrough)
	assert.NotNil(t, tb.ProcessorSpannormalizerSpanNamesCollapsed)
	assert.NotNil(t, tb.ProcessorSpannormalizerValuesInvalid)
}

func TestScopeName(t *testing.T) {
	assert.Equal(t, "spannormalizer", Type.String())
	assert.Equal(t, "github.com/otelcol-mesh/otelcol-mesh/processor/spannormalizerprocessor", ScopeName)
}
