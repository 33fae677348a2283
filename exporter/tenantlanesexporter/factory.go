package tenantlanesexporter // import "github.com/otelcol-mesh/otelcol-mesh/exporter/tenantlanesexporter"

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/otlpexporter"

	"github.com/otelcol-mesh/otelcol-mesh/exporter/tenantlanesexporter/internal/metadata"
	"github.com/otelcol-mesh/otelcol-mesh/internal/meshattr"
)

// defaultMaxLanes is how many tenants get a lane of their own before the
// rest share the overflow lane.
const defaultMaxLanes = 64

// NewFactory returns a factory for the tenantlanes exporter.
func NewFactory() exporter.Factory {
	return exporter.NewFactory(
		metadata.Type,
		createDefaultConfig,
		exporter.WithTraces(createTraces, metadata.TracesStability),
	)
}

// createDefaultConfig nests the otlp_grpc exporter's defaults. They do not
// pass Validate: the nested exporter needs an endpoint, as otlp_grpc does.
func createDefaultConfig() component.Config {
	return &Config{
		Exporter:    *otlpexporter.NewFactory().CreateDefaultConfig().(*otlpexporter.Config),
		MetadataKey: meshattr.DefaultTenantMetadataKey,
		MaxLanes:    defaultMaxLanes,
	}
}

func createTraces(_ context.Context, set exporter.Settings, cfg component.Config) (exporter.Traces, error) {
	return newLanes(set, cfg.(*Config))
}
