package tenantroutingprocessor

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// benchTraces is a 1,050-span request: resources of the given namespaces with
// 50 spans each, plus (if edge) one gateway resource whose spans alternate
// between a team destination and none.
func benchTraces(b *testing.B, namespaces []string, edge bool) ptrace.Traces {
	var res []resSpec
	for i, n := range namespaces {
		sp := make([]spanSpec, 50)
		for k := range sp {
			sp[k] = spanSpec{name: fmt.Sprintf("r%d-%d", i, k), attrs: map[string]any{"http.request.method": "GET", "url.path": "/api"}}
		}
		res = append(res, resSpec{attrs: map[string]any{namespaceAttribute: n, "service.name": "svc", "k8s.pod.name": "pod"}, spans: sp})
	}
	if edge {
		sp := make([]spanSpec, 50)
		for k := range sp {
			sp[k] = spanSpec{name: fmt.Sprintf("gw-%d", k), attrs: map[string]any{"http.request.method": "GET"}}
			if k%2 == 0 {
				sp[k].attrs["mesh.destination.namespace"] = fmt.Sprintf("team-%d", k%5)
			}
		}
		res = append(res, resSpec{attrs: map[string]any{namespaceAttribute: "istio-system", "service.name": "gw"}, spans: sp})
	}
	return buildTraces(b, res...)
}

// benchmarkRouting routes fresh copies of the template: routing moves spans
// out of its input, so no iteration may see data an earlier one consumed.
// Copies are made in chunks outside the timer (stopping the timer per
// iteration costs more than routing).
func benchmarkRouting(b *testing.B, namespaces []string, edge bool) {
	p := newTestProcessor(b, meshConfig(), consumertest.NewNop())
	tmpl := benchTraces(b, namespaces, edge)
	ctx := context.Background()
	var fresh []ptrace.Traces
	b.ReportAllocs()
	for b.Loop() {
		if len(fresh) == 0 {
			b.StopTimer()
			fresh = make([]ptrace.Traces, 64)
			for i := range fresh {
				fresh[i] = ptrace.NewTraces()
				tmpl.CopyTo(fresh[i])
			}
			b.StartTimer()
		}
		td := fresh[len(fresh)-1]
		fresh = fresh[:len(fresh)-1]
		require.NoError(b, p.ConsumeTraces(ctx, td))
	}
	b.ReportMetric(float64(tmpl.SpanCount()), "spans/op")
}

// BenchmarkRoutingSingleTenant measures the pass-through path, which leaves
// its input untouched, so the same request is routed every iteration.
func BenchmarkRoutingSingleTenant(b *testing.B) {
	ns := make([]string, 20)
	for i := range ns {
		ns[i] = "team-alpha"
	}
	p := newTestProcessor(b, meshConfig(), consumertest.NewNop())
	td := benchTraces(b, ns, false)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		require.NoError(b, p.ConsumeTraces(ctx, td))
	}
	require.Equal(b, 1000, td.SpanCount(), "input untouched")
	b.ReportMetric(float64(td.SpanCount()), "spans/op")
}

func BenchmarkRoutingFiveTenants(b *testing.B) {
	ns := make([]string, 20)
	for i := range ns {
		ns[i] = fmt.Sprintf("team-%d", i%5)
	}
	benchmarkRouting(b, ns, false)
}

func BenchmarkRoutingFiveTenantsWithEdge(b *testing.B) {
	ns := make([]string, 20)
	for i := range ns {
		ns[i] = fmt.Sprintf("team-%d", i%5)
	}
	benchmarkRouting(b, ns, true)
}
