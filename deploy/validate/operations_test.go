package validate

import (
	"bytes"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// collectors returns the rendered OpenTelemetryCollector of every tree that has one.
func collectors(t *testing.T) map[string]Object {
	t.Helper()
	out := map[string]Object{}
	for _, tree := range collectorTrees {
		out[tree] = find(t, render(t, tree), "OpenTelemetryCollector", "otelcol-mesh")
	}
	return out
}

// mutate returns a copy of o changed by f.
func mutate(t *testing.T, o Object, f func(m map[string]any)) Object {
	t.Helper()
	c := mustCopy(t, o)
	f(c.Map)
	return fromMap(t, c.Map)
}

// expectProblem fails unless problems has one that contains want.
func expectProblem(t *testing.T, what string, problems []string, want string) {
	t.Helper()
	for _, p := range problems {
		if strings.Contains(p, want) {
			t.Logf("%s: caught as expected: %s", what, p)
			return
		}
	}
	t.Errorf("%s: want a problem containing %q, got %q", what, want, problems)
}

func noProblems(t *testing.T, what string, problems []string) {
	t.Helper()
	for _, p := range problems {
		t.Errorf("%s: %s", what, p)
	}
}

// No rendered CR sets spec.replicas next to spec.autoscaler.
func TestNoReplicasWithAutoscaler(t *testing.T) {
	for _, dir := range kustomizations {
		for _, o := range render(t, dir) {
			if o.GVK().Kind == "OpenTelemetryCollector" {
				noProblems(t, dir+": "+o.Name(), CheckReplicas(o))
			}
		}
	}
	crs := collectors(t)
	if _, ok := GetPath(crs["overlays/prod"].Map, "spec", "autoscaler"); !ok {
		t.Fatal("prod has no autoscaler")
	}
	// The defect: prod with replicas: 3 next to its autoscaler.
	bad := mutate(t, crs["overlays/prod"], func(m map[string]any) { SetPath(m, 3, "spec", "replicas") })
	expectProblem(t, "prod with spec.replicas", CheckReplicas(bad), "spec.replicas")
}

// The memory arithmetic of every tree: HPA target < GOMEMLIMIT < soft limit
// < hard limit < container limit.
func TestMemoryArithmetic(t *testing.T) {
	crs := collectors(t)
	for _, tree := range collectorTrees {
		plan, problems := CheckMemory(crs[tree])
		t.Logf("%s: %s", tree, plan)
		noProblems(t, tree, problems)
	}
	prod, _ := CheckMemory(crs["overlays/prod"])
	if prod.Request != prod.Limit {
		t.Errorf("prod requests.memory (%d MiB) != limits.memory (%d MiB): the HPA's percentage and memory_limiter's refer to different bases", prod.Request/mib, prod.Limit/mib)
	}
	if prod.HPAThreshold == 0 {
		t.Error("prod: no memory target in the autoscaler")
	}
	// The defect: 2Gi, memory_limiter 80/20 (soft 1.2Gi), HPA memory 75 %, no GOMEMLIMIT.
	old := mutate(t, crs["overlays/prod"], func(m map[string]any) {
		SetPath(m, 80, "spec", "config", "processors", "memory_limiter", "limit_percentage")
		SetPath(m, 20, "spec", "config", "processors", "memory_limiter", "spike_limit_percentage")
		SetPath(m, 75, "spec", "autoscaler", "targetMemoryUtilization")
		delete(m["spec"].(map[string]any), "env")
	})
	plan, problems := CheckMemory(old)
	t.Logf("the old prod numbers: %s", plan)
	expectProblem(t, "old prod", problems, "GOMEMLIMIT is not set")
	expectProblem(t, "old prod", problems, "spans are refused before memory-based scale-out fires")
}

// withRequestSizer returns o with the Tempo exporter's queue counted in
// requests (the default sizer), n of them.
func withRequestSizer(t *testing.T, o Object, n int) Object {
	t.Helper()
	return mutate(t, o, func(m map[string]any) {
		q, _ := GetPath(m, "spec", "config", "exporters", "otlp_grpc/tempo", "sending_queue")
		delete(q.(map[string]any), "sizer")
		q.(map[string]any)["queue_size"] = n
	})
}

// The persistent export queue is capped in bytes at half of its volume.
func TestDiskQueueFitsItsVolume(t *testing.T) {
	crs := collectors(t)
	var queues int
	for _, tree := range collectorTrees {
		budgets, problems := CheckDiskQueue(crs[tree])
		noProblems(t, tree, problems)
		for _, b := range budgets {
			queues++
			t.Logf("%s: %s -> %s on volume %s: queue %d MiB of %d MiB (%.0f %%)", tree, b.Exporter, b.Directory, b.Volume,
				b.QueueBytes/mib, b.VolumeBytes/mib, 100*float64(b.QueueBytes)/float64(b.VolumeBytes))
		}
	}
	if queues == 0 {
		t.Fatal("no tree has a persistent export queue (prod should)")
	}
	// The defect: 20000 requests (default sizer) on the 2Gi emptyDir.
	old := withRequestSizer(t, crs["overlays/prod"], 20000)
	_, problems := CheckDiskQueue(old)
	expectProblem(t, "old prod queue", problems, "not bytes")
	// And a byte budget that does not leave the volume its headroom.
	big := mutate(t, crs["overlays/prod"], func(m map[string]any) {
		SetPath(m, 1536*mib, "spec", "config", "exporters", "otlp_grpc/tempo", "sending_queue", "queue_size")
	})
	_, problems = CheckDiskQueue(big)
	expectProblem(t, "1.5 GiB queue on 2Gi", problems, "more than half of volume")
}

// One batching stage: no tree runs the batch processor in a pipeline
// whose exporter batches too.
func TestOneBatchingStage(t *testing.T) {
	crs := collectors(t)
	for _, tree := range collectorTrees {
		noProblems(t, tree, CheckOneBatchingStage(crs[tree]))
	}
	// The defect: the batch processor back in front of the batching exporter.
	twice := mutate(t, crs["base"], func(m map[string]any) {
		SetPath(m, map[string]any{"send_batch_size": 1024, "send_batch_max_size": 2048, "timeout": "200ms"},
			"spec", "config", "processors", "batch")
		procs, _ := GetPath(m, "spec", "config", "service", "pipelines", "traces", "processors")
		SetPath(m, append(procs.([]any), "batch"), "spec", "config", "service", "pipelines", "traces", "processors")
	})
	expectProblem(t, "batch processor and exporter batching", CheckOneBatchingStage(twice), "batches twice")
}

// Every export queue makes its senders wait when full, in memory or on disk.
func TestQueueBlocksWhenFull(t *testing.T) {
	crs := collectors(t)
	for _, tree := range collectorTrees {
		noProblems(t, tree, CheckQueueBlocks(crs[tree]))
	}
	// The defect: upstream's default, a full queue refuses.
	for _, tree := range []string{"base", "overlays/prod"} {
		refusing := mutate(t, crs[tree], func(m map[string]any) {
			q, _ := GetPath(m, "spec", "config", "exporters", "otlp_grpc/tempo", "sending_queue")
			delete(q.(map[string]any), "block_on_overflow")
		})
		expectProblem(t, tree+" without block_on_overflow", CheckQueueBlocks(refusing), "block_on_overflow is false (default)")
	}
}

// Every in-memory export queue is sized in bytes, and full it takes at
// most half of memory_limiter's soft limit.
func TestMemoryQueueFitsTheHeap(t *testing.T) {
	crs := collectors(t)
	var queues int
	for _, tree := range collectorTrees {
		plan, _ := CheckMemory(crs[tree])
		qs, problems := CheckMemoryQueue(crs[tree], plan)
		noProblems(t, tree, problems)
		for _, q := range qs {
			queues++
			t.Logf("%s: %s in memory: queue %d MiB, ~%d MiB of heap when full, %.0f %% of the soft limit %.1f MiB", tree, q.Exporter,
				q.QueueBytes/mib, q.HeapBytes/mib, 100*float64(q.HeapBytes)/float64(plan.Soft), float64(plan.Soft)/mib)
		}
	}
	if queues == 0 {
		t.Fatal("no tree has an in-memory export queue (base and dev should)")
	}
	// The defect: the 5000 requests base had while a batch processor in
	// front made each request a batch.
	old := withRequestSizer(t, crs["base"], 5000)
	plan, _ := CheckMemory(old)
	_, problems := CheckMemoryQueue(old, plan)
	expectProblem(t, "old base queue", problems, "not bytes")
	// And base's byte budget on dev's 512Mi.
	big := mutate(t, crs["overlays/dev"], func(m map[string]any) {
		SetPath(m, 96*mib, "spec", "config", "exporters", "otlp_grpc/tempo", "sending_queue", "queue_size")
	})
	plan, _ = CheckMemory(big)
	_, problems = CheckMemoryQueue(big, plan)
	expectProblem(t, "96 MiB queue on 512Mi", problems, "more than half of memory_limiter's soft limit")
}

// The startup probe outlasts wait_for_metadata_timeout; the custom image is
// not touched by the operator's upgrades.
func TestStartupProbeAndUpgradeStrategy(t *testing.T) {
	crs := collectors(t)
	for _, tree := range collectorTrees {
		noProblems(t, tree, CheckStartup(crs[tree]))
	}
	old := mutate(t, crs["base"], func(m map[string]any) {
		spec := m["spec"].(map[string]any)
		delete(spec, "startupProbe")
		delete(spec, "upgradeStrategy")
	})
	problems := CheckStartup(old)
	expectProblem(t, "base without startupProbe", problems, "startup probe gives up after 30s")
	expectProblem(t, "base without upgradeStrategy", problems, "want none")
}

// No receiver puts the sender's headers into the context; gRPC connections
// have a maximum age.
func TestReceivers(t *testing.T) {
	crs := collectors(t)
	for _, tree := range collectorTrees {
		noProblems(t, tree, CheckReceivers(crs[tree]))
	}
	old := mutate(t, crs["base"], func(m map[string]any) {
		SetPath(m, true, "spec", "config", "receivers", "otlp", "protocols", "http", "include_metadata")
		g, _ := GetPath(m, "spec", "config", "receivers", "otlp", "protocols", "grpc")
		delete(g.(map[string]any), "keepalive")
		delete(g.(map[string]any), "max_concurrent_streams")
	})
	problems := CheckReceivers(old)
	expectProblem(t, "include_metadata", problems, "include_metadata: true")
	expectProblem(t, "no keepalive", problems, "max_connection_age is unset")
	expectProblem(t, "unbounded streams", problems, "max_concurrent_streams is unset")
}

// CPU-based autoscaling with a slow scale-down.
func TestAutoscalerBehavior(t *testing.T) {
	crs := collectors(t)
	for _, tree := range collectorTrees {
		noProblems(t, tree, CheckAutoscaler(crs[tree]))
	}
	old := mutate(t, crs["base"], func(m map[string]any) {
		a, _ := GetPath(m, "spec", "autoscaler")
		delete(a.(map[string]any), "behavior")
	})
	expectProblem(t, "no behavior", CheckAutoscaler(old), "stabilizationWindowSeconds")
}

// Statically: every pipeline with k8s_attributes strips every k8s.* claim first.
func TestClaimsStrippedStatically(t *testing.T) {
	crs := collectors(t)
	for _, tree := range collectorTrees {
		noProblems(t, tree, CheckClaimsStripped(crs[tree]))
	}
	old := mutate(t, crs["base"], func(m map[string]any) {
		SetPath(m, []any{map[string]any{"context": "resource", "statements": []any{
			`delete_matching_keys(resource.attributes, "^k8s\\.namespace\\.")`,
			`delete_key(resource.attributes, "k8s.pod.uid")`,
		}}}, "spec", "config", "processors", "transform/untrusted", "trace_statements")
	})
	expectProblem(t, "namespace-only stripping", CheckClaimsStripped(old), "without a transform before it")
}

// Behaviourally, with the real binary: the shipped transform/untrusted
// removes a sender's claim of every attribute k8s_attributes can set (each
// metadata key and namespace label it extracts, and other k8s.* keys), and
// keeps the rest.
func TestSenderClaimsAreStripped(t *testing.T) {
	bin := meshBinary(t)
	full := collectorConfig(t, "base")
	transform, ok := GetPath(full, "processors", "transform/untrusted")
	if !ok {
		t.Fatal("base has no transform/untrusted")
	}
	claims := []string{"k8s.cluster.name", "k8s.container.name", "k8s.replicaset.name"}
	md, _ := GetPath(full, "processors", "k8s_attributes", "extract", "metadata")
	for _, k := range md.([]any) {
		claims = append(claims, fmt.Sprint(k))
	}
	lbls, _ := GetPath(full, "processors", "k8s_attributes", "extract", "labels")
	for _, l := range lbls.([]any) {
		claims = append(claims, fmt.Sprint(l.(map[string]any)["tag_name"]))
	}
	logs := runTransform(t, bin, transform, claims)
	for _, c := range claims {
		if strings.Contains(logs, "-> "+c+":") {
			t.Errorf("the sender's claim %s survived transform/untrusted", c)
		}
	}
	if !strings.Contains(logs, "-> deployment.environment.name:") {
		t.Error("transform/untrusted removed a non-k8s attribute too")
	}
	t.Logf("stripped %d claimed attributes: %s", len(claims), strings.Join(claims, ", "))

	// The check can fail: the old statements (k8s.namespace.* and k8s.pod.uid
	// only) let a claimed k8s.pod.name through.
	old := map[string]any{"error_mode": "propagate", "trace_statements": []any{map[string]any{"context": "resource", "statements": []any{
		`delete_matching_keys(resource.attributes, "^k8s\\.namespace\\.")`,
		`delete_key(resource.attributes, "k8s.pod.uid")`,
	}}}}
	if logs := runTransform(t, bin, old, claims); !strings.Contains(logs, "-> k8s.pod.name:") {
		t.Error("with the old statements k8s.pod.name should survive; the probe does not see it")
	}
}

// runTransform runs the binary with otlp -> transform -> debug (detailed),
// sends one span whose resource claims every attribute in claims (plus a
// service.name and a non-k8s attribute) and returns what it printed.
func runTransform(t *testing.T, bin string, transform any, claims []string) string {
	t.Helper()
	ports := freePorts(t, 1)
	cfg := map[string]any{
		"receivers":  map[string]any{"otlp": map[string]any{"protocols": map[string]any{"http": map[string]any{"endpoint": fmt.Sprintf("127.0.0.1:%d", ports[0])}}}},
		"processors": map[string]any{"transform/untrusted": transform},
		"exporters":  map[string]any{"debug": map[string]any{"verbosity": "detailed"}},
		"service": map[string]any{
			"telemetry": map[string]any{"metrics": map[string]any{"level": "none"}},
			"pipelines": map[string]any{"traces": map[string]any{
				"receivers": []any{"otlp"}, "processors": []any{"transform/untrusted"}, "exporters": []any{"debug"},
			}},
		},
	}
	var attrs []string
	for _, c := range append(append([]string{}, claims...), "service.name", "deployment.environment.name") {
		val := "claimed-team-b"
		if c == "service.name" {
			val = "claims-probe"
		}
		attrs = append(attrs, fmt.Sprintf(`{"key":%q,"value":{"stringValue":%q}}`, c, val))
	}
	body := `{"resourceSpans":[{"resource":{"attributes":[` + strings.Join(attrs, ",") + `]},"scopeSpans":[{"spans":[{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7","name":"GET /","kind":2,"startTimeUnixNano":"1","endTimeUnixNano":"2"}]}]}]}`

	var out syncBuffer
	cmd := exec.Command(bin, "--config", writeConfig(t, cfg))
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	url := fmt.Sprintf("http://127.0.0.1:%d/v1/traces", ports[0])
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), "claims-probe") && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		postBody(t, url, []byte(body))
	}
	logs := out.String()
	if !strings.Contains(logs, "claims-probe") {
		t.Fatalf("the debug exporter never printed the span:\n%s", tail(logs, 3000))
	}
	return logs
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
