package reliability

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	grpcgzip "google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/otelcol-mesh/otelcol-mesh/testbed/harness"
)

// nestedArrayRequest hand-encodes, without recursion, an
// ExportTraceServiceRequest holding one span with one attribute whose value
// is an array nested depth levels deep. Returns the encoded request.
func nestedArrayRequest(depth int) []byte {
	leaf := protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), "leaf") // AnyValue{string_value}
	// lens[i] is the encoded length of the AnyValue at nesting level i.
	lens := make([]int, depth+1)
	lens[0] = len(leaf)
	arr := make([]int, depth+1) // ArrayValue content length at level i
	for i := 1; i <= depth; i++ {
		arr[i] = 1 + protowire.SizeVarint(uint64(lens[i-1])) + lens[i-1]
		lens[i] = 1 + protowire.SizeVarint(uint64(arr[i])) + arr[i]
	}
	value := make([]byte, 0, lens[depth])
	for i := depth; i >= 1; i-- {
		value = protowire.AppendTag(value, 5, protowire.BytesType) // AnyValue.array_value
		value = protowire.AppendVarint(value, uint64(arr[i]))
		value = protowire.AppendTag(value, 1, protowire.BytesType) // ArrayValue.values
		value = protowire.AppendVarint(value, uint64(lens[i-1]))
	}
	value = append(value, leaf...)
	return wrapValue(value)
}

// deepestUnder is the deepest nesting whose request fits in limit bytes,
// and that request's size. Sizes grow with depth, so it walks up once.
func deepestUnder(limit int) (int, int) {
	wrap := func(valueLen int) int { // the request around a value of valueLen bytes
		kv := protowire.SizeTag(1) + protowire.SizeBytes(len("deep")) + protowire.SizeTag(2) + protowire.SizeBytes(valueLen)
		span := 2*protowire.SizeTag(1) + protowire.SizeBytes(16) + protowire.SizeBytes(8) + protowire.SizeTag(5) + protowire.SizeBytes(len("deep")) +
			protowire.SizeTag(9) + protowire.SizeBytes(kv)
		scope := protowire.SizeTag(2) + protowire.SizeBytes(span)
		rs := protowire.SizeTag(2) + protowire.SizeBytes(scope)
		return protowire.SizeTag(1) + protowire.SizeBytes(rs)
	}
	l := 1 + protowire.SizeBytes(len("leaf"))
	depth, size := 0, wrap(l)
	for {
		a := 1 + protowire.SizeBytes(l)
		next := 1 + protowire.SizeBytes(a)
		if wrap(next) > limit {
			return depth, size
		}
		depth, l, size = depth+1, next, wrap(next)
	}
}

