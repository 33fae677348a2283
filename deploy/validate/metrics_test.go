package validate

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	dashboardFile = "../grafana/dashboards/otelcol-mesh.json"
	// fixturesDir holds the proxy spans the README posts (examples/).
	fixturesDir = "../../examples"
)

// ourProcessorMetricPrefix maps our processors to the prefix of their self-metrics.
var ourProcessorMetricPrefix = map[string]string{
	"spannormalizer": "otelcol_processor_spannormalizer_",
	"tenantrouting":  "otelcol_processor_tenantrouting_",
}

// Every metric the collector dashboard queries is one a running otelcol-mesh
// exposes on its Prometheus endpoint (see liveMetrics).
func TestDashboardMetricsAreExposed(t *testing.T) {
	data, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	queries, err := DashboardQueries(data)
	if err != nil {
		t.Fatal(err)
	}
	checkQueriedMetrics(t, "the dashboard", queries, 10)
}

// checkQueriedMetrics fails for every metric the queries select that the
// running binary does not expose.
func checkQueriedMetrics(t *testing.T, what string, queries []string, atLeast int) {
	t.Helper()
	want := map[string]bool{}
	for _, q := range queries {
		for _, name := range QueryMetricNames(q) {
			want[name] = true
		}
	}
	if len(want) < atLeast {
		t.Fatalf("%s queries only %d metrics: %v", what, len(want), keys(want))
	}
	live := liveMetrics(t)
	var missing, exempt []string
	for _, name := range keys(want) {
		if live.names[name] {
			continue
		}
		if typ := ourComponentOf(name); typ != "" && !live.have["processors"][typ] {
			exempt = append(exempt, name)
			continue
		}
		missing = append(missing, name)
	}
	if len(exempt) > 0 {
		t.Logf("not checked, %s does not have their processors yet: %s", live.bin, strings.Join(exempt, ", "))
	}
	if len(missing) > 0 {
		t.Errorf("%s queries metrics the binary does not expose: %s\nexposed: %s",
			what, strings.Join(missing, ", "), strings.Join(keys(live.names), ", "))
	}
}

// live is what one run of the binary exposed.
type live struct {
	bin     string
	have    Components
	names   map[string]bool
	samples []string // sample lines of the last scrape
}

var (
	liveMu    sync.Mutex
	liveCache *live
)

