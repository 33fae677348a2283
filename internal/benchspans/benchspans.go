// Package benchspans runs a trace consumer over the same batch in a
// benchmark and reports the cost per span, so that benchmarks of different
// modules (spannormalizer's own, the OTTL comparison in the testbed) measure
// alike and can be compared.
package benchspans // import "github.com/otelcol-mesh/otelcol-mesh/internal/benchspans"

import (
	"context"
	"runtime"
	"testing"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/ptrace"
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
