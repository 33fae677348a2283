package tenantheaderextension

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/otelcol-mesh/otelcol-mesh/extension/tenantheaderextension/internal/metadata"
	"github.com/otelcol-mesh/otelcol-mesh/internal/meshattr"
)

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		id       component.ID
		expected component.Config
		errMsg   string
	}{
		{id: component.NewID(metadata.Type), expected: &Config{Header: meshattr.DefaultTenantHeader, MetadataKey: meshattr.DefaultTenantMetadataKey}},
		{id: component.NewIDWithName(metadata.Type, "custom"), expected: &Config{Header: "X-Tenant", MetadataKey: "tenant"}},
		{id: component.NewIDWithName(metadata.Type, "empty_header"), errMsg: "header must not be empty"},
		{id: component.NewIDWithName(metadata.Type, "bad_header"), errMsg: `header "X Scope" is not a valid HTTP header name`},
		{id: component.NewIDWithName(metadata.Type, "grpc_reserved"), errMsg: `header "grpc-timeout" uses the reserved grpc- prefix`},
		{id: component.NewIDWithName(metadata.Type, "empty_metadata_key"), errMsg: "metadata_key must not be empty"},
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
				assert.ErrorContains(t, confmap.Validate(cfg), tt.errMsg)
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
	assert.Equal(t, NewFactory().CreateDefaultConfig(), cfg)
	assert.NoError(t, confmap.Validate(cfg))
}
