package loadgen

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Namespaces of the platform's shared edge pods. Spans from them are edge
// spans: they belong to the platform tenant and, when their destination is
// known, also to the destination namespace's tenant.
const (
	NginxNamespace   = "ingress-nginx"
	GatewayNamespace = "istio-system"
	// PlatformTenant receives the edge namespaces' spans.
	PlatformTenant = "platform"
	// TeamPrefix is the namespace prefix of team namespaces
	// (team-alpha -> tenant alpha).
	TeamPrefix = "team-"
)

// DestinationAttr is the span attribute spannormalizer (and config C's OTTL)
// writes on edge spans. Kept equal to meshattr.DestinationNamespace.
const DestinationAttr = "mesh.destination.namespace"

// MixOptions shape the generated span mix.
type MixOptions struct {
	// Namespaces are the team namespaces (default team-alpha .. team-delta).
	Namespaces []string
	// SpansPerRequest is the approximate number of spans per request
	// (default 100; rounded to whole traces of 8 spans).
	SpansPerRequest int
	// Requests is the number of distinct request templates (default 8).
	Requests int
	// Seed makes the mix reproducible.
	Seed uint64
}

func (o MixOptions) withDefaults() MixOptions {
	if len(o.Namespaces) == 0 {
		o.Namespaces = []string{"team-alpha", "team-beta", "team-gamma", "team-delta"}
	}
	if o.SpansPerRequest <= 0 {
		o.SpansPerRequest = 100
	}
	if o.Requests <= 0 {
		o.Requests = 8
	}
	if o.Seed == 0 {
		o.Seed = 42
	}
	return o
}

// SpansPerTrace is the number of spans in one generated mesh request.
const SpansPerTrace = 8

// TenantOf maps a namespace to its tenant with the rules the benchmark
// configures in tenantrouting (and mirrors in config C): edge namespaces ->
// platform, team-<x> -> <x>, anything else -> platform (the default tenant).
func TenantOf(namespace string) string {
	if t, ok := strings.CutPrefix(namespace, TeamPrefix); ok && t != "" {
		return t
	}
	return PlatformTenant
}

// IsEdgeNamespace reports whether spans from namespace are edge spans.
func IsEdgeNamespace(namespace string) bool {
	return namespace == NginxNamespace || namespace == GatewayNamespace
}

// TenantsOfSpan lists the tenants a span belongs to: its namespace's tenant
// and, for an edge span with a known destination, the destination's tenant
// as well (once, if both are the same).
func TenantsOfSpan(namespace, destination string) []string {
	t := TenantOf(namespace)
	if IsEdgeNamespace(namespace) && destination != "" {
		if d := TenantOf(destination); d != t {
			return []string{d, t}
		}
	}
	return []string{t}
}

// SpanRoute is what the generator knows about one span it built: the
// trusted namespace of its sender and, for edge spans, the namespace of the
// service the request was routed to.
type SpanRoute struct {
	Namespace   string
	Destination string
}

// Request is one generated ExportTraceServiceRequest with the route of
// each of its spans, in the order of ResourceSpans/ScopeSpans/Spans.
type Request struct {
	Traces ptrace.Traces
	Routes []SpanRoute
}

// BuildMix builds opts.Requests requests shaped like a mesh platform's
// trace traffic. Each generated trace is one user request through the mesh:
//
//	ingress-nginx SERVER -> istio ingress gateway CLIENT -> sidecar inbound
//	SERVER (frontend) -> app SERVER (frontend, otelhttp) -> sidecar outbound
//	CLIENT -> sidecar inbound SERVER (backend) -> app SERVER (backend) ->
//	app CLIENT (database call)
//
// Envoy spans carry every tag as a string like the fixtures; nginx spans use
// ints for status and ports. Every resource carries k8s.namespace.name and
// k8s.pod.name as k8s_attributes would add them in a cluster. Some requests
// fail (503 with response_flags UF, 404, nginx 502).
func BuildMix(opts MixOptions) []Request {
	opts = opts.withDefaults()
	rng := rand.New(rand.NewPCG(opts.Seed, 0x6d657368))
	tracesPerRequest := max(1, opts.SpansPerRequest/SpansPerTrace)
	out := make([]Request, 0, opts.Requests)
	start := time.Now().Add(-time.Minute)
	for r := 0; r < opts.Requests; r++ {
		b := newRequestBuilder()
		for t := 0; t < tracesPerRequest; t++ {
			ns := opts.Namespaces[(r*tracesPerRequest+t)%len(opts.Namespaces)]
			backendNS := ns
			if rng.IntN(4) == 0 { // a quarter of the calls cross namespaces
				backendNS = opts.Namespaces[rng.IntN(len(opts.Namespaces))]
			}
			b.addTrace(rng, ns, backendNS, start.Add(time.Duration(r*tracesPerRequest+t)*time.Millisecond))
		}
		out = append(out, b.finish())
	}
	return out
}

