package spannormalizerprocessor // import "github.com/otelcol-mesh/otelcol-mesh/processor/spannormalizerprocessor"

import (
	"strings"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-mesh/otelcol-mesh/processor/spannormalizerprocessor/internal/envoy"
	"github.com/otelcol-mesh/otelcol-mesh/processor/spannormalizerprocessor/internal/parse"
)

// The Envoy dialect: Istio sidecars, gateways (classic and Gateway API) and
// ambient waypoints, Envoy Gateway, and plain Envoy. Every tag is a string.

// isEnvoy: Envoy's tracer sets `component=proxy` on every span, and an
// Envoy span carries upstream_cluster, node_id or Istio's istio.* tags.
func isEnvoy(s *spanState) bool {
	return s.envoyTag && s.tag[tagComponent] == "proxy"
}

// readEnvoy fixes the span's kind, writes the proxy's identity on the
// resource (once), and reads the tags only Envoy has: the destination from
// the upstream cluster, gRPC, the response flags and downstream_cluster.
func (p *spanNormalizer) readEnvoy(span ptrace.Span, s *spanState, res *resourceState, r *rewrite) {
	node, nodeOK := envoy.ParseNodeID(s.tag[tagNodeID])
	clusterName := s.tag[tagUpstreamCluster]
	cluster, clusterOK := envoy.ParseCluster(clusterName)
	routeNamespace, routeOK := "", false
	if !clusterOK { // an Istio cluster (dir|port|subset|host) is never a route cluster
		routeNamespace, routeOK = envoy.RouteNamespace(clusterName)
	}
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
	r.client = span.Kind() == ptrace.SpanKindClient
	r.server = span.Kind() == ptrace.SpanKindServer
	r.sidecar = nodeOK && node.Sidecar
	r.waypoint = nodeOK && node.Waypoint
	// The router's upstream span has upstream_address and no node_id;
	// Envoy names it `router <cluster stats name> egress`.
	r.upstreamSpan = r.client && !nodeOK && (s.present(oldUpstreamAddress) || isUpstreamSpanName(span.Name()))
	// Gateways: Istio's `router` nodes; the upstream span an Istio 1.28+
	// gateway adds to its SERVER span (Istio's sidecars add none); every
	// Envoy Gateway proxy (route clusters).
	r.gateway = (nodeOK && node.Gateway) || routeOK || (r.upstreamSpan && clusterOK && cluster.Outbound)
	if !res.identitySet {
		res.identitySet = true
		p.setEnvoyIdentity(res, s, node, nodeOK, routeOK)
	}

	switch {
	case clusterOK && cluster.Outbound && (r.client || r.gateway):
		r.serverAddr, r.serverPort = cluster.Host, cluster.Port
		if r.client { // peer.service names the server a CLIENT span called
			r.peerService = cluster.Service
			if r.peerService == "" {
				r.peerService = cluster.Host
			}
		}
		if r.gateway {
			r.destNamespace = cluster.Namespace
		}
	case clusterOK && cluster.Waypoint:
		// The service the waypoint serves; the waypoint is the server.
		r.serverAddr, r.serverPort = cluster.Host, cluster.Port
	case clusterOK:
		r.inboundPort = cluster.Port
	case routeOK:
		r.destNamespace = routeNamespace
	}

	s.readGRPC(r)
	if s.present(oldError) {
		s.done(oldError) // the status carries it
	}
	r.grpcMessage = s.tag[tagGRPCMessage]
	if raw, ok := s.text(oldResponseFlags); ok {
		var f envoy.Flags
		f, r.flagsOK = envoy.DescribeFlags(raw)
		r.flagsMsg, r.flagsErrorType = f.Message, f.ErrorType
	}
	r.downstreamCluster, _ = s.text(oldDownstream) // "-" is removed; other values stay
	if p.compact {
		p.compactEnvoy(res, s)
	}
}

// hoistedTags are the Envoy tags that are the same on every span of one
// proxy: compacting moves them to the resource.
var hoistedTags = [...]int{
	tagComponent, tagNodeID, tagZone, tagCanonicalService, tagCanonicalRevision,
	tagIstioNamespace, tagMeshID, tagClusterID,
}