// TestDeepNestingNeedsTheHTTPBodyLimit: pdata v1.67 decodes nested
// AnyValues recursively with no depth limit, so one OTLP/HTTP protobuf
// request of ~1.4M nested arrays (~13 MB, under the receiver's default
// 20 MiB body limit; gzip does not help, the limit applies after
// decompression) kills the collector with "fatal error: stack overflow".
// With max_request_body_size: 4194304 (the gRPC side's default message
// limit) the same request is refused with 400 and the deepest request that
// fits, over HTTP or gRPC, is decoded without harm.
func TestDeepNestingNeedsTheHTTPBodyLimit(t *testing.T) {
	const attackDepth = 1_400_000
	attack := nestedArrayRequest(attackDepth)
	post := func(port int, body []byte) (int, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, fmt.Sprintf("http://127.0.0.1:%d/v1/traces", port), bytes.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/x-protobuf")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		_ = resp.Body.Close()
		return resp.StatusCode, nil
	}

	t.Run("default 20 MiB HTTP limit: the collector crashes (control)", func(t *testing.T) {
		opts := ownPipeline(t, nil, "otlp-http.yaml", "reliability/nesting.yaml")
		col, ports := harness.Start(t, opts), opts.Ports
		code, err := post(ports.OTLPHTTP, attack)
		exitErr := col.WaitExit(30 * time.Second)
		t.Logf("default limit: %d-level nesting in a %d-byte OTLP/HTTP protobuf request -> status=%d err=%v; collector exit: %v; stack overflow in log: %v",
			attackDepth, len(attack), code, err, exitErr, col.LogContains("fatal error: stack overflow"))
		assert.True(t, col.Exited(), "upstream fixed the unbounded recursion? then drop the control and keep the limit anyway")
		assert.True(t, col.LogContains("fatal error: stack overflow"))
	})

	t.Run("max_request_body_size 4 MiB: refused, survives the deepest request that fits", func(t *testing.T) {
		opts := ownPipeline(t, nil, "otlp-http.yaml", "reliability/nesting.yaml", "reliability/nesting-http-limit.yaml")
		col, ports := harness.Start(t, opts), opts.Ports
		code, err := post(ports.OTLPHTTP, attack)
		require.NoError(t, err)
		assert.Equal(t, http.StatusBadRequest, code, "body too large")

		depth, size := deepestUnder(4 << 20)
		deepest := nestedArrayRequest(depth)
		require.Len(t, deepest, size)
		httpCode, err := post(ports.OTLPHTTP, deepest)
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, httpCode)

		conn, err := grpc.NewClient(fmt.Sprintf("127.0.0.1:%d", ports.OTLPGRPC), grpc.WithTransportCredentials(insecure.NewCredentials()))
		require.NoError(t, err)
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		// The gRPC limit counts the whole message; a little shallower fits.
		gdepth, _ := deepestUnder(4<<20 - 64)
		grpcErr := conn.Invoke(ctx, exportMethod, nestedArrayRequest(gdepth), new([]byte), grpc.ForceCodec(rawCodec{}))
		require.NoError(t, grpcErr)

		_, ok := waitFor(30*time.Second, func() bool {
			return scrape(t, col).Sum("otelcol_exporter_sent_spans", nil) == 2
		})
		t.Logf("4 MiB HTTP limit: attack -> HTTP %d; deepest HTTP request that fits: %d levels in %d bytes -> HTTP %d; gRPC %d levels -> %v; both decoded and exported (ok=%v); collector alive=%v",
			code, depth, size, httpCode, gdepth, grpcErr, ok, !col.Exited())
		assert.True(t, ok)
		require.NoError(t, col.WaitHealthy())
		require.NoError(t, col.Stop(30*time.Second))
	})
}

// Nesting kinds for nestedValueRequest: each level of the attribute value is
// an ArrayValue or a KeyValueList with one entry whose key is empty (an
// empty key is not encoded, so a kvlist level costs the fewest bytes).
const (
	levelArray  = 'a'
	levelKvlist = 'k'
)

// nestedLevel returns the encoded length of one nesting level around an
// inner AnyValue of inner bytes.
func nestedLevel(kind byte, inner int) int {
	if kind == levelArray {
		arr := 1 + protowire.SizeVarint(uint64(inner)) + inner // ArrayValue{values}
		return 1 + protowire.SizeVarint(uint64(arr)) + arr     // AnyValue{array_value}
	}
	kv := 1 + protowire.SizeVarint(uint64(inner)) + inner // KeyValue{value}
	kl := 1 + protowire.SizeVarint(uint64(kv)) + kv       // KeyValueList{values}
	return 1 + protowire.SizeVarint(uint64(kl)) + kl      // AnyValue{kvlist_value}
}

