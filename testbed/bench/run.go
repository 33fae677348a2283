package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/otelcol-mesh/otelcol-mesh/testbed/harness"
	"github.com/otelcol-mesh/otelcol-mesh/testbed/loadgen"
	"github.com/otelcol-mesh/otelcol-mesh/testbed/temposink"
)

// Mode of a cell.
type Mode string

const (
	ModeRate     Mode = "rate"     // fixed offered rate
	ModeMax      Mode = "max"      // as fast as the workers go
	ModeOverload Mode = "overload" // a spike above max, then max again
)

// Cell is one collector process under one load.
type Cell struct {
	Kind  Kind
	Mode  Mode
	Label string // short name for tables ("10k", "max", "max p1 b512", ...)
	Round int
	// Rate is the offered load (logical spans/s) for ModeRate and the spike
	// rate for ModeOverload.
	Rate    float64
	Workers int
	Warmup  time.Duration
	Measure time.Duration
	// Recovery is the length of the max-speed phases of an overload cell,
	// the one before the spike and the one after it, and Baseline the max
	// throughput of the separate max cell, which sets the spike's Rate.
	Recovery time.Duration
	Baseline float64
	// RecoveryWorkers run the max-speed phases (default 8, the max cells').
	RecoveryWorkers int
	Params          CollectorParams
}

// CheckRecovery is the name of the overload cell's check that max speed
// comes back after the spike: a speed verdict, which short test runs skip.
const CheckRecovery = "recovers to full speed"

// Check is one verdict of a cell. Hard checks decide the exit code; soft
// ones are targets that are reported only.
type Check struct {
	Name   string
	OK     bool
	Hard   bool
	Detail string
}

// Sample is one second of an overload cell.
type Sample struct {
	At            time.Duration
	AcceptedRate  float64 // logical spans/s acknowledged
	RefusedRate   float64 // logical spans/s refused
	RSS           int64
	CollectorCPUs float64 // cores
}

// CellResult is what one cell measured.
type CellResult struct {
	Cell
	Skipped string
	// Throughput is the logical spans/s acknowledged in the window.
	Throughput float64
	// CollectorCores, GeneratorCores, SinkCores are CPU-seconds per second
	// in the window (1.0 = one core busy).
	CollectorCores, GeneratorCores, SinkCores float64
	// CPUPerMillion is collector CPU-seconds per million logical spans.
	CPUPerMillion float64
	PeakRSS       int64
	// PreSpikeThroughput is the overload cell's collector at max speed just
	// before the spike: the same process, memory settings and minute of the
	// machine as the spike, so the spike's share of it does not move with
	// the machine's drift between cells.
	PreSpikeThroughput float64
	// RecoveryThroughput is the max-speed throughput after a spike.
	RecoveryThroughput float64
	BatchMax           int
	Gen                loadgen.Result
	Metrics            CollectorCounts
	SinkDelta          map[string]int64
	Samples            []Sample
	Checks             []Check
	Log                string // collector log tail when something failed
	// LogProblems counts warn/error lines in the collector log.
	LogProblems int
	// FirstProblem is the first such line.
	FirstProblem string
}

// Failed reports whether a hard check failed.
func (r CellResult) Failed() bool {
	for _, c := range r.Checks {
		if c.Hard && !c.OK {
			return true
		}
	}
	return false
}

// CollectorCounts are the collector's own counters at the end of a cell.
type CollectorCounts struct {
	ReceiverAccepted, ReceiverRefused     int64
	ExporterSent, ExporterFailed          int64
	ProcessorDropped, MemoryLimiterRefuse int64
}

