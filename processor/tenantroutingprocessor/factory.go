package tenantroutingprocessor // import "github.com/otelcol-mesh/otelcol-mesh/processor/tenantroutingprocessor"

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/processor"

	"github.com/otelcol-mesh/otelcol-mesh/internal/meshattr"
	"github.com/otelcol-mesh/otelcol-mesh/processor/tenantroutingprocessor/internal/metadata"
)

const (
	// defaultMetricsMaxTenants bounds the tenant attribute of the self-metrics.
	defaultMetricsMaxTenants = 100

	// defaultMaxSpanBytes is 1 KiB under the 3 MiB (3145728-byte) max_size
	// of the shipped exporter batches (sending_queue::batch, sizer: bytes),
	// so every span that passes fits in one export batch. The exporter's
	// splitter drops a span larger than max_size together with the rest of
	// its batch, uncounted (exporterhelper v0.161.0, queuebatch/traces_batch.go).
	defaultMaxSpanBytes = 3145728 - 1024
)

// NewFactory returns a factory for the tenantrouting processor.
func NewFactory() processor.Factory {
	return processor.NewFactory(
		metadata.Type,
		createDefaultConfig,
		processor.WithTraces(createTraces, metadata.TracesStability))
}

// createDefaultConfig has no rules and no default tenant, so it does not pass
// Validate: which namespaces belong to which tenant is deployment knowledge
// that must be configured.
func createDefaultConfig() component.Config {
	return &Config{
		MetadataKey:       meshattr.DefaultTenantMetadataKey,
		MaxSpanBytes:      defaultMaxSpanBytes,
		MetricsMaxTenants: defaultMetricsMaxTenants,
	}
}

func createTraces(_ context.Context, set processor.Settings, cfg component.Config, next consumer.Traces) (processor.Traces, error) {
	return newTenantRouting(set, cfg.(*Config), next)
}
