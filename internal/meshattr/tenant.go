package meshattr // import "github.com/otelcol-mesh/otelcol-mesh/internal/meshattr"

import "go.opentelemetry.io/collector/client"

// TenantRefusal says why a request's client metadata names no usable
// tenant (TenantFromMetadata). The exporter side of the pipeline refuses
// such a request rather than guess a tenant.
type TenantRefusal int

const (
	// TenantFound: exactly one non-empty value.
	TenantFound TenantRefusal = iota
	// NoTenant: no value under the key, or an empty one.
	NoTenant
	// MultipleTenants: more than one value under the key.
	MultipleTenants
)

// TenantFromMetadata returns the single non-empty value of key in md, the
// tenant that tenantrouting put there for the rest of the pipeline.
func TenantFromMetadata(md client.Metadata, key string) (string, TenantRefusal) {
	vals := md.Get(key)
	switch {
	case len(vals) == 0:
		return "", NoTenant
	case len(vals) > 1:
		return "", MultipleTenants
	case vals[0] == "":
		return "", NoTenant
	}
	return vals[0], TenantFound
}
