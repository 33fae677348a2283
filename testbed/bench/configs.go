package bench

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

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

// QueueBytesFor is the exporter queue (in proto bytes) of a collector whose
// memory_limiter limit is limitMiB, in deploy/base's proportion: 96 MiB per
// 1 GiB container, whose hard limit (limit_percentage) is 85% of it. A span
// takes about 3x its proto size on the heap, so the full queue stays well
// inside the soft limit, and a collector that cannot export fast enough
// fills its queue (and makes its senders wait) before memory_limiter refuses
// everyone.
func QueueBytesFor(limitMiB int) int {
	return limitMiB << 20 * 96 / 1024 * 100 / 85
}

type tenantPort struct {
	Tenant string
	GRPC   int
	HTTP   int
}

// The config files of each kind under testbed/testdata, loaded after
// collector.yaml in this order (bench/*.yaml say what each adds).
var (
	passthroughFiles = []string{"otlp-http.yaml", "bench/collector.yaml", "bench/tempo.yaml", "bench/static-tenant.yaml"}
	routeFiles       = []string{"otlp-http.yaml", "bench/collector.yaml", "bench/tempo.yaml", "bench/route.yaml"}
	productFiles     = append(slices.Clone(routeFiles), "bench/normalize.yaml")
	configFiles      = map[Kind][]string{
		Passthrough:         passthroughFiles,
		NormalizeOnly:       append(slices.Clone(passthroughFiles), "bench/normalize.yaml"),
		RouteOnly:           routeFiles,
		Product:             productFiles,
		PassthroughTwoStage: passthroughFiles,
		ProductTwoStage:     productFiles,
		OTTL:                {"bench/collector.yaml", configCFile},
	}
	// pipelineProcessors is the pipeline of each kind that runs
	// tempo.yaml (PIPELINE_PROCESSORS): lists replace, so it is stated
	// whole. Only the two-stage variants batch in front of the exporter.
	pipelineProcessors = map[Kind]string{
		Passthrough:         "[memory_limiter]",
		NormalizeOnly:       "[memory_limiter, spannormalizer]",
		RouteOnly:           "[memory_limiter, tenantrouting]",
		Product:             "[memory_limiter, spannormalizer, tenantrouting]",
		PassthroughTwoStage: "[memory_limiter, batch]",
		ProductTwoStage:     "[memory_limiter, spannormalizer, tenantrouting, batch]",
	}
)

// QueueDirEnv names the directory of the disk queue (DiskQueue).
const QueueDirEnv = "MESHBENCH_QUEUE_DIR"

// configCFile holds config C, its OTTL statements included.
const configCFile = "bench/c.yaml"

// routes reports whether kind k sets the tenant per export (tenantheader).
func (k Kind) routes() bool {
	return k == Product || k == RouteOnly || k == ProductTwoStage
}

// OTTLStatements counts the OTTL statements of config C, for the report.
func OTTLStatements() (int, error) {
	paths, err := harness.TestdataFiles(configCFile)
	if err != nil {
		return 0, err
	}
	raw, err := os.ReadFile(paths[0])
	if err != nil {
		return 0, err
	}
	var cfg struct {
		Processors struct {
			Transform struct {
				TraceStatements []struct {
					Statements []string `yaml:"statements"`
				} `yaml:"trace_statements"`
			} `yaml:"transform/normalize"`
		} `yaml:"processors"`
	}
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		return 0, fmt.Errorf("%s: %w", paths[0], err)
	}
	n := 0
	for _, group := range cfg.Processors.Transform.TraceStatements {
		n += len(group.Statements)
	}
	return n, nil
}

// collectorOptions is the config of kind k's collector on ports (and, for
// C, tenantPorts), exporting to sink, with p's parameters as the files'
// environment variables.
func collectorOptions(k Kind, ports harness.Ports, tenantPorts []tenantPort, sink string, p CollectorParams) (harness.Options, error) {
	files, ok := configFiles[k]
	if !ok {
		return harness.Options{}, fmt.Errorf("unknown config %q", k)
	}
	paths, err := harness.OwnPipelineFiles(files...)
	if err != nil {
		return harness.Options{}, err
	}
	env := map[string]string{
		"SINK_GRPC":     sink,
		"COMPRESSION":   p.Compression,
		"MEM_LIMIT_MIB": strconv.Itoa(p.MemLimitMiB),
		"SPIKE_MIB":     strconv.Itoa(p.SpikeMiB),
		"BATCH_SIZE":    strconv.Itoa(p.BatchSize),
		"BATCH_MAX":     strconv.Itoa(p.BatchMax),
		// 0 is grpc-go's default, unbounded.
		"MAX_CONCURRENT_STREAMS": strconv.Itoa(p.MaxConcurrentStreams),
		"QUEUE_BYTES":            strconv.Itoa(QueueBytesFor(p.MemLimitMiB)),
	}
	for _, tp := range tenantPorts {
		env["C_GRPC_"+strings.ToUpper(tp.Tenant)] = fmt.Sprintf("127.0.0.1:%d", tp.GRPC)
		env["C_HTTP_"+strings.ToUpper(tp.Tenant)] = fmt.Sprintf("127.0.0.1:%d", tp.HTTP)
	}
	if p.GoMaxProcs > 0 {
		env["GOMAXPROCS"] = strconv.Itoa(p.GoMaxProcs)
	}
	if p.GoMemLimitMiB > 0 {
		env["GOMEMLIMIT"] = fmt.Sprintf("%dMiB", p.GoMemLimitMiB)
	}
	if p.GoGC > 0 {
		env["GOGC"] = strconv.Itoa(p.GoGC)
	}
	extensions := []string{"health_check"}
	if k.routes() {
		extensions = append(extensions, "tenantheader")
	}
	if p.PprofPort > 0 {
		extensions = append(extensions, "pprof")
	}
	if procs, ok := pipelineProcessors[k]; ok { // all but C
		env["PIPELINE_PROCESSORS"] = procs
		if p.DiskQueue {
			extensions = append(extensions, "file_storage")
			paths, err = harness.OwnPipelineFiles(append(slices.Clone(files), "bench/disk-queue.yaml")...)
			if err != nil {
				return harness.Options{}, err
			}
		}
	}
	env["SERVICE_EXTENSIONS"] = "[" + strings.Join(extensions, ", ") + "]"
	opts := harness.Options{ConfigFiles: paths, Ports: ports, Env: env}
	if p.PprofPort > 0 {
		// C states its own extensions list: restate it with pprof.
		opts.Config = fmt.Sprintf("extensions:\n  pprof:\n    endpoint: 127.0.0.1:%d\nservice:\n  extensions: %s\n", p.PprofPort, env["SERVICE_EXTENSIONS"])
	}
	return opts, nil
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
