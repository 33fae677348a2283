package tenantroutingprocessor

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/otelcol-mesh/otelcol-mesh/internal/meshattr"
	"github.com/otelcol-mesh/otelcol-mesh/processor/tenantroutingprocessor/internal/metadata"
	"github.com/otelcol-mesh/otelcol-mesh/processor/tenantroutingprocessor/internal/metadatatest"
)

const labelKey = "platform.example.com/team"

// meshConfig is the example configuration.
func meshConfig() *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.Rules = []RuleConfig{
		{Namespaces: map[string]string{"istio-system": "platform", "ingress-nginx": "platform"}},
		{NamespaceLabel: labelKey},
		{NamespacePrefix: "team-"},
	}
	cfg.DefaultTenant = "platform"
	cfg.EdgeNamespaces = []string{"istio-system", "ingress-nginx"}
	cfg.PlatformTenant = "platform"
	return cfg
}

// spanSpec describes one span of a test resource: its name identifies it in
// the output; attrs are set on the span. Spans get unique, valid trace and
// span IDs unless zeroTraceID / zeroSpanID leave one all-zero (invalid).
type spanSpec struct {
	name        string
	attrs       map[string]any
	zeroTraceID bool
	zeroSpanID  bool
}

type resSpec struct {
	attrs map[string]any // resource attributes (k8s.namespace.name etc.)
	spans []spanSpec
}

func ns(n string) map[string]any { return map[string]any{namespaceAttribute: n} }

func buildTraces(t testing.TB, resources ...resSpec) ptrace.Traces {
	td := ptrace.NewTraces()
	seq := uint64(0)
	for _, r := range resources {
		rs := td.ResourceSpans().AppendEmpty()
		rs.SetSchemaUrl("https://opentelemetry.io/schemas/1.30.0")
		require.NoError(t, rs.Resource().Attributes().FromRaw(r.attrs))
		ss := rs.ScopeSpans().AppendEmpty()
		ss.Scope().SetName("test-scope")
		for _, s := range r.spans {
			seq++
			sp := ss.Spans().AppendEmpty()
			sp.SetName(s.name)
			if !s.zeroTraceID {
				sp.SetTraceID(testTraceID(seq))
			}
			if !s.zeroSpanID {
				sp.SetSpanID(testSpanID(seq))
			}
			require.NoError(t, sp.Attributes().FromRaw(s.attrs))
		}
	}
	return td
}

func testTraceID(seq uint64) pcommon.TraceID {
	var id pcommon.TraceID
	id[0] = 0x7e
	binary.BigEndian.PutUint64(id[8:], seq)
	return id
}

func testSpanID(seq uint64) pcommon.SpanID {
	var id pcommon.SpanID
	binary.BigEndian.PutUint64(id[:], seq)
	return id
}

func spans(names ...string) []spanSpec {
	out := make([]spanSpec, len(names))
	for i, n := range names {
		out[i] = spanSpec{name: n}
	}
	return out
}

func edgeSpan(name, dest string) spanSpec {
	return spanSpec{name: name, attrs: map[string]any{meshattr.DestinationNamespace: dest}}
}

// tenantSink records every request with the tenant taken from its context.
type tenantSink struct {
	key string
	mu  sync.Mutex
	// fail maps a tenant to the error its requests get.
	fail  map[string]error
	calls []tenantCall
}

type tenantCall struct {
	info client.Info
	td   ptrace.Traces
}

func (s *tenantSink) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (s *tenantSink) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	info := client.FromContext(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, tenantCall{info: info, td: td})
	vals := info.Metadata.Get(s.key)
	if len(vals) == 1 {
		if err, ok := s.fail[vals[0]]; ok {
			return err
		}
	}
	return nil
}

// byTenant returns tenant -> sorted span names; it fails the test if a
// request carries anything but exactly one tenant value under the key.
func (s *tenantSink) byTenant(t testing.TB) map[string][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]string{}
	for _, c := range s.calls {
		vals := c.info.Metadata.Get(s.key)
		require.Len(t, vals, 1, "each request carries exactly one tenant")
		names := out[vals[0]]
		rss := c.td.ResourceSpans()
		for i := 0; i < rss.Len(); i++ {
			sss := rss.At(i).ScopeSpans()
			for j := 0; j < sss.Len(); j++ {
				sp := sss.At(j).Spans()
				for k := 0; k < sp.Len(); k++ {
					names = append(names, sp.At(k).Name())
				}
			}
		}
		sort.Strings(names)
		out[vals[0]] = names
	}
	return out
}

