package tenantroutingprocessor

import (
	"context"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/otelcol-mesh/otelcol-mesh/internal/meshattr"
	"github.com/otelcol-mesh/otelcol-mesh/processor/tenantroutingprocessor/internal/metadatatest"
)

// testMaxSpanBytes keeps the test data small; the logic does not depend on
// the value.
const testMaxSpanBytes = 8192

// aloneSize is the size of an OTLP request holding span alone with copies of
// its resource and scope: what the exporter's byte batcher needs to fit.
// It is computed independently of the processor's own arithmetic.
func aloneSize(rs ptrace.ResourceSpans, ss ptrace.ScopeSpans, span ptrace.Span) int {
	td := ptrace.NewTraces()
	out := td.ResourceSpans().AppendEmpty()
	rs.Resource().CopyTo(out.Resource())
	out.SetSchemaUrl(rs.SchemaUrl())
	oss := out.ScopeSpans().AppendEmpty()
	ss.Scope().CopyTo(oss.Scope())
	oss.SetSchemaUrl(ss.SchemaUrl())
	span.CopyTo(oss.Spans().AppendEmpty())
	var m ptrace.ProtoMarshaler
	return m.TracesSize(td)
}

// sentSpan is a delivered span with what the test checks about it.
type sentSpan struct {
	alone     int
	truncated int64 // mesh.truncated, -1 when absent
	attrs     pcommon.Map
	events    ptrace.SpanEventSlice
}

func (r *isolationRig) sentSpans(t *testing.T) map[string]sentSpan {
	t.Helper()
	out := map[string]sentSpan{}
	for _, c := range r.sink.calls {
		assertNoEmptyShells(t, c.td)
		rss := c.td.ResourceSpans()
		for i := 0; i < rss.Len(); i++ {
			sss := rss.At(i).ScopeSpans()
			for j := 0; j < sss.Len(); j++ {
				sp := sss.At(j).Spans()
				for k := 0; k < sp.Len(); k++ {
					s := sp.At(k)
					st := sentSpan{alone: aloneSize(rss.At(i), sss.At(j), s), truncated: -1, attrs: s.Attributes(), events: s.Events()}
					if v, ok := s.Attributes().Get(TruncatedAttribute); ok {
						st.truncated = v.Int()
					}
					out[s.Name()] = st
				}
			}
		}
	}
	return out
}

func bigSpan(name string, attrs map[string]any) spanSpec {
	return spanSpec{name: name, attrs: attrs}
}

