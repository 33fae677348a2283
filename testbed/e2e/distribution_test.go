package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/otelcol-mesh/otelcol-mesh/testbed/harness"
	"github.com/otelcol-mesh/otelcol-mesh/testbed/temposink"
)

// startLocalTempo runs the shipped local.yaml + local-tempo.yaml (the config
// behind `TEMPO_ENDPOINT=... make run`) on free ports, exporting to a fresh
// Tempo-like sink, with defaultTenant as TEMPO_TENANT.
func startLocalTempo(t *testing.T, defaultTenant string) (*harness.Collector, *temposink.Sink, harness.Ports) {
	t.Helper()
	sink := startSink(t)
	ports := harness.NewPorts(t)
	col := harness.Start(t, harness.Options{
		ConfigFiles: harness.ShippedConfigs(t, "local.yaml", "local-tempo.yaml"),
		Ports:       ports,
		Env:         map[string]string{"TEMPO_ENDPOINT": sink.GRPCAddr(), "TEMPO_TENANT": defaultTenant},
	})
	return col, sink, ports
}

func postFixture(t *testing.T, port int, name string) {
	t.Helper()
	body, err := os.ReadFile(filepath.Join(harness.FixturesDir(t), name))
	require.NoError(t, err)
	resp, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d/v1/traces", port), "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

// TestLocalConfigPrintsSpans runs distribution/config/local.yaml, the config
// behind `make run`, as the README's quick start does: the gateway example
// posted three times. The debug exporter prints each span as rewritten, and
// the third copy carries the learned name.
func TestLocalConfigPrintsSpans(t *testing.T) {
	ports := harness.NewPorts(t)
	col := harness.Start(t, harness.Options{
		ConfigFiles: harness.ShippedConfigs(t, "local.yaml"),
		Ports:       ports,
	})
	for range 3 {
		postFixture(t, ports.OTLPHTTP, "istio-gateway.json")
	}

	require.Eventually(t, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		m, err := col.Metrics(ctx)
		// The edge span goes to its team and to the platform tenant.
		return err == nil && m.Sum("otelcol_exporter_sent_spans", map[string]string{"exporter": "debug"}) == 6
	}, 20*time.Second, 100*time.Millisecond, "the debug exporter never reported the spans")
	require.NoError(t, col.Stop(30*time.Second))
	for _, want := range []string{"GET /{param}", "GET /productpage", "http.request.method: Str(GET)",
		"mesh.destination.namespace: Str(team-alpha)", "service.name: Str(istio-ingressgateway)"} {
		assert.True(t, col.LogContains(want), "the debug output shows %q", want)
	}
}

// TestLocalTempoOverlaySendsToTempo loads local.yaml plus the TEMPO_ENDPOINT
// overlay and checks the whole tenancy wiring of the shipped configs: the
// gateway span (istio-system, routed to productpage in team-alpha) reaches
// both the team and the platform tenant, the app span from team-beta reaches
// beta alone, and every push carries X-Scope-OrgID.
func TestLocalTempoOverlaySendsToTempo(t *testing.T) {
	col, sink, ports := startLocalTempo(t, "dev")
	postFixture(t, ports.OTLPHTTP, "istio-gateway.json")
	postFixture(t, ports.OTLPHTTP, "app-span.json")
	want := map[string]int{"alpha": 1, "platform": 1, "beta": 1}
	assert.Eventually(t, func() bool { return assert.ObjectsAreEqual(want, sink.Stats().Spans) },
		20*time.Second, 50*time.Millisecond)
	assert.Equal(t, want, sink.Stats().Spans, "spans per tenant")
	require.NoError(t, col.Stop(30*time.Second))
	assert.Equal(t, 0, sink.Stats().Unauthenticated)
}

// TestContainerConfigMatchesLocal keeps the image's default config in step
// with local.yaml: only the comments and the listen addresses may differ.
func TestContainerConfigMatchesLocal(t *testing.T) {
	dir := filepath.Join(harness.RepoRoot(t), "distribution", "config")
	normalize := func(name string, replacements ...string) string {
		raw, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		var kept []string
		for _, line := range strings.Split(string(raw), "\n") {
			if !strings.HasPrefix(line, "#") {
				kept = append(kept, line)
			}
		}
		return strings.NewReplacer(replacements...).Replace(strings.Join(kept, "\n"))
	}
	local := normalize("local.yaml")
	container := normalize("container.yaml", ":-0.0.0.0:", ":-localhost:", "host: 0.0.0.0", "host: localhost")
	assert.Equal(t, local, container)
}

