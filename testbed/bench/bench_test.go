package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.yaml.in/yaml/v3"

	"github.com/otelcol-mesh/otelcol-mesh/testbed/harness"
	"github.com/otelcol-mesh/otelcol-mesh/testbed/loadgen"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"))
}

var testParams = CollectorParams{BatchSize: 512, BatchMax: 512, MemLimitMiB: 512, SpikeMiB: 128, Compression: "gzip"}

// TestConfigsValidate checks every benchmark config against the binary with
// `otelcol-mesh validate`; config B only when the binary has its components.
func TestConfigsValidate(t *testing.T) {
	bin := harness.CollectorBinary(t)
	have, err := Components(bin)
	require.NoError(t, err)
	require.True(t, have["processor/batch"], "components parsed: %v", have)
	ports := harness.NewPorts(t)
	tenantPorts, err := allocTenantPorts()
	require.NoError(t, err)
	// -disk-queue puts the exporter's queue of A, B, AP and BP on disk.
	disk := testParams
	disk.DiskQueue = true
	for _, k := range append(Kinds, NormalizeOnly, RouteOnly, PassthroughTwoStage, ProductTwoStage) {
		for name, p := range map[string]CollectorParams{string(k): testParams, string(k) + "_disk_queue": disk} {
			t.Run(name, func(t *testing.T) {
				if miss := Missing(k, have); len(miss) > 0 {
					t.Skipf("binary lacks %v", miss)
				}
				opts, err := collectorOptions(k, ports, tenantPorts, "127.0.0.1:4317", p)
				require.NoError(t, err)
				opts.Dir = t.TempDir()
				opts.Env[QueueDirEnv] = t.TempDir()
				require.NoError(t, harness.Validate(opts))
			})
		}
	}
}

// TestShortRunNoSilentLoss is the short variant of `make bench`: each
// config at a low fixed rate for a few seconds over gRPC and HTTP, checking
// only correctness: every acknowledged span reaches its tenant at the sink
// exactly once, every refusal was counted by the collector, and the
// collector exits cleanly. No timing is asserted.
func TestShortRunNoSilentLoss(t *testing.T) {
	r, have := shortRunner(t, ProtoMixed)
	runShortCells(t, r, have, append(Kinds, PassthroughTwoStage, ProductTwoStage), 2000)
}

// TestShortRunPerSenderNoSilentLoss runs the per-sender shape (one request
// per proxy or application, as in the shipped topology) through A, B and C,
// with the same correctness checks as TestShortRunNoSilentLoss.
func TestShortRunPerSenderNoSilentLoss(t *testing.T) {
	r, have := shortRunner(t, ProtoGRPC)
	r.SenderSpans = 5
	runShortCells(t, r, have, Kinds, 1000)
}

// runShortCells runs each kind for a few seconds at rate spans/s and checks
// correctness only (no timing).
func runShortCells(t *testing.T, r *Runner, have map[string]bool, kinds []Kind, rate float64) {
	for _, k := range kinds {
		t.Run(string(k), func(t *testing.T) {
			if miss := Missing(k, have); len(miss) > 0 {
				t.Skipf("binary lacks %v", miss)
			}
			res := r.Run(context.Background(), Cell{
				Kind: k, Mode: ModeRate, Label: "test", Rate: rate, Workers: 2,
				Warmup: 500 * time.Millisecond, Measure: 2 * time.Second, Params: testParams,
			})
			require.Empty(t, res.Skipped)
			assert.Positive(t, res.Gen.AckedSpans)
			assert.Equal(t, res.Gen.Expect, res.SinkDelta, "per tenant: sent == received")
			for _, c := range res.Checks {
				if c.Hard {
					assert.True(t, c.OK, "%s: %s", c.Name, c.Detail)
				}
			}
			if t.Failed() {
				t.Logf("collector log tail:\n%s", res.Log)
			}
		})
	}
}

func TestByteCappedBatchMax(t *testing.T) {
	assert.Equal(t, 512, ByteCappedBatchMax(512, 900, 4<<20))
	got := ByteCappedBatchMax(8192, 900, 4<<20)
	assert.Less(t, got, 8192)
	assert.LessOrEqual(t, float64(got)*900*1.5, float64(4<<20))
}

