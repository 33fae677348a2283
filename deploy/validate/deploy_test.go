package validate

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
)

const (
	// deployDir is deploy/, seen from deploy/validate.
	deployDir = ".."
	// schemaDir holds the upstream CRDs, with their source and version in
	// SOURCES.md.
	schemaDir = "testdata/schemas"
	// chartDir holds upstream Helm charts' default values, for key checks.
	chartDir = "testdata/charts"
)

// kustomizations are the Kustomize trees under deploy/ that must render.
var kustomizations = []string{
	"base", "overlays/dev", "overlays/prod", "istio", "grafana", "grafana/tenants", "tempo",
	"gateway-api/istio", "gateway-api/nginx-gateway-fabric",
}

var (
	validatorOnce sync.Once
	validator     *Validator
	validatorErr  error
)

func newValidator(t *testing.T) *Validator {
	t.Helper()
	validatorOnce.Do(func() { validator, validatorErr = NewValidator(schemaDir) })
	if validatorErr != nil {
		t.Fatalf("loading CRD schemas from %s: %v", schemaDir, validatorErr)
	}
	return validator
}

func render(t *testing.T, dir string) []Object {
	t.Helper()
	objs, err := Render(filepath.Join(deployDir, dir))
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) == 0 {
		t.Fatalf("kustomize %s rendered no objects", dir)
	}
	return objs
}

func find(t *testing.T, objs []Object, kind, name string) Object {
	t.Helper()
	for _, o := range objs {
		if o.GVK().Kind != kind {
			continue
		}
		if n, _ := GetPath(o.Map, "metadata", "name"); n == name {
			return o
		}
	}
	t.Fatalf("no %s %q rendered", kind, name)
	return Object{}
}

func mustCopy(t *testing.T, o Object) Object {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(o.JSON, &m); err != nil {
		t.Fatal(err)
	}
	return fromMap(t, m)
}

func fromMap(t *testing.T, m map[string]any) Object {
	t.Helper()
	js, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	mm, err := decodeJSONMap(js)
	if err != nil {
		t.Fatal(err)
	}
	return Object{JSON: js, Map: mm}
}

