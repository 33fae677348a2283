package reliability

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-mesh/otelcol-mesh/testbed/harness"
	"github.com/otelcol-mesh/otelcol-mesh/testbed/temposink"
)

// twoTenantConfig runs one pipeline per tenant, each from its own OTLP
// receiver to its own exporter with a static X-Scope-OrgID, so that a span
// sent to the alpha receiver may only ever reach Tempo as tenant alpha.
// The batch processor is the shipped one; the queue is the exporter default
// except for QueueSize; retries start at 1s and back off to at most 5s so the
// recovery after Tempo returns is short.
const twoTenantConfig = `
extensions:
  health_check:
    endpoint: 127.0.0.1:{{.Health}}
receivers:
  otlp/alpha:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{{.OTLPGRPC}}
  otlp/beta:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{{.BetaGRPC}}
processors:
  memory_limiter:
    check_interval: 1s
    limit_mib: 512
    spike_limit_mib: 128
  batch:
    send_batch_size: {{.BatchSize}}
    send_batch_max_size: {{.BatchMax}}
    timeout: {{.BatchTimeout}}
exporters:
  otlp_grpc/alpha:
    endpoint: {{.Sink}}
    tls: {insecure: true}
    headers: {X-Scope-OrgID: alpha}
    retry_on_failure: {initial_interval: 1s, max_interval: 5s}
    sending_queue:
      queue_size: {{.QueueSize}}
  otlp_grpc/beta:
    endpoint: {{.Sink}}
    tls: {insecure: true}
    headers: {X-Scope-OrgID: beta}
    retry_on_failure: {initial_interval: 1s, max_interval: 5s}
    sending_queue:
      queue_size: {{.QueueSize}}
service:
  extensions: [health_check]` + telemetryBlock + `
  pipelines:
    traces/alpha:
      receivers: [otlp/alpha]
      processors: [memory_limiter, batch]
      exporters: [otlp_grpc/alpha]
    traces/beta:
      receivers: [otlp/beta]
      processors: [memory_limiter, batch]
      exporters: [otlp_grpc/beta]
`

type twoTenantData struct {
	harness.Ports
	BetaGRPC     int
	Sink         string
	BatchSize    int
	BatchMax     int
	BatchTimeout string
	QueueSize    int
}

func startTwoTenants(t *testing.T, sink *temposink.Sink, d twoTenantData) (*harness.Collector, *stream, *stream) {
	t.Helper()
	d.Ports = harness.NewPorts(t)
	d.BetaGRPC = harness.FreePort(t)
	d.Sink = sink.GRPCAddr()
	col := harness.Start(t, harness.Options{Config: harness.Render(t, twoTenantConfig, d), Ports: d.Ports})
	return col, newStream(t, 'a', d.Ports.OTLPGRPC), newStream(t, 'b', d.BetaGRPC)
}

// TestTempoOutage takes the sink down for RELIABILITY_OUTAGE (30s by
// default) under steady load from two tenants. The exporters queue and
// retry; after the sink returns every accepted span arrives exactly once,
// under its own tenant only, and nothing is counted as failed.
func TestTempoOutage(t *testing.T) {
	outage := outageDuration(t)
	sink := startSink(t, temposink.Config{GRPCAddr: "127.0.0.1:0"})
	col, alpha, beta := startTwoTenants(t, sink, twoTenantData{
		BatchSize: 1024, BatchMax: 2048, BatchTimeout: "200ms", QueueSize: 1000,
	})

	// 20 spans every 50ms per tenant: 400 spans/s each, 800 spans/s in all.
	const perReq, interval = 20, 50 * time.Millisecond
	ctx, stopLoad := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { stopLoad(); wg.Wait() }()
	alpha.steady(ctx, &wg, perReq, 0, interval)
	beta.steady(ctx, &wg, perReq, 0, interval)

	time.Sleep(2 * time.Second)
	sink.Down()
	downAt := time.Now()
	time.Sleep(outage)
	m := scrape(t, col)
	queued := exporterMetric(m, "otelcol_exporter_queue_size", "otlp_grpc/alpha") +
		exporterMetric(m, "otelcol_exporter_queue_size", "otlp_grpc/beta")
	acceptedAtUp := alpha.acceptedCount() + beta.acceptedCount()
	require.NoError(t, sink.Up())
	upAt := time.Now()

	// The backlog is delivered when the sink holds as many spans as were
	// accepted before it came back.
	recovery, ok := waitFor(60*time.Second, func() bool {
		st := sink.Stats()
		return st.Spans["alpha"]+st.Spans["beta"] >= acceptedAtUp
	})
	time.Sleep(2 * time.Second) // steady load goes on after the recovery
	stopLoad()
	wg.Wait()
	total := alpha.acceptedCount() + beta.acceptedCount()
	_, _ = waitFor(30*time.Second, func() bool {
		st := sink.Stats()
		return st.Spans["alpha"]+st.Spans["beta"] >= total
	})

	da, db := alpha.compare(sink, "alpha"), beta.compare(sink, "beta")
	m = scrape(t, col)
	t.Logf("outage %s (down at +2s) under 800 spans/s (400/s per tenant); %d requests queued in the exporters at the end of the outage; %d spans accepted before the sink came back",
		outage.Round(time.Millisecond), int(queued), acceptedAtUp)
	t.Logf("recovery: backlog delivered %s after the sink came back (ok=%v); outage+recovery %s",
		recovery.Round(time.Millisecond), ok, upAt.Sub(downAt).Round(time.Millisecond)+recovery.Round(time.Millisecond))
	t.Logf("tenant alpha: sent=%d refused=%d %s", alpha.sentCount(), alpha.refusedCount(), da)
	t.Logf("tenant beta:  sent=%d refused=%d %s", beta.sentCount(), beta.refusedCount(), db)
	t.Logf("collector: receiver accepted=%.0f refused=%.0f; exporter sent=%.0f send_failed=%.0f enqueue_failed=%.0f",
		m.Sum("otelcol_receiver_accepted_spans", nil), m.Sum("otelcol_receiver_refused_spans", nil),
		m.Sum("otelcol_exporter_sent_spans", nil), m.Sum("otelcol_exporter_send_failed_spans", nil),
		m.Sum("otelcol_exporter_enqueue_failed_spans", nil))

	require.True(t, ok, "backlog not delivered within 60s of the sink's return")
	for name, d := range map[string]delivery{"alpha": da, "beta": db} {
		assert.Zero(t, d.missing, "%s: spans lost", name)
		assert.Zero(t, d.duplicated, "%s: spans delivered twice", name)
		assert.Zero(t, d.foreign, "%s: spans that belong to another tenant", name)
		assert.Equal(t, d.accepted, d.received, name)
	}
	assert.Zero(t, alpha.refusedCount()+beta.refusedCount(), "the receiver refused nothing: the queue absorbed the outage")
	assert.Greater(t, queued, float64(0), "the exporters queued during the outage")
	assert.Zero(t, m.Sum("otelcol_exporter_send_failed_spans", nil))
	assert.Zero(t, m.Sum("otelcol_exporter_enqueue_failed_spans", nil))
	assert.Equal(t, float64(total), m.Sum("otelcol_exporter_sent_spans", nil))
	assert.Equal(t, []string{"alpha", "beta"}, sink.Tenants())
	require.NoError(t, col.Stop(30*time.Second))
}