func TestOTTLStatementsCounted(t *testing.T) {
	n, err := OTTLStatements()
	require.NoError(t, err)
	assert.Greater(t, n, 40)
}

// TestConfigsNormalize checks that configs B and C really perform the same
// rewrite, so that their costs compare like for like (and C's
// error_mode: ignore cannot hide a broken statement that would make it look
// cheap): old names gone, stable names typed, span names templated, edge
// spans carry their destination namespace.
func TestConfigsNormalize(t *testing.T) {
	bin := harness.CollectorBinary(t)
	have, err := Components(bin)
	require.NoError(t, err)
	for _, k := range []Kind{Product, OTTL} {
		t.Run(string(k), func(t *testing.T) {
			if miss := Missing(k, have); len(miss) > 0 {
				t.Skipf("binary lacks %v", miss)
			}
			checkNormalized(t, k, have)
		})
	}
}

func checkNormalized(t *testing.T, k Kind, have map[string]bool) {
	sink, err := StartInProcessSink(true)
	require.NoError(t, err)
	defer sink.Close()
	r := &Runner{Sink: sink, Mix: loadgen.MixOptions{SpansPerRequest: 16, Requests: 2}, Protocol: ProtoGRPC, WorkDir: t.TempDir(), Have: have}
	res := r.Run(context.Background(), Cell{
		Kind: k, Mode: ModeRate, Label: "test", Rate: 1000, Workers: 1,
		Warmup: 200 * time.Millisecond, Measure: 500 * time.Millisecond, Params: testParams,
	})
	for _, c := range res.Checks {
		if c.Hard {
			require.True(t, c.OK, "%s: %s\n%s", c.Name, c.Detail, res.Log)
		}
	}
	seen := map[string]int{}
	for _, tenant := range Tenants {
		for _, td := range sink.Traces(tenant) {
			rss := td.ResourceSpans()
			for i := 0; i < rss.Len(); i++ {
				res := rss.At(i).Resource().Attributes()
				svc, _ := res.Get("service.name")
				sss := rss.At(i).ScopeSpans()
				for j := 0; j < sss.Len(); j++ {
					scope := sss.At(j).Scope().Name()
					spans := sss.At(j).Spans()
					for k := 0; k < spans.Len(); k++ {
						s := spans.At(k)
						a := s.Attributes()
						if scope == "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp" {
							continue // app span: untouched
						}
						seen[tenant]++
						_, old := a.Get("http.method")
						assert.False(t, old, "old name removed: %v", a.AsRaw())
						code, ok := a.Get("http.response.status_code")
						if assert.True(t, ok, "%v", a.AsRaw()) {
							assert.Equal(t, "Int", code.Type().String())
						}
						assert.NotContains(t, svc.Str(), ".", "canonical service name")
						assert.Regexp(t, `^(GET|POST) /[a-z0-9/{}]*$`, s.Name())
						if scope == "nginx" || (s.Kind().String() == "Client" && tenant == "platform") {
							d, ok := a.Get(loadgen.DestinationAttr)
							assert.True(t, ok, "edge span has its destination: %v", a.AsRaw())
							assert.Contains(t, d.Str(), "team-")
							// Route learning names a segment once seen
							// min_count times; before, it is {param}.
							assert.Regexp(t, `^POST /(api|\{param\})/(v1|\{param\})/(orders|\{param\})/\{id\}/(items|\{param\})/\{id\}$`, s.Name())
						}
						if scope == "nginx" {
							assert.NotEqual(t, "Ok", s.Status().Code().String(), "nginx OK reset")
						}
					}
				}
			}
		}
	}
	t.Logf("proxy spans checked per tenant: %v", seen)
	assert.Positive(t, seen["platform"])
	assert.Positive(t, seen["alpha"])
}

