package reliability

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-mesh/otelcol-mesh/testbed/harness"
	"github.com/otelcol-mesh/otelcol-mesh/testbed/temposink"
)

// TestShippedQueueCapacity measures what one slot of the exporter's queue
// holds with the shipped settings (batch processor in front, tenantlanes
// with byte-capped exporter batches partitioned by tenant; one tenant, so
// one lane and its queue), so that the capacity statement in README.md can
// be worked out for the shipped queue_size. The queue is
// cut to a few slots so the outage outlasts it within seconds; every
// accepted span must be delivered after the outage or counted in
// enqueue_failed, exactly.
func TestShippedQueueCapacity(t *testing.T) {
	const queueSize, perReq = 8, 100
	sink := startSink(t, temposink.Config{})
	overlay := `
exporters:
  tenantlanes/tempo:
    exporter:
      sending_queue:
        queue_size: 8
`
	opts := shippedTempoConfig(t, sink, overlay)
	col := harness.Start(t, opts)
	alpha := newStream(t, 'q', opts.Ports.OTLPGRPC)
	alpha.namespace = "team-alpha"

	o := outlastTheQueue(t, sink, col, alpha, "tenantlanes/tempo", perReq)
	queued, capacity, dropped, recovery, ok := o.queued, o.capacity, o.dropped, o.recovery, o.ok
	accepted := alpha.acceptedCount()
	d := alpha.compare(sink, "alpha")
	perSlot := float64(d.received) / float64(queueSize)
	t.Logf("shipped queue: queue_size=%d requests (capacity metric %.0f), 2000 spans/s in requests of %d for 6 s with the sink down; queue_size metric at the end %.0f",
		queueSize, capacity, perReq, queued)
	t.Logf("shipped queue: accepted=%d %s; enqueue_failed=%.0f; held and delivered after recovery=%d spans = %.0f spans per slot; recovered in %s",
		accepted, d, dropped, d.received, perSlot, recovery.Round(time.Millisecond))
	require.True(t, ok, "accepted spans neither delivered nor counted as dropped")
	assert.Positive(t, dropped, "the outage outlasted the queue")
	assert.Equal(t, float64(d.missing), dropped, "every lost span is counted, and only those")
	assert.Zero(t, d.duplicated)
	assert.Zero(t, d.foreign)
	assert.Equal(t, float64(queueSize), capacity)
	require.NoError(t, col.Stop(30*time.Second))
}
