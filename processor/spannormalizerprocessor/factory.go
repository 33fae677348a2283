// Package spannormalizerprocessor rewrites Envoy/Istio and ingress-nginx
// spans to the stable OpenTelemetry HTTP semantic conventions, with
// bounded-cardinality span names, semconv status and the real service
// identity. Spans from other sources pass through unchanged.
package spannormalizerprocessor // import "github.com/otelcol-mesh/otelcol-mesh/processor/spannormalizerprocessor"

import (
	"context"
	"runtime"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"

	"github.com/otelcol-mesh/otelcol-mesh/processor/spannormalizerprocessor/internal/metadata"
	"github.com/otelcol-mesh/otelcol-mesh/processor/spannormalizerprocessor/internal/workerpool"
)

const (
	defaultSpanName               = SpanNamePathTemplate
	defaultMaxSpanNamesPerService = 100
	defaultMaxServices            = 1000
	// defaultDiagnosticsMaxServices bounds the service label of the context
	// diagnostics metrics (times 3 series each, plus "_other").
	defaultDiagnosticsMaxServices = 500
	// Route learning: a value is named once seen 3 times at its position;
	// a position with more than 64 distinct values is a parameter; at most
	// 1000 positions and values per service and 100 000 in all; forgotten
	// after an idle hour.
	defaultRouteMinCount          = 3
	defaultRouteMaxValues         = 64
	defaultRouteMaxPositions      = 1000
	defaultRouteMaxPositionsTotal = 100000
	defaultRouteIdleTimeout       = time.Hour
	// maxNameLength is the longest span name (and service name) the
	// cardinality bound tracks; longer names collapse to the bare method.
	maxNameLength = 256
)

// NewFactory returns the spannormalizer processor factory.
func NewFactory() processor.Factory {
	return processor.NewFactory(
		metadata.Type,
		createDefaultConfig,
		processor.WithTraces(createTraces, metadata.TracesStability))
}

func createDefaultConfig() component.Config {
	return &Config{
		Sources:                []string{SourceEnvoy, SourceNginx},
		KeepOriginalAttributes: false,
		CompactProxyTags:       true,
		K8sIdentityFromIstio:   true,
		SpanName:               defaultSpanName,
		MaxSpanNamesPerService: defaultMaxSpanNamesPerService,
		MaxServices:            defaultMaxServices,
		RouteLearning: RouteLearningConfig{
			Enabled:                true,
			MinCount:               defaultRouteMinCount,
			MaxValuesPerPosition:   defaultRouteMaxValues,
			MaxPositionsPerService: defaultRouteMaxPositions,
			MaxPositions:           defaultRouteMaxPositionsTotal,
			IdleTimeout:            defaultRouteIdleTimeout,
		},
		ContextDiagnostics: ContextDiagnosticsConfig{
			Enabled:        false,
			MaxServices:    defaultDiagnosticsMaxServices,
			EdgeNamespaces: []string{"istio-system", "ingress-nginx"},
		},
		WorkerPool: true,
	}
}

func createTraces(
	ctx context.Context,
	set processor.Settings,
	cfg component.Config,
	next consumer.Traces,
) (processor.Traces, error) {
	p, err := newSpanNormalizer(set, cfg.(*Config))
	if err != nil {
		return nil, err
	}
	proc, err := processorhelper.NewTraces(ctx, set, cfg, next, p.processTraces,
		processorhelper.WithCapabilities(consumer.Capabilities{MutatesData: true}),
		processorhelper.WithShutdown(p.shutdown))
	if err != nil || !cfg.(*Config).WorkerPool {
		return proc, err
	}
	return &pooledTraces{Traces: proc, pool: workerpool.New(workersPerProc*runtime.GOMAXPROCS(0), proc)}, nil
}

// workersPerProc sizes the worker pool: the work is CPU-bound, but a worker
// waits while the exporter's queue is full, so a few per CPU.
const workersPerProc = 4

// pooledTraces runs the processor and the rest of the pipeline on the pool's
// workers (Config.WorkerPool).
type pooledTraces struct {
	processor.Traces
	pool *workerpool.Pool
}

func (p *pooledTraces) Start(ctx context.Context, host component.Host) error {
	p.pool.Start()
	return p.Traces.Start(ctx, host)
}

func (p *pooledTraces) Shutdown(ctx context.Context) error {
	// The receivers are down by now: nothing new arrives.
	err := p.Traces.Shutdown(ctx)
	p.pool.Stop()
	return err
}

func (p *pooledTraces) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	return p.pool.ConsumeTraces(ctx, td)
}
