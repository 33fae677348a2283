// Package temposink is a test double for the Grafana Tempo distributor with
// multi-tenancy enabled. It speaks OTLP over gRPC and HTTP, records every
// request under its X-Scope-OrgID header, and rejects a request that carries
// no tenant the way Tempo does (gRPC Unauthenticated / HTTP 401). Its gRPC
// server keeps grpc-go's default 4 MiB receive limit, as Tempo's distributor
// does, so an export that is too large fails here as it would in production.
//
// It exists because a real Tempo cannot run on the build machines; everything
// else in the end-to-end tests is the real thing.
package temposink

import (
	"compress/gzip"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	// configgrpc registers the zstd and snappy gRPC codecs, as it does in
	// Tempo's distributor (its OTLP receiver is the collector's).
	_ "go.opentelemetry.io/collector/config/configgrpc"
	_ "google.golang.org/grpc/encoding/gzip" // the otlp_grpc exporter compresses with gzip by default
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/otelcol-mesh/otelcol-mesh/internal/spanwalk"
)

// TenantHeader is the header Tempo reads the tenant from.
const TenantHeader = "X-Scope-OrgID"

// grpcTenantKey is TenantHeader as it arrives in gRPC metadata (lower case).
var grpcTenantKey = strings.ToLower(TenantHeader)

// Config says where the sink listens and what it keeps.
type Config struct {
	// GRPCAddr and HTTPAddr are listen addresses; "127.0.0.1:0" picks a free
	// port. An empty address disables that protocol.
	GRPCAddr string
	HTTPAddr string
	// TLS, when set, serves both protocols over TLS with this config (set
	// ClientAuth to require client certificates for mTLS).
	TLS *tls.Config
	// CountOnly keeps span counts but not the spans themselves, for load tests.
	CountOnly bool
}

// Fault lets a test make the sink answer like a struggling Tempo. It is called
// for every authenticated request; a non-nil error is returned to the sender
// instead of accepting the data. Use status.Error with a gRPC code; the HTTP
// side maps the code to the matching HTTP status.
type Fault func(tenant string, spans int) error

// Stats is a snapshot of what the sink has seen.
type Stats struct {
	// Requests counts every export request that reached a handler.
	Requests int
	// Unauthenticated counts requests rejected for carrying no tenant.
	Unauthenticated int
	// Faulted counts requests answered with an injected fault.
	Faulted int
	// Spans counts accepted spans per tenant.
	Spans map[string]int
}

// Sink is a running Tempo stand-in. All methods are safe for concurrent use.
type Sink struct {
	cfg Config
	// grpcAddr and httpAddr are the resolved listen addresses, fixed at
	// Start so that Up serves again where the sink was before Down.
	grpcAddr string
	httpAddr string

	mu     sync.Mutex
	stats  Stats
	traces map[string][]ptrace.Traces
	times  map[string][]time.Time // arrival of each entry of traces
	fault  Fault
	delay  time.Duration

	// lifeMu serialises Stop/Down/Up; it guards the servers below.
	lifeMu     sync.Mutex
	grpcServer *grpc.Server
	httpServer *http.Server
	serveWG    sync.WaitGroup
}

// Start listens on the configured addresses and serves until Stop.
func Start(cfg Config) (*Sink, error) {
	s := &Sink{cfg: cfg, grpcAddr: cfg.GRPCAddr, httpAddr: cfg.HTTPAddr,
		traces: map[string][]ptrace.Traces{}, times: map[string][]time.Time{}, stats: Stats{Spans: map[string]int{}}}
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	if err := s.serveLocked(); err != nil {
		return nil, err
	}
	return s, nil
}

// serveLocked opens the listeners on s.grpcAddr/s.httpAddr (recording the
// resolved addresses) and starts the servers. Callers hold lifeMu.
func (s *Sink) serveLocked() error {
	if s.grpcAddr != "" {
		lis, err := net.Listen("tcp", s.grpcAddr)
		if err != nil {
			return fmt.Errorf("temposink: grpc listen: %w", err)
		}
		s.grpcAddr = lis.Addr().String()
		var opts []grpc.ServerOption
		if s.cfg.TLS != nil {
			opts = append(opts, grpc.Creds(credentials.NewTLS(s.cfg.TLS)))
		}
		// No MaxRecvMsgSize option: grpc-go's default 4 MiB is the point.
		srv := grpc.NewServer(opts...)
		ptraceotlp.RegisterGRPCServer(srv, &grpcTraces{sink: s})
		s.grpcServer = srv
		s.serveWG.Add(1)
		go func() {
			defer s.serveWG.Done()
			_ = srv.Serve(lis)
		}()
	}
	if s.httpAddr != "" {
		lis, err := net.Listen("tcp", s.httpAddr)
		if err != nil {
			s.stopLocked()
			return fmt.Errorf("temposink: http listen: %w", err)
		}
		s.httpAddr = lis.Addr().String()
		if s.cfg.TLS != nil {
			lis = tls.NewListener(lis, s.cfg.TLS)
		}
		mux := http.NewServeMux()
		mux.HandleFunc("/v1/traces", s.handleHTTP)
		srv := &http.Server{Handler: mux}
		s.httpServer = srv
		s.serveWG.Add(1)
		go func() {
			defer s.serveWG.Done()
			_ = srv.Serve(lis)
		}()
	}
	return nil
}