// requestBuilder groups spans by sender (resource) the way an agent or a
// gateway collector forwards them.
type requestBuilder struct {
	td        ptrace.Traces
	resources map[string]ptrace.SpanSlice
	routes    map[string][]SpanRoute
	order     []string
}

func newRequestBuilder() *requestBuilder {
	return &requestBuilder{td: ptrace.NewTraces(), resources: map[string]ptrace.SpanSlice{}, routes: map[string][]SpanRoute{}}
}

// resource returns the span slice of a sender, creating it on first use.
func (b *requestBuilder) resource(key string, attrs map[string]string, scope string) ptrace.SpanSlice {
	if ss, ok := b.resources[key]; ok {
		return ss
	}
	rs := b.td.ResourceSpans().AppendEmpty()
	for _, k := range sortedKeys(attrs) {
		rs.Resource().Attributes().PutStr(k, attrs[k])
	}
	sc := rs.ScopeSpans().AppendEmpty()
	switch scope {
	case "nginx":
		sc.Scope().SetName("nginx")
	case "otelhttp":
		sc.Scope().SetName("go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp")
		sc.Scope().SetVersion("0.63.0")
	}
	ss := sc.Spans()
	b.resources[key] = ss
	b.order = append(b.order, key)
	return ss
}

func (b *requestBuilder) add(key string, attrs map[string]string, scope string, route SpanRoute) ptrace.Span {
	ss := b.resource(key, attrs, scope)
	b.routes[key] = append(b.routes[key], route)
	return ss.AppendEmpty()
}

func (b *requestBuilder) finish() Request {
	var routes []SpanRoute
	for _, key := range b.order {
		routes = append(routes, b.routes[key]...)
	}
	return Request{Traces: b.td, Routes: routes}
}

var (
	frontends = []string{"productpage", "storefront", "web"}
	backends  = []string{"reviews", "ratings", "details", "orders", "inventory"}
	userAgent = []string{"Mozilla/5.0 (X11; Linux x86_64)", "okhttp/4.12.0", "python-requests/2.31.0", "Apache-CoreHTTP/4.1", "curl/8.5.0"}
)

func hexID(rng *rand.Rand, n int) string {
	const digits = "0123456789abcdef"
	var sb strings.Builder
	for i := 0; i < n; i++ {
		sb.WriteByte(digits[rng.IntN(16)])
	}
	return sb.String()
}

func uuid(rng *rand.Rand) string {
	return hexID(rng, 8) + "-" + hexID(rng, 4) + "-4" + hexID(rng, 3) + "-a" + hexID(rng, 3) + "-" + hexID(rng, 12)
}

func podName(rng *rand.Rand, app string) string {
	return fmt.Sprintf("%s-v1-%s-%s", app, hexID(rng, 9), hexID(rng, 5))
}

func podIP(rng *rand.Rand) string {
	return fmt.Sprintf("10.244.%d.%d", rng.IntN(8), 2+rng.IntN(250))
}

func newIDs(rng *rand.Rand) (pcommon.TraceID, func() pcommon.SpanID) {
	var tid pcommon.TraceID
	for i := range tid {
		tid[i] = byte(rng.Uint32())
	}
	return tid, func() pcommon.SpanID {
		var sid pcommon.SpanID
		for i := range sid {
			sid[i] = byte(rng.Uint32())
		}
		return sid
	}
}

func k8sResource(service, ns, pod string) map[string]string {
	return map[string]string{"service.name": service, "k8s.namespace.name": ns, "k8s.pod.name": pod}
}