func newTestProcessor(t testing.TB, cfg *Config, next consumer.Traces) *tenantRouting {
	require.NoError(t, cfg.Validate())
	p, err := newTenantRouting(processortest.NewNopSettings(metadata.Type), cfg, next)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, p.Shutdown(context.Background())) })
	return p
}

func route(t *testing.T, cfg *Config, resources ...resSpec) map[string][]string {
	sink := &tenantSink{key: cfg.MetadataKey}
	p := newTestProcessor(t, cfg, sink)
	require.NoError(t, p.ConsumeTraces(context.Background(), buildTraces(t, resources...)))
	return sink.byTenant(t)
}

func TestRules(t *testing.T) {
	tests := []struct {
		name  string
		attrs map[string]any
		want  string // tenant; "" = dropped
		cfg   func(*Config)
	}{
		{name: "map", attrs: ns("istio-system"), want: "platform"},
		{name: "prefix", attrs: ns("team-alpha"), want: "alpha"},
		{name: "label", attrs: map[string]any{namespaceAttribute: "payments", "k8s.namespace.label." + labelKey: "pay"}, want: "pay"},
		{name: "default for unmatched namespace", attrs: ns("kube-system"), want: "platform"},
		{name: "default for missing namespace", attrs: map[string]any{"service.name": "x"}, want: "platform"},
		{name: "default for non-string namespace", attrs: map[string]any{namespaceAttribute: 42}, want: "platform"},
		{name: "prefix alone is no tenant", attrs: ns("team-"), want: "platform"},
		{name: "invalid prefix remainder is no match", attrs: ns("team-a|b"), want: "platform"},
		{name: "invalid label value falls to the next rule", attrs: map[string]any{namespaceAttribute: "team-beta", "k8s.namespace.label." + labelKey: "x y"}, want: "beta"},
		{name: "non-string label value falls to the next rule", attrs: map[string]any{namespaceAttribute: "team-beta", "k8s.namespace.label." + labelKey: 7}, want: "beta"},
		{name: "label without namespace is not trusted", attrs: map[string]any{"k8s.namespace.label." + labelKey: "pay"}, want: "platform"},
		{name: "v0 label attribute name is not read", attrs: map[string]any{namespaceAttribute: "payments", "k8s.namespace.labels." + labelKey: "pay"}, want: "platform"},
		{
			name:  "label_attribute override",
			attrs: map[string]any{namespaceAttribute: "payments", "team": "pay"},
			want:  "pay",
			cfg:   func(c *Config) { c.Rules[1].LabelAttribute = "team" },
		},
		{name: "drop without default", attrs: ns("kube-system"), want: "", cfg: func(c *Config) { c.DefaultTenant = "" }},
		{name: "drop without namespace", attrs: map[string]any{}, want: "", cfg: func(c *Config) { c.DefaultTenant = "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := meshConfig()
			if tt.cfg != nil {
				tt.cfg(cfg)
			}
			got := route(t, cfg, resSpec{attrs: tt.attrs, spans: spans("s1", "s2")})
			if tt.want == "" {
				assert.Empty(t, got)
				return
			}
			assert.Equal(t, map[string][]string{tt.want: {"s1", "s2"}}, got)
		})
	}
}

func TestRuleOrderFirstMatchWins(t *testing.T) {
	cfg := meshConfig()
	cfg.Rules = []RuleConfig{
		{Namespaces: map[string]string{"team-alpha": "special"}},
		{NamespaceLabel: labelKey},
		{NamespacePrefix: "team-"},
		{NamespacePrefix: "team-al"},
	}
	got := route(t, cfg,
		resSpec{attrs: ns("team-alpha"), spans: spans("map-first")},
		resSpec{attrs: map[string]any{namespaceAttribute: "team-beta", "k8s.namespace.label." + labelKey: "lbl"}, spans: spans("label-before-prefix")},
		resSpec{attrs: ns("team-also"), spans: spans("first-prefix")},
	)
	assert.Equal(t, map[string][]string{
		"special": {"map-first"},
		"lbl":     {"label-before-prefix"},
		"also":    {"first-prefix"},
	}, got)

	// Reversed order: the prefix rule now wins over the map.
	cfg.Rules = []RuleConfig{{NamespacePrefix: "team-"}, {Namespaces: map[string]string{"team-alpha": "special"}}}
	got = route(t, cfg, resSpec{attrs: ns("team-alpha"), spans: spans("s")})
	assert.Equal(t, map[string][]string{"alpha": {"s"}}, got)
}

