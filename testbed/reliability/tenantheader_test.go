package reliability

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-mesh/otelcol-mesh/testbed/harness"
	"github.com/otelcol-mesh/otelcol-mesh/testbed/temposink"
)

// requireComponent skips the test when the binary lacks a component (e.g.
// before it is added to builder-config.yaml).
func requireComponent(t *testing.T, name string) {
	t.Helper()
	out, err := exec.Command(harness.CollectorBinary(t), "components").CombinedOutput()
	require.NoError(t, err, "%s", out)
	if !strings.Contains(string(out), "name: "+name+"\n") {
		t.Skipf("the binary has no %q component; add it to builder-config.yaml and rebuild", name)
	}
}

// dynamicResult is what runDynamicTenants measured.
type dynamicResult struct {
	alpha, beta     delivery
	unauthenticated int
	sendFailed      float64
	refusedLog      bool
}

// runDynamicTenants sends interleaved requests of two tenants while the sink
// is down, SIGKILLs the collector, restarts it and brings the sink back,
// then waits until every span is delivered or counted as failed.
func runDynamicTenants(t *testing.T, overlays ...string) dynamicResult {
	t.Helper()
	sink := startSink(t, temposink.Config{GRPCAddr: "127.0.0.1:0"})
	env := sinkEnv(sink)
	env["STORAGE_DIR"] = t.TempDir()
	opts := ownPipeline(t, env, append([]string{"reliability/dynamic-tenants.yaml"}, overlays...)...)
	col := harness.Start(t, opts)
	alpha, beta := newStream(t, 'a', opts.Ports.OTLPGRPC), newStream(t, 'b', opts.Ports.OTLPGRPC)
	alpha.tenant, beta.tenant = "alpha", "beta"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sink.Down()
	const requests, perReq = 20, 100
	for i := 0; i < requests; i++ {
		require.NoError(t, alpha.send(ctx, perReq, 0))
		require.NoError(t, beta.send(ctx, perReq, 0))
	}
	col.Kill()
	col2 := harness.Start(t, opts)
	require.NoError(t, sink.Up())
	total := 2 * requests * perReq
	var r dynamicResult
	_, ok := waitFor(60*time.Second, func() bool {
		st := sink.Stats()
		r.sendFailed = exporterMetric(scrape(t, col2), "otelcol_exporter_send_failed_spans", "otlp_grpc/tempo")
		return float64(st.Spans["alpha"]+st.Spans["beta"])+r.sendFailed >= float64(total)
	})
	time.Sleep(time.Second)
	require.True(t, ok, "backlog neither delivered nor counted: %v", sink.Stats().Spans)
	r.refusedLog = col2.LogContains("no tenant in the request context")
	require.NoError(t, col2.Stop(30*time.Second))
	r.alpha, r.beta, r.unauthenticated = alpha.compare(sink, "alpha"), beta.compare(sink, "beta"), sink.Stats().Unauthenticated
	return r
}

// TestTenantMetadataSurvivesSIGKILL: the tenant in each request's client
// metadata is stored with it in the persistent queue, so after SIGKILL and
// restart the tenantheader extension still sends every span under its own
// tenant, provided the exporter's batcher partitions by that key.
func TestTenantMetadataSurvivesSIGKILL(t *testing.T) {
	requireComponent(t, "tenantheader")
	r := runDynamicTenants(t, "reliability/tenant-partition.yaml")
	t.Logf("dynamic tenants through the persistent queue and SIGKILL, batch partitioned by x-scope-orgid: alpha %s; beta %s; unauthenticated=%d send_failed=%.0f",
		r.alpha, r.beta, r.unauthenticated, r.sendFailed)
	for name, d := range map[string]delivery{"alpha": r.alpha, "beta": r.beta} {
		assert.Zero(t, d.missing, name)
		assert.Zero(t, d.duplicated, name)
		assert.Zero(t, d.foreign, "%s: no span under a wrong tenant", name)
	}
	assert.Zero(t, r.unauthenticated)
	assert.Zero(t, r.sendFailed)
}

// TestUnpartitionedBatchingLosesTheTenant is the control: without
// partition.metadata_keys the exporter's batcher merges requests of
// different tenants into a batch with no client metadata at all; the
// tenantheader extension then refuses to send it (fail closed), so nothing
// leaks across tenants but everything is dropped, counted as send_failed.
// The shipped config must partition.
func TestUnpartitionedBatchingLosesTheTenant(t *testing.T) {
	requireComponent(t, "tenantheader")
	r := runDynamicTenants(t)
	t.Logf("dynamic tenants, batch NOT partitioned: alpha %s; beta %s; send_failed=%.0f; 'no tenant in the request context' logged=%v",
		r.alpha, r.beta, r.sendFailed, r.refusedLog)
	assert.Zero(t, r.alpha.foreign+r.beta.foreign, "never under a wrong tenant")
	assert.Zero(t, r.alpha.received+r.beta.received, "merged batches carry no tenant")
	assert.Equal(t, float64(r.alpha.accepted+r.beta.accepted), r.sendFailed, "the loss is counted")
	assert.True(t, r.refusedLog)
}
