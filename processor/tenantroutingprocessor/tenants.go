package tenantroutingprocessor // import "github.com/otelcol-mesh/otelcol-mesh/processor/tenantroutingprocessor"

import (
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

const (
	// otherTenant labels the self-metrics of tenants beyond metrics_max_tenants.
	otherTenant = "_other"

	attrTenant = "tenant"
	attrReason = "reason"

	reasonNoTenant    = "no_tenant"
	reasonRateLimited = "rate_limited"
	reasonInvalidID   = "invalid_id"
	reasonTooLarge    = "too_large"
	reasonFailed      = "export_failed"
)

// tenantState is everything the processor keeps per tenant: the client
// metadata handed downstream, the metric attribute sets and the rate limiter.
// It is built once per tenant, never per span or per request.
type tenantState struct {
	// md is the downstream client metadata; valid only when hasMD is true
	// (the shared overflow state has none, its metadata is built per call).
	md    client.Metadata
	hasMD bool

	routed  metric.AddOption
	limited metric.AddOption
	failed  metric.AddOption
	edge    metric.AddOption

	bucket *tokenBucket // nil when rate limiting is off
}

// tenantRegistry caches tenantState per tenant, up to max tenants. Tenants
// beyond the bound share one overflow state: metric attribute "_other" and one
// shared token bucket. Tenants derived from data (prefix, label) are bounded
// by the cluster's namespaces, but the bound keeps memory and metric series
// finite whatever the input.
type tenantRegistry struct {
	key   string
	limit RateLimitConfig
	max   int

	mu     sync.RWMutex
	byName map[string]*tenantState
	other  *tenantState
}

func newTenantRegistry(key string, limit RateLimitConfig, maxTenants int, now time.Time) *tenantRegistry {
	r := &tenantRegistry{
		key:    key,
		limit:  limit,
		max:    maxTenants,
		byName: make(map[string]*tenantState),
	}
	r.other = r.newState(otherTenant, false, now)
	return r
}

func (r *tenantRegistry) newState(tenant string, withMD bool, now time.Time) *tenantState {
	tenantAttr := attribute.String(attrTenant, tenant)
	st := &tenantState{
		routed:  metric.WithAttributeSet(attribute.NewSet(tenantAttr)),
		limited: metric.WithAttributeSet(attribute.NewSet(tenantAttr, attribute.String(attrReason, reasonRateLimited))),
		failed:  metric.WithAttributeSet(attribute.NewSet(tenantAttr, attribute.String(attrReason, reasonFailed))),
		edge:    metric.WithAttributeSet(attribute.NewSet(tenantAttr)),
	}
	if withMD {
		st.md = r.metadataFor(tenant)
		st.hasMD = true
	}
	if r.limit.SpansPerSecond > 0 {
		st.bucket = newTokenBucket(r.limit.SpansPerSecond, r.limit.Burst, now)
	}
	return st
}

func (r *tenantRegistry) metadataFor(tenant string) client.Metadata {
	return client.NewMetadata(map[string][]string{r.key: {tenant}})
}

// get returns the state of tenant, creating it if the bound allows.
func (r *tenantRegistry) get(tenant string, now time.Time) *tenantState {
	r.mu.RLock()
	st, ok := r.byName[tenant]
	full := len(r.byName) >= r.max
	r.mu.RUnlock()
	if ok {
		return st
	}
	if full {
		return r.other
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if st, ok = r.byName[tenant]; ok {
		return st
	}
	if len(r.byName) >= r.max {
		return r.other
	}
	// Clone: tenant may be a substring of a pdata attribute value.
	tenant = strings.Clone(tenant)
	st = r.newState(tenant, true, now)
	r.byName[tenant] = st
	return st
}
