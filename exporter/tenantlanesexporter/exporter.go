package tenantlanesexporter // import "github.com/otelcol-mesh/otelcol-mesh/exporter/tenantlanesexporter"

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/otlpexporter"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otelcol-mesh/otelcol-mesh/exporter/tenantlanesexporter/internal/metadata"
	"github.com/otelcol-mesh/otelcol-mesh/internal/meshattr"
)

// refusal is why a request carries no usable tenant.
type refusal int

const (
	ok              = refusal(meshattr.TenantFound)
	noTenant        = refusal(meshattr.NoTenant)
	multipleTenants = refusal(meshattr.MultipleTenants)
	numRefusals     = multipleTenants + 1
)

var refusalReasons = [numRefusals]string{"", "no_tenant", "multiple_tenants"}

const (
	laneKindTenant   = "tenant"
	laneKindOverflow = "overflow"
	// overflowName is the lane of the tenants beyond max_lanes; it ends
	// every lane ID's name after the "<type>_<name>_" prefix.
	overflowName = "_other"
	// maxTenantNameLen bounds the part of a lane's ID taken from the tenant.
	maxTenantNameLen = 128
)

var (
	errNotStarted = errors.New("tenantlanes: exporter not started")
	errShutDown   = errors.New("tenantlanes: exporter shut down")
)

// lane is one otlp_grpc exporter instance with its own sending queue and
// consumers, for one tenant (or the overflow lane's tenants).
type lane struct {
	id component.ID
	// ready is closed once the lane is started (exp set) or failed to
	// start (err set); neither field changes after that.
	ready chan struct{}
	exp   exporter.Traces
	err   error
}

// wait returns once the lane is ready, or ctx is done first.
func (l *lane) wait(ctx context.Context) error {
	// A ready lane wins even over a done ctx, which the select below would
	// pick between at random.
	select {
	case <-l.ready:
		return l.err
	default:
	}
	select {
	case <-l.ready:
		return l.err
	case <-ctx.Done():
		return fmt.Errorf("tenantlanes: waiting for lane %s to start: %w", l.id, context.Cause(ctx))
	}
}

// tenantLanes hands each request to its tenant's lane.
type tenantLanes struct {
	set         exporter.Settings
	laneCfg     otlpexporter.Config
	factory     exporter.Factory
	metadataKey string
	maxLanes    int
	// namePrefix is "<type>_<name>_" of this exporter's ID: lane IDs are
	// otlp_grpc/<namePrefix><tenant>.
	namePrefix string

	telemetry       *metadata.TelemetryBuilder
	refused         [numRefusals]metric.AddOption
	createdTenant   metric.AddOption
	createdOverflow metric.AddOption

	mu       sync.RWMutex
	host     component.Host // nil until Start
	closed   bool
	byTenant map[string]*lane // at most maxLanes entries, started or starting
	overflow *lane            // created when the first tenant beyond maxLanes arrives
	names    map[string]bool  // lane ID names in use
}

var _ exporter.Traces = (*tenantLanes)(nil)

func newLanes(set exporter.Settings, cfg *Config) (*tenantLanes, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	prefix := set.ID.Type().String() + "_"
	if name := set.ID.Name(); name != "" {
		prefix += sanitize(name) + "_"
	}
	e := &tenantLanes{
		set:             set,
		laneCfg:         cfg.Exporter,
		factory:         otlpexporter.NewFactory(),
		metadataKey:     cfg.MetadataKey,
		maxLanes:        cfg.MaxLanes,
		namePrefix:      prefix,
		telemetry:       tb,
		createdTenant:   metric.WithAttributeSet(attribute.NewSet(attribute.String("lane_kind", laneKindTenant))),
		createdOverflow: metric.WithAttributeSet(attribute.NewSet(attribute.String("lane_kind", laneKindOverflow))),
		byTenant:        map[string]*lane{},
		names:           map[string]bool{prefix + overflowName: true},
	}
	for r := noTenant; r < numRefusals; r++ {
		e.refused[r] = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", refusalReasons[r])))
	}
	return e, nil
}

