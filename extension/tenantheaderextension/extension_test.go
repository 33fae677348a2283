package tenantheaderextension

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/extension/extensionauth"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	grpcmetadata "google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/otelcol-mesh/otelcol-mesh/extension/tenantheaderextension/internal/metadata"
	"github.com/otelcol-mesh/otelcol-mesh/extension/tenantheaderextension/internal/metadatatest"
	"github.com/otelcol-mesh/otelcol-mesh/internal/meshattr"
)

func newTestExtension(t *testing.T, tel *componenttest.Telemetry, mutate func(*Config)) *tenantHeader {
	cfg := createDefaultConfig().(*Config)
	if mutate != nil {
		mutate(cfg)
	}
	require.NoError(t, cfg.Validate())
	set := extensiontest.NewNopSettings(metadata.Type)
	if tel != nil {
		set = metadatatest.NewSettings(tel)
	}
	ext, err := NewFactory().Create(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, ext.Shutdown(context.Background())) })
	return ext.(*tenantHeader)
}

func tenantCtx(key string, vals ...string) context.Context {
	return client.NewContext(context.Background(), client.Info{
		Metadata: client.NewMetadata(map[string][]string{key: vals}),
	})
}

func TestImplementsClientAuth(t *testing.T) {
	ext, err := NewFactory().Create(context.Background(), extensiontest.NewNopSettings(metadata.Type), createDefaultConfig())
	require.NoError(t, err)
	_, isGRPC := ext.(extensionauth.GRPCClient)
	_, isHTTP := ext.(extensionauth.HTTPClient)
	assert.True(t, isGRPC)
	assert.True(t, isHTTP)
	require.NoError(t, ext.Shutdown(context.Background()))
}

func TestGetRequestMetadata(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	e := newTestExtension(t, tel, nil)
	creds, err := e.PerRPCCredentials()
	require.NoError(t, err)
	assert.False(t, creds.RequireTransportSecurity())

	md, err := creds.GetRequestMetadata(tenantCtx("X-Scope-OrgID", "alpha"))
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"x-scope-orgid": "alpha"}, md, "key lowercased for gRPC")

	for _, ctx := range []context.Context{
		context.Background(),
		tenantCtx("other-key", "alpha"),
		tenantCtx(meshattr.DefaultTenantMetadataKey, ""),
		tenantCtx(meshattr.DefaultTenantMetadataKey, "a", "b"),
		tenantCtx(meshattr.DefaultTenantMetadataKey, "a\r\nx-evil: 1"),
	} {
		md, err = creds.GetRequestMetadata(ctx)
		assert.Nil(t, md)
		assert.Equal(t, codes.Unauthenticated, status.Code(err))
	}
	attrs := func(reason string) attribute.Set {
		return attribute.NewSet(attribute.String("reason", reason), attribute.String("transport", "grpc"))
	}
	metadatatest.AssertEqualExtensionTenantheaderRequestsRefused(t, tel, []metricdata.DataPoint[int64]{
		{Value: 3, Attributes: attrs("no_tenant")},
		{Value: 1, Attributes: attrs("multiple_tenants")},
		{Value: 1, Attributes: attrs("invalid_tenant")},
	}, metricdatatest.IgnoreTimestamp())
}

// recordingTraceServer is an OTLP trace service that records the incoming
// gRPC metadata of every export.
type recordingTraceServer struct {
	ptraceotlp.UnimplementedGRPCServer
	mu  sync.Mutex
	mds []grpcmetadata.MD
}

func (s *recordingTraceServer) Export(ctx context.Context, _ ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	md, _ := grpcmetadata.FromIncomingContext(ctx)
	s.mu.Lock()
	s.mds = append(s.mds, md)
	s.mu.Unlock()
	return ptraceotlp.NewExportResponse(), nil
}

func (s *recordingTraceServer) received() []grpcmetadata.MD {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]grpcmetadata.MD(nil), s.mds...)
}

func exportRequest() ptraceotlp.ExportRequest {
	td := ptrace.NewTraces()
	td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty().SetName("s")
	return ptraceotlp.NewExportRequestFromTraces(td)
}

