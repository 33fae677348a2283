package reliability

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/otelcol-mesh/otelcol-mesh/testbed/harness"
	"github.com/otelcol-mesh/otelcol-mesh/testbed/temposink"
)

// faultCase is one exporter of the fan-out in TestExportErrors: its own sink
// answers failFirst attempts (every attempt with failFirst < 0) with err.
type faultCase struct {
	exporter  string // component ID, e.g. otlp_grpc/unavailable
	protocol  string // grpc or http
	answer    string // what the sink answers, for the log
	err       error
	failFirst int
	// retried says the exporter must retry this answer (no data lost).
	retried bool

	sink     *temposink.Sink
	mu       sync.Mutex
	attempts []time.Time
}

func (c *faultCase) fault(string, int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.attempts = append(c.attempts, time.Now())
	if c.failFirst < 0 || len(c.attempts) <= c.failFirst {
		return c.err
	}
	return nil
}

// gaps are the pauses between the first attempts, while they failed: the
// retry back-off of the first request when it is retried.
func (c *faultCase) gaps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []time.Duration
	for i := 1; i < len(c.attempts) && i <= c.failFirst; i++ {
		out = append(out, c.attempts[i].Sub(c.attempts[i-1]).Round(time.Millisecond))
	}
	return out
}

func (c *faultCase) attemptCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.attempts)
}

func exhaustedWithRetryInfo() error {
	st, err := status.New(codes.ResourceExhausted, "rate limited").
		WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(time.Second)})
	if err != nil {
		panic(err)
	}
	return st.Err()
}

