package tenantheaderextension // import "github.com/otelcol-mesh/otelcol-mesh/extension/tenantheaderextension"

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/extensionauth"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/otelcol-mesh/otelcol-mesh/extension/tenantheaderextension/internal/metadata"
	"github.com/otelcol-mesh/otelcol-mesh/internal/meshattr"
)

const (
	transportGRPC = "grpc"
	transportHTTP = "http"
)

// refusal is why a request carries no usable tenant.
type refusal int

const (
	ok              = refusal(meshattr.TenantFound)
	noTenant        = refusal(meshattr.NoTenant)
	multipleTenants = refusal(meshattr.MultipleTenants)
	invalidTenant   = multipleTenants + 1
	numRefusals     = invalidTenant + 1
)

var refusalReasons = [numRefusals]string{"", "no_tenant", "multiple_tenants", "invalid_tenant"}

// Errors returned when a request is refused. The gRPC path turns them into
// codes.Unauthenticated, the HTTP path into permanent errors: the exporter
// does not retry either, since a retry would carry the same context.
var (
	errNoTenant        = errors.New("tenantheader: no tenant in the request context, refusing to export")
	errMultipleTenants = errors.New("tenantheader: more than one tenant in the request context, refusing to export")
	errInvalidTenant   = errors.New("tenantheader: tenant in the request context is not a valid header value, refusing to export")
)

var refusalErrors = [numRefusals]error{nil, errNoTenant, errMultipleTenants, errInvalidTenant}

type tenantHeader struct {
	component.StartFunc

	header      string // as configured, for HTTP
	grpcHeader  string // lower case, for gRPC metadata
	metadataKey string
	telemetry   *metadata.TelemetryBuilder
	// refusedAttrs[transport][reason], built once.
	refusedGRPC [numRefusals]metric.AddOption
	refusedHTTP [numRefusals]metric.AddOption
}

var (
	_ extension.Extension      = (*tenantHeader)(nil)
	_ extensionauth.GRPCClient = (*tenantHeader)(nil)
	_ extensionauth.HTTPClient = (*tenantHeader)(nil)
)

func newTenantHeader(set extension.Settings, cfg *Config) (*tenantHeader, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	e := &tenantHeader{
		header:      cfg.Header,
		grpcHeader:  strings.ToLower(cfg.Header),
		metadataKey: cfg.MetadataKey,
		telemetry:   tb,
	}
	for r := noTenant; r < numRefusals; r++ {
		reason := attribute.String("reason", refusalReasons[r])
		e.refusedGRPC[r] = metric.WithAttributeSet(attribute.NewSet(reason, attribute.String("transport", transportGRPC)))
		e.refusedHTTP[r] = metric.WithAttributeSet(attribute.NewSet(reason, attribute.String("transport", transportHTTP)))
	}
	return e, nil
}

func (e *tenantHeader) Shutdown(context.Context) error {
	e.telemetry.Shutdown()
	return nil
}

// tenant returns the single tenant of ctx's client metadata.
func (e *tenantHeader) tenant(ctx context.Context) (string, refusal) {
	tenant, r := meshattr.TenantFromMetadata(client.FromContext(ctx).Metadata, e.metadataKey)
	switch {
	case r != meshattr.TenantFound:
		return "", refusal(r)
	case !validHeaderValue(tenant):
		return "", invalidTenant
	}
	return tenant, ok
}

// validHeaderValue accepts visible ASCII only: no spaces, controls or
// non-ASCII bytes, which either transport would reject or could misread.
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// PerRPCCredentials implements extensionauth.GRPCClient.
func (e *tenantHeader) PerRPCCredentials() (credentials.PerRPCCredentials, error) {
	return perRPCCredentials{e: e}, nil
}

type perRPCCredentials struct{ e *tenantHeader }

// GetRequestMetadata receives the export's context, so the tenant that
// tenantrouting put into the client metadata travels with each RPC.
func (c perRPCCredentials) GetRequestMetadata(ctx context.Context, _ ...string) (map[string]string, error) {
	tenant, r := c.e.tenant(ctx)
	if r != ok {
		c.e.telemetry.ExtensionTenantheaderRequestsRefused.Add(ctx, 1, c.e.refusedGRPC[r])
		return nil, status.Error(codes.Unauthenticated, refusalErrors[r].Error())
	}
	return map[string]string{c.e.grpcHeader: tenant}, nil
}

// RequireTransportSecurity is false so the extension also works over
// plaintext to an in-cluster Tempo; configure TLS on the exporter where the
// network is not trusted (the tenant header is not a secret, but it decides
// where data lands).
func (perRPCCredentials) RequireTransportSecurity() bool { return false }

// RoundTripper implements extensionauth.HTTPClient.
func (e *tenantHeader) RoundTripper(base http.RoundTripper) (http.RoundTripper, error) {
	if base == nil {
		base = http.DefaultTransport
	}
	return &roundTripper{base: base, e: e}, nil
}

type roundTripper struct {
	base http.RoundTripper
	e    *tenantHeader
}

func (rt *roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	tenant, r := rt.e.tenant(req.Context())
	if r != ok {
		rt.e.telemetry.ExtensionTenantheaderRequestsRefused.Add(req.Context(), 1, rt.e.refusedHTTP[r])
		// A RoundTripper must close the body, even on error.
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, consumererror.NewPermanent(refusalErrors[r])
	}
	// Never modify the caller's request.
	out := req.Clone(req.Context())
	out.Header.Set(rt.e.header, tenant)
	return rt.base.RoundTrip(out)
}
