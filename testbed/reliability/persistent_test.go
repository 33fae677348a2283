package reliability

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-mesh/otelcol-mesh/testbed/harness"
	"github.com/otelcol-mesh/otelcol-mesh/testbed/temposink"
)

// recommendedQueue is the exporter queue the README recommends for the
// shipped configs (indented for an exporter block). Batching happens in the
// exporter, after the queue, and is capped by bytes so that no export can
// exceed Tempo's 4 MiB gRPC limit however large the spans are; the queue is
// sized in spans so its capacity does not depend on how senders batch.
// {{.Storage}} is "" (in-memory queue) or "storage: file_storage".
const recommendedQueue = `
    retry_on_failure:
      enabled: true
      initial_interval: 1s
      max_interval: 5s
      max_elapsed_time: 300s
    sending_queue:
      enabled: true
      {{.Storage}}
      sizer: items
      queue_size: 200000
      num_consumers: 10
      batch:
        sizer: bytes
        flush_timeout: 200ms
        min_size: 1048576
        max_size: 3145728`

// recommendedQueueNoStorage is recommendedQueue with the in-memory queue,
// for configs rendered without a Storage field.
var recommendedQueueNoStorage = strings.Replace(recommendedQueue, "\n      {{.Storage}}", "", 1)

// persistentConfig is two tenants, each with its own receiver, pipeline and
// exporter with a persistent queue in one file_storage directory, and no
// batch processor: the receiver answers OK only once the request is written
// to the queue on disk.
const persistentConfig = `
extensions:
  health_check:
    endpoint: 127.0.0.1:{{.Health}}
  file_storage:
    directory: {{.StorageDir}}
receivers:
  otlp/alpha:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{{.OTLPGRPC}}
  otlp/beta:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{{.BetaGRPC}}
exporters:
  otlp_grpc/alpha:
    endpoint: {{.Sink}}
    tls: {insecure: true}
    headers: {X-Scope-OrgID: alpha}` + recommendedQueue + `
  otlp_grpc/beta:
    endpoint: {{.Sink}}
    tls: {insecure: true}
    headers: {X-Scope-OrgID: beta}` + recommendedQueue + `
service:
  extensions: [health_check, file_storage]` + telemetryBlock + `
  pipelines:
    traces/alpha:
      receivers: [otlp/alpha]
      exporters: [otlp_grpc/alpha]
    traces/beta:
      receivers: [otlp/beta]
      exporters: [otlp_grpc/beta]
`

type persistentData struct {
	harness.Ports
	BetaGRPC   int
	Sink       string
	StorageDir string
	Storage    string
}

// killResult is what one kill-and-restart run measured.
type killResult struct {
	accepted         int // spans accepted while the sink was down
	queued, requeued float64
	restarted        time.Duration
	recovery         time.Duration
	delivered        bool
	alpha, beta      delivery
	unauthenticated  int
	tenants          []string
}

