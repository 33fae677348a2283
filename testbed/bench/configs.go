package bench

import (
	"fmt"
	"strings"

	"github.com/otelcol-mesh/otelcol-mesh/testbed/harness"
	"github.com/otelcol-mesh/otelcol-mesh/testbed/loadgen"
)

// Kind names one of the three collector configurations under test.
type Kind string

const (
	// Passthrough is config A: otlp -> memory_limiter -> otlp_grpc (byte
	// batching in its sending queue) with a static tenant header.
	Passthrough Kind = "A"
	// Product is config B: + spannormalizer + tenantrouting, the exporter's
	// batches partitioned per tenant, the tenantheader extension setting
	// X-Scope-OrgID per export.
	Product Kind = "B"
	// OTTL is config C: the same normalization written as transform
	// statements, one static pipeline per tenant (see configC).
	OTTL Kind = "C"
)

// The two halves of B, run to attribute B's cost (-breakdown).
const (
	// NormalizeOnly is A + spannormalizer, static header.
	NormalizeOnly Kind = "B1"
	// RouteOnly is A + tenantrouting, batches per tenant and tenantheader,
	// without spannormalizer: edge spans carry no destination attribute,
	// so they go to the platform tenant only (no copies).
	RouteOnly Kind = "B2"
)

// A and B batch once, in the exporter (sending_queue.batch by bytes,
// partitioned by tenant in B), as the shipped configs do. These are the same
// configs with two batching stages, the batch processor in front of the
// exporter's batching (the shipped shape until 2026-12-01), run at max
// throughput to compare the two shapes (-batching).
const (
	// PassthroughTwoStage is A with the batch processor in front.
	PassthroughTwoStage Kind = "AP"
	// ProductTwoStage is B with the batch processor (per tenant) in front.
	ProductTwoStage Kind = "BP"
)

// Kinds in interleaving order (the table's columns).
var Kinds = []Kind{Passthrough, Product, OTTL}

// Describe is a one-line description for reports.
func (k Kind) Describe() string {
	switch k {
	case Passthrough:
		return "passthrough: otlp -> memory_limiter -> otlp_grpc with byte batching (static header)"
	case Product:
		return "product: + spannormalizer + tenantrouting, exporter batches per tenant, tenantheader auth"
	case OTTL:
		return "upstream today: transform/OTTL normalization, static per-tenant receivers/pipelines/headers"
	case NormalizeOnly:
		return "A + spannormalizer (static header)"
	case RouteOnly:
		return "A + tenantrouting, exporter batches per tenant, tenantheader (no spannormalizer, so no edge copies)"
	case PassthroughTwoStage:
		return "A with two batching stages: the batch processor in front of the exporter's byte batching"
	case ProductTwoStage:
		return "B with two batching stages: the batch processor (per tenant) in front of the exporter's byte batching"
	}
	return string(k)
}

// Requires lists the components a config needs beyond the upstream ones.
func (k Kind) Requires() []string {
	switch k {
	case Product, ProductTwoStage:
		return []string{"processor/spannormalizer", "processor/tenantrouting", "extension/tenantheader"}
	case NormalizeOnly:
		return []string{"processor/spannormalizer"}
	case RouteOnly:
		return []string{"processor/tenantrouting", "extension/tenantheader"}
	}
	return nil
}

// StaticTenant is the tenant config A sends everything to.
const StaticTenant = "bench"

// Tenants of the generated mix (loadgen.TenantOf of its namespaces).
var Tenants = []string{loadgen.PlatformTenant, "alpha", "beta", "gamma", "delta"}

// ShippedMaxConcurrentStreams is the gRPC receivers' max_concurrent_streams
// in the shipped configs (TestShippedMaxConcurrentStreams): the bench runs
// what users run unless told otherwise.
const ShippedMaxConcurrentStreams = 8

// CollectorParams are the knobs of one collector process.
type CollectorParams struct {
	// BatchSize is the batch processor's send_batch_size; BatchMax its
	// send_batch_max_size (the span cap that keeps exports under 4 MiB).
	// Only configs with a batch processor use them (C, AP, BP).
	BatchSize, BatchMax int
	// MemLimitMiB and SpikeMiB configure memory_limiter.
	MemLimitMiB, SpikeMiB int
	// Compression of the exporter to the sink ("none" or "gzip").
	Compression string
	// GoMaxProcs of the collector process (0: leave unset).
	GoMaxProcs int
	// GoMemLimitMiB sets GOMEMLIMIT for the collector (0: unset), as the
	// memory_limiter README recommends (80% of the hard limit).
	GoMemLimitMiB int
	// GoGC sets GOGC for the collector (0: unset, Go's default 100).
	GoGC int
	// PprofPort, when set, adds the pprof extension on that port.
	PprofPort int
	// MaxConcurrentStreams caps the requests one gRPC connection may have
	// in flight (0: grpc-go's default, unbounded). The shipped configs set
	// it so that a sender over its share waits instead of being decoded and
	// then refused.
	MaxConcurrentStreams int
	// DiskQueue puts the exporter's queue on disk (file_storage in
	// $MESHBENCH_QUEUE_DIR, as deploy/overlays/prod does) in the configs
	// that batch in the exporter (all but C).
	DiskQueue bool
}

