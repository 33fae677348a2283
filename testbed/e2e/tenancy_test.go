package e2e

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.yaml.in/yaml/v3"
	"google.golang.org/grpc"

	"github.com/otelcol-mesh/otelcol-mesh/testbed/fakek8s"
	"github.com/otelcol-mesh/otelcol-mesh/testbed/harness"
	"github.com/otelcol-mesh/otelcol-mesh/testbed/temposink"

	"github.com/otelcol-mesh/otelcol-mesh/internal/spanwalk"
)

// Pods of the fake cluster, each standing at its own loopback address.
const (
	alphaPodIP   = "127.0.0.2" // namespace team-alpha
	betaPodIP    = "127.0.0.3" // namespace team-beta
	gatewayPodIP = "127.0.0.4" // namespace istio-system
	gammaPodIP   = "127.0.0.6" // namespace payments, labelled team=gamma
	strangerIP   = "127.0.0.5" // no pod: k8s_attributes cannot identify it
)

// deployedCollectorConfig reads the collector config embedded in the
// OpenTelemetryCollector CR under deploy/base, so this test checks the
// pipeline users deploy, not a copy of it.
func deployedCollectorConfig(t *testing.T) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(harness.RepoRoot(t), "deploy", "base", "collector.yaml"))
	require.NoError(t, err)
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	for {
		var doc map[string]any
		if err := dec.Decode(&doc); err != nil {
			t.Fatalf("no OpenTelemetryCollector in deploy/base/collector.yaml: %v", err)
		}
		if doc["kind"] == "OpenTelemetryCollector" {
			spec, _ := doc["spec"].(map[string]any)
			cfg, ok := spec["config"].(map[string]any)
			require.True(t, ok, "spec.config is not a mapping")
			return cfg
		}
	}
}

// setPath sets a value in nested maps, creating levels as needed.
func setPath(t *testing.T, m map[string]any, value any, path ...string) {
	t.Helper()
	for _, key := range path[:len(path)-1] {
		next, ok := m[key].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[key] = next
		}
		m = next
	}
	m[path[len(path)-1]] = value
}

// tenancyCollectorConfig is the deployed config moved onto loopback: free
// ports, the fake API server instead of the in-cluster service account, the
// Tempo-like sink instead of Tempo, optionally the persistent queue.
func tenancyCollectorConfig(t *testing.T, ports harness.Ports, sinkAddr string, queueDir string) string {
	t.Helper()
	cfg := deployedCollectorConfig(t)
	setPath(t, cfg, fmt.Sprintf("127.0.0.1:%d", ports.OTLPGRPC), "receivers", "otlp", "protocols", "grpc", "endpoint")
	setPath(t, cfg, fmt.Sprintf("127.0.0.1:%d", ports.OTLPHTTP), "receivers", "otlp", "protocols", "http", "endpoint")
	setPath(t, cfg, fmt.Sprintf("127.0.0.1:%d", ports.Health), "extensions", "health_check", "endpoint")
	setPath(t, cfg, []any{map[string]any{"pull": map[string]any{"exporter": map[string]any{
		"prometheus": map[string]any{"host": "127.0.0.1", "port": ports.Metrics}}}}},
		"service", "telemetry", "metrics", "readers")
	setPath(t, cfg, "kubeConfig", "processors", "k8s_attributes", "auth_type")
	setPath(t, cfg, sinkAddr, "exporters", "otlp_grpc/tempo", "endpoint")
	if queueDir != "" {
		setPath(t, cfg, map[string]any{"directory": queueDir}, "extensions", "file_storage/queue")
		setPath(t, cfg, "file_storage/queue", "exporters", "otlp_grpc/tempo", "sending_queue", "storage")
		service := cfg["service"].(map[string]any)
		service["extensions"] = append(service["extensions"].([]any), "file_storage/queue")
	}
	out, err := yaml.Marshal(cfg)
	require.NoError(t, err)
	return string(out)
}

