package tenantlanesexporter

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/exporter/otlpexporter"

	"github.com/otelcol-mesh/otelcol-mesh/exporter/tenantlanesexporter/internal/metadata"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)

	tests := []struct {
		name string
		// check runs on a config that passed Validate; nil means Validate must fail.
		check func(t *testing.T, cfg *Config)
		// errContains are parts of the Validate error (each names the key).
		errContains []string
	}{
		{
			name:        "",
			errContains: []string{`exporter: requires a non-empty "endpoint"`},
		},
		{
			name: "custom",
			check: func(t *testing.T, cfg *Config) {
				assert.Equal(t, "tenant", cfg.MetadataKey)
				assert.Equal(t, 8, cfg.MaxLanes)
				assert.Equal(t, "tempo-distributor:4317", cfg.Exporter.ClientConfig.Endpoint)
				assert.True(t, cfg.Exporter.ClientConfig.TLS.Insecure)
				require.True(t, cfg.Exporter.ClientConfig.Auth.HasValue())
				assert.Equal(t, component.MustNewID("tenantheader"), cfg.Exporter.ClientConfig.Auth.Get().AuthenticatorID)
				assert.Equal(t, 600*time.Second, cfg.Exporter.RetryConfig.MaxElapsedTime)
				require.True(t, cfg.Exporter.QueueConfig.HasValue())
				q := cfg.Exporter.QueueConfig.Get()
				assert.Equal(t, 2, q.NumConsumers)
				assert.Equal(t, int64(500), q.QueueSize)
				require.True(t, q.Batch.HasValue())
				assert.Equal(t, int64(3145728), q.Batch.Get().MaxSize)
				assert.Equal(t, []string{"tenant"}, q.Batch.Get().Partition.MetadataKeys)
				// Options the YAML does not set keep otlp_grpc's defaults.
				def := otlpexporter.NewFactory().CreateDefaultConfig().(*otlpexporter.Config)
				assert.Equal(t, def.ClientConfig.Compression, cfg.Exporter.ClientConfig.Compression)
				assert.Equal(t, def.TimeoutConfig, cfg.Exporter.TimeoutConfig)
			},
		},
		{name: "no_endpoint", errContains: []string{`exporter: requires a non-empty "endpoint"`}},
		{name: "empty_metadata_key", errContains: []string{"metadata_key must not be empty"}},
		{name: "zero_max_lanes", errContains: []string{"max_lanes must be at least 1, got 0"}},
		{name: "queue_disabled", errContains: []string{"exporter::sending_queue must be enabled"}},
		{name: "bad_queue", errContains: []string{"exporter::sending_queue", "num_consumers"}},
	}
	for _, tt := range tests {
		id := component.NewIDWithName(metadata.Type, tt.name)
		t.Run(id.String(), func(t *testing.T) {
			sub, err := cm.Sub(id.String())
			require.NoError(t, err)
			cfg := NewFactory().CreateDefaultConfig()
			require.NoError(t, sub.Unmarshal(cfg))
			err = confmap.Validate(cfg)
			if tt.check == nil {
				require.Error(t, err)
				for _, part := range tt.errContains {
					assert.ErrorContains(t, err, part)
				}
				return
			}
			require.NoError(t, err)
			tt.check(t, cfg.(*Config))
		})
	}
}

func TestUnknownNestedKeyIsRejected(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub("tenantlanes/unknown_key")
	require.NoError(t, err)
	err = sub.Unmarshal(NewFactory().CreateDefaultConfig())
	require.Error(t, err)
	assert.ErrorContains(t, err, "no_such_option")
}

func TestEmptyConfigKeepsDefaults(t *testing.T) {
	cfg := NewFactory().CreateDefaultConfig()
	require.NoError(t, confmap.New().Unmarshal(cfg))
	assert.Equal(t, createDefaultConfig(), cfg)
	c := cfg.(*Config)
	assert.Equal(t, "x-scope-orgid", c.MetadataKey)
	assert.Equal(t, 64, c.MaxLanes)
	assert.True(t, c.Exporter.QueueConfig.HasValue(), "otlp_grpc's queue is on by default")
}
