package spannormalizerprocessor // import "github.com/otelcol-mesh/otelcol-mesh/processor/spannormalizerprocessor"

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otelcol-mesh/otelcol-mesh/processor/spannormalizerprocessor/internal/metadata"
	"github.com/otelcol-mesh/otelcol-mesh/processor/spannormalizerprocessor/internal/pathtemplate"
)

// source is the dialect a span was recognised as.
type source uint8

const (
	sourceNone source = iota
	sourceEnvoy
	sourceNginx
	numSources
)

// Collapse reasons, indexed like the metric attribute sets.
const (
	collapseNameLimit = iota
	collapseServiceLimit
	collapseTooLong
	collapseNodeLimit
	numCollapse
)

type spanNormalizer struct {
	logger *zap.Logger
	tb     *metadata.TelemetryBuilder

	keys         *keyIndex
	now          func() time.Time
	envoy, nginx bool
	keep         bool
	compact      bool
	k8sIdentity  bool
	namer        *pathtemplate.Namer // nil when span_name is off
	diag         *diagnostics        // nil when context_diagnostics is off
	maxNames     int
	maxServices  int

	// Metric options built once (bounded enum attributes).
	sourceOpts   [numSources]metric.AddOption
	collapseOpts [numCollapse]metric.AddOption
}

func newSpanNormalizer(set processor.Settings, cfg *Config) (*spanNormalizer, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	keys, err := newKeyIndex()
	if err != nil {
		tb.Shutdown()
		return nil, err
	}
	p := &spanNormalizer{
		logger:  set.Logger,
		tb:      tb,
		keys:    keys,
		now:     time.Now,
		envoy:   cfg.sourceEnabled(SourceEnvoy),
		nginx:   cfg.sourceEnabled(SourceNginx),
		keep:    cfg.KeepOriginalAttributes,
		compact: cfg.CompactProxyTags,

		k8sIdentity: cfg.K8sIdentityFromIstio,

		maxNames:    cfg.MaxSpanNamesPerService,
		maxServices: cfg.MaxServices,
	}
	if cfg.SpanName == SpanNamePathTemplate {
		patterns := make([]pathtemplate.Pattern, 0, len(cfg.PathPatterns))
		for _, pp := range cfg.PathPatterns {
			compiled, err := pathtemplate.CompilePattern(pp.Regex, pp.replacement())
			if err != nil {
				tb.Shutdown()
				return nil, err
			}
			patterns = append(patterns, compiled)
		}
		p.namer = pathtemplate.New(patterns, cfg.MaxSpanNamesPerService, cfg.MaxServices, maxNameLength, cfg.RouteLearning.learning())
	}
	if p.namer != nil {
		namer, maxServices := p.namer, cfg.MaxServices
		err = tb.RegisterProcessorSpannormalizerSpanNamesCallback(func(_ context.Context, o metric.Int64Observer) error {
			namer.NameCounts(maxServices, func(service string, names int) {
				o.Observe(int64(names), metric.WithAttributes(attribute.String("service", service)))
			})
			return nil
		})
		if err != nil {
			tb.Shutdown()
			return nil, err
		}
	}
	p.diag, err = newDiagnostics(&cfg.ContextDiagnostics, set.Logger,
		tb.ProcessorSpannormalizerContextBreaks, tb.ProcessorSpannormalizerContextPropagated)
	if err != nil {
		tb.Shutdown()
		return nil, err
	}
	p.sourceOpts[sourceEnvoy] = metric.WithAttributeSet(attribute.NewSet(attribute.String("source", SourceEnvoy)))
	p.sourceOpts[sourceNginx] = metric.WithAttributeSet(attribute.NewSet(attribute.String("source", SourceNginx)))
	p.collapseOpts[collapseNameLimit] = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", "name_limit")))
	p.collapseOpts[collapseServiceLimit] = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", "service_limit")))
	p.collapseOpts[collapseTooLong] = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", "too_long")))
	p.collapseOpts[collapseNodeLimit] = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", "position_limit")))
	return p, nil
}

func (p *spanNormalizer) shutdown(context.Context) error {
	p.tb.Shutdown()
	return nil
}

// counts are the decisions of one request, added to the metrics once.
type counts struct {
	normalized [numSources]int64
	invalid    [numSources]int64
	passed     int64
	collapsed  [numCollapse]int64
	learned    int64 // path positions route learning decided variable
	// epoch is the request's tick of route learning's clock.
	epoch uint32
}

