package spannormalizerprocessor

import (
	"context"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/transformprocessor"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"
)

// ottlStatements is the same rewrite written for the transform processor,
// as close as OTTL allows (no cardinality bound, no method normalisation,
// fewer response flags). It is only here to measure against.
var ottlStatements = []string{
	// identity
	`set(resource.attributes["service.name"], span.attributes["istio.canonical_service"]) where span.attributes["istio.canonical_service"] != nil`,
	`set(resource.attributes["service.namespace"], span.attributes["istio.namespace"]) where span.attributes["istio.namespace"] != nil`,
	`set(resource.attributes["k8s.namespace.name"], span.attributes["istio.namespace"]) where span.attributes["istio.namespace"] != nil and resource.attributes["k8s.namespace.name"] == nil`,
	`set(resource.attributes["service.version"], span.attributes["istio.canonical_revision"]) where span.attributes["istio.canonical_revision"] != nil`,
	`merge_maps(span.cache, ExtractPatterns(span.attributes["node_id"], "^(?P<type>[a-z]+)~[^~]*~(?P<pod>[^~]+)\\.(?P<podns>[a-z0-9-]+)~"), "upsert") where span.attributes["node_id"] != nil`,
	`set(resource.attributes["k8s.pod.name"], span.cache["pod"]) where span.cache["pod"] != nil and resource.attributes["k8s.pod.name"] == nil`,
	// plain renames and types
	`set(span.attributes["http.request.method"], span.attributes["http.method"]) where span.attributes["http.method"] != nil`,
	`set(span.attributes["http.response.status_code"], Int(span.attributes["http.status_code"])) where span.attributes["http.status_code"] != nil and span.attributes["http.status_code"] != "-"`,
	`set(span.attributes["http.request.body.size"], Int(span.attributes["request_size"])) where span.attributes["request_size"] != nil`,
	`set(span.attributes["http.response.body.size"], Int(span.attributes["response_size"])) where span.attributes["response_size"] != nil`,
	`set(span.attributes["user_agent.original"], span.attributes["user_agent"]) where span.attributes["user_agent"] != nil`,
	`set(span.attributes["user_agent.original"], span.attributes["http.user_agent"]) where span.attributes["http.user_agent"] != nil`,
	`set(span.attributes["network.protocol.version"], span.attributes["http.protocol"]) where span.attributes["http.protocol"] != nil`,
	`set(span.attributes["network.protocol.version"], span.attributes["http.flavor"]) where span.attributes["http.flavor"] != nil`,
	`replace_pattern(span.attributes["network.protocol.version"], "^HTTP/", "")`,
	`replace_pattern(span.attributes["network.protocol.version"], "^([23])\\.0$", "$1")`,
	`set(span.attributes["network.peer.address"], span.attributes["peer.address"]) where span.kind == SPAN_KIND_SERVER and span.attributes["peer.address"] != nil`,
	`set(span.attributes["client.address"], span.attributes["peer.address"]) where span.kind == SPAN_KIND_CLIENT and span.attributes["peer.address"] != nil`,
	`set(span.attributes["network.peer.address"], span.attributes["net.peer.ip"]) where span.attributes["net.peer.ip"] != nil`,
	`set(span.attributes["network.peer.port"], span.attributes["net.peer.port"]) where span.attributes["net.peer.port"] != nil`,
	`set(span.attributes["client.address"], span.attributes["network.peer.address"]) where span.kind == SPAN_KIND_SERVER and span.attributes["network.peer.address"] != nil`,
	`set(span.attributes["client.port"], span.attributes["network.peer.port"]) where span.kind == SPAN_KIND_SERVER and span.attributes["network.peer.port"] != nil`,
	`set(span.attributes["server.port"], span.attributes["net.host.port"]) where span.attributes["net.host.port"] != nil`,
	`set(span.attributes["server.address"], span.attributes["http.host"]) where span.attributes["http.host"] != nil`,
	`set(span.attributes["url.scheme"], span.attributes["http.scheme"]) where span.attributes["http.scheme"] != nil`,
	// URL
	`set(span.attributes["url.full"], span.attributes["http.url"]) where span.kind == SPAN_KIND_CLIENT and span.attributes["http.url"] != nil`,
	`merge_maps(span.cache, URL(span.attributes["http.url"]), "upsert") where span.attributes["http.url"] != nil`,
	`merge_maps(span.cache, ExtractPatterns(span.attributes["http.target"], "^(?P<path>[^?#]*)(\\?(?P<query>[^#]*))?"), "upsert") where span.attributes["http.target"] != nil`,
	`set(span.cache["path"], span.cache["url.path"]) where span.cache["url.path"] != nil`,
	`set(span.cache["query"], span.cache["url.query"]) where span.cache["url.query"] != nil`,
	`set(span.attributes["url.path"], span.cache["path"]) where span.kind != SPAN_KIND_CLIENT and span.cache["path"] != nil`,
	`set(span.attributes["url.query"], span.cache["query"]) where span.kind != SPAN_KIND_CLIENT and span.cache["query"] != nil and span.cache["query"] != ""`,
	`set(span.attributes["url.scheme"], span.cache["url.scheme"]) where span.kind != SPAN_KIND_CLIENT and span.cache["url.scheme"] != nil`,
	`set(span.attributes["server.address"], span.cache["url.domain"]) where span.kind == SPAN_KIND_SERVER and span.cache["url.domain"] != nil and span.attributes["server.address"] == nil`,
	`set(span.attributes["server.port"], span.cache["url.port"]) where span.kind == SPAN_KIND_SERVER and span.cache["url.port"] != nil and span.attributes["server.port"] == nil`,
	// destination
	`merge_maps(span.cache, ExtractPatterns(span.attributes["upstream_cluster"], "^outbound\\|(?P<port>[0-9]+)\\|[^|]*\\|(?P<host>(?P<svc>[^.|]+)\\.(?P<dns>[a-z0-9-]+)\\.svc\\..*)$"), "upsert") where span.kind == SPAN_KIND_CLIENT and span.attributes["upstream_cluster"] != nil`,
	`set(span.attributes["server.address"], span.cache["host"]) where span.cache["host"] != nil`,
	`set(span.attributes["server.port"], Int(span.cache["port"])) where span.cache["port"] != nil`,
	`set(span.attributes["peer.service"], span.cache["svc"]) where span.cache["svc"] != nil`,
	`set(span.attributes["mesh.destination.namespace"], span.cache["dns"]) where span.cache["dns"] != nil and span.cache["type"] == "router"`,
	`set(span.attributes["peer.service"], span.attributes["ingress.service_name"]) where instrumentation_scope.name == "nginx" and span.attributes["ingress.service_name"] != nil`,
	`set(span.attributes["mesh.destination.namespace"], span.attributes["ingress.namespace"]) where instrumentation_scope.name == "nginx" and span.attributes["ingress.namespace"] != nil`,
	// status
	`set(span.status.code, STATUS_CODE_UNSET) where span.attributes["http.response.status_code"] != nil`,
	`set(span.status.code, STATUS_CODE_ERROR) where span.attributes["http.response.status_code"] >= 500`,
	`set(span.status.code, STATUS_CODE_ERROR) where span.kind == SPAN_KIND_CLIENT and span.attributes["http.response.status_code"] >= 400`,
	`set(span.attributes["error.type"], String(span.attributes["http.response.status_code"])) where span.status.code == STATUS_CODE_ERROR`,
	`set(span.status.message, "upstream connection failure") where span.status.code == STATUS_CODE_ERROR and span.attributes["response_flags"] == "UF"`,
	`set(span.status.message, "no healthy upstream host") where span.status.code == STATUS_CODE_ERROR and span.attributes["response_flags"] == "UH"`,
	`set(span.status.message, "upstream request timeout") where span.status.code == STATUS_CODE_ERROR and span.attributes["response_flags"] == "UT"`,
	// span name
	`set(span.cache["tpl"], span.cache["path"]) where span.cache["path"] != nil`,
	`replace_pattern(span.cache["tpl"], "/[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}(/|$)", "/{id}$1")`,
	`replace_pattern(span.cache["tpl"], "/[0-9a-fA-F]{16,}(/|$)", "/{id}$1")`,
	`replace_pattern(span.cache["tpl"], "/[0-9]+(/|$)", "/{id}$1")`,
	`replace_pattern(span.cache["tpl"], "/[0-9]+(/|$)", "/{id}$1")`,
	`set(span.name, Concat([span.attributes["http.request.method"], span.cache["tpl"]], " ")) where span.cache["tpl"] != nil and span.attributes["http.request.method"] != nil`,
	// deprecated names
	`delete_matching_keys(span.attributes, "^(http\\.(method|status_code|url|target|scheme|flavor|protocol|user_agent|host|server_name)|user_agent|net\\.(host\\.port|peer\\.ip|peer\\.port)|peer\\.address|request_size|response_size|error)$")`,
	`delete_key(span.attributes, "response_flags") where span.attributes["response_flags"] == "-"`,
	`delete_key(span.attributes, "downstream_cluster") where span.attributes["downstream_cluster"] == "-"`,
}

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

