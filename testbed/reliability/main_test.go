// Package reliability holds the end-to-end reliability tests of otelcol-mesh:
// the ocb-built binary as a child process between a span generator and the
// Tempo-like sink, through Tempo outages, collector crashes and restarts,
// retryable and permanent export errors, bad input, oversized batches, TLS
// and graceful shutdown. Every test prints the figures it measured with
// t.Logf; README.md records them and the capacity of the default settings.
package reliability

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/otelcol-mesh/otelcol-mesh/testbed/harness"
	"github.com/otelcol-mesh/otelcol-mesh/testbed/temposink"
)

func TestMain(m *testing.M) {
	// Idle keep-alive connections of net/http clients are not leaks of ours.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"))
}

// OutageEnv overrides how long the sink stays down in TestTempoOutage
// (a Go duration). Default 30s, or 5s with -short.
const OutageEnv = "RELIABILITY_OUTAGE"

func outageDuration(t *testing.T) time.Duration {
	t.Helper()
	if v := os.Getenv(OutageEnv); v != "" {
		d, err := time.ParseDuration(v)
		require.NoError(t, err, "%s", OutageEnv)
		return d
	}
	if testing.Short() {
		return 5 * time.Second
	}
	return 30 * time.Second
}

// ownPipeline is the options of a collector on free ports with a pipeline of
// its own: testdata/collector.yaml, then the overlays (paths under
// testdata/) with env as their ${env:...} variables.
func ownPipeline(t *testing.T, env map[string]string, overlays ...string) harness.Options {
	t.Helper()
	return harness.Options{ConfigFiles: harness.OwnPipeline(t, overlays...), Ports: harness.NewPorts(t), Env: env}
}

// sinkEnv points the SINK_GRPC of a config at sink's OTLP/gRPC address.
func sinkEnv(sink *temposink.Sink) map[string]string {
	return map[string]string{"SINK_GRPC": sink.GRPCAddr()}
}

// startSink starts a Tempo-like sink on free local ports, stopped at cleanup.
func startSink(t *testing.T, cfg temposink.Config) *temposink.Sink {
	t.Helper()
	if cfg.GRPCAddr == "" && cfg.HTTPAddr == "" {
		cfg.GRPCAddr, cfg.HTTPAddr = "127.0.0.1:0", "127.0.0.1:0"
	}
	sink, err := temposink.Start(cfg)
	require.NoError(t, err)
	t.Cleanup(sink.Stop)
	return sink
}

// stream sends spans with predictable, unique span IDs to one OTLP/gRPC
// receiver and remembers which ones the collector accepted (the Export call
// returned OK), so a test can compare them one by one with what the sink got.
// Span IDs are [prefix, 0, 0, 0, seq as 4 bytes big endian].
type stream struct {
	prefix byte
	// tenant, when set, is sent as x-scope-orgid gRPC metadata with each
	// request (for receivers with include_metadata: true).
	tenant string
	// namespace, when set, is the resource's k8s.namespace.name (what
	// k8s_attributes would set; tenantrouting maps it to the tenant).
	namespace string
	client    ptraceotlp.GRPCClient
	conn      *grpc.ClientConn

	mu       sync.Mutex
	next     uint32
	accepted map[pcommon.SpanID]struct{}
	refused  int
	lastErr  error
}

func newStream(t *testing.T, prefix byte, grpcPort int) *stream {
	t.Helper()
	conn, err := grpc.NewClient(fmt.Sprintf("127.0.0.1:%d", grpcPort),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return &stream{prefix: prefix, client: ptraceotlp.NewGRPCClient(conn), conn: conn, accepted: map[pcommon.SpanID]struct{}{}}
}

func spanID(prefix byte, seq uint32) pcommon.SpanID {
	var id pcommon.SpanID
	id[0] = prefix
	binary.BigEndian.PutUint32(id[4:], seq)
	return id
}

// makeTraces builds n spans with IDs prefix/first.. and, when payload > 0, a
// string attribute of that many bytes on each span.
func makeTraces(service string, prefix byte, first uint32, n, payload int) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", service)
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("reliability")
	now := time.Now()
	fill := strings.Repeat("x", payload)
	for i := 0; i < n; i++ {
		seq := first + uint32(i)
		span := ss.Spans().AppendEmpty()
		var tid pcommon.TraceID
		tid[0] = prefix
		binary.BigEndian.PutUint32(tid[12:], seq/10) // ten spans per trace
		span.SetTraceID(tid)
		span.SetSpanID(spanID(prefix, seq))
		span.SetName(fmt.Sprintf("op-%d", seq%16))
		span.SetKind(ptrace.SpanKindServer)
		span.SetStartTimestamp(pcommon.NewTimestampFromTime(now))
		span.SetEndTimestamp(pcommon.NewTimestampFromTime(now.Add(time.Millisecond)))
		span.Attributes().PutInt("test.seq", int64(seq))
		if payload > 0 {
			span.Attributes().PutStr("test.payload", fill)
		}
	}
	return td
}

