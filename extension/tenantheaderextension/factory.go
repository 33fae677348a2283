package tenantheaderextension // import "github.com/otelcol-mesh/otelcol-mesh/extension/tenantheaderextension"

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"

	"github.com/otelcol-mesh/otelcol-mesh/extension/tenantheaderextension/internal/metadata"
	"github.com/otelcol-mesh/otelcol-mesh/internal/meshattr"
)

// NewFactory returns a factory for the tenantheader client-auth extension.
func NewFactory() extension.Factory {
	return extension.NewFactory(
		metadata.Type,
		createDefaultConfig,
		createExtension,
		metadata.ExtensionStability,
	)
}

func createDefaultConfig() component.Config {
	return &Config{
		Header:      meshattr.DefaultTenantHeader,
		MetadataKey: meshattr.DefaultTenantMetadataKey,
	}
}

func createExtension(_ context.Context, set extension.Settings, cfg component.Config) (extension.Extension, error) {
	return newTenantHeader(set, cfg.(*Config))
}