// liveMetrics runs the binary once per test process (the result is shared by
// the tests that need it) with the in-cluster config (base) on free loopback
// ports, minus k8s_attributes (no cluster here) and minus components it does
// not have yet, plus side pipelines that make the refusal and failure
// counters appear: one whose memory_limiter refuses everything, one whose
// exporter points at a closed port, one that reaches the tenantheader
// exporter without a tenant, one with tight settings for our processors.
func liveMetrics(t *testing.T) *live {
	t.Helper()
	liveMu.Lock()
	defer liveMu.Unlock()
	if liveCache != nil {
		return liveCache
	}
	bin := meshBinary(t)
	have, err := BinaryComponents(context.Background(), bin)
	if err != nil {
		t.Fatal(err)
	}
	cfg := collectorConfig(t, "base")
	drop := DropSet(have.Missing(cfg))
	if drop["processors"] == nil {
		drop["processors"] = map[string]bool{}
	}
	drop["processors"]["k8s_attributes"] = true // needs a Kubernetes API server
	cfg, err = Without(cfg, drop)
	if err != nil {
		t.Fatal(err)
	}
	if have["processors"]["spannormalizer"] {
		// Without k8s_attributes only Istio's tags can give the fixtures a
		// namespace, which edge routing (and its metrics) needs.
		SetPath(cfg, true, "processors", "spannormalizer", "k8s_identity_from_istio")
	}
	ports := freePorts(t, 11)
	addr := func(i int) string { return fmt.Sprintf("127.0.0.1:%d", ports[i]) }
	SetPath(cfg, addr(0), "receivers", "otlp", "protocols", "grpc", "endpoint")
	SetPath(cfg, addr(1), "receivers", "otlp", "protocols", "http", "endpoint")
	SetPath(cfg, addr(2), "extensions", "health_check", "endpoint")
	SetPath(cfg, []any{map[string]any{"pull": map[string]any{"exporter": map[string]any{
		"prometheus": map[string]any{"host": "127.0.0.1", "port": ports[3]},
	}}}}, "service", "telemetry", "metrics", "readers")
	SetPath(cfg, "warn", "service", "telemetry", "logs", "level")
	// Tempo stand-in: the collector's own OTLP receiver on another port.
	SetPath(cfg, addr(4), "exporters", "otlp_grpc/tempo", "endpoint")
	SetPath(cfg, map[string]any{"protocols": map[string]any{"grpc": map[string]any{"endpoint": addr(4)}}}, "receivers", "otlp/sink")
	SetPath(cfg, map[string]any{"verbosity": "basic"}, "exporters", "debug/sink")
	SetPath(cfg, map[string]any{"receivers": []any{"otlp/sink"}, "exporters": []any{"debug/sink"}}, "service", "pipelines", "traces/sink")
	// Refusals: a memory_limiter whose limit is below any Go heap.
	SetPath(cfg, map[string]any{"protocols": map[string]any{"http": map[string]any{"endpoint": addr(5)}}}, "receivers", "otlp/refuse")
	SetPath(cfg, map[string]any{"check_interval": "100ms", "limit_mib": 2, "spike_limit_mib": 1}, "processors", "memory_limiter/refuse")
	SetPath(cfg, map[string]any{"receivers": []any{"otlp/refuse"}, "processors": []any{"memory_limiter/refuse"}, "exporters": []any{"debug/sink"}},
		"service", "pipelines", "traces/refuse")
	// Export failures: nothing listens on ports[7] (reserved, then released).
	SetPath(cfg, map[string]any{"protocols": map[string]any{"http": map[string]any{"endpoint": addr(6)}}}, "receivers", "otlp/fail")
	SetPath(cfg, map[string]any{
		"endpoint": addr(7), "tls": map[string]any{"insecure": true}, "timeout": "2s",
		"retry_on_failure": map[string]any{"enabled": false}, "sending_queue": map[string]any{"enabled": false},
	}, "exporters", "otlp_grpc/fail")
	SetPath(cfg, map[string]any{"receivers": []any{"otlp/fail"}, "exporters": []any{"otlp_grpc/fail"}}, "service", "pipelines", "traces/fail")

	// Queue overflow: a one-request queue in front of the closed port, its
	// consumer busy retrying, so further requests cannot be enqueued.
	SetPath(cfg, map[string]any{"protocols": map[string]any{"http": map[string]any{"endpoint": addr(10)}}}, "receivers", "otlp/overflow")
	SetPath(cfg, map[string]any{
		"endpoint": addr(7), "tls": map[string]any{"insecure": true}, "timeout": "1s",
		"retry_on_failure": map[string]any{"enabled": true, "initial_interval": "10s", "max_elapsed_time": "60s"},
		"sending_queue":    map[string]any{"enabled": true, "queue_size": 1, "num_consumers": 1},
	}, "exporters", "otlp_grpc/overflow")
	SetPath(cfg, map[string]any{"receivers": []any{"otlp/overflow"}, "exporters": []any{"otlp_grpc/overflow"}}, "service", "pipelines", "traces/overflow")

	var eventProcs []any
	needed := []string{
		"otelcol_exporter_sent_spans",
		"otelcol_processor_memory_limiter_refused_spans",
		"otelcol_exporter_send_failed_spans",
		"otelcol_exporter_enqueue_failed_spans",
	}
	// A pipeline without tenantrouting in front of the tenantheader exporter:
	// the extension refuses (fail closed) and counts it.
	if have["extensions"]["tenantheader"] {
		SetPath(cfg, map[string]any{"protocols": map[string]any{"http": map[string]any{"endpoint": addr(9)}}}, "receivers", "otlp/notenant")
		SetPath(cfg, map[string]any{
			"endpoint": addr(4), "tls": map[string]any{"insecure": true}, "timeout": "2s",
			"auth":             map[string]any{"authenticator": "tenantheader"},
			"retry_on_failure": map[string]any{"enabled": false}, "sending_queue": map[string]any{"enabled": false},
		}, "exporters", "otlp_grpc/notenant")
		SetPath(cfg, map[string]any{"receivers": []any{"otlp/notenant"}, "exporters": []any{"otlp_grpc/notenant"}}, "service", "pipelines", "traces/notenant")
		needed = append(needed, "otelcol_extension_tenantheader_requests_refused")
	}
	// Our processors count some things only when they happen: a side
	// pipeline with tight settings makes them happen (a span-name bound of one
	// service, no tenant for anyone, a proxy span with unconvertible values).
	if have["processors"]["spannormalizer"] {
		SetPath(cfg, map[string]any{"max_services": 1, "max_span_names_per_service": 1,
			"context_diagnostics": map[string]any{"enabled": true}}, "processors", "spannormalizer/events")
		eventProcs = append(eventProcs, "spannormalizer/events")
		needed = append(needed, "otelcol_processor_spannormalizer_span_names_collapsed", "otelcol_processor_spannormalizer_values_invalid",
			"otelcol_processor_spannormalizer_context_breaks", "otelcol_processor_spannormalizer_context_propagated")
	}
	if have["processors"]["tenantrouting"] {
		SetPath(cfg, map[string]any{
			"rules":          []any{map[string]any{"namespace_prefix": "no-such-prefix-"}},
			"default_tenant": "",
		}, "processors", "tenantrouting/events")
		eventProcs = append(eventProcs, "tenantrouting/events")
		needed = append(needed, "otelcol_processor_tenantrouting_spans_dropped", "otelcol_processor_tenantrouting_spans_routed")
	}
	if len(eventProcs) > 0 {
		SetPath(cfg, map[string]any{"protocols": map[string]any{"http": map[string]any{"endpoint": addr(8)}}}, "receivers", "otlp/events")
		SetPath(cfg, map[string]any{"receivers": []any{"otlp/events"}, "processors": eventProcs, "exporters": []any{"debug/sink"}},
			"service", "pipelines", "traces/events")
	}

	fixtures, err := filepath.Glob(filepath.Join(fixturesDir, "*.json"))
	if err != nil || len(fixtures) == 0 {
		t.Fatalf("no OTLP/JSON fixtures in %s: %v", fixturesDir, err)
	}

	stop := startCollector(t, bin, writeConfig(t, cfg))
	defer stop()
	waitHealthy(t, "http://"+addr(2)+"/")

	invalid := invalidProxySpan(t, filepath.Join(fixturesDir, "istio-sidecar-inbound.json"))
	contextBreak := rootSpan(t, filepath.Join(fixturesDir, "istio-sidecar-outbound-error.json"))
	var samples []string
	var got map[string]bool
	done := func() bool {
		// The shipped pipeline delivered to the Tempo stand-in: tenantheader
		// found a tenant in the context without the receivers' include_metadata.
		return hasAll(got, needed) && sampleValue(samples, "otelcol_exporter_sent_spans", `exporter="otlp_grpc/tempo"`) > 0
	}
	for attempt := 0; attempt < 60; attempt++ {
		for _, f := range fixtures {
			postFixture(t, "http://"+addr(1)+"/v1/traces", f)
		}
		postFixture(t, "http://"+addr(5)+"/v1/traces", fixtures[0])
		postFixture(t, "http://"+addr(6)+"/v1/traces", fixtures[0])
		postFixture(t, "http://"+addr(10)+"/v1/traces", fixtures[0])
		if have["extensions"]["tenantheader"] {
			postFixture(t, "http://"+addr(9)+"/v1/traces", fixtures[0])
		}
		if len(eventProcs) > 0 {
			for _, f := range fixtures {
				postFixture(t, "http://"+addr(8)+"/v1/traces", f)
			}
			postBody(t, "http://"+addr(8)+"/v1/traces", invalid)
			postBody(t, "http://"+addr(8)+"/v1/traces", contextBreak)
		}
		samples = scrapeSamples(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", ports[3]))
		got = sampleNames(samples)
		if done() {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if !done() {
		t.Fatalf("after 60 rounds the binary still does not expose all of %v with spans sent by otlp_grpc/tempo; it exposes %v", needed, keys(got))
	}
	liveCache = &live{bin: filepath.Base(bin), have: have, names: got, samples: samples}
	return liveCache
}

// sampleValue sums the values of the samples of metric whose labels contain
// every one of the given `label="value"` pairs.
func sampleValue(samples []string, metric string, labels ...string) float64 {
	var sum float64
	for _, line := range samples {
		if !strings.HasPrefix(line, metric+"{") && !strings.HasPrefix(line, metric+" ") {
			continue
		}
		ok := true
		for _, l := range labels {
			if !strings.Contains(line, l) {
				ok = false
			}
		}
		if !ok {
			continue
		}
		fields := strings.Fields(line[strings.LastIndex(line, "}")+1:])
		if len(fields) == 0 {
			continue
		}
		if v, err := strconv.ParseFloat(fields[0], 64); err == nil {
			sum += v
		}
	}
	return sum
}

func ourComponentOf(metric string) string {
	for typ, prefix := range ourProcessorMetricPrefix {
		if strings.HasPrefix(metric, prefix) {
			return typ
		}
	}
	return ""
}

func hasAll(set map[string]bool, names []string) bool {
	for _, n := range names {
		if !set[n] {
			return false
		}
	}
	return true
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// freePorts reserves n loopback ports, then releases them for the collector.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	ports := make([]int, n)
	lns := make([]net.Listener, n)
	for i := range lns {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns[i] = ln
		ports[i] = ln.Addr().(*net.TCPAddr).Port
	}
	for _, ln := range lns {
		_ = ln.Close()
	}
	return ports
}

// startCollector starts the binary and returns a function that stops it
// (SIGTERM, then SIGKILL after 10s) and waits for it to exit.
func startCollector(t *testing.T, bin, config string) func() {
	t.Helper()
	var logs bytes.Buffer
	cmd := exec.Command(bin, "--config", config)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stopped := false
	return func() {
		if stopped {
			return
		}
		stopped = true
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("collector output:\n%s", tail(logs.String(), 4000))
		}
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

func waitHealthy(t *testing.T, url string) {
	t.Helper()
	client := &http.Client{Timeout: time.Second}
	for attempt := 0; attempt < 100; attempt++ {
		resp, err := client.Get(url)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("collector not healthy at %s", url)
}

// postFixture sends one OTLP/JSON file. The answer is not checked: the
// refuse and fail pipelines are meant to reject.
func postFixture(t *testing.T, url, file string) {
	t.Helper()
	body, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	postBody(t, url, body)
}

func postBody(t *testing.T, url string, body []byte) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Logf("POST %s: %v", url, err)
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
}

// scrapeSamples returns the sample lines of a Prometheus text exposition.
func scrapeSamples(t *testing.T, url string) []string {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []string
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 1<<16), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, line)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// sampleNames returns the sample names (histogram _bucket/_sum/_count
// included) of sample lines.
func sampleNames(samples []string) map[string]bool {
	names := map[string]bool{}
	for _, line := range samples {
		end := strings.IndexAny(line, "{ ")
		if end <= 0 {
			continue
		}
		names[line[:end]] = true
	}
	return names
}

// invalidProxySpan returns the Envoy fixture with an HTTP status and a
// request size that cannot be converted to integers.
func invalidProxySpan(t *testing.T, file string) []byte {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	changed := 0
	for _, rs := range doc["resourceSpans"].([]any) {
		for _, ss := range rs.(map[string]any)["scopeSpans"].([]any) {
			for _, sp := range ss.(map[string]any)["spans"].([]any) {
				for _, a := range sp.(map[string]any)["attributes"].([]any) {
					am := a.(map[string]any)
					switch am["key"] {
					case "http.status_code", "request_size":
						am["value"] = map[string]any{"stringValue": "not-a-number"}
						changed++
					}
				}
			}
		}
	}
	if changed == 0 {
		t.Fatalf("%s has no http.status_code or request_size to spoil", file)
	}
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// rootSpan returns a fixture with its spans' parents removed: a sidecar
// outbound root span is a context break for spannormalizer's diagnostics.
func rootSpan(t *testing.T, file string) []byte {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	for _, rs := range doc["resourceSpans"].([]any) {
		for _, ss := range rs.(map[string]any)["scopeSpans"].([]any) {
			for _, sp := range ss.(map[string]any)["spans"].([]any) {
				delete(sp.(map[string]any), "parentSpanId")
			}
		}
	}
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
