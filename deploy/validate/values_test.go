package validate

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// There is no helm here: the Helm values files are parsed and the keys this
// platform depends on are checked, including that they point at each other
// (the collector Service, the Tempo distributor, provider and datasource names).

func loadValues(t *testing.T, path string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := yaml.UnmarshalStrict(data, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return m
}

func get(t *testing.T, m map[string]any, path string) any {
	t.Helper()
	v, ok := GetPath(m, strings.Split(path, ".")...)
	if !ok {
		t.Fatalf("%s is not set", path)
	}
	return v
}

func expect(t *testing.T, m map[string]any, path string, want any) {
	t.Helper()
	if got := get(t, m, path); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s = %v, want %v", path, got, want)
	}
}

// collectorService is the FQDN of the Service the operator creates for the
// base collector: <name>-collector.<namespace>.svc.cluster.local.
func collectorService(t *testing.T) string {
	t.Helper()
	cr := find(t, render(t, "base"), "OpenTelemetryCollector", "otelcol-mesh")
	name, _ := GetPath(cr.Map, "metadata", "name")
	ns, _ := GetPath(cr.Map, "metadata", "namespace")
	return fmt.Sprintf("%s-collector.%s.svc.cluster.local", name, ns)
}

func TestTempoValues(t *testing.T) {
	v := loadValues(t, "../tempo/values.yaml")
	expect(t, v, "multitenancyEnabled", true)
	expect(t, v, "traces.otlp.grpc.enabled", true)
	expect(t, v, "traces.otlp.grpc.receiverConfig.endpoint", "0.0.0.0:4317")
	expect(t, v, "traces.otlp.http.enabled", true)
	expect(t, v, "traces.otlp.http.receiverConfig.endpoint", "0.0.0.0:4318")
	expect(t, v, "storage.trace.backend", "s3")
	for _, k := range []string{"bucket", "endpoint"} {
		get(t, v, "storage.trace.s3."+k)
	}
	if r := get(t, v, "compactor.config.compaction.block_retention"); !regexp.MustCompile(`^\d+h$`).MatchString(fmt.Sprint(r)) {
		t.Errorf("block_retention = %v, want a duration in hours", r)
	}
	expect(t, v, "metricsGenerator.enabled", true)
	rw, _ := get(t, v, "metricsGenerator.config.storage.remote_write").([]any)
	if len(rw) == 0 {
		t.Error("metricsGenerator.config.storage.remote_write is empty")
	}
	for _, r := range rw {
		if u, _ := r.(map[string]any)["url"].(string); !strings.HasSuffix(u, "/api/v1/write") {
			t.Errorf("remote_write url %q is not a Prometheus remote-write endpoint", u)
		}
	}
	procs := fmt.Sprint(get(t, v, "overrides.defaults.metrics_generator.processors"))
	for _, p := range []string{"service-graphs", "span-metrics"} {
		if !strings.Contains(procs, p) {
			t.Errorf("overrides.defaults.metrics_generator.processors lacks %s: %s", p, procs)
		}
	}

	// The collector exports to the distributor of release "tempo" in
	// namespace "tempo" (README's helm command): tempo-distributor.tempo.svc.
	cfg := collectorConfig(t, "base")
	ep, _ := GetPath(cfg, "exporters", "otlp_grpc/tempo", "endpoint")
	if ep != "tempo-distributor.tempo.svc.cluster.local:4317" {
		t.Errorf("collector exports to %v, not the Tempo distributor of these values", ep)
	}
}

func TestIngressNginxValues(t *testing.T) {
	v := loadValues(t, "../ingress-nginx/values.yaml")
	cfg, ok := get(t, v, "controller.config").(map[string]any)
	if !ok {
		t.Fatal("controller.config is not a map")
	}
	for k, val := range cfg {
		if _, ok := val.(string); !ok {
			t.Errorf("controller.config.%s = %v (%T): ConfigMap data must be a string", k, val, val)
		}
	}
	expect(t, v, "controller.config.enable-opentelemetry", "true")
	expect(t, v, "controller.config.otlp-collector-host", collectorService(t))
	expect(t, v, "controller.config.otlp-collector-port", "4317")
	op, _ := cfg["opentelemetry-operation-name"].(string)
	if op == "" {
		t.Error("opentelemetry-operation-name is not set: nginx would name spans by URI")
	}
	for _, highCard := range []string{"$uri", "$request_uri", "$args", "$query_string", "$request_id", "$remote_addr"} {
		if strings.Contains(op, highCard) {
			t.Errorf("opentelemetry-operation-name %q uses %s: one span name per URL/client", op, highCard)
		}
	}
	snippet, _ := cfg["server-snippet"].(string)
	for attr, variable := range map[string]string{
		"ingress.namespace":    "$namespace",
		"ingress.service_name": "$service_name",
		"ingress.name":         "$ingress_name",
		"ingress.upstream":     "$proxy_upstream_name",
	} {
		re := regexp.MustCompile(`(?m)^\s*opentelemetry_attribute\s+` + regexp.QuoteMeta(attr) + `\s+` + regexp.QuoteMeta(variable) + `\s*;`)
		if !re.MatchString(snippet) {
			t.Errorf("server-snippet lacks `opentelemetry_attribute %s %s;`", attr, variable)
		}
	}
	// The access log line carries the traceparent the Loki derived field reads.
	if lf, _ := cfg["log-format-upstream"].(string); !strings.Contains(lf, `"traceparent":"$opentelemetry_context_traceparent"`) {
		t.Error("log-format-upstream lacks the traceparent for log -> trace links")
	}
}

