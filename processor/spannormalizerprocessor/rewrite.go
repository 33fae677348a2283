package spannormalizerprocessor // import "github.com/otelcol-mesh/otelcol-mesh/processor/spannormalizerprocessor"

import (
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelcol-mesh/otelcol-mesh/internal/meshattr"
)

// maxRenames bounds the plain renames of one span: one per stable key the
// table renames to (TestRenameTableFits checks it).
const maxRenames = 5

// rewrite is what normalize derives from one span before it writes
// anything: the per-span result. Strings are substrings of the span's
// values (no copies). Once built, the context diagnostics read it and
// nothing else of the span's scan.
type rewrite struct {
	// The span's kind after the dialect fixed it, and the proxy's role.
	client, server bool
	// gateway: an edge proxy whose spans name the team they reached
	// (Istio gateways, Envoy Gateway); sidecar and waypoint: Istio's.
	gateway, sidecar, waypoint bool
	// upstreamSpan: the span Envoy's router adds for the upstream request
	// (not the connection manager's span of the downstream request).
	upstreamSpan bool

	// HTTP request and response.
	methodRaw   string // the old http.method value
	methodOK    bool   // http.method was converted
	method      string // semconv method that names the span ("" if none)
	methodKnown bool
	statusCode  int64
	statusOK    bool   // a usable status code (old or stable)
	putStatus   bool   // write http.response.status_code
	statusText  string // the proxy's original text of the code, for error.type
	// noResponse: the client went away before a response was sent (nginx
	// 499, error.type client_closed_request).
	noResponse bool

	scheme, path, query, urlFull string
	hasQuery                     bool
	// route names the span when set: http.route, unless it is a proxy's
	// internal location.
	route string

	// Plain renames from the attribute table.
	renames  [maxRenames]renamed
	nRenames int

	// Network. peerAddr/peerPort: the other end of the proxy's connection
	// for this span (network.peer.*): the downstream on SERVER spans, the
	// upstream host on CLIENT spans. clientAddr/clientPort: whoever sent the
	// request to the proxy (client.*).
	urlHost, hostName, httpHost, serverName string
	urlPort, hostPort, httpHostPort         int64
	peerAddr, clientAddr                    string
	peerPort, clientPort                    int64
	// downstreamCluster: Envoy's downstream_cluster when it names one.
	downstreamCluster string

	// gRPC and Envoy response flags.
	rpcService, rpcMethod, rpcName string
	grpcStatus                     int64
	grpcOK                         bool
	grpcMessage                    string // Envoy's grpc.message (kept)
	flagsMsg, flagsErrorType       string
	flagsOK                        bool

	// Destination, from the dialect: the server a CLIENT span called, the
	// service it is, and an edge span's destination namespace. The generic
	// address rules fill server.* from what is left.
	serverAddr    string
	serverPort    int64
	inboundPort   int64 // a sidecar inbound cluster's port
	peerService   string
	destNamespace string

	// Context diagnostics: the mark and its evidence ("" for none).
	contextBreak, contextEvidence string
}

// write removes the converted old keys (unless they are kept) and adds the
// stable ones that are not already on the span.
func (p *spanNormalizer) write(attrs pcommon.Map, res *resourceState, s *spanState, r *rewrite) {
	if s.hoist != 0 {
		p.keys.hoistTags(attrs, res.res.Attributes(), s)
	}
	if !p.keep && s.remove != 0 || s.drop != 0 {
		if p.keep {
			s.remove = 0
		}
		p.keys.removeConverted(attrs, s)
	}
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
	p.keys.writeRenames(attrs, s, r)
	putStr(attrs, s, hasServerAddress, attrServerAddress, r.serverAddr)
	putInt(attrs, s, hasServerPort, attrServerPort, r.serverPort, r.serverPort != 0)
	putStr(attrs, s, hasPeerAddress, attrPeerAddress, r.peerAddr)
	putInt(attrs, s, hasPeerPort, attrPeerPort, r.peerPort, r.peerPort != 0)
	putStr(attrs, s, hasClientAddress, attrClientAddress, r.clientAddr)
	putInt(attrs, s, hasClientPort, attrClientPort, r.clientPort, r.clientAddr != "" && r.clientPort != 0)
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