func fakeCluster(t *testing.T) string {
	t.Helper()
	api := fakek8s.New()
	t.Cleanup(api.Close)
	api.AddNamespace(fakek8s.Namespace{Name: "team-alpha"})
	api.AddNamespace(fakek8s.Namespace{Name: "team-beta"})
	api.AddNamespace(fakek8s.Namespace{Name: "istio-system"})
	api.AddNamespace(fakek8s.Namespace{Name: "payments", Labels: map[string]string{"platform.example.com/team": "gamma"}})
	api.AddPod(fakek8s.Pod{Namespace: "team-alpha", Name: "checkout-1", IP: alphaPodIP})
	api.AddPod(fakek8s.Pod{Namespace: "team-beta", Name: "ledger-1", IP: betaPodIP})
	api.AddPod(fakek8s.Pod{Namespace: "istio-system", Name: "istio-ingressgateway-1", IP: gatewayPodIP})
	api.AddPod(fakek8s.Pod{Namespace: "payments", Name: "payments-1", IP: gammaPodIP})
	path := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, api.WriteKubeconfig(path))
	return path
}

func dialerFrom(ip string) *net.Dialer {
	return &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
}

// sendAs emits spans from a given source address through the real SDK, with
// a resource and headers of the sender's choosing (including lies).
func sendAs(t *testing.T, ip, transport string, port int, res map[string]string, headers map[string]string, spanAttrs map[string]string, names ...string) {
	t.Helper()
	ctx := context.Background()
	var exp sdktrace.SpanExporter
	var err error
	endpoint := fmt.Sprintf("127.0.0.1:%d", port)
	switch transport {
	case "grpc":
		d := dialerFrom(ip)
		exp, err = otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(endpoint), otlptracegrpc.WithInsecure(),
			otlptracegrpc.WithHeaders(headers),
			otlptracegrpc.WithDialOption(grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
				return d.DialContext(ctx, "tcp", addr)
			})))
	case "http":
		client := &http.Client{Transport: &http.Transport{DialContext: dialerFrom(ip).DialContext}}
		defer client.CloseIdleConnections()
		exp, err = otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(endpoint), otlptracehttp.WithInsecure(),
			otlptracehttp.WithHeaders(headers), otlptracehttp.WithHTTPClient(client))
	}
	require.NoError(t, err)
	var kvs []attribute.KeyValue
	for k, v := range res {
		kvs = append(kvs, attribute.String(k, v))
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithResource(resource.NewSchemaless(kvs...)))
	tracer := tp.Tracer("tenancy")
	for _, name := range names {
		_, span := tracer.Start(ctx, name)
		for k, v := range spanAttrs {
			span.SetAttributes(attribute.String(k, v))
		}
		span.End()
	}
	shutdownCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	require.NoError(t, tp.Shutdown(shutdownCtx))
}

