// Hand-maintained in the format mdatagen v0.161.0 generates from
// metadata.yaml (mdatagen is not installable here). Keep in step with
// metadata.yaml.

package metadata

import (
	"context"
	"errors"
	"sync"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/embedded"
	"go.opentelemetry.io/otel/trace"

	"go.opentelemetry.io/collector/component"
)

func Meter(settings component.TelemetrySettings) metric.Meter {
	return settings.MeterProvider.Meter("github.com/otelcol-mesh/otelcol-mesh/processor/spannormalizerprocessor")
}

func Tracer(settings component.TelemetrySettings) trace.Tracer {
	return settings.TracerProvider.Tracer("github.com/otelcol-mesh/otelcol-mesh/processor/spannormalizerprocessor")
}

// TelemetryBuilder provides an interface for components to report telemetry
// as defined in metadata and user config.
type TelemetryBuilder struct {
	meter                                         metric.Meter
	mu                                            sync.Mutex
	registrations                                 []metric.Registration
	ProcessorSpannormalizerContextBreaks          metric.Int64Counter
	ProcessorSpannormalizerContextPropagated      metric.Int64Counter
	ProcessorSpannormalizerRouteParametersLearned metric.Int64Counter
	ProcessorSpannormalizerSpanNames              metric.Int64ObservableGauge
	ProcessorSpannormalizerSpanNamesCollapsed     metric.Int64Counter
	ProcessorSpannormalizerSpansNormalized        metric.Int64Counter
	ProcessorSpannormalizerSpansPassedThrough     metric.Int64Counter
	ProcessorSpannormalizerValuesInvalid          metric.Int64Counter
}

// TelemetryBuilderOption applies changes to default builder.
type TelemetryBuilderOption interface {
	apply(*TelemetryBuilder)
}

type telemetryBuilderOptionFunc func(mb *TelemetryBuilder)

func (tbof telemetryBuilderOptionFunc) apply(mb *TelemetryBuilder) {
	tbof(mb)
}

// RegisterProcessorSpannormalizerSpanNamesCallback sets callback for observable ProcessorSpannormalizerSpanNames metric.
func (builder *TelemetryBuilder) RegisterProcessorSpannormalizerSpanNamesCallback(cb metric.Int64Callback) error {
	reg, err := builder.meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		cb(ctx, &observerInt64{inst: builder.ProcessorSpannormalizerSpanNames, obs: o})
		return nil
	}, builder.ProcessorSpannormalizerSpanNames)
	if err != nil {
		return err
	}
	builder.mu.Lock()
	defer builder.mu.Unlock()
	builder.registrations = append(builder.registrations, reg)
	return nil
}

type observerInt64 struct {
	embedded.Int64Observer
	inst metric.Int64Observable
	obs  metric.Observer
}

func (oi *observerInt64) Observe(value int64, opts ...metric.ObserveOption) {
	oi.obs.ObserveInt64(oi.inst, value, opts...)
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
	builder.ProcessorSpannormalizerContextBreaks, err = builder.meter.Int64Counter(
		"otelcol_processor_spannormalizer_context_breaks",
		metric.WithDescription("Number of Envoy sidecar spans that show a request crossing a service without its trace context (context_diagnostics). [Development]"),
		metric.WithUnit("{span}"),
	)
	errs = errors.Join(errs, err)
	builder.ProcessorSpannormalizerContextPropagated, err = builder.meter.Int64Counter(
		"otelcol_processor_spannormalizer_context_propagated",
		metric.WithDescription("Number of Envoy sidecar outbound spans that carried the calling service's trace context (context_diagnostics). [Development]"),
		metric.WithUnit("{span}"),
	)
	errs = errors.Join(errs, err)
	builder.ProcessorSpannormalizerRouteParametersLearned, err = builder.meter.Int64Counter(
		"otelcol_processor_spannormalizer_route_parameters_learned",
		metric.WithDescription("Number of path positions route learning decided are a parameter (more distinct values than route_learning.max_values_per_position). [Development]"),
		metric.WithUnit("{position}"),
	)
	errs = errors.Join(errs, err)
	builder.ProcessorSpannormalizerSpanNames, err = builder.meter.Int64ObservableGauge(
		"otelcol_processor_spannormalizer_span_names",
		metric.WithDescription("Number of distinct span names the processor currently gives a service's spans. [Development]"),
		metric.WithUnit("{name}"),
	)
	errs = errors.Join(errs, err)
	builder.ProcessorSpannormalizerSpanNamesCollapsed, err = builder.meter.Int64Counter(
		"otelcol_processor_spannormalizer_span_names_collapsed",
		metric.WithDescription("Number of span names replaced by the bare method because a cardinality or length bound was reached. [Development]"),
		metric.WithUnit("{span}"),
	)
	errs = errors.Join(errs, err)
	builder.ProcessorSpannormalizerSpansNormalized, err = builder.meter.Int64Counter(
		"otelcol_processor_spannormalizer_spans_normalized",
		metric.WithDescription("Number of proxy spans rewritten to the stable semantic conventions. [Development]"),
		metric.WithUnit("{span}"),
	)
	errs = errors.Join(errs, err)
	builder.ProcessorSpannormalizerSpansPassedThrough, err = builder.meter.Int64Counter(
		"otelcol_processor_spannormalizer_spans_passed_through",
		metric.WithDescription("Number of spans left unchanged because they are not from an enabled proxy source. [Development]"),
		metric.WithUnit("{span}"),
	)
	errs = errors.Join(errs, err)
	builder.ProcessorSpannormalizerValuesInvalid, err = builder.meter.Int64Counter(
		"otelcol_processor_spannormalizer_values_invalid",
		metric.WithDescription("Number of proxy attribute values that could not be converted and were left under their original name. [Development]"),
		metric.WithUnit("{value}"),
	)
	errs = errors.Join(errs, err)
	return &builder, errs
}
