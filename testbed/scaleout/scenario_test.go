package scaleout

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/otelcol-mesh/otelcol-mesh/testbed/harness"
	"github.com/otelcol-mesh/otelcol-mesh/testbed/loadgen"
	"github.com/otelcol-mesh/otelcol-mesh/testbed/temposink"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"))
}

// FullEnv runs the long measurement (TestScaleOutTimeline) when set to 1.
const FullEnv = "SCALEOUT_FULL"

// MaxAgeEnv, in the long measurement, adds a run with this
// max_connection_age (a Go duration) and a 15 s grace, beside the runs
// without the setting and with the shipped one.
const MaxAgeEnv = "SCALEOUT_MAX_AGE"

// BeforeEnv, in the long measurement, sets how long the senders run on
// collectors 1 and 2 before collector 3 is added (a Go duration, default
// 10s): the age of their connections when it joins.
const BeforeEnv = "SCALEOUT_BEFORE"

// evenShare is the share of the load the added collector must carry for the
// load to count as even (a third is perfect; a quarter is 3 of 12 senders).
const evenShare = 0.25

// scenario is one run: collectors 1 and 2 behind the balancer, senders at a
// steady rate, collector 3 started and added after before; the run ends
// after after, or, when after is zero, as soon as collector 3 has accepted
// spans (bounded by maxAfter).
type scenario struct {
	name string
	// keepalive is the overlay's max_connection_age and grace; nil runs the
	// shipped local.yaml as it is. A zero age removes the setting.
	keepalive *[2]time.Duration
	senders   int
	rate      float64
	before    time.Duration
	after     time.Duration
	// minAfter and maxAfter bound a run with after == 0.
	minAfter time.Duration
	maxAfter time.Duration
	sample   time.Duration
}

// sample is one point of the timeline: accepted spans/s per collector over
// the last interval, and the balancer's open connections per collector.
type sample struct {
	at    time.Duration // since collector 3 was added (negative before)
	rates [3]float64
	conns [3]int
}

// outcome is what a run measured.
type outcome struct {
	timeline []sample
	// evenAfter is the time from adding collector 3 to the first sample in
	// which it carried evenShare of the load; negative if it never did.
	evenAfter time.Duration
	gen       loadgen.Result
	routed    map[string]int
	// lateShare is collector 3's share over the last quarter of the run.
	lateShare float64
}

// keepaliveOverlay is a config merged over local.yaml that sets the gRPC
// receiver's maximum connection age and grace (0s: no maximum).
const keepaliveOverlay = `receivers:
  otlp:
    protocols:
      grpc:
        keepalive:
          server_parameters:
            max_connection_age: %s
            max_connection_age_grace: %s
`

// startCollector runs the shipped local.yaml + local-tempo.yaml on free
// ports, with the scenario's keepalive overlay, exporting to sink.
func startCollector(t *testing.T, sc scenario, sink string) (*harness.Collector, harness.Ports) {
	t.Helper()
	var overlay string
	if sc.keepalive != nil {
		overlay = fmt.Sprintf(keepaliveOverlay, sc.keepalive[0], sc.keepalive[1])
	}
	ports := harness.NewPorts(t)
	col := harness.Start(t, harness.Options{
		ConfigFiles: harness.ShippedConfigs(t, "local.yaml", "local-tempo.yaml"),
		Config:      overlay,
		Ports:       ports,
		Env:         map[string]string{"TEMPO_ENDPOINT": sink, "TEMPO_TENANT": "unrouted"},
	})
	return col, ports
}

func scrape(t *testing.T, col *harness.Collector) harness.Metrics {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m, err := col.Metrics(ctx)
	require.NoError(t, err)
	return m
}

