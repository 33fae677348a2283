package spannormalizerprocessor // import "github.com/otelcol-mesh/otelcol-mesh/processor/spannormalizerprocessor"

import (
	"context"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otelcol-mesh/otelcol-mesh/processor/spannormalizerprocessor/internal/envoy"
	"github.com/otelcol-mesh/otelcol-mesh/processor/spannormalizerprocessor/internal/metadata"
	"github.com/otelcol-mesh/otelcol-mesh/processor/spannormalizerprocessor/internal/parse"
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
	numCollapse
)

// nginxScope is the instrumentation scope name of ingress-nginx's module.
const nginxScope = "nginx"

type spanNormalizer struct {
	logger *zap.Logger
	tb     *metadata.TelemetryBuilder

	envoy, nginx bool
	keep         bool
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
	p := &spanNormalizer{
		logger: set.Logger,
		tb:     tb,
		envoy:  cfg.sourceEnabled(SourceEnvoy),
		nginx:  cfg.sourceEnabled(SourceNginx),
		keep:   cfg.KeepOriginalAttributes,

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
		p.namer = pathtemplate.New(patterns, cfg.MaxSpanNamesPerService, cfg.MaxServices, maxNameLength)
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
}

// spanState is the per-span scratch space; one per request, reset per span.
type spanState struct {
	fields
	remove  uint32 // bits of old keys to delete
	invalid int64
}

func (p *spanNormalizer) processTraces(ctx context.Context, td ptrace.Traces) (ptrace.Traces, error) {
	var c counts
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
					s.observe(key, v)
					return true
				})
				src := p.classify(&s.fields, scopeName)
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
	for r := 0; r < numCollapse; r++ {
		if c.collapsed[r] > 0 {
			p.tb.ProcessorSpannormalizerSpanNamesCollapsed.Add(ctx, c.collapsed[r], p.collapseOpts[r])
		}
	}
}

// classify recognises the dialect. Envoy: `component=proxy` plus an Envoy
// tag. ingress-nginx: scope "nginx", or no scope name (instrumented apps
// always have one) with the platform's `ingress.*` attributes or the old
// nginx pair http.server_name + http.target. Envoy wins when both match.
func (p *spanNormalizer) classify(f *fields, scopeName string) source {
	if p.envoy && f.envoyTag && f.component == "proxy" {
		return sourceEnvoy
	}
	if p.nginx {
		if scopeName == nginxScope {
			return sourceNginx
		}
		if scopeName == "" && (f.ingressTag || (f.old[oldServerName].kind != kindAbsent && f.old[oldTarget].kind != kindAbsent)) {
			return sourceNginx
		}
	}
	return sourceNone
}

