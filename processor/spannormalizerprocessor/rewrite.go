package spannormalizerprocessor // import "github.com/otelcol-mesh/otelcol-mesh/processor/spannormalizerprocessor"

import (
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-mesh/otelcol-mesh/internal/meshattr"
	"github.com/otelcol-mesh/otelcol-mesh/processor/spannormalizerprocessor/internal/envoy"
	"github.com/otelcol-mesh/otelcol-mesh/processor/spannormalizerprocessor/internal/parse"
)

// rewrite is what normalize derives from one span before it writes
// anything. Strings are substrings of the span's values (no copies).
type rewrite struct {
	client, server, gateway bool

	// HTTP request and response.
	methodRaw   string // the old http.method value
	methodOK    bool   // http.method was converted
	method      string // semconv method that names the span ("" if none)
	methodKnown bool
	statusCode  int64
	statusOK    bool   // a usable status code (old or stable)
	putStatus   bool   // write http.response.status_code
	statusText  string // Envoy's original text of the code, for error.type

	scheme, path, query, urlFull string
	hasQuery                     bool
	protoVersion, userAgent      string

	// Network.
	urlHost, hostName, httpHost, serverName string
	urlPort, hostPort, httpHostPort         int64
	// peerAddr/peerPort: the other end of the proxy's connection for this
	// span (network.peer.*): the downstream on SERVER spans, the upstream
	// host on CLIENT spans. downstreamAddr: who connected to the proxy
	// (client.* on every kind).
	peerAddr, clientAddr                    string
	peerPort, clientPort                    int64
	reqSize, respSize                       int64
	reqSizeOK, respSizeOK                   bool

	// gRPC and Envoy.
	rpcService, rpcMethod, rpcName string
	grpcStatus                     int64
	grpcOK                         bool
	flagsMsg                       string
	flagsOK                        bool

	// Destination.
	serverAddr    string
	serverPort    int64
	peerService   string
	destNamespace string

	// Context diagnostics: the mark and its evidence ("" for none).
	contextBreak, contextEvidence string
}

// port returns a valid port (1-65535) from an int or numeric string value.
func (s *spanState) port(k int) (int64, bool) {
	n, ok := s.integer(k)
	if !ok {
		return 0, false
	}
	if n < 1 || n > 65535 {
		s.invalid++
		return 0, false
	}
	s.done(k)
	return n, true
}

// textDone returns a string value and marks its key converted.
func (s *spanState) textDone(k int) string {
	v, ok := s.text(k)
	if ok {
		s.done(k)
	}
	return v
}

// hostPort returns the host and port of a `host[:port]` value.
func (s *spanState) hostPort(k int) (string, int64) {
	raw, ok := s.text(k)
	if !ok {
		return "", 0
	}
	h, port, ok := parse.SplitHostPort(raw)
	if !ok || h == "" {
		s.invalid++
		return "", 0
	}
	s.done(k)
	return h, port
}

func (s *spanState) readHTTP(r *rewrite) {
	r.methodRaw, r.methodOK = s.text(oldMethod)
	if r.methodOK {
		s.done(oldMethod)
	}
	// The method that names the span: a stable value already on the span
	// wins; either way only a known method or "_OTHER" comes out, so the
	// name prefix is bounded.
	switch {
	case s.stableMethod != "":
		r.method, r.methodKnown = parse.Method(s.stableMethod)
	case r.methodOK:
		r.method, r.methodKnown = parse.Method(r.methodRaw)
	}

	if !s.missing(hasStatusCode) && s.stableStatus > 0 {
		r.statusCode, r.statusOK = s.stableStatus, true
	}
	if n, ok := s.integer(oldStatusCode); ok {
		switch {
		case n == 0: // Envoy: no response was received.
			s.done(oldStatusCode)
		case n >= 100 && n <= 599:
			s.done(oldStatusCode)
			if s.missing(hasStatusCode) {
				r.statusCode, r.statusOK, r.putStatus = n, true, true
				if v := &s.old[oldStatusCode]; v.kind == kindStr {
					r.statusText = v.s
				}
			}
		default:
			s.invalid++
		}
	}

	if raw, ok := s.text(oldURL); ok {
		if u, ok := parse.ParseURL(raw); ok {
			s.done(oldURL)
			r.scheme, r.path, r.query, r.hasQuery = u.Scheme, u.Path, u.Query, u.HasQuery
			r.urlHost, r.urlPort = u.Host, u.Port
			if r.client && u.Scheme != "" {
				r.urlFull = raw
			}
		} else {
			s.invalid++
		}
	}
	if raw, ok := s.text(oldTarget); ok {
		if u, ok := parse.ParseURL(raw); ok && u.Scheme == "" {
			s.done(oldTarget)
			if r.path == "" {
				r.path, r.query, r.hasQuery = u.Path, u.Query, u.HasQuery
			}
		} else {
			s.invalid++
		}
	}
	if scheme := s.textDone(oldScheme); r.scheme == "" {
		r.scheme = scheme
	}

	for _, k := range [...]int{oldProtocol, oldFlavor} {
		if raw, ok := s.text(k); ok {
			if v, ok := parse.ProtocolVersion(raw); ok {
				s.done(k)
				if r.protoVersion == "" {
					r.protoVersion = v
				}
			} else {
				s.invalid++
			}
		}
	}
	for _, k := range [...]int{oldHTTPUserAgent, oldUserAgent} {
		if ua := s.textDone(k); r.userAgent == "" {
			r.userAgent = ua
		}
	}
}

