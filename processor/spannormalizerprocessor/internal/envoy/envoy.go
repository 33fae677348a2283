// Package envoy parses the Envoy/Istio tags spannormalizer reads: the
// upstream cluster name, the proxy node ID and the response flags. The
// parsers return substrings of their input and never panic.
package envoy // import "github.com/otelcol-mesh/otelcol-mesh/processor/spannormalizerprocessor/internal/envoy"

import (
	"strings"

	"github.com/otelcol-mesh/otelcol-mesh/processor/spannormalizerprocessor/internal/parse"
)

// Cluster is an Istio cluster name `direction|port|subset|host`, for
// example `outbound|9080|v1|ratings.team-a.svc.cluster.local`,
// `inbound|9080||`, or a waypoint's `inbound-vip|9080|http|host`.
type Cluster struct {
	// Outbound is true for "outbound", false for "inbound".
	Outbound bool
	// Waypoint is true for "inbound-vip": an ambient waypoint's cluster of
	// the service it serves (the host is that service).
	Waypoint bool
	// Port is 0 when the port field is not a valid port.
	Port int64
	// Host is the FQDN field ("" for inbound clusters).
	Host string
	// Service and Namespace are set when Host has the Kubernetes service
	// form `<service>.<namespace>.svc[.<domain>]` and the namespace is a
	// valid namespace name.
	Service   string
	Namespace string
}

// ParseCluster parses an Istio cluster name. It reports false for anything
// that is not `inbound|...`, `outbound|...` or `inbound-vip|...` with four
// fields, such as `PassthroughCluster`, `BlackHoleCluster` or "-". A
// trailing ';' (the stats name Istio 1.24+ gives a cluster) is ignored.
func ParseCluster(s string) (Cluster, bool) {
	var c Cluster
	s = strings.TrimSuffix(s, ";")
	dir, rest, ok := strings.Cut(s, "|")
	if !ok {
		return c, false
	}
	switch dir {
	case "outbound":
		c.Outbound = true
	case "inbound-vip":
		c.Waypoint = true
	case "inbound":
	default:
		return c, false
	}
	port, rest, ok := strings.Cut(rest, "|")
	if !ok {
		return c, false
	}
	_, host, ok := strings.Cut(rest, "|") // subset
	if !ok || strings.IndexByte(host, '|') >= 0 {
		return c, false
	}
	c.Port, _ = parse.Port(port)
	c.Host = host
	c.Service, c.Namespace = serviceNamespace(host)
	return c, true
}

// RouteNamespace reads an Envoy Gateway cluster name
// `<kind>/<namespace>/<name>/rule/<n>` (for example
// `httproute/team-a/shop/rule/0`: the route the request matched) and returns
// the namespace of the team that owns the route. It reports false for
// anything else, including a namespace that is not a valid namespace name.
func RouteNamespace(s string) (string, bool) {
	kind, rest, ok := strings.Cut(s, "/")
	if !ok {
		return "", false
	}
	switch kind {
	case "httproute", "grpcroute", "tlsroute", "tcproute", "udproute":
	default:
		return "", false
	}
	ns, rest, ok := strings.Cut(rest, "/")
	if !ok || !parse.IsDNSLabel(ns) {
		return "", false
	}
	name, rest, ok := strings.Cut(rest, "/")
	if !ok || name == "" || !strings.HasPrefix(rest, "rule/") {
		return "", false
	}
	return ns, true
}

// serviceNamespace splits `<svc>.<ns>.svc[.<domain>]`.
func serviceNamespace(host string) (svc, ns string) {
	svc, rest, ok := strings.Cut(host, ".")
	if !ok || svc == "" {
		return "", ""
	}
	ns, rest, ok = strings.Cut(rest, ".")
	if !ok || !parse.IsDNSLabel(ns) {
		return "", ""
	}
	if rest != "svc" && !strings.HasPrefix(rest, "svc.") {
		return "", ""
	}
	return svc, ns
}

// Node is an Istio proxy node ID `type~ip~pod.namespace~domain`, for example
// `sidecar~10.244.1.17~reviews-v2-5b7f9c8d4-x2kqp.team-alpha~team-alpha.svc.cluster.local`.
type Node struct {
	// Gateway is true for `router` nodes: ingress and egress gateways, and
	// the gateways Istio deploys for Gateway API `Gateway` resources.
	Gateway bool
	// Sidecar is true for `sidecar` nodes.
	Sidecar bool
	// Waypoint is true for `waypoint` nodes: ambient mode's L7 proxies (and
	// east-west gateways, which share their template).
	Waypoint  bool
	Pod       string
	Namespace string
}

// ParseNodeID parses an Istio node ID. It reports false when the input does
// not have four '~'-separated fields or an unknown node type.
func ParseNodeID(s string) (Node, bool) {
	var n Node
	typ, rest, ok := strings.Cut(s, "~")
	if !ok {
		return n, false
	}
	switch typ {
	case "router":
		n.Gateway = true
	case "sidecar":
		n.Sidecar = true
	case "waypoint":
		n.Waypoint = true
	default:
		return n, false
	}
	_, rest, ok = strings.Cut(rest, "~") // the proxy's IP
	if !ok {
		return Node{}, false
	}
	id, _, ok := strings.Cut(rest, "~")
	if !ok {
		return Node{}, false
	}
	if i := strings.LastIndexByte(id, '.'); i > 0 && parse.IsDNSLabel(id[i+1:]) {
		n.Pod, n.Namespace = id[:i], id[i+1:]
	}
	return n, true
}