// collectorData is what the templates render from.
type collectorData struct {
	harness.Ports
	CollectorParams
	Sink string
	// TenantPorts are config C's per-tenant receiver ports.
	TenantPorts []tenantPort
	// Normalize and Route select the halves of config B.
	Normalize, Route bool
	// ProcessorBatching puts the batch processor into the pipeline;
	// ExporterBatching turns on the exporter's byte batching (and sizes its
	// queue in bytes).
	ProcessorBatching, ExporterBatching bool
}

type tenantPort struct {
	Tenant string
	GRPC   int
	HTTP   int
}

const commonHead = `
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{{.OTLPGRPC}}
{{- if .MaxConcurrentStreams}}
        max_concurrent_streams: {{.MaxConcurrentStreams}}
{{- end}}
      http:
        endpoint: 127.0.0.1:{{.OTLPHTTP}}
`

const commonProcessors = `
  memory_limiter:
    check_interval: 100ms
    limit_mib: {{.MemLimitMiB}}
    spike_limit_mib: {{.SpikeMiB}}
`

const telemetry = `
  telemetry:
    logs:
      level: warn
    metrics:
      level: normal
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: {{.Metrics}}
`

// exporter settings shared by every config: the sink's gRPC endpoint, the
// default sending queue, and the compression under test.
const exporterBody = `
    endpoint: {{$.Sink}}
    tls:
      insecure: true
    compression: {{$.Compression}}
{{- if $.ExporterBatching}}
    # Without a batch processor in front every incoming request takes a
    # queue slot: the queue is sized in bytes (the default 1000 requests
    # fills at max throughput and refuses data; testbed/README.md).
    sending_queue:
      enabled: true
      sizer: bytes
      queue_size: 268435456
{{- if $.DiskQueue}}
      storage: file_storage
{{- end}}
      batch:
        sizer: bytes
        flush_timeout: 200ms
        min_size: 1048576
        max_size: 3145728
{{- if $.Route}}
        partition:
          metadata_keys: [x-scope-orgid]
{{- end}}
{{- end}}
`

// diskQueueExtension is the file_storage the exporter's queue uses with
// DiskQueue.
const diskQueueExtension = `
{{- if and .DiskQueue .ExporterBatching}}
  file_storage:
    directory: ${env:` + QueueDirEnv + `}
    create_directory: true
{{- end}}`

// QueueDirEnv names the directory of the disk queue (DiskQueue).
const QueueDirEnv = "MESHBENCH_QUEUE_DIR"

const configA = `
extensions:` + diskQueueExtension + `
  health_check:
    endpoint: 127.0.0.1:{{.Health}}
{{- if .PprofPort}}
  pprof:
    endpoint: 127.0.0.1:{{.PprofPort}}
{{- end}}
` + commonHead + `
processors:` + commonProcessors + `
{{- if .ProcessorBatching}}
  batch:
    send_batch_size: {{.BatchSize}}
    send_batch_max_size: {{.BatchMax}}
    timeout: 200ms
{{- end}}
exporters:
  otlp_grpc/tempo:` + exporterBody + `
    headers:
      X-Scope-OrgID: ` + StaticTenant + `
service:
  extensions: [{{if and .DiskQueue .ExporterBatching}}file_storage, {{end}}health_check{{if .PprofPort}}, pprof{{end}}]` + telemetry + `
  pipelines:
    traces:
      receivers: [otlp]
      processors: [memory_limiter{{if .ProcessorBatching}}, batch{{end}}]
      exporters: [otlp_grpc/tempo]
`

