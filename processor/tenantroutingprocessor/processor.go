package tenantroutingprocessor // import "github.com/otelcol-mesh/otelcol-mesh/processor/tenantroutingprocessor"

import (
	"context"
	"errors"
	"strings"
	"time"

	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otelcol-mesh/otelcol-mesh/internal/meshattr"
	"github.com/otelcol-mesh/otelcol-mesh/processor/tenantroutingprocessor/internal/metadata"
)

// namespaceAttribute is the resource attribute the tenant is decided from.
// k8s_attributes sets it from the sending pod's IP (pod_association from
// connection); nothing else is trusted.
const namespaceAttribute = "k8s.namespace.name"

// errRateLimited is returned when the token buckets refused every tenant
// share of a request (typically: the request held one tenant, over its
// limit). It is a plain (retryable) error: the receiver answers
// Unavailable / 503 and the sender retries later; as nothing of the request
// was passed downstream, the retry duplicates nothing. A refused share of a
// request whose other shares were passed on is dropped and counted instead
// (see ConsumeTraces). It names no tenant, so a sender learns nothing about
// other tenants.
var errRateLimited = errors.New("tenantrouting: tenant ingestion rate limit exceeded, retry later")

type ruleKind int

const (
	ruleNamespaces ruleKind = iota
	ruleLabel
	rulePrefix
)

type rule struct {
	kind       ruleKind
	namespaces map[string]string
	labelAttr  string
	prefix     string
}

// router holds the compiled rules. It decides tenants; it does not move data.
type router struct {
	rules          []rule
	defaultTenant  string
	edgeNamespaces map[string]struct{}
	platformTenant string
}

func newRouter(cfg *Config) router {
	r := router{
		defaultTenant:  cfg.DefaultTenant,
		platformTenant: cfg.PlatformTenant,
		edgeNamespaces: make(map[string]struct{}, len(cfg.EdgeNamespaces)),
	}
	for _, ns := range cfg.EdgeNamespaces {
		r.edgeNamespaces[ns] = struct{}{}
	}
	for _, rc := range cfg.Rules {
		switch {
		case rc.Namespaces != nil:
			m := make(map[string]string, len(rc.Namespaces))
			for k, v := range rc.Namespaces {
				m[k] = v
			}
			r.rules = append(r.rules, rule{kind: ruleNamespaces, namespaces: m})
		case rc.NamespaceLabel != "":
			attr := rc.LabelAttribute
			if attr == "" {
				attr = namespaceLabelAttributePrefix + rc.NamespaceLabel
			}
			r.rules = append(r.rules, rule{kind: ruleLabel, labelAttr: attr})
		default:
			r.rules = append(r.rules, rule{kind: rulePrefix, prefix: rc.NamespacePrefix})
		}
	}
	return r
}

// ruleTenant returns the tenant of the first rule that gives namespace ns one,
// or "". Label rules read the namespace-label attribute from res; res is
// only valid for the resource's own namespace, so for a destination namespace
// (edge spans) pass withLabels=false and label rules are skipped.
func (r *router) ruleTenant(ns string, res pcommon.Map, withLabels bool) string {
	if ns == "" {
		return ""
	}
	for i := range r.rules {
		ru := &r.rules[i]
		switch ru.kind {
		case ruleNamespaces:
			if t, ok := ru.namespaces[ns]; ok {
				return t
			}
		case ruleLabel:
			if !withLabels {
				continue
			}
			if v, ok := res.Get(ru.labelAttr); ok && v.Type() == pcommon.ValueTypeStr && validTenant(v.Str()) {
				return v.Str()
			}
		case rulePrefix:
			if strings.HasPrefix(ns, ru.prefix) {
				if t := ns[len(ru.prefix):]; validTenant(t) {
					return t
				}
			}
		}
	}
	return ""
}

// resourceTenant is the tenant of a resource's spans: its rules' tenant, else
// the default tenant ("" = drop).
func (r *router) resourceTenant(ns string, res pcommon.Map) string {
	if t := r.ruleTenant(ns, res, true); t != "" {
		return t
	}
	return r.defaultTenant
}

func (r *router) isEdge(ns string) bool {
	if ns == "" || len(r.edgeNamespaces) == 0 {
		return false
	}
	_, ok := r.edgeNamespaces[ns]
	return ok
}

func stringAttr(m pcommon.Map, key string) string {
	if v, ok := m.Get(key); ok && v.Type() == pcommon.ValueTypeStr {
		return v.Str()
	}
	return ""
}

// resourcePlan is the routing decision for one ResourceSpans.
type resourcePlan struct {
	tenant string // "" = drop
	spans  int
	edge   bool // an edge resource with destination attributes: route per span
}