// compactEnvoy marks for removal the per-proxy constants of an Envoy span,
// after putting each on the resource (the first span of a resource does; a
// later span whose value differs keeps its own), empty tags, and
// upstream_cluster.name where it repeats upstream_cluster (with or without
// the ';' of Istio's stats name). Only the resource is written here; the
// span's own map is changed in write, after every read.
func (p *spanNormalizer) compactEnvoy(res *resourceState, s *spanState) {
	ra := res.res.Attributes()
	keys := &p.keys.tags
	if !res.hoistRead {
		res.hoistRead = true
		for _, k := range hoistedTags {
			if v, ok := ra.Get(keys[k]); ok {
				res.hoisted[k] = v.Str()
				res.hoistHas |= 1 << k
			}
		}
	}
	for _, k := range hoistedTags {
		if s.tagPos[k] == 0 || s.tagStr&(1<<k) == 0 {
			continue
		}
		v := s.tag[k]
		switch {
		case v == "":
		case res.hoistHas&(1<<k) == 0:
			if s.tagPos[k] <= 64 {
				s.hoist |= 1 << k // the value itself moves in write
			} else {
				ra.PutStr(keys[k], v)
			}
			res.hoisted[k] = v
			res.hoistHas |= 1 << k
		case res.hoisted[k] != v:
			continue // another proxy's value on this resource: it stays
		}
		s.drop |= 1 << k
	}
	if name := s.tag[tagUpstreamClusterName]; s.tagPos[tagUpstreamClusterName] != 0 && s.tagStr&(1<<tagUpstreamClusterName) != 0 {
		if c := s.tag[tagUpstreamCluster]; name == "" || strings.TrimSuffix(name, ";") == strings.TrimSuffix(c, ";") {
			s.drop |= 1 << tagUpstreamClusterName
		}
	}
}

// isUpstreamSpanName: Envoy names the upstream span its router adds
// `router <cluster stats name> egress`.
func isUpstreamSpanName(name string) bool {
	return strings.HasPrefix(name, "router ") && strings.HasSuffix(name, " egress")
}

func (s *spanState) readGRPC(r *rewrite) {
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
}

// setEnvoyIdentity writes the proxy's identity on the resource, once per
// resource (the first Envoy span wins). service.* are overwritten; k8s.*
// are only added when absent (and k8s_identity_from_istio is on), so a
// trusted value from k8s_attributes is never replaced by one a proxy
// claims.
func (p *spanNormalizer) setEnvoyIdentity(res *resourceState, s *spanState, node envoy.Node, nodeOK, envoyGateway bool) {
	ra := res.res.Attributes()
	if envoyGateway && !s.istioTag {
		// Envoy Gateway names a proxy `<gateway>.<namespace>` (OpenTelemetry)
		// or `<namespace>/<gateway>` (Zipkin).
		if v, ok := ra.Get(resServiceName); ok {
			if name, ns, ok := splitGatewayName(v.Str()); ok {
				res.setService(name, ns)
			}
		}
		return
	}
	ns := ""
	if parse.IsDNSLabel(s.tag[tagIstioNamespace]) {
		ns = s.tag[tagIstioNamespace]
	} else if nodeOK {
		ns = node.Namespace
	}
	svc := s.tag[tagCanonicalService]
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
	if rev := s.tag[tagCanonicalRevision]; rev != "" && rev != "-" {
		ra.PutStr(resServiceVersion, rev)
	}
	if nodeOK && node.Pod != "" && p.k8sIdentity {
		if _, ok := ra.Get(resK8sPodName); !ok {
			ra.PutStr(resK8sPodName, node.Pod)
		}
	}
}

// splitGatewayName splits Envoy Gateway's `<gateway>.<namespace>` or
// `<namespace>/<gateway>` service name. A namespace has no dots, a gateway
// name may.
func splitGatewayName(v string) (name, ns string, ok bool) {
	if ns, name, ok := strings.Cut(v, "/"); ok {
		if parse.IsDNSLabel(ns) && name != "" && strings.IndexByte(name, '/') < 0 {
			return name, ns, true
		}
		return "", "", false
	}
	i := strings.LastIndexByte(v, '.')
	if i <= 0 || !parse.IsDNSLabel(v[i+1:]) {
		return "", "", false
	}
	return v[:i], v[i+1:], true
}
