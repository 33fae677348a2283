package reliability

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/otelcol-mesh/otelcol-mesh/testbed/harness"
	"github.com/otelcol-mesh/otelcol-mesh/testbed/temposink"
)

// TestOversizedBatches sends 16384 spans of ~520 bytes and then 8192 spans of
// ~5 KiB. Against the 4 MiB sink, the 8192-span batch loses them all and the
// shipped batch processor alone loses the large ones (all counted as
// send_failed); with the exporter's byte-capped batching every span arrives
// once and no export exceeds 3 MiB.
func TestOversizedBatches(t *testing.T) {
	sink := startSink(t, temposink.Config{GRPCAddr: "127.0.0.1:0"})
	opts := ownPipeline(t, sinkEnv(sink), "reliability/oversize.yaml")
	col, ports := harness.Start(t, opts), opts.Ports
	src := newStream(t, 'o', ports.OTLPGRPC)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	var sizer ptrace.ProtoMarshaler
	perSpan := func(payload int) float64 {
		return float64(sizer.TracesSize(makeTraces("svc-o", 'o', 0, 512, payload))) / 512
	}
	// Pad the small spans to ~520 bytes each, as measured in issue 7.
	smallPayload := 520 - int(perSpan(0)) - 18 // 18: the test.payload key and framing
	const smallSpans, smallReq, largeSpans, largeReq, largePayload = 16384, 512, 8192, 512, 5000
	for i := 0; i < smallSpans/smallReq; i++ {
		require.NoError(t, src.send(ctx, smallReq, smallPayload))
	}
	for i := 0; i < largeSpans/largeReq; i++ {
		require.NoError(t, src.send(ctx, largeReq, largePayload))
	}
	total := smallSpans + largeSpans
	exporters := []string{"control", "batchonly", "ours", "ours8192"}
	var m harness.Metrics
	_, ok := waitFor(90*time.Second, func() bool {
		m = scrape(t, col)
		for _, e := range exporters {
			id := "otlp_grpc/" + e
			if exporterMetric(m, "otelcol_exporter_sent_spans", id)+exporterMetric(m, "otelcol_exporter_send_failed_spans", id) < float64(total) {
				return false
			}
		}
		return true
	})
	t.Logf("sent %d spans of %.0f bytes (in requests of %d) then %d spans of %.0f bytes (requests of %d), %d in all",
		smallSpans, perSpan(smallPayload), smallReq, largeSpans, perSpan(largePayload), largeReq, total)
	results := map[string]delivery{}
	for _, e := range exporters {
		d := src.compare(sink, e)
		results[e] = d
		var maxReq, requests int
		for _, td := range sink.Traces(e) {
			requests++
			maxReq = max(maxReq, sizer.TracesSize(td))
		}
		id := "otlp_grpc/" + e
		t.Logf("%-10s delivered=%d/%d lost=%d (%.1f%%) duplicated=%d sent=%.0f send_failed=%.0f; %d exports arrived, largest %d bytes (%.2f MiB)",
			e, d.received, total, d.missing, 100*float64(d.missing)/float64(total), d.duplicated,
			exporterMetric(m, "otelcol_exporter_sent_spans", id), exporterMetric(m, "otelcol_exporter_send_failed_spans", id),
			requests, maxReq, float64(maxReq)/(1<<20))
		if e == "ours" || e == "ours8192" {
			assert.LessOrEqual(t, maxReq, 3<<20, "%s: no export over the 3 MiB cap", e)
		}
	}
	require.True(t, ok, "not every span was accounted for as sent or failed")
	assert.Equal(t, total, results["control"].missing, "control: 8192 x 520 B > 4 MiB, every batch refused")
	// Two 512-span requests of 5 KiB spans fill a 1024-span batch: 5.2 MB.
	// How many such batches form before the 200ms timeout depends on timing.
	assert.Positive(t, results["batchonly"].missing, "batch processor alone: large spans are lost")
	assert.LessOrEqual(t, results["batchonly"].missing, largeSpans, "batch processor alone: only large spans are lost")
	for _, e := range []string{"control", "batchonly"} {
		assert.Equal(t, float64(results[e].missing), exporterMetric(m, "otelcol_exporter_send_failed_spans", "otlp_grpc/"+e), "%s: the loss is counted", e)
	}
	for _, e := range []string{"ours", "ours8192"} {
		assert.Zero(t, results[e].missing, "%s: nothing lost", e)
		assert.Zero(t, results[e].duplicated, e)
		assert.Equal(t, total, results[e].received, e)
		assert.Zero(t, exporterMetric(m, "otelcol_exporter_send_failed_spans", "otlp_grpc/"+e), e)
	}
	assert.Zero(t, sink.Stats().Unauthenticated)
	require.NoError(t, col.Stop(30*time.Second))
}