func TestSplitPerTenant(t *testing.T) {
	sink := &tenantSink{key: meshattr.DefaultTenantMetadataKey}
	p := newTestProcessor(t, meshConfig(), sink)
	td := buildTraces(t,
		resSpec{attrs: ns("team-a"), spans: spans("a1", "a2")},
		resSpec{attrs: ns("team-b"), spans: spans("b1")},
		resSpec{attrs: ns("team-a"), spans: spans("a3")},
		resSpec{attrs: ns("ingress-nginx"), spans: spans("p1")},
	)
	require.NoError(t, p.ConsumeTraces(context.Background(), td))
	assert.Equal(t, map[string][]string{
		"a":        {"a1", "a2", "a3"},
		"b":        {"b1"},
		"platform": {"p1"},
	}, sink.byTenant(t))
	require.Len(t, sink.calls, 3, "one call per tenant")
	// Whole resources are moved with their attributes and schema URL.
	for _, c := range sink.calls {
		rs := c.td.ResourceSpans().At(0)
		assert.Equal(t, "https://opentelemetry.io/schemas/1.30.0", rs.SchemaUrl())
		assert.Equal(t, "test-scope", rs.ScopeSpans().At(0).Scope().Name())
	}
}

func TestSingleTenantPassesRequestThrough(t *testing.T) {
	sink := &tenantSink{key: meshattr.DefaultTenantMetadataKey}
	p := newTestProcessor(t, meshConfig(), sink)
	td := buildTraces(t,
		resSpec{attrs: ns("team-a"), spans: spans("a1")},
		resSpec{attrs: ns("team-a"), spans: spans("a2")},
	)
	require.NoError(t, p.ConsumeTraces(context.Background(), td))
	require.Len(t, sink.calls, 1)
	// Not split: the input still holds its spans, and the same request went on.
	assert.Equal(t, 2, td.SpanCount())
	td.ResourceSpans().At(0).Resource().Attributes().PutStr("marker", "same")
	v, ok := sink.calls[0].td.ResourceSpans().At(0).Resource().Attributes().Get("marker")
	require.True(t, ok, "downstream got the very request, not a copy")
	assert.Equal(t, "same", v.Str())
}

func TestSingleTenantRemovesOtherResources(t *testing.T) {
	cfg := meshConfig()
	cfg.DefaultTenant = ""
	sink := &tenantSink{key: cfg.MetadataKey}
	p := newTestProcessor(t, cfg, sink)
	td := buildTraces(t,
		resSpec{attrs: ns("team-a"), spans: spans("a1")},
		resSpec{attrs: ns("kube-system"), spans: spans("dropped")},
		resSpec{attrs: map[string]any{namespaceAttribute: "team-b", "secret": "b's"}}, // no spans
	)
	require.NoError(t, p.ConsumeTraces(context.Background(), td))
	require.Len(t, sink.calls, 1)
	out := sink.calls[0].td
	require.Equal(t, 1, out.ResourceSpans().Len(), "dropped and other tenants' empty resources are removed")
	assert.Equal(t, map[string][]string{"a": {"a1"}}, sink.byTenant(t))
}

