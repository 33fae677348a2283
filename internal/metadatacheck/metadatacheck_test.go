package metadatacheck

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/otel/metric"
)

// A made-up component with one instrument of each shape the check handles.
const fakeMetadata = `type: fake
status:
  class: extension
  stability:
    beta: [extension]
attributes:
  reason:
    description: Why.
    type: string
    enum: [a, b]
telemetry:
  metrics:
    extension_fake_requests:
      enabled: true
      stability: development
      description: Requests seen.
      unit: "{request}"
      sum:
        value_type: int
        monotonic: true
      attributes: [reason]
    extension_fake_queue:
      enabled: true
      stability: alpha
      description: Items queued.
      unit: "{item}"
      sum:
        value_type: int
        monotonic: false
        async: true
    extension_fake_latency:
      enabled: true
      stability: stable
      description: Request latency.
      unit: s
      histogram:
        value_type: double
`

const fakeDocumentation = `# fake

## Internal Telemetry

### otelcol_extension_fake_latency

Request latency.

| Unit | Metric Type | Value Type | Stability |
| ---- | ----------- | ---------- | --------- |
| s | Histogram | Double | Stable |

### otelcol_extension_fake_queue

Items queued.

| Unit | Metric Type | Value Type | Monotonic | Stability |
| ---- | ----------- | ---------- | --------- | --------- |
| {item} | Sum | Int | false | Alpha |

### otelcol_extension_fake_requests

Requests seen.

| Unit | Metric Type | Value Type | Monotonic | Stability |
| ---- | ----------- | ---------- | --------- | --------- |
| {request} | Sum | Int | true | Development |

#### Attributes

| Name | Description | Values |
| ---- | ----------- | ------ |
| reason | Why. | Str: ` + "``a``, ``b``" + ` |
`

const fakeScope = "example.test/fake"

// fakeBuilder is shaped like an mdatagen TelemetryBuilder.
type fakeBuilder struct {
	meter                 metric.Meter
	regs                  []metric.Registration
	ExtensionFakeLatency  metric.Float64Histogram
	ExtensionFakeQueue    metric.Int64ObservableUpDownCounter
	ExtensionFakeRequests metric.Int64Counter
}

// extraBuilder has one instrument field more than metadata.yaml declares.
type extraBuilder struct {
	*fakeBuilder
	ExtensionFakeExtraOnly metric.Int64Counter
}

func (b *fakeBuilder) RegisterExtensionFakeQueueCallback(cb metric.Int64Callback) error {
	reg, err := b.meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		return cb(ctx, observer{o: o, inst: b.ExtensionFakeQueue})
	}, b.ExtensionFakeQueue)
	b.regs = append(b.regs, reg)
	return err
}

type observer struct {
	metric.Int64Observer
	o    metric.Observer
	inst metric.Int64Observable
}

func (o observer) Observe(v int64, opts ...metric.ObserveOption) {
	o.o.ObserveInt64(o.inst, v, opts...)
}

func (b *fakeBuilder) Shutdown() {
	for _, r := range b.regs {
		_ = r.Unregister()
	}
}

// instrument describes one instrument the fake builder creates.
type instrument struct{ name, description, unit string }

type fakeCode struct {
	scope                      string
	latency, queue, requests   instrument
	extraField                 bool
	requestsAsGauge, swapNames bool
}

func goodCode() fakeCode {
	return fakeCode{
		scope:    fakeScope,
		latency:  instrument{"otelcol_extension_fake_latency", "Request latency.", "s"},
		queue:    instrument{"otelcol_extension_fake_queue", "Items queued. [Alpha]", "{item}"},
		requests: instrument{"otelcol_extension_fake_requests", "Requests seen. [Development]", "{request}"},
	}
}

