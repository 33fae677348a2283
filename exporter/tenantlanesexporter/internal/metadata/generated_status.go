// Hand-maintained in the format mdatagen v0.161.0 generates from metadata.yaml
// (mdatagen is not installable in this build environment). Keep in sync with
// metadata.yaml; regenerate with mdatagen once it is available.

// Package metadata contains the telemetry and build information for the
// exporter/tenantlanes component.
package metadata

import (
	"go.opentelemetry.io/collector/component"
)

var (
	Type      = component.MustNewType("tenantlanes")
	ScopeName = "github.com/otelcol-mesh/otelcol-mesh/exporter/tenantlanesexporter"
)

const (
	TracesStability = component.StabilityLevelAlpha
)
