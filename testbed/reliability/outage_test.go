package reliability

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-mesh/otelcol-mesh/testbed/harness"
	"github.com/otelcol-mesh/otelcol-mesh/testbed/temposink"
)

// startTwoTenants runs testdata/reliability/two-tenants.yaml (one receiver,
// pipeline and exporter per tenant) with the overlays against sink and
// returns a stream to each tenant's receiver.
func startTwoTenants(t *testing.T, sink *temposink.Sink, overlays ...string) (*harness.Collector, *stream, *stream, *stream) {
	t.Helper()
	betaGRPC, gammaGRPC := harness.FreePort(t), harness.FreePort(t)
	env := sinkEnv(sink)
	env["SINK_HTTP"] = sink.HTTPAddr()
	env["BETA_GRPC_ENDPOINT"] = fmt.Sprintf("127.0.0.1:%d", betaGRPC)
	env["GAMMA_GRPC_ENDPOINT"] = fmt.Sprintf("127.0.0.1:%d", gammaGRPC)
	opts := ownPipeline(t, env, append([]string{"reliability/two-tenants.yaml"}, overlays...)...)
	col := harness.Start(t, opts)
	return col, newStream(t, 'a', opts.Ports.OTLPGRPC), newStream(t, 'b', betaGRPC), newStream(t, 'c', gammaGRPC)
}

// TestTempoOutage takes the sink down for RELIABILITY_OUTAGE (30s by
// default) under steady load from two tenants. The exporters queue and
// retry; after the sink returns every accepted span arrives exactly once,
// under its own tenant only, and nothing is counted as failed.
func TestTempoOutage(t *testing.T) {
	outage := outageDuration(t)
	sink := startSink(t, temposink.Config{})
	col, alpha, beta, gamma := startTwoTenants(t, sink)
	tenants := []struct {
		name, exporter string
		s              *stream
	}{{"alpha", "otlp_grpc/alpha", alpha}, {"beta", "otlp_grpc/beta", beta}, {"gamma", "otlp_http/gamma", gamma}}

	// 20 spans every 50ms per tenant: 400 spans/s each, 1200 spans/s in all.
	const perReq, interval = 20, 50 * time.Millisecond
	ctx, stopLoad := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { stopLoad(); wg.Wait() }()
	for _, tn := range tenants {
		tn.s.steady(ctx, &wg, perReq, 0, interval)
	}

	time.Sleep(2 * time.Second)
	sink.Down()
	time.Sleep(outage)
	m := scrape(t, col)
	queued := map[string]float64{}
	acceptedAtUp := map[string]int{}
	for _, tn := range tenants {
		queued[tn.name] = exporterMetric(m, "otelcol_exporter_queue_size", tn.exporter)
		acceptedAtUp[tn.name] = tn.s.acceptedCount()
	}
	require.NoError(t, sink.Up())
	upAt := time.Now()

	// A tenant's backlog is delivered when the sink holds as many of its
	// spans as had been accepted before the sink came back.
	recovered := map[string]time.Duration{}
	_, ok := waitFor(3*time.Minute, func() bool {
		st := sink.Stats()
		for _, tn := range tenants {
			if _, done := recovered[tn.name]; !done && st.Spans[tn.name] >= acceptedAtUp[tn.name] {
				recovered[tn.name] = time.Since(upAt)
			}
		}
		return len(recovered) == len(tenants)
	})
	time.Sleep(2 * time.Second) // steady load goes on after the recovery
	stopLoad()
	wg.Wait()
	// Wait on the exporters' counters (they move after the sink answered).
	_, _ = waitFor(30*time.Second, func() bool {
		m = scrape(t, col)
		for _, tn := range tenants {
			if exporterMetric(m, "otelcol_exporter_sent_spans", tn.exporter) < float64(tn.s.acceptedCount()) {
				return false
			}
		}
		return true
	})

	t.Logf("outage %s (down at +2s) under 1200 spans/s (400/s per tenant; alpha and beta over gRPC, gamma over HTTP)", outage.Round(time.Millisecond))
	results := map[string]delivery{}
	total := 0
	for _, tn := range tenants {
		d := tn.s.compare(sink, tn.name)
		results[tn.name] = d
		total += tn.s.acceptedCount()
		t.Logf("tenant %-5s (%s): %.0f requests queued at the end of the outage, %d spans accepted before the sink came back; backlog delivered %s after it came back; sent=%d refused=%d %s",
			tn.name, tn.exporter, queued[tn.name], acceptedAtUp[tn.name], recovered[tn.name].Round(time.Millisecond), tn.s.sentCount(), tn.s.refusedCount(), d)
	}
	t.Logf("collector: receiver accepted=%.0f refused=%.0f; exporter sent=%.0f send_failed=%.0f enqueue_failed=%.0f",
		m.Sum("otelcol_receiver_accepted_spans", nil), m.Sum("otelcol_receiver_refused_spans", nil),
		m.Sum("otelcol_exporter_sent_spans", nil), m.Sum("otelcol_exporter_send_failed_spans", nil),
		m.Sum("otelcol_exporter_enqueue_failed_spans", nil))

	require.True(t, ok, "backlog not delivered within 3 min of the sink's return")
	for name, d := range results {
		assert.Zero(t, d.missing, "%s: spans lost", name)
		assert.Zero(t, d.duplicated, "%s: spans delivered twice", name)
		assert.Zero(t, d.foreign, "%s: spans that belong to another tenant", name)
		assert.Equal(t, d.accepted, d.received, name)
	}
	for _, tn := range tenants {
		assert.Zero(t, tn.s.refusedCount(), "%s: the receiver refused nothing, the queue absorbed the outage", tn.name)
		assert.Positive(t, queued[tn.name], "%s: the exporter queued during the outage", tn.name)
	}
	assert.Zero(t, m.Sum("otelcol_exporter_send_failed_spans", nil))
	assert.Zero(t, m.Sum("otelcol_exporter_enqueue_failed_spans", nil))
	assert.Equal(t, float64(total), m.Sum("otelcol_exporter_sent_spans", nil))
	assert.Equal(t, []string{"alpha", "beta", "gamma"}, sink.Tenants())
	require.NoError(t, col.Stop(30*time.Second))
}

