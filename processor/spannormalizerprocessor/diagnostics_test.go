package spannormalizerprocessor

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
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

const (
	breaksMetric     = "otelcol_processor_spannormalizer_context_breaks"
	propagatedMetric = "otelcol_processor_spannormalizer_context_propagated"
)

func diagConfig(mod func(*ContextDiagnosticsConfig)) *Config {
	cfg := defaultConfig()
	cfg.ContextDiagnostics.Enabled = true
	if mod != nil {
		mod(&cfg.ContextDiagnostics)
	}
	return cfg
}

// sidecar is an Envoy sidecar span of service svc in namespace ns; parent
// false makes it a root span.
func sidecar(t *testing.T, kind ptrace.SpanKind, svc, ns string, parent bool, extra map[string]any) ptrace.Traces {
	t.Helper()
	attrs := merge(map[string]any{
		"component":               "proxy",
		"node_id":                 fmt.Sprintf("sidecar~10.244.1.17~%s-v1-5b7f9c8d4-x2kqp.%s~%s.svc.cluster.local", svc, ns, ns),
		"istio.canonical_service": svc,
		"istio.namespace":         ns,
		"guid:x-request-id":       "6f1c2a4e-8b3d-4f7a-9c1e-2d5b8a7f3e10",
		"http.method":             "GET",
		"http.status_code":        "200",
		"downstream_cluster":      "-",
	}, extra)
	if kind == ptrace.SpanKindClient {
		attrs = merge(map[string]any{
			"upstream_cluster": "outbound|9080||ratings.team-alpha.svc.cluster.local",
			"http.url":         "http://ratings:9080/ratings/0",
			"peer.address":     "10.244.3.4",
		}, attrs)
	} else {
		attrs = merge(map[string]any{
			"upstream_cluster": "inbound|9080||",
			"http.url":         "http://" + svc + ":9080/x/1",
			"peer.address":     "10.244.2.9",
		}, attrs)
	}
	td := spanIn(t, kind, "", map[string]any{"service.name": svc + "." + ns}, attrs)
	if parent {
		td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).SetParentSpanID(pcommon.SpanID{9, 9, 9})
	}
	return td
}

func firstSpan(td ptrace.Traces) ptrace.Span {
	return td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
}

func markOf(span ptrace.Span) (mark, evidence string) {
	if v, ok := span.Attributes().Get(meshattr.ContextBreak); ok {
		mark = v.Str()
	}
	if v, ok := span.Attributes().Get(meshattr.ContextEvidence); ok {
		evidence = v.Str()
	}
	return mark, evidence
}

func breakPoint(v int64, svc, ns, kind string) metricdata.DataPoint[int64] {
	return metricdata.DataPoint[int64]{Value: v, Attributes: attribute.NewSet(
		attribute.String("service", svc), attribute.String("namespace", ns), attribute.String("kind", kind))}
}

func propagatedPoint(v int64, svc, ns string) metricdata.DataPoint[int64] {
	return metricdata.DataPoint[int64]{Value: v, Attributes: attribute.NewSet(
		attribute.String("service", svc), attribute.String("namespace", ns))}
}

// diagRun processes every td through one processor built from cfg and
// returns the outputs and the telemetry.
func diagRun(t *testing.T, cfg *Config, tds ...ptrace.Traces) ([]ptrace.Traces, *componenttest.Telemetry) {
	t.Helper()
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	p, sink := newProcessor(t, cfg, metadatatest.NewSettings(tel))
	for _, td := range tds {
		require.NoError(t, p.ConsumeTraces(context.Background(), td))
	}
	return sink.AllTraces(), tel
}

func assertNoMetric(t *testing.T, tel *componenttest.Telemetry, name string) {
	t.Helper()
	_, err := tel.GetMetric(name)
	assert.Error(t, err, "%s must not be recorded", name)
}

