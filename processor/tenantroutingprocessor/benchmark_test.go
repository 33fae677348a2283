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

func benchmarkRouting(b *testing.B, namespaces []string, edge bool) {
	p := newTestProcessor(b, meshConfig(), consumertest.NewNop())
	tmpl := benchTraces(b, namespaces, edge)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		td := ptrace.NewTraces()
		tmpl.CopyTo(td) // every iteration routes fresh data
		b.StartTimer()
		require.NoError(b, p.ConsumeTraces(ctx, td))
	}
	b.ReportMetric(float64(tmpl.SpanCount()), "spans/op")
}

func BenchmarkRoutingSingleTenant(b *testing.B) {
	ns := make([]string, 20)
	for i := range ns {
		ns[i] = "team-alpha"
	}
	benchmarkRouting(b, ns, false)
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