// destination accumulates one tenant's share of a request.
type destination struct {
	tenant     string
	td         ptrace.Traces
	spans      int
	edgeCopies int
	st         *tenantState
	admitted   bool
	// failed: the next component refused the share.
	failed bool

	// Shells of the edge resource/scope currently being split into td.
	curRes   int
	curScope int
	rs       ptrace.ResourceSpans
	ss       ptrace.ScopeSpans
}

// scopeFor returns the scope shell in d for scope j of resource i, copying
// the resource and scope (not their spans) once per destination.
func (d *destination) scopeFor(i, j int, rs ptrace.ResourceSpans, ss ptrace.ScopeSpans) ptrace.ScopeSpans {
	if d.curRes != i {
		d.rs = d.td.ResourceSpans().AppendEmpty()
		rs.Resource().CopyTo(d.rs.Resource())
		d.rs.SetSchemaUrl(rs.SchemaUrl())
		d.curRes = i
		d.curScope = -1
	}
	if d.curScope != j {
		d.ss = d.rs.ScopeSpans().AppendEmpty()
		ss.Scope().CopyTo(d.ss.Scope())
		d.ss.SetSchemaUrl(ss.SchemaUrl())
		d.curScope = j
	}
	return d.ss
}

type tenantRouting struct {
	component.StartFunc

	logger      *zap.Logger
	next        consumer.Traces
	router      router
	tenants     *tenantRegistry
	telemetry   *metadata.TelemetryBuilder
	noTenant    metric.AddOption
	invalidID   metric.AddOption
	tooLarge    metric.AddOption
	capper      spanCapper
	now         func() time.Time
	metadataKey string
}

var _ processor.Traces = (*tenantRouting)(nil)

func newTenantRouting(set processor.Settings, cfg *Config, next consumer.Traces) (*tenantRouting, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	p := &tenantRouting{
		logger:      set.Logger,
		next:        next,
		router:      newRouter(cfg),
		telemetry:   tb,
		noTenant:    metric.WithAttributeSet(attribute.NewSet(attribute.String(attrReason, reasonNoTenant))),
		invalidID:   metric.WithAttributeSet(attribute.NewSet(attribute.String(attrReason, reasonInvalidID))),
		tooLarge:    metric.WithAttributeSet(attribute.NewSet(attribute.String(attrReason, reasonTooLarge))),
		capper:      spanCapper{max: cfg.MaxSpanBytes},
		now:         time.Now,
		metadataKey: cfg.MetadataKey,
	}
	p.tenants = newTenantRegistry(cfg.MetadataKey, cfg.RateLimit, cfg.MetricsMaxTenants, p.now())
	return p, nil
}

func (*tenantRouting) Capabilities() consumer.Capabilities {
	// Spans are moved out of the request into per-tenant requests.
	return consumer.Capabilities{MutatesData: true}
}

func (p *tenantRouting) Shutdown(context.Context) error {
	p.telemetry.Shutdown()
	return nil
}