// TestExportErrors fans one stream of spans out to one exporter per kind of
// answer, each to its own sink. Retryable answers are retried with back-off
// until they succeed; permanent ones are not retried, and what they drop is
// counted in otelcol_exporter_send_failed_spans and logged per request under
// the collector's log sampling, not per span.
func TestExportErrors(t *testing.T) {
	cases := []*faultCase{
		{exporter: "otlp_grpc/unavailable", protocol: "grpc", answer: "UNAVAILABLE x3", err: status.Error(codes.Unavailable, "ingester restarting"), failFirst: 3, retried: true},
		{exporter: "otlp_grpc/exhausted_retryinfo", protocol: "grpc", answer: "RESOURCE_EXHAUSTED+RetryInfo(1s) x3", err: exhaustedWithRetryInfo(), failFirst: 3, retried: true},
		{exporter: "otlp_grpc/exhausted", protocol: "grpc", answer: "RESOURCE_EXHAUSTED without RetryInfo x3", err: status.Error(codes.ResourceExhausted, "rate limited"), failFirst: 3},
		{exporter: "otlp_grpc/invalid", protocol: "grpc", answer: "INVALID_ARGUMENT always", err: status.Error(codes.InvalidArgument, "bad span"), failFirst: -1},
		{exporter: "otlp_http/too_many", protocol: "http", answer: "HTTP 429 x3", err: status.Error(codes.ResourceExhausted, "rate limited"), failFirst: 3, retried: true},
		{exporter: "otlp_http/unavailable", protocol: "http", answer: "HTTP 503 x3", err: status.Error(codes.Unavailable, "ingester restarting"), failFirst: 3, retried: true},
		{exporter: "otlp_http/internal", protocol: "http", answer: "HTTP 500 x3", err: status.Error(codes.Internal, "boom"), failFirst: 3},
		{exporter: "otlp_http/bad_request", protocol: "http", answer: "HTTP 400 always", err: status.Error(codes.InvalidArgument, "bad span"), failFirst: -1},
	}
	var exporters, ids []string
	for _, c := range cases {
		c.sink = startSink(t, temposink.Config{})
		c.sink.SetFault(c.fault)
		endpoint := c.sink.GRPCAddr()
		if c.protocol == "http" {
			endpoint = "http://" + c.sink.HTTPAddr()
		}
		exporters = append(exporters, fmt.Sprintf(`
  %s:
    endpoint: %s
    tls: {insecure: true}
    headers: {X-Scope-OrgID: errors}
    retry_on_failure: {initial_interval: 500ms, max_interval: 2s}`, c.exporter, endpoint))
		ids = append(ids, c.exporter)
	}
	// The exporters follow the cases, so the overlay over
	// testdata/collector.yaml is generated.
	opts := ownPipeline(t, nil)
	opts.Config = `
exporters:` + strings.Join(exporters, "") + `
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [` + strings.Join(ids, ", ") + `]
`
	col, ports := harness.Start(t, opts), opts.Ports
	src := newStream(t, 'e', ports.OTLPGRPC)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// The first request alone, so that the first attempts every sink sees
	// are that one request and its retries: their gaps are the back-off.
	const requests, perReq = 40, 25
	require.NoError(t, src.send(ctx, perReq, 0))
	_, ok := waitFor(30*time.Second, func() bool {
		for _, c := range cases {
			if c.retried && c.sink.SpanCount("errors") < perReq {
				return false
			}
		}
		return true
	})
	require.True(t, ok, "first request not delivered through the retries")
	for i := 1; i < requests; i++ {
		require.NoError(t, src.send(ctx, perReq, 0))
	}
	total := requests * perReq
	var m harness.Metrics
	done := func() bool {
		m = scrape(t, col)
		for _, c := range cases {
			if exporterMetric(m, "otelcol_exporter_sent_spans", c.exporter)+exporterMetric(m, "otelcol_exporter_send_failed_spans", c.exporter) < float64(total) {
				return false
			}
		}
		return true
	}
	_, ok = waitFor(60*time.Second, done)
	require.True(t, ok, "spans neither delivered nor counted as failed")
	require.NoError(t, col.Stop(30*time.Second))
	log := col.Log()

	// m is the last scrape of done, taken when every span was accounted for.
	droppedLines := countLines(log, "Exporting failed. Dropping data.")
	var failedRequests int
	for _, c := range cases {
		delivered := c.sink.SpanCount("errors")
		failed := exporterMetric(m, "otelcol_exporter_send_failed_spans", c.exporter)
		sent := exporterMetric(m, "otelcol_exporter_sent_spans", c.exporter)
		lines := countLines(log, "Exporting failed. Dropping data.", `"`+c.exporter+`"`)
		var gaps any = "-"
		if c.retried {
			gaps = c.gaps()
		}
		t.Logf("%-30s %-40s attempts=%d delivered=%d/%d sent=%.0f send_failed=%.0f back-off between the first request's attempts=%v drop log lines=%d",
			c.exporter, c.answer, c.attemptCount(), delivered, total, sent, failed, gaps, lines)
		assert.Equal(t, float64(delivered), sent, "%s: sent_spans matches what the sink got", c.exporter)
		switch {
		case c.retried:
			assert.Equal(t, total, delivered, "%s: retried until delivered", c.exporter)
			assert.Zero(t, failed, c.exporter)
			assert.Equal(t, requests+c.failFirst, c.attemptCount(), "%s: each failed attempt retried once more", c.exporter)
			for _, g := range c.gaps() {
				assert.GreaterOrEqual(t, g, 200*time.Millisecond, "%s: retries back off", c.exporter)
			}
		case c.failFirst < 0:
			assert.Zero(t, delivered, c.exporter)
			assert.Equal(t, float64(total), failed, "%s: every dropped span counted", c.exporter)
			assert.Equal(t, requests, c.attemptCount(), "%s: permanent errors are not retried", c.exporter)
			failedRequests += requests
		default: // answered retryable-looking errors the exporter treats as permanent
			assert.Equal(t, total-c.failFirst*perReq, delivered, c.exporter)
			assert.Equal(t, float64(c.failFirst*perReq), failed, "%s: dropped spans counted", c.exporter)
			assert.Equal(t, requests, c.attemptCount(), "%s: not retried", c.exporter)
			failedRequests += c.failFirst
		}
		assert.Zero(t, c.sink.Stats().Unauthenticated, c.exporter)
	}
	t.Logf("log: %d 'Dropping data' lines for %d dropped requests (%.0f spans); the collector's log sampling (10 per 10s, then 1 in 100) bounds them",
		droppedLines, failedRequests, m.Sum("otelcol_exporter_send_failed_spans", nil))
	assert.LessOrEqual(t, droppedLines, failedRequests, "at most one line per dropped request, never one per span")
	assert.Less(t, droppedLines, failedRequests/2, "sampling keeps a permanent failure from flooding the log")
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "Exporting failed. Dropping data.") {
			assert.Contains(t, line, `"dropped_items": `, "the line says how many spans it stands for")
		}
	}
}
