package spannormalizerprocessor // import "github.com/otelcol-mesh/otelcol-mesh/processor/spannormalizerprocessor"

import (
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelcol-mesh/otelcol-mesh/internal/meshattr"
)

// Deprecated or proxy-specific keys the processor converts; the index is the
// key's bit in spanState.remove.
const (
	oldMethod        = iota // http.method
	oldStatusCode           // http.status_code
	oldURL                  // http.url
	oldTarget               // http.target
	oldScheme               // http.scheme
	oldFlavor               // http.flavor
	oldProtocol             // http.protocol
	oldHTTPUserAgent        // http.user_agent
	oldUserAgent            // user_agent
	oldHostPort             // net.host.port
	oldHostName             // net.host.name
	oldPeerIP               // net.peer.ip
	oldPeerPort             // net.peer.port
	oldPeerAddress          // peer.address
	oldUpstreamAddress      // upstream_address
	oldRequestSize          // request_size
	oldResponseSize         // response_size
	oldHTTPHost             // http.host
	oldServerName           // http.server_name
	oldClientIP             // http.client_ip
	oldGRPCPath             // grpc.path
	oldGRPCStatus           // grpc.status_code
	oldError                // error
	oldResponseFlags        // response_flags
	oldDownstream           // downstream_cluster
	numOld
)

// oldKey maps a key to its index above, or -1.
func oldKey(k string) int {
	switch k {
	case "http.method":
		return oldMethod
	case "http.status_code":
		return oldStatusCode
	case "http.url":
		return oldURL
	case "http.target":
		return oldTarget
	case "http.scheme":
		return oldScheme
	case "http.flavor":
		return oldFlavor
	case "http.protocol":
		return oldProtocol
	case "http.user_agent":
		return oldHTTPUserAgent
	case "user_agent":
		return oldUserAgent
	case "net.host.port":
		return oldHostPort
	case "net.host.name":
		return oldHostName
	case "net.peer.ip":
		return oldPeerIP
	case "net.peer.port":
		return oldPeerPort
	case "peer.address":
		return oldPeerAddress
	case "upstream_address":
		return oldUpstreamAddress
	case "request_size":
		return oldRequestSize
	case "response_size":
		return oldResponseSize
	case "http.host":
		return oldHTTPHost
	case "http.server_name":
		return oldServerName
	case "http.client_ip":
		return oldClientIP
	case "grpc.path":
		return oldGRPCPath
	case "grpc.status_code":
		return oldGRPCStatus
	case "error":
		return oldError
	case "response_flags":
		return oldResponseFlags
	case "downstream_cluster":
		return oldDownstream
	}
	return -1
}

// Stable keys whose presence the scan records (bit index in spanState.has):
// a stable value already on the span is never overwritten.
const (
	hasMethod = iota
	hasStatusCode
	hasURLFull
	hasURLPath
	hasURLQuery
	hasURLScheme
	hasProtocolVersion
	hasUserAgent
	hasServerAddress
	hasServerPort
	hasClientAddress
	hasClientPort
	hasPeerAddress
	hasPeerPort
	hasRequestSize
	hasResponseSize
	hasPeerService
	hasRPCSystem
	hasRPCService
	hasRPCMethod
	hasRPCStatus
	hasDestinationNamespace
	hasContextBreak
	hasContextEvidence
)

// Stable attribute names written by the processor.
const (
	attrRequestMethod         = "http.request.method"
	attrRequestMethodOriginal = "http.request.method_original"
	attrResponseStatusCode    = "http.response.status_code"
	attrURLFull               = "url.full"
	attrURLPath               = "url.path"
	attrURLQuery              = "url.query"
	attrURLScheme             = "url.scheme"
	attrProtocolVersion       = "network.protocol.version"
	attrUserAgent             = "user_agent.original"
	attrServerAddress         = "server.address"
	attrServerPort            = "server.port"
	attrClientAddress         = "client.address"
	attrClientPort            = "client.port"
	attrPeerAddress           = "network.peer.address"
	attrPeerPort              = "network.peer.port"
	attrRequestBodySize       = "http.request.body.size"
	attrResponseBodySize      = "http.response.body.size"
	attrPeerService           = "peer.service"
	attrRPCSystem             = "rpc.system"
	attrRPCService            = "rpc.service"
	attrRPCMethod             = "rpc.method"
	attrRPCGRPCStatusCode     = "rpc.grpc.status_code"
	attrErrorType             = "error.type"

	resServiceName      = "service.name"
	resServiceNamespace = "service.namespace"
	resServiceVersion   = "service.version"
	resK8sNamespace     = "k8s.namespace.name"
	resK8sPodName       = "k8s.pod.name"
)

