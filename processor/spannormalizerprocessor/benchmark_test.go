package spannormalizerprocessor

import (
	"strconv"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-mesh/otelcol-mesh/internal/benchspans"
)

// benchMix is a realistic batch: per round, one of each fixture (sidecar
// inbound, sidecar outbound error, gateway, two nginx, one app span), with
// the numeric path IDs varied per round. 20 rounds = 120 spans.
func benchMix(tb testing.TB) (ptrace.Traces, int) {
	tb.Helper()
	files := []string{
		"istio-sidecar-inbound", "istio-sidecar-outbound-error", "istio-gateway",
		"nginx-ingress", "nginx-ingress-error", "app-span",
	}
	td := ptrace.NewTraces()
	for round := 0; round < 20; round++ {
		id := strconv.Itoa(1000 + round)
		for _, f := range files {
			in := loadFixture(tb, f)
			rss := in.ResourceSpans()
			for i := 0; i < rss.Len(); i++ {
				rs := rss.At(i)
				sss := rs.ScopeSpans()
				for j := 0; j < sss.Len(); j++ {
					spans := sss.At(j).Spans()
					for k := 0; k < spans.Len(); k++ {
						varyIDs(spans.At(k).Attributes(), id)
					}
				}
				rs.MoveTo(td.ResourceSpans().AppendEmpty())
			}
		}
	}
	return td, td.SpanCount()
}

func varyIDs(m pcommon.Map, id string) {
	for _, k := range []string{"http.url", "http.target"} {
		if v, ok := m.Get(k); ok {
			s := strings.Replace(v.Str(), "/reviews/0", "/reviews/"+id, 1)
			s = strings.Replace(s, "/items/42", "/items/"+id, 1)
			v.SetStr(s)
		}
	}
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
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				if v, ok := spans.At(k).Attributes().Get("node_id"); ok && strings.HasPrefix(v.Str(), "sidecar~") {
					spans.At(k).SetParentSpanID(pcommon.SpanID{})
				}
			}
		}
	}
}
