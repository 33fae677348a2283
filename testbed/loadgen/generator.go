package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Protocol is how a target is reached.
type Protocol string

const (
	GRPC Protocol = "grpc"
	HTTP Protocol = "http"
)

// Target is one OTLP endpoint (host:port).
type Target struct {
	Protocol Protocol
	Addr     string
	// Headers are sent with every request (gRPC metadata or HTTP headers).
	Headers map[string]string
}

// Config describes one load run.
type Config struct {
	Targets   []Target
	Templates []*Template
	// Rate is the offered load in logical spans per second; 0 sends as fast
	// as Workers allow.
	Rate float64
	// Workers is the number of concurrent senders (default 4).
	Workers int
	// ConnsPerTarget is the number of gRPC connections per target
	// (default min(Workers, 4)).
	ConnsPerTarget int
	// Timeout bounds each export call (default 30s). A call that times out
	// has an unknown outcome and is counted as Ambiguous.
	Timeout time.Duration
	// Seed seeds the ID generator of the first worker.
	Seed uint64
}

// Counters are cumulative since Start. Spans counts spans on the wire;
// Logical counts offered spans (see Template.Logical).
type Counters struct {
	Requests        int64
	AckedRequests   int64
	AckedSpans      int64
	AckedLogical    int64
	RefusedRequests int64
	RefusedSpans    int64
	RefusedLogical  int64
	// Ambiguous are spans of calls whose outcome is unknown (client-side
	// timeout, connection error mid-call, partial success).
	AmbiguousSpans int64
	// Behind counts logical spans the pacer could not hand to a worker in
	// time because every worker was busy: load that was never offered.
	Behind int64
}

// Result is the outcome of a run.
type Result struct {
	Counters
	// RefusedBy counts refused spans by answer ("grpc Unavailable",
	// "http 503", "error <text>" for transport failures).
	RefusedBy map[string]int64
	// Expect sums Template.Expect over acknowledged requests: what the sink
	// must hold per tenant.
	Expect  map[string]int64
	Elapsed time.Duration
	// CPU is this process's user+system CPU time during the run (the
	// generator's own cost when nothing else runs in the process).
	CPU time.Duration
}

// Generator replays templates against targets.
type Generator struct {
	cfg   Config
	conns [][]*grpc.ClientConn
	http  *http.Client

	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	started time.Time
	cpu0    time.Duration

	// live counters
	requests, ackedReq, ackedSpans, ackedLogical atomic.Int64
	refusedReq, refusedSpans, refusedLogical     atomic.Int64
	ambiguous, behind                            atomic.Int64

	mu        sync.Mutex
	refusedBy map[string]int64
	expect    []atomic.Int64 // acked count per template index
}

