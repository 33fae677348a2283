// Hand-maintained in the format mdatagen v0.161.0 generates from metadata.yaml
// (mdatagen is not installable in this build environment). Keep in sync with
// metadata.yaml; regenerate with mdatagen once it is available.

package metadata

import (
	"errors"
	"sync"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"go.opentelemetry.io/collector/component"
)

func Meter(settings component.TelemetrySettings) metric.Meter {
	return settings.MeterProvider.Meter(ScopeName)
}

func Tracer(settings component.TelemetrySettings) trace.Tracer {
	return settings.TracerProvider.Tracer(ScopeName)
}

// TelemetryBuilder provides an interface for components to report telemetry
// as defined in metadata and user config.
type TelemetryBuilder struct {
	meter                                metric.Meter
	mu                                   sync.Mutex
	registrations                        []metric.Registration
	ProcessorTenantroutingEdgeCopies     metric.Int64Counter
	ProcessorTenantroutingSpansDropped   metric.Int64Counter
	ProcessorTenantroutingSpansRouted    metric.Int64Counter
	ProcessorTenantroutingSpansTruncated metric.Int64Counter
}

// TelemetryBuilderOption applies changes to default builder.
type TelemetryBuilderOption interface {
	apply(*TelemetryBuilder)
}

type telemetryBuilderOptionFunc func(mb *TelemetryBuilder)

func (tbof telemetryBuilderOptionFunc) apply(mb *TelemetryBuilder) {
	tbof(mb)
}

// Shutdown unregister all registered callbacks for async instruments.
func (builder *TelemetryBuilder) Shutdown() {
	builder.mu.Lock()
	defer builder.mu.Unlock()
	for _, reg := range builder.registrations {
		reg.Unregister()
	}
}

// NewTelemetryBuilder provides a struct with methods to update all internal telemetry
// for a component
func NewTelemetryBuilder(settings component.TelemetrySettings, options ...TelemetryBuilderOption) (*TelemetryBuilder, error) {
	builder := TelemetryBuilder{}
	for _, op := range options {
		op.apply(&builder)
	}
	builder.meter = Meter(settings)
	var err, errs error
	builder.ProcessorTenantroutingEdgeCopies, err = builder.meter.Int64Counter(
		"otelcol_processor_tenantrouting_edge_copies",
		metric.WithDescription("Number of edge spans copied to the platform tenant in addition to the tenant of their destination namespace. [Alpha]"),
		metric.WithUnit("{span}"),
	)
	errs = errors.Join(errs, err)
	builder.ProcessorTenantroutingSpansDropped, err = builder.meter.Int64Counter(
		"otelcol_processor_tenantrouting_spans_dropped",
		metric.WithDescription("Number of spans not passed downstream, by reason (no_tenant: no tenant, dropped; invalid_id: all-zero trace or span ID, dropped; too_large: over max_span_bytes even after truncating its string attribute values, dropped; rate_limited: refused by the tenant's rate limit, with a retryable error when nothing else of the request was passed on, else dropped; export_failed: refused by the next component while another share of the request was passed on, dropped so that a retry cannot duplicate that share). [Alpha]"),
		metric.WithUnit("{span}"),
	)
	errs = errors.Join(errs, err)
	builder.ProcessorTenantroutingSpansRouted, err = builder.meter.Int64Counter(
		"otelcol_processor_tenantrouting_spans_routed",
		metric.WithDescription("Number of spans passed downstream, per tenant (edge copies included). [Alpha]"),
		metric.WithUnit("{span}"),
	)
	errs = errors.Join(errs, err)
	builder.ProcessorTenantroutingSpansTruncated, err = builder.meter.Int64Counter(
		"otelcol_processor_tenantrouting_spans_truncated",
		metric.WithDescription("Number of spans over max_span_bytes whose largest string attribute values were truncated (the span is marked with mesh.truncated, the number of bytes cut) and passed on. [Alpha]"),
		metric.WithUnit("{span}"),
	)
	errs = errors.Join(errs, err)
	return &builder, errs
}
