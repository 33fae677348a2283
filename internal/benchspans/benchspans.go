// Package benchspans runs a trace consumer over the same batch in a
// benchmark and reports the cost per span, so that benchmarks of different
// modules (spannormalizer's own, the OTTL comparison in the testbed) measure
// alike and can be compared.
package benchspans // import "github.com/otelcol-mesh/otelcol-mesh/internal/benchspans"

import (
	"context"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-mesh/otelcol-mesh/internal/spanwalk"
)

// Run copies in into a reused destination every iteration, then hands it to
// p (nil: the copy alone, the baseline to subtract), and reports ns/span and
// allocs/span over in's span count.
func Run(b *testing.B, in ptrace.Traces, p consumer.Traces) {
	spans := in.SpanCount()
	dst := ptrace.NewTraces()
	ctx := context.Background()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ReportAllocs()
	for b.Loop() {
		in.CopyTo(dst)
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

// MixCases are the golden cases (spannormalizer's testdata) a benchmark mix
// holds one of per round: sidecar inbound, sidecar outbound error, gateway,
// two nginx, one app span.
var MixCases = []string{
	"istio-sidecar-inbound", "istio-sidecar-outbound-error", "istio-gateway",
	"nginx-ingress", "nginx-ingress-error", "app-span",
}

// Mix is a realistic batch: rounds copies of cases (the inputs of
// MixCases, in order), with the numeric path IDs varied per round so that
// names are learned, not repeated. 20 rounds = 120 spans.
func Mix(cases []ptrace.Traces, rounds int) ptrace.Traces {
	td := ptrace.NewTraces()
	for round := 0; round < rounds; round++ {
		id := strconv.Itoa(1000 + round)
		for _, c := range cases {
			in := ptrace.NewTraces()
			c.CopyTo(in)
			spanwalk.Each(in, func(s ptrace.Span) { VaryIDs(s.Attributes(), id) })
			in.ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
		}
	}
	return td
}

// pathKeys are the golden inputs' attributes that hold a path with IDs.
var pathKeys = [...]string{"http.url", "http.target"}

// VaryIDs puts id in place of the numeric path IDs of the golden inputs'
// http.url and http.target (/reviews/0, /items/42).
func VaryIDs(m pcommon.Map, id string) {
	for _, k := range pathKeys {
		if v, ok := m.Get(k); ok {
			s := strings.Replace(v.Str(), "/reviews/0", "/reviews/"+id, 1)
			s = strings.Replace(s, "/items/42", "/items/"+id, 1)
			v.SetStr(s)
		}
	}
}
