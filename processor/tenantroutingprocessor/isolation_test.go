package tenantroutingprocessor

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/otelcol-mesh/otelcol-mesh/processor/tenantroutingprocessor/internal/metadatatest"
)

// isolationRig is a processor with a fake clock, a recording sink and test
// telemetry.
type isolationRig struct {
	p    *tenantRouting
	sink *tenantSink
	tel  *componenttest.Telemetry
}

func newIsolationRig(t *testing.T, cfg *Config) *isolationRig {
	t.Helper()
	require.NoError(t, cfg.Validate())
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	sink := &tenantSink{key: cfg.MetadataKey, fail: map[string]error{}}
	p, err := newTenantRouting(metadatatest.NewSettings(tel), cfg, sink)
	require.NoError(t, err)
	clock := &fakeClock{t: time.Unix(1000, 0)}
	p.now = clock.now // the clock never moves: buckets do not refill
	p.tenants = newTenantRegistry(cfg.MetadataKey, cfg.RateLimit, cfg.MetricsMaxTenants, clock.now())
	t.Cleanup(func() { require.NoError(t, p.Shutdown(context.Background())) })
	return &isolationRig{p: p, sink: sink, tel: tel}
}

// drain empties the token buckets of tenants (with the bucket size of
// burst) through the processor, then forgets what the sink recorded.
func (r *isolationRig) drain(t *testing.T, burst int, tenants ...string) {
	t.Helper()
	for _, tenant := range tenants {
		require.NoError(t, r.p.ConsumeTraces(context.Background(), buildTraces(t, resSpec{attrs: ns("team-" + tenant), spans: named("drain", burst)})))
	}
	r.sink.mu.Lock()
	r.sink.calls = nil
	r.sink.mu.Unlock()
}

// dropped returns spans_dropped by reason and tenant ("" for none).
func (r *isolationRig) dropped(t *testing.T) map[string]int64 {
	t.Helper()
	return sumByAttrs(t, r.tel, "otelcol_processor_tenantrouting_spans_dropped")
}

// routed returns spans_routed by tenant.
func (r *isolationRig) routed(t *testing.T) map[string]int64 {
	t.Helper()
	return sumByAttrs(t, r.tel, "otelcol_processor_tenantrouting_spans_routed")
}

// sumByAttrs maps "reason/tenant" (or "tenant") to the data point values
// of an int64 sum; an absent metric is an empty map.
func sumByAttrs(t *testing.T, tel *componenttest.Telemetry, name string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	m, err := tel.GetMetric(name)
	if err != nil {
		return out
	}
	sum, ok := m.Data.(metricdata.Sum[int64])
	require.True(t, ok, "%s is an int64 sum", name)
	for _, dp := range sum.DataPoints {
		reason, _ := dp.Attributes.Value(attribute.Key(attrReason))
		tenant, _ := dp.Attributes.Value(attribute.Key(attrTenant))
		key := tenant.AsString()
		if reason.AsString() != "" {
			key = reason.AsString() + "/" + key
		}
		out[key] += dp.Value
	}
	return out
}

func named(prefix string, n int) []spanSpec {
	out := make([]spanSpec, n)
	for i := range out {
		out[i] = spanSpec{name: fmt.Sprintf("%s%d", prefix, i+1)}
	}
	return out
}

func namesOf(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", prefix, i+1)
	}
	return out
}

