package spannormalizerprocessor // import "github.com/otelcol-mesh/otelcol-mesh/processor/spannormalizerprocessor"

import (
	"strings"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-mesh/otelcol-mesh/processor/spannormalizerprocessor/internal/parse"
)

// The nginx dialect: ingress-nginx's otel_ngx_module (opentelemetry-cpp-
// contrib) and nginx's own ngx_otel_module (nginx-otel: plain nginx, NGINX
// Gateway Fabric, F5 NGINX Ingress Controller). Both name their scope
// "nginx" and write one SERVER span per request, with the old HTTP
// conventions: status and ports as ints.

// nginxScope is the instrumentation scope name of both nginx modules.
const nginxScope = "nginx"

// clientClosedRequest is nginx's name for its status 499
// (NGX_HTTP_CLIENT_CLOSED_REQUEST): the client went away before nginx
// answered, so no response was sent.
const (
	statusClientClosedRequest = 499
	clientClosedRequest       = "client_closed_request"
)

// isNginx: scope "nginx", or no scope name (instrumented apps always have
// one) with the platform's `ingress.*` attributes or the old nginx pair
// http.server_name + http.target.
func isNginx(s *spanState, scopeName string) bool {
	if scopeName == nginxScope {
		return true
	}
	return scopeName == "" && (s.ingressTag || (s.present(oldServerName) && s.present(oldTarget)))
}

// readNginx fixes the kind (the proxy serves the request), writes the
// identity NGINX Gateway Fabric encodes in its service name, and reads the
// route and the destination the platform adds.
func (p *spanNormalizer) readNginx(span ptrace.Span, s *spanState, res *resourceState, r *rewrite) {
	if span.Kind() == ptrace.SpanKindUnspecified {
		span.SetKind(ptrace.SpanKindServer)
	}
	r.client = span.Kind() == ptrace.SpanKindClient
	r.server = span.Kind() == ptrace.SpanKindServer
	if !res.identitySet {
		res.identitySet = true
		setNginxIdentity(res)
	}
	// Read without converting: readHTTP converts (and counts) the code.
	if v := &s.old[oldStatusCode]; (v.kind == kindInt && v.n == statusClientClosedRequest) || (v.kind == kindStr && v.s == "499") {
		r.noResponse = true
	}

	// ingress.namespace / ingress.service_name: added by the platform
	// (ingress-nginx snippet, NGF ObservabilityPolicy spanAttributes, NIC
	// snippet) to say where a shared edge sent the request.
	r.peerService = s.tag[tagIngressService]
	if ns := s.tag[tagIngressNamespace]; ns != "" {
		if parse.IsDNSLabel(ns) {
			r.destNamespace = ns
		} else {
			s.invalid++
		}
	}
}

// isRouteName reports whether an nginx location name, which both modules
// and NGF report as http.route, is a route of the user's: not a named
// location (`@...`) nor an internal one that NGF (`/_ngf-internal-...`) or
// the NGINX Ingress Controller (`/internal_location_...`) redirect through.
func isRouteName(route string) bool {
	return route != "" && route[0] != '@' &&
		!strings.HasPrefix(route, "/_ngf-internal") && !strings.HasPrefix(route, "/internal_location")
}

// setNginxIdentity: NGINX Gateway Fabric names its proxies
// `ngf:<gateway namespace>:<gateway name>[:<user's name>]`; the service is
// the user's name when given, else the gateway's.
func setNginxIdentity(res *resourceState) {
	ra := res.res.Attributes()
	v, ok := ra.Get(resServiceName)
	if !ok {
		return
	}
	rest, ok := strings.CutPrefix(v.Str(), "ngf:")
	if !ok {
		return
	}
	ns, gw, ok := strings.Cut(rest, ":")
	if !ok || !parse.IsDNSLabel(ns) || gw == "" {
		return
	}
	name := gw
	if g, custom, ok := strings.Cut(gw, ":"); ok {
		name = custom
		if name == "" {
			name = g
		}
	}
	res.setService(name, ns)
}
