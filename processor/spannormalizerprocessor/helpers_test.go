package spannormalizerprocessor

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/otelcol-mesh/otelcol-mesh/processor/spannormalizerprocessor/internal/metadata"
)

// fixturesDir holds the proxy span fixtures; testdata/README.md says where
// each comes from.
var fixturesDir = filepath.Join("testdata", "fixtures")

func loadFixture(tb testing.TB, name string) ptrace.Traces {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(fixturesDir, name))
	require.NoError(tb, err)
	td, err := (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(b)
	require.NoError(tb, err)
	return td
}

func defaultConfig() *Config { return createDefaultConfig().(*Config) }

// newProcessor builds the processor through the real factory, started, and
// stops it when the test ends.
func newProcessor(tb testing.TB, cfg *Config, set processor.Settings) (processor.Traces, *consumertest.TracesSink) {
	tb.Helper()
	sink := new(consumertest.TracesSink)
	return newProcessorTo(tb, cfg, set, sink), sink
}

func newProcessorTo(tb testing.TB, cfg *Config, set processor.Settings, next consumer.Traces) processor.Traces {
	tb.Helper()
	p, err := NewFactory().CreateTraces(context.Background(), set, cfg, next)
	require.NoError(tb, err)
	require.NoError(tb, p.Start(context.Background(), componenttest.NewNopHost()))
	tb.Cleanup(func() { require.NoError(tb, p.Shutdown(context.Background())) })
	return p
}

func nopSettings() processor.Settings { return processortest.NewNopSettings(metadata.Type) }

// process runs td through a fresh processor with cfg and returns the output.
func process(tb testing.TB, cfg *Config, td ptrace.Traces) ptrace.Traces {
	tb.Helper()
	p, sink := newProcessor(tb, cfg, nopSettings())
	require.NoError(tb, p.ConsumeTraces(context.Background(), td))
	all := sink.AllTraces()
	require.Len(tb, all, 1)
	return all[0]
}