// Runner runs cells against one sink.
type Runner struct {
	Sink Sink
	Mix  loadgen.MixOptions
	// SenderSpans > 0 sends every sender's spans in requests of their own,
	// at most SenderSpans each (loadgen.SplitBySender); 0 sends the mix's
	// requests, many senders each, as an agent forwards them.
	SenderSpans int
	Protocol    Protocol
	// WorkDir holds each collector's config and log.
	WorkDir string
	// Have is what the binary has (Components).
	Have map[string]bool
	// RSSMarginMiB is the allowance over memory_limiter's limit_mib for the
	// overload RSS check (Go runtime, stacks and binary pages are outside
	// the heap that memory_limiter watches).
	RSSMarginMiB int
	// Log receives progress lines (nil: discard).
	Log io.Writer
	// ProfileDir, when set, receives a CPU profile of the collector taken
	// during the measured window of every max-throughput cell.
	ProfileDir string

	workloads map[Kind]*workload
}

func (r *Runner) logf(format string, args ...any) {
	if r.Log != nil {
		fmt.Fprintf(r.Log, format+"\n", args...)
	}
}

func (r *Runner) workload(k Kind) (*workload, error) {
	if r.workloads == nil {
		r.workloads = map[Kind]*workload{}
	}
	if w, ok := r.workloads[k]; ok {
		return w, nil
	}
	w, err := buildWorkload(k, r.Mix, r.SenderSpans, r.Protocol)
	if err != nil {
		return nil, err
	}
	r.workloads[k] = w
	return w, nil
}

// MaxSpanBytes is the largest per-span request size across the workloads.
func (r *Runner) MaxSpanBytes() (float64, error) {
	var m float64
	for _, k := range Kinds {
		w, err := r.workload(k)
		if err != nil {
			return 0, err
		}
		m = max(m, w.maxSpanBytes)
	}
	return m, nil
}

// Run runs one cell. It never panics on a misbehaving collector: failures
// are hard checks in the result.
func (r *Runner) Run(ctx context.Context, cell Cell) CellResult {
	res := CellResult{Cell: cell, BatchMax: cell.Params.BatchMax}
	if miss := Missing(cell.Kind, r.Have); len(miss) > 0 {
		res.Skipped = "binary lacks " + strings.Join(miss, ", ")
		return res
	}
	fail := func(name string, err error) CellResult {
		res.Checks = append(res.Checks, Check{Name: name, Hard: true, Detail: err.Error()})
		return res
	}
	w, err := r.workload(cell.Kind)
	if err != nil {
		return fail("build load", err)
	}
	ports, err := harness.AllocPorts()
	if err != nil {
		return fail("ports", err)
	}
	var tenantPorts []tenantPort
	if cell.Kind == OTTL {
		if tenantPorts, err = allocTenantPorts(); err != nil {
			return fail("ports", err)
		}
	}
	dir, err := os.MkdirTemp(r.WorkDir, fmt.Sprintf("%s-%s-", cell.Kind, cell.Mode))
	if err != nil {
		return fail("work dir", err)
	}
	if r.ProfileDir != "" && cell.Mode == ModeMax {
		if cell.Params.PprofPort, err = harness.AllocPort(); err != nil {
			return fail("ports", err)
		}
	}
	opts, err := collectorOptions(cell.Kind, ports, tenantPorts, r.Sink.GRPCAddr(), cell.Params)
	if err != nil {
		return fail("config", err)
	}
	opts.Dir, opts.StartTimeout = dir, 60*time.Second
	if cell.Params.DiskQueue {
		opts.Env[QueueDirEnv] = filepath.Join(dir, "queue")
	}
	sink0, err := r.Sink.Stats()
	if err != nil {
		return fail("sink stats", err)
	}
	col, err := harness.StartProcess(opts)
	if err != nil {
		return fail("collector starts", err)
	}
	defer func() {
		if !col.Exited() {
			col.Kill()
		}
	}()
	tgts := targets(cell.Kind, ports, tenantPorts)

	var gens []loadgen.Result
	switch cell.Mode {
	case ModeOverload:
		gens, err = r.runOverload(ctx, cell, col, w, tgts, &res)
	default:
		var g loadgen.Result
		g, err = r.runWindow(ctx, cell, col, w, tgts, &res)
		gens = append(gens, g)
	}
	if err != nil {
		res.Checks = append(res.Checks, Check{Name: "load", Hard: true, Detail: err.Error()})
	}
	res.Gen = mergeResults(gens)
	crashed := col.Exited()
	r.verify(ctx, col, sink0, crashed, &res)
	for _, line := range strings.Split(col.Log(), "\n") {
		if strings.Contains(line, "\twarn\t") || strings.Contains(line, "\terror\t") {
			if res.LogProblems == 0 {
				res.FirstProblem = line
			}
			res.LogProblems++
		}
	}
	if res.Mode != ModeOverload {
		res.Checks = append(res.Checks, Check{Name: "no warnings in collector log", OK: res.LogProblems == 0, Hard: true,
			Detail: fmt.Sprintf("%d warn/error lines, first: %s", res.LogProblems, res.FirstProblem)})
	}
	if res.Failed() {
		res.Log = tail(col.Log(), 30)
	}
	return res
}

