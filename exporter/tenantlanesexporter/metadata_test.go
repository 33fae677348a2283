package tenantlanesexporter

import (
	"testing"

	"go.opentelemetry.io/collector/component"

	"github.com/otelcol-mesh/otelcol-mesh/exporter/tenantlanesexporter/internal/metadata"
	"github.com/otelcol-mesh/otelcol-mesh/internal/metadatacheck"
)

// TestMetadataMatchesCode keeps the hand-maintained generated files in step
// with metadata.yaml: type, stability, scope, every telemetry metric
// (recorded and read back) and documentation.md.
func TestMetadataMatchesCode(t *testing.T) {
	for _, p := range metadatacheck.Problems(metadatacheck.Component{
		Dir:       ".",
		Type:      metadata.Type,
		ScopeName: metadata.ScopeName,
		Stability: map[string]component.StabilityLevel{"traces": metadata.TracesStability},
		Factory:   NewFactory(),
		NewTelemetryBuilder: func(set component.TelemetrySettings) (metadatacheck.TelemetryBuilder, error) {
			return metadata.NewTelemetryBuilder(set)
		},
	}) {
		t.Error(p)
	}
}