// TestRateLimitedTenantDoesNotCostOthers: a tenant over its rate limit never
// makes the other tenants of the same request fail (and so be retried and
// duplicated): its share is dropped and counted, theirs delivered. Only a
// request in which every share was refused fails, retryably.
func TestRateLimitedTenantDoesNotCostOthers(t *testing.T) {
	errB := errors.New("b unavailable")
	tests := []struct {
		name      string
		limited   []string // tenants whose buckets are empty
		failing   map[string]error
		cfg       func(*Config)
		in        []resSpec
		wantErr   error // nil: success
		want      map[string][]string
		wantDrop  map[string]int64
		wantRoute map[string]int64
	}{
		{
			name:     "limited tenant alone: retryable error, nothing delivered",
			limited:  []string{"a"},
			in:       []resSpec{{attrs: ns("team-a"), spans: named("a", 3)}},
			wantErr:  errRateLimited,
			want:     map[string][]string{},
			wantDrop: map[string]int64{"rate_limited/a": 3},
		},
		{
			name:      "mixed request: limited share dropped, others delivered, success",
			limited:   []string{"a"},
			in:        []resSpec{{attrs: ns("team-a"), spans: named("a", 5)}, {attrs: ns("team-b"), spans: named("b", 2)}, {attrs: ns("team-c"), spans: named("c", 3)}},
			want:      map[string][]string{"b": namesOf("b", 2), "c": namesOf("c", 3)},
			wantDrop:  map[string]int64{"rate_limited/a": 5},
			wantRoute: map[string]int64{"b": 2, "c": 3},
		},
		{
			name:      "limited share first or last makes no difference",
			limited:   []string{"a"},
			in:        []resSpec{{attrs: ns("team-b"), spans: named("b", 2)}, {attrs: ns("team-a"), spans: named("a", 1)}},
			want:      map[string][]string{"b": namesOf("b", 2)},
			wantDrop:  map[string]int64{"rate_limited/a": 1},
			wantRoute: map[string]int64{"b": 2},
		},
		{
			name:     "every share refused: retryable error, nothing delivered",
			limited:  []string{"a", "b"},
			in:       []resSpec{{attrs: ns("team-a"), spans: named("a", 2)}, {attrs: ns("team-b"), spans: named("b", 2)}},
			wantErr:  errRateLimited,
			want:     map[string][]string{},
			wantDrop: map[string]int64{"rate_limited/a": 2, "rate_limited/b": 2},
		},
		{
			name:      "limited tenant with dropped no-tenant spans is still alone",
			limited:   []string{"a"},
			cfg:       func(c *Config) { c.DefaultTenant = "" },
			in:        []resSpec{{attrs: ns("team-a"), spans: named("a", 2)}, {attrs: ns("kube-system"), spans: named("x", 1)}},
			wantErr:   errRateLimited,
			want:      map[string][]string{},
			wantDrop:  map[string]int64{"rate_limited/a": 2, "no_tenant/": 1},
			wantRoute: map[string]int64{},
		},
		{
			name:    "another tenant's downstream failure is dropped and counted when a share went through",
			limited: []string{"a"},
			failing: map[string]error{"b": errB},
			in:      []resSpec{{attrs: ns("team-a"), spans: named("a", 1)}, {attrs: ns("team-b"), spans: named("b", 1)}, {attrs: ns("team-c"), spans: named("c", 1)}},
			// b was attempted (and failed), c delivered: a retry would
			// duplicate c, so none is asked for.
			want:      map[string][]string{"b": {"b1"}, "c": {"c1"}},
			wantDrop:  map[string]int64{"rate_limited/a": 1, "export_failed/b": 1},
			wantRoute: map[string]int64{"c": 1},
		},
		{
			name:      "every admitted share fails downstream: the failure is returned, the limited share is not",
			limited:   []string{"a"},
			failing:   map[string]error{"b": errB, "c": errB},
			in:        []resSpec{{attrs: ns("team-a"), spans: named("a", 1)}, {attrs: ns("team-b"), spans: named("b", 1)}, {attrs: ns("team-c"), spans: named("c", 1)}},
			wantErr:   errB,
			want:      map[string][]string{"b": {"b1"}, "c": {"c1"}},
			wantDrop:  map[string]int64{"rate_limited/a": 1},
			wantRoute: map[string]int64{},
		},
		{
			name:    "edge: limited platform copy dropped, destination tenant delivered",
			limited: []string{"platform"},
			in: []resSpec{{attrs: ns("istio-system"), spans: []spanSpec{
				edgeSpan("to-a", "team-a"), edgeSpan("to-b", "team-b"), {name: "gw"},
			}}},
			want:      map[string][]string{"a": {"to-a"}, "b": {"to-b"}},
			wantDrop:  map[string]int64{"rate_limited/platform": 3},
			wantRoute: map[string]int64{"a": 1, "b": 1},
		},
		{
			name:    "edge resource with a single destination tenant, limited: retryable error",
			limited: []string{"a"},
			cfg:     func(c *Config) { c.PlatformTenant = "" },
			in: []resSpec{{attrs: ns("istio-system"), spans: []spanSpec{
				edgeSpan("to-a1", "team-a"), edgeSpan("to-a2", "team-a"),
			}}},
			wantErr:  errRateLimited,
			want:     map[string][]string{},
			wantDrop: map[string]int64{"rate_limited/a": 2},
		},
	}
	const burst = 10
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := meshConfig()
			cfg.RateLimit = RateLimitConfig{SpansPerSecond: burst, Burst: burst}
			if tt.cfg != nil {
				tt.cfg(cfg)
			}
			r := newIsolationRig(t, cfg)
			r.drain(t, burst, tt.limited...)
			before := r.routed(t)
			for tenant, err := range tt.failing {
				r.sink.fail[tenant] = err
			}

			err := r.p.ConsumeTraces(context.Background(), buildTraces(t, tt.in...))
			if tt.wantErr == nil {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, tt.wantErr)
				assert.False(t, consumererror.IsPermanent(err), "a retry is right: nothing else would be duplicated")
				if tt.wantErr != errRateLimited {
					assert.NotErrorIs(t, err, errRateLimited, "a dropped share is not part of the error")
				}
			}
			assert.Equal(t, tt.want, r.sink.byTenant(t))
			assert.Equal(t, tt.wantDrop, r.dropped(t))
			routed := r.routed(t)
			for tenant, n := range before {
				routed[tenant] -= n
				if routed[tenant] == 0 {
					delete(routed, tenant)
				}
			}
			if tt.wantRoute == nil {
				tt.wantRoute = map[string]int64{}
			}
			assert.Equal(t, tt.wantRoute, routed)
		})
	}
}

