package reliability

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/otelcol-mesh/otelcol-mesh/testbed/harness"
	"github.com/otelcol-mesh/otelcol-mesh/testbed/temposink"
)

// rawCodec lets a gRPC client send arbitrary bytes as the request message.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) {
	if b, ok := v.([]byte); ok {
		return b, nil
	}
	return nil, fmt.Errorf("rawCodec: cannot marshal %T", v)
}

func (rawCodec) Unmarshal([]byte, any) error { return nil }
func (rawCodec) Name() string                { return "proto" }

const exportMethod = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"

// protoSpanRequest hand-encodes an ExportTraceServiceRequest with one span
// whose IDs have the given lengths, which pdata's builders cannot produce.
func protoSpanRequest(traceID, spanID []byte) []byte {
	var span []byte
	span = protowire.AppendTag(span, 1, protowire.BytesType)
	span = protowire.AppendBytes(span, traceID)
	span = protowire.AppendTag(span, 2, protowire.BytesType)
	span = protowire.AppendBytes(span, spanID)
	span = protowire.AppendTag(span, 5, protowire.BytesType)
	span = protowire.AppendString(span, "bad-ids")
	var scope []byte
	scope = protowire.AppendTag(scope, 2, protowire.BytesType)
	scope = protowire.AppendBytes(scope, span)
	var rs []byte
	rs = protowire.AppendTag(rs, 2, protowire.BytesType)
	rs = protowire.AppendBytes(rs, scope)
	var req []byte
	req = protowire.AppendTag(req, 1, protowire.BytesType)
	req = protowire.AppendBytes(req, rs)
	return req
}

// singleSpan returns traces with one span (IDs prefix 'z'/seq) whose
// attributes the caller fills.
func singleSpan(seq uint32, fill func(pcommon.Map)) ptrace.Traces {
	td := makeTraces("svc-bad", 'z', seq, 1, 0)
	fill(td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Attributes())
	return td
}

// nested returns an attribute value nested depth levels deep, alternating
// arrays and key-value lists.
func nested(m pcommon.Map, key string, depth int) {
	v := m.PutEmpty(key)
	for i := 0; i < depth; i++ {
		if i%2 == 0 {
			v = v.SetEmptySlice().AppendEmpty()
		} else {
			v = v.SetEmptyMap().PutEmpty("k")
		}
	}
	v.SetStr("leaf")
}

type badResult struct {
	took   time.Duration
	name   string
	answer string
	ok     bool
}

