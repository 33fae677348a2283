package reliability

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-mesh/otelcol-mesh/testbed/harness"
	"github.com/otelcol-mesh/otelcol-mesh/testbed/temposink"
)

// TestShippedQueueCapacity measures what the exporter's queue holds with the
// shipped settings (no batch processor: tenantlanes with a byte-sized queue
// and byte-capped exporter batches partitioned by tenant; one tenant, so one
// lane and its queue), so that the capacity statement in README.md can be
// worked out for the shipped queue_size in bytes. The lane's queue is cut
// to 512 KiB (and min_size to 256 KiB, which may not exceed it) so the
// outage outlasts it within seconds. With no batch processor in front a
// full queue refuses the request to the sender: every accepted span must be
// delivered after the outage, and every refused one counted in
// enqueue_failed, exactly.
func TestShippedQueueCapacity(t *testing.T) {
	const queueBytes, perReq = 512 << 10, 100
	sink := startSink(t, temposink.Config{})
	opts := shippedTempoConfig(t, sink, "reliability/small-lane-queue.yaml")
	col := harness.Start(t, opts)
	alpha := newStream(t, 'q', opts.Ports.OTLPGRPC)
	alpha.namespace = "team-alpha"

	o := outlastTheQueue(t, sink, col, alpha, "tenantlanes/tempo", perReq)
	queued, capacity, dropped, recovery, ok := o.queued, o.capacity, o.dropped, o.recovery, o.ok
	d := alpha.compare(sink, "alpha")
	refused := alpha.refusedCount()
	perSpan := queued / float64(d.received)
	t.Logf("shipped queue: queue_size=%d bytes (capacity metric %.0f), 2000 spans/s in requests of %d for 6 s with the sink down; queue_size metric at the end %.0f bytes",
		queueBytes, capacity, perReq, queued)
	t.Logf("shipped queue: sent=%d %s refused=%d; enqueue_failed=%.0f; held and delivered after recovery=%d spans = %.0f queue bytes per span, %.0f spans per MiB; recovered in %s",
		alpha.sentCount(), d, refused, dropped, d.received, perSpan, float64(1<<20)/perSpan, recovery.Round(time.Millisecond))
	require.True(t, ok, "accepted spans not delivered")
	assert.Positive(t, refused, "the outage outlasted the queue")
	assert.Zero(t, d.missing, "a span the collector accepted is delivered")
	assert.Equal(t, float64(refused), dropped, "every refused span is counted, and only those")
	assert.Zero(t, d.duplicated)
	assert.Zero(t, d.foreign)
	assert.Equal(t, float64(queueBytes), capacity)
	require.NoError(t, col.Stop(30*time.Second))
}