// TestContextDiagnosticsRules: one span per case; the mark, its evidence and
// what is counted.
func TestContextDiagnosticsRules(t *testing.T) {
	const cidrs = "10.244.0.0/16"
	tests := []struct {
		name         string
		cfg          func(*ContextDiagnosticsConfig)
		in           func(t *testing.T) ptrace.Traces
		wantMark     string
		wantEvidence string
		// Expected data points; nil means the metric is not recorded at all.
		breaks, propagated []metricdata.DataPoint[int64]
	}{
		{
			name: "sidecar outbound with a parent: propagated",
			in: func(t *testing.T) ptrace.Traces {
				return sidecar(t, ptrace.SpanKindClient, "reviews", "team-alpha", true, nil)
			},
			propagated: []metricdata.DataPoint[int64]{propagatedPoint(1, "reviews", "team-alpha")},
			// The break series of a service that makes calls exists at 0.
			breaks: []metricdata.DataPoint[int64]{breakPoint(0, "reviews", "team-alpha", "outbound_root")},
		},
		{
			name: "sidecar outbound root: a break against the calling service",
			in: func(t *testing.T) ptrace.Traces {
				return sidecar(t, ptrace.SpanKindClient, "reviews", "team-alpha", false, nil)
			},
			wantMark:   "outbound_root",
			breaks:     []metricdata.DataPoint[int64]{breakPoint(1, "reviews", "team-alpha", "outbound_root")},
			propagated: []metricdata.DataPoint[int64]{propagatedPoint(0, "reviews", "team-alpha")},
		},
		{
			name: "outbound root of kind UNSPECIFIED (kind from the outbound cluster)",
			in: func(t *testing.T) ptrace.Traces {
				return sidecar(t, ptrace.SpanKindUnspecified, "reviews", "team-alpha", false,
					map[string]any{"upstream_cluster": "outbound|9080||ratings.team-alpha.svc.cluster.local"})
			},
			wantMark:   "outbound_root",
			breaks:     []metricdata.DataPoint[int64]{breakPoint(1, "reviews", "team-alpha", "outbound_root")},
			propagated: []metricdata.DataPoint[int64]{propagatedPoint(0, "reviews", "team-alpha")},
		},
		{
			name: "inbound root, downstream_cluster names a mesh workload",
			in: func(t *testing.T) ptrace.Traces {
				return sidecar(t, ptrace.SpanKindServer, "ratings", "team-alpha", false,
					map[string]any{"downstream_cluster": "reviews.team-alpha"})
			},
			wantMark: "inbound_root_from_mesh", wantEvidence: "downstream_cluster",
			breaks: []metricdata.DataPoint[int64]{breakPoint(1, "ratings", "team-alpha", "inbound_root_from_mesh")},
		},
		{
			name: "inbound root, downstream_cluster names the ingress gateway: an edge request",
			cfg:  func(c *ContextDiagnosticsConfig) { c.MeshPeerCIDRs = []string{cidrs} },
			in: func(t *testing.T) ptrace.Traces {
				return sidecar(t, ptrace.SpanKindServer, "productpage", "team-alpha", false,
					map[string]any{"downstream_cluster": "istio-ingressgateway.istio-system"})
			},
		},
		{
			name: "inbound root, peer address in mesh_peer_cidrs",
			cfg:  func(c *ContextDiagnosticsConfig) { c.MeshPeerCIDRs = []string{cidrs} },
			in: func(t *testing.T) ptrace.Traces {
				return sidecar(t, ptrace.SpanKindServer, "ratings", "team-alpha", false, nil)
			},
			wantMark: "inbound_root_from_mesh", wantEvidence: "peer_address",
			breaks: []metricdata.DataPoint[int64]{breakPoint(1, "ratings", "team-alpha", "inbound_root_from_mesh")},
		},
		{
			name: "inbound root, IPv6 peer address with port in mesh_peer_cidrs",
			cfg:  func(c *ContextDiagnosticsConfig) { c.MeshPeerCIDRs = []string{cidrs, "fd00:10:244::/56"} },
			in: func(t *testing.T) ptrace.Traces {
				return sidecar(t, ptrace.SpanKindServer, "ratings", "team-alpha", false,
					map[string]any{"peer.address": "[fd00:10:244::7]:43210"})
			},
			wantMark: "inbound_root_from_mesh", wantEvidence: "peer_address",
			breaks: []metricdata.DataPoint[int64]{breakPoint(1, "ratings", "team-alpha", "inbound_root_from_mesh")},
		},
		{
			name: "inbound root from outside the cluster (a fresh user request hitting the sidecar)",
			cfg:  func(c *ContextDiagnosticsConfig) { c.MeshPeerCIDRs = []string{cidrs} },
			in: func(t *testing.T) ptrace.Traces {
				return sidecar(t, ptrace.SpanKindServer, "productpage", "team-alpha", false,
					map[string]any{"peer.address": "203.0.113.7"})
			},
		},
		{
			name: "inbound root, no downstream_cluster and no mesh_peer_cidrs: no evidence",
			in: func(t *testing.T) ptrace.Traces {
				return sidecar(t, ptrace.SpanKindServer, "ratings", "team-alpha", false, nil)
			},
		},
		{
			name: "inbound with a parent",
			cfg:  func(c *ContextDiagnosticsConfig) { c.MeshPeerCIDRs = []string{cidrs} },
			in: func(t *testing.T) ptrace.Traces {
				return sidecar(t, ptrace.SpanKindServer, "ratings", "team-alpha", true,
					map[string]any{"downstream_cluster": "reviews.team-alpha"})
			},
		},
		{
			name: "gateway root span: gateways start traces",
			cfg:  func(c *ContextDiagnosticsConfig) { c.MeshPeerCIDRs = []string{cidrs} },
			in: func(t *testing.T) ptrace.Traces {
				td := loadFixture(t, "istio-gateway")
				firstSpan(td).SetParentSpanID(pcommon.SpanID{})
				return td
			},
		},
		{
			name: "nginx root span",
			cfg:  func(c *ContextDiagnosticsConfig) { c.MeshPeerCIDRs = []string{cidrs} },
			in:   func(t *testing.T) ptrace.Traces { return loadFixture(t, "nginx-ingress-error") },
		},
		{
			name: "excluded namespace: neither marked nor counted",
			cfg:  func(c *ContextDiagnosticsConfig) { c.ExcludeNamespaces = []string{"batch", "team-alpha"} },
			in: func(t *testing.T) ptrace.Traces {
				return sidecar(t, ptrace.SpanKindClient, "reviews", "team-alpha", false, nil)
			},
		},
		{
			name: "the trusted k8s.namespace.name names the namespace, not istio.namespace",
			in: func(t *testing.T) ptrace.Traces {
				td := sidecar(t, ptrace.SpanKindClient, "reviews", "team-alpha", false, nil)
				td.ResourceSpans().At(0).Resource().Attributes().PutStr("k8s.namespace.name", "team-real")
				return td
			},
			wantMark:   "outbound_root",
			breaks:     []metricdata.DataPoint[int64]{breakPoint(1, "reviews", "team-real", "outbound_root")},
			propagated: []metricdata.DataPoint[int64]{propagatedPoint(0, "reviews", "team-real")},
		},
		{
			name: "exclusion applies to the trusted namespace",
			cfg:  func(c *ContextDiagnosticsConfig) { c.ExcludeNamespaces = []string{"jobs"} },
			in: func(t *testing.T) ptrace.Traces {
				td := sidecar(t, ptrace.SpanKindClient, "reviews", "team-alpha", false, nil)
				td.ResourceSpans().At(0).Resource().Attributes().PutStr("k8s.namespace.name", "jobs")
				return td
			},
		},
		{
			name: "a mark sent by the client on a propagated span is removed",
			in: func(t *testing.T) ptrace.Traces {
				return sidecar(t, ptrace.SpanKindClient, "reviews", "team-alpha", true,
					map[string]any{meshattr.ContextBreak: "outbound_root", meshattr.ContextEvidence: "peer_address"})
			},
			propagated: []metricdata.DataPoint[int64]{propagatedPoint(1, "reviews", "team-alpha")},
			breaks:     []metricdata.DataPoint[int64]{breakPoint(0, "reviews", "team-alpha", "outbound_root")},
		},
		{
			name: "a client-sent evidence is removed from an outbound break",
			in: func(t *testing.T) ptrace.Traces {
				return sidecar(t, ptrace.SpanKindClient, "reviews", "team-alpha", false,
					map[string]any{meshattr.ContextEvidence: "peer_address"})
			},
			wantMark:   "outbound_root",
			breaks:     []metricdata.DataPoint[int64]{breakPoint(1, "reviews", "team-alpha", "outbound_root")},
			propagated: []metricdata.DataPoint[int64]{propagatedPoint(0, "reviews", "team-alpha")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, tel := diagRun(t, diagConfig(tt.cfg), tt.in(t))
			require.Len(t, out, 1)
			mark, evidence := markOf(firstSpan(out[0]))
			assert.Equal(t, tt.wantMark, mark, "mark")
			assert.Equal(t, tt.wantEvidence, evidence, "evidence")
			if tt.breaks == nil {
				assertNoMetric(t, tel, breaksMetric)
			} else {
				metadatatest.AssertEqualProcessorSpannormalizerContextBreaks(t, tel, tt.breaks, metricdatatest.IgnoreTimestamp())
			}
			if tt.propagated == nil {
				assertNoMetric(t, tel, propagatedMetric)
			} else {
				metadatatest.AssertEqualProcessorSpannormalizerContextPropagated(t, tel, tt.propagated, metricdatatest.IgnoreTimestamp())
			}
		})
	}
}