// ConsumeTraces splits td into one request per tenant and hands each to the
// next consumer with only the tenant in the client metadata.
//
// Spans with an all-zero trace or span ID are removed first and counted
// (reason invalid_id). Then every span that goes somewhere is held to
// max_span_bytes (see spanCapper): truncated and marked, or removed and
// counted (reason too_large). Deliberately dropped spans (no tenant, invalid IDs)
// are not an error. A tenant share its token bucket refuses is counted
// (reason rate_limited) and dropped when other shares of the request are
// passed on, so that a retry cannot duplicate them; only when every share
// was refused is the request refused with the retryable errRateLimited.
// Likewise a share the next component refuses (a tenant's full export
// queue) is dropped and counted (reason export_failed) when another share
// went through; when none did, the failures are joined and returned, and
// the sender may retry the whole request.
func (p *tenantRouting) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	rss := td.ResourceSpans()
	n := rss.Len()
	if n == 0 {
		return nil
	}
	plan := make([]resourcePlan, n)
	single := true
	only := ""
	dropped, invalid, truncated, tooLarge := 0, 0, 0, 0
	for i := 0; i < n; i++ {
		rs := rss.At(i)
		attrs := rs.Resource().Attributes()
		ns := stringAttr(attrs, namespaceAttribute)
		pl := &plan[i]
		pl.tenant = p.router.resourceTenant(ns, attrs)
		spans, bad := countSpans(rs)
		if bad > 0 {
			removeInvalid(rs)
			invalid += bad
			spans -= bad
			if spans == 0 {
				// Nothing valid left: the resource shell goes nowhere.
				pl.tenant = ""
			}
		}
		pl.spans = spans
		if pl.spans == 0 {
			continue
		}
		edge := p.router.isEdge(ns) && hasDestination(rs)
		if p.capper.max > 0 && (edge || pl.tenant != "") {
			// Only spans that go somewhere are sized.
			t, d := p.capper.capResource(rs)
			truncated += t
			tooLarge += d
			pl.spans -= d
			if pl.spans == 0 {
				pl.tenant = ""
				continue
			}
		}
		if edge {
			pl.edge = true
			single = false
			continue
		}
		if pl.tenant == "" {
			dropped += pl.spans
			continue
		}
		if only == "" {
			only = pl.tenant
		} else if only != pl.tenant {
			single = false
		}
	}
	p.countInvalid(ctx, invalid)
	p.countSized(ctx, truncated, tooLarge)

	if single {
		p.countDropped(ctx, dropped)
		if only == "" {
			return nil
		}
		if dropped > 0 || hasEmptyOther(plan, only) {
			i := -1
			rss.RemoveIf(func(ptrace.ResourceSpans) bool {
				i++
				return plan[i].tenant != only
			})
		}
		now := p.now()
		st := p.tenants.get(only, now)
		spans := td.SpanCount()
		if !p.admit(ctx, st, now, spans) {
			// The request held this tenant alone: a retry duplicates nothing.
			return errRateLimited
		}
		return p.send(ctx, only, st, td, spans, 0)
	}

	dests := make([]destination, 0, 4)
	for i := 0; i < n; i++ {
		pl := &plan[i]
		if pl.spans == 0 {
			continue
		}
		rs := rss.At(i)
		if pl.edge {
			dests, dropped = p.splitEdge(i, rs, pl.tenant, dests, dropped)
			continue
		}
		if pl.tenant == "" {
			continue // already counted
		}
		var k int
		dests, k = destinationIndex(dests, pl.tenant)
		rs.MoveTo(dests[k].td.ResourceSpans().AppendEmpty())
		dests[k].spans += pl.spans
	}
	p.countDropped(ctx, dropped)

	// Every share is admitted or refused before anything is sent, so that
	// the outcome does not depend on the order of the tenants.
	now := p.now()
	admitted := 0
	for k := range dests {
		d := &dests[k]
		d.st = p.tenants.get(d.tenant, now)
		if d.admitted = p.admit(ctx, d.st, now, d.spans); d.admitted {
			admitted++
		}
	}
	if admitted == 0 && len(dests) > 0 {
		return errRateLimited
	}
	var errs []error
	passed := 0
	for k := range dests {
		d := &dests[k]
		if !d.admitted {
			continue // counted by admit; dropped so the others are not retried
		}
		if err := p.send(ctx, d.tenant, d.st, d.td, d.spans, d.edgeCopies); err != nil {
			errs = append(errs, err)
			d.failed = true
			continue
		}
		passed++
	}
	if len(errs) == 0 || passed == 0 {
		return errors.Join(errs...)
	}
	for k := range dests {
		if d := &dests[k]; d.failed {
			p.telemetry.ProcessorTenantroutingSpansDropped.Add(ctx, int64(d.spans), d.st.failed)
		}
	}
	p.logger.Debug("Dropped the tenant shares the next component refused, as others of the request were passed on",
		zap.Error(errors.Join(errs...)))
	return nil
}

// splitEdge routes the spans of an edge resource one by one: a span with a
// destination namespace that a rule maps to a tenant goes to that tenant and,
// as a copy, to the platform tenant; any other span goes to the resource's
// own tenant.
func (p *tenantRouting) splitEdge(i int, rs ptrace.ResourceSpans, resTenant string, dests []destination, dropped int) ([]destination, int) {
	sss := rs.ScopeSpans()
	for j := 0; j < sss.Len(); j++ {
		ss := sss.At(j)
		spans := ss.Spans()
		for s := 0; s < spans.Len(); s++ {
			span := spans.At(s)
			tenant := p.router.ruleTenant(stringAttr(span.Attributes(), meshattr.DestinationNamespace), pcommon.Map{}, false)
			copyTo := ""
			if tenant == "" {
				tenant = resTenant
			} else if pt := p.router.platformTenant; pt != "" && pt != tenant {
				copyTo = pt
			}
			if tenant == "" {
				dropped++
				continue
			}
			var k int
			if copyTo != "" {
				dests, k = destinationIndex(dests, copyTo)
				span.CopyTo(dests[k].scopeFor(i, j, rs, ss).Spans().AppendEmpty())
				dests[k].spans++
			}
			dests, k = destinationIndex(dests, tenant)
			span.MoveTo(dests[k].scopeFor(i, j, rs, ss).Spans().AppendEmpty())
			dests[k].spans++
			if copyTo != "" {
				dests[k].edgeCopies++
			}
		}
	}
	return dests, dropped
}

// admit takes spans from the tenant's token bucket. A refusal is counted
// as spans_dropped{reason="rate_limited", tenant}.
func (p *tenantRouting) admit(ctx context.Context, st *tenantState, now time.Time, spans int) bool {
	if st.bucket == nil || st.bucket.take(now, spans) {
		return true
	}
	p.telemetry.ProcessorTenantroutingSpansDropped.Add(ctx, int64(spans), st.limited)
	return false
}

