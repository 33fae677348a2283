package spannormalizerprocessor

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/golden"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/ptracetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/otelcol-mesh/otelcol-mesh/processor/spannormalizerprocessor/internal/metadatatest"
)

// -update rewrites every testdata/<case>/expected.yaml from the processor's
// output; review the diff before committing it.
var update = flag.Bool("update", false, "rewrite testdata/<case>/expected.yaml from the processor's output")

// TestGolden runs every testdata/<case>/input.yaml through the processor
// with its default configuration (as the shipped configs run it) and
// compares the output in full with testdata/<case>/expected.yaml. Route
// learning names a value only once it has been seen min_count times, so
// the input is sent that many times and the last output is compared: the
// names a route settles on. Where each input comes from is in
// testdata/README.md.
func TestGolden(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join("testdata", "*", "input.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, inputs)
	// The cases share one trace store in the end-to-end test: IDs are unique.
	seen := map[[24]byte]string{}
	for _, in := range inputs {
		dir := filepath.Dir(in)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			td, err := golden.ReadTraces(in)
			require.NoError(t, err)
			forEachSpan(td, func(s ptrace.Span) {
				var key [24]byte
				tid, sid := s.TraceID(), s.SpanID()
				copy(key[:16], tid[:])
				copy(key[16:], sid[:])
				require.Empty(t, seen[key], "span %s is also in %s", sid, seen[key])
				seen[key] = in
			})
			cfg := createDefaultConfig().(*Config)
			p, sink := newProcessor(t, cfg, nopSettings())
			for range cfg.RouteLearning.MinCount {
				in := ptrace.NewTraces()
				td.CopyTo(in)
				require.NoError(t, p.ConsumeTraces(context.Background(), in))
			}
			all := sink.AllTraces()
			out := all[len(all)-1]
			expectedFile := filepath.Join(dir, "expected.yaml")
			if *update {
				require.NoError(t, golden.WriteTracesToFile(expectedFile, out))
			}
			want, err := golden.ReadTraces(expectedFile)
			require.NoError(t, err)
			require.NoError(t, ptracetest.CompareTraces(want, out))
		})
	}
}

func forEachSpan(td ptrace.Traces, f func(ptrace.Span)) {
	for i := 0; i < td.ResourceSpans().Len(); i++ {
		sss := td.ResourceSpans().At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			for k := 0; k < sss.At(j).Spans().Len(); k++ {
				f(sss.At(j).Spans().At(k))
			}
		}
	}
}

// TestREADMEListsEveryOldKey: the README's attribute table names every old
// key the table in attributes.go converts, so the two cannot drift apart.
func TestREADMEListsEveryOldKey(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	for _, spec := range oldKeyTable() {
		assert.Contains(t, string(readme), "`"+spec.name+"`", "README.md does not list %s", spec.name)
	}
}

// TestRenameTableFits: the plain renames of one span fit rewrite.renames.
func TestRenameTableFits(t *testing.T) {
	stable := map[int]bool{}
	for _, spec := range oldKeyTable() {
		if spec.conv != convNone {
			stable[spec.stable] = true
		}
	}
	assert.LessOrEqual(t, len(stable), maxRenames)
}

// TestRouteLearningThroughTheProcessor: blog slugs through the processor
// with route learning on converge on one name, and the metrics say so.
func TestRouteLearningThroughTheProcessor(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	cfg := createDefaultConfig().(*Config)
	cfg.RouteLearning.MaxValuesPerPosition = 4 // decided after 16 requests
	p, sink := newProcessor(t, cfg, metadatatest.NewSettings(tel))
	for i := range 40 {
		td := spanIn(t, ptrace.SpanKindServer, "nginx", map[string]any{"service.name": "blog"},
			map[string]any{"http.method": "GET", "http.target": fmt.Sprintf("/posts/a-post-called-%c%c", 'a'+i%26, 'a'+i/26)})
		require.NoError(t, p.ConsumeTraces(context.Background(), td))
	}
	names := map[string]int{}
	for _, td := range sink.AllTraces() {
		forEachSpan(td, func(s ptrace.Span) { names[s.Name()]++ })
	}
	assert.Equal(t, map[string]int{"GET /{param}/{param}": 2, "GET /posts/{param}": 38}, names,
		"no slug in a name; /posts named from its third sighting")
	metadatatest.AssertEqualProcessorSpannormalizerRouteParametersLearned(t, tel, []metricdata.DataPoint[int64]{{Value: 1}},
		metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualProcessorSpannormalizerSpanNames(t, tel, []metricdata.DataPoint[int64]{
		{Value: 2, Attributes: attribute.NewSet(attribute.String("service", "blog"))},
	}, metricdatatest.IgnoreTimestamp())
}

// TestKeyIndexIsPerfect: every key of the tables has a slot of its own, so
// a lookup is one multiplication and one comparison; and every key is found
// with its class and index.
func TestKeyIndexIsPerfect(t *testing.T) {
	ix, err := newKeyIndex()
	require.NoError(t, err, "no collision-free multiplier: a key added to the tables shares its packed bytes with another")
	for i, spec := range oldKeyTable() {
		ref, ok := ix.find(spec.name)
		assert.True(t, ok && ref.class == classOld && int(ref.index) == i, spec.name)
	}
	for i, name := range stableKeyTable() {
		ref, ok := ix.find(name)
		assert.True(t, ok && ref.class == classStable && int(ref.index) == i, name)
	}
	for i, name := range tagKeyTable() {
		ref, ok := ix.find(name)
		assert.True(t, ok && ref.class == classTag && int(ref.index) == i, name)
	}
	for _, miss := range []string{"guid:x-request-id", "istio.mesh", "http.methods", "x", "zone2"} {
		_, ok := ix.find(miss)
		assert.False(t, ok, miss)
	}
}
