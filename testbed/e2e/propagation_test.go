package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-mesh/otelcol-mesh/internal/meshattr"
	"github.com/otelcol-mesh/otelcol-mesh/testbed/harness"
	"github.com/otelcol-mesh/otelcol-mesh/testbed/temposink"
)

const (
	contextBreaks     = "otelcol_processor_spannormalizer_context_breaks"
	contextPropagated = "otelcol_processor_spannormalizer_context_propagated"
)

// sidecarSpan is a shared fixture (an Envoy sidecar span) moved to another
// workload and place in a trace; a zero parent makes it a root span.
func sidecarSpan(t *testing.T, fixture, svc, ns, podIP string, trace pcommon.TraceID, id, parent pcommon.SpanID) ptrace.ResourceSpans {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(harness.FixturesDir(t), fixture))
	require.NoError(t, err)
	td, err := (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(raw)
	require.NoError(t, err)
	rs := td.ResourceSpans().At(0)
	rs.Resource().Attributes().PutStr("service.name", svc+"."+ns) // Istio's <app>.<namespace>
	span := rs.ScopeSpans().At(0).Spans().At(0)
	attrs := span.Attributes()
	attrs.PutStr("node_id", fmt.Sprintf("sidecar~%s~%s-v1-6b746f74dc-9stvs.%s~%s.svc.cluster.local", podIP, svc, ns, ns))
	attrs.PutStr("istio.canonical_service", svc)
	attrs.PutStr("istio.namespace", ns)
	span.SetTraceID(trace)
	span.SetSpanID(id)
	span.SetParentSpanID(parent)
	return rs
}

func postTraces(t *testing.T, port int, td ptrace.Traces) {
	t.Helper()
	body, err := (&ptrace.JSONMarshaler{}).MarshalTraces(td)
	require.NoError(t, err)
	resp, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d/v1/traces", port), "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

// coverage is propagated / (propagated + outbound breaks) of one service.
func coverage(m harness.Metrics, svc, ns string) float64 {
	p := m.Sum(contextPropagated, map[string]string{"service": svc, "namespace": ns})
	b := m.Sum(contextBreaks, map[string]string{"service": svc, "namespace": ns, "kind": "outbound_root"})
	return p / (p + b)
}

// TestContextPropagationDiagnostics: service B (reviews, team-alpha) receives
// a traced request but calls ratings without forwarding the context, so its
// sidecar's outbound span starts a new trace; service C (details, team-beta)
// forwards it. The running binary's metrics endpoint shows B's break and a
// coverage below 1, and C without a break at coverage 1; the marked span
// reaches B's own tenant.
func TestContextPropagationDiagnostics(t *testing.T) {
	sink, err := temposink.Start(temposink.Config{GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0"})
	require.NoError(t, err)
	t.Cleanup(sink.Stop)
	ports := harness.NewPorts(t)
	col := harness.Start(t, harness.Options{
		ConfigFiles: harness.OwnPipeline(t, "otlp-http.yaml", "e2e/propagation.yaml"),
		Ports:       ports,
		Env:         map[string]string{"SINK_GRPC": sink.GRPCAddr()},
	})

	const (
		inbound  = "istio-sidecar-inbound.json"
		outbound = "istio-sidecar-outbound-error.json"
	)
	traceB, newTrace, traceC := pcommon.TraceID{0xb}, pcommon.TraceID{0xbb}, pcommon.TraceID{0xc}
	gatewayCall := pcommon.SpanID{0xa1}
	bIn, bOut := pcommon.SpanID{0xb1}, pcommon.SpanID{0xb2}
	cIn, cOut := pcommon.SpanID{0xc1}, pcommon.SpanID{0xc2}

	td := ptrace.NewTraces()
	for _, rs := range []ptrace.ResourceSpans{
		// B: its inbound span joins the caller's trace; its outbound call is a
		// root in a new trace (the application dropped the context).
		sidecarSpan(t, inbound, "reviews", "team-alpha", "10.244.1.17", traceB, bIn, gatewayCall),
		sidecarSpan(t, outbound, "reviews", "team-alpha", "10.244.1.17", newTrace, bOut, pcommon.SpanID{}),
		// C: the outbound call's parent is its inbound span (context forwarded).
		sidecarSpan(t, inbound, "details", "team-beta", "10.244.4.2", traceC, cIn, gatewayCall),
		sidecarSpan(t, outbound, "details", "team-beta", "10.244.4.2", traceC, cOut, cIn),
	} {
		rs.CopyTo(td.ResourceSpans().AppendEmpty())
	}
	postTraces(t, ports.OTLPHTTP, td)

	var m harness.Metrics
	require.Eventually(t, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		m, err = col.Metrics(ctx)
		return err == nil && len(m[contextBreaks]) > 0 && len(m[contextPropagated]) > 0
	}, 20*time.Second, 100*time.Millisecond, "no context diagnostics metrics on the endpoint")

	t.Logf("%s: %v\n%s: %v", contextBreaks, m[contextBreaks], contextPropagated, m[contextPropagated])
	// B: one break, counted against the calling service; coverage 0 < 1.
	assert.Equal(t, 1.0, m.Sum(contextBreaks, map[string]string{"service": "reviews", "namespace": "team-alpha", "kind": "outbound_root"}))
	assert.Equal(t, 0.0, m.Sum(contextPropagated, map[string]string{"service": "reviews", "namespace": "team-alpha"}))
	assert.Less(t, coverage(m, "reviews", "team-alpha"), 1.0)
	// C: no break of any kind, one propagated call; coverage exactly 1.
	assert.Equal(t, 0.0, m.Sum(contextBreaks, map[string]string{"service": "details"}))
	assert.Equal(t, 1.0, m.Sum(contextPropagated, map[string]string{"service": "details", "namespace": "team-beta"}))
	assert.Equal(t, 1.0, coverage(m, "details", "team-beta"))
	// Inbound spans with a parent are not suspected breaks.
	assert.Equal(t, 0.0, m.Sum(contextBreaks, map[string]string{"kind": "inbound_root_from_mesh"}))
	// The series exist with exactly these labels (no _total at this release).
	for _, s := range m[contextBreaks] {
		assert.Contains(t, []string{"reviews", "details"}, s.Labels["service"], "labels %v", s.Labels)
	}

	// The marked span reached B's own tenant (alpha, from team-alpha), and
	// only B's outbound span is marked.
	require.Eventually(t, func() bool { return sink.SpanCount("alpha") == 2 && sink.SpanCount("beta") == 2 },
		20*time.Second, 50*time.Millisecond, "spans per tenant: %v", sink.Stats().Spans)
	marks := map[string]string{}
	for _, tenant := range []string{"alpha", "beta"} {
		for _, got := range sink.Traces(tenant) {
			rss := got.ResourceSpans()
			for i := 0; i < rss.Len(); i++ {
				spans := rss.At(i).ScopeSpans().At(0).Spans()
				for k := 0; k < spans.Len(); k++ {
					if v, ok := spans.At(k).Attributes().Get(meshattr.ContextBreak); ok {
						marks[tenant+"/"+spans.At(k).SpanID().String()] = v.Str()
					}
				}
			}
		}
	}
	assert.Equal(t, map[string]string{"alpha/" + bOut.String(): meshattr.ContextBreakOutboundRoot}, marks)
	require.NoError(t, col.Stop(30*time.Second))
}
