// Package ottlcompare measures spannormalizer against the same rewrite
// written as transform-processor OTTL statements, in process and on the
// same spans, and checks that the two agree on what the comparison is
// about (names, statuses, destination namespaces). It lives in the testbed
// so that the processor's own module never needs transformprocessor.
package ottlcompare

// Statements is the same rewrite written for the transform processor,
// as close as OTTL allows (no cardinality bound, no method normalisation,
// fewer response flags). It is only here to measure against.
var Statements = []string{
	// identity
	`set(resource.attributes["service.name"], span.attributes["istio.canonical_service"]) where span.attributes["istio.canonical_service"] != nil`,
	`set(resource.attributes["service.namespace"], span.attributes["istio.namespace"]) where span.attributes["istio.namespace"] != nil`,
	`set(resource.attributes["k8s.namespace.name"], span.attributes["istio.namespace"]) where span.attributes["istio.namespace"] != nil and resource.attributes["k8s.namespace.name"] == nil`,
	`set(resource.attributes["service.version"], span.attributes["istio.canonical_revision"]) where span.attributes["istio.canonical_revision"] != nil`,
	`merge_maps(span.cache, ExtractPatterns(span.attributes["node_id"], "^(?P<type>[a-z]+)~[^~]*~(?P<pod>[^~]+)\\.(?P<podns>[a-z0-9-]+)~"), "upsert") where span.attributes["node_id"] != nil`,
	`set(resource.attributes["k8s.pod.name"], span.cache["pod"]) where span.cache["pod"] != nil and resource.attributes["k8s.pod.name"] == nil`,
	// plain renames and types
	`set(span.attributes["http.request.method"], span.attributes["http.method"]) where span.attributes["http.method"] != nil`,
	`set(span.attributes["http.response.status_code"], Int(span.attributes["http.status_code"])) where span.attributes["http.status_code"] != nil and span.attributes["http.status_code"] != "-"`,
	`set(span.attributes["http.request.body.size"], Int(span.attributes["request_size"])) where span.attributes["request_size"] != nil`,
	`set(span.attributes["http.response.body.size"], Int(span.attributes["response_size"])) where span.attributes["response_size"] != nil`,
	`set(span.attributes["user_agent.original"], span.attributes["user_agent"]) where span.attributes["user_agent"] != nil`,
	`set(span.attributes["user_agent.original"], span.attributes["http.user_agent"]) where span.attributes["http.user_agent"] != nil`,
	`set(span.attributes["network.protocol.version"], span.attributes["http.protocol"]) where span.attributes["http.protocol"] != nil`,
	`set(span.attributes["network.protocol.version"], span.attributes["http.flavor"]) where span.attributes["http.flavor"] != nil`,
	`replace_pattern(span.attributes["network.protocol.version"], "^HTTP/", "")`,
	`replace_pattern(span.attributes["network.protocol.version"], "^([23])\\.0$", "$1")`,
	`set(span.attributes["network.peer.address"], span.attributes["peer.address"]) where span.kind == SPAN_KIND_SERVER and span.attributes["peer.address"] != nil`,
	`set(span.attributes["client.address"], span.attributes["peer.address"]) where span.kind == SPAN_KIND_CLIENT and span.attributes["peer.address"] != nil`,
	`set(span.attributes["network.peer.address"], span.attributes["net.peer.ip"]) where span.attributes["net.peer.ip"] != nil`,
	`set(span.attributes["network.peer.port"], span.attributes["net.peer.port"]) where span.attributes["net.peer.port"] != nil`,
	`set(span.attributes["client.address"], span.attributes["network.peer.address"]) where span.kind == SPAN_KIND_SERVER and span.attributes["network.peer.address"] != nil`,
	`set(span.attributes["client.port"], span.attributes["network.peer.port"]) where span.kind == SPAN_KIND_SERVER and span.attributes["network.peer.port"] != nil`,
	`set(span.attributes["server.port"], span.attributes["net.host.port"]) where span.attributes["net.host.port"] != nil`,
	`set(span.attributes["server.address"], span.attributes["http.host"]) where span.attributes["http.host"] != nil`,
	`set(span.attributes["url.scheme"], span.attributes["http.scheme"]) where span.attributes["http.scheme"] != nil`,
	// URL
	`set(span.attributes["url.full"], span.attributes["http.url"]) where span.kind == SPAN_KIND_CLIENT and span.attributes["http.url"] != nil`,
	`merge_maps(span.cache, URL(span.attributes["http.url"]), "upsert") where span.attributes["http.url"] != nil`,
	`merge_maps(span.cache, ExtractPatterns(span.attributes["http.target"], "^(?P<path>[^?#]*)(\\?(?P<query>[^#]*))?"), "upsert") where span.attributes["http.target"] != nil`,
	`set(span.cache["path"], span.cache["url.path"]) where span.cache["url.path"] != nil`,
	`set(span.cache["query"], span.cache["url.query"]) where span.cache["url.query"] != nil`,
	`set(span.attributes["url.path"], span.cache["path"]) where span.kind != SPAN_KIND_CLIENT and span.cache["path"] != nil`,
	`set(span.attributes["url.query"], span.cache["query"]) where span.kind != SPAN_KIND_CLIENT and span.cache["query"] != nil and span.cache["query"] != ""`,
	`set(span.attributes["url.scheme"], span.cache["url.scheme"]) where span.kind != SPAN_KIND_CLIENT and span.cache["url.scheme"] != nil`,
	`set(span.attributes["server.address"], span.cache["url.domain"]) where span.kind == SPAN_KIND_SERVER and span.cache["url.domain"] != nil and span.attributes["server.address"] == nil`,
	`set(span.attributes["server.port"], span.cache["url.port"]) where span.kind == SPAN_KIND_SERVER and span.cache["url.port"] != nil and span.attributes["server.port"] == nil`,
	// destination
	`merge_maps(span.cache, ExtractPatterns(span.attributes["upstream_cluster"], "^outbound\\|(?P<port>[0-9]+)\\|[^|]*\\|(?P<host>(?P<svc>[^.|]+)\\.(?P<dns>[a-z0-9-]+)\\.svc\\..*)$"), "upsert") where span.kind == SPAN_KIND_CLIENT and span.attributes["upstream_cluster"] != nil`,
	`set(span.attributes["server.address"], span.cache["host"]) where span.cache["host"] != nil`,
	`set(span.attributes["server.port"], Int(span.cache["port"])) where span.cache["port"] != nil`,
	`set(span.attributes["peer.service"], span.cache["svc"]) where span.cache["svc"] != nil`,
	`set(span.attributes["mesh.destination.namespace"], span.cache["dns"]) where span.cache["dns"] != nil and span.cache["type"] == "router"`,
	`set(span.attributes["peer.service"], span.attributes["ingress.service_name"]) where instrumentation_scope.name == "nginx" and span.attributes["ingress.service_name"] != nil`,
	`set(span.attributes["mesh.destination.namespace"], span.attributes["ingress.namespace"]) where instrumentation_scope.name == "nginx" and span.attributes["ingress.namespace"] != nil`,
	// status
	`set(span.status.code, STATUS_CODE_UNSET) where span.attributes["http.response.status_code"] != nil`,
	`set(span.status.code, STATUS_CODE_ERROR) where span.attributes["http.response.status_code"] >= 500`,
	`set(span.status.code, STATUS_CODE_ERROR) where span.kind == SPAN_KIND_CLIENT and span.attributes["http.response.status_code"] >= 400`,
	`set(span.attributes["error.type"], String(span.attributes["http.response.status_code"])) where span.status.code == STATUS_CODE_ERROR`,
	`set(span.status.message, "upstream connection failure") where span.status.code == STATUS_CODE_ERROR and span.attributes["response_flags"] == "UF"`,
	`set(span.status.message, "no healthy upstream host") where span.status.code == STATUS_CODE_ERROR and span.attributes["response_flags"] == "UH"`,
	`set(span.status.message, "upstream request timeout") where span.status.code == STATUS_CODE_ERROR and span.attributes["response_flags"] == "UT"`,
	// span name
	`set(span.cache["tpl"], span.cache["path"]) where span.cache["path"] != nil`,
	`replace_pattern(span.cache["tpl"], "/[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}(/|$)", "/{id}$1")`,
	`replace_pattern(span.cache["tpl"], "/[0-9a-fA-F]{16,}(/|$)", "/{id}$1")`,
	`replace_pattern(span.cache["tpl"], "/[0-9]+(/|$)", "/{id}$1")`,
	`replace_pattern(span.cache["tpl"], "/[0-9]+(/|$)", "/{id}$1")`,
	`set(span.name, Concat([span.attributes["http.request.method"], span.cache["tpl"]], " ")) where span.cache["tpl"] != nil and span.attributes["http.request.method"] != nil`,
	// deprecated names
	`delete_matching_keys(span.attributes, "^(http\\.(method|status_code|url|target|scheme|flavor|protocol|user_agent|host|server_name)|user_agent|net\\.(host\\.port|peer\\.ip|peer\\.port)|peer\\.address|request_size|response_size|error)$")`,
	`delete_key(span.attributes, "response_flags") where span.attributes["response_flags"] == "-"`,
	`delete_key(span.attributes, "downstream_cluster") where span.attributes["downstream_cluster"] == "-"`,
}