// addTrace appends one user request's eight spans.
func (b *requestBuilder) addTrace(rng *rand.Rand, ns, backendNS string, at time.Time) {
	tid, sid := newIDs(rng)
	front := frontends[rng.IntN(len(frontends))]
	back := backends[rng.IntN(len(backends))]
	itemID := fmt.Sprint(rng.IntN(100000))
	orderID := uuid(rng)
	ua := userAgent[rng.IntN(len(userAgent))]
	reqID := uuid(rng)

	// Outcome: mostly 200, some 404 from the backend, some 503 UF between
	// sidecars (seen by nginx as 502).
	status, backendStatus, flags := 200, 200, "-"
	switch n := rng.IntN(20); {
	case n == 0:
		status, backendStatus, flags = 502, 503, "UF"
	case n <= 2:
		status, backendStatus = 404, 404
	}

	frontPod, backPod := podName(rng, front), podName(rng, back)
	frontIP, backIP, gwIP := podIP(rng), podIP(rng), podIP(rng)
	path := "/api/v1/orders/" + orderID + "/items/" + itemID
	// setup gives span number step of the trace its IDs, parent, times
	// (each span starts 1ms after its parent and ends 1ms before it), name
	// and kind, and returns its new span ID.
	setup := func(s ptrace.Span, step int, parent pcommon.SpanID, name string, kind ptrace.SpanKind) pcommon.SpanID {
		id := sid()
		s.SetTraceID(tid)
		s.SetSpanID(id)
		if !parent.IsEmpty() {
			s.SetParentSpanID(parent)
		}
		offset := time.Duration(step) * time.Millisecond
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(at.Add(offset)))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(at.Add(20*time.Millisecond - offset)))
		s.SetName(name)
		s.SetKind(kind)
		return id
	}

	// 1. ingress-nginx, SERVER, scope nginx, ints for status and ports.
	nginx := b.add("nginx", k8sResource("nginx", NginxNamespace, "ingress-nginx-controller-5c8d66c76d-k7x2p"), "nginx",
		SpanRoute{Namespace: NginxNamespace, Destination: ns})
	nginxID := setup(nginx, 0, pcommon.SpanID{}, "HTTP POST "+front+" "+path, ptrace.SpanKindServer)
	na := nginx.Attributes()
	na.PutStr("http.method", "POST")
	na.PutStr("http.flavor", "1.1")
	na.PutStr("http.target", path+"?ref=home")
	na.PutStr("http.server_name", "shop.example.com")
	na.PutStr("http.host", "shop.example.com")
	na.PutStr("http.user_agent", ua)
	na.PutInt("http.status_code", int64(status))
	na.PutStr("http.scheme", "https")
	na.PutInt("net.host.port", 443)
	na.PutStr("net.peer.ip", fmt.Sprintf("203.0.113.%d", 1+rng.IntN(250)))
	na.PutInt("net.peer.port", int64(30000+rng.IntN(30000)))
	na.PutStr("ingress.namespace", ns)
	na.PutStr("ingress.service_name", front)
	na.PutStr("ingress.name", "shop")
	na.PutStr("ingress.upstream", ns+"-"+front+"-9080")
	if status < 500 {
		nginx.Status().SetCode(ptrace.StatusCodeOk)
	} else {
		nginx.Status().SetCode(ptrace.StatusCodeError)
	}

	// 2. istio ingress gateway, CLIENT, to the frontend.
	gw := b.add("gateway", k8sResource("istio-ingressgateway.istio-system", GatewayNamespace, "istio-ingressgateway-7d4f8b9c6-abcde"), "",
		SpanRoute{Namespace: GatewayNamespace, Destination: ns})
	gwID := setup(gw, 1, nginxID, front+"."+ns+".svc.cluster.local:9080"+path, ptrace.SpanKindClient)
	envoyTags(gw.Attributes(), envoy{
		nodeID:  "router~" + gwIP + "~istio-ingressgateway-7d4f8b9c6-abcde.istio-system~istio-system.svc.cluster.local",
		service: "istio-ingressgateway", revision: "latest", ns: GatewayNamespace,
		reqID: reqID, url: "https://shop.example.com" + path + "?ref=home", method: "POST", ua: ua, proto: "HTTP/2",
		peer: frontIP, upstream: "outbound|9080||" + front + "." + ns + ".svc.cluster.local",
		status: status, flags: "-", respSize: 1200 + rng.IntN(4000),
	})

	// 3. frontend sidecar inbound, SERVER.
	in := b.add("envoy/"+ns+"/"+front, k8sResource(front+"."+ns, ns, frontPod), "", SpanRoute{Namespace: ns})
	inID := setup(in, 2, gwID, front+"."+ns+".svc.cluster.local:9080/*", ptrace.SpanKindServer)
	envoyTags(in.Attributes(), envoy{
		nodeID:  "sidecar~" + frontIP + "~" + frontPod + "." + ns + "~" + ns + ".svc.cluster.local",
		service: front, revision: "v1", ns: ns, reqID: reqID,
		url: "http://" + front + ":9080" + path + "?ref=home", method: "POST", ua: ua, proto: "HTTP/1.1",
		peer: gwIP, upstream: "inbound|9080||", status: status, flags: "-", respSize: 1200 + rng.IntN(4000),
	})

	// 4. frontend application span, SERVER (already stable semconv).
	app := b.add("app/"+ns+"/"+front, k8sResource(front, ns, frontPod), "otelhttp", SpanRoute{Namespace: ns})
	appID := setup(app, 3, inID, "POST /api/v1/orders/{id}/items/{item}", ptrace.SpanKindServer)
	aa := app.Attributes()
	aa.PutStr("http.request.method", "POST")
	aa.PutStr("http.route", "/api/v1/orders/{id}/items/{item}")
	aa.PutInt("http.response.status_code", int64(status))
	aa.PutStr("url.path", path)
	aa.PutStr("url.scheme", "http")
	aa.PutStr("network.protocol.version", "1.1")
	if status >= 500 {
		app.Status().SetCode(ptrace.StatusCodeError)
	}

	// 5. frontend sidecar outbound, CLIENT, to the backend.
	out := b.add("envoy/"+ns+"/"+front, k8sResource(front+"."+ns, ns, frontPod), "", SpanRoute{Namespace: ns})
	outID := setup(out, 4, appID, back+"."+backendNS+".svc.cluster.local:9080/*", ptrace.SpanKindClient)
	backPath := "/" + back + "/" + itemID
	envoyTags(out.Attributes(), envoy{
		nodeID:  "sidecar~" + frontIP + "~" + frontPod + "." + ns + "~" + ns + ".svc.cluster.local",
		service: front, revision: "v1", ns: ns, reqID: reqID,
		url: "http://" + back + "." + backendNS + ":9080" + backPath, method: "GET", ua: "Go-http-client/1.1", proto: "HTTP/1.1",
		peer: backIP, upstream: "outbound|9080||" + back + "." + backendNS + ".svc.cluster.local",
		status: backendStatus, flags: flags, respSize: 90 + rng.IntN(900),
	})

	// 6. backend sidecar inbound, SERVER.
	bin := b.add("envoy/"+backendNS+"/"+back, k8sResource(back+"."+backendNS, backendNS, backPod), "", SpanRoute{Namespace: backendNS})
	binID := setup(bin, 5, outID, back+"."+backendNS+".svc.cluster.local:9080/*", ptrace.SpanKindServer)
	envoyTags(bin.Attributes(), envoy{
		nodeID:  "sidecar~" + backIP + "~" + backPod + "." + backendNS + "~" + backendNS + ".svc.cluster.local",
		service: back, revision: "v2", ns: backendNS, reqID: reqID,
		url: "http://" + back + ":9080" + backPath, method: "GET", ua: "Go-http-client/1.1", proto: "HTTP/1.1",
		peer: frontIP, upstream: "inbound|9080||", status: backendStatus, flags: "-", respSize: 90 + rng.IntN(900),
	})

	// 7. backend application span, SERVER.
	bapp := b.add("app/"+backendNS+"/"+back, k8sResource(back, backendNS, backPod), "otelhttp", SpanRoute{Namespace: backendNS})
	bappID := setup(bapp, 6, binID, "GET /"+back+"/{id}", ptrace.SpanKindServer)
	ba := bapp.Attributes()
	ba.PutStr("http.request.method", "GET")
	ba.PutStr("http.route", "/"+back+"/{id}")
	ba.PutInt("http.response.status_code", int64(backendStatus))
	ba.PutStr("url.path", backPath)
	ba.PutStr("url.scheme", "http")

	// 8. backend database call, CLIENT.
	db := b.add("app/"+backendNS+"/"+back, k8sResource(back, backendNS, backPod), "otelhttp", SpanRoute{Namespace: backendNS})
	setup(db, 7, bappID, "SELECT "+back, ptrace.SpanKindClient)
	da := db.Attributes()
	da.PutStr("db.system.name", "postgresql")
	da.PutStr("db.namespace", back)
	da.PutStr("db.operation.name", "SELECT")
	da.PutStr("db.query.text", "SELECT * FROM "+back+" WHERE id = $1")
	da.PutStr("server.address", "postgres."+backendNS+".svc.cluster.local")
	da.PutInt("server.port", 5432)
}