func TestGRPCThroughRealServer(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	e := newTestExtension(t, tel, nil)

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	rec := &recordingTraceServer{}
	ptraceotlp.RegisterGRPCServer(srv, rec)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	t.Cleanup(func() {
		srv.Stop()
		require.NoError(t, <-served)
	})

	creds, err := e.PerRPCCredentials()
	require.NoError(t, err)
	conn, err := grpc.NewClient(lis.Addr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(creds))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, conn.Close()) })
	exp := ptraceotlp.NewGRPCClient(conn)

	_, err = exp.Export(tenantCtx(meshattr.DefaultTenantMetadataKey, "alpha"), exportRequest())
	require.NoError(t, err)
	_, err = exp.Export(tenantCtx(meshattr.DefaultTenantMetadataKey, "beta"), exportRequest())
	require.NoError(t, err)

	_, err = exp.Export(context.Background(), exportRequest())
	require.Error(t, err)
	assert.Equal(t, codes.Unauthenticated, status.Code(err))
	assert.Contains(t, err.Error(), "no tenant")
	_, err = exp.Export(tenantCtx(meshattr.DefaultTenantMetadataKey, "a", "b"), exportRequest())
	assert.Equal(t, codes.Unauthenticated, status.Code(err))

	// Outgoing metadata with the same key (what a static `headers:` entry on
	// the exporter becomes) is NOT replaced: gRPC sends both values. The
	// README says never to configure the header statically as well.
	static := grpcmetadata.AppendToOutgoingContext(tenantCtx(meshattr.DefaultTenantMetadataKey, "gamma"), "x-scope-orgid", "static")
	_, err = exp.Export(static, exportRequest())
	require.NoError(t, err)

	got := rec.received()
	require.Len(t, got, 3, "refused exports never reach the server")
	assert.Equal(t, []string{"alpha"}, got[0].Get("x-scope-orgid"))
	assert.Equal(t, []string{"beta"}, got[1].Get("x-scope-orgid"))
	assert.ElementsMatch(t, []string{"gamma", "static"}, got[2].Get("x-scope-orgid"))

	attrs := func(reason string) attribute.Set {
		return attribute.NewSet(attribute.String("reason", reason), attribute.String("transport", "grpc"))
	}
	metadatatest.AssertEqualExtensionTenantheaderRequestsRefused(t, tel, []metricdata.DataPoint[int64]{
		{Value: 1, Attributes: attrs("no_tenant")},
		{Value: 1, Attributes: attrs("multiple_tenants")},
	}, metricdatatest.IgnoreTimestamp())
}

type trackingBody struct {
	io.Reader
	closed bool
}

func (b *trackingBody) Close() error { b.closed = true; return nil }

func TestHTTPRoundTripper(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	e := newTestExtension(t, tel, func(c *Config) { c.MetadataKey = "tenant" })

	var mu sync.Mutex
	var got []http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Header.Clone())
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)

	rt, err := e.RoundTripper(srv.Client().Transport)
	require.NoError(t, err)
	hc := &http.Client{Transport: rt}

	post := func(ctx context.Context, spoofed string) (*http.Request, *trackingBody, error) {
		body := &trackingBody{Reader: strings.NewReader("payload")}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/v1/traces", body)
		require.NoError(t, err)
		if spoofed != "" {
			req.Header.Set("X-Scope-OrgID", spoofed)
		}
		resp, err := hc.Do(req)
		if resp != nil {
			require.NoError(t, resp.Body.Close())
		}
		return req, body, err
	}

	req, _, err := post(tenantCtx("tenant", "alpha"), "")
	require.NoError(t, err)
	assert.Empty(t, req.Header.Get("X-Scope-OrgID"), "the caller's request is not modified")

	// A header already on the request (say a static exporter header) is replaced.
	_, _, err = post(tenantCtx("tenant", "beta"), "evil")
	require.NoError(t, err)

	_, body, err := post(context.Background(), "evil")
	require.Error(t, err)
	assert.True(t, consumererror.IsPermanent(err), "not retried: a retry carries the same context")
	assert.True(t, errors.Is(err, errNoTenant))
	assert.True(t, body.closed, "the body is closed even when refused")

	_, _, err = post(tenantCtx("tenant", "a", "b"), "")
	assert.ErrorIs(t, err, errMultipleTenants)
	_, _, err = post(tenantCtx("tenant", "a b"), "")
	assert.ErrorIs(t, err, errInvalidTenant)

	mu.Lock()
	defer mu.Unlock()
	require.Len(t, got, 2, "refused requests never reach the server")
	assert.Equal(t, []string{"alpha"}, got[0].Values("X-Scope-OrgID"))
	assert.Equal(t, []string{"beta"}, got[1].Values("X-Scope-OrgID"))

	attrs := func(reason string) attribute.Set {
		return attribute.NewSet(attribute.String("reason", reason), attribute.String("transport", "http"))
	}
	metadatatest.AssertEqualExtensionTenantheaderRequestsRefused(t, tel, []metricdata.DataPoint[int64]{
		{Value: 1, Attributes: attrs("no_tenant")},
		{Value: 1, Attributes: attrs("multiple_tenants")},
		{Value: 1, Attributes: attrs("invalid_tenant")},
	}, metricdatatest.IgnoreTimestamp())
}

func TestHTTPNilBaseUsesDefaultTransport(t *testing.T) {
	e := newTestExtension(t, nil, nil)
	rt, err := e.RoundTripper(nil)
	require.NoError(t, err)
	assert.Equal(t, http.DefaultTransport, rt.(*roundTripper).base)
}