// TestContextDiagnosticsAppSpanUntouched: application spans pass byte for
// byte, root or not, even one carrying a mark.
func TestContextDiagnosticsAppSpanUntouched(t *testing.T) {
	cfg := diagConfig(func(c *ContextDiagnosticsConfig) { c.MeshPeerCIDRs = []string{"0.0.0.0/0"} })
	td := loadFixture(t, "app-span")
	firstSpan(td).SetParentSpanID(pcommon.SpanID{})
	assertUnchanged(t, cfg, td)
	client := spanIn(t, ptrace.SpanKindClient, "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp",
		map[string]any{"service.name": "checkout"}, map[string]any{"http.request.method": "GET", meshattr.ContextBreak: "outbound_root"})
	assertUnchanged(t, cfg, client)
}

// TestContextDiagnosticsDisabled: off (the default), a break is neither
// marked nor counted, and a mark a client sent is left alone.
func TestContextDiagnosticsDisabled(t *testing.T) {
	cfg := defaultConfig()
	cfg.ContextDiagnostics.MeshPeerCIDRs = []string{"10.244.0.0/16"}
	out, tel := diagRun(t, cfg,
		sidecar(t, ptrace.SpanKindClient, "reviews", "team-alpha", false, nil),
		sidecar(t, ptrace.SpanKindClient, "reviews", "team-alpha", true, nil),
		sidecar(t, ptrace.SpanKindServer, "ratings", "team-alpha", false, map[string]any{"downstream_cluster": "reviews.team-alpha"}),
		sidecar(t, ptrace.SpanKindServer, "ratings", "team-alpha", false, map[string]any{meshattr.ContextBreak: "x"}))
	require.Len(t, out, 4)
	for i, td := range out[:3] {
		mark, evidence := markOf(firstSpan(td))
		assert.Empty(t, mark, i)
		assert.Empty(t, evidence, i)
	}
	mark, _ := markOf(firstSpan(out[3]))
	assert.Equal(t, "x", mark)
	assertNoMetric(t, tel, breaksMetric)
	assertNoMetric(t, tel, propagatedMetric)
}

