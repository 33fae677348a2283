// Hand-maintained in the format mdatagen v0.161.0 generates from metadata.yaml
// (mdatagen is not installable in this build environment). Keep in sync with
// metadata.yaml; regenerate with mdatagen once it is available.

// Package metadata contains the telemetry and build information for the
// processor/tenantrouting component.
package metadata

import (
	"go.opentelemetry.io/collector/component"
)

var (
	Type      = component.MustNewType("tenantrouting")
	ScopeName = "github.com/otelcol-mesh/otelcol-mesh/processor/tenantroutingprocessor"
)

const (
	TracesStability = component.StabilityLevelAlpha
)
