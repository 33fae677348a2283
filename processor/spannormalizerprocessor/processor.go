package spannormalizerprocessor // import "github.com/otelcol-mesh/otelcol-mesh/processor/spannormalizerprocessor"

import (
	"context"
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otelcol-mesh/otelcol-mesh/internal/meshattr"
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
	namer        *pathtemplate.Namer // nil when span_name is off
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
	attrs := span.Attributes()

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
	kind := span.Kind()
	client := kind == ptrace.SpanKindClient
	server := kind == ptrace.SpanKindServer
	gateway := nodeOK && node.Gateway

	// Read and convert every old value before the first write: a Value
	// from the map is invalid after a Put or Remove.
	methodRaw, methodOK := s.text(oldMethod)
	if methodOK {
		s.done(oldMethod)
	}
	// The method that names the span: a stable value already on the span
	// wins; either way only a known method (or "_OTHER") comes out, so the
	// name prefix is bounded.
	method, methodKnown := "", false
	switch {
	case s.stableMethod != "":
		method, methodKnown = parse.Method(s.stableMethod)
	case methodOK:
		method, methodKnown = parse.Method(methodRaw)
	}

	statusCode, statusOK := s.stableStatus, s.has&(1<<hasStatusCode) != 0 && s.stableStatus > 0
	statusText := ""
	putStatus := false
	if n, ok := s.integer(oldStatusCode); ok {
		switch {
		case n == 0: // Envoy: no response was received.
			s.done(oldStatusCode)
		case n >= 100 && n <= 599:
			s.done(oldStatusCode)
			if s.missing(hasStatusCode) {
				statusCode, statusOK, putStatus = n, true, true
				if v := &s.old[oldStatusCode]; v.kind == kindStr {
					statusText = v.s
				}
			}
		default:
			s.invalid++
		}
	}

	var scheme, path, query, urlFull, urlHost string
	var hasQuery bool
	var urlPort int64
	if raw, ok := s.text(oldURL); ok {
		if u, ok := parse.ParseURL(raw); ok {
			s.done(oldURL)
			scheme, path, query, hasQuery = u.Scheme, u.Path, u.Query, u.HasQuery
			urlHost, urlPort = u.Host, u.Port
			if client && u.Scheme != "" {
				urlFull = raw
			}
		} else {
			s.invalid++
		}
	}
	if raw, ok := s.text(oldTarget); ok {
		if u, ok := parse.ParseURL(raw); ok && u.Scheme == "" {
			s.done(oldTarget)
			if path == "" {
				path, query, hasQuery = u.Path, u.Query, u.HasQuery
			}
		} else {
			s.invalid++
		}
	}
	if raw, ok := s.text(oldScheme); ok {
		s.done(oldScheme)
		if scheme == "" {
			scheme = raw
		}
	}

	protoVersion := ""
	for _, k := range [...]int{oldProtocol, oldFlavor} {
		if raw, ok := s.text(k); ok {
			if v, ok := parse.ProtocolVersion(raw); ok {
				s.done(k)
				if protoVersion == "" {
					protoVersion = v
				}
			} else {
				s.invalid++
			}
		}
	}

	userAgent := ""
	for _, k := range [...]int{oldHTTPUserAgent, oldUserAgent} {
		if raw, ok := s.text(k); ok {
			s.done(k)
			if userAgent == "" {
				userAgent = raw
			}
		}
	}

	var hostPort int64
	if n, ok := s.integer(oldHostPort); ok {
		if n >= 1 && n <= 65535 {
			s.done(oldHostPort)
			hostPort = n
		} else {
			s.invalid++
		}
	}
	hostName, ok := s.text(oldHostName)
	if ok {
		s.done(oldHostName)
	}
	var httpHost string
	var httpHostPort int64
	if raw, ok := s.text(oldHTTPHost); ok {
		h, port, pok := parse.SplitHostPort(raw)
		if pok && h != "" {
			s.done(oldHTTPHost)
			httpHost, httpHostPort = h, port
		} else {
			s.invalid++
		}
	}
	serverName, ok := s.text(oldServerName)
	if ok {
		s.done(oldServerName)
	}

	var peerAddr string
	var peerPort int64
	if raw, ok := s.text(oldPeerIP); ok {
		s.done(oldPeerIP)
		peerAddr = raw
	}
	if n, ok := s.integer(oldPeerPort); ok {
		if n >= 1 && n <= 65535 {
			s.done(oldPeerPort)
			peerPort = n
		} else {
			s.invalid++
		}
	}
	if raw, ok := s.text(oldPeerAddress); ok {
		h, port, pok := parse.SplitHostPort(raw)
		if pok && h != "" {
			s.done(oldPeerAddress)
			if peerAddr == "" {
				peerAddr = h
				if peerPort == 0 {
					peerPort = port
				}
			}
		} else {
			s.invalid++
		}
	}
	clientIP, ok := s.text(oldClientIP)
	if ok {
		s.done(oldClientIP)
	}

	var reqSize, respSize int64
	reqSizeOK, respSizeOK := false, false
	if n, ok := s.integer(oldRequestSize); ok {
		s.done(oldRequestSize)
		reqSize, reqSizeOK = n, true
	}
	if n, ok := s.integer(oldResponseSize); ok {
		s.done(oldResponseSize)
		respSize, respSizeOK = n, true
	}

	var rpcService, rpcMethod, rpcName string
	if raw, ok := s.text(oldGRPCPath); ok {
		svc, m, cut := strings.Cut(strings.TrimPrefix(raw, "/"), "/")
		if cut && svc != "" && m != "" && strings.IndexByte(m, '/') < 0 {
			s.done(oldGRPCPath)
			rpcService, rpcMethod, rpcName = svc, m, raw[len(raw)-len(svc)-1-len(m):]
		} else {
			s.invalid++
		}
	}
	grpcStatus, grpcOK := s.integer(oldGRPCStatus)
	if grpcOK {
		if grpcStatus <= 16 {
			s.done(oldGRPCStatus)
		} else {
			grpcOK = false
			s.invalid++
		}
	}

	if s.old[oldError].kind != kindAbsent {
		s.done(oldError)
	}
	flagsMsg, flagsOK := "", false
	if raw, ok := s.text(oldResponseFlags); ok && src == sourceEnvoy {
		flagsMsg, flagsOK = envoy.Message(raw)
	}
	_, _ = s.text(oldDownstream) // "-" is removed; other values stay

	// Destination.
	var peerService, destNamespace string
	serverAddr, serverPort := "", int64(0)
	switch src {
	case sourceEnvoy:
		if clusterOK && cluster.Outbound && (client || gateway) {
			serverAddr, serverPort = cluster.Host, cluster.Port
			peerService = cluster.Service
			if peerService == "" {
				peerService = cluster.Host
			}
			if gateway {
				destNamespace = cluster.Namespace
			}
		}
	case sourceNginx:
		peerService = s.ingressService
		if s.ingressNamespace != "" {
			if parse.IsDNSLabel(s.ingressNamespace) {
				destNamespace = s.ingressNamespace
			} else {
				s.invalid++
			}
		}
	}
	if client {
		serverAddr = firstNonEmpty(serverAddr, urlHost, httpHost, serverName, hostName)
		serverPort = firstNonZero(serverPort, urlPort, httpHostPort, hostPort)
	} else {
		serverAddr = firstNonEmpty(httpHost, urlHost, serverName, hostName)
		inboundPort := int64(0)
		if clusterOK && !cluster.Outbound {
			inboundPort = cluster.Port
		}
		serverPort = firstNonZero(hostPort, httpHostPort, urlPort, inboundPort)
	}

	// Writes start here.
	if !p.keep && s.remove != 0 {
		remove := s.remove
		attrs.RemoveIf(func(k string, _ pcommon.Value) bool {
			i := oldKey(k)
			return i >= 0 && remove&(1<<i) != 0
		})
	}
	attrs.EnsureCapacity(attrs.Len() + 16)
	if methodOK && s.missing(hasMethod) {
		attrs.PutStr(attrRequestMethod, method)
		if !methodKnown {
			attrs.PutStr(attrRequestMethodOriginal, methodRaw)
		}
	}
	if putStatus {
		attrs.PutInt(attrResponseStatusCode, statusCode)
	}
	if urlFull != "" && s.missing(hasURLFull) {
		attrs.PutStr(attrURLFull, urlFull)
	} else if !client {
		if path != "" && s.missing(hasURLPath) {
			attrs.PutStr(attrURLPath, path)
		}
		if hasQuery && s.missing(hasURLQuery) {
			attrs.PutStr(attrURLQuery, query)
		}
	}
	if scheme != "" && urlFull == "" && s.missing(hasURLScheme) {
		attrs.PutStr(attrURLScheme, scheme)
	}
	putStr(attrs, s, hasProtocolVersion, attrProtocolVersion, protoVersion)
	putStr(attrs, s, hasUserAgent, attrUserAgent, userAgent)
	putStr(attrs, s, hasServerAddress, attrServerAddress, serverAddr)
	putInt(attrs, s, hasServerPort, attrServerPort, serverPort, serverPort != 0)
	putStr(attrs, s, hasPeerAddress, attrPeerAddress, peerAddr)
	putInt(attrs, s, hasPeerPort, attrPeerPort, peerPort, peerPort != 0)
	if server {
		if clientIP != "" {
			putStr(attrs, s, hasClientAddress, attrClientAddress, clientIP)
		} else {
			putStr(attrs, s, hasClientAddress, attrClientAddress, peerAddr)
			putInt(attrs, s, hasClientPort, attrClientPort, peerPort, peerPort != 0)
		}
	}
	putInt(attrs, s, hasRequestSize, attrRequestBodySize, reqSize, reqSizeOK)
	putInt(attrs, s, hasResponseSize, attrResponseBodySize, respSize, respSizeOK)
	putStr(attrs, s, hasPeerService, attrPeerService, peerService)
	if rpcService != "" {
		putStr(attrs, s, hasRPCSystem, attrRPCSystem, "grpc")
		putStr(attrs, s, hasRPCService, attrRPCService, rpcService)
		putStr(attrs, s, hasRPCMethod, attrRPCMethod, rpcMethod)
	}
	putInt(attrs, s, hasRPCStatus, attrRPCGRPCStatusCode, grpcStatus, grpcOK)
	if destNamespace != "" {
		attrs.PutStr(meshattr.DestinationNamespace, destNamespace)
	} else if !s.missing(hasDestinationNamespace) {
		// Only this processor may set it; never trust one from the sender.
		attrs.Remove(meshattr.DestinationNamespace)
	}

	p.setStatus(span, attrs, client, statusCode, statusOK, statusText, grpcStatus, grpcOK, flagsMsg, flagsOK)

	if p.namer != nil {
		p.setName(span, res, c, buf, method, methodKnown, path, s.stablePath, rpcName)
	}
}