// TestMaxSpanBytes: a span over max_span_bytes is shortened by truncating
// its largest string attribute values and marked, or, when that cannot
// work, dropped and counted; every other span passes untouched, under its
// own tenant.
func TestMaxSpanBytes(t *testing.T) {
	big := strings.Repeat("x", 3*testMaxSpanBytes)
	tests := []struct {
		name    string
		cfg     func(*Config)
		in      []resSpec
		edit    func(td ptrace.Traces) // changes buildTraces cannot express
		want    map[string][]string
		wantCut map[string]bool // spans that must carry mesh.truncated
		dropped map[string]int64
		check   func(t *testing.T, got map[string]sentSpan)
	}{
		{
			name: "small spans pass untouched",
			in:   []resSpec{{attrs: ns("team-a"), spans: named("s", 50)}},
			want: map[string][]string{"a": namesOf("s", 50)},
		},
		{
			name: "one oversized span among 200: truncated, marked, all 201 delivered",
			in: []resSpec{{attrs: ns("team-a"), spans: append(named("s", 200),
				bigSpan("big", map[string]any{"payload": big, "http.route": "/keep"}))}},
			want:    map[string][]string{"a": append(namesOf("s", 200), "big")},
			wantCut: map[string]bool{"big": true},
			check: func(t *testing.T, got map[string]sentSpan) {
				v, _ := got["big"].attrs.Get("payload")
				assert.Equal(t, int64(len(big)-len(v.Str())), got["big"].truncated, "the marker is the number of bytes cut")
				r, _ := got["big"].attrs.Get("http.route")
				assert.Equal(t, "/keep", r.Str(), "small values are not touched")
			},
		},
		{
			name: "the oversized span's tenant and the others are split as usual",
			in: []resSpec{
				{attrs: ns("team-a"), spans: append(named("a", 3), bigSpan("big-a", map[string]any{"payload": big}))},
				{attrs: ns("team-b"), spans: named("b", 3)},
				{attrs: ns("istio-system"), spans: []spanSpec{edgeSpan("gw", "team-c")}},
			},
			want: map[string][]string{
				"a": append(namesOf("a", 3), "big-a"), "b": namesOf("b", 3),
				"c": {"gw"}, "platform": {"gw"},
			},
			wantCut: map[string]bool{"big-a": true},
		},
		{
			name: "the largest values are cut to a common length, the short ones kept",
			in: []resSpec{{attrs: ns("team-a"), spans: []spanSpec{bigSpan("big", map[string]any{
				"one": strings.Repeat("1", 6000), "two": strings.Repeat("2", 5000), "short": strings.Repeat("s", 100), "n": 42,
			})}}},
			want:    map[string][]string{"a": {"big"}},
			wantCut: map[string]bool{"big": true},
			check: func(t *testing.T, got map[string]sentSpan) {
				one, _ := got["big"].attrs.Get("one")
				two, _ := got["big"].attrs.Get("two")
				short, _ := got["big"].attrs.Get("short")
				n, _ := got["big"].attrs.Get("n")
				assert.Equal(t, len(one.Str()), len(two.Str()), "water-filled to one length")
				assert.Greater(t, len(one.Str()), 100)
				assert.Equal(t, 100, len(short.Str()))
				assert.Equal(t, int64(42), n.Int())
				assert.Equal(t, int64(6000+5000-2*len(one.Str())), got["big"].truncated)
			},
		},
		{
			name: "an event attribute is truncated when it is the largest value",
			in:   []resSpec{{attrs: ns("team-a"), spans: []spanSpec{bigSpan("ev", map[string]any{"small": "v"})}}},
			edit: func(td ptrace.Traces) {
				ev := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Events().AppendEmpty()
				ev.SetName("exception")
				ev.Attributes().PutStr("exception.stacktrace", big)
			},
			want:    map[string][]string{"a": {"ev"}},
			wantCut: map[string]bool{"ev": true},
			check: func(t *testing.T, got map[string]sentSpan) {
				st, _ := got["ev"].events.At(0).Attributes().Get("exception.stacktrace")
				assert.Less(t, len(st.Str()), len(big))
				assert.Equal(t, int64(len(big)-len(st.Str())), got["ev"].truncated)
			},
		},
		{
			name: "multi-byte values are cut at a rune boundary",
			in: []resSpec{{attrs: ns("team-a"), spans: []spanSpec{
				bigSpan("utf8", map[string]any{"payload": strings.Repeat("é€😀", testMaxSpanBytes)}),
			}}},
			want:    map[string][]string{"a": {"utf8"}},
			wantCut: map[string]bool{"utf8": true},
			check: func(t *testing.T, got map[string]sentSpan) {
				v, _ := got["utf8"].attrs.Get("payload")
				assert.True(t, utf8.ValidString(v.Str()))
			},
		},
		{
			name: "a bytes value cannot be truncated: the span alone is dropped and counted",
			in: []resSpec{
				{attrs: ns("team-a"), spans: named("a", 3)},
				{attrs: ns("team-b"), spans: []spanSpec{{name: "b1"}, bigSpan("blob", map[string]any{"s": "small"}), {name: "b2"}}},
			},
			edit: func(td ptrace.Traces) {
				sp := td.ResourceSpans().At(1).ScopeSpans().At(0).Spans().At(1)
				sp.Attributes().PutEmptyBytes("blob").FromRaw([]byte(big))
			},
			want:    map[string][]string{"a": namesOf("a", 3), "b": {"b1", "b2"}},
			dropped: map[string]int64{"too_large/": 1},
		},
		{
			name: "a big nested value cannot be truncated: dropped, the scope it leaves empty removed",
			in: []resSpec{
				{attrs: ns("team-a"), spans: []spanSpec{bigSpan("nested", map[string]any{"m": map[string]any{"deep": big}})}},
				{attrs: ns("team-a"), spans: spans("ok")},
			},
			want:    map[string][]string{"a": {"ok"}},
			dropped: map[string]int64{"too_large/": 1},
		},
		{
			name: "mesh.destination.namespace is never truncated (it picks the tenant)",
			in: []resSpec{
				{attrs: ns("istio-system"), spans: []spanSpec{
					{name: "dest", attrs: map[string]any{meshattr.DestinationNamespace: "team-" + big}},
					edgeSpan("gw", "team-c"),
				}},
			},
			want:    map[string][]string{"c": {"gw"}, "platform": {"gw"}},
			dropped: map[string]int64{"too_large/": 1},
		},
		{
			name: "a resource too large for any span: its spans are dropped and counted, other resources pass",
			in: []resSpec{
				{attrs: map[string]any{namespaceAttribute: "team-a", "huge": big}, spans: named("a", 4)},
				{attrs: ns("team-b"), spans: named("b", 2)},
			},
			want:    map[string][]string{"b": namesOf("b", 2)},
			dropped: map[string]int64{"too_large/": 4},
		},
		{
			name: "spans without a tenant are not sized: counted as no_tenant only",
			cfg:  func(c *Config) { c.DefaultTenant = "" },
			in: []resSpec{
				{attrs: ns("kube-system"), spans: []spanSpec{bigSpan("big", map[string]any{"b": big})}},
				{attrs: ns("team-a"), spans: spans("ok")},
			},
			want:    map[string][]string{"a": {"ok"}},
			dropped: map[string]int64{"no_tenant/": 1},
		},
		{
			name: "max_span_bytes 0 turns the check off",
			cfg:  func(c *Config) { c.MaxSpanBytes = 0 },
			in:   []resSpec{{attrs: ns("team-a"), spans: []spanSpec{bigSpan("big", map[string]any{"payload": big})}}},
			want: map[string][]string{"a": {"big"}},
			check: func(t *testing.T, got map[string]sentSpan) {
				assert.Greater(t, got["big"].alone, testMaxSpanBytes)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := meshConfig()
			cfg.MaxSpanBytes = testMaxSpanBytes
			if tt.cfg != nil {
				tt.cfg(cfg)
			}
			r := newIsolationRig(t, cfg)
			td := buildTraces(t, tt.in...)
			if tt.edit != nil {
				tt.edit(td)
			}
			require.NoError(t, r.p.ConsumeTraces(context.Background(), td))
			for _, names := range tt.want {
				sort.Strings(names)
			}
			assert.Equal(t, tt.want, r.sink.byTenant(t))
			got := r.sentSpans(t)
			cut := int64(0)
			for name, s := range got {
				if tt.wantCut[name] {
					assert.Positive(t, s.truncated, "%s is marked", name)
					cut++
				} else {
					assert.Equal(t, int64(-1), s.truncated, "%s is not marked", name)
				}
				if cfg.MaxSpanBytes > 0 {
					assert.LessOrEqual(t, s.alone, testMaxSpanBytes, "%s fits alone", name)
				}
			}
			assert.Len(t, tt.wantCut, int(cut))
			want := tt.dropped
			if want == nil {
				want = map[string]int64{}
			}
			assert.Equal(t, want, r.dropped(t))
			assert.Equal(t, cut, sumByAttrs(t, r.tel, "otelcol_processor_tenantrouting_spans_truncated")[""])
			if tt.check != nil {
				tt.check(t, got)
			}
		})
	}
}