// TestContextDiagnosticsFixtures: the shared fixtures as they are (every
// sidecar span has a parent), then the outbound one as a root.
func TestContextDiagnosticsFixtures(t *testing.T) {
	cfg := diagConfig(func(c *ContextDiagnosticsConfig) { c.MeshPeerCIDRs = []string{"10.244.0.0/16"} })
	var in []ptrace.Traces
	for _, f := range []string{"istio-sidecar-inbound", "istio-sidecar-outbound-error", "istio-gateway",
		"nginx-ingress", "nginx-ingress-error", "app-span"} {
		in = append(in, loadFixture(t, f))
	}
	root := loadFixture(t, "istio-sidecar-outbound-error")
	firstSpan(root).SetParentSpanID(pcommon.SpanID{})
	inboundRoot := loadFixture(t, "istio-sidecar-inbound")
	firstSpan(inboundRoot).SetParentSpanID(pcommon.SpanID{})
	out, tel := diagRun(t, cfg, append(in, root, inboundRoot)...)
	for i := range in {
		mark, _ := markOf(firstSpan(out[i]))
		assert.Empty(t, mark, "fixture %d", i)
	}
	mark, _ := markOf(firstSpan(out[len(in)]))
	assert.Equal(t, "outbound_root", mark)
	mark, evidence := markOf(firstSpan(out[len(in)+1]))
	assert.Equal(t, "inbound_root_from_mesh", mark)
	assert.Equal(t, "peer_address", evidence, "10.244.2.9 is productpage's pod")
	metadatatest.AssertEqualProcessorSpannormalizerContextPropagated(t, tel, []metricdata.DataPoint[int64]{
		propagatedPoint(1, "productpage", "team-alpha"),
	}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualProcessorSpannormalizerContextBreaks(t, tel, []metricdata.DataPoint[int64]{
		breakPoint(1, "productpage", "team-alpha", "outbound_root"),
		breakPoint(1, "reviews", "team-alpha", "inbound_root_from_mesh"),
	}, metricdatatest.IgnoreTimestamp())
}

// TestContextDiagnosticsCardinalityBound: beyond max_services every service
// is "_other" (service and namespace), the limit is logged once, and the
// spans are still marked. Counts of one request are summed per service.
func TestContextDiagnosticsCardinalityBound(t *testing.T) {
	cfg := diagConfig(func(c *ContextDiagnosticsConfig) { c.MaxServices = 2 })
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	set := metadatatest.NewSettings(tel)
	core, logs := observer.New(zap.InfoLevel)
	set.Logger = zap.New(core)
	p, sink := newProcessor(t, cfg, set)

	td := ptrace.NewTraces()
	for _, svc := range []string{"a", "b", "c", "a", "d", "b"} {
		sidecar(t, ptrace.SpanKindClient, svc, "team-x", false, nil).ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
	}
	// A second span in b's last resource.
	rs := td.ResourceSpans().At(td.ResourceSpans().Len() - 1)
	firstSpan(sidecar(t, ptrace.SpanKindClient, "b", "team-x", false, nil)).CopyTo(rs.ScopeSpans().At(0).Spans().AppendEmpty())
	// No identity at all: "_other" too.
	noID := spanIn(t, ptrace.SpanKindClient, "", map[string]any{}, map[string]any{
		"component": "proxy", "node_id": "sidecar~10.0.0.1~x~y", "upstream_cluster": "outbound|80||z.team-x.svc.cluster.local",
	})
	noID.ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
	require.NoError(t, p.ConsumeTraces(context.Background(), td))

	out := sink.AllTraces()[0]
	for i := 0; i < out.ResourceSpans().Len(); i++ {
		mark, _ := markOf(out.ResourceSpans().At(i).ScopeSpans().At(0).Spans().At(0))
		assert.Equal(t, "outbound_root", mark, "resource %d is marked whatever its label", i)
	}
	metadatatest.AssertEqualProcessorSpannormalizerContextBreaks(t, tel, []metricdata.DataPoint[int64]{
		breakPoint(2, "a", "team-x", "outbound_root"),
		breakPoint(3, "b", "team-x", "outbound_root"),
		breakPoint(3, "_other", "_other", "outbound_root"),
	}, metricdatatest.IgnoreTimestamp())
	require.Equal(t, 1, logs.FilterMessageSnippet("Context diagnostics service limit reached").Len())
}

// TestContextDiagnosticsCreateRejectsBadCIDR: a CIDR that slipped past
// Validate fails at create time.
func TestContextDiagnosticsCreateRejectsBadCIDR(t *testing.T) {
	cfg := diagConfig(func(c *ContextDiagnosticsConfig) { c.MeshPeerCIDRs = []string{"10.0.0.0"} })
	_, err := NewFactory().CreateTraces(context.Background(), nopSettings(), cfg, consumertest.NewNop())
	assert.Error(t, err)
}

// TestContextDiagnosticsManyServicesInOneRequest: more services in one
// request than the per-request sums hold are still all counted.
func TestContextDiagnosticsManyServicesInOneRequest(t *testing.T) {
	td := ptrace.NewTraces()
	var want []metricdata.DataPoint[int64]
	for i := 0; i < 2*maxPending+1; i++ {
		svc := fmt.Sprintf("svc%d", i)
		for range 2 {
			sidecar(t, ptrace.SpanKindClient, svc, "team-x", i%2 == 0, nil).ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
		}
		if i%2 == 0 {
			want = append(want, propagatedPoint(2, svc, "team-x"))
		} else {
			want = append(want, propagatedPoint(0, svc, "team-x"))
		}
	}
	_, tel := diagRun(t, diagConfig(nil), td)
	metadatatest.AssertEqualProcessorSpannormalizerContextPropagated(t, tel, want, metricdatatest.IgnoreTimestamp())
}