func putStr(attrs pcommon.Map, s *spanState, bit int, key, v string) {
	if v != "" && s.missing(bit) {
		attrs.PutStr(key, v)
	}
}

func putInt(attrs pcommon.Map, s *spanState, bit int, key string, v int64, ok bool) {
	if ok && s.missing(bit) {
		attrs.PutInt(key, v)
	}
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

func firstNonZero(vs ...int64) int64 {
	for _, v := range vs {
		if v != 0 {
			return v
		}
	}
	return 0
}

// setStatus applies the semconv status rules: 5xx is an error, 4xx only on
// CLIENT spans, everything else unset; gRPC codes per the RPC conventions;
// Envoy response flags explain the error and make one when there is no code
// at all. With no evidence, an OK set by the proxy is reset to unset.
func (p *spanNormalizer) setStatus(span ptrace.Span, attrs pcommon.Map, client bool,
	code int64, codeOK bool, codeText string, grpcCode int64, grpcOK bool, flagsMsg string, flagsOK bool,
) {
	st := span.Status()
	if !codeOK && !grpcOK && !flagsOK {
		if st.Code() == ptrace.StatusCodeOk {
			st.SetCode(ptrace.StatusCodeUnset)
			st.SetMessage("")
		}
		return
	}
	isErr := false
	if codeOK && (code >= 500 || (client && code >= 400)) {
		isErr = true
	}
	if grpcOK && grpcCode != 0 {
		if client {
			isErr = true
		} else {
			switch grpcCode {
			case 2, 4, 12, 13, 14, 15: // UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS
				isErr = true
			}
		}
	}
	if flagsOK && !codeOK && !grpcOK {
		isErr = true
	}
	if !isErr {
		st.SetCode(ptrace.StatusCodeUnset)
		st.SetMessage("")
		return
	}
	st.SetCode(ptrace.StatusCodeError)
	st.SetMessage(flagsMsg)
	if codeOK && (code >= 500 || (client && code >= 400)) {
		if _, exists := attrs.Get(attrErrorType); !exists {
			if codeText == "" {
				codeText = strconv.FormatInt(code, 10)
			}
			attrs.PutStr(attrErrorType, codeText)
		}
	}
}

// setName sets `{METHOD} {path template}` (or the gRPC `service/method`),
// within the per-service bound.
func (p *spanNormalizer) setName(span ptrace.Span, res *resourceState, c *counts, buf []byte,
	method string, methodKnown bool, path, stablePath, rpcName string,
) {
	prefix := method // "" when the span has no method
	if method != "" && !methodKnown {
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
// added when absent, so a trusted value from k8sattributes is never replaced
// by one a proxy claims.
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
		if _, ok := ra.Get(resK8sNamespace); !ok {
			ra.PutStr(resK8sNamespace, ns)
		}
	}
	if rev := s.canonicalRevision; rev != "" && rev != "-" {
		ra.PutStr(resServiceVersion, rev)
	}
	if nodeOK && node.Pod != "" {
		if _, ok := ra.Get(resK8sPodName); !ok {
			ra.PutStr(resK8sPodName, node.Pod)
		}
	}
}