func (p *spanNormalizer) processTraces(ctx context.Context, td ptrace.Traces) (ptrace.Traces, error) {
	c := counts{epoch: uint32(p.now().Unix() / int64(learningEpoch/time.Second))}
	var s spanState
	var nameBuf [maxNameLength + 32]byte
	var pend diagPending
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		res := resourceState{res: rs.Resource()}
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			ss := sss.At(j)
			scopeName := ss.Scope().Name()
			spans := ss.Spans()
			for k := 0; k < spans.Len(); k++ {
				span := spans.At(k)
				s = spanState{}
				attrs := span.Attributes()
				attrs.Range(func(key string, v pcommon.Value) bool {
					s.scan(p.keys, key, v)
					return true
				})
				src := p.recognise(&s, scopeName)
				if src == sourceNone {
					c.passed++
					continue
				}
				p.normalize(span, &s, src, &res, &c, nameBuf[:0])
				c.normalized[src]++
				c.invalid[src] += s.invalid
			}
		}
		if p.diag != nil {
			p.diag.collect(ctx, &pend, &res)
		}
	}
	if p.diag != nil {
		p.diag.flush(ctx, &pend)
	}
	p.record(ctx, &c)
	return td, nil
}

func (p *spanNormalizer) record(ctx context.Context, c *counts) {
	for src := sourceEnvoy; src < numSources; src++ {
		if c.normalized[src] > 0 {
			p.tb.ProcessorSpannormalizerSpansNormalized.Add(ctx, c.normalized[src], p.sourceOpts[src])
		}
		if c.invalid[src] > 0 {
			p.tb.ProcessorSpannormalizerValuesInvalid.Add(ctx, c.invalid[src], p.sourceOpts[src])
		}
	}
	if c.passed > 0 {
		p.tb.ProcessorSpannormalizerSpansPassedThrough.Add(ctx, c.passed)
	}
	if c.learned > 0 {
		p.tb.ProcessorSpannormalizerRouteParametersLearned.Add(ctx, c.learned)
	}
	for r := 0; r < numCollapse; r++ {
		if c.collapsed[r] > 0 {
			p.tb.ProcessorSpannormalizerSpanNamesCollapsed.Add(ctx, c.collapsed[r], p.collapseOpts[r])
		}
	}
}

// recognise names the dialect of a span from what the scan recorded; Envoy
// wins when both match.
func (p *spanNormalizer) recognise(s *spanState, scopeName string) source {
	if p.envoy && isEnvoy(s) {
		return sourceEnvoy
	}
	if p.nginx && isNginx(s, scopeName) {
		return sourceNginx
	}
	return sourceNone
}

// resourceState tracks what was done to one resource.
type resourceState struct {
	res pcommon.Resource
	// identitySet: the proxy's identity was written (first span wins).
	identitySet bool
	// service is the service.name used for the cardinality bound.
	service     string
	serviceRead bool
	// diag is the context diagnostics' state of this resource.
	diag diagState
	// hoisted holds, per dialect tag, the value the resource has for it
	// (read once, then kept up to date by compacting); hoistHas marks the
	// tags the resource has at all.
	hoistRead bool
	hoisted   [numTags]string
	hoistHas  uint32
}

// setService writes the proxy's service name and namespace on the
// resource; the name is the one the cardinality bound counts from then on.
func (r *resourceState) setService(name, namespace string) {
	ra := r.res.Attributes()
	ra.PutStr(resServiceName, name)
	ra.PutStr(resServiceNamespace, namespace)
	r.service, r.serviceRead = name, true
}

func (r *resourceState) serviceName() string {
	if !r.serviceRead {
		r.serviceRead = true
		if v, ok := r.res.Attributes().Get(resServiceName); ok {
			r.service = v.Str()
		}
	}
	return r.service
}

// normalize rewrites one recognised span in place: the dialect fixes the
// kind and reads its own tags, the protocol readers convert the rest, and
// only then is anything written (a Value from the map is invalid after a
// Put or Remove).
func (p *spanNormalizer) normalize(span ptrace.Span, s *spanState, src source, res *resourceState, c *counts, buf []byte) {
	var r rewrite
	switch src {
	case sourceEnvoy:
		p.readEnvoy(span, s, res, &r)
	case sourceNginx:
		p.readNginx(span, s, res, &r)
	}
	s.readHTTP(&r)
	if isRouteName(s.stableRoute) {
		r.route = s.stableRoute
	}
	s.readRenames(p.keys, &r)
	s.readNetwork(&r)
	s.readDestination(&r)
	if p.diag != nil && r.sidecar {
		r.contextBreak, r.contextEvidence = p.diag.check(span, &r, res)
	}

	attrs := span.Attributes()
	p.write(attrs, res, s, &r)
	setStatus(span, attrs, s, &r)
	if p.namer != nil {
		p.setName(span, res, c, buf, &r, s)
	}
}