func TestDropIsCountedNotAnError(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	cfg := meshConfig()
	cfg.DefaultTenant = ""
	sink := &tenantSink{key: cfg.MetadataKey}
	p, err := newTenantRouting(metadatatest.NewSettings(tel), cfg, sink)
	require.NoError(t, err)
	td := buildTraces(t,
		resSpec{attrs: ns("kube-system"), spans: spans("x1", "x2")},
		resSpec{attrs: map[string]any{}, spans: spans("x3")},
	)
	require.NoError(t, p.ConsumeTraces(context.Background(), td))
	assert.Empty(t, sink.calls)
	metadatatest.AssertEqualProcessorTenantroutingSpansDropped(t, tel, []metricdata.DataPoint[int64]{
		{Value: 3, Attributes: attribute.NewSet(attribute.String("reason", "no_tenant"))},
	}, metricdatatest.IgnoreTimestamp())
	require.NoError(t, p.Shutdown(context.Background()))
}

func TestEdgeSpans(t *testing.T) {
	sink := &tenantSink{key: meshattr.DefaultTenantMetadataKey}
	p := newTestProcessor(t, meshConfig(), sink)
	td := buildTraces(t,
		resSpec{attrs: map[string]any{namespaceAttribute: "istio-system", "service.name": "gateway"}, spans: []spanSpec{
			edgeSpan("gw-to-alpha", "team-alpha"),
			{name: "gw-plain"},
			edgeSpan("gw-to-unknown", "kube-system"), // no rule: stays with the gateway's tenant
			edgeSpan("gw-to-istio", "istio-system"),  // destination tenant is the platform: one span only
			edgeSpan("gw-to-beta", "team-beta"),
		}},
		resSpec{attrs: ns("team-alpha"), spans: spans("alpha-app")},
	)
	require.NoError(t, p.ConsumeTraces(context.Background(), td))
	assert.Equal(t, map[string][]string{
		"alpha":    {"alpha-app", "gw-to-alpha"},
		"beta":     {"gw-to-beta"},
		"platform": {"gw-plain", "gw-to-alpha", "gw-to-beta", "gw-to-istio", "gw-to-unknown"},
	}, sink.byTenant(t))

	// The edge span in the team's request keeps the gateway's resource,
	// scope and span attributes; the platform copy is identical.
	var alphaGW, platformGW ptrace.Span
	for _, c := range sink.calls {
		rss := c.td.ResourceSpans()
		for i := 0; i < rss.Len(); i++ {
			rs := rss.At(i)
			sp := rs.ScopeSpans().At(0).Spans()
			for k := 0; k < sp.Len(); k++ {
				if sp.At(k).Name() != "gw-to-alpha" {
					continue
				}
				v, _ := rs.Resource().Attributes().Get("service.name")
				assert.Equal(t, "gateway", v.Str())
				assert.Equal(t, "test-scope", rs.ScopeSpans().At(0).Scope().Name())
				assert.Equal(t, "https://opentelemetry.io/schemas/1.30.0", rs.SchemaUrl())
				if c.info.Metadata.Get(meshattr.DefaultTenantMetadataKey)[0] == "alpha" {
					alphaGW = sp.At(k)
				} else {
					platformGW = sp.At(k)
				}
			}
		}
	}
	require.NotEqual(t, ptrace.Span{}, alphaGW)
	require.NotEqual(t, ptrace.Span{}, platformGW)
	assert.Equal(t, alphaGW.Attributes().AsRaw(), platformGW.Attributes().AsRaw())
}

func TestEdgeWithoutPlatformCopy(t *testing.T) {
	cfg := meshConfig()
	cfg.PlatformTenant = ""
	got := route(t, cfg, resSpec{attrs: ns("ingress-nginx"), spans: []spanSpec{edgeSpan("to-a", "team-a"), {name: "plain"}}})
	assert.Equal(t, map[string][]string{"a": {"to-a"}, "platform": {"plain"}}, got)
}

func TestEdgeDestinationUsesNoLabelRule(t *testing.T) {
	// The gateway resource's namespace-label attribute describes the
	// gateway's namespace, never the destination's.
	got := route(t, meshConfig(), resSpec{
		attrs: map[string]any{namespaceAttribute: "istio-system", "k8s.namespace.label." + labelKey: "evil"},
		spans: []spanSpec{edgeSpan("to-payments", "payments")},
	})
	assert.Equal(t, map[string][]string{"platform": {"to-payments"}}, got)
}