// killAndRestart accepts 4000 spans per tenant while the sink is down, kills
// the collector with SIGKILL, starts it again on the same config (and
// storage directory) and brings the sink back, then waits up to
// deliveryWait for the backlog.
func killAndRestart(t *testing.T, storage string, deliveryWait time.Duration) killResult {
	t.Helper()
	sink := startSink(t, temposink.Config{GRPCAddr: "127.0.0.1:0"})
	d := persistentData{
		Ports: harness.NewPorts(t), BetaGRPC: harness.FreePort(t), Sink: sink.GRPCAddr(),
		StorageDir: t.TempDir(), Storage: storage,
	}
	cfg := harness.Render(t, persistentConfig, d)
	col := harness.Start(t, harness.Options{Config: cfg, Ports: d.Ports})
	alpha, beta := newStream(t, 'a', d.Ports.OTLPGRPC), newStream(t, 'b', d.BetaGRPC)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// Warm-up with the sink up: the queue delivers as usual.
	for i := 0; i < 5; i++ {
		require.NoError(t, alpha.send(ctx, 100, 0))
		require.NoError(t, beta.send(ctx, 100, 0))
	}
	_, ok := waitFor(30*time.Second, func() bool { return sink.SpanCount("alpha") == 500 && sink.SpanCount("beta") == 500 })
	require.True(t, ok, "warm-up spans not delivered: %v", sink.Stats().Spans)
	// Delivered is not yet done: the queue forgets a request only once the
	// export call has returned. Kill before that and it is sent again.
	_, ok = waitFor(30*time.Second, func() bool {
		m := scrape(t, col)
		return exporterMetric(m, "otelcol_exporter_queue_size", "otlp_grpc/alpha")+
			exporterMetric(m, "otelcol_exporter_queue_size", "otlp_grpc/beta") == 0
	})
	require.True(t, ok, "warm-up requests still queued")

	sink.Down()
	const requests, perReq = 40, 100
	for i := 0; i < requests; i++ {
		require.NoError(t, alpha.send(ctx, perReq, 200))
		require.NoError(t, beta.send(ctx, perReq, 200))
	}
	var r killResult
	r.accepted = 2 * requests * perReq
	m := scrape(t, col)
	r.queued = exporterMetric(m, "otelcol_exporter_queue_size", "otlp_grpc/alpha") +
		exporterMetric(m, "otelcol_exporter_queue_size", "otlp_grpc/beta")
	col.Kill()
	killedAt := time.Now()

	col2 := harness.Start(t, harness.Options{Config: cfg, Ports: d.Ports})
	r.restarted = time.Since(killedAt)
	m = scrape(t, col2)
	r.requeued = exporterMetric(m, "otelcol_exporter_queue_size", "otlp_grpc/alpha") +
		exporterMetric(m, "otelcol_exporter_queue_size", "otlp_grpc/beta")
	require.NoError(t, sink.Up())
	want := alpha.acceptedCount() + beta.acceptedCount()
	r.recovery, r.delivered = waitFor(deliveryWait, func() bool {
		st := sink.Stats()
		return st.Spans["alpha"]+st.Spans["beta"] >= want
	})
	time.Sleep(time.Second) // let a duplicate show up if there is one
	r.alpha, r.beta = alpha.compare(sink, "alpha"), beta.compare(sink, "beta")
	r.unauthenticated = sink.Stats().Unauthenticated
	r.tenants = sink.Tenants()
	require.NoError(t, col2.Stop(30*time.Second))
	return r
}

// TestPersistentQueueSurvivesSIGKILL: with the file_storage queue, every
// span accepted before the kill arrives once after the restart, under its
// own tenant only.
func TestPersistentQueueSurvivesSIGKILL(t *testing.T) {
	r := killAndRestart(t, "storage: file_storage", 60*time.Second)
	t.Logf("persistent queue: %d spans (%d per tenant) accepted while the sink was down; exporter queue size before SIGKILL %.0f spans, after restart %.0f spans",
		r.accepted, r.accepted/2, r.queued, r.requeued)
	t.Logf("persistent queue: restart healthy %s after SIGKILL; backlog delivered %s after the sink came back (ok=%v)",
		r.restarted.Round(time.Millisecond), r.recovery.Round(time.Millisecond), r.delivered)
	t.Logf("tenant alpha (incl. 500 warm-up spans): %s", r.alpha)
	t.Logf("tenant beta  (incl. 500 warm-up spans): %s", r.beta)

	require.True(t, r.delivered, "backlog not delivered after restart")
	for name, d := range map[string]delivery{"alpha": r.alpha, "beta": r.beta} {
		assert.Zero(t, d.missing, "%s: spans lost", name)
		assert.Zero(t, d.duplicated, "%s: spans delivered twice", name)
		assert.Zero(t, d.foreign, "%s: spans of another tenant", name)
	}
	assert.Equal(t, float64(r.accepted), r.queued)
	assert.Equal(t, float64(r.accepted), r.requeued, "the restarted collector found the whole backlog on disk")
	assert.Zero(t, r.unauthenticated, "every export after the restart carried its tenant header")
	assert.Equal(t, []string{"alpha", "beta"}, r.tenants)
}

// TestMemoryQueueLosesOnSIGKILL is the control: the same run with the
// in-memory queue loses the whole backlog, which is what the persistent
// queue is for.
func TestMemoryQueueLosesOnSIGKILL(t *testing.T) {
	r := killAndRestart(t, "", 3*time.Second)
	t.Logf("in-memory queue (control): %d spans accepted while the sink was down, queue size before SIGKILL %.0f, after restart %.0f; alpha %s; beta %s",
		r.accepted, r.queued, r.requeued, r.alpha, r.beta)
	assert.Equal(t, float64(r.accepted), r.queued)
	assert.Zero(t, r.requeued)
	assert.Equal(t, r.accepted, r.alpha.missing+r.beta.missing, "the in-memory backlog died with the process")
}