func (s *spanState) readNetwork(r *rewrite) {
	r.hostPort, _ = s.port(oldHostPort)
	r.hostName = s.textDone(oldHostName)
	r.httpHost, r.httpHostPort = s.hostPort(oldHTTPHost)
	r.serverName = s.textDone(oldServerName)

	// net.peer.ip/net.peer.port name the remote end of the connection, as
	// the old conventions define them.
	r.peerAddr = s.textDone(oldPeerIP)
	r.peerPort, _ = s.port(oldPeerPort)
	// Envoy's peer.address is the downstream, whatever the span's kind: on
	// a sidecar's outbound span the calling app, on a gateway span the
	// external client. It is the network peer only on SERVER spans; on
	// every kind it is the client of the request.
	downAddr, downPort := s.hostPort(oldPeerAddress)
	if r.server && r.peerAddr == "" {
		r.peerAddr, r.peerPort = downAddr, downPort
	}
	// Envoy's upstream_address (on the upstream span the router adds) is
	// the host the request was sent to: the network peer of a CLIENT span.
	if r.client && r.peerAddr == "" {
		r.peerAddr, r.peerPort = s.hostPort(oldUpstreamAddress)
	}
	if r.server { // http.client_ip: the original client behind proxies
		r.clientAddr = s.textDone(oldClientIP)
	}
	switch {
	case r.clientAddr != "": // a forwarded address: its port is unknown
	case downAddr != "":
		r.clientAddr, r.clientPort = downAddr, downPort
	case r.server:
		r.clientAddr, r.clientPort = r.peerAddr, r.peerPort
	}

	if n, ok := s.integer(oldRequestSize); ok {
		s.done(oldRequestSize)
		r.reqSize, r.reqSizeOK = n, true
	}
	if n, ok := s.integer(oldResponseSize); ok {
		s.done(oldResponseSize)
		r.respSize, r.respSizeOK = n, true
	}
}

func (s *spanState) readRPC(r *rewrite, src source) {
	if raw, ok := s.text(oldGRPCPath); ok {
		svc, m, cut := strings.Cut(strings.TrimPrefix(raw, "/"), "/")
		if cut && svc != "" && m != "" && strings.IndexByte(m, '/') < 0 {
			s.done(oldGRPCPath)
			r.rpcService, r.rpcMethod = svc, m
			r.rpcName = raw[len(raw)-len(svc)-1-len(m):] // "svc/method" without copying
		} else {
			s.invalid++
		}
	}
	if n, ok := s.integer(oldGRPCStatus); ok {
		if n <= 16 {
			s.done(oldGRPCStatus)
			r.grpcStatus, r.grpcOK = n, true
		} else {
			s.invalid++
		}
	}

	if s.old[oldError].kind != kindAbsent {
		s.done(oldError)
	}
	if raw, ok := s.text(oldResponseFlags); ok && src == sourceEnvoy {
		r.flagsMsg, r.flagsOK = envoy.Message(raw)
	}
	_, _ = s.text(oldDownstream) // "-" is removed; other values stay
}

func (s *spanState) readDestination(r *rewrite, src source, cluster envoy.Cluster, clusterOK bool) {
	switch src {
	case sourceEnvoy:
		if clusterOK && cluster.Outbound && (r.client || r.gateway) {
			r.serverAddr, r.serverPort = cluster.Host, cluster.Port
			r.peerService = cluster.Service
			if r.peerService == "" {
				r.peerService = cluster.Host
			}
			if r.gateway {
				r.destNamespace = cluster.Namespace
			}
		}
	case sourceNginx:
		r.peerService = s.ingressService
		if s.ingressNamespace != "" {
			if parse.IsDNSLabel(s.ingressNamespace) {
				r.destNamespace = s.ingressNamespace
			} else {
				s.invalid++
			}
		}
	}
	if r.client {
		r.serverAddr = firstNonEmpty(r.serverAddr, r.urlHost, r.httpHost, r.serverName, r.hostName)
		r.serverPort = firstNonZero(r.serverPort, r.urlPort, r.httpHostPort, r.hostPort)
		return
	}
	inboundPort := int64(0)
	if clusterOK && !cluster.Outbound {
		inboundPort = cluster.Port
	}
	r.serverAddr = firstNonEmpty(r.httpHost, r.urlHost, r.serverName, r.hostName)
	r.serverPort = firstNonZero(r.hostPort, r.httpHostPort, r.urlPort, inboundPort)
}

