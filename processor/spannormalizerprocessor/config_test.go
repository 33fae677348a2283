package spannormalizerprocessor

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/otelcol-mesh/otelcol-mesh/processor/spannormalizerprocessor/internal/metadata"
)

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		id       component.ID
		expected component.Config
		// errContains lists the key names the error must mention.
		errContains []string
	}{
		{
			id:       component.NewID(metadata.Type),
			expected: createDefaultConfig(),
		},
		{
			id: component.NewIDWithName(metadata.Type, "custom"),
			expected: &Config{
				Sources:                []string{SourceEnvoy},
				KeepOriginalAttributes: true,
				CompactProxyTags:       false,
				K8sIdentityFromIstio:   false,
				SpanName:               SpanNamePathTemplate,
				PathPatterns: []PathPattern{
					{Regex: "[a-z]{2}-[A-Z]{2}", Replacement: "{locale}"},
					{Regex: "ord_[0-9a-z]+"},
				},
				MaxSpanNamesPerService: 50,
				MaxServices:            20,
				RouteLearning: RouteLearningConfig{
					Enabled:                true,
					MinCount:               5,
					MaxValuesPerPosition:   32,
					MaxPositionsPerService: 500,
					MaxPositions:           5000,
					IdleTimeout:            30 * time.Minute,
				},
				ContextDiagnostics: ContextDiagnosticsConfig{
					Enabled:           true,
					ExcludeNamespaces: []string{"batch-jobs", "kube-system"},
					MaxServices:       50,
					MeshPeerCIDRs:     []string{"10.244.0.0/16", "fd00:10:244::/56"},
					EdgeNamespaces:    []string{"istio-system", "ingress-nginx", "gateways"},
				},
				WorkerPool: false,
			},
		},
		{
			id: component.NewIDWithName(metadata.Type, "diagnostics_on"),
			expected: func() component.Config {
				cfg := createDefaultConfig().(*Config)
				cfg.ContextDiagnostics.Enabled = true
				return cfg
			}(),
		},
		{
			id: component.NewIDWithName(metadata.Type, "names_off"),
			expected: func() component.Config {
				cfg := createDefaultConfig().(*Config)
				cfg.SpanName = SpanNameOff
				return cfg
			}(),
		},
		{
			id: component.NewIDWithName(metadata.Type, "learning_off"),
			expected: func() component.Config {
				cfg := createDefaultConfig().(*Config)
				cfg.RouteLearning.Enabled = false
				return cfg
			}(),
		},
		{id: component.NewIDWithName(metadata.Type, "bad_learning"), errContains: []string{
			"route_learning.min_count must be at least 1", "route_learning.max_values_per_position must be at least 1",
			"route_learning.max_positions_per_service must be at least 1", "route_learning.idle_timeout must be at least 1m",
		}},
		{id: component.NewIDWithName(metadata.Type, "bad_learning_total"), errContains: []string{
			"route_learning.max_positions (0) must be at least max_positions_per_service (10)",
		}},
		{id: component.NewIDWithName(metadata.Type, "bad_source"), errContains: []string{"sources", `"haproxy"`}},
		{id: component.NewIDWithName(metadata.Type, "duplicate_source"), errContains: []string{"sources", "twice"}},
		{id: component.NewIDWithName(metadata.Type, "no_sources"), errContains: []string{"sources must list"}},
		{id: component.NewIDWithName(metadata.Type, "bad_span_name"), errContains: []string{"span_name", `"route"`}},
		{id: component.NewIDWithName(metadata.Type, "bad_rule"), errContains: []string{"path_patterns[0]", "missing closing ]"}},
		{id: component.NewIDWithName(metadata.Type, "bad_replacement"), errContains: []string{"path_patterns[0]", "replacement"}},
		// Both problems are reported at once.
		{id: component.NewIDWithName(metadata.Type, "bad_bounds"), errContains: []string{"max_span_names_per_service", "max_services"}},
		// Every problem of the nested block, each under its key path.
		{id: component.NewIDWithName(metadata.Type, "bad_diagnostics"), errContains: []string{
			"context_diagnostics.max_services must be at least 1", `context_diagnostics.exclude_namespaces[0]: "Team_A"`,
			`context_diagnostics.edge_namespaces[0]: ""`, "context_diagnostics.mesh_peer_cidrs[0]",
		}},
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
				for _, s := range tt.errContains {
					assert.Contains(t, err.Error(), s)
				}
				return
			}
			assert.NoError(t, confmap.Validate(cfg))
			assert.Equal(t, tt.expected, cfg)
		})
	}
}

func TestEmptyConfigKeepsDefaults(t *testing.T) {
	cfg := NewFactory().CreateDefaultConfig()
	require.NoError(t, confmap.New().Unmarshal(cfg))
	assert.Equal(t, createDefaultConfig(), cfg)
	assert.NoError(t, confmap.Validate(cfg))
}

func TestUnknownKeyRejected(t *testing.T) {
	cfg := NewFactory().CreateDefaultConfig()
	err := confmap.NewFromStringMap(map[string]any{"span_names": "off"}).Unmarshal(cfg)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "span_names")
}
