package reliability

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-mesh/otelcol-mesh/testbed/harness"
	"github.com/otelcol-mesh/otelcol-mesh/testbed/temposink"
)

// oversizeConfig fans one receiver out to four pipelines, each to the same
// 4 MiB sink under its own tenant:
//   - control:   batch processor with 8192 spans and no cap, default exporter
//     queue (the setting measured in issue 7);
//   - batchonly: the shipped batch processor (1024/2048 spans), default queue;
//   - ours:      the shipped batch processor + the recommended exporter queue
//     (sending_queue.batch, sizer bytes, max_size 3 MiB);
//   - ours8192:  the 8192-span batch processor + the recommended queue, to
//     show that the byte cap alone is enough.
var oversizeConfig = `
extensions:
  health_check:
    endpoint: 127.0.0.1:{{.Health}}
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{{.OTLPGRPC}}
processors:
  batch/8192:
    send_batch_size: 8192
    timeout: 10s
  batch:
    send_batch_size: 1024
    send_batch_max_size: 2048
    timeout: 200ms
exporters:
  otlp_grpc/control:
    endpoint: {{.Sink}}
    tls: {insecure: true}
    headers: {X-Scope-OrgID: control}
  otlp_grpc/batchonly:
    endpoint: {{.Sink}}
    tls: {insecure: true}
    headers: {X-Scope-OrgID: batchonly}
  otlp_grpc/ours:
    endpoint: {{.Sink}}
    tls: {insecure: true}
    headers: {X-Scope-OrgID: ours}` + recommendedQueueNoStorage + `
  otlp_grpc/ours8192:
    endpoint: {{.Sink}}
    tls: {insecure: true}
    headers: {X-Scope-OrgID: ours8192}` + recommendedQueueNoStorage + `
service:
  extensions: [health_check]` + telemetryBlock + `
  pipelines:
    traces/control:
      receivers: [otlp]
      processors: [batch/8192]
      exporters: [otlp_grpc/control]
    traces/batchonly:
      receivers: [otlp]
      processors: [batch]
      exporters: [otlp_grpc/batchonly]
    traces/ours:
      receivers: [otlp]
      processors: [batch]
      exporters: [otlp_grpc/ours]
    traces/ours8192:
      receivers: [otlp]
      processors: [batch/8192]
      exporters: [otlp_grpc/ours8192]
`

// TestOversizedBatches sends 16384 spans of ~520 bytes and then 8192 spans of
// ~5 KiB. Against the 4 MiB sink, the 8192-span batch loses them all and the
// shipped batch processor alone loses the large ones (all counted as
// send_failed); with the exporter's byte-capped batching every span arrives
// once and no export exceeds 3 MiB.
func TestOversizedBatches(t *testing.T) {
	sink := startSink(t, temposink.Config{GRPCAddr: "127.0.0.1:0"})
	ports := harness.NewPorts(t)
	col := harness.Start(t, harness.Options{
		Config: harness.Render(t, oversizeConfig, smokeData{Ports: ports, Sink: sink.GRPCAddr()}),
		Ports:  ports,
	})
	src := newStream(t, 'o', ports.OTLPGRPC)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	var sizer ptrace.ProtoMarshaler
	perSpan := func(payload int) float64 {
		return float64(sizer.TracesSize(makeTraces("svc-o", 'o', 0, 512, payload))) / 512
	}
	// Pad the small spans to ~520 bytes each, as measured in issue 7.
	smallPayload := 520 - int(perSpan(0)) - 18 // 18: the test.payload key and framing
	const smallSpans, smallReq, largeSpans, largeReq, largePayload = 16384, 512, 8192, 512, 5000
	for i := 0; i < smallSpans/smallReq; i++ {
		require.NoError(t, src.send(ctx, smallReq, smallPayload))
	}
	for i := 0; i < largeSpans/largeReq; i++ {
		require.NoError(t, src.send(ctx, largeReq, largePayload))
	}
	total := smallSpans + largeSpans
	exporters := []string{"control", "batchonly", "ours", "ours8192"}
	var m harness.Metrics
	_, ok := waitFor(90*time.Second, func() bool {
		m = scrape(t, col)
		for _, e := range exporters {
			id := "otlp_grpc/" + e
			if exporterMetric(m, "otelcol_exporter_sent_spans", id)+exporterMetric(m, "otelcol_exporter_send_failed_spans", id) < float64(total) {
				return false
			}
		}
		return true
	})
	t.Logf("sent %d spans of %.0f bytes (in requests of %d) then %d spans of %.0f bytes (requests of %d), %d in all",
		smallSpans, perSpan(smallPayload), smallReq, largeSpans, perSpan(largePayload), largeReq, total)
	results := map[string]delivery{}
	for _, e := range exporters {
		d := src.compare(sink, e)
		results[e] = d
		var maxReq, requests int
		for _, td := range sink.Traces(e) {
			requests++
			maxReq = max(maxReq, sizer.TracesSize(td))
		}
		id := "otlp_grpc/" + e
		t.Logf("%-10s delivered=%d/%d lost=%d (%.1f%%) duplicated=%d sent=%.0f send_failed=%.0f; %d exports arrived, largest %d bytes (%.2f MiB)",
			e, d.received, total, d.missing, 100*float64(d.missing)/float64(total), d.duplicated,
			exporterMetric(m, "otelcol_exporter_sent_spans", id), exporterMetric(m, "otelcol_exporter_send_failed_spans", id),
			requests, maxReq, float64(maxReq)/(1<<20))
		if e == "ours" || e == "ours8192" {
			assert.LessOrEqual(t, maxReq, 3<<20, "%s: no export over the 3 MiB cap", e)
		}
	}
	require.True(t, ok, "not every span was accounted for as sent or failed")
	assert.Equal(t, total, results["control"].missing, "control: 8192 x 520 B > 4 MiB, every batch refused")
	// Two 512-span requests of 5 KiB spans fill a 1024-span batch: 5.2 MB.
	// How many such batches form before the 200ms timeout depends on timing.
	assert.Positive(t, results["batchonly"].missing, "batch processor alone: large spans are lost")
	assert.LessOrEqual(t, results["batchonly"].missing, largeSpans, "batch processor alone: only large spans are lost")
	for _, e := range []string{"control", "batchonly"} {
		assert.Equal(t, float64(results[e].missing), exporterMetric(m, "otelcol_exporter_send_failed_spans", "otlp_grpc/"+e), "%s: the loss is counted", e)
	}
	for _, e := range []string{"ours", "ours8192"} {
		assert.Zero(t, results[e].missing, "%s: nothing lost", e)
		assert.Zero(t, results[e].duplicated, e)
		assert.Equal(t, total, results[e].received, e)
		assert.Zero(t, exporterMetric(m, "otelcol_exporter_send_failed_spans", "otlp_grpc/"+e), e)
	}
	assert.Zero(t, sink.Stats().Unauthenticated)
	require.NoError(t, col.Stop(30*time.Second))
}