func TestIstio(t *testing.T) {
	v := loadValues(t, "../istio/istiod-values.yaml")
	providers, _ := get(t, v, "meshConfig.extensionProviders").([]any)
	byName := map[string]map[string]any{}
	for _, p := range providers {
		pm, _ := p.(map[string]any)
		name, _ := pm["name"].(string)
		byName[name] = pm
	}
	tel := find(t, render(t, "istio"), "Telemetry", "mesh-default")
	if ns, _ := GetPath(tel.Map, "metadata", "namespace"); ns != "istio-system" {
		t.Errorf("Telemetry is in %v: only the root namespace istio-system makes it mesh-wide", ns)
	}
	tracing, _ := GetPath(tel.Map, "spec", "tracing")
	tl, _ := tracing.([]any)
	if len(tl) != 1 {
		t.Fatalf("spec.tracing has %d entries, want 1", len(tl))
	}
	tr := tl[0].(map[string]any)
	if _, ok := tr["randomSamplingPercentage"]; !ok {
		t.Error("spec.tracing[0].randomSamplingPercentage (the sampling knob) is not set")
	}
	for _, p := range tr["providers"].([]any) {
		name := p.(map[string]any)["name"].(string)
		prov, ok := byName[name]
		if !ok {
			t.Fatalf("Telemetry tracing provider %q is not defined in meshConfig.extensionProviders", name)
		}
		otel, ok := prov["opentelemetry"].(map[string]any)
		if !ok {
			t.Fatalf("provider %q is not an opentelemetry provider", name)
		}
		if otel["service"] != collectorService(t) || fmt.Sprint(otel["port"]) != "4317" {
			t.Errorf("provider %q sends to %v:%v, want %s:4317", name, otel["service"], otel["port"], collectorService(t))
		}
	}
	logging, _ := GetPath(tel.Map, "spec", "accessLogging")
	for _, l := range logging.([]any) {
		for _, p := range l.(map[string]any)["providers"].([]any) {
			name := p.(map[string]any)["name"].(string)
			prov, ok := byName[name]
			if !ok {
				t.Fatalf("Telemetry access log provider %q is not defined in meshConfig.extensionProviders", name)
			}
			tp, _ := GetPath(prov, "envoyFileAccessLog", "logFormat", "labels", "traceparent")
			if tp != "%REQ(TRACEPARENT)%" {
				t.Errorf("access log provider %q: labels.traceparent = %v, want %%REQ(TRACEPARENT)%%", name, tp)
			}
		}
	}
}

type datasource struct {
	Name           string         `json:"name"`
	UID            string         `json:"uid"`
	Type           string         `json:"type"`
	URL            string         `json:"url"`
	Access         string         `json:"access"`
	IsDefault      bool           `json:"isDefault"`
	OrgID          int            `json:"orgId"`
	Editable       bool           `json:"editable"`
	JSONData       map[string]any `json:"jsonData"`
	SecureJSONData map[string]any `json:"secureJsonData"`
}