// GRPCAddr is the address the gRPC server listens on ("" if disabled). It
// stays the same across Down and Up.
func (s *Sink) GRPCAddr() string { return s.grpcAddr }

// HTTPAddr is the address the HTTP server listens on ("" if disabled). It
// stays the same across Down and Up.
func (s *Sink) HTTPAddr() string { return s.httpAddr }

// Stop closes both servers at once, as a crashed or redeployed Tempo would
// vanish, and waits for their goroutines to end. Calling it again, or after
// Down, is harmless.
func (s *Sink) Stop() {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	s.stopLocked()
}

func (s *Sink) stopLocked() {
	if s.grpcServer != nil {
		s.grpcServer.Stop()
		s.grpcServer = nil
	}
	if s.httpServer != nil {
		_ = s.httpServer.Close()
		s.httpServer = nil
	}
	s.serveWG.Wait()
}

// Down takes the sink off the network like a Tempo outage: it stops
// accepting connections and requests at once, lets the requests already in
// a handler finish and answer (so that nothing is recorded without its
// sender hearing so, which would make a retry a duplicate), then closes
// every connection. What was recorded is kept. Up brings it back on the
// same addresses. In-flight requests get at most downDrain to finish.
func (s *Sink) Down() {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), downDrain)
	defer cancel()
	var wg sync.WaitGroup
	if srv := s.grpcServer; srv != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			done := make(chan struct{})
			go func() { srv.GracefulStop(); close(done) }()
			select {
			case <-done:
			case <-ctx.Done():
				srv.Stop()
				<-done
			}
		}()
	}
	if srv := s.httpServer; srv != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if srv.Shutdown(ctx) != nil {
				_ = srv.Close()
			}
		}()
	}
	wg.Wait()
	s.stopLocked()
}

// downDrain bounds how long Down waits for in-flight requests.
const downDrain = 5 * time.Second

// Up serves again on the addresses the sink had before Down, keeping the
// recorded data and counters. It fails if a port was taken in the meantime.
func (s *Sink) Up() error {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	if s.grpcServer != nil || s.httpServer != nil {
		return errors.New("temposink: Up while already serving")
	}
	return s.serveLocked()
}

// SetDelay makes the sink wait d before answering each request, like an
// overloaded Tempo (0 removes the delay). A sender that gives up earlier
// sees its deadline expire; the data is then not recorded.
func (s *Sink) SetDelay(d time.Duration) {
	s.mu.Lock()
	s.delay = d
	s.mu.Unlock()
}

// wait applies the configured delay, returning early with the context's
// error when the sender gives up.
func (s *Sink) wait(ctx context.Context) error {
	s.mu.Lock()
	d := s.delay
	s.mu.Unlock()
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// SetFault installs (or, with nil, removes) an injected failure.
func (s *Sink) SetFault(f Fault) {
	s.mu.Lock()
	s.fault = f
	s.mu.Unlock()
}

// Stats returns a copy of the counters.
func (s *Sink) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.stats
	out.Spans = make(map[string]int, len(s.stats.Spans))
	for k, v := range s.stats.Spans {
		out.Spans[k] = v
	}
	return out
}

// Tenants lists the tenants that have data, sorted.
func (s *Sink) Tenants() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.stats.Spans))
	for k := range s.stats.Spans {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Traces returns the requests received for a tenant (nil with CountOnly).
// The returned data must not be modified.
func (s *Sink) Traces(tenant string) []ptrace.Traces {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ptrace.Traces(nil), s.traces[tenant]...)
}

// Arrival is one accepted request and when the sink accepted it.
type Arrival struct {
	At     time.Time
	Traces ptrace.Traces
}

// Arrivals returns the requests received for a tenant with their arrival
// times, in arrival order (nil with CountOnly). The data must not be modified.
func (s *Sink) Arrivals(tenant string) []Arrival {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Arrival, len(s.traces[tenant]))
	for i, td := range s.traces[tenant] {
		out[i] = Arrival{At: s.times[tenant][i], Traces: td}
	}
	return out
}

// ThrottleTenant returns a Fault that answers every request of tenant with
// gRPC RESOURCE_EXHAUSTED (HTTP 429) until the given time, like Tempo's
// per-tenant ingestion limit, and accepts everything else. retryAfter > 0
// attaches a RetryInfo with that delay (the otlp_grpc exporter retries
// RESOURCE_EXHAUSTED only when it carries one).
func ThrottleTenant(tenant string, until time.Time, retryAfter time.Duration) Fault {
	st := status.New(codes.ResourceExhausted, "RATE_LIMITED: ingestion rate limit exceeded for tenant "+tenant)
	if retryAfter > 0 {
		if d, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(retryAfter)}); err == nil {
			st = d
		}
	}
	err := st.Err()
	return func(t string, _ int) error {
		if t == tenant && time.Now().Before(until) {
			return err
		}
		return nil
	}
}

