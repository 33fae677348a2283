package spannormalizerprocessor

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelcol-mesh/otelcol-mesh/internal/meshattr"
	"github.com/otelcol-mesh/otelcol-mesh/processor/spannormalizerprocessor/internal/metadatatest"
)

// wantSpan is the full expected state of a normalised span and its resource.
type wantSpan struct {
	name     string
	kind     ptrace.SpanKind
	status   ptrace.StatusCode
	message  string
	attrs    map[string]any
	resource map[string]any
}

func assertSpan(t *testing.T, want wantSpan, res pcommon.Resource, span ptrace.Span) {
	t.Helper()
	assert.Equal(t, want.name, span.Name(), "name")
	assert.Equal(t, want.kind, span.Kind(), "kind")
	assert.Equal(t, want.status, span.Status().Code(), "status code")
	assert.Equal(t, want.message, span.Status().Message(), "status message")
	assert.Equal(t, want.attrs, span.Attributes().AsRaw(), "span attributes")
	if want.resource != nil {
		assert.Equal(t, want.resource, res.Attributes().AsRaw(), "resource attributes")
	}
}

// envoyKept are the Envoy/Istio tags that are not deprecated names and stay.
func envoyKept(nodeID, service, revision, namespace, cluster string) map[string]any {
	return map[string]any{
		"node_id":                  nodeID,
		"zone":                     "",
		"component":                "proxy",
		"istio.canonical_service":  service,
		"istio.canonical_revision": revision,
		"istio.namespace":          namespace,
		"istio.mesh_id":            "cluster.local",
		"istio.cluster_id":         "Kubernetes",
		"guid:x-request-id":        "6f1c2a4e-8b3d-4f7a-9c1e-2d5b8a7f3e10",
		"upstream_cluster":         cluster,
		"upstream_cluster.name":    cluster,
	}
}