// New dials the targets. Nothing is sent before Start.
func New(cfg Config) (*Generator, error) {
	if len(cfg.Templates) == 0 {
		return nil, errors.New("loadgen: no templates")
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.ConnsPerTarget <= 0 {
		cfg.ConnsPerTarget = min(cfg.Workers, 4)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	for _, t := range cfg.Templates {
		if t.Target < 0 || t.Target >= len(cfg.Targets) {
			return nil, fmt.Errorf("loadgen: template target %d out of range", t.Target)
		}
	}
	g := &Generator{cfg: cfg, refusedBy: map[string]int64{}, expect: make([]atomic.Int64, len(cfg.Templates))}
	g.conns = make([][]*grpc.ClientConn, len(cfg.Targets))
	for i, t := range cfg.Targets {
		if t.Protocol != GRPC {
			continue
		}
		for c := 0; c < cfg.ConnsPerTarget; c++ {
			cc, err := grpc.NewClient(t.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				g.Close()
				return nil, fmt.Errorf("loadgen: dial %s: %w", t.Addr, err)
			}
			g.conns[i] = append(g.conns[i], cc)
		}
	}
	g.http = &http.Client{
		Timeout:   cfg.Timeout,
		Transport: &http.Transport{MaxIdleConnsPerHost: cfg.Workers, MaxConnsPerHost: cfg.Workers, DisableCompression: true},
	}
	return g, nil
}

// Close releases the connections.
func (g *Generator) Close() {
	for _, ccs := range g.conns {
		for _, cc := range ccs {
			_ = cc.Close()
		}
	}
	if g.http != nil {
		g.http.CloseIdleConnections()
	}
}

// Start begins sending until Stop or ctx ends.
func (g *Generator) Start(ctx context.Context) {
	g.ctx, g.cancel = context.WithCancel(ctx)
	g.started = time.Now()
	g.cpu0 = ProcessCPU()
	var permits chan int
	if g.cfg.Rate > 0 {
		permits = make(chan int, g.cfg.Workers)
		g.wg.Add(1)
		go g.pace(permits)
	}
	for w := 0; w < g.cfg.Workers; w++ {
		g.wg.Add(1)
		go g.work(w, permits)
	}
}

// Snapshot returns the live counters.
func (g *Generator) Snapshot() Counters {
	return Counters{
		Requests: g.requests.Load(), AckedRequests: g.ackedReq.Load(), AckedSpans: g.ackedSpans.Load(),
		AckedLogical: g.ackedLogical.Load(), RefusedRequests: g.refusedReq.Load(), RefusedSpans: g.refusedSpans.Load(),
		RefusedLogical: g.refusedLogical.Load(), AmbiguousSpans: g.ambiguous.Load(), Behind: g.behind.Load(),
	}
}

// Stop ends the run, waits for in-flight calls, and returns the result.
func (g *Generator) Stop() Result {
	g.cancel()
	g.wg.Wait()
	res := Result{Counters: g.Snapshot(), Elapsed: time.Since(g.started), CPU: ProcessCPU() - g.cpu0}
	g.mu.Lock()
	res.RefusedBy = make(map[string]int64, len(g.refusedBy))
	for k, v := range g.refusedBy {
		res.RefusedBy[k] = v
	}
	g.mu.Unlock()
	res.Expect = map[string]int64{}
	for i, t := range g.cfg.Templates {
		n := g.expect[i].Load()
		for tenant, spans := range t.Expect {
			res.Expect[tenant] += n * int64(spans)
		}
	}
	return res
}

// pace hands out template indices at the configured logical span rate.
func (g *Generator) pace(permits chan<- int) {
	defer g.wg.Done()
	defer close(permits)
	next := time.Now()
	for i := 0; ; i = (i + 1) % len(g.cfg.Templates) {
		t := g.cfg.Templates[i]
		next = next.Add(time.Duration(float64(t.Logical) / g.cfg.Rate * float64(time.Second)))
		if d := time.Until(next); d > 0 {
			select {
			case <-g.ctx.Done():
				return
			case <-time.After(d):
			}
		} else if g.ctx.Err() != nil {
			return
		}
		select {
		case permits <- i:
		default:
			g.behind.Add(int64(t.Logical))
		}
	}
}

func (g *Generator) work(w int, permits <-chan int) {
	defer g.wg.Done()
	rng := rand.New(rand.NewPCG(g.cfg.Seed+uint64(w)*0x9e3779b97f4a7c15, uint64(time.Now().UnixNano())))
	var buf []byte
	next := w % len(g.cfg.Templates)
	for {
		var i int
		if permits != nil {
			var ok bool
			select {
			case i, ok = <-permits:
				if !ok {
					return
				}
			case <-g.ctx.Done():
				return
			}
		} else {
			if g.ctx.Err() != nil {
				return
			}
			i = next
			next = (next + 1) % len(g.cfg.Templates)
		}
		t := g.cfg.Templates[i]
		buf = t.Fill(buf, rng)
		g.send(w, i, t, buf)
	}
}

// outcome of one export call.
type outcome int

const (
	acked outcome = iota
	refused
	ambiguous
)

func (g *Generator) send(w, i int, t *Template, body []byte) {
	// Calls already started finish even when the run stops, so that every
	// sent span has a known outcome; only the timeout cuts them short.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(g.ctx), g.cfg.Timeout)
	defer cancel()
	target := g.cfg.Targets[t.Target]
	var (
		out      outcome
		reason   string
		rejected int64
	)
	if target.Protocol == GRPC {
		ccs := g.conns[t.Target]
		if len(target.Headers) > 0 {
			ctx = metadata.NewOutgoingContext(ctx, metadata.New(target.Headers))
		}
		out, reason, rejected = sendGRPC(ctx, ccs[w%len(ccs)], body)
	} else {
		out, reason, rejected = g.sendHTTP(ctx, target, body)
	}
	g.requests.Add(1)
	switch {
	case out == acked && rejected == 0:
		g.ackedReq.Add(1)
		g.ackedSpans.Add(int64(t.Spans))
		g.ackedLogical.Add(int64(t.Logical))
		g.expect[i].Add(1)
	case out == refused:
		g.refusedReq.Add(1)
		g.refusedSpans.Add(int64(t.Spans))
		g.refusedLogical.Add(int64(t.Logical))
		g.mu.Lock()
		g.refusedBy[reason] += int64(t.Spans)
		g.mu.Unlock()
	default: // ambiguous, or a partial success we cannot attribute
		g.ambiguous.Add(int64(t.Spans))
		g.mu.Lock()
		if reason == "" {
			reason = fmt.Sprintf("partial success (%d rejected)", rejected)
		}
		g.refusedBy["ambiguous: "+reason] += int64(t.Spans)
		g.mu.Unlock()
	}
}

const exportMethod = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"

// rawMsg carries already-marshalled protobuf through grpc-go.
type rawMsg struct{ data []byte }

// rawCodec passes bytes through unchanged. Its name is "proto" so the wire
// content type stays application/grpc+proto.
type rawCodec struct{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(v.(*rawMsg).data)}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	v.(*rawMsg).data = data.Materialize()
	return nil
}

func (rawCodec) Name() string { return "proto" }

func sendGRPC(ctx context.Context, cc *grpc.ClientConn, body []byte) (outcome, string, int64) {
	var resp rawMsg
	err := cc.Invoke(ctx, exportMethod, &rawMsg{data: body}, &resp, grpc.ForceCodecV2(rawCodec{}))
	if err != nil {
		code := status.Code(err)
		if code == codes.DeadlineExceeded || code == codes.Canceled {
			return ambiguous, "grpc " + code.String(), 0
		}
		return refused, "grpc " + code.String(), 0
	}
	return acked, "", rejectedSpans(resp.data)
}

func (g *Generator) sendHTTP(ctx context.Context, target Target, body []byte) (outcome, string, int64) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+target.Addr+"/v1/traces", bytes.NewReader(body))
	if err != nil {
		return refused, "error " + err.Error(), 0
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	for k, v := range target.Headers {
		req.Header.Set(k, v)
	}
	resp, err := g.http.Do(req)
	if err != nil {
		// The request may or may not have reached the receiver.
		return ambiguous, "http error", 0
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return refused, "http " + strconv.Itoa(resp.StatusCode), 0
	}
	return acked, "", rejectedSpans(raw)
}

// rejectedSpans reads partial_success.rejected_spans from a response.
func rejectedSpans(raw []byte) int64 {
	if len(raw) == 0 {
		return 0
	}
	resp := ptraceotlp.NewExportResponse()
	if err := resp.UnmarshalProto(raw); err != nil {
		return 0
	}
	return resp.PartialSuccess().RejectedSpans()
}

// SortedKeys lists a map's keys in order, for stable reports.
func SortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