// resourceState tracks what was done to one resource.
type resourceState struct {
	res pcommon.Resource
	// identitySet: the Envoy identity was written (first Envoy span wins).
	identitySet bool
	// service is the service.name used for the cardinality bound.
	service     string
	serviceRead bool
	// diag is the context diagnostics' state of this resource.
	diag diagState
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

// text returns a string old value; "" and "-" are "no value" (and the key is
// removed), other types count as invalid and stay.
func (s *spanState) text(k int) (string, bool) {
	v := &s.old[k]
	switch v.kind {
	case kindAbsent:
		return "", false
	case kindStr:
		if v.s == "" || v.s == "-" {
			s.remove |= 1 << k
			return "", false
		}
		return v.s, true
	}
	s.invalid++
	return "", false
}

// integer returns an int old value, or a string one parsed as decimal.
func (s *spanState) integer(k int) (int64, bool) {
	v := &s.old[k]
	switch v.kind {
	case kindAbsent:
		return 0, false
	case kindInt:
		return v.n, true
	case kindStr:
		if v.s == "" || v.s == "-" {
			s.remove |= 1 << k
			return 0, false
		}
		if n, ok := parse.Uint(v.s); ok {
			return n, true
		}
	}
	s.invalid++
	return 0, false
}

func (s *spanState) done(k int) { s.remove |= 1 << k }

func (s *spanState) missing(bit int) bool { return s.has&(1<<bit) == 0 }

// normalize rewrites one recognised span in place.
func (p *spanNormalizer) normalize(span ptrace.Span, s *spanState, src source, res *resourceState, c *counts, buf []byte) {
	var node envoy.Node
	var cluster envoy.Cluster
	var nodeOK, clusterOK bool
	if src == sourceEnvoy {
		node, nodeOK = envoy.ParseNodeID(s.nodeID)
		cluster, clusterOK = envoy.ParseCluster(s.upstreamCluster)
		if span.Kind() == ptrace.SpanKindUnspecified {
			switch {
			case nodeOK && node.Gateway:
				span.SetKind(ptrace.SpanKindClient)
			case clusterOK && cluster.Outbound:
				span.SetKind(ptrace.SpanKindClient)
			case clusterOK:
				span.SetKind(ptrace.SpanKindServer)
			}
		}
		if !res.identitySet {
			res.identitySet = true
			p.setIdentity(res, s, node, nodeOK)
		}
	}
	if src == sourceNginx && span.Kind() == ptrace.SpanKindUnspecified {
		span.SetKind(ptrace.SpanKindServer) // the ingress serves the request
	}
	r := rewrite{
		client:  span.Kind() == ptrace.SpanKindClient,
		server:  span.Kind() == ptrace.SpanKindServer,
		gateway: nodeOK && node.Gateway,
	}
	// Read and convert everything before the first write: a Value from the
	// map is invalid after a Put or Remove.
	s.readHTTP(&r)
	s.readNetwork(&r)
	s.readRPC(&r, src)
	s.readDestination(&r, src, cluster, clusterOK)
	if p.diag != nil && nodeOK && node.Sidecar {
		r.contextBreak, r.contextEvidence = p.diag.check(span, s, &r, res)
	}

	attrs := span.Attributes()
	p.write(attrs, s, &r)
	setStatus(span, attrs, &r)
	if p.namer != nil {
		p.setName(span, res, c, buf, &r, s.stablePath)
	}
}

// setName sets `{METHOD} {path template}` (or the gRPC `service/method`),
// within the per-service bound.
func (p *spanNormalizer) setName(span ptrace.Span, res *resourceState, c *counts, buf []byte, r *rewrite, stablePath string) {
	path, rpcName := r.path, r.rpcName
	prefix := r.method // "" when the span has no method
	if r.method != "" && !r.methodKnown {
		prefix = "HTTP" // semconv: "_OTHER" is named HTTP
	}
	var ok bool
	switch {
	case rpcName != "":
		if len(rpcName) <= maxNameLength {
			buf, ok = append(buf, rpcName...), true
		}
	case prefix == "":
		return // nothing to name the span after
	default:
		if path == "" {
			path = stablePath
		}
		if path == "" {
			span.SetName(prefix)
			return
		}
		buf, ok = p.namer.AppendName(buf, prefix, path)
	}
	outcome := pathtemplate.CollapsedTooLong
	name := ""
	if ok {
		var filled pathtemplate.Filled
		name, outcome, filled = p.namer.Intern(res.serviceName(), buf)
		if filled != 0 {
			p.logFilled(res.serviceName(), filled)
		}
	}
	switch outcome {
	case pathtemplate.CollapsedNameLimit:
		c.collapsed[collapseNameLimit]++
	case pathtemplate.CollapsedServiceLimit:
		c.collapsed[collapseServiceLimit]++
	case pathtemplate.CollapsedTooLong:
		c.collapsed[collapseTooLong]++
	}
	if name == "" {
		if prefix == "" {
			prefix = "HTTP"
		}
		name = prefix
	}
	span.SetName(name)
}

// logFilled says once, when it happens, that a cardinality bound is full.
func (p *spanNormalizer) logFilled(service string, filled pathtemplate.Filled) {
	if filled&pathtemplate.FilledNames != 0 {
		p.logger.Info("Span name limit reached for a service; its new span names collapse to the bare method",
			zap.String("service", service), zap.Int("max_span_names_per_service", p.maxNames))
	}
	if filled&pathtemplate.FilledServices != 0 {
		p.logger.Warn("Service limit reached; spans of services not seen so far are named by the bare method",
			zap.Int("max_services", p.maxServices))
	}
}

// setIdentity writes the Envoy identity on the resource, once per resource
// (the first Envoy span wins). service.* are overwritten; k8s.* are only
// added when absent (and k8s_identity_from_istio is on), so a trusted value
// from k8s_attributes is never replaced by one a proxy claims.
func (p *spanNormalizer) setIdentity(res *resourceState, s *spanState, node envoy.Node, nodeOK bool) {
	ra := res.res.Attributes()
	ns := ""
	if parse.IsDNSLabel(s.istioNamespace) {
		ns = s.istioNamespace
	} else if nodeOK {
		ns = node.Namespace
	}
	svc := s.canonicalService
	if svc == "" || svc == "-" {
		svc = ""
		// Fall back to the `<app>.<namespace>` service.name minus the namespace.
		if v, ok := ra.Get(resServiceName); ok && ns != "" {
			if cur := v.Str(); len(cur) > len(ns)+1 && strings.HasSuffix(cur, ns) && cur[len(cur)-len(ns)-1] == '.' {
				svc = cur[:len(cur)-len(ns)-1]
			}
		}
	}
	if svc != "" {
		ra.PutStr(resServiceName, svc)
		res.service, res.serviceRead = svc, true
	}
	if ns != "" {
		ra.PutStr(resServiceNamespace, ns)
		if _, ok := ra.Get(resK8sNamespace); !ok && p.k8sIdentity {
			ra.PutStr(resK8sNamespace, ns)
		}
	}
	if rev := s.canonicalRevision; rev != "" && rev != "-" {
		ra.PutStr(resServiceVersion, rev)
	}
	if nodeOK && node.Pod != "" && p.k8sIdentity {
		if _, ok := ra.Get(resK8sPodName); !ok {
			ra.PutStr(resK8sPodName, node.Pod)
		}
	}
}
