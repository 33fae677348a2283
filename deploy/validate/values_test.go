package validate

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sort"
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

// The Tempo chart and release the values were written for; deploy/README.md
// and the values file must say so.
const (
	tempoChart        = "grafana-community/tempo-distributed"
	tempoChartVersion = "3.3.0"
	tempoVersion      = "3.0.3"
)

func TestTempoValues(t *testing.T) {
	v := loadValues(t, "../tempo/values.yaml")
	checkChartKeys(t, v, chartDir+"/tempo-distributed-"+tempoChartVersion+".values.yaml",
		// Passed whole into Tempo's config by the chart (toYaml).
		"metricsGenerator.config.registry", "metricsGenerator.config.processor", "metricsGenerator.config.storage",
		"storage.trace.s3")
	expect(t, v, "multitenancyEnabled", true)
	expect(t, v, "traces.otlp.grpc.enabled", true)
	expect(t, v, "traces.otlp.grpc.receiverConfig.endpoint", "0.0.0.0:4317")
	expect(t, v, "traces.otlp.http.enabled", true)
	expect(t, v, "traces.otlp.http.receiverConfig.endpoint", "0.0.0.0:4318")
	expect(t, v, "storage.trace.backend", "s3")
	for _, k := range []string{"bucket", "endpoint"} {
		get(t, v, "storage.trace.s3."+k)
	}
	if _, ok := v["minio"]; ok {
		t.Error("chart 3.x has no MinIO subchart: minio.* fails the render")
	}
	// Tempo 3's write path: Kafka, and one block-builder and live-store per partition.
	if a, _ := get(t, v, "ingest.kafka.address").(string); a == "" {
		t.Error("ingest.kafka.address is empty: the chart refuses to render")
	}
	parts := fmt.Sprint(get(t, v, "ingest.kafka.auto_create_topic_default_partitions"))
	for _, c := range []string{"blockBuilder", "liveStore"} {
		expect(t, v, c+".enabled", true)
		if r := fmt.Sprint(get(t, v, c+".replicas")); r != parts {
			t.Errorf("%s.replicas = %s, want the Kafka partition count %s", c, r, parts)
		}
	}
	if r := get(t, v, "backendScheduler.config.provider.compaction.compaction.block_retention"); !regexp.MustCompile(`^\d+h$`).MatchString(fmt.Sprint(r)) {
		t.Errorf("block_retention = %v, want a duration in hours", r)
	}
	expect(t, v, "metricsGenerator.enabled", true)
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

	// The versions are written down where a platform team reads them.
	for _, f := range []string{"../tempo/values.yaml", "../README.md"} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{tempoChart, tempoChartVersion, "Tempo " + tempoVersion} {
			if !strings.Contains(string(data), want) {
				t.Errorf("%s does not say %q", f, want)
			}
		}
	}
}

// Tempo's metrics-generator writes each tenant's series under that tenant:
// remote write with X-Scope-OrgID to Mimir, whose per-tenant Grafana
// datasources then show a team only its own services; plus a tenant label.
func TestMetricsGeneratorIsPerTenant(t *testing.T) {
	v := loadValues(t, "../tempo/values.yaml")
	expect(t, v, "metricsGenerator.config.storage.remote_write_add_org_id_header", true)
	if l, _ := get(t, v, "metricsGenerator.config.registry.inject_tenant_id_as").(string); l == "" {
		t.Error("metricsGenerator.config.registry.inject_tenant_id_as is empty")
	}
	rw, _ := get(t, v, "metricsGenerator.config.storage.remote_write").([]any)
	if len(rw) == 0 {
		t.Fatal("metricsGenerator.config.storage.remote_write is empty")
	}
	var hosts []string
	for _, r := range rw {
		u, _ := r.(map[string]any)["url"].(string)
		if !strings.HasSuffix(u, "/api/v1/push") {
			t.Errorf("remote_write url %q is not Mimir's push endpoint", u)
		}
		hosts = append(hosts, urlHost(u))
		if h, ok := r.(map[string]any)["headers"].(map[string]any); ok {
			for k := range h {
				if strings.EqualFold(k, "X-Scope-OrgID") {
					t.Errorf("remote_write %q sets a static X-Scope-OrgID: every tenant's series would land in one Mimir tenant", u)
				}
			}
		}
	}
	// Grafana's service maps read the same store.
	for _, d := range allDatasources(t) {
		if d.Type == "prometheus" && !contains(hosts, urlHost(d.URL)) {
			t.Errorf("%s reads %s, not the store the metrics-generator writes to (%v)", d.Name, urlHost(d.URL), hosts)
		}
	}
}

