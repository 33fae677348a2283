package spannormalizerprocessor

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-mesh/otelcol-mesh/processor/spannormalizerprocessor/internal/metadata"
)

func TestCreateDefaultConfig(t *testing.T) {
	cfg := NewFactory().CreateDefaultConfig()
	require.NotNil(t, cfg)
	assert.NoError(t, componenttest.CheckConfigStruct(cfg))
	assert.NoError(t, cfg.(*Config).Validate())
	assert.Equal(t, metadata.TracesStability, NewFactory().TracesStability())
}

func TestCreateTracesAndShutdown(t *testing.T) {
	p, err := NewFactory().CreateTraces(context.Background(), nopSettings(), createDefaultConfig(), consumertest.NewNop())
	require.NoError(t, err)
	assert.True(t, p.Capabilities().MutatesData)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, p.Shutdown(context.Background()))
}

// TestCreateRejectsBadPattern: a pattern that slipped past Validate still
// fails at create time, not on the first span.
func TestCreateRejectsBadPattern(t *testing.T) {
	cfg := defaultConfig()
	cfg.PathPatterns = []PathPattern{{Regex: "("}}
	_, err := NewFactory().CreateTraces(context.Background(), nopSettings(), cfg, consumertest.NewNop())
	assert.Error(t, err)
}

// TestDownstreamErrorReturnedUnchanged: processorhelper hands the
// downstream error back as is.
func TestDownstreamErrorReturnedUnchanged(t *testing.T) {
	want := assert.AnError
	p := newProcessorTo(t, defaultConfig(), nopSettings(), consumertest.NewErr(want))
	err := p.ConsumeTraces(context.Background(), loadFixture(t, "istio-gateway"))
	assert.ErrorIs(t, err, want)
}

// TestEmptyBatch: nothing to do, nothing recorded, no error.
func TestEmptyBatch(t *testing.T) {
	out := process(t, defaultConfig(), ptrace.NewTraces())
	assert.Equal(t, 0, out.SpanCount())
}

// TestWorkerPoolSameOutput: on the pool's workers or on the caller's
// goroutine, the processor writes the same spans; after Shutdown the caller's
// goroutine runs it again rather than waiting for a stopped worker.
func TestWorkerPoolSameOutput(t *testing.T) {
	outputs := map[bool]ptrace.Traces{}
	for _, pooled := range []bool{true, false} {
		cfg := defaultConfig()
		cfg.WorkerPool = pooled
		sink := new(consumertest.TracesSink)
		p, err := NewFactory().CreateTraces(context.Background(), nopSettings(), cfg, sink)
		require.NoError(t, err)
		_, isPooled := p.(*pooledTraces)
		assert.Equal(t, pooled, isPooled)
		require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
		require.NoError(t, p.ConsumeTraces(context.Background(), loadFixture(t, "istio-gateway")))
		require.NoError(t, p.Shutdown(context.Background()))
		require.NoError(t, p.ConsumeTraces(context.Background(), loadFixture(t, "istio-gateway")))
		require.Len(t, sink.AllTraces(), 2)
		outputs[pooled] = sink.AllTraces()[0]
		assert.Equal(t, outputs[pooled], sink.AllTraces()[1])
	}
	assert.Equal(t, outputs[false], outputs[true])
}
