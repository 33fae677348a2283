// Package envoy parses the Envoy/Istio tags spannormalizer reads: the
// upstream cluster name, the proxy node ID and the response flags. The
// parsers return substrings of their input and never panic.
package envoy // import "github.com/otelcol-mesh/otelcol-mesh/processor/spannormalizerprocessor/internal/envoy"

import (
	"strings"

	"github.com/otelcol-mesh/otelcol-mesh/processor/spannormalizerprocessor/internal/parse"
)

// Cluster is an Istio cluster name `direction|port|subset|host`, for
// example `outbound|9080|v1|ratings.team-a.svc.cluster.local` or
// `inbound|9080||`.
type Cluster struct {
	// Outbound is true for "outbound", false for "inbound".
	Outbound bool
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
// that is not `inbound|...` or `outbound|...` with four fields, such as
// `PassthroughCluster`, `BlackHoleCluster` or "-".
func ParseCluster(s string) (Cluster, bool) {
	var c Cluster
	dir, rest, ok := strings.Cut(s, "|")
	if !ok {
		return c, false
	}
	switch dir {
	case "outbound":
		c.Outbound = true
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
	// Gateway is true for `router` nodes (ingress/egress gateways).
	Gateway bool
	// Sidecar is true for `sidecar` nodes.
	Sidecar   bool
	IP        string
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
	default:
		return n, false
	}
	n.IP, rest, ok = strings.Cut(rest, "~")
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

// describeFlag explains one of Envoy's short response flags (see Envoy's
// access log documentation, %RESPONSE_FLAGS%).
func describeFlag(flag string) (string, bool) {
	switch flag {
	case "UH":
		return "no healthy upstream host", true
	case "UF":
		return "upstream connection failure", true
	case "UO":
		return "upstream overflow (circuit breaking)", true
	case "NR":
		return "no route configured", true
	case "URX":
		return "upstream retry limit exceeded", true
	case "NC":
		return "upstream cluster not found", true
	case "DT":
		return "request exceeded max duration", true
	case "DC":
		return "downstream connection termination", true
	case "LH":
		return "local service failed health check", true
	case "UT":
		return "upstream request timeout", true
	case "LR":
		return "connection local reset", true
	case "UR":
		return "upstream remote reset", true
	case "UC":
		return "upstream connection termination", true
	case "DI":
		return "request delayed by fault injection", true
	case "FI":
		return "request aborted by fault injection", true
	case "RL":
		return "rate limited locally", true
	case "UAEX":
		return "unauthorized by external authorization service", true
	case "RLSE":
		return "rate limit service error", true
	case "IH":
		return "invalid request headers", true
	case "SI":
		return "stream idle timeout", true
	case "DPE":
		return "downstream protocol error", true
	case "UPE":
		return "upstream protocol error", true
	case "UMSDR":
		return "upstream max stream duration reached", true
	case "OM":
		return "overload manager terminated the request", true
	case "DF":
		return "DNS resolution failure", true
	case "DO":
		return "dropped by overload", true
	}
	return "", false
}

const (
	// maxUnknownFlag bounds an unknown flag token echoed in a message.
	maxUnknownFlag = 16
	// maxMessage bounds the message built from several flags.
	maxMessage = 256
	// unknownFlag replaces tokens that do not look like a flag at all.
	unknownFlag = "unknown response flag"
)

// Message returns a status message for a response_flags value, and false
// when the value carries no flag ("", "-"). A single known flag costs no
// allocation; several flags ("UF,URX") are joined with ", ". Unknown tokens
// are echoed only when they look like a flag (up to 16 of A-Z, 0-9, '_'), so
// the message is always short, printable ASCII.
func Message(flags string) (string, bool) {
	if flags == "" || flags == "-" {
		return "", false
	}
	if msg, ok := describeFlag(flags); ok {
		return msg, true
	}
	var b strings.Builder
	for tok := range strings.SplitSeq(flags, ",") {
		tok = strings.TrimSpace(tok)
		if tok == "" || tok == "-" {
			continue
		}
		msg, ok := describeFlag(tok)
		if !ok {
			msg = unknownFlag
			if looksLikeFlag(tok) {
				msg = "response flag " + tok
			}
		}
		if b.Len()+len(msg)+2 > maxMessage {
			break
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		b.WriteString(msg)
	}
	if b.Len() == 0 {
		return "", false
	}
	return b.String(), true
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