// shippedTempoConfig returns harness options running the shipped
// distribution/config/local.yaml + local-tempo.yaml (memory_limiter,
// spannormalizer, tenantrouting, batch, and the otlp_grpc exporter with
// byte-capped, tenant-partitioned batches) on free ports against sink;
// overlay, when not empty, is merged last.
func shippedTempoConfig(t *testing.T, sink *temposink.Sink, overlays ...string) harness.Options {
	t.Helper()
	files := harness.ShippedConfigs(t, "local.yaml", "local-tempo.yaml")
	if len(overlays) > 0 {
		more, err := harness.TestdataFiles(overlays...)
		require.NoError(t, err)
		files = append(files, more...)
	}
	return harness.Options{
		ConfigFiles: files,
		Ports:       harness.NewPorts(t),
		Env:         map[string]string{"TEMPO_ENDPOINT": sink.GRPCAddr()},
	}
}

// poisonedRequests sends the two requests of TestPoisonedBatch: (1) tenant
// a's 201 spans, span 100 carrying a 3.5 MiB string attribute, with tenant
// b's 20 spans; (2) tenant c's 11 spans, span 5 carrying a 3.5 MiB bytes
// value (which cannot be truncated). Both must be answered OK.
func poisonedRequests(t *testing.T, grpcPort int) {
	t.Helper()
	conn, err := grpc.NewClient(fmt.Sprintf("127.0.0.1:%d", grpcPort), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	client := ptraceotlp.NewGRPCClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const huge = 3<<20 + 1<<19
	a := tenantSpans("a", 'a', 0, 201)
	a.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(100).Attributes().PutStr("test.payload", strings.Repeat("p", huge))
	_, err = client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(merge(a, tenantSpans("b", 'b', 0, 20))))
	require.NoError(t, err, "200 spans + 1 oversized of tenant a, 20 of b")
	c := tenantSpans("c", 'c', 0, 11)
	c.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(5).Attributes().PutEmptyBytes("test.blob").FromRaw(make([]byte, huge))
	_, err = client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(c))
	require.NoError(t, err, "10 spans + 1 oversized bytes value of tenant c")
}

