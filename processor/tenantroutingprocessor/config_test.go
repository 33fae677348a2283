package tenantroutingprocessor

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/otelcol-mesh/otelcol-mesh/internal/meshattr"
	"github.com/otelcol-mesh/otelcol-mesh/processor/tenantroutingprocessor/internal/metadata"
)

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		id       component.ID
		expected component.Config
		errMsg   string
	}{
		{
			id: component.NewID(metadata.Type),
			expected: &Config{
				DefaultTenant:     "platform",
				MetadataKey:       meshattr.DefaultTenantMetadataKey,
				MaxSpanBytes:      defaultMaxSpanBytes,
				MetricsMaxTenants: defaultMetricsMaxTenants,
			},
		},
		{
			id: component.NewIDWithName(metadata.Type, "custom"),
			expected: &Config{
				Rules: []RuleConfig{
					{Namespaces: map[string]string{"istio-system": "platform", "ingress-nginx": "platform"}},
					{NamespaceLabel: "platform.example.com/team"},
					{NamespaceLabel: "example.com/tenant", LabelAttribute: "tenant.from.label"},
					{NamespacePrefix: "team-"},
				},
				DefaultTenant:     "platform",
				EdgeNamespaces:    []string{"istio-system", "ingress-nginx"},
				PlatformTenant:    "platform",
				MetadataKey:       "x-tenant",
				RateLimit:         RateLimitConfig{SpansPerSecond: 5000, Burst: 10000},
				MaxSpanBytes:      1048576,
				MetricsMaxTenants: 20,
			},
		},
		{
			id: component.NewIDWithName(metadata.Type, "drop"),
			expected: &Config{
				Rules:             []RuleConfig{{NamespacePrefix: "team-"}},
				MetadataKey:       meshattr.DefaultTenantMetadataKey,
				MaxSpanBytes:      defaultMaxSpanBytes,
				MetricsMaxTenants: defaultMetricsMaxTenants,
			},
		},
		{
			id: component.NewIDWithName(metadata.Type, "no_span_cap"),
			expected: &Config{
				DefaultTenant:     "platform",
				MetadataKey:       meshattr.DefaultTenantMetadataKey,
				MetricsMaxTenants: defaultMetricsMaxTenants,
			},
		},
		{id: component.NewIDWithName(metadata.Type, "no_rule_no_default"), errMsg: "rules: at least one rule or a default_tenant is required"},
		{id: component.NewIDWithName(metadata.Type, "bad_rule_two_keys"), errMsg: "rules[0]: exactly one of namespaces, namespace_label, namespace_prefix must be set"},
		{id: component.NewIDWithName(metadata.Type, "bad_rule_empty"), errMsg: "rules[0]: exactly one of"},
		{id: component.NewIDWithName(metadata.Type, "bad_tenant"), errMsg: `rules[0]: namespaces: "team-a" maps to "a|b", which is not a valid tenant ID`},
		{id: component.NewIDWithName(metadata.Type, "bad_default_tenant"), errMsg: `default_tenant "a b" is not a valid tenant ID`},
		{id: component.NewIDWithName(metadata.Type, "bad_platform_tenant"), errMsg: `platform_tenant "x/y" is not a valid tenant ID`},
		{id: component.NewIDWithName(metadata.Type, "bad_metadata_key"), errMsg: "metadata_key must not be empty"},
		{id: component.NewIDWithName(metadata.Type, "bad_rate_limit"), errMsg: "rate_limit::spans_per_second must not be negative"},
		{id: component.NewIDWithName(metadata.Type, "bad_burst_without_rate"), errMsg: "rate_limit::burst needs rate_limit::spans_per_second"},
		{id: component.NewIDWithName(metadata.Type, "bad_label_attribute"), errMsg: "rules[0]: label_attribute is only valid with namespace_label"},
		{id: component.NewIDWithName(metadata.Type, "bad_edge_namespace"), errMsg: "edge_namespaces must not contain an empty namespace"},
		{id: component.NewIDWithName(metadata.Type, "bad_metrics_max_tenants"), errMsg: "metrics_max_tenants must be at least 1"},
		{id: component.NewIDWithName(metadata.Type, "bad_max_span_bytes"), errMsg: "max_span_bytes must be 0 (off) or at least 4096"},
	}
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	for _, tt := range tests {
		t.Run(tt.id.String(), func(t *testing.T) {
			sub, err := cm.Sub(tt.id.String())
			require.NoError(t, err)
			cfg := NewFactory().CreateDefaultConfig()
			require.NoError(t, sub.Unmarshal(cfg))
			if tt.expected == nil {
				err := confmap.Validate(cfg)
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.errMsg)
				return
			}
			assert.NoError(t, confmap.Validate(cfg))
			assert.Equal(t, tt.expected, cfg)
		})
	}
}

func TestUnknownKeyRejected(t *testing.T) {
	cfg := NewFactory().CreateDefaultConfig()
	cm := confmap.NewFromStringMap(map[string]any{"default_tenat": "x"})
	assert.Error(t, cm.Unmarshal(cfg))
}

func TestEmptyConfigKeepsDefaults(t *testing.T) {
	cfg := NewFactory().CreateDefaultConfig()
	require.NoError(t, confmap.New().Unmarshal(cfg))
	assert.Equal(t, NewFactory().CreateDefaultConfig(), cfg)
	// The defaults name no tenant at all: deployment must configure one.
	assert.ErrorContains(t, confmap.Validate(cfg), "rules: at least one rule or a default_tenant is required")
}

func TestValidTenant(t *testing.T) {
	for _, s := range []string{"a", "team-a", "A_b.c", "x!*'()", "0"} {
		assert.True(t, validTenant(s), s)
	}
	long := make([]byte, maxTenantLength+1)
	for i := range long {
		long[i] = 'a'
	}
	for _, s := range []string{"", ".", "..", "a|b", "a b", "a/b", "ü", string(long)} {
		assert.False(t, validTenant(s), s)
	}
	assert.True(t, validTenant(string(long[:maxTenantLength])))
}