// nestedValueRequest hand-encodes, without recursion, an
// ExportTraceServiceRequest with one span whose one attribute is nested
// depth levels deep, level i (1 = innermost) of kind kinds[i%len(kinds)].
func nestedValueRequest(kinds string, depth int) []byte {
	leaf := protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), "leaf")
	lens := make([]int, depth+1)
	lens[0] = len(leaf)
	for i := 1; i <= depth; i++ {
		lens[i] = nestedLevel(kinds[i%len(kinds)], lens[i-1])
	}
	value := make([]byte, 0, lens[depth])
	for i := depth; i >= 1; i-- {
		inner := uint64(lens[i-1])
		if kinds[i%len(kinds)] == levelArray {
			arr := 1 + protowire.SizeVarint(inner) + lens[i-1]
			value = protowire.AppendTag(value, 5, protowire.BytesType) // AnyValue.array_value
			value = protowire.AppendVarint(value, uint64(arr))
			value = protowire.AppendTag(value, 1, protowire.BytesType) // ArrayValue.values
			value = protowire.AppendVarint(value, inner)
			continue
		}
		kv := 1 + protowire.SizeVarint(inner) + lens[i-1]
		kl := 1 + protowire.SizeVarint(uint64(kv)) + kv
		value = protowire.AppendTag(value, 6, protowire.BytesType) // AnyValue.kvlist_value
		value = protowire.AppendVarint(value, uint64(kl))
		value = protowire.AppendTag(value, 1, protowire.BytesType) // KeyValueList.values
		value = protowire.AppendVarint(value, uint64(kv))
		value = protowire.AppendTag(value, 2, protowire.BytesType) // KeyValue.value (key "" omitted)
		value = protowire.AppendVarint(value, inner)
	}
	value = append(value, leaf...)
	return wrapValue(value)
}

// wrapValue encodes the request around one attribute value: resource spans,
// scope spans, span (valid IDs, name "deep"), attribute "deep".
func wrapValue(value []byte) []byte {
	var kv []byte
	kv = protowire.AppendString(protowire.AppendTag(kv, 1, protowire.BytesType), "deep")
	kv = protowire.AppendBytes(protowire.AppendTag(kv, 2, protowire.BytesType), value)
	var span []byte
	span = protowire.AppendBytes(protowire.AppendTag(span, 1, protowire.BytesType), bytes.Repeat([]byte{0x6e}, 16))
	span = protowire.AppendBytes(protowire.AppendTag(span, 2, protowire.BytesType), bytes.Repeat([]byte{0x6e}, 8))
	span = protowire.AppendString(protowire.AppendTag(span, 5, protowire.BytesType), "deep")
	span = protowire.AppendBytes(protowire.AppendTag(span, 9, protowire.BytesType), kv)
	scope := protowire.AppendBytes(protowire.AppendTag(nil, 2, protowire.BytesType), span)
	rs := protowire.AppendBytes(protowire.AppendTag(nil, 2, protowire.BytesType), scope)
	return protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), rs)
}

// deepestValueUnder is the deepest nesting of kinds whose request fits in
// limit bytes.
func deepestValueUnder(kinds string, limit int) int {
	overhead := len(wrapValue(nil)) + 8 // the wrapper's lengths grow by at most 8 bytes of varints
	l := 1 + protowire.SizeBytes(len("leaf"))
	depth := 0
	for {
		next := nestedLevel(kinds[(depth+1)%len(kinds)], l)
		if next+overhead > limit {
			return depth
		}
		depth, l = depth+1, next
	}
}