// SpanCount is the number of spans accepted for a tenant.
func (s *Sink) SpanCount(tenant string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats.Spans[tenant]
}

// SpanIDCounts counts the accepted spans of a tenant by span ID, so a test
// can check that every span arrived exactly once (nil with CountOnly).
func (s *Sink) SpanIDCounts(tenant string) map[pcommon.SpanID]int {
	if s.cfg.CountOnly {
		return nil
	}
	out := map[pcommon.SpanID]int{}
	for _, td := range s.Traces(tenant) {
		spanwalk.Each(td, func(sp ptrace.Span) { out[sp.SpanID()]++ })
	}
	return out
}

// errNoTenant is Tempo's answer to a push without X-Scope-OrgID.
var errNoTenant = errors.New("no org id")

// accept records one authenticated request, or returns the injected fault.
func (s *Sink) accept(tenant string, td ptrace.Traces) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Requests++
	if tenant == "" {
		s.stats.Unauthenticated++
		return errNoTenant
	}
	spans := td.SpanCount()
	if s.fault != nil {
		if err := s.fault(tenant, spans); err != nil {
			s.stats.Faulted++
			return err
		}
	}
	s.stats.Spans[tenant] += spans
	if !s.cfg.CountOnly {
		s.traces[tenant] = append(s.traces[tenant], td)
		s.times[tenant] = append(s.times[tenant], time.Now())
	}
	return nil
}

type grpcTraces struct {
	ptraceotlp.UnimplementedGRPCServer
	sink *Sink
}

func (g *grpcTraces) Export(ctx context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	tenant := ""
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if vals := md.Get(grpcTenantKey); len(vals) == 1 {
			tenant = vals[0]
		}
	}
	if err := g.sink.wait(ctx); err != nil {
		return ptraceotlp.NewExportResponse(), status.FromContextError(err).Err()
	}
	if err := g.sink.accept(tenant, req.Traces()); err != nil {
		if errors.Is(err, errNoTenant) {
			return ptraceotlp.NewExportResponse(), status.Error(codes.Unauthenticated, err.Error())
		}
		return ptraceotlp.NewExportResponse(), err
	}
	return ptraceotlp.NewExportResponse(), nil
}

// maxHTTPBody bounds what the HTTP handler reads, mirroring the gRPC limit.
const maxHTTPBody = 4 << 20

func (s *Sink) handleHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		gz, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, "bad gzip: "+err.Error(), http.StatusBadRequest)
			return
		}
		defer gz.Close()
		body = gz
	}
	raw, err := io.ReadAll(io.LimitReader(body, maxHTTPBody+1))
	if err != nil {
		http.Error(w, "read: "+err.Error(), http.StatusBadRequest)
		return
	}
	if len(raw) > maxHTTPBody {
		http.Error(w, "request larger than 4 MiB", http.StatusRequestEntityTooLarge)
		return
	}
	req := ptraceotlp.NewExportRequest()
	contentType := r.Header.Get("Content-Type")
	if strings.HasPrefix(contentType, "application/json") {
		err = req.UnmarshalJSON(raw)
	} else {
		err = req.UnmarshalProto(raw)
	}
	if err != nil {
		http.Error(w, "decode: "+err.Error(), http.StatusBadRequest)
		return
	}
	tenants := r.Header.Values(TenantHeader)
	tenant := ""
	if len(tenants) == 1 {
		tenant = tenants[0]
	}
	if err := s.wait(r.Context()); err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	if err := s.accept(tenant, req.Traces()); err != nil {
		http.Error(w, err.Error(), httpStatusFor(err))
		return
	}
	resp := ptraceotlp.NewExportResponse()
	var out []byte
	if strings.HasPrefix(contentType, "application/json") {
		out, err = resp.MarshalJSON()
	} else {
		out, err = resp.MarshalProto()
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", contentType)
	_, _ = w.Write(out)
}

// httpStatusFor maps the sink's errors to what Tempo's HTTP receiver answers.
func httpStatusFor(err error) int {
	if errors.Is(err, errNoTenant) {
		return http.StatusUnauthorized
	}
	switch status.Code(err) {
	case codes.ResourceExhausted:
		return http.StatusTooManyRequests
	case codes.InvalidArgument:
		return http.StatusBadRequest
	case codes.Unavailable:
		return http.StatusServiceUnavailable
	case codes.Unauthenticated:
		return http.StatusUnauthorized
	case codes.PermissionDenied:
		return http.StatusForbidden
	default:
		return http.StatusInternalServerError
	}
}