// postFixtureFrom posts an OTLP/JSON fixture from a given source address.
func postFixtureFrom(t *testing.T, ip string, port int, name string, headers map[string]string) {
	t.Helper()
	body, err := os.ReadFile(filepath.Join(harness.FixturesDir(t), name))
	require.NoError(t, err)
	client := &http.Client{Transport: &http.Transport{DialContext: dialerFrom(ip).DialContext}}
	defer client.CloseIdleConnections()
	req, err := http.NewRequest(http.MethodPost, fmt.Sprintf("http://127.0.0.1:%d/v1/traces", port), bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

// spanNamesByTenant lists what the sink holds, by tenant, as sorted
// "name" entries (with span IDs for fixtures whose names get rewritten).
func spanNamesByTenant(sink *temposink.Sink) map[string][]string {
	out := map[string][]string{}
	for _, tenant := range sink.Tenants() {
		for _, td := range sink.Traces(tenant) {
			spanwalk.Each(td, func(span ptrace.Span) {
				out[tenant] = append(out[tenant], span.Name())
			})
		}
		sort.Strings(out[tenant])
	}
	return out
}

// gatewaySpanName is the Istio gateway fixture's name after one request.
const gatewaySpanName = "GET /{param}"

// TestTenantIsolationWithRealK8sAttributes sends spans from pods of several
// namespaces (distinct loopback addresses), over gRPC and HTTP, with spoofed
// X-Scope-OrgID headers, false namespace claims and faked edge tags, through
// the deployed pipeline (real k8s_attributes against a fake API server,
// spannormalizer, tenantrouting, otlp_grpc batching per tenant with the
// tenantheader extension), and asserts the exact set of spans each tenant
// received. It runs with the in-memory and with the persistent queue.
func TestTenantIsolationWithRealK8sAttributes(t *testing.T) {
	for _, queue := range []string{"memory", "persistent"} {
		t.Run(queue, func(t *testing.T) {
			kubeconfig := fakeCluster(t)
			sink := startSink(t)
			ports := harness.NewPorts(t)
			queueDir := ""
			if queue == "persistent" {
				queueDir = t.TempDir()
			}
			col := harness.Start(t, harness.Options{
				Config: tenancyCollectorConfig(t, ports, sink.GRPCAddr(), queueDir),
				Ports:  ports,
				Env:    map[string]string{"KUBECONFIG": kubeconfig},
			})
			spoof := map[string]string{"X-Scope-OrgID": "beta"}

			// A team-alpha pod claims to be team-beta three ways.
			sendAs(t, alphaPodIP, "grpc", ports.OTLPGRPC,
				map[string]string{"service.name": "checkout", "k8s.namespace.name": "team-beta", "tenant": "beta"},
				spoof, nil, "alpha-grpc-1", "alpha-grpc-2")
			// ... and fakes an edge span towards team-beta.
			sendAs(t, alphaPodIP, "http", ports.OTLPHTTP,
				map[string]string{"service.name": "checkout"},
				spoof, map[string]string{"mesh.destination.namespace": "team-beta"}, "alpha-http-fake-edge")
			// team-beta's own spans, over HTTP.
			sendAs(t, betaPodIP, "http", ports.OTLPHTTP,
				map[string]string{"service.name": "ledger"}, map[string]string{"X-Scope-OrgID": "alpha"}, nil, "beta-http-1")
			// A namespace mapped by its label.
			sendAs(t, gammaPodIP, "grpc", ports.OTLPGRPC,
				map[string]string{"service.name": "payments"}, nil, nil, "gamma-grpc-1")
			// Not a pod at all: whatever it claims, it gets the default
			// tenant (quarantine).
			sendAs(t, strangerIP, "grpc", ports.OTLPGRPC,
				map[string]string{"service.name": "intruder", "k8s.namespace.name": "team-beta"}, spoof, nil, "stranger-1")
			// The ingress gateway's span for productpage in team-alpha.
			postFixtureFrom(t, gatewayPodIP, ports.OTLPHTTP, "istio-gateway.json", spoof)

			// The gateway span is sent once: route learning names
			// /productpage only after min_count sightings, so it is
			// "GET /{param}" here.
			want := map[string][]string{
				"alpha":    {gatewaySpanName, "alpha-grpc-1", "alpha-grpc-2", "alpha-http-fake-edge"},
				"beta":     {"beta-http-1"},
				"gamma":    {"gamma-grpc-1"},
				"platform": {gatewaySpanName},
				// deploy/ gives senders k8s_attributes cannot identify a
				// quarantine tenant, never the privileged platform one.
				"quarantine": {"stranger-1"},
			}
			assert.Eventually(t, func() bool { return assert.ObjectsAreEqual(want, spanNamesByTenant(sink)) },
				30*time.Second, 100*time.Millisecond)
			assert.Equal(t, want, spanNamesByTenant(sink), "spans per tenant")
			assert.Equal(t, 0, sink.Stats().Unauthenticated, "every export carried X-Scope-OrgID")

			// The edge copy is the same span under both tenants.
			gatewayIDs := map[string]string{}
			for _, tenant := range []string{"alpha", "platform"} {
				for _, td := range sink.Traces(tenant) {
					spanwalk.Each(td, func(span ptrace.Span) {
						if span.Name() == gatewaySpanName {
							id := span.SpanID()
							gatewayIDs[tenant] = hex.EncodeToString(id[:])
						}
					})
				}
			}
			assert.Equal(t, "a1b2c3d4e5f60718", gatewayIDs["alpha"])
			assert.Equal(t, gatewayIDs["alpha"], gatewayIDs["platform"])

			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			metrics, err := col.Metrics(ctx)
			require.NoError(t, err)
			assert.Equal(t, 1.0, metrics.Sum("otelcol_processor_tenantrouting_edge_copies", nil))
			require.NoError(t, col.Stop(30*time.Second))
		})
	}
}