// TestBadInputIsRefusedOrCarried throws malformed and absurd requests at
// both receivers. Undecodable requests get HTTP 400 or a gRPC error; absurd
// but valid ones (huge, many or deeply nested attributes) are carried or
// refused, but the collector never crashes, stays healthy, and afterwards
// still delivers good traffic exactly once. A single span larger than the
// exporter's byte cap is dropped, together with the spans after it in its
// batch, with a warning (upstream behaviour, not counted in send_failed):
// the test pins that down.
func TestBadInputIsRefusedOrCarried(t *testing.T) {
	sink := startSink(t, temposink.Config{GRPCAddr: "127.0.0.1:0"})
	opts := ownPipeline(t, sinkEnv(sink), "otlp-http.yaml", "reliability/badinput.yaml")
	col, ports := harness.Start(t, opts), opts.Ports
	httpURL := fmt.Sprintf("http://127.0.0.1:%d/v1/traces", ports.OTLPHTTP)
	conn, err := grpc.NewClient(fmt.Sprintf("127.0.0.1:%d", ports.OTLPGRPC),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(64<<20)))
	require.NoError(t, err)
	defer conn.Close()
	client := ptraceotlp.NewGRPCClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	var results []badResult
	postHTTP := func(name, contentType string, body []byte) int {
		start := time.Now()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, httpURL, bytes.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", contentType)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			for _, r := range results {
				t.Logf("bad input: %-45s -> %s (%s)", r.name, r.answer, r.took.Round(time.Millisecond))
			}
		}
		require.NoError(t, err, name)
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		_ = resp.Body.Close()
		results = append(results, badResult{name: name, took: time.Since(start),
			answer: fmt.Sprintf("HTTP %d %q", resp.StatusCode, strings.TrimSpace(string(msg))), ok: resp.StatusCode == http.StatusOK})
		return resp.StatusCode
	}
	rawGRPC := func(name string, body []byte) codes.Code {
		start := time.Now()
		err := conn.Invoke(ctx, exportMethod, body, new([]byte), grpc.ForceCodec(rawCodec{}))
		st := status.Convert(err)
		results = append(results, badResult{name: name, took: time.Since(start), answer: fmt.Sprintf("gRPC %s %q", st.Code(), truncate(st.Message(), 120)), ok: err == nil})
		return st.Code()
	}
	sendGRPC := func(name string, td ptrace.Traces) codes.Code {
		start := time.Now()
		_, err := client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(td))
		st := status.Convert(err)
		results = append(results, badResult{name: name, took: time.Since(start), answer: fmt.Sprintf("gRPC %s %q", st.Code(), truncate(st.Message(), 120)), ok: err == nil})
		return st.Code()
	}
	marshalJSON := func(td ptrace.Traces) []byte {
		b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalJSON()
		require.NoError(t, err)
		return b
	}
	marshalProto := func(td ptrace.Traces) []byte {
		b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
		require.NoError(t, err)
		return b
	}

	// Undecodable: the sender must hear so.
	garbage := []byte("\xff\xff\xff\xff this is not protobuf \x00\x01")
	assert.Equal(t, http.StatusBadRequest, postHTTP("HTTP malformed protobuf", "application/x-protobuf", garbage))
	assert.Equal(t, http.StatusBadRequest, postHTTP("HTTP truncated JSON", "application/json", []byte(`{"resourceSpans":[{"scopeSpans":[`)))
	assert.Equal(t, http.StatusBadRequest, postHTTP("HTTP JSON wrong types", "application/json",
		[]byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":42,"spanId":true,"name":{"a":1},"kind":"nope"}]}]}]}`)))
	assert.Equal(t, http.StatusBadRequest, postHTTP("HTTP JSON 3-byte trace ID", "application/json",
		[]byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0102ab","spanId":"0102030405060708","name":"x"}]}]}]}`)))
	assert.Equal(t, http.StatusBadRequest, postHTTP("HTTP JSON 20-byte span ID", "application/json",
		[]byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708090a0b0c0d0e0f1011121314","name":"x"}]}]}]}`)))
	assert.Equal(t, http.StatusBadRequest, postHTTP("HTTP protobuf 5-byte trace ID", "application/x-protobuf",
		protoSpanRequest([]byte{1, 2, 3, 4, 5}, []byte{1, 2, 3, 4, 5, 6, 7, 8})))
	assert.Equal(t, http.StatusUnsupportedMediaType, postHTTP("HTTP unsupported content type", "text/plain", []byte("hello")))
	assert.NotEqual(t, codes.OK, rawGRPC("gRPC malformed protobuf", garbage))
	assert.NotEqual(t, codes.OK, rawGRPC("gRPC 5-byte trace ID", protoSpanRequest([]byte{1, 2, 3, 4, 5}, []byte{1, 2, 3, 4, 5, 6, 7, 8})))
	assert.NotEqual(t, codes.OK, rawGRPC("gRPC 3-byte span ID", protoSpanRequest(bytes.Repeat([]byte{7}, 16), []byte{1, 2, 3})))
	assert.Equal(t, codes.ResourceExhausted, sendGRPC("gRPC 5 MiB request (over the 4 MiB default)",
		singleSpan(1, func(m pcommon.Map) { m.PutStr("huge", strings.Repeat("h", 5<<20)) })))
	assert.Equal(t, http.StatusBadRequest, postHTTP("HTTP 25 MiB body (over the 20 MiB default)", "application/x-protobuf",
		marshalProto(singleSpan(2, func(m pcommon.Map) { m.PutStr("huge", strings.Repeat("h", 25<<20)) }))))

	// Absurd but valid: carried (or refused), never a crash. Span IDs
	// 'z'/10.. are what may legitimately reach the sink.
	absurd := map[pcommon.SpanID]string{}
	carry := func(name string, seq uint32, ok bool) {
		if ok {
			absurd[spanID('z', seq)] = name
		}
	}
	carry("gRPC 2 MiB attribute value", 16, sendGRPC("gRPC 2 MiB attribute value",
		singleSpan(16, func(m pcommon.Map) { m.PutStr("huge", strings.Repeat("h", 2<<20)) })) == codes.OK)
	carry("HTTP 2 MiB attribute key", 17, postHTTP("HTTP 2 MiB attribute key", "application/x-protobuf",
		marshalProto(singleSpan(17, func(m pcommon.Map) { m.PutStr(strings.Repeat("k", 2<<20), "v") }))) == http.StatusOK)
	carry("gRPC 100k attributes", 12, sendGRPC("gRPC 100k attributes", singleSpan(12, func(m pcommon.Map) {
		// FromRaw appends without the per-key lookup of Put* (quadratic here).
		raw := make(map[string]any, 100000)
		for i := 0; i < 100000; i++ {
			raw[fmt.Sprintf("a%d", i)] = int64(i)
		}
		require.NoError(t, m.FromRaw(raw))
	})) == codes.OK)
	// pdata's builders keep keys unique; a sender need not: one key 100k times.
	dupAttrs := strings.Repeat(`{"key":"dup","value":{"stringValue":"x"}},`, 100000)
	carry("HTTP JSON 100k duplicate keys", 13, postHTTP("HTTP JSON 100k duplicate keys", "application/json", []byte(
		`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"7a000000000000000000000000000001","spanId":"`+
			spanID('z', 13).String()+`","name":"dups","attributes":[`+strings.TrimSuffix(dupAttrs, ",")+`]}]}]}]}`)) == http.StatusOK)
	carry("gRPC nesting depth 20000", 14, sendGRPC("gRPC nesting depth 20000", singleSpan(14, func(m pcommon.Map) { nested(m, "deep", 20000) })) == codes.OK)
	carry("HTTP JSON nesting depth 20000", 15, postHTTP("HTTP JSON nesting depth 20000", "application/json",
		marshalJSON(singleSpan(15, func(m pcommon.Map) { nested(m, "deep", 20000) }))) == http.StatusOK)
	emptyIDs := ptrace.NewTraces()
	ss := emptyIDs.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
	for i := 0; i < 20000; i++ {
		ss.Spans().AppendEmpty().SetName("no-ids")
	}
	emptyIDsOK := sendGRPC("gRPC 20000 spans with all-zero IDs", emptyIDs) == codes.OK
	assert.Equal(t, codes.OK, sendGRPC("gRPC empty request", ptrace.NewTraces()))

	for _, r := range results {
		t.Logf("bad input: %-45s -> %s (%s)", r.name, r.answer, r.took.Round(time.Millisecond))
	}
	require.False(t, col.Exited(), "the collector survived the bad input")
	require.NoError(t, col.WaitHealthy(), "and is still healthy")

	// Good traffic still flows, exactly once.
	good := newStream(t, 'g', ports.OTLPGRPC)
	for i := 0; i < 10; i++ {
		require.NoError(t, good.send(ctx, 100, 0))
	}
	want := len(absurd) + good.acceptedCount()
	if emptyIDsOK {
		want += 20000
	}
	var m harness.Metrics
	// The exporter counts a span as sent after the sink answered: wait for
	// the counters, then the sink has all they count.
	_, ok := waitFor(60*time.Second, func() bool {
		m = scrape(t, col)
		return m.Sum("otelcol_exporter_sent_spans", nil) >= float64(want)
	})
	d := good.compare(sink, "badinput")
	counts := sink.SpanIDCounts("badinput")
	t.Logf("after bad input: good %s (foreign = the absurd-but-valid spans that were carried: %d, zero-ID spans: %d); receiver accepted=%.0f refused=%.0f; exporter sent=%.0f send_failed=%.0f",
		d, len(absurd), counts[pcommon.SpanID{}], m.Sum("otelcol_receiver_accepted_spans", nil), m.Sum("otelcol_receiver_refused_spans", nil),
		m.Sum("otelcol_exporter_sent_spans", nil), m.Sum("otelcol_exporter_send_failed_spans", nil))
	require.True(t, ok, "good traffic not delivered after the bad input: %v", sink.Stats().Spans)
	assert.Zero(t, d.missing)
	assert.Zero(t, d.duplicated)
	for id, name := range absurd {
		assert.Equal(t, 1, counts[id], "%s: carried exactly once", name)
	}
	for id := range counts {
		if id[0] == 'z' && absurd[id] == "" {
			t.Errorf("span %x of a refused request reached the sink", id)
		}
	}
	assert.Equal(t, m.Sum("otelcol_receiver_accepted_spans", nil), m.Sum("otelcol_exporter_sent_spans", nil),
		"everything accepted was delivered")
	assert.Zero(t, m.Sum("otelcol_exporter_send_failed_spans", nil))

	// Last, alone: one request of a 3.5 MiB span followed by 10 small spans.
	// A span bigger than the exporter's batch max_size (3 MiB) cannot be
	// split: the batcher drops it, and with it every span after it in the
	// same batch, with one warning and no count in send_failed. See README.
	big := singleSpan(10, func(m pcommon.Map) { m.PutStr("huge", strings.Repeat("h", 3<<20+1<<19)) })
	makeTraces("svc-bad", 'z', 20, 10, 0).ResourceSpans().MoveAndAppendTo(big.ResourceSpans())
	require.Equal(t, codes.OK, sendGRPC("gRPC 3.5 MiB span + 10 small spans", big))
	_, logged := waitFor(30*time.Second, func() bool {
		return col.LogContains("Failed to split request.", "one span size is greater than max size")
	})
	time.Sleep(time.Second) // anything delivered despite the warning would show by now
	m = scrape(t, col)
	counts = sink.SpanIDCounts("badinput")
	delivered := counts[spanID('z', 10)]
	for i := uint32(20); i < 30; i++ {
		delivered += counts[spanID('z', i)]
	}
	lost := m.Sum("otelcol_receiver_accepted_spans", nil) - m.Sum("otelcol_exporter_sent_spans", nil)
	t.Logf("a 3.5 MiB span followed by 10 small spans in one request (accepted: %s): %d of 11 delivered, %.0f lost; 'Failed to split request' warning=%v (%q); send_failed=%.0f (the loss is NOT counted there)",
		results[len(results)-1].answer, delivered, lost, logged, splitWarning(col.Log()), m.Sum("otelcol_exporter_send_failed_spans", nil))
	assert.True(t, logged, "the drop is logged")
	assert.Zero(t, delivered, "the oversized span and the spans after it are dropped")
	assert.Equal(t, float64(11), lost)
	require.NoError(t, col.Stop(30*time.Second), "clean exit after the bad input")
}

// splitWarning returns the error text of the first split warning in log.
func splitWarning(log string) string {
	for _, line := range strings.Split(log, "\n") {
		if i := strings.Index(line, "one span size is greater than max size"); i >= 0 {
			return truncate(strings.SplitN(line[i:], `"`, 2)[0], 100)
		}
	}
	return ""
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