func TestSpoofingAttempts(t *testing.T) {
	sink := &tenantSink{key: meshattr.DefaultTenantMetadataKey}
	p := newTestProcessor(t, meshConfig(), sink)
	addr := &net.IPAddr{IP: net.IPv4(127, 0, 0, 2)}
	auth := fakeAuth{}
	ctx := client.NewContext(context.Background(), client.Info{
		Addr: addr,
		Auth: auth,
		Metadata: client.NewMetadata(map[string][]string{
			"x-scope-orgid": {"team-b", "b"},
			"X-Scope-OrgID": {"b"},
			"authorization": {"Bearer secret"},
		}),
	})
	td := buildTraces(t,
		resSpec{
			attrs: map[string]any{
				namespaceAttribute:  "team-a",
				"tenant":            "b",
				"x-scope-orgid":     "b",
				"service.namespace": "team-b",
			},
			spans: []spanSpec{
				{name: "fake-edge", attrs: map[string]any{meshattr.DestinationNamespace: "team-b"}},
				{name: "fake-ns", attrs: map[string]any{namespaceAttribute: "team-b", "tenant": "b", "x-scope-orgid": "b"}},
			},
		},
	)
	require.NoError(t, p.ConsumeTraces(ctx, td))
	assert.Equal(t, map[string][]string{"a": {"fake-edge", "fake-ns"}}, sink.byTenant(t))
	require.Len(t, sink.calls, 1)
	info := sink.calls[0].info
	assert.Equal(t, addr, info.Addr)
	assert.Equal(t, auth, info.Auth)
	var keys []string
	for k := range info.Metadata.Keys() {
		keys = append(keys, k)
	}
	assert.Equal(t, []string{"x-scope-orgid"}, keys, "only the tenant key, nothing the sender sent")
	assert.Equal(t, []string{"a"}, info.Metadata.Get("x-scope-orgid"))
}

type fakeAuth struct{}

func (fakeAuth) GetAttribute(string) any     { return "subject" }
func (fakeAuth) GetAttributeNames() []string { return []string{"subject"} }

func TestCustomMetadataKey(t *testing.T) {
	cfg := meshConfig()
	cfg.MetadataKey = "X-Tenant"
	sink := &tenantSink{key: "x-tenant"}
	p := newTestProcessor(t, cfg, sink)
	require.NoError(t, p.ConsumeTraces(context.Background(), buildTraces(t, resSpec{attrs: ns("team-a"), spans: spans("a")})))
	assert.Equal(t, map[string][]string{"a": {"a"}}, sink.byTenant(t))
	assert.Empty(t, sink.calls[0].info.Metadata.Get(meshattr.DefaultTenantMetadataKey))
}