// send exports one request of n spans; the IDs count as accepted only when
// the collector answered OK.
func (s *stream) send(ctx context.Context, n, payload int) error {
	s.mu.Lock()
	first := s.next
	s.next += uint32(n)
	s.mu.Unlock()
	td := makeTraces(fmt.Sprintf("svc-%c", s.prefix), s.prefix, first, n, payload)
	if s.namespace != "" {
		td.ResourceSpans().At(0).Resource().Attributes().PutStr("k8s.namespace.name", s.namespace)
	}
	if s.tenant != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "x-scope-orgid", s.tenant)
	}
	_, err := s.client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(td))
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.refused += n
		s.lastErr = err
		return err
	}
	for i := 0; i < n; i++ {
		s.accepted[spanID(s.prefix, first+uint32(i))] = struct{}{}
	}
	return nil
}

// steady sends a request of perReq spans every interval until ctx ends.
// Errors are counted (refused), not fatal: during overflow they are expected.
func (s *stream) steady(ctx context.Context, wg *sync.WaitGroup, perReq, payload int, interval time.Duration) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				// Not derived from ctx: stopping the load must not cancel a
				// request the collector may already have accepted.
				reqCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_ = s.send(reqCtx, perReq, payload)
				cancel()
			}
		}
	}()
}

func (s *stream) acceptedCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.accepted)
}

func (s *stream) sentCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return int(s.next)
}

func (s *stream) refusedCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refused
}

// delivery compares what a tenant received with what a stream had accepted.
type delivery struct {
	accepted, received, missing, duplicated, foreign int
}

func (d delivery) String() string {
	return fmt.Sprintf("accepted=%d received=%d missing=%d duplicated=%d foreign=%d",
		d.accepted, d.received, d.missing, d.duplicated, d.foreign)
}

// compare counts, for the spans the stream had accepted, how many the
// tenant is missing or has more than once, and how many spans the tenant has
// that the stream never had accepted (another tenant's or refused ones).
func (s *stream) compare(sink *temposink.Sink, tenant string) delivery {
	got := sink.SpanIDCounts(tenant)
	s.mu.Lock()
	defer s.mu.Unlock()
	d := delivery{accepted: len(s.accepted)}
	for id, n := range got {
		d.received += n
		if _, ok := s.accepted[id]; !ok {
			d.foreign += n
			continue
		}
		if n > 1 {
			d.duplicated += n - 1
		}
	}
	for id := range s.accepted {
		if got[id] == 0 {
			d.missing++
		}
	}
	return d
}

// scrape reads the collector's own metrics, failing the test on error.
func scrape(t *testing.T, col *harness.Collector) harness.Metrics {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := col.Metrics(ctx)
	require.NoError(t, err)
	return m
}

// exporterMetric sums one exporter's series of a metric.
func exporterMetric(m harness.Metrics, name, exporter string) float64 {
	return m.Sum(name, map[string]string{"exporter": exporter})
}

// exporterSpans sums an exporterhelper metric over the exporter with ID id:
// for a tenantlanes exporter, over its lanes (otlp_grpc/<type>_<name>_<tenant>).
func exporterSpans(m harness.Metrics, name, id string) float64 {
	if !strings.HasPrefix(id, "tenantlanes/") {
		return exporterMetric(m, name, id)
	}
	prefix := "otlp_grpc/" + strings.ReplaceAll(id, "/", "_") + "_"
	var total float64
	for _, s := range m[name] {
		if strings.HasPrefix(s.Labels["exporter"], prefix) {
			total += s.Value
		}
	}
	return total
}

// waitFor polls cond every 100ms until it holds or timeout passes and
// reports how long it took. It does not fail the test by itself: callers
// assert on the outcome so that the figures are logged either way.
func waitFor(timeout time.Duration, cond func() bool) (time.Duration, bool) {
	start := time.Now()
	for {
		if cond() {
			return time.Since(start), true
		}
		if time.Since(start) > timeout {
			return time.Since(start), false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// countLines counts the log lines containing every part.
func countLines(log string, parts ...string) int {
	n := 0
	for _, line := range strings.Split(log, "\n") {
		all := true
		for _, p := range parts {
			if !strings.Contains(line, p) {
				all = false
				break
			}
		}
		if all {
			n++
		}
	}
	return n
}
