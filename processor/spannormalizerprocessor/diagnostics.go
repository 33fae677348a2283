package spannormalizerprocessor // import "github.com/otelcol-mesh/otelcol-mesh/processor/spannormalizerprocessor"

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otelcol-mesh/otelcol-mesh/internal/meshattr"
	"github.com/otelcol-mesh/otelcol-mesh/processor/spannormalizerprocessor/internal/parse"
)

// Context-propagation diagnostics (context_diagnostics). Per span, with no
// trace buffering, on Envoy sidecar spans only (gateways start traces by
// design):
//
//   - outbound (CLIENT) span without a parent: the application made the call
//     without trace context, so the sidecar started a new trace. A break of
//     kind outbound_root, counted against the calling service.
//   - outbound span with a parent: a propagated call.
//   - inbound (SERVER) span without a parent whose downstream looks like an
//     in-cluster workload (downstream_cluster, or a peer address in
//     mesh_peer_cidrs): a suspected break of kind inbound_root_from_mesh,
//     counted against the receiving service (the caller has no identity on
//     the span, only its address).
//
// The service and namespace come from the resource after the identity
// rewrite, so they are resolved once per resource, not per span.

// Metric attribute values for the service/namespace labels beyond the bound.
const diagOther = "_other"

// Evidence values of meshattr.ContextEvidence.
const (
	evidenceDownstreamCluster = "downstream_cluster"
	evidencePeerAddress       = "peer_address"
)

type breakKind uint8

const (
	breakOutboundRoot breakKind = iota
	breakInboundRootFromMesh
	numBreakKinds
)

func (k breakKind) String() string {
	if k == breakOutboundRoot {
		return meshattr.ContextBreakOutboundRoot
	}
	return meshattr.ContextBreakInboundRootFromMesh
}

// serviceDiag holds the metric attribute sets of one (service, namespace),
// built once when the pair is first seen.
type serviceDiag struct {
	breaks     [numBreakKinds]metric.AddOption
	propagated metric.AddOption
	// outboundSeen: the propagated and outbound_root series were created
	// (at their first count, the other one at 0), so a coverage ratio exists
	// for every service that made a call.
	outboundSeen atomic.Bool
}

func newServiceDiag(service, namespace string) *serviceDiag {
	d := &serviceDiag{}
	svc, ns := attribute.String("service", service), attribute.String("namespace", namespace)
	for k := breakKind(0); k < numBreakKinds; k++ {
		d.breaks[k] = metric.WithAttributeSet(attribute.NewSet(svc, ns, attribute.String("kind", k.String())))
	}
	d.propagated = metric.WithAttributeSet(attribute.NewSet(svc, ns))
	return d
}

type serviceKey struct{ service, namespace string }

// diagnostics is the state of context_diagnostics: configuration and the
// bounded per-service cache. Safe for concurrent use.
type diagnostics struct {
	logger      *zap.Logger
	breaks      metric.Int64Counter
	propagated  metric.Int64Counter
	exclude     []string
	edge        []string
	meshPeers   []netip.Prefix
	maxServices int

	mu       sync.RWMutex
	services map[serviceKey]*serviceDiag
	full     atomic.Bool
	other    *serviceDiag
}

// newDiagnostics returns nil when the diagnostics are off. Config.Validate
// has checked the CIDRs; one that still fails to parse is an error here.
func newDiagnostics(cfg *ContextDiagnosticsConfig, logger *zap.Logger, breaks, propagated metric.Int64Counter) (*diagnostics, error) {
	if !cfg.Enabled {
		return nil, nil
	}
	d := &diagnostics{
		logger:      logger,
		breaks:      breaks,
		propagated:  propagated,
		exclude:     slices.Clone(cfg.ExcludeNamespaces),
		edge:        slices.Clone(cfg.EdgeNamespaces),
		maxServices: cfg.MaxServices,
		services:    make(map[serviceKey]*serviceDiag),
		other:       newServiceDiag(diagOther, diagOther),
	}
	for _, c := range cfg.MeshPeerCIDRs {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return nil, err
		}
		d.meshPeers = append(d.meshPeers, p.Masked())
	}
	return d, nil
}

// diagState is what the diagnostics track per resource of a request.
type diagState struct {
	resolved   bool
	entry      *serviceDiag // nil: excluded namespace
	breaks     [numBreakKinds]int64
	propagated int64
}

// resolve finds the resource's entry once: the namespace is the trusted
// k8s.namespace.name when present, else the resolved service.namespace.
func (d *diagnostics) resolve(res *resourceState) *serviceDiag {
	if res.diag.resolved {
		return res.diag.entry
	}
	res.diag.resolved = true
	ra := res.res.Attributes()
	ns := ""
	if v, ok := ra.Get(resK8sNamespace); ok {
		ns = v.Str()
	} else if v, ok := ra.Get(resServiceNamespace); ok {
		ns = v.Str()
	}
	if slices.Contains(d.exclude, ns) {
		return nil
	}
	res.diag.entry = d.lookup(res.serviceName(), ns)
	return res.diag.entry
}