type envoy struct {
	nodeID, service, revision, ns, reqID, url, method, ua, proto, peer, upstream, flags string
	status, respSize                                                                    int
}

// envoyTags writes the tags Istio's Envoy puts on every span, all strings.
func envoyTags(a pcommon.Map, e envoy) {
	a.EnsureCapacity(21)
	a.PutStr("node_id", e.nodeID)
	a.PutStr("zone", "")
	a.PutStr("component", "proxy")
	a.PutStr("istio.canonical_service", e.service)
	a.PutStr("istio.canonical_revision", e.revision)
	a.PutStr("istio.namespace", e.ns)
	a.PutStr("istio.mesh_id", "cluster.local")
	a.PutStr("istio.cluster_id", "Kubernetes")
	a.PutStr("guid:x-request-id", e.reqID)
	a.PutStr("http.url", e.url)
	a.PutStr("http.method", e.method)
	a.PutStr("downstream_cluster", "-")
	a.PutStr("user_agent", e.ua)
	a.PutStr("http.protocol", e.proto)
	a.PutStr("peer.address", e.peer)
	a.PutStr("request_size", "0")
	a.PutStr("response_size", fmt.Sprint(e.respSize))
	a.PutStr("upstream_cluster", e.upstream)
	a.PutStr("upstream_cluster.name", e.upstream)
	a.PutStr("http.status_code", fmt.Sprint(e.status))
	a.PutStr("response_flags", e.flags)
	if e.status >= 500 {
		a.PutStr("error", "true")
	}
}