// Start saves the host: lanes are created on first use and started with it,
// so that they find their auth extension.
func (e *tenantLanes) Start(_ context.Context, host component.Host) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.host = host
	return nil
}

// Shutdown shuts every lane down at once (each drains its queue as the
// otlp_grpc exporter does) and refuses new lanes from then on.
func (e *tenantLanes) Shutdown(ctx context.Context) error {
	e.mu.Lock()
	e.closed = true
	all := make([]*lane, 0, len(e.byTenant)+1)
	for _, l := range e.byTenant {
		all = append(all, l)
	}
	if e.overflow != nil {
		all = append(all, e.overflow)
	}
	e.byTenant = map[string]*lane{}
	e.overflow = nil
	e.mu.Unlock()

	errs := make([]error, len(all))
	var wg sync.WaitGroup
	for i, l := range all {
		wg.Go(func() {
			// A lane still starting is shut down once it has started,
			// unless Shutdown's own deadline comes first.
			select {
			case <-l.ready:
			case <-ctx.Done():
				errs[i] = fmt.Errorf("lane %s: still starting: %w", l.id, context.Cause(ctx))
				// It is shut down whenever it does start: the stuck
				// Start holds a goroutine anyway, and this one ends with it.
				go func() {
					<-l.ready
					if l.err == nil {
						_ = l.exp.Shutdown(context.Background())
					}
				}()
				return
			}
			if l.err != nil {
				return
			}
			if err := l.exp.Shutdown(ctx); err != nil {
				errs[i] = fmt.Errorf("lane %s: %w", l.id, err)
			}
		})
	}
	wg.Wait()
	e.telemetry.Shutdown()
	return errors.Join(errs...)
}

func (e *tenantLanes) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: false}
}

// ConsumeTraces passes td, with the same context (the tenant must stay in
// it for the auth extension), to the lane of the request's tenant.
func (e *tenantLanes) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	tenant, r := e.tenant(ctx)
	if r != ok {
		e.telemetry.ExporterTenantlanesRequestsRefused.Add(ctx, 1, e.refused[r])
		return consumererror.NewPermanent(fmt.Errorf("tenantlanes: %s in client metadata key %q, refusing the request", refusalReasons[r], e.metadataKey))
	}
	l, err := e.laneFor(ctx, tenant)
	if err != nil {
		return err
	}
	return l.exp.ConsumeTraces(ctx, td)
}

// tenant returns the single non-empty tenant of ctx's client metadata.
func (e *tenantLanes) tenant(ctx context.Context) (string, refusal) {
	tenant, r := meshattr.TenantFromMetadata(client.FromContext(ctx).Metadata, e.metadataKey)
	return tenant, refusal(r)
}

// laneFor returns the tenant's lane, creating it on first use. A lane is
// built and started outside e.mu, so that a lane slow to start (its
// storage or auth extension) holds up only its own tenant's requests.
func (e *tenantLanes) laneFor(ctx context.Context, tenant string) (*lane, error) {
	e.mu.RLock()
	l := e.byTenant[tenant]
	if l == nil && len(e.byTenant) >= e.maxLanes {
		l = e.overflow
	}
	e.mu.RUnlock()
	if l == nil {
		var reserved, overflow bool
		var err error
		if l, reserved, overflow, err = e.reserve(tenant); err != nil {
			return nil, err
		}
		if reserved {
			e.start(ctx, l, tenant, overflow)
		}
	}
	if err := l.wait(ctx); err != nil {
		return nil, err
	}
	return l, nil
}