// TestRetryingSenderDuplicatesNoQuietTenant plays a sender that retries
// every failed request (as SDKs do on Unavailable) against a processor
// where tenant a is over its limit: the quiet tenants receive each span
// exactly once, and a's spans are counted, never delivered.
func TestRetryingSenderDuplicatesNoQuietTenant(t *testing.T) {
	cfg := meshConfig()
	// The clock stands still: a's drained bucket stays empty, and b's and
	// c's 100 tokens last the 20 one-span shares each sends.
	cfg.RateLimit = RateLimitConfig{SpansPerSecond: 100, Burst: 100}
	r := newIsolationRig(t, cfg)
	r.drain(t, 100, "a")
	const requests, maxAttempts = 20, 5
	var wantB, wantC []string
	attempts := 0
	for i := 0; i < requests; i++ {
		b, c := fmt.Sprintf("b%02d", i), fmt.Sprintf("c%02d", i)
		wantB, wantC = append(wantB, b), append(wantC, c)
		// The sender re-encodes its request for every attempt.
		in := []resSpec{{attrs: ns("team-a"), spans: named("a", 3)}, {attrs: ns("team-b"), spans: spans(b)}, {attrs: ns("team-c"), spans: spans(c)}}
		for try := 0; try < maxAttempts; try++ {
			attempts++
			if r.p.ConsumeTraces(context.Background(), buildTraces(t, in...)) == nil {
				break
			}
		}
	}
	assert.Equal(t, requests, attempts, "every request accepted at its first attempt")
	assert.Equal(t, map[string][]string{"b": wantB, "c": wantC}, r.sink.byTenant(t))
	metadatatest.AssertEqualProcessorTenantroutingSpansDropped(t, r.tel, []metricdata.DataPoint[int64]{
		{Value: 3 * requests, Attributes: attribute.NewSet(attribute.String("reason", "rate_limited"), attribute.String("tenant", "a"))},
	}, metricdatatest.IgnoreTimestamp())
}