// SplitBySender splits a request the way the senders themselves export in
// the shipped topology, where every proxy and application sends straight to
// the collector: one request per sender (resource and scope), at most
// maxSpans spans each, as Envoy's OpenTelemetry tracer flushes every
// min_flush_spans (default 5) spans. Routes follow their spans.
func SplitBySender(req Request, maxSpans int) []Request {
	maxSpans = max(1, maxSpans)
	var out []Request
	eachScope(req.Traces, func(rs ptrace.ResourceSpans, sc ptrace.ScopeSpans, first int) {
		spans := sc.Spans()
		for from := 0; from < spans.Len(); from += maxSpans {
			td := ptrace.NewTraces()
			drs := td.ResourceSpans().AppendEmpty()
			rs.Resource().CopyTo(drs.Resource())
			dss := drs.ScopeSpans().AppendEmpty()
			sc.Scope().CopyTo(dss.Scope())
			to := min(from+maxSpans, spans.Len())
			for k := from; k < to; k++ {
				spans.At(k).CopyTo(dss.Spans().AppendEmpty())
			}
			out = append(out, Request{Traces: td, Routes: req.Routes[first+from : first+to]})
		}
	})
	return out
}

// eachScope calls f for every scope of td, with the position of the
// scope's first span in the request's span order (that of Request.Routes).
func eachScope(td ptrace.Traces, f func(rs ptrace.ResourceSpans, sc ptrace.ScopeSpans, first int)) {
	i := 0
	rss := td.ResourceSpans()
	for r := 0; r < rss.Len(); r++ {
		rs := rss.At(r)
		for s := 0; s < rs.ScopeSpans().Len(); s++ {
			sc := rs.ScopeSpans().At(s)
			f(rs, sc, i)
			i += sc.Spans().Len()
		}
	}
}

// SplitByTenant splits a request into one request per tenant, an edge span
// going to both of its tenants, the way a sender would have to split its
// data to feed static per-tenant pipelines. Logical counts each original
// span once: under the tenant of its own namespace.
func SplitByTenant(req Request) (parts map[string]ptrace.Traces, logical map[string]int) {
	parts = map[string]ptrace.Traces{}
	logical = map[string]int{}
	type dest struct {
		rs ptrace.ResourceSpans
		ss ptrace.ScopeSpans
	}
	eachScope(req.Traces, func(rs ptrace.ResourceSpans, sc ptrace.ScopeSpans, first int) {
		dests := map[string]dest{}
		for k := 0; k < sc.Spans().Len(); k++ {
			route := req.Routes[first+k]
			logical[TenantOf(route.Namespace)]++
			for _, tenant := range TenantsOfSpan(route.Namespace, route.Destination) {
				d, ok := dests[tenant]
				if !ok {
					td, ok := parts[tenant]
					if !ok {
						td = ptrace.NewTraces()
						parts[tenant] = td
					}
					d.rs = td.ResourceSpans().AppendEmpty()
					rs.Resource().CopyTo(d.rs.Resource())
					d.ss = d.rs.ScopeSpans().AppendEmpty()
					sc.Scope().CopyTo(d.ss.Scope())
					dests[tenant] = d
				}
				sc.Spans().At(k).CopyTo(d.ss.Spans().AppendEmpty())
			}
		}
	})
	return parts, logical
}

// ExpectedTenants counts, per tenant, the spans a tenant-routing collector
// must deliver for one copy of req.
func ExpectedTenants(req Request) map[string]int {
	out := map[string]int{}
	for _, r := range req.Routes {
		for _, t := range TenantsOfSpan(r.Namespace, r.Destination) {
			out[t]++
		}
	}
	return out
}