// TestPartialDownstreamFailure: when the next component refuses some
// tenant shares of a request and takes others, a retry of the request would
// duplicate what it took, so the refused shares are dropped and counted
// (export_failed) and the request succeeds; only when no share went through
// is the failure returned, for the sender to retry.
func TestPartialDownstreamFailure(t *testing.T) {
	errB := errors.New("b unavailable")
	errC := consumererror.NewPermanent(errors.New("c rejected"))
	three := func() ptrace.Traces {
		return buildTraces(t,
			resSpec{attrs: ns("team-a"), spans: spans("a1")},
			resSpec{attrs: ns("team-b"), spans: spans("b1", "b2")},
			resSpec{attrs: ns("team-c"), spans: spans("c1")},
		)
	}

	// a went through: b's and c's shares are dropped and counted.
	r := newIsolationRig(t, meshConfig())
	r.sink.fail["b"], r.sink.fail["c"] = errB, errC
	require.NoError(t, r.p.ConsumeTraces(context.Background(), three()))
	assert.Len(t, r.sink.calls, 3, "every tenant was attempted, including the ones after a failure")
	assert.Equal(t, map[string]int64{"export_failed/b": 2, "export_failed/c": 1}, r.dropped(t))
	assert.Equal(t, map[string]int64{"a": 1}, r.routed(t), "only what the next component took counts as routed")

	// No share went through: the joined failure is returned; one permanent
	// part makes it permanent, and nothing is counted as dropped.
	r = newIsolationRig(t, meshConfig())
	r.sink.fail["a"], r.sink.fail["b"], r.sink.fail["c"] = errB, errB, errC
	err := r.p.ConsumeTraces(context.Background(), three())
	assert.ErrorIs(t, err, errB)
	assert.ErrorContains(t, err, "c rejected")
	assert.True(t, consumererror.IsPermanent(err))
	assert.Empty(t, r.dropped(t))
	assert.Empty(t, r.routed(t))

	// Only retryable failures: the join is retryable.
	r = newIsolationRig(t, meshConfig())
	r.sink.fail["a"], r.sink.fail["b"] = errB, errB
	err = r.p.ConsumeTraces(context.Background(), buildTraces(t,
		resSpec{attrs: ns("team-a"), spans: spans("a1")},
		resSpec{attrs: ns("team-b"), spans: spans("b1")},
	))
	assert.ErrorIs(t, err, errB)
	assert.False(t, consumererror.IsPermanent(err))

	// Single tenant: the downstream error comes back unchanged.
	p := newTestProcessor(t, meshConfig(), consumertest.NewErr(errB))
	err = p.ConsumeTraces(context.Background(), buildTraces(t, resSpec{attrs: ns("team-a"), spans: spans("a1")}))
	assert.Equal(t, errB, err)
}

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestRateLimit(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	cfg := meshConfig()
	cfg.RateLimit = RateLimitConfig{SpansPerSecond: 10, Burst: 10}
	clock := &fakeClock{t: time.Unix(1000, 0)}
	sink := &tenantSink{key: cfg.MetadataKey}
	p, err := newTenantRouting(metadatatest.NewSettings(tel), cfg, sink)
	require.NoError(t, err)
	p.now = clock.now
	p.tenants = newTenantRegistry(cfg.MetadataKey, cfg.RateLimit, cfg.MetricsMaxTenants, clock.now())

	names := func(prefix string, n int) []spanSpec {
		out := make([]spanSpec, n)
		for i := range out {
			out[i] = spanSpec{name: prefix}
		}
		return out
	}
	send := func(res ...resSpec) error { return p.ConsumeTraces(context.Background(), buildTraces(t, res...)) }

	require.NoError(t, send(resSpec{attrs: ns("team-a"), spans: names("a", 8)}))
	// a has 2 tokens left: 5 more are refused. Alone, the request fails
	// with a retryable error; mixed with b, a's share is dropped and b's
	// delivered, and the request succeeds (a retry would duplicate b).
	err = send(resSpec{attrs: ns("team-a"), spans: names("a", 5)})
	require.ErrorIs(t, err, errRateLimited)
	assert.False(t, consumererror.IsPermanent(err))
	require.NoError(t, send(resSpec{attrs: ns("team-a"), spans: names("a", 5)}, resSpec{attrs: ns("team-b"), spans: names("b", 5)}))
	assert.Equal(t, map[string][]string{"a": names2("a", 8), "b": names2("b", 5)}, sink.byTenant(t))

	// Half a second refills 5 tokens: 7 fit now.
	clock.t = clock.t.Add(500 * time.Millisecond)
	require.NoError(t, send(resSpec{attrs: ns("team-a"), spans: names("a", 7)}))

	// A request larger than the burst is admitted only from a full bucket,
	// and leaves a debt that the next second pays off.
	clock.t = clock.t.Add(10 * time.Second)
	require.NoError(t, send(resSpec{attrs: ns("team-a"), spans: names("a", 25)}))
	clock.t = clock.t.Add(time.Second)
	require.ErrorIs(t, send(resSpec{attrs: ns("team-a"), spans: names("a", 1)}), errRateLimited)

	metadatatest.AssertEqualProcessorTenantroutingSpansDropped(t, tel, []metricdata.DataPoint[int64]{
		{Value: 11, Attributes: attribute.NewSet(attribute.String("reason", "rate_limited"), attribute.String("tenant", "a"))},
	}, metricdatatest.IgnoreTimestamp())
	require.NoError(t, p.Shutdown(context.Background()))
}

func names2(name string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = name
	}
	return out
}