func (fc fakeCode) builder(set component.TelemetrySettings) (TelemetryBuilder, error) {
	b := &fakeBuilder{meter: set.MeterProvider.Meter(fc.scope)}
	var err, errs error
	b.ExtensionFakeLatency, err = b.meter.Float64Histogram(fc.latency.name, metric.WithDescription(fc.latency.description), metric.WithUnit(fc.latency.unit))
	errs = errors.Join(errs, err)
	queueName := fc.queue.name
	if fc.swapNames {
		queueName = fc.requests.name
	}
	b.ExtensionFakeQueue, err = b.meter.Int64ObservableUpDownCounter(queueName, metric.WithDescription(fc.queue.description), metric.WithUnit(fc.queue.unit))
	errs = errors.Join(errs, err)
	req := fc.requests
	if fc.swapNames {
		req.name = fc.queue.name
	}
	if fc.requestsAsGauge {
		// A counter field whose instrument the code registers as a gauge.
		g, err := b.meter.Int64Gauge(req.name, metric.WithDescription(req.description), metric.WithUnit(req.unit))
		errs = errors.Join(errs, err)
		b.ExtensionFakeRequests = gaugeAsCounter{Int64Counter: nil, g: g}
	} else {
		b.ExtensionFakeRequests, err = b.meter.Int64Counter(req.name, metric.WithDescription(req.description), metric.WithUnit(req.unit))
		errs = errors.Join(errs, err)
	}
	if fc.extraField {
		eb := &extraBuilder{fakeBuilder: b}
		eb.ExtensionFakeExtraOnly, err = b.meter.Int64Counter("otelcol_extension_fake_extra_only")
		return eb, errors.Join(errs, err)
	}
	return b, errs
}

// gaugeAsCounter records Add as a gauge value: code whose instrument kind
// differs from its declared field type.
type gaugeAsCounter struct {
	metric.Int64Counter
	g metric.Int64Gauge
}

func (c gaugeAsCounter) Add(ctx context.Context, v int64, opts ...metric.AddOption) {
	c.g.Record(ctx, v)
}

type fakeFactory struct {
	extension.Factory
	level component.StabilityLevel
}

func (f fakeFactory) Type() component.Type                { return component.MustNewType("fake") }
func (f fakeFactory) Stability() component.StabilityLevel { return f.level }

// setup writes a fake component (go.mod, metadata.yaml, documentation.md)
// into a temporary directory.
func setup(t *testing.T, metadata, documentation string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range map[string]string{
		"go.mod":           "module " + fakeScope + "\n\ngo 1.26\n",
		"metadata.yaml":    metadata,
		"documentation.md": documentation,
	} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600))
	}
	return dir
}

func fakeComponent(dir string, code fakeCode) Component {
	return Component{
		Dir:                 dir,
		Type:                component.MustNewType("fake"),
		ScopeName:           fakeScope,
		Stability:           map[string]component.StabilityLevel{"extension": component.StabilityLevelBeta},
		Factory:             fakeFactory{level: component.StabilityLevelBeta},
		NewTelemetryBuilder: code.builder,
	}
}

func TestMatchingComponentHasNoProblems(t *testing.T) {
	assert.Empty(t, Problems(fakeComponent(setup(t, fakeMetadata, fakeDocumentation), goodCode())))
}

