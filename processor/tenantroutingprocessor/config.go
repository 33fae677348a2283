package tenantroutingprocessor // import "github.com/otelcol-mesh/otelcol-mesh/processor/tenantroutingprocessor"

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.opentelemetry.io/collector/component"
)

// Config defines how the tenantrouting processor maps a span's trusted
// Kubernetes namespace to a tenant.
type Config struct {
	// Rules map the resource's k8s.namespace.name to a tenant. They are tried
	// in order and the first one that yields a tenant wins.
	Rules []RuleConfig `mapstructure:"rules"`

	// DefaultTenant receives spans whose resource has no namespace or whose
	// namespace no rule matches. Empty means such spans are dropped (counted
	// as spans_dropped{reason="no_tenant"}).
	DefaultTenant string `mapstructure:"default_tenant"`

	// EdgeNamespaces are the namespaces of shared ingress/gateway pods. Only
	// spans from these namespaces may be routed by their destination
	// namespace attribute (mesh.destination.namespace).
	EdgeNamespaces []string `mapstructure:"edge_namespaces"`

	// PlatformTenant also receives every edge span that is routed to the
	// tenant of its destination namespace. Empty means no copy.
	PlatformTenant string `mapstructure:"platform_tenant"`

	// MetadataKey is the client-metadata key that carries the tenant to the
	// next consumer (batch metadata_keys, the tenantheader extension).
	MetadataKey string `mapstructure:"metadata_key"`

	// RateLimit optionally limits the spans per second each tenant may ingest.
	RateLimit RateLimitConfig `mapstructure:"rate_limit"`

	// MaxSpanBytes bounds the encoded size of a span as the exporter's byte
	// batcher (sending_queue::batch, sizer: bytes) measures it: an OTLP
	// request holding the span alone with its resource and scope. A larger
	// span has its largest string attribute values truncated (and is marked
	// with mesh.truncated) or, if that cannot shrink it enough, is dropped
	// and counted. Keep it at or below the exporter's batch max_size. 0
	// disables the check.
	MaxSpanBytes int `mapstructure:"max_span_bytes"`

	// MetricsMaxTenants bounds the number of distinct tenant values in this
	// processor's self-metrics; further tenants are reported as "_other".
	MetricsMaxTenants int `mapstructure:"metrics_max_tenants"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// RuleConfig is one mapping rule. Exactly one of its keys is set.
type RuleConfig struct {
	// Namespaces maps namespace names to tenants.
	Namespaces map[string]string `mapstructure:"namespaces"`

	// NamespaceLabel names a Kubernetes namespace label whose value is the
	// tenant. The value is read from the resource attribute
	// `k8s.namespace.label.<namespace_label>` (written by k8s_attributes with
	// extract.labels from: namespace), or from LabelAttribute when set.
	NamespaceLabel string `mapstructure:"namespace_label"`

	// LabelAttribute overrides the resource attribute read by a
	// namespace_label rule (use it when k8s_attributes sets a tag_name).
	LabelAttribute string `mapstructure:"label_attribute"`

	// NamespacePrefix matches namespaces that start with it; the tenant is the
	// rest of the name (team-alpha -> alpha with prefix "team-").
	NamespacePrefix string `mapstructure:"namespace_prefix"`
}

// RateLimitConfig is a token bucket applied to each tenant separately.
type RateLimitConfig struct {
	// SpansPerSecond is the sustained rate per tenant. 0 disables the limit.
	SpansPerSecond float64 `mapstructure:"spans_per_second"`

	// Burst is the bucket size in spans. 0 means equal to SpansPerSecond.
	Burst int `mapstructure:"burst"`
}

var _ component.Config = (*Config)(nil)

// namespaceLabelAttributePrefix is the resource attribute prefix
// k8s_attributes v1.0.0 writes for namespace labels when the
// processor.k8sattributes.EmitV1K8sConventions feature gate is on (default).
const namespaceLabelAttributePrefix = "k8s.namespace.label."

// minMaxSpanBytes is the smallest max_span_bytes: room for a span's IDs,
// timestamps and name, a resource and a scope, and the truncation marker.
const minMaxSpanBytes = 4096

// maxTenantLength is the longest tenant ID Tempo (dskit) accepts.
const maxTenantLength = 150

// Validate checks the configuration and reports every problem at once.
func (cfg *Config) Validate() error {
	var errs []error
	if len(cfg.Rules) == 0 && cfg.DefaultTenant == "" {
		errs = append(errs, errors.New("rules: at least one rule or a default_tenant is required"))
	}
	for i, r := range cfg.Rules {
		if err := r.validate(); err != nil {
			errs = append(errs, fmt.Errorf("rules[%d]: %w", i, err))
		}
	}
	if cfg.DefaultTenant != "" && !validTenant(cfg.DefaultTenant) {
		errs = append(errs, fmt.Errorf("default_tenant %q is not a valid tenant ID", cfg.DefaultTenant))
	}
	if cfg.PlatformTenant != "" && !validTenant(cfg.PlatformTenant) {
		errs = append(errs, fmt.Errorf("platform_tenant %q is not a valid tenant ID", cfg.PlatformTenant))
	}
	if slices.Contains(cfg.EdgeNamespaces, "") {
		errs = append(errs, errors.New("edge_namespaces must not contain an empty namespace"))
	}
	if strings.TrimSpace(cfg.MetadataKey) == "" {
		errs = append(errs, errors.New("metadata_key must not be empty"))
	}
	if cfg.RateLimit.SpansPerSecond < 0 {
		errs = append(errs, errors.New("rate_limit::spans_per_second must not be negative"))
	}
	if cfg.RateLimit.Burst < 0 {
		errs = append(errs, errors.New("rate_limit::burst must not be negative"))
	}
	if cfg.RateLimit.SpansPerSecond == 0 && cfg.RateLimit.Burst > 0 {
		errs = append(errs, errors.New("rate_limit::burst needs rate_limit::spans_per_second"))
	}
	if cfg.MaxSpanBytes != 0 && cfg.MaxSpanBytes < minMaxSpanBytes {
		errs = append(errs, fmt.Errorf("max_span_bytes must be 0 (off) or at least %d", minMaxSpanBytes))
	}
	if cfg.MetricsMaxTenants < 1 {
		errs = append(errs, errors.New("metrics_max_tenants must be at least 1"))
	}
	return errors.Join(errs...)
}

func (r RuleConfig) validate() error {
	set := 0
	if r.Namespaces != nil {
		set++
	}
	if r.NamespaceLabel != "" {
		set++
	}
	if r.NamespacePrefix != "" {
		set++
	}
	if set != 1 {
		return errors.New("exactly one of namespaces, namespace_label, namespace_prefix must be set")
	}
	if r.LabelAttribute != "" && r.NamespaceLabel == "" {
		return errors.New("label_attribute is only valid with namespace_label")
	}
	var errs []error
	if r.Namespaces != nil && len(r.Namespaces) == 0 {
		errs = append(errs, errors.New("namespaces must not be empty"))
	}
	for ns, tenant := range r.Namespaces {
		if ns == "" {
			errs = append(errs, errors.New("namespaces: empty namespace name"))
		}
		if !validTenant(tenant) {
			errs = append(errs, fmt.Errorf("namespaces: %q maps to %q, which is not a valid tenant ID", ns, tenant))
		}
	}
	return errors.Join(errs...)
}

// validTenant reports whether s is a tenant ID Tempo accepts: 1 to 150
// characters from [A-Za-z0-9!-_.*'()], not "." or "..". Tenants derived from
// data (prefix remainder, label value) that fail it do not match their rule.
func validTenant(s string) bool {
	if s == "" || len(s) > maxTenantLength || s == "." || s == ".." {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '!', c == '-', c == '_', c == '.', c == '*', c == '\'', c == '(', c == ')':
		default:
			return false
		}
	}
	return true
}