// configB is the product pipeline of DESIGN.md section 1 without
// k8s_attributes (no cluster here: the generator already puts
// k8s.namespace.name on every resource, as k8s_attributes would). With
// only one of Normalize and Route it is one half of B (B1, B2).
const configB = `
extensions:` + diskQueueExtension + `
  health_check:
    endpoint: 127.0.0.1:{{.Health}}
{{- if .PprofPort}}
  pprof:
    endpoint: 127.0.0.1:{{.PprofPort}}
{{- end}}
{{- if .Route}}
  tenantheader:
    header: X-Scope-OrgID
    metadata_key: x-scope-orgid
{{- end}}
` + commonHead + `
processors:` + commonProcessors + `
{{- if .Normalize}}
  spannormalizer: {}
{{- end}}
{{- if .Route}}
  tenantrouting:
    rules:
      - namespaces: {istio-system: platform, ingress-nginx: platform}
      - namespace_prefix: team-
    default_tenant: platform
    edge_namespaces: [istio-system, ingress-nginx]
    platform_tenant: platform
    metadata_key: x-scope-orgid
{{- end}}
{{- if .ProcessorBatching}}
  batch:
    send_batch_size: {{.BatchSize}}
    send_batch_max_size: {{.BatchMax}}
    timeout: 200ms
{{- if .Route}}
    metadata_keys: [x-scope-orgid]
{{- end}}
{{- end}}
exporters:
  otlp_grpc/tempo:` + exporterBody + `
{{- if .Route}}
    auth:
      authenticator: tenantheader
{{- else}}
    headers:
      X-Scope-OrgID: ` + StaticTenant + `
{{- end}}
service:
  extensions: [{{if and .DiskQueue .ExporterBatching}}file_storage, {{end}}health_check{{if .Route}}, tenantheader{{end}}{{if .PprofPort}}, pprof{{end}}]` + telemetry + `
  pipelines:
    traces:
      receivers: [otlp]
      processors: [memory_limiter{{if .Normalize}}, spannormalizer{{end}}{{if .Route}}, tenantrouting{{end}}{{if .ProcessorBatching}}, batch{{end}}]
      exporters: [otlp_grpc/tempo]
`

// configC is how a user does it today with this release's upstream
// components. The normalization is written as transform statements (below).
// The tenant split cannot be done inside the collector at v0.161: the
// routing connector is not available, the filter processor is not in the
// distribution, and the transform processor cannot drop spans (no OTTL
// function removes a span). So the split is static and happens at the
// sender: one OTLP receiver per tenant, each feeding its own pipeline
// (memory_limiter -> transform -> batch) and its own exporter with a static
// X-Scope-OrgID header. The generator sends each tenant's spans to that
// tenant's receiver, and every edge span twice (to its team's receiver and
// the platform's), as a gateway with two exporters would.
const configC = `
extensions:` + diskQueueExtension + `
  health_check:
    endpoint: 127.0.0.1:{{.Health}}
{{- if .PprofPort}}
  pprof:
    endpoint: 127.0.0.1:{{.PprofPort}}
{{- end}}
receivers:
{{- range .TenantPorts}}
  otlp/{{.Tenant}}:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{{.GRPC}}
      http:
        endpoint: 127.0.0.1:{{.HTTP}}
{{- end}}
processors:` + commonProcessors + `
  batch:
    send_batch_size: {{.BatchSize}}
    send_batch_max_size: {{.BatchMax}}
    timeout: 200ms
  transform/normalize:
    error_mode: ignore
    trace_statements:
` + ottlNormalize + `
exporters:
{{- range .TenantPorts}}
  otlp_grpc/{{.Tenant}}:` + exporterBody + `
    headers:
      X-Scope-OrgID: {{.Tenant}}
{{- end}}
service:
  extensions: [health_check{{if .PprofPort}}, pprof{{end}}]` + telemetry + `
  pipelines:
{{- range .TenantPorts}}
    traces/{{.Tenant}}:
      receivers: [otlp/{{.Tenant}}]
      processors: [memory_limiter, transform/normalize, batch]
      exporters: [otlp_grpc/{{.Tenant}}]
{{- end}}
`