func TestEveryDriftIsReported(t *testing.T) {
	tests := []struct {
		name          string
		metadata, doc func(string) string
		code          func(*fakeCode)
		component     func(*Component)
		want          string
	}{
		{
			name: "description in code",
			code: func(c *fakeCode) { c.requests.description = "Requests. [Development]" },
			want: "metric extension_fake_requests: description in code",
		},
		{
			name: "stability suffix missing",
			code: func(c *fakeCode) { c.queue.description = "Items queued." },
			want: "metric extension_fake_queue: description in code",
		},
		{
			name: "unit in code",
			code: func(c *fakeCode) { c.latency.unit = "ms" },
			want: `metric extension_fake_latency: unit "ms" in code, "s" in metadata.yaml`,
		},
		{
			name: "name in code",
			code: func(c *fakeCode) { c.requests.name = "otelcol_extension_fake_request" },
			want: "metric extension_fake_requests: recorded on TelemetryBuilder.ExtensionFakeRequests, but no metric otelcol_extension_fake_requests",
		},
		{
			name: "two instruments' names swapped",
			code: func(c *fakeCode) { c.swapNames = true },
			want: "metric extension_fake_requests: exported with monotonic=false, metadata.yaml says true",
		},
		{
			name: "field in code that metadata.yaml lacks",
			code: func(c *fakeCode) { c.extraField = true },
			want: "TelemetryBuilder.ExtensionFakeExtraOnly (int sum (monotonic=true)) is not in metadata.yaml telemetry.metrics",
		},
		{
			name: "instrument of another kind behind the field",
			code: func(c *fakeCode) { c.requestsAsGauge = true },
			want: "metric extension_fake_requests: exported as int gauge, metadata.yaml says int sum",
		},
		{
			name: "scope",
			code: func(c *fakeCode) { c.scope = "example.test/other" },
			want: `is exported under scope "example.test/other", not metadata.ScopeName "example.test/fake"`,
		},
		{
			name: "metric in metadata.yaml without a field",
			metadata: func(s string) string {
				return strings.Replace(s, "extension_fake_latency:", "extension_fake_latency_seconds:", 1)
			},
			want: "metric extension_fake_latency_seconds: TelemetryBuilder has no instrument field ExtensionFakeLatencySeconds",
		},
		{
			name: "monotonic in metadata.yaml",
			metadata: func(s string) string {
				return strings.Replace(s, "monotonic: false\n        async: true", "monotonic: true\n        async: true", 1)
			},
			want: "metric extension_fake_queue: metadata.yaml declares async int sum (monotonic=true), TelemetryBuilder.ExtensionFakeQueue is async int sum (monotonic=false)",
		},
		{
			name:     "value type in metadata.yaml",
			metadata: func(s string) string { return strings.Replace(s, "value_type: double", "value_type: int", 1) },
			want:     "metadata.yaml declares int histogram, TelemetryBuilder.ExtensionFakeLatency is double histogram",
		},
		{
			name: "undefined attribute",
			metadata: func(s string) string {
				return strings.Replace(s, "attributes: [reason]", "attributes: [reason, tenant]", 1)
			},
			want: `metric extension_fake_requests: attribute "tenant" is not defined under attributes`,
		},
		{
			name:     "type",
			metadata: func(s string) string { return strings.Replace(s, "type: fake", "type: fakes", 1) },
			want:     `metadata.yaml type "fakes", metadata.Type "fake"`,
		},
		{
			name:     "stability in metadata.yaml",
			metadata: func(s string) string { return strings.Replace(s, "beta: [extension]", "alpha: [extension]", 1) },
			want:     "extension stability: metadata.yaml Alpha, generated_status.go Beta",
		},
		{
			name:      "factory stability",
			component: func(c *Component) { c.Factory = fakeFactory{level: component.StabilityLevelAlpha} },
			want:      "factory extension stability Alpha, metadata.yaml Beta",
		},
		{
			name:      "scope name is not the import path",
			component: func(c *Component) { c.ScopeName = "example.test/fake/sub" },
			want:      `metadata.ScopeName "example.test/fake/sub", but the package is "example.test/fake"`,
		},
		{
			name: "documentation lacks a metric",
			doc: func(s string) string {
				return strings.Replace(s, "### otelcol_extension_fake_queue", "### otelcol_extension_fake_queued", 1)
			},
			want: `documentation.md has no section "### otelcol_extension_fake_queue"`,
		},
		{
			name: "documentation description",
			doc:  func(s string) string { return strings.Replace(s, "Requests seen.", "Requests seen. [Development]", 1) },
			want: "documentation.md otelcol_extension_fake_requests: description",
		},
		{
			name: "documentation table row",
			doc: func(s string) string {
				return strings.Replace(s, "| s | Histogram | Double | Stable |", "| ms | Histogram | Double | Stable |", 1)
			},
			want: `documentation.md otelcol_extension_fake_latency: no table row "| s | Histogram | Double | Stable |"`,
		},
		{
			name: "documentation attribute row",
			doc:  func(s string) string { return strings.Replace(s, "| reason | Why. |", "| reason | Because. |", 1) },
			want: "documentation.md otelcol_extension_fake_requests: no attribute row",
		},
		{
			name: "documentation attribute metadata.yaml lacks",
			doc:  func(s string) string { return s + "| tenant | The tenant. | Any Str |\n" },
			want: `documentation.md otelcol_extension_fake_requests: attribute "tenant" that metadata.yaml does not give this metric`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			md, doc, code := fakeMetadata, fakeDocumentation, goodCode()
			if tt.metadata != nil {
				md = tt.metadata(md)
				require.NotEqual(t, fakeMetadata, md, "the mutation must change metadata.yaml")
			}
			if tt.doc != nil {
				doc = tt.doc(doc)
				require.NotEqual(t, fakeDocumentation, doc, "the mutation must change documentation.md")
			}
			if tt.code != nil {
				tt.code(&code)
			}
			c := fakeComponent(setup(t, md, doc), code)
			if tt.component != nil {
				tt.component(&c)
			}
			problems := Problems(c)
			found := false
			for _, p := range problems {
				found = found || strings.Contains(p, tt.want)
			}
			assert.True(t, found, "want a problem containing %q, got %q", tt.want, problems)
		})
	}
}

func TestFieldName(t *testing.T) {
	assert.Equal(t, "ProcessorSpannormalizerSpansNormalized", FieldName("processor_spannormalizer_spans_normalized"))
	assert.Equal(t, "ExtensionFooBarBaz", FieldName("extension_foo.bar_baz"))
}
