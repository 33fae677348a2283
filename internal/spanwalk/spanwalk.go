// Package spanwalk visits every span of a ptrace.Traces, the walk the
// tests, benchmarks and testbed tools of this repository share.
package spanwalk // import "github.com/otelcol-mesh/otelcol-mesh/internal/spanwalk"

import "go.opentelemetry.io/collector/pdata/ptrace"

// Each calls f for every span of td in wire order (resource, scope, span).
func Each(td ptrace.Traces, f func(ptrace.Span)) {
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				f(spans.At(k))
			}
		}
	}
}
