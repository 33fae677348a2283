package spannormalizerprocessor // import "github.com/otelcol-mesh/otelcol-mesh/processor/spannormalizerprocessor"

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"go.opentelemetry.io/collector/component"

	"github.com/otelcol-mesh/otelcol-mesh/processor/spannormalizerprocessor/internal/parse"
	"github.com/otelcol-mesh/otelcol-mesh/processor/spannormalizerprocessor/internal/pathtemplate"
)

// Source names accepted in `sources`.
const (
	SourceEnvoy = "envoy"
	SourceNginx = "nginx"
)

// Span name modes accepted in `span_name`.
const (
	SpanNamePathTemplate = "path_template"
	SpanNameOff          = "off"
)

// Config defines the configuration of the spannormalizer processor.
type Config struct {
	// Sources lists the proxy dialects to recognise and rewrite: "envoy"
	// (Istio sidecars and gateways) and "nginx" (ingress-nginx with the
	// OpenTelemetry module). Spans of a source not listed pass unchanged.
	Sources []string `mapstructure:"sources"`

	// KeepOriginalAttributes keeps the deprecated attribute names beside the
	// stable ones instead of removing them.
	KeepOriginalAttributes bool `mapstructure:"keep_original_attributes"`

	// CompactProxyTags moves the tags that are the same on every span of one
	// proxy (node_id, zone, component, istio.*) to the resource, and drops
	// empty tags and an upstream_cluster.name that repeats upstream_cluster,
	// so that proxy spans cost fewer bytes at Tempo. false keeps every tag
	// on every span.
	CompactProxyTags bool `mapstructure:"compact_proxy_tags"`

	// K8sIdentityFromIstio writes k8s.namespace.name (from istio.namespace)
	// and k8s.pod.name (from node_id) on the resource of Envoy spans when the
	// resource has none. Those values are claimed by the sender: turn this
	// off wherever k8s_attributes is the source of truth for the tenant, or a
	// sender that k8s_attributes cannot identify could pick its namespace.
	K8sIdentityFromIstio bool `mapstructure:"k8s_identity_from_istio"`

	// SpanName selects how proxy span names are rewritten: "path_template"
	// (`{METHOD} {path template}`) or "off" (names are left as they are).
	SpanName string `mapstructure:"span_name"`

	// PathPatterns are extra rules for span-name templating, tried in order
	// on each path segment before the built-in ID detection.
	PathPatterns []PathPattern `mapstructure:"path_patterns"`

	// MaxSpanNamesPerService bounds the distinct span names the processor
	// produces per service.name; once reached, new names collapse to the
	// bare method.
	MaxSpanNamesPerService int `mapstructure:"max_span_names_per_service"`

	// MaxServices bounds the services whose names are tracked; spans of
	// further services get the bare method as their name.
	MaxServices int `mapstructure:"max_services"`

	// RouteLearning learns each service's routes from its traffic: path
	// positions that show many distinct values become {param}, and a value
	// appears in a name only once it has been seen min_count times.
	RouteLearning RouteLearningConfig `mapstructure:"route_learning"`

	// ContextDiagnostics counts, per service, the sidecar spans that show a
	// request crossing the service without its trace context, and marks them
	// with the mesh.context.break attribute.
	ContextDiagnostics ContextDiagnosticsConfig `mapstructure:"context_diagnostics"`

	// WorkerPool runs this processor, and the components after it, on a pool
	// of long-lived goroutines (4 per GOMAXPROCS) instead of the receiver's
	// goroutine of each request, which has to grow its stack for the deep
	// pipeline behind it, once per request. The receiver's goroutine waits
	// for the result, so backpressure and errors reach the sender as before.
	WorkerPool bool `mapstructure:"worker_pool"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// RouteLearningConfig configures route learning for span names.
type RouteLearningConfig struct {
	// Enabled turns route learning on. Off, every path segment that is not
	// an ID or a user pattern is named as it is, up to
	// max_span_names_per_service.
	Enabled bool `mapstructure:"enabled"`

	// MinCount is how often a segment value must have been seen at its
	// position before it appears in a span name; until then it is {param}.
	MinCount int `mapstructure:"min_count"`

	// MaxValuesPerPosition is how many distinct values one path position
	// (one prefix of one service and method) may show before it is a
	// parameter: from then on every value there is {param}.
	MaxValuesPerPosition int `mapstructure:"max_values_per_position"`

	// MaxPositionsPerService bounds what is learned per service (positions
	// and the values counted at them); past it, paths are named in the
	// parameter form without being learned.
	MaxPositionsPerService int `mapstructure:"max_positions_per_service"`

	// MaxPositions bounds what is learned for all services together.
	MaxPositions int `mapstructure:"max_positions"`

	// IdleTimeout: what was not seen for this long (routes, values, names,
	// services) is forgotten. At least one minute.
	IdleTimeout time.Duration `mapstructure:"idle_timeout"`

	// prevent unkeyed literal initialization
	_ struct{}
}

func (c *RouteLearningConfig) validate() error {
	if !c.Enabled {
		return nil
	}
	const key = "route_learning."
	var errs error
	if c.MinCount < 1 {
		errs = errors.Join(errs, fmt.Errorf(key+"min_count must be at least 1, got %d", c.MinCount))
	}
	if c.MaxValuesPerPosition < 1 {
		errs = errors.Join(errs, fmt.Errorf(key+"max_values_per_position must be at least 1, got %d", c.MaxValuesPerPosition))
	}
	if c.MaxPositionsPerService < 1 {
		errs = errors.Join(errs, fmt.Errorf(key+"max_positions_per_service must be at least 1, got %d", c.MaxPositionsPerService))
	}
	if c.MaxPositions < c.MaxPositionsPerService {
		errs = errors.Join(errs, fmt.Errorf(key+"max_positions (%d) must be at least max_positions_per_service (%d)", c.MaxPositions, c.MaxPositionsPerService))
	}
	if c.IdleTimeout < time.Minute {
		errs = errors.Join(errs, fmt.Errorf(key+"idle_timeout must be at least 1m, got %s", c.IdleTimeout))
	}
	return errs
}

// learning is the namer's form of the block (zero when off).
func (c *RouteLearningConfig) learning() pathtemplate.Learning {
	if !c.Enabled {
		return pathtemplate.Learning{}
	}
	return pathtemplate.Learning{
		MinCount:      c.MinCount,
		MaxValues:     c.MaxValuesPerPosition,
		MaxNodes:      c.MaxPositionsPerService,
		MaxTotalNodes: c.MaxPositions,
		IdleEpochs:    uint32(c.IdleTimeout / learningEpoch),
	}
}

// learningEpoch is the clock tick of route learning's ageing.
const learningEpoch = time.Minute

// ContextDiagnosticsConfig configures the context-propagation diagnostics.
type ContextDiagnosticsConfig struct {
	// Enabled turns the diagnostics on. Off, the processor behaves exactly
	// as without this block.
	Enabled bool `mapstructure:"enabled"`

	// ExcludeNamespaces are namespaces whose spans are neither counted nor
	// marked (for example namespaces that only run jobs).
	ExcludeNamespaces []string `mapstructure:"exclude_namespaces"`

	// MaxServices bounds the distinct (service, namespace) label pairs of
	// the diagnostics metrics; further services are counted as "_other".
	MaxServices int `mapstructure:"max_services"`

	// MeshPeerCIDRs are the address ranges of in-cluster workloads (the pod
	// CIDRs). A sidecar inbound root span whose peer address is in one of
	// them is a suspected break. Empty: only downstream_cluster is evidence.
	MeshPeerCIDRs []string `mapstructure:"mesh_peer_cidrs"`

	// EdgeNamespaces are the namespaces of gateways and ingress controllers.
	// An inbound root span whose downstream_cluster names a proxy in one of
	// them is an edge request, never a suspected break.
	EdgeNamespaces []string `mapstructure:"edge_namespaces"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// validate checks the context_diagnostics block; Config.Validate calls it
// so that every message carries the full key path.
func (c *ContextDiagnosticsConfig) validate() error {
	const key = "context_diagnostics."
	var errs error
	if c.MaxServices < 1 {
		errs = errors.Join(errs, fmt.Errorf(key+"max_services must be at least 1, got %d", c.MaxServices))
	}
	for i, ns := range c.ExcludeNamespaces {
		if !parse.IsDNSLabel(ns) {
			errs = errors.Join(errs, fmt.Errorf(key+"exclude_namespaces[%d]: %q is not a namespace name", i, ns))
		}
	}
	for i, ns := range c.EdgeNamespaces {
		if !parse.IsDNSLabel(ns) {
			errs = errors.Join(errs, fmt.Errorf(key+"edge_namespaces[%d]: %q is not a namespace name", i, ns))
		}
	}
	for i, cidr := range c.MeshPeerCIDRs {
		if _, err := netip.ParsePrefix(cidr); err != nil {
			errs = errors.Join(errs, fmt.Errorf(key+"mesh_peer_cidrs[%d]: %w", i, err))
		}
	}
	return errs
}

// PathPattern replaces every path segment that the regular expression
// matches in full.
type PathPattern struct {
	// Regex is a Go (RE2) regular expression matched against one whole
	// path segment (it is anchored for you).
	Regex string `mapstructure:"regex"`
	// Replacement is the text that replaces a matching segment, e.g.
	// "{locale}". Defaults to "{id}"; must not contain '/'.
	Replacement string `mapstructure:"replacement"`
}

var _ component.Config = (*Config)(nil)

// Validate checks the configuration; every message names its key.
func (cfg *Config) Validate() error {
	var errs error
	if len(cfg.Sources) == 0 {
		errs = errors.Join(errs, errors.New("sources must list at least one of \"envoy\", \"nginx\""))
	}
	seen := make(map[string]bool, len(cfg.Sources))
	for _, s := range cfg.Sources {
		switch s {
		case SourceEnvoy, SourceNginx:
		default:
			errs = errors.Join(errs, fmt.Errorf("sources: unknown source %q (want \"envoy\" or \"nginx\")", s))
			continue
		}
		if seen[s] {
			errs = errors.Join(errs, fmt.Errorf("sources: %q is listed twice", s))
		}
		seen[s] = true
	}
	switch cfg.SpanName {
	case SpanNamePathTemplate, SpanNameOff:
	default:
		errs = errors.Join(errs, fmt.Errorf("span_name must be %q or %q, got %q", SpanNamePathTemplate, SpanNameOff, cfg.SpanName))
	}
	if cfg.MaxSpanNamesPerService < 1 {
		errs = errors.Join(errs, fmt.Errorf("max_span_names_per_service must be at least 1, got %d", cfg.MaxSpanNamesPerService))
	}
	if cfg.MaxServices < 1 {
		errs = errors.Join(errs, fmt.Errorf("max_services must be at least 1, got %d", cfg.MaxServices))
	}
	for i, p := range cfg.PathPatterns {
		if _, err := pathtemplate.CompilePattern(p.Regex, p.replacement()); err != nil {
			errs = errors.Join(errs, fmt.Errorf("path_patterns[%d]: %w", i, err))
		}
	}
	errs = errors.Join(errs, cfg.RouteLearning.validate())
	errs = errors.Join(errs, cfg.ContextDiagnostics.validate())
	return errs
}

func (p PathPattern) replacement() string {
	if p.Replacement == "" {
		return pathtemplate.IDPlaceholder
	}
	return p.Replacement
}

func (cfg *Config) sourceEnabled(s string) bool {
	for _, x := range cfg.Sources {
		if x == s {
			return true
		}
	}
	return false
}