func TestMetrics(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	cfg := meshConfig()
	cfg.MetricsMaxTenants = 3
	sink := &tenantSink{key: cfg.MetadataKey}
	p, err := newTenantRouting(metadatatest.NewSettings(tel), cfg, sink)
	require.NoError(t, err)

	require.NoError(t, p.ConsumeTraces(context.Background(), buildTraces(t,
		resSpec{attrs: ns("istio-system"), spans: []spanSpec{edgeSpan("e1", "team-a"), edgeSpan("e2", "team-a"), {name: "p"}}},
		resSpec{attrs: ns("team-a"), spans: spans("a1")},
		resSpec{attrs: ns("team-b"), spans: spans("b1", "b2")},
	)))
	// Tenants c and d exceed the bound of 3 (platform, a, b): "_other".
	require.NoError(t, p.ConsumeTraces(context.Background(), buildTraces(t,
		resSpec{attrs: ns("team-c"), spans: spans("c1")},
		resSpec{attrs: ns("team-d"), spans: spans("d1", "d2")},
	)))
	// The overflow tenants still get their own metadata downstream.
	got := sink.byTenant(t)
	assert.Equal(t, []string{"c1"}, got["c"])
	assert.Equal(t, []string{"d1", "d2"}, got["d"])

	tenant := func(s string) attribute.Set { return attribute.NewSet(attribute.String("tenant", s)) }
	metadatatest.AssertEqualProcessorTenantroutingSpansRouted(t, tel, []metricdata.DataPoint[int64]{
		{Value: 3, Attributes: tenant("platform")},
		{Value: 3, Attributes: tenant("a")},
		{Value: 2, Attributes: tenant("b")},
		{Value: 3, Attributes: tenant("_other")},
	}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualProcessorTenantroutingEdgeCopies(t, tel, []metricdata.DataPoint[int64]{
		{Value: 2, Attributes: tenant("a")},
	}, metricdatatest.IgnoreTimestamp())
	require.NoError(t, p.Shutdown(context.Background()))
}

func TestEmptyRequest(t *testing.T) {
	sink := &tenantSink{key: meshattr.DefaultTenantMetadataKey}
	p := newTestProcessor(t, meshConfig(), sink)
	require.NoError(t, p.ConsumeTraces(context.Background(), ptrace.NewTraces()))
	require.NoError(t, p.ConsumeTraces(context.Background(), buildTraces(t, resSpec{attrs: ns("team-a")})))
	assert.Empty(t, sink.calls)
}

func TestFactoryCreatesWorkingProcessor(t *testing.T) {
	f := NewFactory()
	cfg := f.CreateDefaultConfig()
	assert.NoError(t, componenttest.CheckConfigStruct(cfg))
	c := cfg.(*Config)
	c.DefaultTenant = "platform"
	sink := new(consumertest.TracesSink)
	tp, err := f.CreateTraces(context.Background(), processortest.NewNopSettings(metadata.Type), c, sink)
	require.NoError(t, err)
	assert.True(t, tp.Capabilities().MutatesData)
	require.NoError(t, tp.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, tp.ConsumeTraces(context.Background(), buildTraces(t, resSpec{attrs: ns("x"), spans: spans("s")})))
	require.Len(t, sink.Contexts(), 1)
	assert.Equal(t, []string{"platform"}, client.FromContext(sink.Contexts()[0]).Metadata.Get(meshattr.DefaultTenantMetadataKey))
	require.NoError(t, tp.Shutdown(context.Background()))
}

func TestConcurrentRequests(t *testing.T) {
	cfg := meshConfig()
	cfg.RateLimit = RateLimitConfig{SpansPerSecond: 1e9}
	cfg.MetricsMaxTenants = 2
	sink := &tenantSink{key: cfg.MetadataKey}
	p := newTestProcessor(t, cfg, sink)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				td := buildTraces(t,
					resSpec{attrs: ns("team-a"), spans: spans("a")},
					resSpec{attrs: ns("team-b"), spans: spans("b")},
					resSpec{attrs: ns("team-c"), spans: spans("c")},
					resSpec{attrs: ns("istio-system"), spans: []spanSpec{edgeSpan("e", "team-a")}},
				)
				assert.NoError(t, p.ConsumeTraces(context.Background(), td))
			}
		}()
	}
	wg.Wait()
	got := sink.byTenant(t)
	assert.Len(t, got["a"], 400)
	assert.Len(t, got["b"], 200)
	assert.Len(t, got["c"], 200)
	assert.Len(t, got["platform"], 200)
}