// TestBadConfigNamesTheKey checks that a typo in a config is refused at start
// with a message that names the offending key.
func TestBadConfigNamesTheKey(t *testing.T) {
	bin := harness.CollectorBinary(t)
	cases := map[string]struct {
		config string
		want   string
	}{
		"unknown key": {
			config: "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: localhost:0\n        max_recv_msg_size_mibb: 4\n" +
				"exporters:\n  debug: {}\nservice:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [debug]\n",
			want: "max_recv_msg_size_mibb",
		},
		"unknown component": {
			config: "receivers:\n  otlp:\n    protocols:\n      grpc: {}\nexporters:\n  tempo: {}\nservice:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [tempo]\n",
			want:   "tempo",
		},
		"invalid value": {
			config: "receivers:\n  otlp:\n    protocols:\n      grpc: {}\nprocessors:\n  batch:\n    send_batch_size: 100\n    send_batch_max_size: 10\n" +
				"exporters:\n  debug: {}\nservice:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      processors: [batch]\n      exporters: [debug]\n",
			want: "send_batch_max_size",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config.yaml")
			require.NoError(t, os.WriteFile(path, []byte(tc.config), 0o600))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, bin, "validate", "--config", "file:"+path).CombinedOutput()
			require.Error(t, err, "validate must refuse:\n%s", out)
			assert.Contains(t, string(out), tc.want)
		})
	}
}

// TestComponentsMatchManifest checks that `otelcol-mesh components` lists
// exactly the modules builder-config.yaml names.
func TestComponentsMatchManifest(t *testing.T) {
	bin := harness.CollectorBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "components").Output()
	require.NoError(t, err)
	listed := componentModules(t, out)
	manifest, err := os.ReadFile(filepath.Join(harness.RepoRoot(t), "builder-config.yaml"))
	require.NoError(t, err)
	assert.ElementsMatch(t, manifestModules(t, manifest), listed)
}

// TestShippedConfigKeepsExportsUnderFourMiB sends large spans (5 KiB each,
// far more than fit in 4 MiB per batch) through local.yaml + local-tempo.yaml
// into the sink, which keeps grpc-go's 4 MiB limit as Tempo does: the
// byte-capped export batches must deliver every span.
func TestShippedConfigKeepsExportsUnderFourMiB(t *testing.T) {
	col, sink, ports := startLocalTempo(t, "big")
	exp, err := otlptracegrpc.New(context.Background(),
		otlptracegrpc.WithEndpoint(fmt.Sprintf("127.0.0.1:%d", ports.OTLPGRPC)), otlptracegrpc.WithInsecure())
	require.NoError(t, err)
	const spans = 6000
	payload := strings.Repeat("x", 5<<10)
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp, sdktrace.WithMaxExportBatchSize(256), sdktrace.WithBlocking()))
	tracer := tp.Tracer("big")
	for i := 0; i < spans; i++ {
		_, span := tracer.Start(context.Background(), "big")
		span.SetAttributes(attribute.String("payload", payload))
		span.End()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	require.NoError(t, tp.Shutdown(ctx))

	assert.Eventually(t, func() bool { return sink.SpanCount("big") == spans }, 60*time.Second, 100*time.Millisecond)
	assert.Equal(t, spans, sink.SpanCount("big"), "spans at the sink (%d MiB sent)", spans*len(payload)>>20)
	scrapeCtx, cancelScrape := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancelScrape()
	metrics, err := col.Metrics(scrapeCtx)
	require.NoError(t, err)
	assert.Equal(t, float64(spans), metrics.Sum("otelcol_receiver_accepted_spans", nil))
	assert.Equal(t, 0.0, metrics.Sum("otelcol_exporter_send_failed_spans", nil))
	require.NoError(t, col.Stop(30*time.Second))
}