// Every YAML file under deploy/ parses (duplicate keys are errors) and every
// JSON file is valid JSON.
func TestEveryYAMLAndJSONFileParses(t *testing.T) {
	var n int
	err := filepath.WalkDir(deployDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, rerr := os.ReadFile(path)
		if rerr != nil {
			return rerr
		}
		switch filepath.Ext(path) {
		case ".yaml", ".yml":
			n++
			if _, err := SplitYAML(data); err != nil {
				t.Errorf("%s: %v", path, err)
			}
		case ".json":
			n++
			if !json.Valid(data) {
				t.Errorf("%s: invalid JSON", path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 10 {
		t.Fatalf("found only %d YAML/JSON files under %s", n, deployDir)
	}
}

// Each Kustomize tree renders, and every object it renders is valid: custom
// resources against the upstream CRD schema with unknown fields rejected,
// core objects by strict decoding into the k8s.io/api types.
func TestRenderedObjectsAreValid(t *testing.T) {
	v := newValidator(t)
	for _, dir := range kustomizations {
		t.Run(dir, func(t *testing.T) {
			for _, o := range render(t, dir) {
				if err := v.Validate(o); err != nil {
					t.Errorf("%s: %v", o.Name(), err)
				}
			}
		})
	}
}

// The checks above must be able to fail: a misspelled or mistyped field in a
// custom resource or a core object is rejected.
func TestTypoIsRejected(t *testing.T) {
	v := newValidator(t)
	base := render(t, "base")
	istio := render(t, "istio")
	cr := find(t, base, "OpenTelemetryCollector", "otelcol-mesh")
	inst := find(t, base, "Instrumentation", "otelcol-mesh")
	tel := find(t, istio, "Telemetry", "mesh-default")
	role := find(t, base, "ClusterRole", "otelcol-mesh-k8s-attributes")
	sa := find(t, base, "ServiceAccount", "otelcol-mesh")
	ns := find(t, base, "Namespace", "observability")

	tests := []struct {
		name   string
		obj    Object
		want   string // in the error: the failure is for the right reason
		mutate func(m map[string]any)
	}{
		{"collector spec field", cr, "replicaz", func(m map[string]any) { SetPath(m, 2, "spec", "replicaz") }},
		{"collector nested field", cr, "maxReplica", func(m map[string]any) { SetPath(m, 4, "spec", "autoscaler", "maxReplica") }},
		{"collector wrong type", cr, "/spec/replicas", func(m map[string]any) { SetPath(m, "two", "spec", "replicas") }},
		{"collector bad enum", cr, "/spec/mode", func(m map[string]any) { SetPath(m, "deploymnet", "spec", "mode") }},
		{"collector metadata field", cr, "lables", func(m map[string]any) { SetPath(m, map[string]any{"a": "b"}, "metadata", "lables") }},
		{"instrumentation field", inst, "endpont", func(m map[string]any) { SetPath(m, "http://x:4318", "spec", "exporter", "endpont") }},
		{"telemetry field", tel, "randomSamplingPercent", func(m map[string]any) {
			tr, _ := GetPath(m, "spec", "tracing")
			tr.([]any)[0].(map[string]any)["randomSamplingPercent"] = 5
		}},
		{"telemetry out of range", tel, "randomSamplingPercentage", func(m map[string]any) {
			tr, _ := GetPath(m, "spec", "tracing")
			tr.([]any)[0].(map[string]any)["randomSamplingPercentage"] = 250
		}},
		{"core nested field", role, "rules[0].verb", func(m map[string]any) {
			rules, _ := GetPath(m, "rules")
			rules.([]any)[0].(map[string]any)["verb"] = []any{"get"}
		}},
		{"core top-level field", sa, "automountServiceAccountTokn", func(m map[string]any) { SetPath(m, false, "automountServiceAccountTokn") }},
		{"core metadata field", ns, "metadata.lables", func(m map[string]any) { SetPath(m, map[string]any{"a": "b"}, "metadata", "lables") }},
		{"core wrong case", role, "APIGroups", func(m map[string]any) {
			rules, _ := GetPath(m, "rules")
			rules.([]any)[0].(map[string]any)["APIGroups"] = []any{""}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := v.Validate(tt.obj); err != nil {
				t.Fatalf("unmodified %s must be valid: %v", tt.obj.Name(), err)
			}
			o := mustCopy(t, tt.obj)
			tt.mutate(o.Map)
			bad := fromMap(t, o.Map)
			err := v.Validate(bad)
			if err == nil {
				t.Fatalf("%s with a typo was accepted", bad.Name())
			}
			msg := strings.Join(strings.Fields(err.Error()), " ")
			if !strings.Contains(msg, tt.want) {
				t.Fatalf("rejected, but the error does not name %q: %s", tt.want, msg)
			}
			t.Logf("rejected as expected: %s", msg)
		})
	}

	t.Run("unknown kind", func(t *testing.T) {
		o := mustCopy(t, sa)
		o.Map["apiVersion"] = "example.com/v1"
		err := v.Validate(fromMap(t, o.Map))
		if !errors.Is(err, ErrNoSchema) {
			t.Fatalf("an object without a schema must fail, got %v", err)
		}
	})
}

// What the base promises: the operator CR shape, RBAC that matches the
// collector's service account and grants exactly what k8s_attributes needs.
func TestBaseInventory(t *testing.T) {
	base := render(t, "base")
	cr := find(t, base, "OpenTelemetryCollector", "otelcol-mesh")
	if cr.GVK().Version != "v1beta1" {
		t.Errorf("OpenTelemetryCollector must be opentelemetry.io/v1beta1, is %s", cr.GVK().Version)
	}
	for path, want := range map[string]any{"spec.mode": "deployment"} {
		got, _ := GetPath(cr.Map, strings.Split(path, ".")...)
		if got != want {
			t.Errorf("%s = %v, want %v", path, got, want)
		}
	}
	for _, p := range []string{"spec.image", "spec.autoscaler.maxReplicas", "spec.podDisruptionBudget", "spec.resources.limits.memory"} {
		if _, ok := GetPath(cr.Map, strings.Split(p, ".")...); !ok {
			t.Errorf("%s is missing", p)
		}
	}
	cfg, err := CollectorConfig(cr)
	if err != nil {
		t.Fatal(err)
	}
	procs, _ := GetPath(cfg, "service", "pipelines", "traces", "processors")
	wantProcs := []any{"memory_limiter", "transform/untrusted", "k8s_attributes", "spannormalizer", "tenantrouting"}
	if !reflect.DeepEqual(procs, wantProcs) {
		t.Errorf("traces processors = %v, want %v", procs, wantProcs)
	}
	for path, want := range map[string]any{
		"receivers.otlp.protocols.grpc.endpoint":             "0.0.0.0:4317",
		"receivers.otlp.protocols.http.endpoint":             "0.0.0.0:4318",
		"exporters.otlp_grpc/tempo.endpoint":                 "tempo-distributor.tempo.svc.cluster.local:4317",
		"exporters.otlp_grpc/tempo.auth.authenticator":       "tenantheader",
		"exporters.otlp_grpc/tempo.sending_queue.enabled":    true,
		"exporters.otlp_grpc/tempo.retry_on_failure.enabled": true,
		"processors.tenantrouting.metadata_key":              "x-scope-orgid",
		"extensions.tenantheader.metadata_key":               "x-scope-orgid",
	} {
		got, _ := GetPath(cfg, strings.Split(path, ".")...)
		if got != want {
			t.Errorf("config %s = %v, want %v", path, got, want)
		}
	}
	// One batch per tenant: the exporter's batcher partitions by the tenant.
	keys, _ := GetPath(cfg, "exporters", "otlp_grpc/tempo", "sending_queue", "batch", "partition", "metadata_keys")
	if !reflect.DeepEqual(keys, []any{"x-scope-orgid"}) {
		t.Errorf("exporter sending_queue.batch.partition.metadata_keys = %v, want [x-scope-orgid]", keys)
	}
	// Pod association only by the connection's IP: resource attributes are
	// sent by the client and could name another team's pod.
	assoc, _ := GetPath(cfg, "processors", "k8s_attributes", "pod_association")
	wantAssoc := []any{map[string]any{"sources": []any{map[string]any{"from": "connection"}}}}
	if !reflect.DeepEqual(assoc, wantAssoc) {
		t.Errorf("k8s_attributes pod_association = %v, want connection only", assoc)
	}

	saName, _ := GetPath(cr.Map, "spec", "serviceAccount")
	ns, _ := GetPath(cr.Map, "metadata", "namespace")
	find(t, base, "ServiceAccount", saName.(string))
	crb := find(t, base, "ClusterRoleBinding", "otelcol-mesh-k8s-attributes")
	subj, _ := GetPath(crb.Map, "subjects")
	wantSubj := []any{map[string]any{"kind": "ServiceAccount", "name": saName, "namespace": ns}}
	if !reflect.DeepEqual(subj, wantSubj) {
		t.Errorf("ClusterRoleBinding subjects = %v, want %v", subj, wantSubj)
	}
	roleName, _ := GetPath(crb.Map, "roleRef", "name")
	role := find(t, base, "ClusterRole", roleName.(string))
	rules, _ := GetPath(role.Map, "rules")
	wantRules := []any{map[string]any{
		"apiGroups": []any{""},
		"resources": []any{"pods", "namespaces"},
		"verbs":     []any{"get", "list", "watch"},
	}}
	if !reflect.DeepEqual(rules, wantRules) {
		t.Errorf("ClusterRole rules = %v, want exactly pods+namespaces get/list/watch", rules)
	}

	inst := find(t, base, "Instrumentation", "otelcol-mesh")
	props, _ := GetPath(inst.Map, "spec", "propagators")
	if !reflect.DeepEqual(props, []any{"tracecontext", "baggage"}) {
		t.Errorf("Instrumentation propagators = %v, want [tracecontext baggage]", props)
	}
}

func TestOverlays(t *testing.T) {
	dev := find(t, render(t, "overlays/dev"), "OpenTelemetryCollector", "otelcol-mesh")
	if r, _ := GetPath(dev.Map, "spec", "replicas"); r != json.Number("1") {
		t.Errorf("dev replicas = %v, want 1", r)
	}
	if _, ok := GetPath(dev.Map, "spec", "autoscaler"); ok {
		t.Error("dev must not autoscale")
	}
	cfg, err := CollectorConfig(dev)
	if err != nil {
		t.Fatal(err)
	}
	exps, _ := GetPath(cfg, "service", "pipelines", "traces", "exporters")
	if !reflect.DeepEqual(exps, []any{"otlp_grpc/tempo", "debug"}) {
		t.Errorf("dev exporters = %v, want [otlp_grpc/tempo debug]", exps)
	}

	prod := find(t, render(t, "overlays/prod"), "OpenTelemetryCollector", "otelcol-mesh")
	min, _ := GetPath(prod.Map, "spec", "autoscaler", "minReplicas")
	if n, _ := min.(json.Number).Int64(); n < 3 {
		t.Errorf("prod minReplicas = %v, want >= 3", min)
	}
	pcfg, err := CollectorConfig(prod)
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := GetPath(pcfg, "exporters", "otlp_grpc/tempo", "sending_queue", "storage"); s != "file_storage/queue" {
		t.Errorf("prod sending_queue.storage = %v, want file_storage/queue", s)
	}
	// The config patch must not have dropped the exporter's other settings.
	if a, _ := GetPath(pcfg, "exporters", "otlp_grpc/tempo", "auth", "authenticator"); a != "tenantheader" {
		t.Errorf("prod exporter lost auth.authenticator: %v", a)
	}
}

// `kubectl kustomize` (the tool users run) renders the same objects as the
// kustomize API the tests use. Skipped where kubectl is not installed: the
// tests above do not need it.
func TestKubectlKustomizeAgrees(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl not on PATH; the krusty rendering above is the check")
	}
	for _, dir := range kustomizations {
		t.Run(dir, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			cmd := exec.Command(kubectl, "kustomize", filepath.Join(deployDir, dir))
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("kubectl kustomize %s: %v: %s", dir, err, stderr.String())
			}
			got, err := SplitYAML(stdout.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			want := render(t, dir)
			if a, b := canonical(t, got), canonical(t, want); !reflect.DeepEqual(a, b) {
				t.Errorf("kubectl kustomize and krusty disagree on %s:\nkubectl: %v\nkrusty:  %v", dir, a, b)
			}
		})
	}
}

func canonical(t *testing.T, objs []Object) []string {
	t.Helper()
	out := make([]string, len(objs))
	for i, o := range objs {
		var m any
		if err := json.Unmarshal(o.JSON, &m); err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(m) // map keys sorted
		if err != nil {
			t.Fatal(err)
		}
		out[i] = string(b)
	}
	sort.Strings(out)
	return out
}

// TestSchemasMatchSources: every schema file (and every upstream chart values
// file) is listed in its folder's SOURCES.md with the sha256 of its bytes,
// and every listed file exists, so an upstream file cannot be replaced
// without its provenance being updated.
func TestSchemasMatchSources(t *testing.T) {
	for _, dir := range []string{schemaDir, chartDir} {
		t.Run(dir, func(t *testing.T) { checkSources(t, dir) })
	}
}

func checkSources(t *testing.T, dir string) {
	sources, err := os.ReadFile(filepath.Join(dir, "SOURCES.md"))
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no upstream files in %s: %v", dir, err)
	}
	listed := map[string]string{} // file -> sha256 from its table row
	for _, line := range strings.Split(string(sources), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 7 || !strings.HasSuffix(strings.Trim(strings.TrimSpace(cells[1]), "`"), ".yaml") {
			continue
		}
		listed[strings.Trim(strings.TrimSpace(cells[1]), "`")] = strings.TrimSpace(cells[5])
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(f)
		want, ok := listed[name]
		if !ok {
			t.Errorf("%s is not listed in SOURCES.md", name)
			continue
		}
		if got := fmt.Sprintf("%x", sha256.Sum256(data)); got != want {
			t.Errorf("%s: sha256 %s, SOURCES.md says %s", name, got, want)
		}
		delete(listed, name)
	}
	for name := range listed {
		t.Errorf("SOURCES.md lists %s, which is not in %s", name, dir)
	}
}
