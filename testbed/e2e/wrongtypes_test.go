package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/otelcol-mesh/otelcol-mesh/internal/meshattr"

	"github.com/otelcol-mesh/otelcol-mesh/internal/spanwalk"
)

// wrongTypeSpan adds a span whose every attribute our processors read has a
// type they do not expect. Its name says where it must end up.
func wrongTypeSpan(td ptrace.Traces, name string, res, attrs func(pcommon.Map)) {
	rs := td.ResourceSpans().AppendEmpty()
	res(rs.Resource().Attributes())
	span := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	span.SetName(name)
	span.SetTraceID(pcommon.TraceID{1, byte(td.ResourceSpans().Len())})
	span.SetSpanID(pcommon.SpanID{2, byte(td.ResourceSpans().Len())})
	span.SetKind(ptrace.SpanKindClient)
	attrs(span.Attributes())
}

func putNested(m pcommon.Map, key string) {
	kv := m.PutEmptyMap(key)
	kv.PutEmptySlice("inner").AppendEmpty().SetInt(7)
}

// TestWrongAttributeTypesNeverMoveATenant sends, through the shipped configs
// (spannormalizer + tenantrouting), spans whose proxy tags, namespaces and
// destination attribute have the wrong types. Nothing may crash, every span
// must arrive, and none may reach a tenant its trusted namespace does not
// give it: a namespace that is not a string is no namespace.
func TestWrongAttributeTypesNeverMoveATenant(t *testing.T) {
	col, sink, ports := startLocalTempo(t, "fallback")

	td := ptrace.NewTraces()
	wrongTypeSpan(td, "sidecar-int-namespace", func(r pcommon.Map) { r.PutStr("service.name", "x.team-alpha") },
		func(a pcommon.Map) {
			a.PutStr("component", "proxy")
			a.PutInt("node_id", 12)
			a.PutInt("istio.namespace", 42)
			a.PutBool("http.status_code", true)
			a.PutEmptySlice("upstream_cluster").AppendEmpty().SetStr("outbound|80||y.team-beta.svc.cluster.local")
			putNested(a, "response_flags")
			a.PutDouble("http.method", 1.5)
			a.PutEmptyBytes("http.url").FromRaw([]byte{0xff, 0xfe})
		})
	wrongTypeSpan(td, "gateway-bad-destination", func(r pcommon.Map) { r.PutStr("service.name", "istio-ingressgateway.istio-system") },
		func(a pcommon.Map) {
			a.PutStr("component", "proxy")
			a.PutStr("node_id", "router~10.0.0.1~gw-1.istio-system~istio-system.svc.cluster.local")
			a.PutStr("istio.namespace", "istio-system")
			a.PutInt("upstream_cluster", 9080)
			a.PutInt(meshattr.DestinationNamespace, 5)
			a.PutStr("http.status_code", "NaN")
		})
	wrongTypeSpan(td, "app-int-namespace", func(r pcommon.Map) {
		r.PutStr("service.name", "app")
		r.PutInt("k8s.namespace.name", 3)
	}, func(a pcommon.Map) { a.PutInt(meshattr.DestinationNamespace, 1) })
	wrongTypeSpan(td, "nginx-array-ingress", func(r pcommon.Map) { r.PutStr("service.name", "nginx") },
		func(a pcommon.Map) {
			a.PutEmptySlice("ingress.namespace").AppendEmpty().SetStr("team-beta")
			a.PutStr("http.target", "/x")
			a.PutStr("http.method", "GET")
			a.PutBool("net.host.port", false)
			a.PutEmptyMap("http.status_code")
		})
	td.ResourceSpans().At(3).ScopeSpans().At(0).Scope().SetName("nginx")

	body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	require.NoError(t, err)
	resp, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d/v1/traces", ports.OTLPHTTP), "application/x-protobuf", bytes.NewReader(body))
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	want := map[string][]string{
		"fallback": {"app-int-namespace", "nginx-array-ingress", "sidecar-int-namespace"},
		"platform": {"gateway-bad-destination"},
	}
	got := func() map[string][]string {
		out := map[string][]string{}
		for _, tenant := range sink.Tenants() {
			for _, td := range sink.Traces(tenant) {
				spanwalk.Each(td, func(span ptrace.Span) {
					// The normalizer may rename proxy spans; the span ID says which one it was.
					id := span.SpanID()
					out[tenant] = append(out[tenant], []string{"sidecar-int-namespace", "gateway-bad-destination",
						"app-int-namespace", "nginx-array-ingress"}[id[1]-1])
				})
			}
			sort.Strings(out[tenant])
		}
		return out
	}
	assert.Eventually(t, func() bool { return assert.ObjectsAreEqual(want, got()) }, 20*time.Second, 50*time.Millisecond)
	assert.Equal(t, want, got(), "spans per tenant")
	require.NoError(t, col.WaitHealthy(), "still healthy")
	require.NoError(t, col.Stop(30*time.Second), "clean exit")
}
