package tenantlanesexporter

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configauth"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/otlpexporter"
	"go.opentelemetry.io/collector/extension/extensionauth"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"

	"github.com/otelcol-mesh/otelcol-mesh/exporter/tenantlanesexporter/internal/metadatatest"
)

// fakeTempo is an OTLP gRPC trace server on loopback that records the spans
// it receives per x-scope-orgid header, and can hold one tenant's exports
// until released (a throttled tenant whose exports do not finish).
type fakeTempo struct {
	ptraceotlp.UnimplementedGRPCServer
	addr string

	mu      sync.Mutex
	spans   map[string]int // per x-scope-orgid header value
	holding map[string]chan struct{}
	held    map[string]int // exports currently held per tenant
}

func startFakeTempo(t *testing.T) *fakeTempo {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	f := &fakeTempo{addr: lis.Addr().String(), spans: map[string]int{}, holding: map[string]chan struct{}{}, held: map[string]int{}}
	srv := grpc.NewServer()
	ptraceotlp.RegisterGRPCServer(srv, f)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	t.Cleanup(func() {
		f.releaseAll()
		srv.Stop()
		<-done
	})
	return f
}

func (f *fakeTempo) Export(ctx context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	tenant := fmt.Sprint(md.Get("x-scope-orgid"))
	f.mu.Lock()
	hold := f.holding[tenant]
	if hold != nil {
		f.held[tenant]++
	}
	f.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return ptraceotlp.NewExportResponse(), ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if hold != nil {
		f.held[tenant]--
	}
	f.spans[tenant] += req.Traces().SpanCount()
	return ptraceotlp.NewExportResponse(), nil
}

// hold makes the exports of tenant (as "[tenant]", the header's values) wait.
func (f *fakeTempo) hold(header string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.holding[header] = make(chan struct{})
}

func (f *fakeTempo) release(header string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ch := f.holding[header]; ch != nil {
		close(ch)
		delete(f.holding, header)
	}
}

func (f *fakeTempo) releaseAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for h, ch := range f.holding {
		close(ch)
		delete(f.holding, h)
	}
}

func (f *fakeTempo) count(header string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.spans[header]
}

func (f *fakeTempo) heldCount(header string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.held[header]
}

// tenantAuth is a client-auth extension that sends the tenant of the
// request context as the x-scope-orgid header, as tenantheader does.
type tenantAuth struct {
	component.StartFunc
	component.ShutdownFunc
}

var _ extensionauth.GRPCClient = (*tenantAuth)(nil)

func (tenantAuth) PerRPCCredentials() (credentials.PerRPCCredentials, error) {
	return tenantCreds{}, nil
}

type tenantCreds struct{}

func (tenantCreds) GetRequestMetadata(ctx context.Context, _ ...string) (map[string]string, error) {
	return map[string]string{"x-scope-orgid": strings.Join(client.FromContext(ctx).Metadata.Get("x-scope-orgid"), ",")}, nil
}

func (tenantCreds) RequireTransportSecurity() bool { return false }

var authID = component.MustNewID("testauth")

type hostWithAuth struct{ component.Host }

func (hostWithAuth) GetExtensions() map[component.ID]component.Component {
	return map[component.ID]component.Component{authID: tenantAuth{}}
}

// testConfig points every lane at addr with the test auth extension, a queue
// of num_consumers consumers and short retries.
func testConfig(addr string, numConsumers int) *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.Exporter.ClientConfig.Endpoint = addr
	cfg.Exporter.ClientConfig.TLS.Insecure = true
	cfg.Exporter.ClientConfig.Auth = configoptional.Some(configauth.Config{AuthenticatorID: authID})
	q := exporterhelper.NewDefaultQueueConfig()
	q.NumConsumers = numConsumers
	cfg.Exporter.QueueConfig = configoptional.Some(q)
	return cfg
}

func tenantCtx(tenants ...string) context.Context {
	return client.NewContext(context.Background(), client.Info{
		Metadata: client.NewMetadata(map[string][]string{"x-scope-orgid": tenants}),
	})
}

func spans(n int) ptrace.Traces {
	td := ptrace.NewTraces()
	ss := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
	for i := 0; i < n; i++ {
		ss.AppendEmpty().SetName(fmt.Sprintf("span-%d", i))
	}
	return td
}

// newStarted creates the exporter as tenantlanes/tempo on tel and starts it.
func newStarted(t *testing.T, tel *componenttest.Telemetry, cfg *Config) *tenantLanes {
	t.Helper()
	set := metadatatest.NewSettings(tel)
	set.ID = component.MustNewIDWithName("tenantlanes", "tempo")
	exp, err := NewFactory().CreateTraces(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), hostWithAuth{componenttest.NewNopHost()}))
	return exp.(*tenantLanes)
}