func merge(ms ...map[string]any) map[string]any {
	out := map[string]any{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// TestFixtures holds hand-written expectations for the team's six first
// fixtures, span by span and attribute by attribute; TestGolden compares
// every case under testdata/ in full against its reviewed expected.yaml.
func TestFixtures(t *testing.T) {
	wants := map[string]wantSpan{
		"istio-sidecar-inbound": {
			name: "GET /reviews/{id}", kind: ptrace.SpanKindServer, status: ptrace.StatusCodeUnset,
			attrs: merge(envoyKept("sidecar~10.244.1.17~reviews-v2-5b7f9c8d4-x2kqp.team-alpha~team-alpha.svc.cluster.local",
				"reviews", "v2", "team-alpha", "inbound|9080||"), map[string]any{
				"http.request.method":       "GET",
				"http.response.status_code": int64(200),
				"url.scheme":                "http",
				"url.path":                  "/reviews/0",
				"network.protocol.version":  "1.1",
				"user_agent.original":       "Apache-CoreHTTP/4.1",
				"server.address":            "reviews",
				"server.port":               int64(9080),
				"network.peer.address":      "10.244.2.9",
				"client.address":            "10.244.2.9",
				"http.request.body.size":    int64(0),
				"http.response.body.size":   int64(358),
			}),
			resource: map[string]any{
				"service.name": "reviews", "service.namespace": "team-alpha", "service.version": "v2",
				"k8s.namespace.name": "team-alpha", "k8s.pod.name": "reviews-v2-5b7f9c8d4-x2kqp",
			},
		},
		"istio-sidecar-outbound-error": {
			name: "GET /reviews/{id}", kind: ptrace.SpanKindClient, status: ptrace.StatusCodeError,
			message: "upstream connection failure",
			attrs: merge(envoyKept("sidecar~10.244.2.9~productpage-v1-6b746f74dc-9stvs.team-alpha~team-alpha.svc.cluster.local",
				"productpage", "v1", "team-alpha", "outbound|9080||reviews.team-alpha.svc.cluster.local"), map[string]any{
				"http.request.method":       "GET",
				"http.response.status_code": int64(503),
				"error.type":                "503",
				"response_flags":            "UF",
				"url.full":                  "http://reviews:9080/reviews/0",
				"network.protocol.version":  "1.1",
				"user_agent.original":       "python-requests/2.31.0",
				"server.address":            "reviews.team-alpha.svc.cluster.local",
				"server.port":               int64(9080),
				"peer.service":              "reviews",
				"client.address":            "10.244.2.9",
				"http.request.body.size":    int64(0),
				"http.response.body.size":   int64(91),
			}),
			resource: map[string]any{
				"service.name": "productpage", "service.namespace": "team-alpha", "service.version": "v1",
				"k8s.namespace.name": "team-alpha", "k8s.pod.name": "productpage-v1-6b746f74dc-9stvs",
			},
		},
		"istio-gateway": {
			name: "GET /productpage", kind: ptrace.SpanKindClient, status: ptrace.StatusCodeUnset,
			attrs: merge(envoyKept("router~10.244.0.5~istio-ingressgateway-7d4f8b9c6-abcde.istio-system~istio-system.svc.cluster.local",
				"istio-ingressgateway", "latest", "istio-system", "outbound|9080||productpage.team-alpha.svc.cluster.local"), map[string]any{
				"http.request.method":         "GET",
				"http.response.status_code":   int64(200),
				"url.full":                    "https://shop.example.com/productpage?u=normal",
				"network.protocol.version":    "2",
				"user_agent.original":         "Mozilla/5.0 (X11; Linux x86_64)",
				"server.address":              "productpage.team-alpha.svc.cluster.local",
				"server.port":                 int64(9080),
				"peer.service":                "productpage",
				"client.address":              "198.51.100.23",
				"http.request.body.size":      int64(0),
				"http.response.body.size":     int64(5183),
				meshattr.DestinationNamespace: "team-alpha",
			}),
			resource: map[string]any{
				"service.name": "istio-ingressgateway", "service.namespace": "istio-system", "service.version": "latest",
				"k8s.namespace.name": "istio-system", "k8s.pod.name": "istio-ingressgateway-7d4f8b9c6-abcde",
			},
		},
		"nginx-ingress": {
			name: "GET /productpage", kind: ptrace.SpanKindServer, status: ptrace.StatusCodeUnset,
			attrs: map[string]any{
				"http.request.method":         "GET",
				"http.response.status_code":   int64(200),
				"url.scheme":                  "https",
				"url.path":                    "/productpage",
				"url.query":                   "u=normal",
				"network.protocol.version":    "1.1",
				"user_agent.original":         "Mozilla/5.0 (X11; Linux x86_64)",
				"server.address":              "shop.example.com",
				"server.port":                 int64(443),
				"network.peer.address":        "203.0.113.7",
				"network.peer.port":           int64(51234),
				"client.address":              "203.0.113.7",
				"client.port":                 int64(51234),
				"peer.service":                "productpage",
				meshattr.DestinationNamespace: "team-alpha",
				"ingress.namespace":           "team-alpha",
				"ingress.service_name":        "productpage",
				"ingress.name":                "shop",
				"ingress.upstream":            "team-alpha-productpage-9080",
			},
			resource: map[string]any{"service.name": "nginx"},
		},
		"nginx-ingress-error": {
			name: "POST /api/v1/orders/{id}/items/{id}", kind: ptrace.SpanKindServer, status: ptrace.StatusCodeError,
			attrs: map[string]any{
				"http.request.method":         "POST",
				"http.response.status_code":   int64(502),
				"error.type":                  "502",
				"url.scheme":                  "https",
				"url.path":                    "/api/v1/orders/3fa85f64-5717-4562-b3fc-2c963f66afa6/items/42",
				"url.query":                   "debug=1",
				"network.protocol.version":    "2",
				"user_agent.original":         "okhttp/4.12.0",
				"server.address":              "api.example.com",
				"server.port":                 int64(443),
				"network.peer.address":        "2001:db8::17",
				"network.peer.port":           int64(40112),
				"client.address":              "2001:db8::17",
				"client.port":                 int64(40112),
				"peer.service":                "orders",
				meshattr.DestinationNamespace: "team-beta",
				"ingress.namespace":           "team-beta",
				"ingress.service_name":        "orders",
				"ingress.name":                "api",
				"ingress.upstream":            "team-beta-orders-8080",
			},
			resource: map[string]any{"service.name": "nginx"},
		},
	}
	for _, name := range teamFixtures {
		t.Run(name, func(t *testing.T) {
			in := loadFixture(t, name)
			if name == "app-span" {
				assertUnchanged(t, defaultConfig(), in)
				return
			}
			want, ok := wants[name]
			require.True(t, ok, "fixture %s has no expectation in TestFixtures", name)
			delete(wants, name)
			out := process(t, defaultConfig(), in)
			rs := out.ResourceSpans().At(0)
			assertSpan(t, want, rs.Resource(), rs.ScopeSpans().At(0).Spans().At(0))
		})
	}
	assert.Empty(t, wants, "expectations without a fixture")
}

// assertUnchanged checks that td passes byte-for-byte (compared as
// marshalled protobuf).
func assertUnchanged(t *testing.T, cfg *Config, td ptrace.Traces) {
	t.Helper()
	m := &ptrace.ProtoMarshaler{}
	before, err := m.MarshalTraces(td)
	require.NoError(t, err)
	out := process(t, cfg, td)
	after, err := m.MarshalTraces(out)
	require.NoError(t, err)
	assert.Equal(t, before, after)
}

// spanIn builds one span with the given attributes, kind, scope name and
// resource attributes.
func spanIn(t *testing.T, kind ptrace.SpanKind, scope string, res, attrs map[string]any) ptrace.Traces {
	t.Helper()
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	require.NoError(t, rs.Resource().Attributes().FromRaw(res))
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName(scope)
	span := ss.Spans().AppendEmpty()
	span.SetName("original")
	span.SetKind(kind)
	span.SetTraceID(pcommon.TraceID{1, 2, 3})
	span.SetSpanID(pcommon.SpanID{4, 5, 6})
	require.NoError(t, span.Attributes().FromRaw(attrs))
	return td
}

// envoyAttrs is a minimal Envoy sidecar span in team-a plus extra tags.
func envoyAttrs(extra map[string]any) map[string]any {
	return merge(map[string]any{
		"component":               "proxy",
		"node_id":                 "sidecar~10.0.0.1~cart-7c9d-abcde.team-a~team-a.svc.cluster.local",
		"istio.canonical_service": "cart",
		"istio.namespace":         "team-a",
	}, extra)
}

func TestCases(t *testing.T) {
	huge := "/" + strings.Repeat("seg/", 1<<18)
	tests := []struct {
		name   string
		cfg    func(*Config)
		kind   ptrace.SpanKind
		scope  string
		res    map[string]any
		attrs  map[string]any
		check  func(t *testing.T, res pcommon.Resource, span ptrace.Span)
		status ptrace.StatusCode
	}{
		{
			name: "grpc client over envoy: rpc attributes, service/method name, non-OK is an error",
			kind: ptrace.SpanKindClient,
			attrs: envoyAttrs(map[string]any{
				"upstream_cluster": "outbound|7070||cartservice.team-a.svc.cluster.local",
				"http.method":      "POST", "http.url": "http://cartservice:7070/hipstershop.CartService/GetCart",
				"http.protocol": "HTTP/2", "http.status_code": "200",
				"grpc.path": "/hipstershop.CartService/GetCart", "grpc.status_code": "14",
				"grpc.authority": "cartservice:7070",
			}),
			status: ptrace.StatusCodeError,
			check: func(t *testing.T, _ pcommon.Resource, span ptrace.Span) {
				assert.Equal(t, "hipstershop.CartService/GetCart", span.Name())
				a := span.Attributes().AsRaw()
				assert.Equal(t, "grpc", a["rpc.system"])
				assert.Equal(t, "hipstershop.CartService", a["rpc.service"])
				assert.Equal(t, "GetCart", a["rpc.method"])
				assert.Equal(t, int64(14), a["rpc.grpc.status_code"])
				assert.Equal(t, "2", a["network.protocol.version"])
				assert.Equal(t, "cartservice", a["peer.service"])
				assert.Equal(t, "cartservice:7070", a["grpc.authority"], "other grpc.* tags stay")
				assert.NotContains(t, a, "grpc.path")
				assert.NotContains(t, a, "grpc.status_code")
			},
		},
		{
			name: "grpc server NOT_FOUND is not an error",
			kind: ptrace.SpanKindServer,
			attrs: envoyAttrs(map[string]any{
				"upstream_cluster": "inbound|7070||", "http.method": "POST", "http.status_code": "200",
				"grpc.path": "/pkg.Svc/Get", "grpc.status_code": "5",
			}),
			status: ptrace.StatusCodeUnset,
			check: func(t *testing.T, _ pcommon.Resource, span ptrace.Span) {
				assert.Equal(t, "pkg.Svc/Get", span.Name())
			},
		},
		{
			name: "grpc server UNAVAILABLE is an error",
			kind: ptrace.SpanKindServer,
			attrs: envoyAttrs(map[string]any{
				"upstream_cluster": "inbound|7070||", "http.method": "POST", "http.status_code": "200",
				"grpc.path": "/pkg.Svc/Get", "grpc.status_code": "14",
			}),
			status: ptrace.StatusCodeError,
		},
		{
			name: "IPv6 peer with port in brackets",
			kind: ptrace.SpanKindServer,
			attrs: envoyAttrs(map[string]any{
				"upstream_cluster": "inbound|8080||", "http.method": "GET", "http.url": "http://[2001:db8::5]:8080/x",
				"peer.address": "[2001:db8::1]:45000",
			}),
			check: func(t *testing.T, _ pcommon.Resource, span ptrace.Span) {
				a := span.Attributes().AsRaw()
				assert.Equal(t, "2001:db8::1", a["network.peer.address"])
				assert.Equal(t, int64(45000), a["network.peer.port"])
				assert.Equal(t, "2001:db8::1", a["client.address"])
				assert.Equal(t, "2001:db8::5", a["server.address"])
				assert.Equal(t, int64(8080), a["server.port"])
			},
		},
		{
			name: "upstream span: upstream_address and peer.address are the upstream host",
			kind: ptrace.SpanKindClient,
			attrs: map[string]any{
				"component": "proxy", "istio.canonical_service": "cart", "istio.namespace": "team-a",
				"upstream_cluster": "outbound|9080||reviews.team-a.svc.cluster.local", "http.status_code": "200",
				"peer.address": "10.244.1.17:9080", "upstream_address": "10.244.1.17:9080",
			},
			check: func(t *testing.T, _ pcommon.Resource, span ptrace.Span) {
				a := span.Attributes().AsRaw()
				assert.Equal(t, "10.244.1.17", a["network.peer.address"])
				assert.Equal(t, int64(9080), a["network.peer.port"])
				assert.NotContains(t, a, "client.address", "the upstream host is not the client")
				assert.NotContains(t, a, "upstream_address")
				assert.NotContains(t, a, "peer.address")
			},
		},
		{
			name: "bare IPv6 peer",
			kind: ptrace.SpanKindClient,
			attrs: envoyAttrs(map[string]any{
				"upstream_cluster": "outbound|80||web.team-a.svc.cluster.local", "http.method": "GET",
				"peer.address": "fe80::1:2:3",
			}),
			check: func(t *testing.T, _ pcommon.Resource, span ptrace.Span) {
				a := span.Attributes().AsRaw()
				assert.Equal(t, "fe80::1:2:3", a["client.address"], "peer.address is the downstream: the client")
				assert.NotContains(t, a, "network.peer.address", "the downstream is not a CLIENT span's network peer")
				assert.NotContains(t, a, "client.port")
				assert.Equal(t, "GET", span.Name(), "no path: bare method")
			},
		},
		{
			name: "dash values mean none and are removed",
			kind: ptrace.SpanKindServer,
			attrs: envoyAttrs(map[string]any{
				"upstream_cluster": "inbound|80||", "http.method": "GET", "http.url": "http://web/",
				"http.status_code": "-", "response_flags": "-", "peer.address": "-", "downstream_cluster": "-",
				"user_agent": "-", "request_size": "-",
			}),
			status: ptrace.StatusCodeUnset,
			check: func(t *testing.T, _ pcommon.Resource, span ptrace.Span) {
				a := span.Attributes().AsRaw()
				for _, k := range []string{"http.status_code", "response_flags", "peer.address", "downstream_cluster", "user_agent", "request_size",
					"http.response.status_code", "network.peer.address", "user_agent.original", "http.request.body.size"} {
					assert.NotContains(t, a, k)
				}
				assert.Equal(t, "GET /", span.Name())
			},
		},
		{
			name: "garbage values stay under their old names",
			kind: ptrace.SpanKindClient,
			attrs: envoyAttrs(map[string]any{
				"upstream_cluster": "outbound|80||web.team-a.svc.cluster.local", "http.method": "GET",
				"http.status_code": "abc", "request_size": "12x", "http.protocol": "SPDY/9", "peer.address": "1.2.3.4:notaport",
				"http.url": "not a url", "grpc.status_code": "99",
			}),
			status: ptrace.StatusCodeUnset,
			check: func(t *testing.T, _ pcommon.Resource, span ptrace.Span) {
				a := span.Attributes().AsRaw()
				assert.Equal(t, "abc", a["http.status_code"])
				assert.Equal(t, "12x", a["request_size"])
				assert.Equal(t, "SPDY/9", a["http.protocol"])
				assert.Equal(t, "1.2.3.4:notaport", a["peer.address"])
				assert.Equal(t, "not a url", a["http.url"])
				assert.Equal(t, "99", a["grpc.status_code"])
				assert.NotContains(t, a, "http.response.status_code")
				assert.Equal(t, "GET", a["http.request.method"])
			},
		},
		{
			name: "wrong value types stay",
			kind: ptrace.SpanKindClient,
			attrs: envoyAttrs(map[string]any{
				"upstream_cluster": "outbound|80||web.team-a.svc.cluster.local",
				"http.method":      int64(7), "http.url": true, "http.status_code": 3.5,
			}),
			check: func(t *testing.T, _ pcommon.Resource, span ptrace.Span) {
				a := span.Attributes().AsRaw()
				assert.Equal(t, int64(7), a["http.method"])
				assert.Equal(t, true, a["http.url"])
				assert.Equal(t, 3.5, a["http.status_code"])
				assert.Equal(t, "original", span.Name(), "no method: name untouched")
			},
		},
		{
			name: "non-numeric status with response flags is an error explained by the flags",
			kind: ptrace.SpanKindClient,
			attrs: envoyAttrs(map[string]any{
				"upstream_cluster": "outbound|80||web.team-a.svc.cluster.local", "http.method": "GET",
				"http.status_code": "n/a", "response_flags": "UH",
			}),
			status: ptrace.StatusCodeError,
			check: func(t *testing.T, _ pcommon.Resource, span ptrace.Span) {
				assert.Equal(t, "no healthy upstream host", span.Status().Message())
			},
		},
		{
			name: "status 0 and several flags",
			kind: ptrace.SpanKindClient,
			attrs: envoyAttrs(map[string]any{
				"upstream_cluster": "outbound|80||web.team-a.svc.cluster.local", "http.method": "GET",
				"http.status_code": "0", "response_flags": "UF,URX,ZZ",
			}),
			status: ptrace.StatusCodeError,
			check: func(t *testing.T, _ pcommon.Resource, span ptrace.Span) {
				assert.Equal(t, "upstream connection failure, upstream retry limit exceeded, response flag ZZ", span.Status().Message())
				assert.NotContains(t, span.Attributes().AsRaw(), "http.status_code")
				assert.Equal(t, "upstream_connection_failure", span.Attributes().AsRaw()["error.type"],
					"no response: the first known flag names the error")
			},
		},
		{
			name: "4xx on a server span is not an error",
			kind: ptrace.SpanKindServer,
			attrs: envoyAttrs(map[string]any{
				"upstream_cluster": "inbound|80||", "http.method": "GET", "http.status_code": "404", "error": "true",
			}),
			status: ptrace.StatusCodeUnset,
			check: func(t *testing.T, _ pcommon.Resource, span ptrace.Span) {
				assert.NotContains(t, span.Attributes().AsRaw(), "error")
			},
		},
		{
			name: "4xx on a client span is an error",
			kind: ptrace.SpanKindClient,
			attrs: envoyAttrs(map[string]any{
				"upstream_cluster": "outbound|80||web.team-a.svc.cluster.local", "http.method": "GET", "http.status_code": "404",
			}),
			status: ptrace.StatusCodeError,
			check: func(t *testing.T, _ pcommon.Resource, span ptrace.Span) {
				assert.Equal(t, "404", span.Attributes().AsRaw()["error.type"])
			},
		},
		{
			name: "empty resource gets the identity",
			kind: ptrace.SpanKindServer,
			res:  map[string]any{},
			attrs: envoyAttrs(map[string]any{
				"upstream_cluster": "inbound|80||", "http.method": "GET", "istio.canonical_revision": "v3",
			}),
			check: func(t *testing.T, res pcommon.Resource, _ ptrace.Span) {
				assert.Equal(t, map[string]any{
					"service.name": "cart", "service.namespace": "team-a", "service.version": "v3",
					"k8s.namespace.name": "team-a", "k8s.pod.name": "cart-7c9d-abcde",
				}, res.Attributes().AsRaw())
			},
		},
		{
			name: "k8s_identity_from_istio off: no claimed k8s.* on the resource",
			cfg:  func(c *Config) { c.K8sIdentityFromIstio = false },
			kind: ptrace.SpanKindServer,
			res:  map[string]any{},
			attrs: envoyAttrs(map[string]any{
				"upstream_cluster": "inbound|80||", "http.method": "GET",
			}),
			check: func(t *testing.T, res pcommon.Resource, _ ptrace.Span) {
				assert.Equal(t, map[string]any{"service.name": "cart", "service.namespace": "team-a"}, res.Attributes().AsRaw())
			},
		},
		{
			name: "trusted k8s attributes on the resource are never replaced",
			kind: ptrace.SpanKindServer,
			res:  map[string]any{"service.name": "cart.team-a", "k8s.namespace.name": "team-real", "k8s.pod.name": "real-pod"},
			attrs: envoyAttrs(map[string]any{
				"upstream_cluster": "inbound|80||", "http.method": "GET",
			}),
			check: func(t *testing.T, res pcommon.Resource, _ ptrace.Span) {
				a := res.Attributes().AsRaw()
				assert.Equal(t, "team-real", a["k8s.namespace.name"])
				assert.Equal(t, "real-pod", a["k8s.pod.name"])
				assert.Equal(t, "cart", a["service.name"])
			},
		},
		{
			name: "no canonical service: <app>.<namespace> service.name loses the namespace",
			kind: ptrace.SpanKindServer,
			res:  map[string]any{"service.name": "cart.team-a"},
			attrs: map[string]any{
				"component": "proxy", "upstream_cluster": "inbound|80||", "istio.namespace": "team-a", "http.method": "GET",
			},
			check: func(t *testing.T, res pcommon.Resource, _ ptrace.Span) {
				assert.Equal(t, "cart", res.Attributes().AsRaw()["service.name"])
			},
		},
		{
			name:  "both dialects on one span: Envoy wins and every old key is converted",
			kind:  ptrace.SpanKindServer,
			scope: "",
			attrs: envoyAttrs(map[string]any{
				"upstream_cluster": "inbound|80||", "http.method": "GET", "http.target": "/a/123?x=1",
				"http.server_name": "web.example.com", "net.peer.ip": "10.1.1.1", "http.flavor": "1.1",
				"ingress.namespace": "team-evil",
			}),
			check: func(t *testing.T, _ pcommon.Resource, span ptrace.Span) {
				a := span.Attributes().AsRaw()
				assert.Equal(t, "/a/123", a["url.path"])
				assert.Equal(t, "x=1", a["url.query"])
				assert.Equal(t, "web.example.com", a["server.address"])
				assert.Equal(t, "10.1.1.1", a["client.address"])
				assert.Equal(t, "1.1", a["network.protocol.version"])
				assert.NotContains(t, a, meshattr.DestinationNamespace, "ingress.* is only trusted on nginx spans")
				assert.Equal(t, "GET /a/{id}", span.Name())
			},
		},
		{
			name: "huge values: name collapses to the method, nothing panics",
			kind: ptrace.SpanKindServer,
			attrs: envoyAttrs(map[string]any{
				"upstream_cluster": "inbound|80||", "http.method": "GET", "http.url": "http://web" + huge,
				"user_agent": strings.Repeat("u", 1<<20), "response_flags": strings.Repeat("X,", 1<<18),
			}),
			status: ptrace.StatusCodeError,
			check: func(t *testing.T, _ pcommon.Resource, span ptrace.Span) {
				assert.Equal(t, "GET", span.Name())
				assert.Len(t, span.Attributes().AsRaw()["url.path"], len(huge))
				assert.LessOrEqual(t, len(span.Status().Message()), 256)
			},
		},
		{
			name: "huge method is _OTHER with the original kept",
			kind: ptrace.SpanKindServer,
			attrs: envoyAttrs(map[string]any{
				"upstream_cluster": "inbound|80||", "http.method": strings.Repeat("M", 4096), "http.url": "http://web/x",
			}),
			check: func(t *testing.T, _ pcommon.Resource, span ptrace.Span) {
				a := span.Attributes().AsRaw()
				assert.Equal(t, "_OTHER", a["http.request.method"])
				assert.Len(t, a["http.request.method_original"], 4096)
				assert.Equal(t, "HTTP /x", span.Name())
			},
		},
		{
			name: "lower-case method is not known (semconv is case-sensitive)",
			kind: ptrace.SpanKindServer,
			attrs: envoyAttrs(map[string]any{
				"upstream_cluster": "inbound|80||", "http.method": "get", "http.url": "http://web/x/550e8400-e29b-41d4-a716-446655440000",
			}),
			check: func(t *testing.T, _ pcommon.Resource, span ptrace.Span) {
				a := span.Attributes().AsRaw()
				assert.Equal(t, "_OTHER", a["http.request.method"])
				assert.Equal(t, "get", a["http.request.method_original"])
				assert.Equal(t, "HTTP /x/{id}", span.Name())
			},
		},
		{
			name: "client span with a path-only URL keeps it as url.path",
			kind: ptrace.SpanKindClient,
			attrs: envoyAttrs(map[string]any{
				"upstream_cluster": "outbound|80||web.team-a.svc.cluster.local", "http.method": "GET", "http.url": "/cart/7?x=1",
			}),
			check: func(t *testing.T, _ pcommon.Resource, span ptrace.Span) {
				a := span.Attributes().AsRaw()
				assert.Equal(t, "/cart/7", a["url.path"])
				assert.Equal(t, "x=1", a["url.query"])
				assert.NotContains(t, a, "url.full")
				assert.NotContains(t, a, "http.url")
				assert.Equal(t, "GET /cart/{id}", span.Name())
			},
		},
		{
			name: "unspecified kind is derived from the cluster direction",
			kind: ptrace.SpanKindUnspecified,
			attrs: envoyAttrs(map[string]any{
				"upstream_cluster": "outbound|80||web.team-a.svc.cluster.local", "http.method": "GET",
			}),
			check: func(t *testing.T, _ pcommon.Resource, span ptrace.Span) {
				assert.Equal(t, ptrace.SpanKindClient, span.Kind())
			},
		},
		{
			name: "a sidecar client span gets no destination namespace, and a claimed one is removed",
			kind: ptrace.SpanKindClient,
			attrs: envoyAttrs(map[string]any{
				"upstream_cluster": "outbound|80||web.team-b.svc.cluster.local", "http.method": "GET",
				meshattr.DestinationNamespace: "team-b",
			}),
			check: func(t *testing.T, _ pcommon.Resource, span ptrace.Span) {
				a := span.Attributes().AsRaw()
				assert.NotContains(t, a, meshattr.DestinationNamespace)
				assert.Equal(t, "web", a["peer.service"])
			},
		},
		{
			name: "gateway to a non-Kubernetes host: server.address, peer.service = host, no namespace",
			kind: ptrace.SpanKindClient,
			attrs: map[string]any{
				"component": "proxy", "node_id": "router~10.0.0.9~gw-1.istio-system~istio-system.svc.cluster.local",
				"upstream_cluster": "outbound|443||api.partner.com", "http.method": "GET",
			},
			check: func(t *testing.T, _ pcommon.Resource, span ptrace.Span) {
				a := span.Attributes().AsRaw()
				assert.Equal(t, "api.partner.com", a["server.address"])
				assert.Equal(t, "api.partner.com", a["peer.service"])
				assert.Equal(t, int64(443), a["server.port"])
				assert.NotContains(t, a, meshattr.DestinationNamespace)
			},
		},
		{
			name:  "nginx with an invalid ingress namespace sets no destination namespace",
			kind:  ptrace.SpanKindServer,
			scope: "nginx",
			attrs: map[string]any{
				"http.method": "GET", "http.target": "/", "http.status_code": int64(200),
				"ingress.namespace": "Team_B!", meshattr.DestinationNamespace: "team-b",
			},
			check: func(t *testing.T, _ pcommon.Resource, span ptrace.Span) {
				assert.NotContains(t, span.Attributes().AsRaw(), meshattr.DestinationNamespace)
			},
		},
		{
			name:  "nginx span of unspecified kind is a SERVER span",
			kind:  ptrace.SpanKindUnspecified,
			scope: "nginx",
			attrs: map[string]any{"http.method": "GET", "http.target": "/", "net.peer.ip": "10.0.0.1", "http.client_ip": "198.51.100.9"},
			check: func(t *testing.T, _ pcommon.Resource, span ptrace.Span) {
				assert.Equal(t, ptrace.SpanKindServer, span.Kind())
				a := span.Attributes().AsRaw()
				assert.Equal(t, "198.51.100.9", a["client.address"], "http.client_ip wins over the direct peer")
				assert.Equal(t, "10.0.0.1", a["network.peer.address"])
				assert.NotContains(t, a, "http.client_ip")
			},
		},
		{
			name:  "nginx without scope name is recognised by its ingress attributes",
			kind:  ptrace.SpanKindServer,
			attrs: map[string]any{"http.method": "DELETE", "http.target": "/carts/42", "ingress.namespace": "team-c"},
			check: func(t *testing.T, _ pcommon.Resource, span ptrace.Span) {
				assert.Equal(t, "DELETE /carts/{id}", span.Name())
				assert.Equal(t, "team-c", span.Attributes().AsRaw()[meshattr.DestinationNamespace])
			},
		},
		{
			name:  "a garbage nginx status code gives no status evidence and stays",
			kind:  ptrace.SpanKindServer,
			scope: "nginx",
			attrs: map[string]any{"http.method": "GET", "http.target": "/", "http.status_code": "x"},
			check: func(t *testing.T, _ pcommon.Resource, span ptrace.Span) {
				// spanIn leaves the status unset; garbage gives no evidence either way.
				assert.Equal(t, ptrace.StatusCodeUnset, span.Status().Code())
				assert.Equal(t, "x", span.Attributes().AsRaw()["http.status_code"])
			},
		},
		{
			name: "keep_original_attributes keeps the old names beside the new ones",
			cfg:  func(c *Config) { c.KeepOriginalAttributes = true },
			kind: ptrace.SpanKindServer,
			attrs: envoyAttrs(map[string]any{
				"upstream_cluster": "inbound|80||", "http.method": "GET", "http.status_code": "201", "response_flags": "-",
			}),
			check: func(t *testing.T, _ pcommon.Resource, span ptrace.Span) {
				a := span.Attributes().AsRaw()
				assert.Equal(t, "GET", a["http.method"])
				assert.Equal(t, "201", a["http.status_code"])
				assert.Equal(t, "-", a["response_flags"])
				assert.Equal(t, int64(201), a["http.response.status_code"])
			},
		},
		{
			name: "span_name off leaves names alone",
			cfg:  func(c *Config) { c.SpanName = SpanNameOff },
			kind: ptrace.SpanKindServer,
			attrs: envoyAttrs(map[string]any{
				"upstream_cluster": "inbound|80||", "http.method": "GET", "http.url": "http://web/a/1",
			}),
			check: func(t *testing.T, _ pcommon.Resource, span ptrace.Span) {
				assert.Equal(t, "original", span.Name())
				assert.Equal(t, "/a/1", span.Attributes().AsRaw()["url.path"])
			},
		},
		{
			name: "user path pattern",
			cfg: func(c *Config) {
				c.PathPatterns = []PathPattern{{Regex: "[a-z]{2}-[A-Z]{2}", Replacement: "{locale}"}, {Regex: "sku-[0-9]+"}}
			},
			kind: ptrace.SpanKindServer,
			attrs: envoyAttrs(map[string]any{
				"upstream_cluster": "inbound|80||", "http.method": "GET", "http.url": "http://web/en-US/p/sku-991/reviews/7",
			}),
			check: func(t *testing.T, _ pcommon.Resource, span ptrace.Span) {
				assert.Equal(t, "GET /{locale}/p/{id}/reviews/{id}", span.Name())
			},
		},
		{
			name: "stable attributes already present are kept",
			kind: ptrace.SpanKindServer,
			attrs: envoyAttrs(map[string]any{
				"upstream_cluster": "inbound|80||", "http.method": "GET", "http.request.method": "PUT",
				"http.status_code": "500", "http.response.status_code": int64(200), "url.path": "/stable/9",
			}),
			status: ptrace.StatusCodeUnset,
			check: func(t *testing.T, _ pcommon.Resource, span ptrace.Span) {
				a := span.Attributes().AsRaw()
				assert.Equal(t, "PUT", a["http.request.method"])
				assert.Equal(t, int64(200), a["http.response.status_code"])
				assert.NotContains(t, a, "http.method")
				assert.Equal(t, "PUT /stable/{id}", span.Name())
			},
		},
		{
			name: "a stable method that is not known names the span HTTP, whatever its length",
			kind: ptrace.SpanKindServer,
			attrs: envoyAttrs(map[string]any{
				"upstream_cluster": "inbound|80||", "http.request.method": strings.Repeat("X", 1000), "url.path": "/p/1",
			}),
			check: func(t *testing.T, _ pcommon.Resource, span ptrace.Span) {
				assert.Equal(t, "HTTP /p/{id}", span.Name())
				assert.Len(t, span.Attributes().AsRaw()["http.request.method"], 1000, "stable value untouched")
			},
		},
		{
			name: "sources: nginx only leaves Envoy spans alone",
			cfg:  func(c *Config) { c.Sources = []string{SourceNginx} },
			kind: ptrace.SpanKindServer,
			attrs: envoyAttrs(map[string]any{
				"upstream_cluster": "inbound|80||", "http.method": "GET",
			}),
			check: func(t *testing.T, _ pcommon.Resource, span ptrace.Span) {
				assert.Equal(t, "original", span.Name())
				assert.Equal(t, "GET", span.Attributes().AsRaw()["http.method"])
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := defaultConfig()
			if tt.cfg != nil {
				tt.cfg(cfg)
			}
			require.NoError(t, cfg.Validate())
			res := tt.res
			if res == nil {
				res = map[string]any{"service.name": "svc"}
			}
			out := process(t, cfg, spanIn(t, tt.kind, tt.scope, res, tt.attrs))
			rs := out.ResourceSpans().At(0)
			span := rs.ScopeSpans().At(0).Spans().At(0)
			assert.Equal(t, tt.status, span.Status().Code(), "status: %q", span.Status().Message())
			if tt.check != nil {
				tt.check(t, rs.Resource(), span)
			}
		})
	}
}

// TestPassThrough: spans that are not from a proxy are not touched at all.
func TestPassThrough(t *testing.T) {
	tests := []struct {
		name  string
		scope string
		attrs map[string]any
	}{
		{name: "old-semconv app span with a scope name", scope: "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp",
			attrs: map[string]any{"http.method": "GET", "http.target": "/a/1", "http.server_name": "x", "net.peer.ip": "1.2.3.4"}},
		{name: "component=proxy without Envoy tags", attrs: map[string]any{"component": "proxy", "http.method": "GET"}},
		{name: "Envoy tags without component=proxy", attrs: map[string]any{"upstream_cluster": "inbound|80||", "http.method": "GET"}},
		{name: "no attributes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertUnchanged(t, defaultConfig(), spanIn(t, ptrace.SpanKindServer, tt.scope, map[string]any{"service.name": "app"}, tt.attrs))
		})
	}
}

func TestCardinalityBound(t *testing.T) {
	cfg := defaultConfig()
	cfg.MaxSpanNamesPerService = 2
	cfg.MaxServices = 2
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	set := metadatatest.NewSettings(tel)
	core, logs := observer.New(zap.InfoLevel)
	set.Logger = zap.New(core)
	p, sink := newProcessor(t, cfg, set)

	td := ptrace.NewTraces()
	add := func(service, path string) {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", service)
		ss := rs.ScopeSpans().AppendEmpty()
		ss.Scope().SetName("nginx")
		span := ss.Spans().AppendEmpty()
		span.SetKind(ptrace.SpanKindServer)
		span.Attributes().PutStr("http.method", "GET")
		span.Attributes().PutStr("http.target", path)
	}
	for _, path := range []string{"/a", "/b", "/b", "/c", "/d/1", "/" + strings.Repeat("z", 300)} {
		add("edge", path)
	}
	add("second", "/x")
	add("third", "/y") // a third service is over max_services

	require.NoError(t, p.ConsumeTraces(context.Background(), td))
	out := sink.AllTraces()[0]
	var names []string
	for i := 0; i < out.ResourceSpans().Len(); i++ {
		names = append(names, out.ResourceSpans().At(i).ScopeSpans().At(0).Spans().At(0).Name())
	}
	assert.Equal(t, []string{"GET /a", "GET /b", "GET /b", "GET", "GET", "GET", "GET /x", "GET"}, names)

	metadatatest.AssertEqualProcessorSpannormalizerSpanNamesCollapsed(t, tel, []metricdata.DataPoint[int64]{
		{Value: 2, Attributes: attribute.NewSet(attribute.String("reason", "name_limit"))},
		{Value: 1, Attributes: attribute.NewSet(attribute.String("reason", "service_limit"))},
		{Value: 1, Attributes: attribute.NewSet(attribute.String("reason", "too_long"))},
	}, metricdatatest.IgnoreTimestamp())

	// Each bound is logged once, when it fills, not per collapsed span.
	require.Equal(t, 1, logs.FilterMessageSnippet("Span name limit reached").Len())
	assert.Equal(t, "edge", logs.FilterMessageSnippet("Span name limit reached").All()[0].ContextMap()["service"])
	require.Equal(t, 1, logs.FilterMessageSnippet("Service limit reached").Len())
}

func TestSelfMetrics(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	p, _ := newProcessor(t, defaultConfig(), metadatatest.NewSettings(tel))
	for _, name := range teamFixtures {
		require.NoError(t, p.ConsumeTraces(context.Background(), loadFixture(t, name)))
	}
	garbage := spanIn(t, ptrace.SpanKindServer, "nginx", map[string]any{}, map[string]any{"http.status_code": "abc", "http.method": "GET"})
	require.NoError(t, p.ConsumeTraces(context.Background(), garbage))

	metadatatest.AssertEqualProcessorSpannormalizerSpansNormalized(t, tel, []metricdata.DataPoint[int64]{
		{Value: 3, Attributes: attribute.NewSet(attribute.String("source", "envoy"))},
		{Value: 3, Attributes: attribute.NewSet(attribute.String("source", "nginx"))},
	}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualProcessorSpannormalizerSpansPassedThrough(t, tel, []metricdata.DataPoint[int64]{
		{Value: 1},
	}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualProcessorSpannormalizerValuesInvalid(t, tel, []metricdata.DataPoint[int64]{
		{Value: 1, Attributes: attribute.NewSet(attribute.String("source", "nginx"))},
	}, metricdatatest.IgnoreTimestamp())
}

// TestFirstEnvoySpanWinsIdentity: identity is per resource; later spans of
// the same resource do not rewrite it.
func TestFirstEnvoySpanWinsIdentity(t *testing.T) {
	td := spanIn(t, ptrace.SpanKindServer, "", map[string]any{}, envoyAttrs(map[string]any{"upstream_cluster": "inbound|80||", "http.method": "GET"}))
	second := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().AppendEmpty()
	require.NoError(t, second.Attributes().FromRaw(map[string]any{
		"component": "proxy", "upstream_cluster": "inbound|80||", "istio.canonical_service": "other", "istio.namespace": "team-z",
	}))
	out := process(t, defaultConfig(), td)
	assert.Equal(t, "cart", out.ResourceSpans().At(0).Resource().Attributes().AsRaw()["service.name"])
}

// TestConcurrentConsume: one processor serves several pipelines' goroutines;
// meaningful under -race.
func TestConcurrentConsume(t *testing.T) {
	p, sink := newProcessor(t, defaultConfig(), nopSettings())
	inputs := make([]ptrace.Traces, 8)
	for i := range inputs {
		inputs[i], _ = benchMix(t)
	}
	var wg sync.WaitGroup
	for _, td := range inputs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			assert.NoError(t, p.ConsumeTraces(context.Background(), td))
		}()
	}
	wg.Wait()
	assert.Equal(t, 8*120, sink.SpanCount())
}

// TestDuplicateOldKeysAreBothRemoved: OTLP allows a key twice in one
// attribute list (nginx-otel appends otel_span_attr values without
// de-duplicating); both copies of a converted old key go.
func TestDuplicateOldKeysAreBothRemoved(t *testing.T) {
	td := spanIn(t, ptrace.SpanKindServer, "nginx", map[string]any{}, map[string]any{"http.target": "/a"})
	attrs := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Attributes()
	// pcommon.Map's Put would replace: append raw duplicates through the slice.
	attrs.PutStr("http.method", "GET")
	dup := ptrace.NewTraces()
	td.CopyTo(dup)
	raw, err := (&ptrace.JSONMarshaler{}).MarshalTraces(dup)
	require.NoError(t, err)
	withDup := strings.Replace(string(raw), `{"key":"http.method","value":{"stringValue":"GET"}}`,
		`{"key":"http.method","value":{"stringValue":"GET"}},{"key":"http.method","value":{"stringValue":"GET"}}`, 1)
	in, err := (&ptrace.JSONUnmarshaler{}).UnmarshalTraces([]byte(withDup))
	require.NoError(t, err)
	require.Equal(t, 3, in.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Attributes().Len(), "the duplicate is there")
	out := process(t, defaultConfig(), in)
	a := out.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Attributes()
	a.Range(func(k string, _ pcommon.Value) bool {
		assert.NotEqual(t, "http.method", k)
		return true
	})
	assert.Equal(t, "GET /a", out.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Name())
}