// TestPoisonedBatch: one tenant's oversized span must not take other spans
// down with it, and nothing may vanish uncounted. Through the shipped
// configs, tenantrouting's max_span_bytes truncates the span's largest
// string value (marked mesh.truncated, counted in spans_truncated) so all
// 201 spans of the request arrive once; a span that cannot be truncated (a
// bytes value) is dropped alone and counted (spans_dropped{too_large}).
// The control (max_span_bytes: 0) shows the exporter's splitter dropping the
// oversized span with the rest of its batch, with a warning and no count.
func TestPoisonedBatch(t *testing.T) {
	requireComponent(t, "tenantrouting")
	requireComponent(t, "tenantheader")
	sink := startSink(t, temposink.Config{GRPCAddr: "127.0.0.1:0"})
	ctlSink := startSink(t, temposink.Config{GRPCAddr: "127.0.0.1:0"})
	opts := shippedTempoConfig(t, sink)
	ctlOpts := shippedTempoConfig(t, ctlSink, "reliability/no-span-cap.yaml")
	col := harness.Start(t, opts)
	ctl := harness.Start(t, ctlOpts)
	poisonedRequests(t, opts.Ports.OTLPGRPC)
	poisonedRequests(t, ctlOpts.Ports.OTLPGRPC)

	const truncatedMetric = "otelcol_processor_tenantrouting_spans_truncated"
	const droppedMetric = "otelcol_processor_tenantrouting_spans_dropped"
	var m harness.Metrics
	_, ok := waitFor(30*time.Second, func() bool {
		m = scrape(t, col)
		st := sink.Stats()
		return st.Spans["a"] >= 201 && st.Spans["b"] >= 20 && st.Spans["c"] >= 10 &&
			m.Sum(droppedMetric, map[string]string{"reason": "too_large"}) >= 1
	})
	_, ctlLogged := waitFor(30*time.Second, func() bool {
		return ctl.LogContains("Failed to split request.", "one span size is greater than max size")
	})
	time.Sleep(time.Second) // a late or duplicated span would show by now
	m = scrape(t, col)
	cm := scrape(t, ctl)

	exact := func(s *temposink.Sink, tenant string, prefix byte, n int, skip int) (got, missing, dup, foreign int) {
		counts := s.SpanIDCounts(tenant)
		want := map[pcommon.SpanID]bool{}
		for i := 0; i < n; i++ {
			if i != skip {
				want[spanID(prefix, uint32(i))] = true
			}
		}
		for id, c := range counts {
			got += c
			if !want[id] {
				foreign += c
			} else if c > 1 {
				dup += c - 1
			}
		}
		for id := range want {
			if counts[id] == 0 {
				missing++
			}
		}
		return got, missing, dup, foreign
	}
	marked := int64(-1)
	for _, td := range sink.Traces("a") {
		rss := td.ResourceSpans()
		for i := 0; i < rss.Len(); i++ {
			sp := rss.At(i).ScopeSpans().At(0).Spans()
			for k := 0; k < sp.Len(); k++ {
				if v, ok := sp.At(k).Attributes().Get("mesh.truncated"); ok {
					require.Equal(t, spanID('a', 100), sp.At(k).SpanID(), "only the oversized span is marked")
					marked = v.Int()
				}
			}
		}
	}
	var sizer ptrace.ProtoMarshaler
	largest := 0
	for _, tenant := range sink.Tenants() {
		for _, td := range sink.Traces(tenant) {
			largest = max(largest, sizer.TracesSize(td))
		}
	}
	type row struct {
		name              string
		s                 *temposink.Sink
		tenant            string
		prefix            byte
		n, skip           int
		wantMiss, wantGot int
	}
	rows := []row{
		{"shipped a", sink, "a", 'a', 201, -1, 0, 201},
		{"shipped b", sink, "b", 'b', 20, -1, 0, 20},
		{"shipped c", sink, "c", 'c', 11, 5, 0, 10},
	}
	for _, r := range rows {
		got, missing, dup, foreign := exact(r.s, r.tenant, r.prefix, r.n, r.skip)
		t.Logf("%s: received=%d missing=%d duplicated=%d foreign=%d", r.name, got, missing, dup, foreign)
		assert.Equal(t, r.wantGot, got, r.name)
		assert.Zero(t, missing, r.name)
		assert.Zero(t, dup, r.name)
		assert.Zero(t, foreign, r.name)
	}
	ctlA, ctlMissA, _, _ := exact(ctlSink, "a", 'a', 201, -1)
	ctlB, ctlMissB, _, _ := exact(ctlSink, "b", 'b', 20, -1)
	ctlC, ctlMissC, _, _ := exact(ctlSink, "c", 'c', 11, -1)
	t.Logf("shipped (max_span_bytes 3144704): a 201/201 with span 100 truncated by %d bytes (mesh.truncated), b 20/20, c 10/11 (the bytes span dropped); spans_truncated=%.0f spans_dropped{too_large}=%.0f; exporter sent=%.0f send_failed=%.0f; largest export %d bytes; split warning=%v (ok=%v)",
		marked, m.Sum(truncatedMetric, nil), m.Sum(droppedMetric, map[string]string{"reason": "too_large"}),
		m.Sum("otelcol_exporter_sent_spans", nil), m.Sum("otelcol_exporter_send_failed_spans", nil), largest,
		col.LogContains("Failed to split request."), ok)
	t.Logf("control (max_span_bytes 0): a %d/201 (missing %d), b %d/20 (missing %d), c %d/11 (missing %d); receiver accepted=%.0f exporter sent=%.0f send_failed=%.0f; split warning=%v (%q)",
		ctlA, ctlMissA, ctlB, ctlMissB, ctlC, ctlMissC, cm.Sum("otelcol_receiver_accepted_spans", nil),
		cm.Sum("otelcol_exporter_sent_spans", nil), cm.Sum("otelcol_exporter_send_failed_spans", nil), ctlLogged, splitWarning(ctl.Log()))
	require.True(t, ok, "not delivered or not counted: sink %v", sink.Stats().Spans)

	assert.Positive(t, marked, "the oversized span is marked with the bytes cut")
	assert.Equal(t, float64(1), m.Sum(truncatedMetric, nil))
	assert.Equal(t, float64(1), m.Sum(droppedMetric, map[string]string{"reason": "too_large"}))
	assert.Zero(t, m.Sum("otelcol_exporter_send_failed_spans", nil))
	assert.LessOrEqual(t, largest, 3145728, "no export over the batch max_size")
	assert.False(t, col.LogContains("Failed to split request."), "the exporter's splitter never meets an oversized span")
	assert.Equal(t, m.Sum("otelcol_receiver_accepted_spans", nil),
		m.Sum("otelcol_exporter_sent_spans", nil)+m.Sum(droppedMetric, nil), "every accepted span sent or counted")

	// Control: the upstream behaviour this guards against. If these fail,
	// the splitter changed upstream; keep the cap anyway (Tempo could not
	// store such a span) and revisit the README.
	assert.True(t, ctlLogged, "control: the splitter's warning")
	assert.Positive(t, ctlMissA, "control: the oversized span takes others down")
	assert.Zero(t, cm.Sum("otelcol_exporter_send_failed_spans", nil), "control: and the loss is not counted")
	assert.Zero(t, ctlMissB, "control: other tenants' batches are separate partitions")

	require.NoError(t, col.Stop(30*time.Second))
	require.NoError(t, ctl.Stop(30*time.Second))
}
