package spannormalizerprocessor // import "github.com/otelcol-mesh/otelcol-mesh/processor/spannormalizerprocessor"

import (
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"

	"github.com/otelcol-mesh/otelcol-mesh/processor/spannormalizerprocessor/internal/pathtemplate"
)

// setName sets the span name, within the per-service bound: the gRPC
// `service/method`; else `{METHOD} {http.route}` when the span carries a
// route; else `{METHOD} {path template}`; else the bare method.
func (p *spanNormalizer) setName(span ptrace.Span, res *resourceState, c *counts, buf []byte, r *rewrite, s *spanState) {
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
	case r.route != "":
		if len(prefix)+1+len(r.route) <= maxNameLength {
			buf, ok = append(append(append(buf, prefix...), ' '), r.route...), true
		}
	default:
		if path == "" {
			path = s.stablePath
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