func newTelemetry(t *testing.T) *componenttest.Telemetry {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	return tel
}

func laneIDs(e *tenantLanes) []string {
	e.mu.RLock()
	defer e.mu.RUnlock()
	var ids []string
	for _, l := range e.byTenant {
		ids = append(ids, l.id.String())
	}
	sort.Strings(ids)
	if e.overflow != nil {
		ids = append(ids, e.overflow.id.String())
	}
	return ids
}

func TestEachTenantGetsItsOwnLane(t *testing.T) {
	tempo := startFakeTempo(t)
	tel := newTelemetry(t)
	e := newStarted(t, tel, testConfig(tempo.addr, 2))

	require.NoError(t, e.ConsumeTraces(tenantCtx("a"), spans(3)))
	require.NoError(t, e.ConsumeTraces(tenantCtx("b"), spans(5)))
	require.NoError(t, e.ConsumeTraces(tenantCtx("a"), spans(1)))

	assert.Equal(t, []string{"otlp_grpc/tenantlanes_tempo_a", "otlp_grpc/tenantlanes_tempo_b"}, laneIDs(e))
	require.Eventually(t, func() bool { return tempo.count("[a]") == 4 && tempo.count("[b]") == 5 },
		10*time.Second, 10*time.Millisecond, "a=%d b=%d", tempo.count("[a]"), tempo.count("[b]"))
	require.NoError(t, e.Shutdown(context.Background()))
	// Every span arrived under its own tenant, once.
	assert.Equal(t, 4, tempo.count("[a]"))
	assert.Equal(t, 5, tempo.count("[b]"))

	metadatatest.AssertEqualExporterTenantlanesLanesCreated(t, tel, []metricdata.DataPoint[int64]{
		{Value: 2, Attributes: attribute.NewSet(attribute.String("lane_kind", "tenant"))},
	}, metricdatatest.IgnoreTimestamp())
}

// A tenant whose exports never finish holds only its own lane: with one
// consumer per lane, b is delivered while a's export is held.
func TestHeldTenantHoldsOnlyItsLane(t *testing.T) {
	tempo := startFakeTempo(t)
	tel := newTelemetry(t)
	e := newStarted(t, tel, testConfig(tempo.addr, 1))
	tempo.hold("[a]")

	require.NoError(t, e.ConsumeTraces(tenantCtx("a"), spans(2)))
	require.Eventually(t, func() bool { return tempo.heldCount("[a]") == 1 }, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, e.ConsumeTraces(tenantCtx("a"), spans(2))) // queued behind the held one
	require.NoError(t, e.ConsumeTraces(tenantCtx("b"), spans(7)))

	require.Eventually(t, func() bool { return tempo.count("[b]") == 7 }, 10*time.Second, 10*time.Millisecond)
	assert.Equal(t, 1, tempo.heldCount("[a]"), "a's export is still held")
	assert.Zero(t, tempo.count("[a]"))

	tempo.release("[a]")
	require.Eventually(t, func() bool { return tempo.count("[a]") == 4 }, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, e.Shutdown(context.Background()))
}

func TestTenantsBeyondMaxLanesShareTheOverflowLane(t *testing.T) {
	tempo := startFakeTempo(t)
	tel := newTelemetry(t)
	cfg := testConfig(tempo.addr, 2)
	cfg.MaxLanes = 1
	e := newStarted(t, tel, cfg)

	for _, tn := range []string{"a", "b", "c", "b"} {
		require.NoError(t, e.ConsumeTraces(tenantCtx(tn), spans(2)))
	}
	assert.Equal(t, []string{"otlp_grpc/tenantlanes_tempo_a", "otlp_grpc/tenantlanes_tempo__other"}, laneIDs(e))
	// The overflow lane keeps each request's context: the tenant still
	// reaches the server.
	require.Eventually(t, func() bool {
		return tempo.count("[a]") == 2 && tempo.count("[b]") == 4 && tempo.count("[c]") == 2
	}, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, e.Shutdown(context.Background()))

	metadatatest.AssertEqualExporterTenantlanesLanesCreated(t, tel, []metricdata.DataPoint[int64]{
		{Value: 1, Attributes: attribute.NewSet(attribute.String("lane_kind", "tenant"))},
		{Value: 1, Attributes: attribute.NewSet(attribute.String("lane_kind", "overflow"))},
	}, metricdatatest.IgnoreTimestamp())
}

