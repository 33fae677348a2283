package spannormalizerprocessor

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-mesh/otelcol-mesh/internal/meshattr"
	"github.com/otelcol-mesh/otelcol-mesh/processor/spannormalizerprocessor/internal/parse"
)

// fuzzKeys lets a one-byte key reach the keys the processor reads.
var fuzzKeys = []string{
	"component", "node_id", "upstream_cluster", "istio.canonical_service", "istio.namespace",
	"istio.canonical_revision", "http.method", "http.status_code", "http.url", "http.target",
	"http.scheme", "http.flavor", "http.protocol", "user_agent", "http.user_agent", "net.host.port",
	"net.peer.ip", "net.peer.port", "peer.address", "upstream_address", "request_size", "response_size", "http.host",
	"http.server_name", "grpc.path", "grpc.status_code", "error", "response_flags", "ingress.namespace",
	"ingress.service_name", "http.request.method", "url.path", "http.response.status_code",
	meshattr.DestinationNamespace, "downstream_cluster", "net.host.name", "http.client_ip",
	"net.sock.peer.addr", "net.sock.peer.port", "http.request_content_length", "http.response_content_length",
	"retry.count", "http.route", "grpc.message", "error.type",
}

// decodeAttrs turns fuzz bytes into an attribute map: one `key=value` per
// line; a key of one digit/letter picks from fuzzKeys; a value starting with
// '#' is an int, "!t"/"!f" a bool, anything else a string.
func decodeAttrs(m pcommon.Map, data string) {
	for line := range strings.SplitSeq(data, "\n") {
		k, v, _ := strings.Cut(line, "=")
		if len(k) == 1 {
			k = fuzzKeys[int(k[0])%len(fuzzKeys)]
		}
		switch {
		case strings.HasPrefix(v, "#"):
			n, _ := parse.Uint(v[1:])
			if strings.HasPrefix(v, "#-") {
				n = -n
			}
			m.PutInt(k, n)
		case v == "!t" || v == "!f":
			m.PutBool(k, v == "!t")
		default:
			m.PutStr(k, v)
		}
	}
}

