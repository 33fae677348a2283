package ottlcompare

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/golden"
	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/transformprocessor"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/otelcol-mesh/otelcol-mesh/internal/benchspans"
	"github.com/otelcol-mesh/otelcol-mesh/processor/spannormalizerprocessor"
	"github.com/otelcol-mesh/otelcol-mesh/testbed/harness"
)

// mix is benchspans.Mix of spannormalizer's golden inputs: 120 spans.
func mix(tb testing.TB) (ptrace.Traces, int) {
	tb.Helper()
	dir := filepath.Join(harness.RepoRoot(tb), "processor", "spannormalizerprocessor", "testdata")
	cases := make([]ptrace.Traces, len(benchspans.MixCases))
	for i, c := range benchspans.MixCases {
		in, err := golden.ReadTraces(filepath.Join(dir, c, "input.yaml"))
		require.NoError(tb, err)
		cases[i] = in
	}
	td := benchspans.Mix(cases, 20)
	return td, td.SpanCount()
}

// ours is spannormalizer as the OTTL statements can imitate it: route
// learning and compacting off (OTTL has neither), everything else default.
func ours(tb testing.TB, next consumer.Traces) consumer.Traces {
	tb.Helper()
	f := spannormalizerprocessor.NewFactory()
	cfg := f.CreateDefaultConfig().(*spannormalizerprocessor.Config)
	cfg.RouteLearning.Enabled = false
	cfg.CompactProxyTags = false
	p, err := f.CreateTraces(context.Background(), processortest.NewNopSettings(f.Type()), cfg, next)
	return start(tb, p, err)
}

func theirs(tb testing.TB, next consumer.Traces) consumer.Traces {
	tb.Helper()
	f := transformprocessor.NewFactory()
	cfg := f.CreateDefaultConfig()
	statements := make([]any, len(Statements))
	for i, s := range Statements {
		statements[i] = s
	}
	require.NoError(tb, confmap.NewFromStringMap(map[string]any{
		"error_mode": "ignore",
		"trace_statements": []any{map[string]any{
			"context":    "span",
			"conditions": []any{`span.attributes["component"] == "proxy" or instrumentation_scope.name == "nginx"`},
			"statements": statements,
		}},
	}).Unmarshal(cfg))
	require.NoError(tb, confmap.Validate(cfg))
	p, err := f.CreateTraces(context.Background(), processortest.NewNopSettings(f.Type()), cfg, next)
	return start(tb, p, err)
}

func start(tb testing.TB, p processor.Traces, err error) consumer.Traces {
	tb.Helper()
	require.NoError(tb, err)
	require.NoError(tb, p.Start(context.Background(), componenttest.NewNopHost()))
	tb.Cleanup(func() { require.NoError(tb, p.Shutdown(context.Background())) })
	return p
}

// TestOTTLEquivalent keeps the benchmark honest: on the mix the OTTL
// version produces the same span names, statuses and destination
// namespaces as spannormalizer.
func TestOTTLEquivalent(t *testing.T) {
	in, _ := mix(t)
	a, b := ptrace.NewTraces(), ptrace.NewTraces()
	in.CopyTo(a)
	in.CopyTo(b)
	oursSink, theirsSink := new(consumertest.TracesSink), new(consumertest.TracesSink)
	require.NoError(t, ours(t, oursSink).ConsumeTraces(context.Background(), a))
	require.NoError(t, theirs(t, theirsSink).ConsumeTraces(context.Background(), b))
	o, x := oursSink.AllTraces()[0], theirsSink.AllTraces()[0]
	require.Equal(t, o.ResourceSpans().Len(), x.ResourceSpans().Len())
	for i := 0; i < o.ResourceSpans().Len(); i++ {
		os := o.ResourceSpans().At(i).ScopeSpans().At(0).Spans().At(0)
		xs := x.ResourceSpans().At(i).ScopeSpans().At(0).Spans().At(0)
		require.Equal(t, os.Name(), xs.Name())
		require.Equal(t, os.Status().Code(), xs.Status().Code(), os.Name())
		ov, ook := os.Attributes().Get("mesh.destination.namespace")
		xv, xok := xs.Attributes().Get("mesh.destination.namespace")
		require.Equal(t, ook, xok, os.Name())
		if ook {
			require.Equal(t, ov.Str(), xv.Str(), os.Name())
		}
	}
}

// BenchmarkNormalizeVsOTTL compares, in one run and on the same 120 spans,
// the copy of the input alone, spannormalizer, and the same rewrite as
// transform-processor OTTL. Subtract copy_only for the processing cost.
//
//	cd testbed && go test -run '^$' -bench NormalizeVsOTTL -benchmem ./ottlcompare/
func BenchmarkNormalizeVsOTTL(b *testing.B) {
	in, _ := mix(b)
	run := func(b *testing.B, p consumer.Traces) { benchspans.Run(b, in, p) }
	b.Run("copy_only", func(b *testing.B) { run(b, nil) })
	b.Run("spannormalizer", func(b *testing.B) { run(b, ours(b, consumertest.NewNop())) })
	b.Run("transform_ottl", func(b *testing.B) { run(b, theirs(b, consumertest.NewNop())) })
}