func newOTTLProcessor(tb testing.TB, next consumer.Traces) consumer.Traces {
	tb.Helper()
	f := transformprocessor.NewFactory()
	cfg := f.CreateDefaultConfig()
	require.NoError(tb, confmap.NewFromStringMap(map[string]any{
		"error_mode": "ignore",
		"trace_statements": []any{map[string]any{
			"context":    "span",
			"conditions": []any{`span.attributes["component"] == "proxy" or instrumentation_scope.name == "nginx"`},
			"statements": toAny(ottlStatements),
		}},
	}).Unmarshal(cfg))
	require.NoError(tb, confmap.Validate(cfg))
	p, err := f.CreateTraces(context.Background(), processortest.NewNopSettings(f.Type()), cfg, next)
	require.NoError(tb, err)
	require.NoError(tb, p.Start(context.Background(), componenttest.NewNopHost()))
	tb.Cleanup(func() { require.NoError(tb, p.Shutdown(context.Background())) })
	return p
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// TestOTTLEquivalent keeps the benchmark honest: on the fixture mix the OTTL
// version produces the same span names, statuses and destination namespaces.
func TestOTTLEquivalent(t *testing.T) {
	mix, _ := benchMix(t)
	a, b := ptrace.NewTraces(), ptrace.NewTraces()
	mix.CopyTo(a)
	mix.CopyTo(b)
	ours := process(t, defaultConfig(), a)
	sink := new(consumertest.TracesSink)
	require.NoError(t, newOTTLProcessor(t, sink).ConsumeTraces(context.Background(), b))
	theirs := sink.AllTraces()[0]
	for i := 0; i < ours.ResourceSpans().Len(); i++ {
		o := ours.ResourceSpans().At(i).ScopeSpans().At(0).Spans().At(0)
		x := theirs.ResourceSpans().At(i).ScopeSpans().At(0).Spans().At(0)
		require.Equal(t, o.Name(), x.Name())
		require.Equal(t, o.Status().Code(), x.Status().Code(), o.Name())
		ov, ook := o.Attributes().Get("mesh.destination.namespace")
		xv, xok := x.Attributes().Get("mesh.destination.namespace")
		require.Equal(t, ook, xok, o.Name())
		if ook {
			require.Equal(t, ov.Str(), xv.Str(), o.Name())
		}
	}
}

// BenchmarkNormalize compares, in one run and on the same spans, the copy
// of the input alone (the per-iteration cost of fresh input), spannormalizer
// and the same rewrite as transform-processor OTTL. Each iteration copies the
// unnormalised batch into a reused destination, then processes it; subtract
// copy_only from the others for the processing cost. ns/span and allocs/span
// are reported per span of the 120-span batch.
func BenchmarkNormalize(b *testing.B) {
	mix, spans := benchMix(b)
	run := func(b *testing.B, p consumer.Traces) {
		dst := ptrace.NewTraces()
		ctx := context.Background()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		b.ReportAllocs()
		for b.Loop() {
			mix.CopyTo(dst)
			if p != nil {
				if err := p.ConsumeTraces(ctx, dst); err != nil {
					b.Fatal(err)
				}
			}
		}
		runtime.ReadMemStats(&after)
		n := float64(b.N * spans)
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/span")
		b.ReportMetric(float64(after.Mallocs-before.Mallocs)/n, "allocs/span")
	}
	b.Run("copy_only", func(b *testing.B) { run(b, nil) })
	b.Run("spannormalizer", func(b *testing.B) {
		run(b, newProcessorTo(b, defaultConfig(), nopSettings(), consumertest.NewNop()))
	})
	// The shipped default: route learning on (the mix repeats its paths,
	// so after the first iterations every name is learned).
	b.Run("spannormalizer_route_learning", func(b *testing.B) {
		run(b, newProcessorTo(b, createDefaultConfig().(*Config), nopSettings(), consumertest.NewNop()))
	})
	b.Run("transform_ottl", func(b *testing.B) {
		run(b, newOTTLProcessor(b, consumertest.NewNop()))
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