// Value kinds recorded by the scan.
const (
	kindAbsent uint8 = iota
	kindStr
	kindInt
	kindOther
)

type rawValue struct {
	s    string
	n    int64
	kind uint8
}

func (r *rawValue) set(v pcommon.Value) {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		r.s, r.kind = v.Str(), kindStr
	case pcommon.ValueTypeInt:
		r.n, r.kind = v.Int(), kindInt
	default:
		r.kind = kindOther
	}
}

// fields is what one pass over a span's attributes records.
type fields struct {
	old [numOld]rawValue
	has uint32

	component         string
	upstreamCluster   string
	nodeID            string
	canonicalService  string
	canonicalRevision string
	istioNamespace    string
	ingressNamespace  string
	ingressService    string
	envoyTag          bool
	ingressTag        bool

	// Values of stable keys that drive naming and status.
	stableMethod string
	stablePath   string
	stableStatus int64
}

func (f *fields) observe(k string, v pcommon.Value) {
	if i := oldKey(k); i >= 0 {
		f.old[i].set(v)
		return
	}
	switch k {
	case "component":
		f.component = v.Str()
	case "upstream_cluster":
		f.upstreamCluster = v.Str()
		f.envoyTag = true
	case "node_id":
		f.nodeID = v.Str()
		f.envoyTag = true
	case "istio.canonical_service":
		f.canonicalService = v.Str()
		f.envoyTag = true
	case "istio.canonical_revision":
		f.canonicalRevision = v.Str()
		f.envoyTag = true
	case "istio.namespace":
		f.istioNamespace = v.Str()
		f.envoyTag = true
	case "ingress.namespace":
		f.ingressNamespace = v.Str()
		f.ingressTag = true
	case "ingress.service_name":
		f.ingressService = v.Str()
		f.ingressTag = true
	case attrRequestMethod:
		f.has |= 1 << hasMethod
		f.stableMethod = v.Str()
	case attrResponseStatusCode:
		f.has |= 1 << hasStatusCode
		if v.Type() == pcommon.ValueTypeInt {
			f.stableStatus = v.Int()
		}
	case attrURLFull:
		f.has |= 1 << hasURLFull
	case attrURLPath:
		f.has |= 1 << hasURLPath
		f.stablePath = v.Str()
	case attrURLQuery:
		f.has |= 1 << hasURLQuery
	case attrURLScheme:
		f.has |= 1 << hasURLScheme
	case attrProtocolVersion:
		f.has |= 1 << hasProtocolVersion
	case attrUserAgent:
		f.has |= 1 << hasUserAgent
	case attrServerAddress:
		f.has |= 1 << hasServerAddress
	case attrServerPort:
		f.has |= 1 << hasServerPort
	case attrClientAddress:
		f.has |= 1 << hasClientAddress
	case attrClientPort:
		f.has |= 1 << hasClientPort
	case attrPeerAddress:
		f.has |= 1 << hasPeerAddress
	case attrPeerPort:
		f.has |= 1 << hasPeerPort
	case attrRequestBodySize:
		f.has |= 1 << hasRequestSize
	case attrResponseBodySize:
		f.has |= 1 << hasResponseSize
	case attrPeerService:
		f.has |= 1 << hasPeerService
	case attrRPCSystem:
		f.has |= 1 << hasRPCSystem
	case attrRPCService:
		f.has |= 1 << hasRPCService
	case attrRPCMethod:
		f.has |= 1 << hasRPCMethod
	case attrRPCGRPCStatusCode:
		f.has |= 1 << hasRPCStatus
	case meshattr.DestinationNamespace:
		f.has |= 1 << hasDestinationNamespace
	case meshattr.ContextBreak:
		f.has |= 1 << hasContextBreak
	case meshattr.ContextEvidence:
		f.has |= 1 << hasContextEvidence
	default:
		if !f.envoyTag && strings.HasPrefix(k, "istio.") {
			f.envoyTag = true
		}
	}
}
