package spannormalizerprocessor

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-mesh/otelcol-mesh/internal/benchspans"
)

// proxyBatch is what a proxy exports at once: n spans of one golden case's
// span under one resource, with their own IDs and paths.
func proxyBatch(tb testing.TB, name string, n int) ptrace.Traces {
	tb.Helper()
	src := loadFixture(tb, name)
	out := ptrace.NewTraces()
	src.ResourceSpans().At(0).Resource().CopyTo(out.ResourceSpans().AppendEmpty().Resource())
	ss := out.ResourceSpans().At(0).ScopeSpans().AppendEmpty()
	src.ResourceSpans().At(0).ScopeSpans().At(0).Scope().CopyTo(ss.Scope())
	for i := range n {
		srcSpans := src.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
		span := ss.Spans().AppendEmpty()
		srcSpans.At(i % srcSpans.Len()).CopyTo(span)
		span.SetSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, byte(i >> 8), byte(i)})
		benchspans.VaryIDs(span.Attributes(), fmt.Sprint(1000+i))
	}
	return out
}

// TestCompactedProxySpansCostFewerBytes: a proxy's batch, normalised with
// the default configuration, costs at most 0.80 of its bytes on the wire
// (OTLP protobuf); with compact_proxy_tags off it grows (stable names are
// longer). The figures are logged for the README.
func TestCompactedProxySpansCostFewerBytes(t *testing.T) {
	m := &ptrace.ProtoMarshaler{}
	var inAll, outAll, keptAll int
	for _, name := range []string{
		"istio-sidecar-inbound", "istio-sidecar-outbound-error", "istio-gateway", "istio-gateway-api-1.28",
		"istio-waypoint-1.29", "envoy-gateway", "istio-sidecar-inbound-otel-1.22",
	} {
		in := proxyBatch(t, name, 50)
		inSize := m.TracesSize(in)

		cfg := createDefaultConfig().(*Config)
		compacted := process(t, cfg, copyTraces(in))
		keepCfg := createDefaultConfig().(*Config)
		keepCfg.CompactProxyTags = false
		kept := process(t, keepCfg, copyTraces(in))

		outSize, keptSize := m.TracesSize(compacted), m.TracesSize(kept)
		t.Logf("%-36s in %6d B  out %6d B (%.2f)  compact_proxy_tags=false %6d B (%.2f)",
			name, inSize, outSize, float64(outSize)/float64(inSize), keptSize, float64(keptSize)/float64(inSize))
		inAll, outAll, keptAll = inAll+inSize, outAll+outSize, keptAll+keptSize
	}
	ratio := float64(outAll) / float64(inAll)
	t.Logf("all Envoy cases: out/in %.3f, compact_proxy_tags=false %.3f", ratio, float64(keptAll)/float64(inAll))
	assert.LessOrEqual(t, ratio, 0.80)
	assert.Greater(t, float64(keptAll)/float64(inAll), ratio)
}

// TestCompactingKeepsEveryValue: what leaves the spans is on the resource,
// under the same key, so resource.<key> finds it.
func TestCompactingKeepsEveryValue(t *testing.T) {
	in := proxyBatch(t, "istio-sidecar-outbound-error", 3)
	before := in.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Attributes().AsRaw()
	out := process(t, createDefaultConfig().(*Config), in)
	res := out.ResourceSpans().At(0).Resource().Attributes().AsRaw()
	spans := out.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	for _, k := range []string{"node_id", "component", "istio.canonical_service", "istio.canonical_revision",
		"istio.namespace", "istio.mesh_id", "istio.cluster_id"} {
		assert.Equal(t, before[k], res[k], "resource.%s", k)
		for i := 0; i < spans.Len(); i++ {
			_, onSpan := spans.At(i).Attributes().Get(k)
			assert.False(t, onSpan, "%s left on span %d", k, i)
		}
	}
	for i := 0; i < spans.Len(); i++ {
		a := spans.At(i).Attributes().AsRaw()
		assert.NotContains(t, a, "zone", "empty")
		assert.NotContains(t, a, "upstream_cluster.name", "repeats upstream_cluster")
		assert.Equal(t, before["upstream_cluster"], a["upstream_cluster"])
	}
}

// TestCompactingLeavesAnotherProxysValue: a resource whose spans come from
// two proxies keeps the second proxy's values on its spans.
func TestCompactingLeavesAnotherProxysValue(t *testing.T) {
	in := proxyBatch(t, "istio-sidecar-outbound-error", 2)
	second := in.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(1)
	second.Attributes().PutStr("node_id", "sidecar~10.244.9.9~other-1.team-alpha~team-alpha.svc.cluster.local")
	out := process(t, createDefaultConfig().(*Config), in)
	spans := out.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	_, first := spans.At(0).Attributes().Get("node_id")
	v, ok := spans.At(1).Attributes().Get("node_id")
	assert.False(t, first)
	require.True(t, ok)
	assert.Equal(t, "sidecar~10.244.9.9~other-1.team-alpha~team-alpha.svc.cluster.local", v.Str())
}

func copyTraces(td ptrace.Traces) ptrace.Traces {
	out := ptrace.NewTraces()
	td.CopyTo(out)
	return out
}