func invalidSpan(name string, zeroTrace, zeroSpan bool) spanSpec {
	return spanSpec{name: name, zeroTraceID: zeroTrace, zeroSpanID: zeroSpan}
}

// TestInvalidIDsAreDropped: spans with an all-zero trace or span ID are
// removed before routing and counted as spans_dropped{reason="invalid_id"};
// the valid spans of the same request are routed as usual, and the request
// succeeds.
func TestInvalidIDsAreDropped(t *testing.T) {
	tests := []struct {
		name        string
		cfg         func(*Config)
		in          []resSpec
		want        map[string][]string
		wantInvalid int64
		// wantResources is the number of resources the single-tenant
		// request carries downstream (-1: not a single-tenant case).
		wantResources int
	}{
		{
			name: "zero trace ID among valid spans",
			in: []resSpec{{attrs: ns("team-a"), spans: []spanSpec{
				{name: "ok1"}, invalidSpan("zero-trace", true, false), {name: "ok2"},
			}}},
			want:          map[string][]string{"a": {"ok1", "ok2"}},
			wantInvalid:   1,
			wantResources: 1,
		},
		{
			name: "zero span ID and both zero",
			in: []resSpec{{attrs: ns("team-a"), spans: []spanSpec{
				invalidSpan("zero-span", false, true), {name: "ok"}, invalidSpan("zero-both", true, true),
			}}},
			want:          map[string][]string{"a": {"ok"}},
			wantInvalid:   2,
			wantResources: 1,
		},
		{
			name: "a resource of only invalid spans is removed from the pass-through request",
			in: []resSpec{
				{attrs: ns("team-a"), spans: []spanSpec{invalidSpan("bad1", true, false), invalidSpan("bad2", false, true)}},
				{attrs: ns("team-a"), spans: spans("ok")},
			},
			want:          map[string][]string{"a": {"ok"}},
			wantInvalid:   2,
			wantResources: 1,
		},
		{
			name: "a resource of only invalid spans of another tenant does not make the request mixed",
			in: []resSpec{
				{attrs: ns("team-b"), spans: []spanSpec{invalidSpan("bad", true, false)}},
				{attrs: ns("team-a"), spans: spans("ok")},
			},
			want:          map[string][]string{"a": {"ok"}},
			wantInvalid:   1,
			wantResources: 1,
		},
		{
			name: "only invalid spans: nothing delivered, success",
			in: []resSpec{
				{attrs: ns("team-a"), spans: []spanSpec{invalidSpan("bad1", true, true)}},
				{attrs: ns("team-b"), spans: []spanSpec{invalidSpan("bad2", false, true)}},
			},
			want:          map[string][]string{},
			wantInvalid:   2,
			wantResources: -1,
		},
		{
			name: "mixed tenants each with invalid spans",
			in: []resSpec{
				{attrs: ns("team-a"), spans: []spanSpec{{name: "a1"}, invalidSpan("bad-a", true, false)}},
				{attrs: ns("team-b"), spans: []spanSpec{invalidSpan("bad-b", false, true), {name: "b1"}}},
			},
			want:          map[string][]string{"a": {"a1"}, "b": {"b1"}},
			wantInvalid:   2,
			wantResources: -1,
		},
		{
			name: "invalid edge span is neither routed nor copied",
			in: []resSpec{{attrs: ns("istio-system"), spans: []spanSpec{
				{name: "bad-edge", attrs: edgeSpan("", "team-a").attrs, zeroTraceID: true},
				edgeSpan("to-b", "team-b"),
			}}},
			want:          map[string][]string{"b": {"to-b"}, "platform": {"to-b"}},
			wantInvalid:   1,
			wantResources: -1,
		},
		{
			name: "invalid spans of a resource without tenant count as invalid, the rest as no_tenant",
			cfg:  func(c *Config) { c.DefaultTenant = "" },
			in: []resSpec{
				{attrs: ns("kube-system"), spans: []spanSpec{invalidSpan("bad", true, false), {name: "x"}}},
				{attrs: ns("team-a"), spans: spans("ok")},
			},
			want:          map[string][]string{"a": {"ok"}},
			wantInvalid:   1,
			wantResources: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := meshConfig()
			if tt.cfg != nil {
				tt.cfg(cfg)
			}
			r := newIsolationRig(t, cfg)
			require.NoError(t, r.p.ConsumeTraces(context.Background(), buildTraces(t, tt.in...)))
			assert.Equal(t, tt.want, r.sink.byTenant(t))
			assert.Equal(t, tt.wantInvalid, r.dropped(t)["invalid_id/"])
			for _, c := range r.sink.calls {
				assertNoEmptyShells(t, c.td)
				if tt.wantResources >= 0 {
					assert.Equal(t, tt.wantResources, c.td.ResourceSpans().Len())
				}
			}
		})
	}
}

