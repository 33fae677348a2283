package spannormalizerprocessor

import (
	"strings"
	"testing"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-mesh/otelcol-mesh/internal/benchspans"
	"github.com/otelcol-mesh/otelcol-mesh/internal/spanwalk"
)

// benchMix is benchspans.Mix of the golden inputs: 120 spans.
func benchMix(tb testing.TB) (ptrace.Traces, int) {
	tb.Helper()
	cases := make([]ptrace.Traces, len(benchspans.MixCases))
	for i, c := range benchspans.MixCases {
		cases[i] = loadFixture(tb, c)
	}
	td := benchspans.Mix(cases, 20)
	return td, td.SpanCount()
}

// BenchmarkNormalize measures, in one run and on the same spans, the copy
// of the input alone (the per-iteration cost of fresh input) and
// spannormalizer in its configurations. Each iteration copies the
// unnormalised batch into a reused destination, then processes it; subtract
// copy_only from the others for the processing cost. ns/span and allocs/span
// are reported per span of the 120-span batch. The comparison with the same
// rewrite in transform/OTTL is testbed/ottlcompare.
func BenchmarkNormalize(b *testing.B) {
	mix, _ := benchMix(b)
	run := func(b *testing.B, p consumer.Traces) { benchspans.Run(b, mix, p) }
	b.Run("copy_only", func(b *testing.B) { run(b, nil) })
	b.Run("spannormalizer", func(b *testing.B) {
		run(b, newProcessorTo(b, defaultConfig(), nopSettings(), consumertest.NewNop()))
	})
	// The shipped default: route learning on (the mix repeats its paths,
	// so after the first iterations every name is learned).
	b.Run("spannormalizer_route_learning", func(b *testing.B) {
		run(b, newProcessorTo(b, createDefaultConfig().(*Config), nopSettings(), consumertest.NewNop()))
	})
	// context_diagnostics on, same mix: every sidecar span has a parent
	// (20 propagated outbound calls, 20 inbound spans checked and passed).
	diagCfg := defaultConfig()
	diagCfg.ContextDiagnostics.Enabled = true
	diagCfg.ContextDiagnostics.MeshPeerCIDRs = []string{"10.244.0.0/16"}
	b.Run("spannormalizer_diagnostics", func(b *testing.B) {
		run(b, newProcessorTo(b, diagCfg, nopSettings(), consumertest.NewNop()))
	})
	// The worst case: every sidecar span is a root, so every one of them is
	// a break to count and mark (outbound_root, inbound_root_from_mesh via
	// the peer address). run copies `mix`, so swap in the rootless copy.
	rootless := ptrace.NewTraces()
	mix.CopyTo(rootless)
	clearSidecarParents(rootless)
	b.Run("spannormalizer_diagnostics_all_breaks", func(b *testing.B) {
		saved := mix
		mix = rootless
		defer func() { mix = saved }()
		run(b, newProcessorTo(b, diagCfg, nopSettings(), consumertest.NewNop()))
	})
}

// clearSidecarParents makes every Envoy sidecar span of td a root span.
func clearSidecarParents(td ptrace.Traces) {
	spanwalk.Each(td, func(s ptrace.Span) {
		if v, ok := s.Attributes().Get("node_id"); ok && strings.HasPrefix(v.Str(), "sidecar~") {
			s.SetParentSpanID(pcommon.SpanID{})
		}
	})
}
