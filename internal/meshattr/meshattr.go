// Package meshattr holds the names that otelcol-mesh's components agree on.
// Components never import each other, so a key that one writes and another
// reads (spannormalizer writes the destination namespace of an edge span,
// tenantrouting reads it) is defined once here rather than copied.
package meshattr

const (
	// DestinationNamespace is the span attribute that spannormalizer sets on
	// edge spans (ingress gateway, ingress-nginx) to the Kubernetes namespace
	// of the service the request was routed to. tenantrouting reads it only on
	// spans whose trusted namespace is an edge namespace.
	DestinationNamespace = "mesh.destination.namespace"

	// ContextBreak is the span attribute that spannormalizer's context
	// diagnostics set on a proxy span that shows a request crossing a service
	// without its trace context; the value says how (ContextBreakOutboundRoot,
	// ContextBreakInboundRootFromMesh). Find them in Tempo with the TraceQL
	// query { span.mesh.context.break != nil }.
	ContextBreak = "mesh.context.break"
	// ContextBreakOutboundRoot marks a sidecar outbound (CLIENT) span with no
	// parent: the application called out without forwarding trace context.
	ContextBreakOutboundRoot = "outbound_root"
	// ContextBreakInboundRootFromMesh marks a sidecar inbound (SERVER) root
	// span whose caller looks like an in-cluster workload (suspected break).
	ContextBreakInboundRootFromMesh = "inbound_root_from_mesh"
	// ContextEvidence names the tag that made an inbound root span a suspected
	// break: "downstream_cluster" or "peer_address".
	ContextEvidence = "mesh.context.evidence"

	// DefaultTenantMetadataKey is the client-metadata key that carries the
	// tenant from tenantrouting to the exporter (tenantheader extension and
	// the batch processor's metadata_keys). Lower case: gRPC metadata keys are.
	DefaultTenantMetadataKey = "x-scope-orgid"

	// DefaultTenantHeader is the header Tempo reads the tenant from.
	DefaultTenantHeader = "X-Scope-OrgID"
)
