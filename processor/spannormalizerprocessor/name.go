package spannormalizerprocessor // import "github.com/otelcol-mesh/otelcol-mesh/processor/spannormalizerprocessor"

import (
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"

	"github.com/otelcol-mesh/otelcol-mesh/processor/spannormalizerprocessor/internal/pathtemplate"
)

// setName sets the span name, within the per-service bounds: the gRPC
// `service/method`; else `{METHOD} {http.route}` when the span carries a
// route; else `{METHOD} {route template}` as the namer has learned it;
// else the bare method.
func (p *spanNormalizer) setName(span ptrace.Span, res *resourceState, c *counts, buf []byte, r *rewrite, s *spanState) {
	path, rpcName := r.path, r.rpcName
	prefix := r.method // "" when the span has no method
	if r.method != "" && !r.methodKnown {
		prefix = "HTTP" // semconv: "_OTHER" is named HTTP
	}
	service := res.serviceName()
	var name string
	var st pathtemplate.Step
	switch {
	case rpcName != "" || (prefix != "" && r.route != ""):
		// Not a path: interned as it is, within the same bounds.
		st.Outcome = pathtemplate.CollapsedTooLong
		switch {
		case rpcName != "" && len(rpcName) <= maxNameLength:
			buf = append(buf, rpcName...)
		case rpcName == "" && len(prefix)+1+len(r.route) <= maxNameLength:
			buf = append(append(append(buf, prefix...), ' '), r.route...)
		default:
			buf = nil
		}
		if buf != nil {
			name, st.Outcome, st.Filled = p.namer.Intern(service, buf, c.epoch)
		}
	case prefix == "":
		return // nothing to name the span after
	default:
		if path == "" {
			path = s.stablePath
		}
		if path == "" {
			span.SetName(prefix)
			return
		}
		name, st = p.namer.Name(service, prefix, path, c.epoch, buf)
	}
	if st.Filled != 0 {
		p.logFilled(service, st.Filled)
	}
	c.learned += int64(st.Learned)
	switch st.Outcome {
	case pathtemplate.CollapsedNameLimit:
		c.collapsed[collapseNameLimit]++
	case pathtemplate.CollapsedServiceLimit:
		c.collapsed[collapseServiceLimit]++
	case pathtemplate.CollapsedTooLong:
		c.collapsed[collapseTooLong]++
	case pathtemplate.CollapsedNodeLimit:
		c.collapsed[collapseNodeLimit]++
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