// reserve returns the tenant's lane (or the overflow lane), reserving a new
// one, not yet started, when there is none: reserved says so, overflow
// whether it is the overflow lane.
func (e *tenantLanes) reserve(tenant string) (l *lane, reserved, overflow bool, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case e.closed:
		return nil, false, false, errShutDown
	case e.host == nil:
		return nil, false, false, errNotStarted
	}
	if l := e.byTenant[tenant]; l != nil {
		return l, false, false, nil
	}
	overflow = len(e.byTenant) >= e.maxLanes
	if overflow && e.overflow != nil {
		return e.overflow, false, true, nil
	}
	name := e.namePrefix + overflowName
	if !overflow {
		name = e.uniqueName(tenant)
	}
	l = &lane{id: component.NewIDWithName(e.factory.Type(), name), ready: make(chan struct{})}
	e.names[name] = true
	if overflow {
		e.overflow = l
	} else {
		e.byTenant[tenant] = l
	}
	return l, true, overflow, nil
}

// start starts a reserved lane and marks it ready. A lane that fails to
// start is forgotten, so that the tenant's next request tries again.
func (e *tenantLanes) start(ctx context.Context, l *lane, tenant string, overflow bool) {
	e.mu.RLock()
	host := e.host
	e.mu.RUnlock()
	l.exp, l.err = e.startLane(ctx, host, l.id, tenant)
	if l.err != nil {
		e.mu.Lock()
		if overflow && e.overflow == l {
			e.overflow = nil
		} else if !overflow && e.byTenant[tenant] == l {
			delete(e.byTenant, tenant)
		}
		delete(e.names, l.id.Name())
		e.mu.Unlock()
		close(l.ready)
		return
	}
	close(l.ready)
	if overflow {
		e.telemetry.ExporterTenantlanesLanesCreated.Add(ctx, 1, e.createdOverflow)
		e.set.Logger.Warn("max_lanes reached: tenants without a lane share the overflow lane",
			zap.Int("max_lanes", e.maxLanes), zap.String("lane", l.id.String()), zap.String("first_tenant", tenant))
		return
	}
	e.telemetry.ExporterTenantlanesLanesCreated.Add(ctx, 1, e.createdTenant)
	e.set.Logger.Info("Lane created", zap.String("tenant", tenant), zap.String("lane", l.id.String()))
}

// startLane builds and starts the otlp_grpc exporter id.
func (e *tenantLanes) startLane(ctx context.Context, host component.Host, id component.ID, tenant string) (exporter.Traces, error) {
	set := exporter.Settings{
		ID:                id,
		TelemetrySettings: e.set.TelemetrySettings,
		BuildInfo:         e.set.BuildInfo,
	}
	set.Logger = e.set.Logger.With(zap.String("lane", id.String()))
	cfg := e.laneCfg // each lane gets its own copy of the top-level struct
	// The lane outlives the request that created it.
	startCtx := context.WithoutCancel(ctx)
	exp, err := e.factory.CreateTraces(startCtx, set, &cfg)
	if err != nil {
		return nil, consumererror.NewPermanent(fmt.Errorf("tenantlanes: creating lane %s for tenant %q: %w", id, tenant, err))
	}
	if err := exp.Start(startCtx, host); err != nil {
		return nil, consumererror.NewPermanent(errors.Join(
			fmt.Errorf("tenantlanes: starting lane %s for tenant %q: %w", id, tenant, err),
			exp.Shutdown(startCtx)))
	}
	return exp, nil
}

// uniqueName is the lane ID name for tenant: the prefix and the tenant with
// every character a component name cannot hold (or a metric label would
// make hard to read) replaced by '_', with a numeric suffix when two
// tenants sanitize to the same name. Called with e.mu held.
func (e *tenantLanes) uniqueName(tenant string) string {
	base := e.namePrefix + sanitize(tenant)
	name := base
	for n := 2; e.names[name]; n++ {
		name = base + "_" + strconv.Itoa(n)
	}
	return name
}

// sanitize keeps ASCII letters, digits, '-', '.' and '_' and replaces every
// other byte with '_', truncated to maxTenantNameLen bytes.
func sanitize(s string) string {
	if len(s) > maxTenantNameLen {
		s = s[:maxTenantNameLen]
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '.', c == '_':
			b.WriteByte(c)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}