// write removes the converted old keys (unless they are kept) and adds the
// stable ones that are not already on the span.
func (p *spanNormalizer) write(attrs pcommon.Map, s *spanState, r *rewrite) {
	if !p.keep && s.remove != 0 {
		remove := s.remove
		attrs.RemoveIf(func(k string, _ pcommon.Value) bool {
			i := oldKey(k)
			return i >= 0 && remove&(1<<i) != 0
		})
	}
	attrs.EnsureCapacity(attrs.Len() + 16)
	if r.methodOK && s.missing(hasMethod) {
		attrs.PutStr(attrRequestMethod, r.method)
		if !r.methodKnown {
			attrs.PutStr(attrRequestMethodOriginal, r.methodRaw)
		}
	}
	putInt(attrs, s, hasStatusCode, attrResponseStatusCode, r.statusCode, r.putStatus)
	if r.urlFull != "" {
		putStr(attrs, s, hasURLFull, attrURLFull, r.urlFull)
	} else {
		// Server spans, and client spans without an absolute URL (nothing
		// converted is lost).
		putStr(attrs, s, hasURLScheme, attrURLScheme, r.scheme)
		putStr(attrs, s, hasURLPath, attrURLPath, r.path)
		if r.hasQuery && s.missing(hasURLQuery) {
			attrs.PutStr(attrURLQuery, r.query)
		}
	}
	putStr(attrs, s, hasProtocolVersion, attrProtocolVersion, r.protoVersion)
	putStr(attrs, s, hasUserAgent, attrUserAgent, r.userAgent)
	putStr(attrs, s, hasServerAddress, attrServerAddress, r.serverAddr)
	putInt(attrs, s, hasServerPort, attrServerPort, r.serverPort, r.serverPort != 0)
	putStr(attrs, s, hasPeerAddress, attrPeerAddress, r.peerAddr)
	putInt(attrs, s, hasPeerPort, attrPeerPort, r.peerPort, r.peerPort != 0)
	putStr(attrs, s, hasClientAddress, attrClientAddress, r.clientAddr)
	putInt(attrs, s, hasClientPort, attrClientPort, r.clientPort, r.clientAddr != "" && r.clientPort != 0)
	putInt(attrs, s, hasRequestSize, attrRequestBodySize, r.reqSize, r.reqSizeOK)
	putInt(attrs, s, hasResponseSize, attrResponseBodySize, r.respSize, r.respSizeOK)
	putStr(attrs, s, hasPeerService, attrPeerService, r.peerService)
	if r.rpcService != "" {
		putStr(attrs, s, hasRPCSystem, attrRPCSystem, "grpc")
		putStr(attrs, s, hasRPCService, attrRPCService, r.rpcService)
		putStr(attrs, s, hasRPCMethod, attrRPCMethod, r.rpcMethod)
	}
	putInt(attrs, s, hasRPCStatus, attrRPCGRPCStatusCode, r.grpcStatus, r.grpcOK)
	if r.destNamespace != "" {
		attrs.PutStr(meshattr.DestinationNamespace, r.destNamespace)
	} else if !s.missing(hasDestinationNamespace) {
		// Only this processor may set it; never trust one from the sender.
		attrs.Remove(meshattr.DestinationNamespace)
	}
	if p.diag != nil {
		writeContextMark(attrs, s, r)
	}
}

// writeContextMark sets the context diagnostics' mark, and removes one this
// processor did not set (only it may mark a span).
func writeContextMark(attrs pcommon.Map, s *spanState, r *rewrite) {
	if r.contextBreak != "" {
		attrs.PutStr(meshattr.ContextBreak, r.contextBreak)
	} else if !s.missing(hasContextBreak) {
		attrs.Remove(meshattr.ContextBreak)
	}
	if r.contextEvidence != "" {
		attrs.PutStr(meshattr.ContextEvidence, r.contextEvidence)
	} else if !s.missing(hasContextEvidence) {
		attrs.Remove(meshattr.ContextEvidence)
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
func setStatus(span ptrace.Span, attrs pcommon.Map, r *rewrite) {
	st := span.Status()
	if !r.statusOK && !r.grpcOK && !r.flagsOK {
		if st.Code() == ptrace.StatusCodeOk {
			st.SetCode(ptrace.StatusCodeUnset)
			st.SetMessage("")
		}
		return
	}
	httpErr := r.statusOK && (r.statusCode >= 500 || (r.client && r.statusCode >= 400))
	isErr := httpErr
	if r.grpcOK && r.grpcStatus != 0 {
		if r.client {
			isErr = true
		} else {
			switch r.grpcStatus {
			case 2, 4, 12, 13, 14, 15: // UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS
				isErr = true
			}
		}
	}
	if r.flagsOK && !r.statusOK && !r.grpcOK {
		isErr = true
	}
	if !isErr {
		st.SetCode(ptrace.StatusCodeUnset)
		st.SetMessage("")
		return
	}
	st.SetCode(ptrace.StatusCodeError)
	st.SetMessage(r.flagsMsg)
	if httpErr {
		if _, exists := attrs.Get(attrErrorType); !exists {
			text := r.statusText
			if text == "" {
				text = strconv.FormatInt(r.statusCode, 10)
			}
			attrs.PutStr(attrErrorType, text)
		}
	}
}