// TestDeepNestingCompressedAndGRPC runs the shipped local.yaml (OTLP/HTTP
// max_request_body_size 4 MiB, gRPC's default 4 MiB message limit) and sends
// the nesting attack the limits exist for in the forms that could slip past
// them: gzip-compressed over HTTP and over gRPC (a ~10 MB message that
// compresses to a few hundred KB), and gRPC messages just under 4 MiB that
// are nothing but nested kvlists, or kvlists and arrays alternating. Each
// must be refused or survived; afterwards the collector is healthy and a
// normal request is delivered.
//
// confighttp v0.161.0 applies max_request_body_size twice: to the body on the
// wire (maxRequestBodySizeInterceptor, server.go) and to the decompressed body
// (the decompressor wraps it in http.MaxBytesReader, compression.go).
// grpc-go checks its limit against the decompressed message too.
func TestDeepNestingCompressedAndGRPC(t *testing.T) {
	ports := harness.NewPorts(t)
	col := harness.Start(t, harness.Options{
		ConfigFiles: harness.ShippedConfigs(t, "local.yaml"),
		Ports:       ports,
	})
	conn, err := grpc.NewClient(fmt.Sprintf("127.0.0.1:%d", ports.OTLPGRPC), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	alive := func(step string) {
		t.Helper()
		require.False(t, col.Exited(), "%s: the collector crashed:\n%s", step, col.Log())
		require.NoError(t, col.WaitHealthy(), step)
	}

	// A gzip body under 4 MiB that inflates to ~9.5 MB of nesting.
	const attackDepth = 1_000_000
	attack := nestedArrayRequest(attackDepth)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, err = zw.Write(attack)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, fmt.Sprintf("http://127.0.0.1:%d/v1/traces", ports.OTLPHTTP), bytes.NewReader(gz.Bytes()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("Content-Encoding", "gzip")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	t.Logf("HTTP gzip: %d bytes inflating to %d (%d levels) -> HTTP %d %q", gz.Len(), len(attack), attackDepth, resp.StatusCode, truncate(string(body), 60))
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Contains(t, string(body), "request body too large")
	alive("after the gzip HTTP body")

	// The same over gRPC, gzip-compressed.
	gerr := conn.Invoke(ctx, exportMethod, attack, new([]byte), grpc.ForceCodec(rawCodec{}), grpc.UseCompressor(grpcgzip.Name))
	t.Logf("gRPC gzip: %d-byte message (%d levels), sent compressed -> %s %q", len(attack), attackDepth, status.Code(gerr), truncate(status.Convert(gerr).Message(), 80))
	assert.Equal(t, codes.ResourceExhausted, status.Code(gerr), "grpc-go limits the decompressed size")
	alive("after the gzip gRPC message")

	// Just under 4 MiB of nothing but nesting.
	accepted := 0
	for _, kinds := range []string{"k", "ka"} {
		depth := deepestValueUnder(kinds, 4<<20-64)
		msg := nestedValueRequest(kinds, depth)
		start := time.Now()
		err := conn.Invoke(ctx, exportMethod, msg, new([]byte), grpc.ForceCodec(rawCodec{}))
		t.Logf("gRPC %q nesting: %d levels in %d bytes -> %s %q (%s)", kinds, depth, len(msg), status.Code(err), truncate(status.Convert(err).Message(), 80), time.Since(start).Round(time.Millisecond))
		alive("after gRPC nesting " + kinds)
		require.LessOrEqual(t, len(msg), 4<<20, "the message fits the gRPC limit")
		if err == nil {
			accepted++
		}
	}

	// A normal request is still delivered.
	src := newStream(t, 'n', ports.OTLPGRPC)
	require.NoError(t, src.send(ctx, 50, 0))
	var m harness.Metrics
	_, ok := waitFor(30*time.Second, func() bool {
		m = scrape(t, col)
		return m.Sum("otelcol_receiver_accepted_spans", nil) >= float64(50+accepted) &&
			m.Sum("otelcol_exporter_sent_spans", nil)+m.Sum("otelcol_processor_tenantrouting_spans_dropped", nil) >= float64(50+accepted)
	})
	t.Logf("afterwards: receiver accepted=%.0f refused=%.0f; tenantrouting dropped %v; exporter sent=%.0f; ok=%v",
		m.Sum("otelcol_receiver_accepted_spans", nil), m.Sum("otelcol_receiver_refused_spans", nil),
		droppedByReason(m), m.Sum("otelcol_exporter_sent_spans", nil), ok)
	assert.True(t, ok, "the normal request was delivered")
	require.NoError(t, col.Stop(30*time.Second))
}

// droppedByReason lists tenantrouting's spans_dropped by reason.
func droppedByReason(m harness.Metrics) map[string]float64 {
	out := map[string]float64{}
	for _, s := range m["otelcol_processor_tenantrouting_spans_dropped"] {
		out[s.Labels["reason"]] += s.Value
	}
	return out
}