// TestQueueOverflowIsCounted makes the outage outlast a small queue. The
// batch processor has already acknowledged the spans to the sender when the
// exporter's queue refuses them, so the loss is only visible in the
// collector's own metrics: every accepted span is either delivered after the
// outage or counted in otelcol_exporter_enqueue_failed_spans, exactly.
func TestQueueOverflowIsCounted(t *testing.T) {
	const queueSize, perReq = 5, 100
	sink := startSink(t, temposink.Config{})
	// One 100-span request per batch: batch size = request size, long
	// timeout; a queue of queueSize batches (queue-overflow.yaml).
	col, alpha, _, _ := startTwoTenants(t, sink, "reliability/queue-overflow.yaml")

	o := outlastTheQueue(t, sink, col, alpha, "otlp_grpc/alpha", perReq)
	queued, capacity, dropped, recovery, ok, m := o.queued, o.capacity, o.dropped, o.recovery, o.ok, o.metrics
	d := alpha.compare(sink, "alpha")
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

// overflow is what outlastTheQueue saw.
type overflow struct {
	queued, capacity, dropped float64
	recovery                  time.Duration
	ok                        bool // every accepted span sent or counted
	metrics                   harness.Metrics
}

// outlastTheQueue takes the sink down, sends 2000 spans/s in requests of
// perReq through s for 6 s, reads the exporter's queue, brings the sink back
// and waits until every span s sent was sent on or counted in
// enqueue_failed (the exporter's counters move only after the sink
// answered): accepted ones behind a batch processor, refused ones without.
func outlastTheQueue(t *testing.T, sink *temposink.Sink, col *harness.Collector, s *stream, exporter string, perReq int) overflow {
	t.Helper()
	sink.Down()
	ctx, stopLoad := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	s.steady(ctx, &wg, perReq, 0, time.Duration(perReq)*time.Second/2000)
	time.Sleep(6 * time.Second)
	stopLoad()
	wg.Wait()
	var o overflow
	m := scrape(t, col)
	o.queued = exporterSpans(m, "otelcol_exporter_queue_size", exporter)
	o.capacity = exporterSpans(m, "otelcol_exporter_queue_capacity", exporter)
	require.NoError(t, sink.Up())
	accepted, refused := s.acceptedCount(), s.refusedCount()
	o.recovery, o.ok = waitFor(60*time.Second, func() bool {
		o.metrics = scrape(t, col)
		o.dropped = exporterSpans(o.metrics, "otelcol_exporter_enqueue_failed_spans", exporter)
		return exporterSpans(o.metrics, "otelcol_exporter_sent_spans", exporter)+o.dropped >= float64(accepted+refused)
	})
	return o
}