func TestRequestWithoutTenantIsRefusedAndCounted(t *testing.T) {
	tel := newTelemetry(t)
	e := newStarted(t, tel, testConfig("127.0.0.1:1", 1))
	for name, ctx := range map[string]context.Context{
		"no client info":   context.Background(),
		"empty tenant":     tenantCtx(""),
		"two tenants":      tenantCtx("a", "b"),
		"other key only":   client.NewContext(context.Background(), client.Info{Metadata: client.NewMetadata(map[string][]string{"tenant": {"a"}})}),
		"empty value list": tenantCtx(),
	} {
		err := e.ConsumeTraces(ctx, spans(1))
		require.Error(t, err, name)
		assert.True(t, consumererror.IsPermanent(err), name)
		assert.ErrorContains(t, err, `"x-scope-orgid"`, name)
	}
	assert.Empty(t, laneIDs(e), "no lane for a refused request")
	require.NoError(t, e.Shutdown(context.Background()))

	metadatatest.AssertEqualExporterTenantlanesRequestsRefused(t, tel, []metricdata.DataPoint[int64]{
		{Value: 4, Attributes: attribute.NewSet(attribute.String("reason", "no_tenant"))},
		{Value: 1, Attributes: attribute.NewSet(attribute.String("reason", "multiple_tenants"))},
	}, metricdatatest.IgnoreTimestamp())
}

func TestNoLaneBeforeStartOrAfterShutdown(t *testing.T) {
	tel := newTelemetry(t)
	set := metadatatest.NewSettings(tel)
	exp, err := NewFactory().CreateTraces(context.Background(), set, testConfig("127.0.0.1:1", 1))
	require.NoError(t, err)
	e := exp.(*tenantLanes)

	assert.ErrorIs(t, e.ConsumeTraces(tenantCtx("a"), spans(1)), errNotStarted)
	require.NoError(t, e.Start(context.Background(), hostWithAuth{componenttest.NewNopHost()}))
	require.NoError(t, e.ConsumeTraces(tenantCtx("a"), spans(1)))
	require.NoError(t, e.Shutdown(context.Background()))
	assert.ErrorIs(t, e.ConsumeTraces(tenantCtx("b"), spans(1)), errShutDown)
	assert.ErrorIs(t, e.ConsumeTraces(tenantCtx("a"), spans(1)), errShutDown, "a's lane is gone too")
	assert.Empty(t, laneIDs(e))
}

// Shutdown drains every lane's queue, as the otlp_grpc exporter does on its
// own; goleak (TestMain) checks that no lane's goroutines survive it.
func TestShutdownDrainsEveryLane(t *testing.T) {
	tempo := startFakeTempo(t)
	tel := newTelemetry(t)
	e := newStarted(t, tel, testConfig(tempo.addr, 1))
	tempo.hold("[a]")
	tempo.hold("[b]")
	for _, tn := range []string{"a", "b", "c"} {
		require.NoError(t, e.ConsumeTraces(tenantCtx(tn), spans(3)))
		require.NoError(t, e.ConsumeTraces(tenantCtx(tn), spans(3)))
	}
	require.Eventually(t, func() bool { return tempo.heldCount("[a]") == 1 && tempo.heldCount("[b]") == 1 },
		10*time.Second, 10*time.Millisecond)

	done := make(chan error, 1)
	go func() { done <- e.Shutdown(context.Background()) }()
	tempo.release("[a]")
	tempo.release("[b]")
	require.NoError(t, <-done)
	for _, h := range []string{"[a]", "[b]", "[c]"} {
		assert.Equal(t, 6, tempo.count(h), h)
	}
}

func TestLaneThatCannotStartIsNotKept(t *testing.T) {
	tel := newTelemetry(t)
	cfg := testConfig("127.0.0.1:1", 1)
	cfg.Exporter.ClientConfig.Auth = configoptional.Some(configauth.Config{AuthenticatorID: component.MustNewID("missing")})
	e := newStarted(t, tel, cfg)

	err := e.ConsumeTraces(tenantCtx("a"), spans(1))
	require.Error(t, err)
	assert.True(t, consumererror.IsPermanent(err))
	assert.ErrorContains(t, err, "otlp_grpc/tenantlanes_tempo_a")
	assert.Empty(t, laneIDs(e))
	require.NoError(t, e.Shutdown(context.Background()))
}

