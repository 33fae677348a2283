package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/otelcol-mesh/otelcol-mesh/testbed/harness"
	"github.com/otelcol-mesh/otelcol-mesh/testbed/temposink"
)

func startSink(t *testing.T) *temposink.Sink {
	t.Helper()
	sink, err := temposink.Start(temposink.Config{GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0"})
	require.NoError(t, err)
	t.Cleanup(sink.Stop)
	return sink
}

// sendWithSDK emits n spans through a real OpenTelemetry SDK exporter and
// flushes them before returning.
func sendWithSDK(t *testing.T, exporter sdktrace.SpanExporter, transport string, n int) {
	t.Helper()
	res := resource.NewSchemaless(attribute.String("service.name", "smoke-"+transport))
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter), sdktrace.WithResource(res))
	tracer := tp.Tracer("smoke")
	for i := 0; i < n; i++ {
		_, span := tracer.Start(context.Background(), fmt.Sprintf("op-%d", i))
		span.SetAttributes(
			attribute.String("test.transport", transport),
			attribute.Int("test.seq", i),
			attribute.Bool("test.flag", i%2 == 0),
			attribute.Float64("test.ratio", float64(i)/4),
			attribute.StringSlice("test.tags", []string{"a", "b"}),
		)
		span.End()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, tp.Shutdown(ctx), "SDK flush")
}

// TestSmokeEverySpanArrivesOnce runs the ocb-built binary between a real
// OTLP client (gRPC and HTTP) and the Tempo-like sink, and checks that every
// span arrives exactly once with its attributes, under the configured tenant,
// and that the collector exits cleanly on SIGTERM.
func TestSmokeEverySpanArrivesOnce(t *testing.T) {
	sink := startSink(t)
	ports := harness.NewPorts(t)
	col := harness.Start(t, harness.Options{
		ConfigFiles: harness.OwnPipeline(t, "otlp-http.yaml", "e2e/smoke.yaml"),
		Ports:       ports,
		Env:         map[string]string{"SINK_GRPC": sink.GRPCAddr()},
	})

	const perTransport = 300
	ctx := context.Background()
	grpcExp, err := otlptracegrpc.New(ctx,
		otlptracegrpc.WithEndpoint(fmt.Sprintf("127.0.0.1:%d", ports.OTLPGRPC)), otlptracegrpc.WithInsecure())
	require.NoError(t, err)
	sendWithSDK(t, grpcExp, "grpc", perTransport)

	httpExp, err := otlptracehttp.New(ctx,
		otlptracehttp.WithEndpoint(fmt.Sprintf("127.0.0.1:%d", ports.OTLPHTTP)), otlptracehttp.WithInsecure())
	require.NoError(t, err)
	sendWithSDK(t, httpExp, "http", perTransport)

	require.Eventually(t, func() bool { return sink.SpanCount("smoke") >= 2*perTransport },
		30*time.Second, 50*time.Millisecond, "spans at the sink: %v", sink.Stats().Spans)

	seen := map[string]int{}
	for _, td := range sink.Traces("smoke") {
		rss := td.ResourceSpans()
		for i := 0; i < rss.Len(); i++ {
			rs := rss.At(i)
			svc, _ := rs.Resource().Attributes().Get("service.name")
			sss := rs.ScopeSpans()
			for j := 0; j < sss.Len(); j++ {
				spans := sss.At(j).Spans()
				for k := 0; k < spans.Len(); k++ {
					span := spans.At(k)
					attrs := span.Attributes()
					transport, _ := attrs.Get("test.transport")
					seq, _ := attrs.Get("test.seq")
					key := fmt.Sprintf("%s/%d", transport.Str(), seq.Int())
					seen[key]++
					assert.Equal(t, "smoke-"+transport.Str(), svc.Str())
					assert.Equal(t, fmt.Sprintf("op-%d", seq.Int()), span.Name())
					flag, _ := attrs.Get("test.flag")
					assert.Equal(t, pcommon.ValueTypeBool, flag.Type())
					assert.Equal(t, seq.Int()%2 == 0, flag.Bool(), key)
					ratio, _ := attrs.Get("test.ratio")
					assert.InDelta(t, float64(seq.Int())/4, ratio.Double(), 1e-9, key)
					tags, _ := attrs.Get("test.tags")
					assert.Equal(t, []any{"a", "b"}, tags.Slice().AsRaw(), key)
				}
			}
		}
	}
	for _, transport := range []string{"grpc", "http"} {
		for i := 0; i < perTransport; i++ {
			assert.Equal(t, 1, seen[fmt.Sprintf("%s/%d", transport, i)], "span %s/%d", transport, i)
		}
	}
	assert.Len(t, seen, 2*perTransport, "no unexpected spans")
	stats := sink.Stats()
	assert.Equal(t, 0, stats.Unauthenticated, "every export carried the tenant header")
	assert.Equal(t, []string{"smoke"}, sink.Tenants())

	scrapeCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	metrics, err := col.Metrics(scrapeCtx)
	require.NoError(t, err)
	assert.Equal(t, float64(2*perTransport), metrics.Sum("otelcol_receiver_accepted_spans", nil))
	assert.Equal(t, float64(0), metrics.Sum("otelcol_receiver_refused_spans", nil))
	assert.Equal(t, float64(2*perTransport), metrics.Sum("otelcol_exporter_sent_spans", nil))

	require.NoError(t, col.Stop(30*time.Second), "clean exit on SIGTERM")
}