// runWindow runs a fixed-rate or max-speed cell: warm-up, then a measured
// window.
func (r *Runner) runWindow(ctx context.Context, cell Cell, col *harness.Collector, w *workload, tgts []loadgen.Target, res *CellResult) (loadgen.Result, error) {
	rate := 0.0
	if cell.Mode == ModeRate {
		rate = cell.Rate
	}
	gen, err := loadgen.New(loadgen.Config{Targets: tgts, Templates: w.templates, Rate: rate, Workers: cell.Workers, Seed: uint64(cell.Round + 1)})
	if err != nil {
		return loadgen.Result{}, err
	}
	defer gen.Close()
	gen.Start(ctx)
	sleep(ctx, cell.Warmup)
	m0 := r.measure(col, gen)
	profiled := make(chan error, 1)
	if cell.Params.PprofPort > 0 {
		go func() { profiled <- r.profile(ctx, cell) }()
	} else {
		profiled <- nil
	}
	sleep(ctx, cell.Measure)
	m1 := r.measure(col, gen)
	if err := <-profiled; err != nil {
		r.logf("profile: %v", err)
	}
	out := gen.Stop()
	m0.into(m1, res)
	return out, nil
}

// profile saves a CPU profile of the collector covering most of the
// measured window as <ProfileDir>/<kind>-<label>-r<round>.pprof.
func (r *Runner) profile(ctx context.Context, cell Cell) error {
	secs := max(1, int(cell.Measure.Seconds())-1)
	url := fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/profile?seconds=%d", cell.Params.PprofPort, secs)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	name := fmt.Sprintf("%s-%s-r%d.pprof", cell.Kind, strings.NewReplacer(" ", "_", "=", "").Replace(cell.Label), cell.Round)
	f, err := os.Create(filepath.Join(r.ProfileDir, name))
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// runOverload runs at max speed for cell.Recovery (PreSpikeThroughput),
// offers cell.Rate for cell.Measure with many workers, sampling every
// second, then runs at max speed again (RecoveryThroughput).
func (r *Runner) runOverload(ctx context.Context, cell Cell, col *harness.Collector, w *workload, tgts []loadgen.Target, res *CellResult) ([]loadgen.Result, error) {
	var out []loadgen.Result
	workers := cell.RecoveryWorkers
	if workers <= 0 {
		workers = 8
	}
	pre, err := r.maxPhase(ctx, cell, col, w, tgts, workers, 5)
	out = append(out, pre.gen)
	if err != nil || col.Exited() || ctx.Err() != nil {
		return out, err
	}
	res.PreSpikeThroughput = pre.throughput
	spike, err := loadgen.New(loadgen.Config{Targets: tgts, Templates: w.templates, Rate: cell.Rate, Workers: cell.Workers, Seed: 7})
	if err != nil {
		return nil, err
	}
	defer spike.Close()
	spike.Start(ctx)
	start := time.Now()
	prev := r.measure(col, spike)
	m0 := prev
	for time.Since(start) < cell.Measure && ctx.Err() == nil && !col.Exited() {
		sleep(ctx, time.Second)
		cur := r.measure(col, spike)
		dt := cur.at.Sub(prev.at).Seconds()
		res.Samples = append(res.Samples, Sample{
			At:            cur.at.Sub(start),
			AcceptedRate:  float64(cur.gen.AckedLogical-prev.gen.AckedLogical) / dt,
			RefusedRate:   float64(cur.gen.RefusedLogical-prev.gen.RefusedLogical) / dt,
			RSS:           cur.proc.RSS,
			CollectorCPUs: (cur.proc.CPU - prev.proc.CPU).Seconds() / dt,
		})
		prev = cur
	}
	m0.into(prev, res)
	out = append(out, spike.Stop())
	if col.Exited() || ctx.Err() != nil {
		return out, nil
	}
	// Let queued data drain, then measure the collector at full speed again.
	sleep(ctx, 2*time.Second)
	rec, err := r.maxPhase(ctx, cell, col, w, tgts, workers, 9)
	out = append(out, rec.gen)
	res.RecoveryThroughput = rec.throughput
	return out, err
}

type phase struct {
	gen        loadgen.Result
	throughput float64 // logical spans/s acknowledged
}

// maxPhase runs workers flat out against the collector for cell.Recovery
// after a short warm-up and returns the throughput in that window.
func (r *Runner) maxPhase(ctx context.Context, cell Cell, col *harness.Collector, w *workload, tgts []loadgen.Target, workers int, seed uint64) (phase, error) {
	g, err := loadgen.New(loadgen.Config{Targets: tgts, Templates: w.templates, Workers: workers, Seed: seed})
	if err != nil {
		return phase{}, err
	}
	defer g.Close()
	g.Start(ctx)
	sleep(ctx, min(2*time.Second, cell.Recovery/4))
	a := r.measure(col, g)
	sleep(ctx, cell.Recovery)
	b := r.measure(col, g)
	p := phase{gen: g.Stop()}
	if dt := b.at.Sub(a.at).Seconds(); dt > 0 {
		p.throughput = float64(b.gen.AckedLogical-a.gen.AckedLogical) / dt
	}
	return p, nil
}

// point is one measurement instant.
type point struct {
	at      time.Time
	gen     loadgen.Counters
	proc    loadgen.ProcStat
	genCPU  time.Duration
	sinkCPU time.Duration
}

func (r *Runner) measure(col *harness.Collector, gen *loadgen.Generator) point {
	p := point{at: time.Now(), gen: gen.Snapshot(), genCPU: loadgen.ProcessCPU()}
	p.proc, _ = loadgen.ReadProc(col.PID())
	if pid := r.Sink.PID(); pid > 0 {
		if ps, err := loadgen.ReadProc(pid); err == nil {
			p.sinkCPU = ps.CPU
		}
	}
	return p
}

// into stores the window from p to q in res.
func (p point) into(q point, res *CellResult) {
	dt := q.at.Sub(p.at).Seconds()
	if dt <= 0 {
		return
	}
	spans := float64(q.gen.AckedLogical - p.gen.AckedLogical)
	cpu := (q.proc.CPU - p.proc.CPU).Seconds()
	res.Throughput = spans / dt
	res.CollectorCores = cpu / dt
	res.GeneratorCores = (q.genCPU - p.genCPU).Seconds() / dt
	res.SinkCores = (q.sinkCPU - p.sinkCPU).Seconds() / dt
	if spans > 0 {
		res.CPUPerMillion = cpu / spans * 1e6
	}
}

// verify drains the pipeline, reads the collector's and the sink's
// counters, stops the collector, and records the checks.
func (r *Runner) verify(ctx context.Context, col *harness.Collector, sink0 temposink.Stats, crashed bool, res *CellResult) {
	var expectTotal int64
	for _, n := range res.Gen.Expect {
		expectTotal += n
	}
	// Drain: until the sink holds everything that was acknowledged, or
	// nothing has moved for 3s, or 30s passed.
	var sinkNow temposink.Stats
	lastTotal, lastChange, deadline := int64(-1), time.Now(), time.Now().Add(30*time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		st, err := r.Sink.Stats()
		if err == nil {
			sinkNow = st
			total := sumDelta(st, sink0)
			if total >= expectTotal {
				break
			}
			if total != lastTotal {
				lastTotal, lastChange = total, time.Now()
			} else if time.Since(lastChange) > 3*time.Second {
				break
			}
		}
		sleep(ctx, 200*time.Millisecond)
	}
	res.SinkDelta = map[string]int64{}
	for tenant, n := range sinkNow.Spans {
		if d := int64(n - sink0.Spans[tenant]); d != 0 {
			res.SinkDelta[tenant] = d
		}
	}
	if !crashed {
		scrapeCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		m, err := col.Metrics(scrapeCtx)
		cancel()
		if err != nil {
			res.Checks = append(res.Checks, Check{Name: "collector metrics", Hard: true, Detail: err.Error()})
		} else {
			res.Metrics = countsOf(m)
		}
		if ps, err := loadgen.ReadProc(col.PID()); err == nil {
			res.PeakRSS = ps.PeakRSS
		}
	}
	stopErr := col.Stop(30 * time.Second)
	add := func(name string, ok, hard bool, detail string, args ...any) {
		res.Checks = append(res.Checks, Check{Name: name, OK: ok, Hard: hard, Detail: fmt.Sprintf(detail, args...)})
	}
	add("collector alive, clean exit", !crashed && stopErr == nil, true, "crashed=%v exit=%v", crashed, stopErr)
	g := res.Gen
	add("every call answered", g.AmbiguousSpans == 0, true, "%d spans with unknown outcome %v", g.AmbiguousSpans, g.RefusedBy)
	if crashed {
		return
	}
	mc := res.Metrics
	add("acks = receiver accepted", g.AckedSpans == mc.ReceiverAccepted, true,
		"generator acked %d spans, collector accepted %d", g.AckedSpans, mc.ReceiverAccepted)
	add("refusals reported to sender", g.RefusedSpans == mc.ReceiverRefused, true,
		"generator saw %d refused %v, collector refused+failed %d", g.RefusedSpans, g.RefusedBy, mc.ReceiverRefused)
	var missing, extra int64
	var detail []string
	for _, tenant := range unionKeys(res.Gen.Expect, res.SinkDelta) {
		want, got := res.Gen.Expect[tenant], res.SinkDelta[tenant]
		switch {
		case got < want:
			missing += want - got
			detail = append(detail, fmt.Sprintf("%s -%d", tenant, want-got))
		case got > want:
			extra += got - want
			detail = append(detail, fmt.Sprintf("%s +%d", tenant, got-want))
		}
	}
	counted := mc.ExporterFailed + mc.ProcessorDropped
	add("no silent loss", missing <= counted, true,
		"sent==received per tenant except [%s]; missing %d, collector counted %d dropped", strings.Join(detail, " "), missing, counted)
	add("nothing extra or misrouted", extra == 0, true, "%d spans beyond what was sent (per tenant: [%s])", extra, strings.Join(detail, " "))
	// Counted failures alone do not say it: a refused request is counted by
	// the exporter too, and its sender was told. What the sink lacks of the
	// acknowledged spans is what was lost after the acknowledgement.
	add("no drop after ack", missing == 0, res.Mode == ModeOverload,
		"%d spans acknowledged to the sender and not delivered (collector counted: exporter failed %d, processors dropped %d)", missing, mc.ExporterFailed, mc.ProcessorDropped)
	if unauth := sinkNow.Unauthenticated - sink0.Unauthenticated; unauth > 0 {
		add("every export had a tenant", false, true, "%d exports reached the sink without X-Scope-OrgID", unauth)
	}
	// Every cell, not only the overload one: no load shape may take the
	// collector past the memory it was configured for.
	if res.Params.MemLimitMiB > 0 {
		limit := int64(res.Params.MemLimitMiB+r.RSSMarginMiB) << 20
		add("RSS within limit+margin", res.PeakRSS <= limit, true, "peak RSS %d MiB, limit_mib %d + margin %d MiB",
			res.PeakRSS>>20, res.Params.MemLimitMiB, r.RSSMarginMiB)
	}
	if res.Mode == ModeOverload {
		ratio := 0.0
		if res.Baseline > 0 {
			ratio = res.RecoveryThroughput / res.Baseline
		}
		add(CheckRecovery, ratio >= 0.7, true, "%.0f spans/s after the spike = %.0f%% of max %.0f",
			res.RecoveryThroughput, 100*ratio, res.Baseline)
		spike := 0.0
		if res.PreSpikeThroughput > 0 {
			spike = res.Throughput / res.PreSpikeThroughput
		}
		add("accepted >= 90% of max during the spike", spike >= 0.9, false,
			"%.0f spans/s = %.0f%% of the %.0f this collector took at max just before (%.0f%% of the max cell's %.0f; memory_limiter refused %d spans)",
			res.Throughput, 100*spike, res.PreSpikeThroughput, 100*res.Throughput/res.Baseline, res.Baseline, mc.MemoryLimiterRefuse)
	}
	if res.Mode == ModeRate && res.Rate > 0 {
		ratio := res.Throughput / res.Rate
		add("offered rate held", ratio > 0.95, false, "%.0f of %.0f spans/s acknowledged (generator behind by %d spans)", res.Throughput, res.Rate, g.Behind)
	}
}

func countsOf(m harness.Metrics) CollectorCounts {
	sum := func(name string) int64 {
		return int64(m.Sum(name, nil) + m.Sum(name+"_total", nil))
	}
	c := CollectorCounts{
		ReceiverAccepted:    sum("otelcol_receiver_accepted_spans"),
		ReceiverRefused:     sum("otelcol_receiver_refused_spans") + sum("otelcol_receiver_failed_spans"),
		ExporterSent:        sum("otelcol_exporter_sent_spans"),
		ExporterFailed:      sum("otelcol_exporter_send_failed_spans") + sum("otelcol_exporter_enqueue_failed_spans"),
		MemoryLimiterRefuse: sum("otelcol_processor_memory_limiter_refused_spans"),
	}
	// Our processors count what they drop (tenantrouting: no tenant,
	// rate limit) as otelcol_processor_<type>_..._dropped... metrics.
	for _, name := range m.Names() {
		if strings.HasPrefix(name, "otelcol_processor_") && strings.Contains(name, "drop") && strings.Contains(name, "span") {
			c.ProcessorDropped += int64(m.Sum(name, nil))
		}
	}
	return c
}

func sumDelta(now, before temposink.Stats) int64 {
	var t int64
	for tenant, n := range now.Spans {
		t += int64(n - before.Spans[tenant])
	}
	return t
}

func unionKeys(a, b map[string]int64) []string {
	set := map[string]bool{}
	for k := range a {
		set[k] = true
	}
	for k := range b {
		set[k] = true
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func mergeResults(rs []loadgen.Result) loadgen.Result {
	out := loadgen.Result{RefusedBy: map[string]int64{}, Expect: map[string]int64{}}
	for _, r := range rs {
		c := &out.Counters
		c.Requests += r.Requests
		c.AckedRequests += r.AckedRequests
		c.AckedSpans += r.AckedSpans
		c.AckedLogical += r.AckedLogical
		c.RefusedRequests += r.RefusedRequests
		c.RefusedSpans += r.RefusedSpans
		c.RefusedLogical += r.RefusedLogical
		c.AmbiguousSpans += r.AmbiguousSpans
		c.Behind += r.Behind
		out.Elapsed += r.Elapsed
		out.CPU += r.CPU
		for k, v := range r.RefusedBy {
			out.RefusedBy[k] += v
		}
		for k, v := range r.Expect {
			out.Expect[k] += v
		}
	}
	return out
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