// send hands one tenant's admitted request downstream.
func (p *tenantRouting) send(ctx context.Context, tenant string, st *tenantState, td ptrace.Traces, spans, edgeCopies int) error {
	md := st.md
	if !st.hasMD {
		md = p.tenants.metadataFor(tenant)
	}
	info := client.FromContext(ctx)
	tctx := client.NewContext(ctx, client.Info{Addr: info.Addr, Auth: info.Auth, Metadata: md})
	if err := p.next.ConsumeTraces(tctx, td); err != nil {
		return err
	}
	p.telemetry.ProcessorTenantroutingSpansRouted.Add(ctx, int64(spans), st.routed)
	if edgeCopies > 0 {
		p.telemetry.ProcessorTenantroutingEdgeCopies.Add(ctx, int64(edgeCopies), st.edge)
	}
	return nil
}

func (p *tenantRouting) countDropped(ctx context.Context, n int) {
	if n > 0 {
		p.telemetry.ProcessorTenantroutingSpansDropped.Add(ctx, int64(n), p.noTenant)
		p.logger.Debug("Dropped spans without a tenant", zap.Int("spans", n))
	}
}

func (p *tenantRouting) countInvalid(ctx context.Context, n int) {
	if n > 0 {
		p.telemetry.ProcessorTenantroutingSpansDropped.Add(ctx, int64(n), p.invalidID)
		p.logger.Debug("Dropped spans with an all-zero trace or span ID", zap.Int("spans", n))
	}
}

// countSized counts the spans max_span_bytes truncated and removed.
func (p *tenantRouting) countSized(ctx context.Context, truncated, tooLarge int) {
	if truncated > 0 {
		p.telemetry.ProcessorTenantroutingSpansTruncated.Add(ctx, int64(truncated))
		p.logger.Debug("Truncated string attribute values of spans over max_span_bytes", zap.Int("spans", truncated))
	}
	if tooLarge > 0 {
		p.telemetry.ProcessorTenantroutingSpansDropped.Add(ctx, int64(tooLarge), p.tooLarge)
		p.logger.Debug("Dropped spans over max_span_bytes that truncation could not shrink enough", zap.Int("spans", tooLarge))
	}
}

// destinationIndex returns the index of tenant's destination, appending one
// if needed. Requests carry few tenants, so a linear scan beats a map.
func destinationIndex(dests []destination, tenant string) ([]destination, int) {
	for k := range dests {
		if dests[k].tenant == tenant {
			return dests, k
		}
	}
	dests = append(dests, destination{tenant: tenant, td: ptrace.NewTraces(), curRes: -1, curScope: -1})
	return dests, len(dests) - 1
}

// countSpans returns the number of spans of rs and how many of them have an
// invalid (all-zero) trace or span ID.
func countSpans(rs ptrace.ResourceSpans) (n, invalid int) {
	sss := rs.ScopeSpans()
	for j := 0; j < sss.Len(); j++ {
		spans := sss.At(j).Spans()
		n += spans.Len()
		for s := 0; s < spans.Len(); s++ {
			if invalidIDs(spans.At(s)) {
				invalid++
			}
		}
	}
	return n, invalid
}

// invalidIDs reports whether a span's trace or span ID is all zeros, which
// the trace API specification calls invalid: such a span can never be found.
func invalidIDs(span ptrace.Span) bool {
	return span.TraceID().IsEmpty() || span.SpanID().IsEmpty()
}

// removeInvalid deletes the spans with invalid IDs from rs, and the scopes
// that held nothing else.
func removeInvalid(rs ptrace.ResourceSpans) {
	rs.ScopeSpans().RemoveIf(func(ss ptrace.ScopeSpans) bool {
		spans := ss.Spans()
		if spans.Len() == 0 {
			return false
		}
		spans.RemoveIf(invalidIDs)
		return spans.Len() == 0
	})
}

// hasDestination reports whether any span of rs carries a destination
// namespace. Only called for resources in an edge namespace.
func hasDestination(rs ptrace.ResourceSpans) bool {
	sss := rs.ScopeSpans()
	for j := 0; j < sss.Len(); j++ {
		spans := sss.At(j).Spans()
		for s := 0; s < spans.Len(); s++ {
			if stringAttr(spans.At(s).Attributes(), meshattr.DestinationNamespace) != "" {
				return true
			}
		}
	}
	return false
}

// hasEmptyOther reports whether a resource without spans belongs to another
// tenant than only; it must not travel with only's request (its resource
// attributes are that tenant's data).
func hasEmptyOther(plan []resourcePlan, only string) bool {
	for i := range plan {
		if plan[i].tenant != only {
			return true
		}
	}
	return false
}