func urlHost(u string) string {
	u = strings.TrimPrefix(strings.TrimPrefix(u, "http://"), "https://")
	h, _, _ := strings.Cut(u, "/")
	return h
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// checkChartKeys fails for every key path of ours that the chart's default
// values do not have. Below a key whose chart default is empty (null, {} or
// []) or that is listed in freeform, anything goes.
func checkChartKeys(t *testing.T, ours map[string]any, chartValues string, freeform ...string) {
	t.Helper()
	chart := loadValues(t, chartValues)
	for _, p := range unknownKeys(ours, chart, "", freeform) {
		t.Errorf("%s is not a key of the chart (%s)", p, chartValues)
	}
}

func unknownKeys(ours, chart map[string]any, prefix string, freeform []string) []string {
	var out []string
	for k, v := range ours {
		path := k
		if prefix != "" {
			path = prefix + "." + k
		}
		if contains(freeform, path) {
			continue
		}
		cv, ok := chart[k]
		if !ok {
			out = append(out, path)
			continue
		}
		om, isMap := v.(map[string]any)
		cm, chartMap := cv.(map[string]any)
		if !isMap || !chartMap || len(cm) == 0 {
			continue
		}
		out = append(out, unknownKeys(om, cm, path, freeform)...)
	}
	sort.Strings(out)
	return out
}

func TestUnknownKeysCatchesOldTempoValues(t *testing.T) {
	chart := loadValues(t, chartDir+"/tempo-distributed-"+tempoChartVersion+".values.yaml")
	old := map[string]any{
		"minio":       map[string]any{"enabled": true},
		"compactor":   map[string]any{"config": map[string]any{"compaction": map[string]any{"block_retention": "336h"}}},
		"ingester":    map[string]any{"replicas": 3},
		"distributor": map[string]any{"replicas": 2, "replicaz": 2},
		"overrides":   map[string]any{"defaults": map[string]any{"anything": "goes"}},
	}
	got := unknownKeys(old, chart, "", nil)
	want := []string{"compactor", "distributor.replicaz", "ingester", "minio"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("unknownKeys = %v, want %v", got, want)
	}
}

func TestIngressNginxValues(t *testing.T) {
	v := loadValues(t, "../ingress-nginx/values.yaml")
	checkChartKeys(t, v, chartDir+"/ingress-nginx-4.15.1.values.yaml")
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

// The datasource provisioning files: the platform org's and the teams' orgs'.
var datasourceFiles = []string{"../grafana/datasources.yaml", "../grafana/tenants/datasources.yaml"}

func loadDatasources(t *testing.T, file string) []datasource {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var prov struct {
		APIVersion  int          `json:"apiVersion"`
		Datasources []datasource `json:"datasources"`
	}
	if err := yaml.UnmarshalStrict(data, &prov); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return prov.Datasources
}

func allDatasources(t *testing.T) []datasource {
	t.Helper()
	var out []datasource
	for _, f := range datasourceFiles {
		out = append(out, loadDatasources(t, f)...)
	}
	return out
}

// kubePrometheusStackDatasourceUID is the uid of the default Prometheus
// datasource that kube-prometheus-stack's Grafana provisions itself.
const kubePrometheusStackDatasourceUID = "prometheus"

func tenantOf(d datasource) string {
	s, _ := d.SecureJSONData["httpHeaderValue1"].(string)
	return s
}

func TestGrafanaDatasources(t *testing.T) {
	all := allDatasources(t)
	uids := map[string]datasource{}
	defaults := map[int]int{}
	for _, d := range all {
		if d.UID == "" {
			t.Errorf("datasource %q has no uid", d.Name)
		}
		if d.OrgID == 0 {
			t.Errorf("datasource %q has no orgId", d.Name)
		}
		if _, dup := uids[d.UID]; dup {
			t.Errorf("uid %q used twice", d.UID)
		}
		uids[d.UID] = d
		if d.IsDefault {
			defaults[d.OrgID]++
		}
		if d.UID == kubePrometheusStackDatasourceUID {
			t.Errorf("%s: uid %q is kube-prometheus-stack's own default datasource: Grafana refuses to start with two", d.Name, d.UID)
		}
	}
	// kube-prometheus-stack provisions the default of org 1; a second one
	// (or one more in any org) stops Grafana.
	if defaults[1] > 0 {
		t.Errorf("org 1 has %d datasources with isDefault: kube-prometheus-stack's Prometheus is its default", defaults[1])
	}
	for org, n := range defaults {
		if n > 1 {
			t.Errorf("org %d has %d default datasources", org, n)
		}
	}
	for _, d := range all {
		switch d.Type {
		case "tempo", "prometheus", "loki":
			if d.JSONData["httpHeaderName1"] != "X-Scope-OrgID" {
				t.Errorf("%s: httpHeaderName1 = %v, want X-Scope-OrgID", d.Name, d.JSONData["httpHeaderName1"])
			}
			if tenantOf(d) == "" {
				t.Errorf("%s: no tenant in secureJsonData.httpHeaderValue1", d.Name)
			}
		}
		// Every link stays inside the org and the tenant(s).
		var links []string
		for _, p := range [][]string{{"serviceMap", "datasourceUid"}, {"tracesToLogsV2", "datasourceUid"}} {
			if v, ok := GetPath(d.JSONData, p...); ok {
				links = append(links, fmt.Sprint(v))
			}
		}
		fields, _ := d.JSONData["derivedFields"].([]any)
		for _, f := range fields {
			links = append(links, fmt.Sprint(f.(map[string]any)["datasourceUid"]))
			if d.Type == "loki" {
				checkMatcher(t, d.Name, fmt.Sprint(f.(map[string]any)["matcherRegex"]))
			}
		}
		for _, l := range links {
			target, ok := uids[l]
			if !ok {
				t.Errorf("%s links to %s, which is not provisioned here", d.Name, l)
				continue
			}
			if target.OrgID != d.OrgID || tenantOf(target) != tenantOf(d) {
				t.Errorf("%s (org %d, tenant %q) links to %s (org %d, tenant %q)", d.Name, d.OrgID, tenantOf(d), target.Name, target.OrgID, tenantOf(target))
			}
		}
		if d.Type == "tempo" {
			if en, _ := GetPath(d.JSONData, "nodeGraph", "enabled"); en != true {
				t.Errorf("%s: nodeGraph.enabled is not true", d.Name)
			}
			sm, _ := GetPath(d.JSONData, "serviceMap", "datasourceUid")
			if target, ok := uids[fmt.Sprint(sm)]; !ok || target.Type != "prometheus" {
				t.Errorf("%s: serviceMap.datasourceUid %v is not a Prometheus-type datasource", d.Name, sm)
			}
			if !strings.Contains(d.URL, "tempo-query-frontend.tempo.svc") {
				t.Errorf("%s: url %s is not the query-frontend of deploy/tempo", d.Name, d.URL)
			}
		}
	}
	// The dashboard uses kube-prometheus-stack's Prometheus.
	data, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Templating struct {
			List []struct {
				Name    string         `json:"name"`
				Type    string         `json:"type"`
				Query   any            `json:"query"`
				Current map[string]any `json:"current"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, v := range dash.Templating.List {
		if v.Type == "datasource" && v.Query == "prometheus" {
			found = true
			if v.Current["value"] != kubePrometheusStackDatasourceUID {
				t.Errorf("dashboard variable %s defaults to %v, want the documented uid %q", v.Name, v.Current["value"], kubePrometheusStackDatasourceUID)
			}
		}
	}
	if !found {
		t.Error("the dashboard has no Prometheus datasource variable")
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
