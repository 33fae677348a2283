package tenantlanesexporter // import "github.com/otelcol-mesh/otelcol-mesh/exporter/tenantlanesexporter"

import (
	"errors"
	"fmt"
	"strings"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/exporter/otlpexporter"
)

// Config defines the exporter every lane runs and how tenants map to lanes.
type Config struct {
	// Exporter is the configuration of an otlp_grpc exporter; every lane is
	// an otlp_grpc exporter built from it (endpoint, tls, auth,
	// sending_queue incl. batch, retry_on_failure, timeout, ...). The
	// sending_queue settings apply per lane.
	Exporter otlpexporter.Config `mapstructure:"exporter"`

	// MetadataKey is the client-metadata key of the request context that
	// holds the tenant (set by the tenantrouting processor).
	MetadataKey string `mapstructure:"metadata_key"`

	// MaxLanes bounds the number of tenant lanes; the tenants that arrive
	// after it is reached share one overflow lane.
	MaxLanes int `mapstructure:"max_lanes"`

	// prevent unkeyed literal initialization
	_ struct{}
}

var _ component.Config = (*Config)(nil)

// Validate checks the configuration and reports every problem at once. The
// nested exporter's own Validate is run by the config walker, which prefixes
// its messages with "exporter::".
func (cfg *Config) Validate() error {
	var errs []error
	if strings.TrimSpace(cfg.MetadataKey) == "" {
		errs = append(errs, errors.New("metadata_key must not be empty"))
	}
	if cfg.MaxLanes < 1 {
		errs = append(errs, fmt.Errorf("max_lanes must be at least 1, got %d", cfg.MaxLanes))
	}
	if !cfg.Exporter.QueueConfig.HasValue() {
		errs = append(errs, errors.New("exporter::sending_queue must be enabled: a lane without a queue gives the tenant no consumers of its own"))
	}
	return errors.Join(errs...)
}
