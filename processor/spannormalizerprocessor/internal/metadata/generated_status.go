// Hand-maintained in the format mdatagen v0.161.0 generates from
// metadata.yaml (mdatagen is not installable here). Keep in step with
// metadata.yaml.

// Package metadata contains the telemetry and build information for the
// processor/spannormalizer component.
package metadata // import "github.com/otelcol-mesh/otelcol-mesh/processor/spannormalizerprocessor/internal/metadata"

import (
	"go.opentelemetry.io/collector/component"
)

var (
	Type      = component.MustNewType("spannormalizer")
	ScopeName = "github.com/otelcol-mesh/otelcol-mesh/processor/spannormalizerprocessor"
)

const (
	TracesStability = component.StabilityLevelAlpha
)
