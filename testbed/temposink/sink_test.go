package temposink

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.uber.org/goleak"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func startSink(t *testing.T) *Sink {
	t.Helper()
	s, err := Start(Config{GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0"})
	require.NoError(t, err)
	t.Cleanup(s.Stop)
	return s
}

func tracesWithSpans(n int, attrBytes int) ptrace.Traces {
	td := ptrace.NewTraces()
	ss := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
	for i := 0; i < n; i++ {
		span := ss.Spans().AppendEmpty()
		span.SetName("op")
		if attrBytes > 0 {
			span.Attributes().PutStr("payload", strings.Repeat("x", attrBytes))
		}
	}
	return td
}

func grpcClient(t *testing.T, addr string) ptraceotlp.GRPCClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return ptraceotlp.NewGRPCClient(conn)
}

func TestGRPCRecordsTenantAndRejectsMissingOne(t *testing.T) {
	s := startSink(t)
	client := grpcClient(t, s.GRPCAddr())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	_, err := client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(tracesWithSpans(3, 0)))
	assert.Equal(t, codes.Unauthenticated, status.Code(err))

	tenantCtx := metadata.AppendToOutgoingContext(ctx, "X-Scope-OrgID", "alpha")
	_, err = client.Export(tenantCtx, ptraceotlp.NewExportRequestFromTraces(tracesWithSpans(3, 0)))
	require.NoError(t, err)

	st := s.Stats()
	assert.Equal(t, 2, st.Requests)
	assert.Equal(t, 1, st.Unauthenticated)
	assert.Equal(t, map[string]int{"alpha": 3}, st.Spans)
	assert.Len(t, s.Traces("alpha"), 1)
	assert.Equal(t, []string{"alpha"}, s.Tenants())
}

func TestGRPCKeepsTheDefaultFourMiBLimit(t *testing.T) {
	s := startSink(t)
	client := grpcClient(t, s.GRPCAddr())
	ctx := metadata.AppendToOutgoingContext(context.Background(), "X-Scope-OrgID", "alpha")
	// 5 spans of 1 MiB each: one request over 4 MiB.
	_, err := client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(tracesWithSpans(5, 1<<20)))
	assert.Equal(t, codes.ResourceExhausted, status.Code(err))
	assert.Equal(t, 0, s.SpanCount("alpha"))
}

func postHTTP(t *testing.T, s *Sink, tenant string, td ptrace.Traces) int {
	t.Helper()
	body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, "http://"+s.HTTPAddr()+"/v1/traces", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-protobuf")
	if tenant != "" {
		req.Header.Set(TenantHeader, tenant)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	return resp.StatusCode
}

func TestHTTPRecordsTenantAndRejectsMissingOne(t *testing.T) {
	s := startSink(t)
	assert.Equal(t, http.StatusUnauthorized, postHTTP(t, s, "", tracesWithSpans(2, 0)))
	assert.Equal(t, http.StatusOK, postHTTP(t, s, "beta", tracesWithSpans(2, 0)))
	assert.Equal(t, 2, s.SpanCount("beta"))
	assert.Equal(t, 1, s.Stats().Unauthenticated)
}

func TestFaultsAreAnsweredAndCounted(t *testing.T) {
	s := startSink(t)
	s.SetFault(func(string, int) error { return status.Error(codes.ResourceExhausted, "slow down") })
	assert.Equal(t, http.StatusTooManyRequests, postHTTP(t, s, "beta", tracesWithSpans(2, 0)))

	client := grpcClient(t, s.GRPCAddr())
	ctx := metadata.AppendToOutgoingContext(context.Background(), "X-Scope-OrgID", "beta")
	_, err := client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(tracesWithSpans(1, 0)))
	assert.Equal(t, codes.ResourceExhausted, status.Code(err))

	s.SetFault(nil)
	assert.Equal(t, http.StatusOK, postHTTP(t, s, "beta", tracesWithSpans(2, 0)))
	st := s.Stats()
	assert.Equal(t, 2, st.Faulted)
	assert.Equal(t, map[string]int{"beta": 2}, st.Spans)
}