// TestShippedMaxConcurrentStreams keeps the bench's default in step with the
// gRPC receivers of the shipped configs (deploy/validate checks deploy/).
func TestShippedMaxConcurrentStreams(t *testing.T) {
	for _, name := range []string{"local.yaml", "container.yaml"} {
		raw, err := os.ReadFile(filepath.Join(harness.RepoRoot(t), "distribution", "config", name))
		require.NoError(t, err)
		var cfg struct {
			Receivers struct {
				OTLP struct {
					Protocols struct {
						GRPC struct {
							MaxConcurrentStreams int `yaml:"max_concurrent_streams"`
						} `yaml:"grpc"`
					} `yaml:"protocols"`
				} `yaml:"otlp"`
			} `yaml:"receivers"`
		}
		require.NoError(t, yaml.Unmarshal(raw, &cfg), name)
		assert.Equal(t, ShippedMaxConcurrentStreams, cfg.Receivers.OTLP.Protocols.GRPC.MaxConcurrentStreams, name)
	}
}

// TestShortOverloadNoSilentLoss is a short overload cell of config B with
// the shipped stream limit and without it: whatever the collector refuses is
// reported to the sender and counted by the collector, and every span it
// acknowledged reaches its tenants. It asserts correctness only, never
// throughput (meshbench measures that).
func TestShortOverloadNoSilentLoss(t *testing.T) {
	r, have := shortRunner(t, ProtoGRPC)
	if miss := Missing(Product, have); len(miss) > 0 {
		t.Skipf("binary lacks %v", miss)
	}
	// The limit below is tiny, so RSS is mostly what memory_limiter does not
	// see: the 80 MB binary's pages, the runtime, goroutine stacks.
	r.RSSMarginMiB = 128
	for _, streams := range []int{ShippedMaxConcurrentStreams, 0} {
		t.Run(fmt.Sprintf("max_concurrent_streams=%d", streams), func(t *testing.T) {
			p := testParams
			// A limit low enough that memory_limiter refuses some of the
			// spike, so that refusals are counted on both sides.
			p.MemLimitMiB, p.SpikeMiB, p.MaxConcurrentStreams = 40, 10, streams
			res := r.Run(context.Background(), Cell{
				Kind: Product, Mode: ModeOverload, Label: "test", Rate: 20000, Workers: 32,
				Measure: 2 * time.Second, Recovery: time.Second, Baseline: 10000, RecoveryWorkers: 2, Params: p,
			})
			require.Empty(t, res.Skipped)
			assert.Positive(t, res.Gen.AckedSpans)
			// The max phase before the spike took spans too: they are in
			// the totals the sink is compared with.
			assert.Positive(t, res.PreSpikeThroughput, "the max phase before the spike measured a throughput")
			assert.Equal(t, res.Gen.Expect, res.SinkDelta, "per tenant: sent == received")
			assert.Equal(t, res.Gen.RefusedSpans, res.Metrics.ReceiverRefused, "refused spans: reported to the sender == counted by the collector")
			for _, c := range res.Checks {
				// The recovery check judges speed against a baseline this
				// short run never measured.
				if c.Hard && c.Name != CheckRecovery {
					assert.True(t, c.OK, "%s: %s", c.Name, c.Detail)
				}
			}
			t.Logf("acked %d, refused %d (memory_limiter %d), peak RSS %d MiB",
				res.Gen.AckedSpans, res.Gen.RefusedSpans, res.Metrics.MemoryLimiterRefuse, res.PeakRSS>>20)
			if t.Failed() {
				t.Logf("collector log tail:\n%s", res.Log)
			}
		})
	}
}

// shortRunner runs short cells of the binary under test against an
// in-process sink, closed at cleanup; have lists the binary's components.
func shortRunner(t *testing.T, protocol Protocol) (*Runner, map[string]bool) {
	t.Helper()
	have, err := Components(harness.CollectorBinary(t))
	require.NoError(t, err)
	sink, err := StartInProcessSink(false)
	require.NoError(t, err)
	t.Cleanup(sink.Close)
	return &Runner{
		Sink:     sink,
		Mix:      loadgen.MixOptions{SpansPerRequest: 48, Requests: 4},
		Protocol: protocol,
		WorkDir:  t.TempDir(),
		Have:     have,
	}, have
}