// ottlNormalize is spannormalizer's rewrite (DESIGN.md section 5) as OTTL,
// the way a user would write it by hand: Envoy/Istio spans (component=proxy,
// every tag a string) and ingress-nginx spans (scope nginx). The cache holds
// regex captures per span.
const ottlNormalize = `      - context: span
        conditions:
          - attributes["component"] == "proxy"
        statements:
          - set(resource.attributes["service.name"], attributes["istio.canonical_service"]) where attributes["istio.canonical_service"] != nil
          - set(resource.attributes["service.namespace"], attributes["istio.namespace"]) where attributes["istio.namespace"] != nil
          - set(resource.attributes["k8s.namespace.name"], attributes["istio.namespace"]) where attributes["istio.namespace"] != nil
          - set(resource.attributes["service.version"], attributes["istio.canonical_revision"]) where attributes["istio.canonical_revision"] != nil
          - merge_maps(cache, ExtractPatterns(attributes["node_id"], "^[a-z]+~[^~]*~(?P<pod>[^.~]+)\\."), "upsert") where attributes["node_id"] != nil
          - set(resource.attributes["k8s.pod.name"], cache["pod"]) where cache["pod"] != nil
          - set(attributes["http.request.method"], attributes["http.method"]) where attributes["http.method"] != nil
          - set(attributes["http.response.status_code"], Int(attributes["http.status_code"])) where attributes["http.status_code"] != nil
          - set(attributes["user_agent.original"], attributes["user_agent"]) where attributes["user_agent"] != nil
          - set(attributes["network.protocol.version"], attributes["http.protocol"]) where attributes["http.protocol"] != nil
          - replace_pattern(attributes["network.protocol.version"], "^HTTP/", "")
          - set(attributes["network.peer.address"], attributes["peer.address"]) where kind == SPAN_KIND_SERVER and attributes["peer.address"] != nil
          - set(attributes["client.address"], attributes["peer.address"]) where kind == SPAN_KIND_CLIENT and attributes["peer.address"] != nil
          - set(attributes["http.request.body.size"], Int(attributes["request_size"])) where attributes["request_size"] != nil
          - set(attributes["http.response.body.size"], Int(attributes["response_size"])) where attributes["response_size"] != nil
          - set(attributes["url.full"], attributes["http.url"]) where kind == SPAN_KIND_CLIENT and attributes["http.url"] != nil
          - merge_maps(cache, ExtractPatterns(attributes["http.url"], "^(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*)://[^/?#]*(?P<path>[^?#]*)(?:\\?(?P<query>[^#]*))?"), "upsert") where attributes["http.url"] != nil
          - set(attributes["url.scheme"], cache["scheme"]) where kind == SPAN_KIND_SERVER and cache["scheme"] != nil
          - set(attributes["url.path"], cache["path"]) where kind == SPAN_KIND_SERVER and cache["path"] != nil
          - set(attributes["url.query"], cache["query"]) where kind == SPAN_KIND_SERVER and cache["query"] != nil and cache["query"] != ""
          - merge_maps(cache, ExtractPatterns(attributes["upstream_cluster"], "^outbound\\|(?P<port>[0-9]+)\\|[^|]*\\|(?P<host>(?P<svc>[^.|]+)\\.(?P<ns>[^.|]+)\\.svc[^|]*)$"), "upsert") where attributes["upstream_cluster"] != nil
          - set(attributes["peer.service"], cache["svc"]) where cache["svc"] != nil
          - set(attributes["server.address"], cache["host"]) where cache["host"] != nil
          - set(attributes["server.port"], Int(cache["port"])) where cache["port"] != nil
          - set(attributes["mesh.destination.namespace"], cache["ns"]) where cache["ns"] != nil and IsMatch(attributes["node_id"], "^router~")
          - set(cache["tpl"], cache["path"]) where cache["path"] != nil
          - replace_pattern(cache["tpl"], "/[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\\b", "/{id}")
          - replace_pattern(cache["tpl"], "/[0-9a-fA-F]{16,}\\b", "/{id}")
          - replace_pattern(cache["tpl"], "/[0-9]+\\b", "/{id}")
          - set(name, Concat([attributes["http.request.method"], cache["tpl"]], " ")) where attributes["http.request.method"] != nil and cache["tpl"] != nil
          - set(status.code, STATUS_CODE_UNSET)
          - set(status.code, STATUS_CODE_ERROR) where attributes["http.response.status_code"] != nil and attributes["http.response.status_code"] >= 500
          - set(status.code, STATUS_CODE_ERROR) where kind == SPAN_KIND_CLIENT and attributes["http.response.status_code"] != nil and attributes["http.response.status_code"] >= 400
          - set(status.message, "upstream connection failure") where attributes["response_flags"] == "UF"
          - set(status.message, "no healthy upstream") where attributes["response_flags"] == "UH"
          - set(status.message, "upstream retry limit exceeded") where attributes["response_flags"] == "URX"
          - set(status.message, "no route configured") where attributes["response_flags"] == "NR"
          - delete_matching_keys(attributes, "^(http\\.(method|status_code|url|protocol)|user_agent|peer\\.address|request_size|response_size|error)$")
      - context: span
        conditions:
          - instrumentation_scope.name == "nginx"
        statements:
          - set(attributes["http.request.method"], attributes["http.method"]) where attributes["http.method"] != nil
          - set(attributes["http.response.status_code"], attributes["http.status_code"]) where attributes["http.status_code"] != nil
          - set(attributes["url.scheme"], attributes["http.scheme"]) where attributes["http.scheme"] != nil
          - merge_maps(cache, ExtractPatterns(attributes["http.target"], "^(?P<path>[^?#]*)(?:\\?(?P<query>[^#]*))?"), "upsert") where attributes["http.target"] != nil
          - set(attributes["url.path"], cache["path"]) where cache["path"] != nil
          - set(attributes["url.query"], cache["query"]) where cache["query"] != nil and cache["query"] != ""
          - set(attributes["network.protocol.version"], attributes["http.flavor"]) where attributes["http.flavor"] != nil
          - set(attributes["user_agent.original"], attributes["http.user_agent"]) where attributes["http.user_agent"] != nil
          - set(attributes["server.address"], attributes["http.server_name"]) where attributes["http.server_name"] != nil
          - set(attributes["server.port"], attributes["net.host.port"]) where attributes["net.host.port"] != nil
          - set(attributes["client.address"], attributes["net.peer.ip"]) where attributes["net.peer.ip"] != nil
          - set(attributes["client.port"], attributes["net.peer.port"]) where attributes["net.peer.port"] != nil
          - set(attributes["peer.service"], attributes["ingress.service_name"]) where attributes["ingress.service_name"] != nil
          - set(attributes["mesh.destination.namespace"], attributes["ingress.namespace"]) where attributes["ingress.namespace"] != nil
          - set(cache["tpl"], cache["path"]) where cache["path"] != nil
          - replace_pattern(cache["tpl"], "/[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\\b", "/{id}")
          - replace_pattern(cache["tpl"], "/[0-9a-fA-F]{16,}\\b", "/{id}")
          - replace_pattern(cache["tpl"], "/[0-9]+\\b", "/{id}")
          - set(name, Concat([attributes["http.request.method"], cache["tpl"]], " ")) where attributes["http.request.method"] != nil and cache["tpl"] != nil
          - set(status.code, STATUS_CODE_UNSET)
          - set(status.code, STATUS_CODE_ERROR) where attributes["http.response.status_code"] != nil and attributes["http.response.status_code"] >= 500
          - delete_matching_keys(attributes, "^(http\\.(method|status_code|target|scheme|flavor|user_agent|server_name|host)|net\\.(host|peer)\\.(port|ip))$")`

