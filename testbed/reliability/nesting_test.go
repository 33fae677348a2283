package reliability

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/otelcol-mesh/otelcol-mesh/testbed/harness"
)

// nestingConfig receives OTLP and prints span counts with the debug
// exporter, so only the receiver's decoding meets the nesting.
// {{.HTTPLimit}} is "" (the 20 MiB default) or a max_request_body_size line.
const nestingConfig = `
extensions:
  health_check:
    endpoint: 127.0.0.1:{{.Health}}
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{{.OTLPGRPC}}
      http:
        endpoint: 127.0.0.1:{{.OTLPHTTP}}
        {{.HTTPLimit}}
exporters:
  debug:
    verbosity: basic
service:
  extensions: [health_check]` + telemetryBlock + `
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [debug]
`

type nestingData struct {
	harness.Ports
	HTTPLimit string
}

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
		ports := harness.NewPorts(t)
		col := harness.Start(t, harness.Options{Config: harness.Render(t, nestingConfig, nestingData{Ports: ports}), Ports: ports})
		code, err := post(ports.OTLPHTTP, attack)
		exitErr := col.WaitExit(30 * time.Second)
		t.Logf("default limit: %d-level nesting in a %d-byte OTLP/HTTP protobuf request -> status=%d err=%v; collector exit: %v; stack overflow in log: %v",
			attackDepth, len(attack), code, err, exitErr, col.LogContains("fatal error: stack overflow"))
		assert.True(t, col.Exited(), "upstream fixed the unbounded recursion? then drop the control and keep the limit anyway")
		assert.True(t, col.LogContains("fatal error: stack overflow"))
	})

	t.Run("max_request_body_size 4 MiB: refused, survives the deepest request that fits", func(t *testing.T) {
		ports := harness.NewPorts(t)
		col := harness.Start(t, harness.Options{
			Config: harness.Render(t, nestingConfig, nestingData{Ports: ports, HTTPLimit: "max_request_body_size: 4194304"}),
			Ports:  ports,
		})
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