// flagInfo is what one of Envoy's short response flags means: the text of
// a status message and the error.type it gives a span that ended without a
// response code. See Envoy's access log documentation (%RESPONSE_FLAGS% and
// %RESPONSE_FLAGS_LONG%); the error.type values are Envoy's long names in
// snake case, so they are few and stable.
type flagInfo struct {
	message   string
	errorType string
}

func describeFlag(flag string) (flagInfo, bool) {
	switch flag {
	case "UH":
		return flagInfo{"no healthy upstream host", "no_healthy_upstream"}, true
	case "UF":
		return flagInfo{"upstream connection failure", "upstream_connection_failure"}, true
	case "UO":
		return flagInfo{"upstream overflow (circuit breaking)", "upstream_overflow"}, true
	case "NR":
		return flagInfo{"no route configured", "no_route_found"}, true
	case "URX":
		return flagInfo{"upstream retry limit exceeded", "upstream_retry_limit_exceeded"}, true
	case "NC":
		return flagInfo{"upstream cluster not found", "no_cluster_found"}, true
	case "DT":
		return flagInfo{"request exceeded max duration", "duration_timeout"}, true
	case "DC":
		return flagInfo{"downstream connection termination", "downstream_connection_termination"}, true
	case "LH":
		return flagInfo{"local service failed health check", "failed_local_health_check"}, true
	case "UT":
		return flagInfo{"upstream request timeout", "upstream_request_timeout"}, true
	case "LR":
		return flagInfo{"connection local reset", "local_reset"}, true
	case "UR":
		return flagInfo{"upstream remote reset", "upstream_remote_reset"}, true
	case "UC":
		return flagInfo{"upstream connection termination", "upstream_connection_termination"}, true
	case "DI":
		return flagInfo{"request delayed by fault injection", "delay_injected"}, true
	case "FI":
		return flagInfo{"request aborted by fault injection", "fault_injected"}, true
	case "RL":
		return flagInfo{"rate limited locally", "rate_limited"}, true
	case "UAEX":
		return flagInfo{"unauthorized by external authorization service", "unauthorized_external_service"}, true
	case "RLSE":
		return flagInfo{"rate limit service error", "rate_limit_service_error"}, true
	case "IH":
		return flagInfo{"invalid request headers", "invalid_envoy_request_headers"}, true
	case "SI":
		return flagInfo{"stream idle timeout", "stream_idle_timeout"}, true
	case "DPE":
		return flagInfo{"downstream protocol error", "downstream_protocol_error"}, true
	case "UPE":
		return flagInfo{"upstream protocol error", "upstream_protocol_error"}, true
	case "UMSDR":
		return flagInfo{"upstream max stream duration reached", "upstream_max_stream_duration_reached"}, true
	case "OM":
		return flagInfo{"overload manager terminated the request", "overload_manager_terminated"}, true
	case "DF":
		return flagInfo{"DNS resolution failure", "dns_resolution_failed"}, true
	case "DO":
		return flagInfo{"dropped by overload", "drop_overload"}, true
	case "DR":
		return flagInfo{"downstream remote reset", "downstream_remote_reset"}, true
	}
	return flagInfo{}, false
}

const (
	// maxUnknownFlag bounds an unknown flag token echoed in a message.
	maxUnknownFlag = 16
	// maxMessage bounds the message built from several flags.
	maxMessage = 256
	// unknownFlag replaces tokens that do not look like a flag at all.
	unknownFlag = "unknown response flag"
)

// Flags is what a response_flags value says about a request that got no
// response: a status message and its error.type.
type Flags struct {
	// Message names every flag, joined with ", " (at most 256 bytes).
	// Unknown tokens are echoed only when they look like a flag (up to 16 of
	// A-Z, 0-9, '_'), so it is always short, printable ASCII.
	Message string
	// ErrorType is the error.type of the first known flag, "_OTHER" when
	// none is known.
	ErrorType string
}

// DescribeFlags reads a response_flags value in one pass, and reports false
// when it carries no flag ("", "-"). A single known flag costs no
// allocation; several ("UF,URX") allocate their joined message.
func DescribeFlags(flags string) (Flags, bool) {
	if flags == "" || flags == "-" {
		return Flags{}, false
	}
	if info, ok := describeFlag(flags); ok {
		return Flags{Message: info.message, ErrorType: info.errorType}, true
	}
	var b strings.Builder
	errorType, full := "", false
	for tok := range strings.SplitSeq(flags, ",") {
		tok = strings.TrimSpace(tok)
		if tok == "" || tok == "-" {
			continue
		}
		info, ok := describeFlag(tok)
		msg := info.message
		switch {
		case ok && errorType == "":
			errorType = info.errorType
		case !ok:
			msg = unknownFlag
			if looksLikeFlag(tok) {
				msg = "response flag " + tok
			}
		}
		if full = full || b.Len()+len(msg)+2 > maxMessage; full {
			if errorType != "" {
				break
			}
			continue // the message is full; a known flag may still follow
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		b.WriteString(msg)
	}
	if b.Len() == 0 {
		return Flags{}, false
	}
	if errorType == "" {
		errorType = "_OTHER"
	}
	return Flags{Message: b.String(), ErrorType: errorType}, true
}

func looksLikeFlag(s string) bool {
	if len(s) > maxUnknownFlag {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}