// run executes the scenario and checks correctness: every span the senders
// sent has a known outcome, every acknowledged span reaches its tenant at
// the sink exactly once, every refusal the senders saw was counted by a
// collector, and every collector exits cleanly.
func run(t *testing.T, sc scenario) outcome {
	sink, err := temposink.Start(temposink.Config{GRPCAddr: "127.0.0.1:0", CountOnly: true})
	require.NoError(t, err)
	t.Cleanup(sink.Stop)

	var cols []*harness.Collector
	var addrs []string
	for range 2 {
		col, ports := startCollector(t, sc, sink.GRPCAddr())
		cols = append(cols, col)
		addrs = append(addrs, fmt.Sprintf("127.0.0.1:%d", ports.OTLPGRPC))
	}
	bal, err := NewBalancer(addrs...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = bal.Close() })

	// Each sender is one worker with one gRPC connection of its own, like
	// a sidecar or a gateway's long-lived upstream connection.
	var templates []*loadgen.Template
	for _, req := range loadgen.BuildMix(loadgen.MixOptions{SpansPerRequest: 48, Requests: 8}) {
		tmpl, err := loadgen.NewTemplate(req.Traces, 0, req.Traces.SpanCount(), loadgen.ExpectedTenants(req))
		require.NoError(t, err)
		templates = append(templates, tmpl)
	}
	gen, err := loadgen.New(loadgen.Config{
		Targets:        []loadgen.Target{{Protocol: loadgen.GRPC, Addr: bal.Addr()}},
		Templates:      templates,
		Rate:           sc.rate,
		Workers:        sc.senders,
		ConnsPerTarget: sc.senders,
		Timeout:        20 * time.Second,
	})
	require.NoError(t, err)
	t.Cleanup(gen.Close)

	var out outcome
	accepted := func(i int) float64 {
		return scrape(t, cols[i]).Sum("otelcol_receiver_accepted_spans", nil)
	}
	var last [3]float64
	lastAt := time.Now()
	record := func(at time.Duration) {
		now := time.Now()
		var s sample
		st := bal.Stats()
		for i := range cols {
			v := accepted(i)
			s.rates[i] = (v - last[i]) / now.Sub(lastAt).Seconds()
			last[i] = v
			s.conns[i] = st.Active[addrs[i]]
		}
		lastAt = now
		s.at = at
		out.timeline = append(out.timeline, s)
	}

	gen.Start(context.Background())
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			gen.Stop()
		}
	})
	start := time.Now()
	tick := time.NewTicker(sc.sample)
	defer tick.Stop()
	for time.Since(start) < sc.before {
		<-tick.C
		record(time.Since(start) - sc.before)
	}

	col3, ports3 := startCollector(t, sc, sink.GRPCAddr())
	cols = append(cols, col3)
	addrs = append(addrs, fmt.Sprintf("127.0.0.1:%d", ports3.OTLPGRPC))
	require.NoError(t, bal.Add(addrs[2]))
	added := time.Now()
	last[2] = 0
	out.evenAfter = -1
	limit := sc.after
	if limit == 0 {
		limit = sc.maxAfter
	}
	for time.Since(added) < limit {
		<-tick.C
		record(time.Since(added))
		s := out.timeline[len(out.timeline)-1]
		total := s.rates[0] + s.rates[1] + s.rates[2]
		if out.evenAfter < 0 && total > 0 && s.rates[2]/total >= evenShare {
			out.evenAfter = s.at
		}
		if sc.after == 0 && last[2] > 0 && time.Since(added) >= sc.minAfter {
			break // the short variant: collector 3 took spans, enough
		}
	}
	out.gen = gen.Stop()
	stopped = true
	out.routed = bal.Stats().Routed
	out.lateShare = lateShare(out.timeline)

	// Correctness. Every call has an answer: no timeout, no broken call.
	res := out.gen
	assert.Zero(t, res.AmbiguousSpans, "spans of calls without an answer: %v", res.RefusedBy)
	assert.Equal(t, res.Requests, res.AckedRequests+res.RefusedRequests)
	assert.Positive(t, res.AckedSpans)
	// Every acknowledged span reaches its tenant exactly once.
	want := map[string]int{}
	for tenant, n := range res.Expect {
		want[tenant] = int(n)
	}
	assert.Eventually(t, func() bool { return assert.ObjectsAreEqual(want, sink.Stats().Spans) },
		30*time.Second, 100*time.Millisecond)
	assert.Equal(t, want, sink.Stats().Spans, "spans per tenant at the sink == acknowledged to the senders")
	assert.Equal(t, 0, sink.Stats().Unauthenticated)
	// The collectors' own counts, summed, agree with the senders'.
	var acc, refusedByCollectors, exportFailed float64
	for _, col := range cols {
		m := scrape(t, col)
		acc += m.Sum("otelcol_receiver_accepted_spans", nil)
		refusedByCollectors += m.Sum("otelcol_receiver_refused_spans", nil) + m.Sum("otelcol_receiver_failed_spans", nil)
		exportFailed += m.Sum("otelcol_exporter_send_failed_spans", nil) + m.Sum("otelcol_exporter_enqueue_failed_spans", nil)
	}
	assert.Equal(t, float64(res.AckedSpans), acc, "acknowledged == accepted by the collectors")
	assert.Equal(t, float64(res.RefusedSpans), refusedByCollectors,
		"every refusal the senders saw was counted by a collector: %v", res.RefusedBy)
	assert.Zero(t, exportFailed, "export failures")
	for i, col := range cols {
		assert.NoError(t, col.Stop(30*time.Second), "collector %d exits cleanly", i+1)
	}
	return out
}

// lateShare is collector 3's share of the accepted spans over the last
// quarter of the samples taken after it was added.
func lateShare(tl []sample) float64 {
	var after []sample
	for _, s := range tl {
		if s.at > 0 {
			after = append(after, s)
		}
	}
	if len(after) == 0 {
		return 0
	}
	var c3, total float64
	for _, s := range after[len(after)-max(1, len(after)/4):] {
		c3 += s.rates[2]
		total += s.rates[0] + s.rates[1] + s.rates[2]
	}
	if total == 0 {
		return 0
	}
	return c3 / total
}