func TestDownAndUpKeepAddressAndRecords(t *testing.T) {
	s := startSink(t)
	grpcAddr, httpAddr := s.GRPCAddr(), s.HTTPAddr()
	assert.Equal(t, http.StatusOK, postHTTP(t, s, "beta", tracesWithSpans(2, 0)))

	s.Down()
	_, err := http.Post("http://"+httpAddr+"/v1/traces", "application/x-protobuf", bytes.NewReader(nil))
	require.Error(t, err, "nothing listens while the sink is down")
	client := grpcClient(t, grpcAddr)
	ctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(context.Background(), "X-Scope-OrgID", "beta"), 5*time.Second)
	defer cancel()
	_, err = client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(tracesWithSpans(1, 0)))
	assert.Equal(t, codes.Unavailable, status.Code(err))

	require.NoError(t, s.Up())
	assert.Equal(t, grpcAddr, s.GRPCAddr())
	assert.Equal(t, httpAddr, s.HTTPAddr())
	assert.Error(t, s.Up(), "Up while serving")
	assert.Equal(t, http.StatusOK, postHTTP(t, s, "beta", tracesWithSpans(3, 0)))
	// The client backs off after the refused dial; wait for it to reconnect.
	_, err = client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(tracesWithSpans(1, 0)), grpc.WaitForReady(true))
	require.NoError(t, err)
	assert.Equal(t, 6, s.SpanCount("beta"), "records from before Down are kept")
}

func TestDelayHoldsTheAnswerUntilTheSenderGivesUp(t *testing.T) {
	s := startSink(t)
	s.SetDelay(time.Hour)
	client := grpcClient(t, s.GRPCAddr())
	ctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(context.Background(), "X-Scope-OrgID", "beta"), 200*time.Millisecond)
	defer cancel()
	_, err := client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(tracesWithSpans(1, 0)))
	assert.Equal(t, codes.DeadlineExceeded, status.Code(err))
	assert.Equal(t, 0, s.SpanCount("beta"), "an abandoned request is not recorded")

	s.SetDelay(10 * time.Millisecond)
	assert.Equal(t, http.StatusOK, postHTTP(t, s, "beta", tracesWithSpans(2, 0)))
	assert.Equal(t, 2, s.SpanCount("beta"))
}

func TestSpanIDCountsFindsDuplicates(t *testing.T) {
	s := startSink(t)
	td := tracesWithSpans(2, 0)
	spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	spans.At(0).SetSpanID([8]byte{1})
	spans.At(1).SetSpanID([8]byte{2})
	assert.Equal(t, http.StatusOK, postHTTP(t, s, "beta", td))
	assert.Equal(t, http.StatusOK, postHTTP(t, s, "beta", td))
	counts := s.SpanIDCounts("beta")
	assert.Equal(t, 2, counts[[8]byte{1}])
	assert.Equal(t, 2, counts[[8]byte{2}])
	assert.Len(t, counts, 2)
	assert.Empty(t, s.SpanIDCounts("alpha"))
}

func TestThrottleTenantRefusesOnlyThatTenant(t *testing.T) {
	s := startSink(t)
	s.SetFault(ThrottleTenant("noisy", time.Now().Add(time.Hour), 2*time.Second))
	client := grpcClient(t, s.GRPCAddr())
	ctx := context.Background()

	_, err := client.Export(metadata.AppendToOutgoingContext(ctx, "X-Scope-OrgID", "noisy"), ptraceotlp.NewExportRequestFromTraces(tracesWithSpans(2, 0)))
	st := status.Convert(err)
	assert.Equal(t, codes.ResourceExhausted, st.Code())
	require.Len(t, st.Details(), 1, "RetryInfo attached")
	assert.Equal(t, 2*time.Second, st.Details()[0].(*errdetails.RetryInfo).GetRetryDelay().AsDuration())
	assert.Equal(t, http.StatusTooManyRequests, postHTTP(t, s, "noisy", tracesWithSpans(1, 0)))

	_, err = client.Export(metadata.AppendToOutgoingContext(ctx, "X-Scope-OrgID", "quiet"), ptraceotlp.NewExportRequestFromTraces(tracesWithSpans(3, 0)))
	require.NoError(t, err)
	assert.Equal(t, map[string]int{"quiet": 3}, s.Stats().Spans)
	arr := s.Arrivals("quiet")
	require.Len(t, arr, 1)
	assert.Equal(t, 3, arr[0].Traces.SpanCount())
	assert.False(t, arr[0].At.IsZero())
	assert.Empty(t, s.Arrivals("noisy"))

	// Past its end the throttle lets the tenant through.
	s.SetFault(ThrottleTenant("noisy", time.Now().Add(-time.Second), 0))
	_, err = client.Export(metadata.AppendToOutgoingContext(ctx, "X-Scope-OrgID", "noisy"), ptraceotlp.NewExportRequestFromTraces(tracesWithSpans(2, 0)))
	require.NoError(t, err)
	assert.Equal(t, 2, s.SpanCount("noisy"))
}