// TestQueueOverflowIsCounted makes the outage outlast a small queue. The
// batch processor has already acknowledged the spans to the sender when the
// exporter's queue refuses them, so the loss is only visible in the
// collector's own metrics: every accepted span is either delivered after the
// outage or counted in otelcol_exporter_enqueue_failed_spans, exactly.
func TestQueueOverflowIsCounted(t *testing.T) {
	const queueSize, perReq = 5, 100
	sink := startSink(t, temposink.Config{GRPCAddr: "127.0.0.1:0"})
	// One 100-span request per batch: batch size = request size, long timeout.
	col, alpha, _ := startTwoTenants(t, sink, twoTenantData{
		BatchSize: perReq, BatchMax: perReq, BatchTimeout: "10s", QueueSize: queueSize,
	})

	sink.Down()
	ctx, stopLoad := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { stopLoad(); wg.Wait() }()
	alpha.steady(ctx, &wg, perReq, 0, 50*time.Millisecond) // 2000 spans/s
	time.Sleep(6 * time.Second)
	stopLoad()
	wg.Wait()
	m := scrape(t, col)
	queued := exporterMetric(m, "otelcol_exporter_queue_size", "otlp_grpc/alpha")
	capacity := exporterMetric(m, "otelcol_exporter_queue_capacity", "otlp_grpc/alpha")
	require.NoError(t, sink.Up())

	accepted := alpha.acceptedCount()
	var dropped float64
	recovery, ok := waitFor(60*time.Second, func() bool {
		m := scrape(t, col)
		dropped = exporterMetric(m, "otelcol_exporter_enqueue_failed_spans", "otlp_grpc/alpha")
		return float64(sink.SpanCount("alpha"))+dropped >= float64(accepted)
	})
	d := alpha.compare(sink, "alpha")
	m = scrape(t, col)
	t.Logf("overflow: queue_size=%d requests (capacity metric %.0f), %d spans/request, 2000 spans/s for 6s with the sink down",
		queueSize, capacity, perReq)
	t.Logf("overflow: queue_size metric at the end of the outage %.0f; sent=%d %s; enqueue_failed=%.0f; buffered and delivered after recovery=%d (= %.1f requests of %d spans); recovered in %s",
		queued, alpha.sentCount(), d, dropped, d.received, float64(d.received)/perReq, perReq, recovery.Round(time.Millisecond))

	t.Logf("overflow: collector receiver accepted=%.0f; exporter sent=%.0f send_failed=%.0f enqueue_failed=%.0f",
		m.Sum("otelcol_receiver_accepted_spans", nil), exporterMetric(m, "otelcol_exporter_sent_spans", "otlp_grpc/alpha"),
		exporterMetric(m, "otelcol_exporter_send_failed_spans", "otlp_grpc/alpha"), dropped)
	require.True(t, ok, "accepted spans neither delivered nor counted as dropped")
	assert.Greater(t, dropped, float64(0), "the outage outlasted the queue")
	assert.Equal(t, float64(d.missing), dropped, "every lost span is counted, and only those")
	assert.Zero(t, d.duplicated)
	assert.Zero(t, d.foreign)
	assert.Equal(t, float64(queueSize), capacity)
	assert.Equal(t, float64(d.received), exporterMetric(m, "otelcol_exporter_sent_spans", "otlp_grpc/alpha"))
	require.NoError(t, col.Stop(30*time.Second))
}
