package reliability

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-mesh/otelcol-mesh/testbed/harness"
	"github.com/otelcol-mesh/otelcol-mesh/testbed/temposink"
)

// twoQueues is testdata/reliability/persistent.yaml on free ports against
// sink: tenants alpha (on Ports.OTLPGRPC) and beta (on the port returned),
// each with its own exporter queue, in memory or, with persistent, in one
// file_storage directory.
func twoQueues(t *testing.T, sink *temposink.Sink, persistent bool) (harness.Options, int) {
	t.Helper()
	overlays := []string{"reliability/persistent.yaml"}
	if persistent {
		overlays = append(overlays, "reliability/persistent-storage.yaml")
	}
	betaGRPC := harness.FreePort(t)
	env := sinkEnv(sink)
	env["BETA_GRPC_ENDPOINT"] = fmt.Sprintf("127.0.0.1:%d", betaGRPC)
	env["STORAGE_DIR"] = t.TempDir()
	return ownPipeline(t, env, overlays...), betaGRPC
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
func killAndRestart(t *testing.T, persistent bool, deliveryWait time.Duration) killResult {
	t.Helper()
	sink := startSink(t, temposink.Config{GRPCAddr: "127.0.0.1:0"})
	opts, betaGRPC := twoQueues(t, sink, persistent)
	col := harness.Start(t, opts)
	alpha, beta := newStream(t, 'a', opts.Ports.OTLPGRPC), newStream(t, 'b', betaGRPC)
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

	col2 := harness.Start(t, opts)
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
	r := killAndRestart(t, true, 60*time.Second)
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
	r := killAndRestart(t, false, 3*time.Second)
	t.Logf("in-memory queue (control): %d spans accepted while the sink was down, queue size before SIGKILL %.0f, after restart %.0f; alpha %s; beta %s",
		r.accepted, r.queued, r.requeued, r.alpha, r.beta)
	assert.Equal(t, float64(r.accepted), r.queued)
	assert.Zero(t, r.requeued)
	assert.Equal(t, r.accepted, r.alpha.missing+r.beta.missing, "the in-memory backlog died with the process")
}