func TestGrafanaDatasources(t *testing.T) {
	data, err := os.ReadFile("../grafana/datasources.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var prov struct {
		APIVersion  int          `json:"apiVersion"`
		Datasources []datasource `json:"datasources"`
	}
	if err := yaml.UnmarshalStrict(data, &prov); err != nil {
		t.Fatal(err)
	}
	uids := map[string]datasource{}
	for _, d := range prov.Datasources {
		if d.UID == "" {
			t.Errorf("datasource %q has no uid", d.Name)
		}
		if _, dup := uids[d.UID]; dup {
			t.Errorf("uid %q used twice", d.UID)
		}
		uids[d.UID] = d
	}
	tenants := map[string]string{} // tenant -> tempo uid
	for _, d := range prov.Datasources {
		switch d.Type {
		case "tempo":
			if d.JSONData["httpHeaderName1"] != "X-Scope-OrgID" {
				t.Errorf("%s: httpHeaderName1 = %v, want X-Scope-OrgID", d.Name, d.JSONData["httpHeaderName1"])
			}
			tenant, _ := d.SecureJSONData["httpHeaderValue1"].(string)
			if tenant == "" {
				t.Errorf("%s: no tenant in secureJsonData.httpHeaderValue1", d.Name)
			}
			if prev, dup := tenants[tenant]; dup {
				t.Errorf("tenant %q has two Tempo datasources (%s, %s)", tenant, prev, d.UID)
			}
			tenants[tenant] = d.UID
			if en, _ := GetPath(d.JSONData, "nodeGraph", "enabled"); en != true {
				t.Errorf("%s: nodeGraph.enabled is not true", d.Name)
			}
			sm, _ := GetPath(d.JSONData, "serviceMap", "datasourceUid")
			if target, ok := uids[fmt.Sprint(sm)]; !ok || target.Type != "prometheus" {
				t.Errorf("%s: serviceMap.datasourceUid %v is not a Prometheus datasource", d.Name, sm)
			}
			if !strings.Contains(d.URL, "tempo-query-frontend.tempo.svc") {
				t.Errorf("%s: url %s is not the query-frontend of deploy/tempo", d.Name, d.URL)
			}
		case "loki":
			fields, _ := d.JSONData["derivedFields"].([]any)
			if len(fields) == 0 {
				t.Errorf("%s: no derivedFields", d.Name)
			}
			for _, f := range fields {
				fm := f.(map[string]any)
				target, ok := uids[fmt.Sprint(fm["datasourceUid"])]
				if !ok || target.Type != "tempo" {
					t.Errorf("%s: derived field links to %v, not a Tempo datasource", d.Name, fm["datasourceUid"])
					continue
				}
				if target.SecureJSONData["httpHeaderValue1"] != d.SecureJSONData["httpHeaderValue1"] {
					t.Errorf("%s links to %s: a different tenant", d.Name, target.Name)
				}
				checkMatcher(t, d.Name, fmt.Sprint(fm["matcherRegex"]))
			}
		}
	}
	if len(tenants) < 2 {
		t.Errorf("want Tempo datasources for the platform and at least one team, have %v", tenants)
	}
	if _, ok := tenants["platform"]; !ok {
		t.Error("no Tempo datasource for the platform tenant")
	}
}

// checkMatcher proves the Loki derived field extracts the trace ID from the
// access-log lines that deploy/ configures: Envoy's JSON (labels, compact)
// and ingress-nginx's log-format-upstream.
func checkMatcher(t *testing.T, ds, expr string) {
	t.Helper()
	re, err := regexp.Compile(expr)
	if err != nil {
		t.Errorf("%s: matcherRegex %q: %v", ds, expr, err)
		return
	}
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	traceparent := "00-" + traceID + "-00f067aa0ba902b7-01"
	envoy, _ := json.Marshal(map[string]string{"method": "GET", "path": "/x", "traceparent": traceparent})
	lines := []string{
		string(envoy),
		`{"time":"2026-01-01T00:00:00+00:00","namespace":"team-alpha","trace_id":"` + traceID + `","traceparent":"` + traceparent + `"}`,
	}
	for _, line := range lines {
		m := re.FindStringSubmatch(line)
		if len(m) < 2 || m[1] != traceID {
			t.Errorf("%s: matcherRegex %q does not extract the trace ID from %s", ds, expr, line)
		}
	}
}

func TestGrafanaDashboard(t *testing.T) {
	data, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID    string `json:"uid"`
		Title  string `json:"title"`
		Panels []struct {
			ID         int    `json:"id"`
			Type       string `json:"type"`
			Title      string `json:"title"`
			Datasource any    `json:"datasource"`
			Targets    []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	if d.UID == "" || d.Title == "" {
		t.Error("dashboard needs a uid and a title")
	}
	ids := map[int]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil {
			t.Errorf("panel %q has no datasource", p.Title)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			if len(MetricNames(tg.Expr)) == 0 {
				t.Errorf("panel %q: query %q selects no metric", p.Title, tg.Expr)
			}
		}
	}
	// The dashboard ConfigMap that kustomize generates is the file itself.
	cm := find(t, render(t, "grafana"), "ConfigMap", "otelcol-mesh-grafana-dashboard")
	if got, _ := GetPath(cm.Map, "data", "otelcol-mesh.json"); got != string(data) {
		t.Error("the generated dashboard ConfigMap differs from the dashboard file")
	}
}