// TestScaleOutShort is the short variant that runs in `make test`: a 1 s
// max_connection_age (test-only overlay) so that the senders' connections
// are recycled many times within a few seconds, collector 3 added under
// load. It asserts correctness only (see run) and that the recycling
// happened, never how long anything took.
func TestScaleOutShort(t *testing.T) {
	out := run(t, scenario{
		name:      "short",
		keepalive: &[2]time.Duration{time.Second, 5 * time.Second},
		senders:   12,
		rate:      2000,
		before:    2 * time.Second,
		minAfter:  3 * time.Second,
		maxAfter:  30 * time.Second,
		sample:    500 * time.Millisecond,
	})
	total := 0
	for _, n := range out.routed {
		total += n
	}
	assert.Greater(t, total, 12, "connections were recycled: %v", out.routed)
	assert.Positive(t, sumRates(out.timeline, 2), "collector 3 accepted spans")
	t.Logf("senders: %d acknowledged spans, %d refused %v; connections per collector %v",
		out.gen.AckedSpans, out.gen.RefusedSpans, out.gen.RefusedBy, out.routed)
}

func sumRates(tl []sample, i int) float64 {
	var s float64
	for _, x := range tl {
		s += x.rates[i]
	}
	return s
}

// TestScaleOutTimeline is the long measurement (SCALEOUT_FULL=1): 12
// senders at 6000 spans/s, 10 s (SCALEOUT_BEFORE) on collectors 1 and 2,
// then 80 s with collector 3 added, once with the max_connection_age removed, once with the
// shipped local.yaml, and once more with SCALEOUT_MAX_AGE if set. It prints
// the timeline of each and how long collector 3 took to carry a quarter of
// the load. Correctness is asserted as in the short variant; time is only
// reported.
func TestScaleOutTimeline(t *testing.T) {
	if os.Getenv(FullEnv) != "1" {
		t.Skipf("the long measurement (about 5 minutes): set %s=1", FullEnv)
	}
	base := scenario{senders: 12, rate: 6000, before: 10 * time.Second, after: 80 * time.Second, sample: time.Second}
	if v := os.Getenv(BeforeEnv); v != "" {
		d, err := time.ParseDuration(v)
		require.NoError(t, err, BeforeEnv)
		base.before = d
	}
	runs := []scenario{base, base}
	runs[0].name = "without max_connection_age"
	runs[0].keepalive = &[2]time.Duration{0, 0}
	runs[1].name = "shipped local.yaml"
	if v := os.Getenv(MaxAgeEnv); v != "" {
		age, err := time.ParseDuration(v)
		require.NoError(t, err, MaxAgeEnv)
		extra := base
		extra.name = fmt.Sprintf("max_connection_age %s, grace 15s", age)
		extra.keepalive = &[2]time.Duration{age, 15 * time.Second}
		runs = append(runs, extra)
	}
	var summary []string
	for _, sc := range runs {
		var out outcome
		ran := false
		ok := t.Run(strings.ReplaceAll(sc.name, " ", "_"), func(t *testing.T) { ran = true; out = run(t, sc) })
		if !ran {
			continue // left out by -run
		}
		var b strings.Builder
		fmt.Fprintf(&b, "=== %s: 12 senders, %.0f spans/s, collector 3 added at t=0, %s after the senders connected ===\n",
			sc.name, sc.rate, sc.before)
		fmt.Fprintf(&b, "%7s %9s %9s %9s %8s %s\n", "t (s)", "c1 sp/s", "c2 sp/s", "c3 sp/s", "c3 share", "conns c1/c2/c3")
		// Every 5th second, and every second in which a connection moved.
		for i, s := range out.timeline {
			if i%5 != 4 && (i == 0 || s.conns == out.timeline[i-1].conns) && s.at != out.evenAfter {
				continue
			}
			total := s.rates[0] + s.rates[1] + s.rates[2]
			share := 0.0
			if total > 0 {
				share = s.rates[2] / total
			}
			fmt.Fprintf(&b, "%7.0f %9.0f %9.0f %9.0f %7.0f%% %d/%d/%d\n", s.at.Seconds(), s.rates[0], s.rates[1], s.rates[2],
				100*share, s.conns[0], s.conns[1], s.conns[2])
		}
		even := "never"
		if out.evenAfter >= 0 {
			even = fmt.Sprintf("%.0f s", out.evenAfter.Seconds())
		}
		line := fmt.Sprintf("%-40s c3 >= %.0f%% after: %-6s c3 share over the last 20 s: %3.0f%%  requests %d, spans acked %d refused %d unanswered %d (correctness %s)",
			sc.name, 100*evenShare, even, 100*out.lateShare, out.gen.Requests, out.gen.AckedSpans, out.gen.RefusedSpans,
			out.gen.AmbiguousSpans, map[bool]string{true: "ok", false: "FAILED"}[ok])
		fmt.Fprintln(&b, line)
		summary = append(summary, line)
		t.Log("\n" + b.String())
	}
	t.Log("\n" + strings.Join(summary, "\n"))
}