// assertNoEmptyShells fails if a request carries a resource or scope whose
// spans were all removed.
func assertNoEmptyShells(t *testing.T, td ptrace.Traces) {
	t.Helper()
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		sss := rss.At(i).ScopeSpans()
		assert.Positive(t, sss.Len(), "resource %d has no scope", i)
		for j := 0; j < sss.Len(); j++ {
			assert.Positive(t, sss.At(j).Spans().Len(), "resource %d scope %d has no span", i, j)
		}
	}
}

// TestInvalidIDsEmptyScopeIsRemoved: a scope left without spans is removed;
// the resource's other scopes, and a scope that had no spans to begin with,
// are kept.
func TestInvalidIDsEmptyScopeIsRemoved(t *testing.T) {
	r := newIsolationRig(t, meshConfig())
	td := buildTraces(t, resSpec{attrs: ns("team-a"), spans: spans("ok")})
	rs := td.ResourceSpans().At(0)
	bad := rs.ScopeSpans().AppendEmpty()
	bad.Scope().SetName("only-invalid")
	bad.Spans().AppendEmpty().SetName("bad")
	rs.ScopeSpans().AppendEmpty().Scope().SetName("empty-from-the-start")
	require.NoError(t, r.p.ConsumeTraces(context.Background(), td))
	require.Len(t, r.sink.calls, 1)
	out := r.sink.calls[0].td.ResourceSpans().At(0).ScopeSpans()
	var scopes []string
	for j := 0; j < out.Len(); j++ {
		scopes = append(scopes, out.At(j).Scope().Name())
	}
	assert.Equal(t, []string{"test-scope", "empty-from-the-start"}, scopes)
	assert.Equal(t, map[string][]string{"a": {"ok"}}, r.sink.byTenant(t))
	assert.Equal(t, map[string]int64{"invalid_id/": 1}, r.dropped(t))
}

// TestRootSpanWithoutParentIsValid: an empty parent span ID marks a root
// span; only the span's own IDs decide validity.
func TestRootSpanWithoutParentIsValid(t *testing.T) {
	r := newIsolationRig(t, meshConfig())
	td := buildTraces(t, resSpec{attrs: ns("team-a"), spans: spans("root")})
	sp := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
	require.True(t, sp.ParentSpanID().IsEmpty())
	require.NoError(t, r.p.ConsumeTraces(context.Background(), td))
	assert.Equal(t, map[string][]string{"a": {"root"}}, r.sink.byTenant(t))
	assert.Empty(t, r.dropped(t))
}
