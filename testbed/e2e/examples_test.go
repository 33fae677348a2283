package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/golden"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/ptracetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-mesh/otelcol-mesh/testbed/harness"
	"github.com/otelcol-mesh/otelcol-mesh/testbed/temposink"
)

// goldenDir holds the span normalizer's cases: testdata/<case>/input.yaml
// and the reviewed expected.yaml.
func goldenDir(t *testing.T) string {
	return filepath.Join(harness.RepoRoot(t), "processor", "spannormalizerprocessor", "testdata")
}

// TestExamplesMatchGoldenInputs keeps the README's examples/ the same spans
// as the span normalizer's golden inputs: what a user posts is what the
// tests prove the output of.
func TestExamplesMatchGoldenInputs(t *testing.T) {
	examples, err := filepath.Glob(filepath.Join(harness.FixturesDir(t), "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, examples)
	for _, ex := range examples {
		name := strings.TrimSuffix(filepath.Base(ex), ".json")
		got, err := golden.ReadTraces(ex)
		require.NoError(t, err, name)
		want, err := golden.ReadTraces(filepath.Join(goldenDir(t), name, "input.yaml"))
		require.NoError(t, err, "%s has no golden case", name)
		assert.NoError(t, ptracetest.CompareTraces(want, got), name)
	}
}

// TestGoldenCasesThroughTheBinary posts every golden input to the ocb-built
// binary running the shipped local config (exporting to the Tempo-like
// sink) and compares what reaches Tempo with the reviewed expected.yaml:
// the component's tests and the distribution agree span for span. Edge
// spans reach two tenants; each copy must equal the expectation. Route
// learning names a value once seen min_count (3) times, so each case is
// sent twice before (with other trace IDs, not compared) as the golden
// unit test does.
func TestGoldenCasesThroughTheBinary(t *testing.T) {
	_, sink, ports := startLocalTempo(t, "local")
	inputs, err := filepath.Glob(filepath.Join(goldenDir(t), "*", "input.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, inputs)
	for _, in := range inputs {
		dir := filepath.Dir(in)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			td, err := golden.ReadTraces(in)
			require.NoError(t, err)
			want, err := golden.ReadTraces(filepath.Join(dir, "expected.yaml"))
			require.NoError(t, err)
			for round := byte(1); round < routeLearningMinCount; round++ {
				postTraces(t, ports.OTLPHTTP, withOtherTraceIDs(td, round))
			}
			postTraces(t, ports.OTLPHTTP, td)

			ids := spanIDs(want)
			var got map[spanKey][]ptrace.Traces
			require.Eventually(t, func() bool {
				got = receivedByID(sink, ids)
				return len(got) == len(ids)
			}, 10*time.Second, 50*time.Millisecond, "not every span reached the sink")
			for id, copies := range got {
				for _, c := range copies {
					assert.NoError(t, ptracetest.CompareTraces(only(want, id), c), "span %s", id.span)
				}
			}
		})
	}
}

// routeLearningMinCount is the shipped spannormalizer's route_learning.min_count.
const routeLearningMinCount = 3

// withOtherTraceIDs returns a copy of td whose trace IDs differ in their
// last byte, so the copy's spans are told apart from td's at the sink.
func withOtherTraceIDs(td ptrace.Traces, round byte) ptrace.Traces {
	out := ptrace.NewTraces()
	td.CopyTo(out)
	forEachSpanIn(out, func(_ ptrace.ResourceSpans, _ ptrace.ScopeSpans, s ptrace.Span) {
		id := s.TraceID()
		id[15] ^= round
		s.SetTraceID(id)
	})
	return out
}

func spanIDs(td ptrace.Traces) map[spanKey]bool {
	ids := map[spanKey]bool{}
	forEachSpanIn(td, func(_ ptrace.ResourceSpans, _ ptrace.ScopeSpans, s ptrace.Span) { ids[keyOf(s)] = true })
	return ids
}

// receivedByID returns, for each span ID in ids, every copy the sink holds
// (across tenants), each as a Traces of that one span with its resource
// and scope.
func receivedByID(sink *temposink.Sink, ids map[spanKey]bool) map[spanKey][]ptrace.Traces {
	out := map[spanKey][]ptrace.Traces{}
	for _, tenant := range sink.Tenants() {
		for _, td := range sink.Traces(tenant) {
			forEachSpanIn(td, func(rs ptrace.ResourceSpans, ss ptrace.ScopeSpans, s ptrace.Span) {
				if ids[keyOf(s)] {
					out[keyOf(s)] = append(out[keyOf(s)], single(rs, ss, s))
				}
			})
		}
	}
	return out
}

// spanKey identifies a span across the cases.
type spanKey struct {
	trace pcommon.TraceID
	span  pcommon.SpanID
}

func keyOf(s ptrace.Span) spanKey { return spanKey{s.TraceID(), s.SpanID()} }

// only returns the span with the given key of td, with its resource and scope.
func only(td ptrace.Traces, id spanKey) ptrace.Traces {
	out := ptrace.NewTraces()
	forEachSpanIn(td, func(rs ptrace.ResourceSpans, ss ptrace.ScopeSpans, s ptrace.Span) {
		if keyOf(s) == id {
			out = single(rs, ss, s)
		}
	})
	return out
}

func single(rs ptrace.ResourceSpans, ss ptrace.ScopeSpans, s ptrace.Span) ptrace.Traces {
	td := ptrace.NewTraces()
	r := td.ResourceSpans().AppendEmpty()
	rs.Resource().CopyTo(r.Resource())
	r.SetSchemaUrl(rs.SchemaUrl())
	sc := r.ScopeSpans().AppendEmpty()
	ss.Scope().CopyTo(sc.Scope())
	sc.SetSchemaUrl(ss.SchemaUrl())
	s.CopyTo(sc.Spans().AppendEmpty())
	return td
}

// forEachSpanIn calls f for every span of td with its resource and scope.
func forEachSpanIn(td ptrace.Traces, f func(ptrace.ResourceSpans, ptrace.ScopeSpans, ptrace.Span)) {
	for i := 0; i < td.ResourceSpans().Len(); i++ {
		rs := td.ResourceSpans().At(i)
		for j := 0; j < rs.ScopeSpans().Len(); j++ {
			ss := rs.ScopeSpans().At(j)
			for k := 0; k < ss.Spans().Len(); k++ {
				f(rs, ss, ss.Spans().At(k))
			}
		}
	}
}