func TestLaneNamesAreValidAndDistinct(t *testing.T) {
	tel := newTelemetry(t)
	e := newStarted(t, tel, testConfig("127.0.0.1:1", 1))
	tenants := []string{"team/a b", "team_a_b", "_other", "ünïcode", "x$y"}
	for _, tn := range tenants {
		_, err := e.laneFor(context.Background(), tn)
		require.NoError(t, err, tn)
	}
	ids := map[string]string{}
	e.mu.RLock()
	for tn, l := range e.byTenant {
		ids[tn] = l.id.String()
	}
	e.mu.RUnlock()
	assert.Equal(t, map[string]string{
		"team/a b": "otlp_grpc/tenantlanes_tempo_team_a_b",
		"team_a_b": "otlp_grpc/tenantlanes_tempo_team_a_b_2",
		"_other":   "otlp_grpc/tenantlanes_tempo__other_2",  // _other is the overflow lane's
		"ünïcode":  "otlp_grpc/tenantlanes_tempo___n__code", // two bytes each for ü and ï,
		"x$y":      "otlp_grpc/tenantlanes_tempo_x_y",
	}, ids)
	for _, s := range ids {
		var id component.ID
		assert.NoError(t, id.UnmarshalText([]byte(s)), s)
	}
	require.NoError(t, e.Shutdown(context.Background()))
}

// Many goroutines, many tenants: one lane per tenant, every span delivered
// under its tenant (run with -race).
func TestConcurrentTenants(t *testing.T) {
	tempo := startFakeTempo(t)
	tel := newTelemetry(t)
	e := newStarted(t, tel, testConfig(tempo.addr, 2))
	const tenants, goroutines, perGoroutine = 6, 8, 30
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Go(func() {
			for i := 0; i < perGoroutine; i++ {
				tn := fmt.Sprintf("t%d", (g+i)%tenants)
				assert.NoError(t, e.ConsumeTraces(tenantCtx(tn), spans(1)))
			}
		})
	}
	wg.Wait()
	require.NoError(t, e.Shutdown(context.Background()))
	assert.Len(t, laneIDs(e), 0, "Shutdown forgets the lanes")
	total := 0
	for i := 0; i < tenants; i++ {
		total += tempo.count(fmt.Sprintf("[t%d]", i))
	}
	assert.Equal(t, goroutines*perGoroutine, total)
	metadatatest.AssertEqualExporterTenantlanesLanesCreated(t, tel, []metricdata.DataPoint[int64]{
		{Value: tenants, Attributes: attribute.NewSet(attribute.String("lane_kind", "tenant"))},
	}, metricdatatest.IgnoreTimestamp())
}

// fakeLanes makes the lanes of a test: exporters that count the spans they
// get, and whose Start blocks for the lane named slow until release is
// closed.
type fakeLanes struct {
	slow    string
	release chan struct{}

	mu       sync.Mutex
	starting map[string]bool
	spans    map[string]int
	shutdown map[string]bool
}

func newFakeLanes(slow string) *fakeLanes {
	return &fakeLanes{slow: slow, release: make(chan struct{}),
		starting: map[string]bool{}, spans: map[string]int{}, shutdown: map[string]bool{}}
}

func (f *fakeLanes) factory() exporter.Factory {
	return exporter.NewFactory(component.MustNewType("otlp_grpc"),
		func() component.Config { return &otlpexporter.Config{} },
		exporter.WithTraces(func(_ context.Context, set exporter.Settings, _ component.Config) (exporter.Traces, error) {
			return &fakeLane{f: f, id: set.ID.String()}, nil
		}, component.StabilityLevelAlpha))
}

func (f *fakeLanes) isStarting(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.starting[id]
}

type fakeLane struct {
	f  *fakeLanes
	id string
}

func (l *fakeLane) Start(context.Context, component.Host) error {
	l.f.mu.Lock()
	l.f.starting[l.id] = true
	l.f.mu.Unlock()
	if l.id == l.f.slow {
		<-l.f.release
	}
	return nil
}

func (l *fakeLane) Shutdown(context.Context) error {
	l.f.mu.Lock()
	defer l.f.mu.Unlock()
	l.f.shutdown[l.id] = true
	return nil
}

func (*fakeLane) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (l *fakeLane) ConsumeTraces(_ context.Context, td ptrace.Traces) error {
	l.f.mu.Lock()
	defer l.f.mu.Unlock()
	l.f.spans[l.id] += td.SpanCount()
	return nil
}