// TestMaxSpanBytesMetrics pins the metric names, attributes and values.
func TestMaxSpanBytesMetrics(t *testing.T) {
	cfg := meshConfig()
	cfg.MaxSpanBytes = testMaxSpanBytes
	r := newIsolationRig(t, cfg)
	big := strings.Repeat("x", 2*testMaxSpanBytes)
	td := buildTraces(t, resSpec{attrs: ns("team-a"), spans: []spanSpec{
		bigSpan("cut1", map[string]any{"p": big}), bigSpan("cut2", map[string]any{"p": big}),
		bigSpan("nested", map[string]any{"m": []any{big}}), {name: "ok"},
	}})
	require.NoError(t, r.p.ConsumeTraces(context.Background(), td))
	assert.Equal(t, map[string][]string{"a": {"cut1", "cut2", "ok"}}, r.sink.byTenant(t))
	metadatatest.AssertEqualProcessorTenantroutingSpansTruncated(t, r.tel, []metricdata.DataPoint[int64]{{Value: 2}}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualProcessorTenantroutingSpansDropped(t, r.tel, []metricdata.DataPoint[int64]{
		{Value: 1, Attributes: attribute.NewSet(attribute.String("reason", "too_large"))},
	}, metricdatatest.IgnoreTimestamp())
}

// TestSizeBoundIsAnUpperBound: the cheap bound never undercuts the exact
// size, or a big span could slip past the check.
func TestSizeBoundIsAnUpperBound(t *testing.T) {
	td := buildTraces(t,
		resSpec{attrs: map[string]any{namespaceAttribute: "team-a", "service.name": "svc", "n": 1, "f": 1.5, "b": true}, spans: []spanSpec{
			{name: "plain"},
			{name: "attrs", attrs: map[string]any{"s": strings.Repeat("x", 300), "i": -1, "d": 2.5, "t": true, "e": nil}},
			{name: "long", attrs: map[string]any{"s": strings.Repeat("y", 200000)}},
		}},
	)
	rs := td.ResourceSpans().At(0)
	sp := rs.ScopeSpans().At(0).Spans()
	full := sp.At(1)
	full.SetParentSpanID(testSpanID(99))
	full.SetKind(ptrace.SpanKindServer)
	full.SetStartTimestamp(pcommon.Timestamp(^uint64(0)))
	full.SetEndTimestamp(pcommon.Timestamp(^uint64(0)))
	full.SetDroppedAttributesCount(^uint32(0))
	full.SetDroppedEventsCount(^uint32(0))
	full.SetDroppedLinksCount(^uint32(0))
	full.SetFlags(^uint32(0))
	full.TraceState().FromRaw("a=b,c=d")
	full.Status().SetCode(ptrace.StatusCodeError)
	full.Status().SetMessage("boom")
	ev := full.Events().AppendEmpty()
	ev.SetName("e")
	ev.SetTimestamp(pcommon.Timestamp(^uint64(0)))
	ev.SetDroppedAttributesCount(^uint32(0))
	ev.Attributes().PutStr("k", "v")
	ev.Attributes().PutEmptyBytes("raw").FromRaw(make([]byte, 70000))
	l := full.Links().AppendEmpty()
	l.SetTraceID(testTraceID(5))
	l.SetSpanID(testSpanID(5))
	l.TraceState().FromRaw("x=y")
	l.SetFlags(^uint32(0))
	l.SetDroppedAttributesCount(^uint32(0))
	l.Attributes().PutInt("n", -1)
	rs.ScopeSpans().At(0).Scope().SetVersion("1.2.3")
	rs.ScopeSpans().At(0).Scope().Attributes().PutStr("k", "v")
	rs.ScopeSpans().At(0).SetSchemaUrl("https://example.com/schema")

	var m ptrace.ProtoMarshaler
	for k := 0; k < sp.Len(); k++ {
		b, ok := spanBound(sp.At(k))
		require.True(t, ok)
		assert.GreaterOrEqual(t, b, deltaSize(m.SpanSize(sp.At(k))), sp.At(k).Name())
	}
	b, ok := resourceBound(rs)
	require.True(t, ok)
	assert.GreaterOrEqual(t, b, deltaSize(m.ResourceSpansSize(rs)))
	assert.GreaterOrEqual(t, b, m.TracesSize(td))

	sp.At(0).Attributes().PutEmptyMap("nested").PutStr("k", "v")
	_, ok = resourceBound(rs)
	assert.False(t, ok, "nested values need the exact size")
}

func TestDeltaSize(t *testing.T) {
	// deltaSize must agree with pdata: the size of a request is the delta
	// size of its one resource.
	td := buildTraces(t, resSpec{attrs: ns("team-a"), spans: []spanSpec{{name: "x", attrs: map[string]any{"s": strings.Repeat("z", 20000)}}}})
	var m ptrace.ProtoMarshaler
	assert.Equal(t, m.TracesSize(td), deltaSize(m.ResourceSpansSize(td.ResourceSpans().At(0))))
	assert.Equal(t, 2, deltaSize(0))
	assert.Equal(t, 1+1+127, deltaSize(127))
	assert.Equal(t, 1+2+128, deltaSize(128))
}
