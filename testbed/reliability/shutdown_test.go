package reliability

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-mesh/otelcol-mesh/testbed/harness"
	"github.com/otelcol-mesh/otelcol-mesh/testbed/temposink"
)

// shutdownGrace is Kubernetes' default terminationGracePeriodSeconds: the
// time between SIGTERM and SIGKILL a collector pod gets.
const shutdownGrace = 30 * time.Second

// TestSIGTERMDrainsTheQueue queues requests behind a sink that answers each
// after 250ms, sends SIGTERM, and checks that the collector delivers the
// whole queue before it exits, well within the 30s grace period.
func TestSIGTERMDrainsTheQueue(t *testing.T) {
	sink := startSink(t, temposink.Config{GRPCAddr: "127.0.0.1:0"})
	sink.SetDelay(250 * time.Millisecond)
	opts := ownPipeline(t, sinkEnv(sink), "reliability/slow-sink.yaml")
	col, ports := harness.Start(t, opts), opts.Ports
	src := newStream(t, 's', ports.OTLPGRPC)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const requests, perReq = 40, 100
	for i := 0; i < requests; i++ {
		require.NoError(t, src.send(ctx, perReq, 0))
	}
	queued := exporterMetric(scrape(t, col), "otelcol_exporter_queue_size", "otlp_grpc/tempo")
	before := sink.SpanCount("shutdown")
	start := time.Now()
	err := col.Stop(shutdownGrace)
	took := time.Since(start)
	d := src.compare(sink, "shutdown")
	t.Logf("SIGTERM with %.0f requests queued (%d of %d spans delivered so far) behind a 250ms sink: exited in %s (err=%v); %s",
		queued, before, requests*perReq, took.Round(time.Millisecond), err, d)
	require.NoError(t, err, "clean exit within the grace period")
	assert.Positive(t, queued, "there was a queue to drain")
	assert.Zero(t, d.missing, "the queue was drained before exit")
	assert.Zero(t, d.duplicated)
}

// TestSIGTERMWithTempoDownKeepsThePersistentQueue: with Tempo down at
// SIGTERM, retries stop at shutdown; the in-memory queue would drop what it
// holds, the persistent queue keeps it. After a restart with Tempo back,
// every span arrives once.
func TestSIGTERMWithTempoDownKeepsThePersistentQueue(t *testing.T) {
	sink := startSink(t, temposink.Config{GRPCAddr: "127.0.0.1:0"})
	opts, _ := twoQueues(t, sink, true)
	col := harness.Start(t, opts)
	alpha := newStream(t, 'a', opts.Ports.OTLPGRPC)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sink.Down()
	const requests, perReq = 20, 100
	for i := 0; i < requests; i++ {
		require.NoError(t, alpha.send(ctx, perReq, 0))
	}
	time.Sleep(2 * time.Second) // the first attempts fail and go into back-off
	start := time.Now()
	err := col.Stop(shutdownGrace)
	took := time.Since(start)
	require.NoError(t, err, "clean exit within the grace period")

	require.NoError(t, sink.Up())
	col2 := harness.Start(t, opts)
	requeued := exporterMetric(scrape(t, col2), "otelcol_exporter_queue_size", "otlp_grpc/alpha")
	recovery, ok := waitFor(60*time.Second, func() bool { return sink.SpanCount("alpha") >= requests*perReq })
	time.Sleep(time.Second)
	da := alpha.compare(sink, "alpha")
	t.Logf("SIGTERM with Tempo down and %d spans in the persistent queue: exited in %s; after restart %.0f spans requeued, delivered %s after start (ok=%v); %s",
		requests*perReq, took.Round(time.Millisecond), requeued, recovery.Round(time.Millisecond), ok, da)
	require.True(t, ok)
	assert.Zero(t, da.missing)
	assert.Zero(t, da.duplicated)
	assert.Zero(t, da.foreign)
	require.NoError(t, col2.Stop(shutdownGrace))
}

// TestSIGTERMWithTempoDownDropsTheMemoryQueue is the control for the test
// above: with the in-memory queue, SIGTERM while Tempo is down ends the
// retries, each queued request is tried once more and dropped, and the log
// says how many spans each drop was.
func TestSIGTERMWithTempoDownDropsTheMemoryQueue(t *testing.T) {
	sink := startSink(t, temposink.Config{GRPCAddr: "127.0.0.1:0"})
	opts := ownPipeline(t, sinkEnv(sink), "reliability/slow-sink.yaml")
	col, ports := harness.Start(t, opts), opts.Ports
	src := newStream(t, 'm', ports.OTLPGRPC)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sink.Down()
	// Eight requests: the log's sampling (first 10 per message per 10s)
	// shows every drop.
	const requests, perReq = 8, 100
	for i := 0; i < requests; i++ {
		require.NoError(t, src.send(ctx, perReq, 0))
	}
	time.Sleep(time.Second)
	start := time.Now()
	require.NoError(t, col.Stop(shutdownGrace))
	took := time.Since(start)
	dropped := 0
	for _, line := range strings.Split(col.Log(), "\n") {
		if i := strings.Index(line, `"dropped_items": `); i >= 0 && strings.Contains(line, "Exporting failed. Dropping data.") {
			n, err := strconv.Atoi(strings.TrimRight(strings.Fields(line[i+len(`"dropped_items": `):])[0], ",}"))
			require.NoError(t, err)
			dropped += n
		}
	}
	t.Logf("SIGTERM with Tempo down and %d spans in the in-memory queue: exited in %s; the log reports %d spans dropped; the sink got %d",
		requests*perReq, took.Round(time.Millisecond), dropped, sink.SpanCount("shutdown"))
	assert.Equal(t, requests*perReq, dropped, "every dropped span is in the log")
	assert.Zero(t, sink.SpanCount("shutdown"))
}
