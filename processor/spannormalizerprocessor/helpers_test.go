package spannormalizerprocessor

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/golden"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/otelcol-mesh/otelcol-mesh/processor/spannormalizerprocessor/internal/metadata"
)

// teamFixtures are the team's first six cases, which several tests use as
// a representative mix (testdata/README.md says where each comes from).
var teamFixtures = []string{
	"istio-sidecar-inbound", "istio-sidecar-outbound-error", "istio-gateway",
	"nginx-ingress", "nginx-ingress-error", "app-span",
}

// loadFixture reads testdata/<name>/input.yaml.
func loadFixture(tb testing.TB, name string) ptrace.Traces {
	tb.Helper()
	td, err := golden.ReadTraces(filepath.Join("testdata", name, "input.yaml"))
	require.NoError(tb, err)
	return td
}

// defaultConfig is the default configuration with route learning and
// compacting off, for the tests of the rewrite itself: a path's segments
// are named after one request, as they are once learned, and every proxy
// tag stays on its span. The golden tests run the real default
// (createDefaultConfig), and compact_test.go tests compacting.
func defaultConfig() *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.RouteLearning.Enabled = false
	cfg.CompactProxyTags = false
	return cfg
}

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