// lookup returns the entry of a (service, namespace) pair, creating it while
// fewer than max_services exist; anything else (over the bound, no service,
// a name too long, an invalid namespace) is "_other".
func (d *diagnostics) lookup(service, ns string) *serviceDiag {
	if service == "" || len(service) > maxNameLength || !parse.IsDNSLabel(ns) {
		return d.other
	}
	key := serviceKey{service, ns}
	d.mu.RLock()
	e := d.services[key]
	d.mu.RUnlock()
	if e != nil {
		return e
	}
	if d.full.Load() {
		return d.other
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if e = d.services[key]; e != nil {
		return e
	}
	if len(d.services) >= d.maxServices {
		if d.full.CompareAndSwap(false, true) {
			d.logger.Warn("Context diagnostics service limit reached; further services are counted as _other",
				zap.Int("context_diagnostics.max_services", d.maxServices))
		}
		return d.other
	}
	key = serviceKey{strings.Clone(service), strings.Clone(ns)}
	e = newServiceDiag(key.service, key.namespace)
	d.services[key] = e
	return e
}

// check applies the rules to one Envoy sidecar span (kind already fixed) and
// returns the mark to write ("" for none) and its evidence.
func (d *diagnostics) check(span ptrace.Span, r *rewrite, res *resourceState) (mark, evidence string) {
	root := span.ParentSpanID().IsEmpty()
	switch span.Kind() {
	case ptrace.SpanKindClient:
		if d.resolve(res) == nil {
			return "", ""
		}
		if !root {
			res.diag.propagated++
			return "", ""
		}
		res.diag.breaks[breakOutboundRoot]++
		return meshattr.ContextBreakOutboundRoot, ""
	case ptrace.SpanKindServer:
		if !root {
			return "", ""
		}
		ev := d.inboundEvidence(r)
		if ev == "" || d.resolve(res) == nil {
			return "", ""
		}
		res.diag.breaks[breakInboundRootFromMesh]++
		return meshattr.ContextBreakInboundRootFromMesh, ev
	}
	return "", ""
}

// inboundEvidence says why the downstream of an inbound root span looks like
// an in-cluster workload, or "" when nothing says so:
//   - downstream_cluster (Envoy's x-envoy-downstream-service-cluster, in
//     Istio `<workload>.<namespace>` of the calling proxy) names a proxy
//     outside edge_namespaces; one inside them is a gateway or ingress and
//     decides "not a break" whatever the address;
//   - else the peer address (peer.address / net.peer.ip) is in
//     mesh_peer_cidrs.
func (d *diagnostics) inboundEvidence(r *rewrite) string {
	if dc := r.downstreamCluster; dc != "" {
		if i := strings.LastIndexByte(dc, '.'); i >= 0 && slices.Contains(d.edge, dc[i+1:]) {
			return ""
		}
		return evidenceDownstreamCluster
	}
	if len(d.meshPeers) == 0 || r.peerAddr == "" {
		return ""
	}
	a, err := netip.ParseAddr(r.peerAddr)
	if err != nil {
		return ""
	}
	a = a.Unmap()
	for _, p := range d.meshPeers {
		if p.Contains(a) {
			return evidencePeerAddress
		}
	}
	return ""
}

// maxPending bounds the services of one request whose counts are summed
// before they are added; a request from one proxy has one.
const maxPending = 8

// diagPending sums a request's counts per service so that each service gets
// at most three Adds per request, never one per span.
type diagPending struct {
	n     int
	items [maxPending]struct {
		entry      *serviceDiag
		breaks     [numBreakKinds]int64
		propagated int64
	}
}

// collect moves one resource's counts into the request's sums; when more
// than maxPending services are in one request, the extra ones are added at
// once.
func (d *diagnostics) collect(ctx context.Context, pend *diagPending, res *resourceState) {
	c := &res.diag
	if c.entry == nil || (c.propagated == 0 && c.breaks == [numBreakKinds]int64{}) {
		return
	}
	for i := 0; i < pend.n; i++ {
		if it := &pend.items[i]; it.entry == c.entry {
			it.propagated += c.propagated
			for k := range it.breaks {
				it.breaks[k] += c.breaks[k]
			}
			return
		}
	}
	if pend.n == maxPending {
		d.add(ctx, c.entry, c.propagated, &c.breaks)
		return
	}
	it := &pend.items[pend.n]
	pend.n++
	it.entry, it.propagated, it.breaks = c.entry, c.propagated, c.breaks
}

// flush adds the request's sums to the metrics.
func (d *diagnostics) flush(ctx context.Context, pend *diagPending) {
	for i := 0; i < pend.n; i++ {
		it := &pend.items[i]
		d.add(ctx, it.entry, it.propagated, &it.breaks)
	}
}

func (d *diagnostics) add(ctx context.Context, e *serviceDiag, propagated int64, breaks *[numBreakKinds]int64) {
	out := breaks[breakOutboundRoot]
	if (propagated > 0 || out > 0) && !e.outboundSeen.Load() && e.outboundSeen.CompareAndSwap(false, true) {
		// First outbound call of this service: create both series, one
		// possibly at 0, so its coverage can be computed.
		d.propagated.Add(ctx, propagated, e.propagated)
		d.breaks.Add(ctx, out, e.breaks[breakOutboundRoot])
	} else {
		if propagated > 0 {
			d.propagated.Add(ctx, propagated, e.propagated)
		}
		if out > 0 {
			d.breaks.Add(ctx, out, e.breaks[breakOutboundRoot])
		}
	}
	if n := breaks[breakInboundRootFromMesh]; n > 0 {
		d.breaks.Add(ctx, n, e.breaks[breakInboundRootFromMesh])
	}
}
