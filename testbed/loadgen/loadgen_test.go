package loadgen

import (
	"bytes"
	"compress/gzip"
	"context"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.uber.org/goleak"

	"github.com/otelcol-mesh/otelcol-mesh/internal/meshattr"
	"github.com/otelcol-mesh/otelcol-mesh/testbed/temposink"

	"github.com/otelcol-mesh/otelcol-mesh/internal/spanwalk"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"))
}

func TestDestinationAttrMatchesMeshattr(t *testing.T) {
	assert.Equal(t, meshattr.DestinationNamespace, DestinationAttr)
}

func TestMixShape(t *testing.T) {
	reqs := BuildMix(MixOptions{SpansPerRequest: 96, Requests: 3})
	require.Len(t, reqs, 3)
	for _, r := range reqs {
		assert.Equal(t, 96, r.Traces.SpanCount())
		assert.Len(t, r.Routes, 96)
		exp := ExpectedTenants(r)
		total := 0
		for _, n := range exp {
			total += n
		}
		// 2 of every 8 spans are edge spans with a team destination.
		assert.Equal(t, 96+96/4, total)
		assert.Equal(t, 96/4, exp[PlatformTenant])
	}
	// Same seed, same mix.
	again := BuildMix(MixOptions{SpansPerRequest: 96, Requests: 3})
	assert.Equal(t, reqs[1].Routes, again[1].Routes)
}

func TestSplitByTenant(t *testing.T) {
	req := BuildMix(MixOptions{SpansPerRequest: 80, Requests: 1})[0]
	parts, logical := SplitByTenant(req)
	exp := ExpectedTenants(req)
	sumLogical := 0
	for tenant, td := range parts {
		assert.Equal(t, exp[tenant], td.SpanCount(), tenant)
		sumLogical += logical[tenant]
	}
	assert.Equal(t, 80, sumLogical)
	assert.Len(t, parts, len(exp))
}

func TestSplitBySender(t *testing.T) {
	req := BuildMix(MixOptions{SpansPerRequest: 96, Requests: 1})[0]
	parts := SplitBySender(req, 5)
	spans := 0
	var routes []SpanRoute
	for _, p := range parts {
		require.Equal(t, 1, p.Traces.ResourceSpans().Len(), "one sender per request")
		require.Equal(t, 1, p.Traces.ResourceSpans().At(0).ScopeSpans().Len())
		n := p.Traces.SpanCount()
		assert.LessOrEqual(t, n, 5)
		require.Len(t, p.Routes, n)
		ns, _ := p.Traces.ResourceSpans().At(0).Resource().Attributes().Get("k8s.namespace.name")
		for _, r := range p.Routes {
			assert.Equal(t, ns.Str(), r.Namespace, "a route stays with its span's sender")
		}
		spans += n
		routes = append(routes, p.Routes...)
	}
	assert.Equal(t, req.Traces.SpanCount(), spans)
	assert.Equal(t, req.Routes, routes)
	assert.Greater(t, len(parts), 12, "the 96-span mix has more senders than traces")
}

func TestTemplateFillFreshIDsKeepsLinks(t *testing.T) {
	req := BuildMix(MixOptions{SpansPerRequest: 40, Requests: 1})[0]
	tmpl, err := NewTemplate(req.Traces, 0, 40, nil)
	require.NoError(t, err)
	// 5 traces: 5 trace IDs + 40 span IDs.
	assert.Equal(t, 45, tmpl.IDs())
	orig := append([]byte(nil), tmpl.Body...)
	rng := rand.New(rand.NewPCG(1, 2))
	var buf []byte
	seen := map[pcommon.SpanID]bool{}
	for round := 0; round < 3; round++ {
		buf = tmpl.Fill(buf, rng)
		got := ptraceotlp.NewExportRequest()
		require.NoError(t, got.UnmarshalProto(buf))
		td := got.Traces()
		require.Equal(t, 40, td.SpanCount())
		byID := map[pcommon.SpanID]ptrace.Span{}
		spanwalk.Each(td, func(s ptrace.Span) { byID[s.SpanID()] = s })
		require.Len(t, byID, 40, "span IDs distinct")
		var origSpans []ptrace.Span
		spanwalk.Each(req.Traces, func(s ptrace.Span) { origSpans = append(origSpans, s) })
		i := 0
		spanwalk.Each(td, func(s ptrace.Span) {
			o := origSpans[i]
			i++
			assert.NotEqual(t, o.SpanID(), s.SpanID())
			assert.NotEqual(t, o.TraceID(), s.TraceID())
			assert.False(t, seen[s.SpanID()], "fresh ID every round")
			seen[s.SpanID()] = true
			assert.Equal(t, o.Name(), s.Name())
			assert.Equal(t, o.Attributes().AsRaw(), s.Attributes().AsRaw())
			if o.ParentSpanID().IsEmpty() {
				assert.True(t, s.ParentSpanID().IsEmpty())
				return
			}
			parent, ok := byID[s.ParentSpanID()]
			require.True(t, ok, "parent link kept")
			assert.Equal(t, parent.TraceID(), s.TraceID(), "same trace as its parent")
		})
	}
	assert.Equal(t, orig, tmpl.Body, "template body never modified")
}