func FuzzNormalize(f *testing.F) {
	f.Add("component=proxy\nupstream_cluster=outbound|9080||reviews.team-a.svc.cluster.local\nhttp.method=GET\nhttp.url=http://reviews:9080/reviews/0\nhttp.status_code=503\nresponse_flags=UF", uint8(3), "", "svc.team-a", false)
	f.Add("component=proxy\nnode_id=router~10.0.0.5~gw-1.istio-system~istio-system.svc.cluster.local\nupstream_cluster=outbound|80||web.team-b.svc.cluster.local\nhttp.method=POST\nhttp.url=https://x/a/1?b", uint8(3), "", "", false)
	f.Add("component=proxy\nistio.namespace=team-a\nupstream_cluster=inbound|80||\npeer.address=[::1]:80\nhttp.protocol=HTTP/2\ngrpc.path=/a.B/C\ngrpc.status_code=14", uint8(2), "", "", true)
	f.Add("http.method=GET\nhttp.target=/orders/42?x\nhttp.status_code=#200\nnet.host.port=#443\nnet.peer.ip=2001:db8::1\ningress.namespace=team-a\ningress.service_name=web", uint8(2), "nginx", "nginx", false)
	f.Add("0=proxy\n2=-\n6=\n7=#-5\n8=!t\n1=sidecar~~~", uint8(0), "", "", false)
	f.Add("http.method=GET\nhttp.target=/a", uint8(2), "otelhttp", "app", false)
	f.Add("http.method=GET\nhttp.target=/api/x?y\nhttp.route=/api/\nhttp.flavor=2.0\nhttp.status_code=#499\nnet.host.name=_\nnet.sock.peer.addr=203.0.113.7\nnet.sock.peer.port=#5\nhttp.request_content_length=#0", uint8(2), "nginx", "ngf:team-a:gw:x", false)
	f.Add("component=proxy\nnode_id=envoy-infra-shop-1\nupstream_cluster=httproute/team-a/shop/rule/0\nupstream_address=10.0.0.1:80\npeer.address=10.0.0.1:80\nhttp.status_code=0\nresponse_flags=UC,ZZ", uint8(3), "", "shop.infra", false)
	f.Add("component=proxy\nnode_id=waypoint~1.2.3.4~waypoint-1.ns~ns.svc.cluster.local\nupstream_cluster=inbound-vip|80|http|a.ns.svc.cluster.local;\npeer.address=envoy://internal_client_address/\nhttp.method=GET", uint8(2), "", "a.ns.svc.cluster.local", false)
	f.Add("0=proxy\n2=inbound|1||\nhttp.request.method="+strings.Repeat("Q", 600)+"\nurl.path=/"+strings.Repeat("a/", 300), uint8(2), "", strings.Repeat("s", 300), false)

	cfg := defaultConfig()
	cfg.MaxSpanNamesPerService = 50
	cfg.MaxServices = 20
	cfg.ContextDiagnostics.Enabled = true
	cfg.ContextDiagnostics.MaxServices = 5
	cfg.ContextDiagnostics.MeshPeerCIDRs = []string{"10.0.0.0/8", "::/0"}
	p, sink := newProcessor(f, cfg, nopSettings())
	m := &ptrace.ProtoMarshaler{}

	f.Fuzz(func(t *testing.T, data string, kind uint8, scope, service string, keep bool) {
		td := ptrace.NewTraces()
		rs := td.ResourceSpans().AppendEmpty()
		if service != "" {
			rs.Resource().Attributes().PutStr("service.name", service)
		}
		ss := rs.ScopeSpans().AppendEmpty()
		ss.Scope().SetName(scope)
		span := ss.Spans().AppendEmpty()
		span.SetName("in")
		span.SetKind(ptrace.SpanKind(kind % 6))
		decodeAttrs(span.Attributes(), data)
		_, claimedErrorType := span.Attributes().Get("error.type")
		claimed, claimedMark := "", ""
		if v, ok := span.Attributes().Get(meshattr.DestinationNamespace); ok {
			claimed = v.AsString()
		}
		if v, ok := span.Attributes().Get(meshattr.ContextBreak); ok {
			claimedMark = v.AsString()
		}

		require.NoError(t, p.ConsumeTraces(context.Background(), td))
		out := sink.AllTraces()
		sink.Reset()
		require.Len(t, out, 1)
		require.Equal(t, 1, out[0].SpanCount(), "spans are never dropped")
		_, err := m.MarshalTraces(out[0])
		require.NoError(t, err)
		got := out[0].ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
		require.LessOrEqual(t, len(got.Name()), maxNameLength+len("in"))
		// A destination namespace the processor wrote is always a valid
		// namespace name (a claimed one only survives on spans it does not touch).
		if v, ok := got.Attributes().Get(meshattr.DestinationNamespace); ok && v.AsString() != claimed {
			require.True(t, parse.IsDNSLabel(v.Str()), "destination namespace %q", v.Str())
		}
		// The input has no status: an ERROR is the processor's, and it always
		// says why in a bounded error.type.
		if got.Status().Code() == ptrace.StatusCodeError && !claimedErrorType {
			v, ok := got.Attributes().Get("error.type")
			require.True(t, ok, "an ERROR span without error.type")
			require.LessOrEqual(t, len(v.Str()), 40, "error.type %q", v.Str())
			require.NotEmpty(t, v.Str())
		}
		// Values are moved, never lost: the input has no empty value, so
		// neither may the output, and no key is there twice.
		for _, m := range []pcommon.Map{got.Attributes(), out[0].ResourceSpans().At(0).Resource().Attributes()} {
			seen := map[string]bool{}
			for k, v := range m.All() {
				require.NotEqual(t, pcommon.ValueTypeEmpty, v.Type(), "%s is empty", k)
				require.False(t, seen[k], "%s is there twice", k)
				seen[k] = true
			}
		}
		// The fuzzed span is a root: a mark is one of the two documented values.
		if v, ok := got.Attributes().Get(meshattr.ContextBreak); ok && v.AsString() != claimedMark {
			require.Contains(t, []string{meshattr.ContextBreakOutboundRoot, meshattr.ContextBreakInboundRootFromMesh}, v.Str())
		}
	})
}