// startingSlowLane starts the exporter with fake lanes and sends tenant
// "slow" one span, returning once that tenant's lane is in its blocked
// Start; slowDone gets the request's result.
func startingSlowLane(t *testing.T) (e *tenantLanes, f *fakeLanes, slowDone chan error) {
	t.Helper()
	e = newStarted(t, newTelemetry(t), testConfig("127.0.0.1:1", 1))
	f = newFakeLanes("otlp_grpc/tenantlanes_tempo_slow")
	e.factory = f.factory()
	slowDone = make(chan error, 1)
	go func() { slowDone <- e.ConsumeTraces(tenantCtx("slow"), spans(1)) }()
	require.Eventually(t, func() bool { return f.isStarting(f.slow) }, 5*time.Second, time.Millisecond)
	return e, f, slowDone
}

// returnsWithin runs f and fails the test when it has not returned after d.
func returnsWithin(t *testing.T, d time.Duration, what string, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		t.Fatalf("%s: still waiting after %s", what, d)
		return nil
	}
}

// A lane slow to start (an extension it waits on) holds up only its own
// tenant: other tenants, with a lane or a new one, go on meanwhile; another
// request of that tenant waits for the lane, or for its own deadline.
func TestSlowLaneStartHoldsOnlyItsTenant(t *testing.T) {
	tel := newTelemetry(t)
	e := newStarted(t, tel, testConfig("127.0.0.1:1", 1))
	f := newFakeLanes("otlp_grpc/tenantlanes_tempo_slow")
	e.factory = f.factory()
	released := false
	release := func() {
		if !released {
			released = true
			close(f.release)
		}
	}
	t.Cleanup(release)

	require.NoError(t, e.ConsumeTraces(tenantCtx("a"), spans(1)))
	slowDone := make(chan error, 1)
	go func() { slowDone <- e.ConsumeTraces(tenantCtx("slow"), spans(2)) }()
	require.Eventually(t, func() bool { return f.isStarting(f.slow) }, 5*time.Second, time.Millisecond)

	require.NoError(t, returnsWithin(t, 5*time.Second, "tenant a, whose lane exists", func() error {
		return e.ConsumeTraces(tenantCtx("a"), spans(1))
	}))
	require.NoError(t, returnsWithin(t, 5*time.Second, "tenant b, whose lane is new", func() error {
		return e.ConsumeTraces(tenantCtx("b"), spans(1))
	}))
	ctx, cancel := context.WithTimeout(tenantCtx("slow"), 20*time.Millisecond)
	defer cancel()
	err := e.ConsumeTraces(ctx, spans(1))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.False(t, consumererror.IsPermanent(err), "the sender may retry once the lane is up")
	select {
	case err := <-slowDone:
		t.Fatalf("the slow tenant's request returned (%v) before its lane started", err)
	default:
	}

	release()
	require.NoError(t, <-slowDone)
	require.NoError(t, e.Shutdown(context.Background()))
	f.mu.Lock()
	defer f.mu.Unlock()
	assert.Equal(t, map[string]int{
		"otlp_grpc/tenantlanes_tempo_a":    2,
		"otlp_grpc/tenantlanes_tempo_b":    1,
		"otlp_grpc/tenantlanes_tempo_slow": 2,
	}, f.spans)
	assert.Len(t, f.shutdown, 3, "every lane shut down")
}

// Shutdown while a lane is starting waits for it and shuts it down too.
func TestShutdownWaitsForAStartingLane(t *testing.T) {
	e, f, slowDone := startingSlowLane(t)
	shutDone := make(chan error, 1)
	go func() { shutDone <- e.Shutdown(context.Background()) }()
	// Shutdown has marked the exporter closed once a new tenant is refused.
	require.Eventually(t, func() bool {
		return errors.Is(e.ConsumeTraces(tenantCtx("late"), spans(1)), errShutDown)
	}, 5*time.Second, time.Millisecond)
	select {
	case err := <-shutDone:
		t.Fatalf("Shutdown returned (%v) while a lane was still starting", err)
	default:
	}

	close(f.release)
	require.NoError(t, <-shutDone)
	require.NoError(t, <-slowDone, "the request that started the lane was passed to it")
	f.mu.Lock()
	defer f.mu.Unlock()
	assert.True(t, f.shutdown[f.slow])
	assert.Equal(t, 1, f.spans[f.slow])
}

// Shutdown's deadline bounds its wait for a lane still starting; the lane is
// shut down when it does start.
func TestShutdownGivesUpOnALaneStillStartingAtItsDeadline(t *testing.T) {
	e, f, slowDone := startingSlowLane(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err := e.Shutdown(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorContains(t, err, "otlp_grpc/tenantlanes_tempo_slow: still starting")

	close(f.release)
	require.NoError(t, <-slowDone)
	require.Eventually(t, func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.shutdown[f.slow]
	}, 5*time.Second, time.Millisecond, "the lane is shut down once it has started")
}