// TestGeneratorCountsAgainstSink sends over gRPC and HTTP to the Tempo-like
// sink: acknowledged spans arrive, and requests without a tenant are counted
// as refused with the sink's answer.
func TestGeneratorCountsAgainstSink(t *testing.T) {
	sink, err := temposink.Start(temposink.Config{GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", CountOnly: true})
	require.NoError(t, err)
	defer sink.Stop()

	reqs := BuildMix(MixOptions{SpansPerRequest: 16, Requests: 2})
	targets := []Target{
		{Protocol: GRPC, Addr: sink.GRPCAddr(), Headers: map[string]string{"X-Scope-OrgID": "g"}},
		{Protocol: HTTP, Addr: sink.HTTPAddr(), Headers: map[string]string{"X-Scope-OrgID": "h"}},
		{Protocol: GRPC, Addr: sink.GRPCAddr()}, // no tenant: refused
		{Protocol: HTTP, Addr: sink.HTTPAddr()}, // no tenant: refused
	}
	var templates []*Template
	for i := range targets {
		for _, r := range reqs {
			tmpl, err := NewTemplate(r.Traces, i, 16, map[string]int{[]string{"g", "h", "", ""}[i]: 16})
			require.NoError(t, err)
			templates = append(templates, tmpl)
		}
	}
	gen, err := New(Config{Targets: targets, Templates: templates, Rate: 4000, Workers: 3})
	require.NoError(t, err)
	defer gen.Close()
	gen.Start(context.Background())
	require.Eventually(t, func() bool { return gen.Snapshot().Requests >= 40 }, 20*time.Second, 10*time.Millisecond)
	res := gen.Stop()

	assert.Zero(t, res.AmbiguousSpans)
	assert.Equal(t, res.Requests, res.AckedRequests+res.RefusedRequests)
	assert.Equal(t, res.AckedSpans, res.Expect["g"]+res.Expect["h"])
	assert.Equal(t, int64(sink.SpanCount("g")), res.Expect["g"])
	assert.Equal(t, int64(sink.SpanCount("h")), res.Expect["h"])
	assert.Equal(t, res.RefusedSpans, res.RefusedBy["grpc Unauthenticated"]+res.RefusedBy["http 401"])
	assert.Positive(t, res.RefusedBy["grpc Unauthenticated"])
	assert.Positive(t, res.RefusedBy["http 401"])
	assert.Equal(t, int64(sink.Stats().Unauthenticated), res.RefusedRequests)
}

func TestReadProcSelf(t *testing.T) {
	ps, err := ReadProc(os.Getpid())
	require.NoError(t, err)
	assert.Positive(t, ps.PeakRSS)
	assert.GreaterOrEqual(t, ps.PeakRSS, ps.RSS)
}

// BenchmarkFill is the per-replay cost of the generator: copy + fresh IDs.
func BenchmarkFill(b *testing.B) {
	req := BuildMix(MixOptions{SpansPerRequest: 100, Requests: 1})[0]
	tmpl, err := NewTemplate(req.Traces, 0, 100, nil)
	require.NoError(b, err)
	rng := rand.New(rand.NewPCG(1, 2))
	var buf []byte
	b.SetBytes(int64(len(tmpl.Body)))
	b.ReportAllocs()
	for b.Loop() {
		buf = tmpl.Fill(buf, rng)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(tmpl.Spans), "ns/span")
}

// BenchmarkRemarshal is the alternative: set fresh IDs in pdata and marshal.
func BenchmarkRemarshal(b *testing.B) {
	req := BuildMix(MixOptions{SpansPerRequest: 100, Requests: 1})[0]
	td := req.Traces
	rng := rand.New(rand.NewPCG(1, 2))
	b.ReportAllocs()
	for b.Loop() {
		spanwalk.Each(td, func(s ptrace.Span) {
			var sid pcommon.SpanID
			var tid pcommon.TraceID
			for i := range sid {
				sid[i] = byte(rng.Uint32())
			}
			for i := range tid {
				tid[i] = byte(rng.Uint32())
			}
			s.SetSpanID(sid)
			s.SetTraceID(tid)
		})
		if _, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/100, "ns/span")
}

// BenchmarkExportCompression compresses one export-sized request of the mix
// (16 requests of 96 spans, 1,536 spans) the way the otlp_grpc exporter can:
// gzip at its default level, and zstd with configgrpc's 512 KiB window. It
// reports the compressed size as a share of the proto size; ns/op is the
// cost of compressing the request once.
func BenchmarkExportCompression(b *testing.B) {
	td := ptrace.NewTraces()
	for _, req := range BuildMix(MixOptions{SpansPerRequest: 96, Requests: 16}) {
		req.Traces.ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
	}
	raw, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
	require.NoError(b, err)
	b.Run("gzip", func(b *testing.B) {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		for b.Loop() {
			buf.Reset()
			zw.Reset(&buf)
			_, _ = zw.Write(raw)
			require.NoError(b, zw.Close())
		}
		b.ReportMetric(float64(buf.Len())/float64(len(raw)), "out/in")
		b.ReportMetric(float64(len(raw)), "proto-bytes")
	})
	b.Run("zstd", func(b *testing.B) {
		zw, err := zstd.NewWriter(nil, zstd.WithWindowSize(512*1024))
		require.NoError(b, err)
		defer zw.Close()
		var out []byte
		for b.Loop() {
			out = zw.EncodeAll(raw, out[:0])
		}
		b.ReportMetric(float64(len(out))/float64(len(raw)), "out/in")
		b.ReportMetric(float64(len(raw)), "proto-bytes")
	})
}