// OTTLStatements counts the OTTL statements of config C, for the report.
func OTTLStatements() int {
	n := 0
	for _, line := range strings.Split(ottlNormalize, "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "- ") && strings.Contains(t, "(") && !strings.Contains(t, "context:") &&
			!strings.HasPrefix(t, `- attributes[`) && !strings.HasPrefix(t, "- instrumentation_scope") {
			n++
		}
	}
	return n
}

// renderConfig builds the collector config of kind k.
func renderConfig(k Kind, ports harness.Ports, tenantPorts []tenantPort, sink string, p CollectorParams) (string, error) {
	tmpl := map[Kind]string{Passthrough: configA, Product: configB, OTTL: configC, NormalizeOnly: configB, RouteOnly: configB,
		PassthroughTwoStage: configA, ProductTwoStage: configB}[k]
	if tmpl == "" {
		return "", fmt.Errorf("unknown config %q", k)
	}
	product := k == Product || k == ProductTwoStage
	twoStage := k == PassthroughTwoStage || k == ProductTwoStage
	// C is upstream as a user runs it today: the batch processor alone.
	return harness.RenderConfig(tmpl, collectorData{
		Ports: ports, CollectorParams: p, Sink: sink, TenantPorts: tenantPorts,
		Normalize: product || k == NormalizeOnly, Route: product || k == RouteOnly,
		ProcessorBatching: twoStage || k == OTTL, ExporterBatching: k != OTTL,
	})
}

// allocTenantPorts gives each tenant of config C a gRPC and an HTTP port.
func allocTenantPorts() ([]tenantPort, error) {
	out := make([]tenantPort, 0, len(Tenants))
	for _, t := range Tenants {
		g, err := harness.AllocPort()
		if err != nil {
			return nil, err
		}
		h, err := harness.AllocPort()
		if err != nil {
			return nil, err
		}
		out = append(out, tenantPort{Tenant: t, GRPC: g, HTTP: h})
	}
	return out, nil
}
