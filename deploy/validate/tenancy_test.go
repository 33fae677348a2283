package validate

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
)

// grafanaOrgs reads ../grafana/orgs.txt: org id -> tenant.
func grafanaOrgs(t *testing.T) map[int]string {
	t.Helper()
	f, err := os.Open("../grafana/orgs.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[int]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 2 {
			t.Fatalf("orgs.txt: %q is not `<id> <tenant>`", line)
		}
		id, err := strconv.Atoi(fields[0])
		if err != nil || id < 2 {
			t.Fatalf("orgs.txt: %q: org ids start at 2 (1 is the platform org)", line)
		}
		out[id] = fields[1]
	}
	return out
}

func tenantRouting(t *testing.T) map[string]any {
	t.Helper()
	tr, ok := GetPath(collectorConfig(t, "base"), "processors", "tenantrouting")
	if !ok {
		t.Fatal("base has no tenantrouting")
	}
	return tr.(map[string]any)
}

// One Grafana org per team tenant, holding only that tenant's datasources;
// the platform org (1) holds platform, quarantine and the cross-tenant view.
func TestGrafanaOrgPerTenant(t *testing.T) {
	orgs := grafanaOrgs(t)
	if len(orgs) == 0 {
		t.Fatal("orgs.txt names no team")
	}
	ids := make([]int, 0, len(orgs))
	for id := range orgs {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	for i, id := range ids {
		if id != i+2 {
			t.Errorf("org ids must be 2, 3, ... in order (Grafana numbers orgs by creation): got %v", ids)
			break
		}
	}
	tr := tenantRouting(t)
	platform, _ := tr["platform_tenant"].(string)
	quarantine, _ := tr["default_tenant"].(string)

	byOrg := map[int][]datasource{}
	for _, d := range loadDatasources(t, "../grafana/tenants/datasources.yaml") {
		tenant, ok := orgs[d.OrgID]
		if !ok {
			t.Errorf("%s: org %d is not in orgs.txt (the Job would not create it)", d.Name, d.OrgID)
			continue
		}
		byOrg[d.OrgID] = append(byOrg[d.OrgID], d)
		if got := tenantOf(d); got != tenant {
			t.Errorf("%s in org %d (tenant %s) sends X-Scope-OrgID %q", d.Name, d.OrgID, tenant, got)
		}
		if tenant == platform || tenant == quarantine {
			t.Errorf("org %d is the %s tenant: that belongs to the platform org only", d.OrgID, tenant)
		}
	}
	for id, tenant := range orgs {
		types := map[string]bool{}
		for _, d := range byOrg[id] {
			types[d.Type] = true
		}
		for _, typ := range []string{"tempo", "prometheus"} {
			if !types[typ] {
				t.Errorf("org %d (%s) has no %s datasource", id, tenant, typ)
			}
		}
	}

	// The platform org.
	wantAll := []string{platform, quarantine}
	for _, tenant := range orgs {
		wantAll = append(wantAll, tenant)
	}
	sort.Strings(wantAll)
	var tempoTenants []string
	crossTempo := 0
	for _, d := range loadDatasources(t, "../grafana/datasources.yaml") {
		if d.OrgID != 1 {
			t.Errorf("%s: ../grafana/datasources.yaml is the platform org's (1), not org %d", d.Name, d.OrgID)
		}
		tenant := tenantOf(d)
		if strings.Contains(tenant, "|") {
			got := strings.Split(tenant, "|")
			sort.Strings(got)
			if strings.Join(got, "|") != strings.Join(wantAll, "|") {
				t.Errorf("%s queries tenants %v, want every tenant %v", d.Name, got, wantAll)
			}
			if d.Type == "tempo" {
				crossTempo++
			}
			continue
		}
		if d.Type == "tempo" {
			tempoTenants = append(tempoTenants, tenant)
		}
		if contains(orgs2tenants(orgs), tenant) {
			t.Errorf("%s in the platform org reads team tenant %s alone: teams' data is read in their own org", d.Name, tenant)
		}
	}
	if crossTempo != 1 {
		t.Errorf("want one cross-tenant Tempo datasource in the platform org, have %d", crossTempo)
	}
	for _, want := range []string{platform, quarantine} {
		if !contains(tempoTenants, want) {
			t.Errorf("the platform org has no Tempo datasource for tenant %q", want)
		}
	}

	// The Job that creates the orgs reads orgs.txt from the ConfigMap it mounts.
	objs := render(t, "grafana")
	job := find(t, objs, "Job", "grafana-orgs")
	cm := find(t, objs, "ConfigMap", "grafana-orgs")
	data, _ := os.ReadFile("../grafana/orgs.txt")
	if got, _ := GetPath(cm.Map, "data", "orgs.txt"); got != string(data) {
		t.Error("ConfigMap grafana-orgs does not hold orgs.txt")
	}
	js, _ := json.Marshal(job.Map)
	for _, want := range []string{`"name":"grafana-orgs"`, `"mountPath":"/orgs"`, `"name":"grafana-orgs-script"`} {
		if !strings.Contains(string(js), want) {
			t.Errorf("Job grafana-orgs lacks %s", want)
		}
	}
	script, _ := os.ReadFile("../grafana/create-orgs.sh")
	if !strings.Contains(string(script), "/orgs/orgs.txt") {
		t.Error("create-orgs.sh does not read /orgs/orgs.txt")
	}
}

func orgs2tenants(orgs map[int]string) []string {
	var out []string
	for _, t := range orgs {
		out = append(out, t)
	}
	return out
}

// Unidentified senders get their own tenant, not the platform's.
func TestUnidentifiedSendersAreQuarantined(t *testing.T) {
	tr := tenantRouting(t)
	def, _ := tr["default_tenant"].(string)
	platform, _ := tr["platform_tenant"].(string)
	if def == "" {
		t.Skip("default_tenant is empty: unidentified senders are dropped and counted")
	}
	if def == platform {
		t.Fatalf("default_tenant is the platform tenant %q, which also holds every team's edge spans", def)
	}
	rules, _ := tr["rules"].([]any)
	for _, r := range rules {
		ns, _ := r.(map[string]any)["namespaces"].(map[string]any)
		for n, tenant := range ns {
			if tenant == def {
				t.Errorf("namespace %s maps to the quarantine tenant %q", n, def)
			}
		}
	}
	for _, tenant := range grafanaOrgs(t) {
		if tenant == def {
			t.Errorf("team org %s is the quarantine tenant", tenant)
		}
	}
	rule := find(t, render(t, "base"), "PrometheusRule", "otelcol-mesh")
	js, _ := json.Marshal(rule.Map)
	if !strings.Contains(string(js), `otelcol_processor_tenantrouting_spans_routed{tenant=\"`+def+`\"}`) {
		t.Errorf("no alert on spans routed to the quarantine tenant %q", def)
	}
}

// The edge namespaces of every gateway deploy/ ships are known to
// tenantrouting (routed by destination, mapped to platform) and to
// spannormalizer's diagnostics.
func TestEdgeNamespaces(t *testing.T) {
	tr := tenantRouting(t)
	edges := strs(tr["edge_namespaces"])
	mapped := map[string]any{}
	rules, _ := tr["rules"].([]any)
	for _, r := range rules {
		if ns, ok := r.(map[string]any)["namespaces"].(map[string]any); ok {
			for k, v := range ns {
				mapped[k] = v
			}
		}
	}
	diag, _ := GetPath(collectorConfig(t, "base"), "processors", "spannormalizer", "context_diagnostics", "edge_namespaces")
	want := []string{"istio-system", "ingress-nginx"} // classic Istio gateway, retired ingress-nginx
	for _, dir := range []string{"gateway-api/istio", "gateway-api/nginx-gateway-fabric"} {
		for _, o := range render(t, dir) {
			if o.GVK().Kind == "Gateway" {
				ns, _ := GetPath(o.Map, "metadata", "namespace")
				want = append(want, fmt.Sprint(ns))
			}
		}
	}
	for _, ns := range want {
		if !contains(edges, ns) {
			t.Errorf("gateway namespace %s is not in tenantrouting's edge_namespaces %v", ns, edges)
		}
		if mapped[ns] != tr["platform_tenant"] {
			t.Errorf("gateway namespace %s maps to %v, want the platform tenant", ns, mapped[ns])
		}
		if !contains(strs(diag), ns) {
			t.Errorf("gateway namespace %s is not in spannormalizer's context_diagnostics.edge_namespaces", ns)
		}
	}
}

func strs(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, x := range l {
		out = append(out, fmt.Sprint(x))
	}
	return out
}

// The Gateway API path: Istio's gateway class, NGF's NginxProxy exporting to
// the collector, and an ObservabilityPolicy per route naming the route's own
// namespace and backend.
func TestGatewayAPI(t *testing.T) {
	ist := render(t, "gateway-api/istio")
	gw := find(t, ist, "Gateway", "edge")
	if c, _ := GetPath(gw.Map, "spec", "gatewayClassName"); c != "istio" {
		t.Errorf("Istio Gateway class = %v, want istio", c)
	}
	ngf := render(t, "gateway-api/nginx-gateway-fabric")
	ngw := find(t, ngf, "Gateway", "edge")
	if c, _ := GetPath(ngw.Map, "spec", "gatewayClassName"); c != "nginx" {
		t.Errorf("NGF Gateway class = %v, want nginx", c)
	}
	ref, _ := GetPath(ngw.Map, "spec", "infrastructure", "parametersRef")
	rm, _ := ref.(map[string]any)
	np := find(t, ngf, "NginxProxy", fmt.Sprint(rm["name"]))
	if rm["kind"] != "NginxProxy" || rm["group"] != "gateway.nginx.org" {
		t.Errorf("Gateway parametersRef = %v, want an NginxProxy", rm)
	}
	if a, b := GetPathOr(np.Map, nil, "metadata", "namespace"), GetPathOr(ngw.Map, nil, "metadata", "namespace"); a != b {
		t.Errorf("NginxProxy in %v, Gateway in %v: a Gateway's parametersRef is local", a, b)
	}
	if ep, _ := GetPath(np.Map, "spec", "telemetry", "exporter", "endpoint"); ep != collectorService(t)+":4317" {
		t.Errorf("NginxProxy exports to %v, want %s:4317", ep, collectorService(t))
	}
	routes := map[string]Object{}
	for _, tree := range [][]Object{ist, ngf} {
		for _, o := range tree {
			if o.GVK().Kind == "HTTPRoute" {
				routes[o.Name()] = o
			}
		}
	}
	policies := 0
	for _, o := range ngf {
		if o.GVK().Kind != "ObservabilityPolicy" {
			continue
		}
		policies++
		ns := fmt.Sprint(GetPathOr(o.Map, nil, "metadata", "namespace"))
		attrs := map[string]string{}
		sa, _ := GetPath(o.Map, "spec", "tracing", "spanAttributes")
		for _, a := range sa.([]any) {
			am := a.(map[string]any)
			attrs[fmt.Sprint(am["key"])] = fmt.Sprint(am["value"])
		}
		if attrs["ingress.namespace"] != ns {
			t.Errorf("%s: ingress.namespace %q is not its own namespace %q: its spans would go to another team", o.Name(), attrs["ingress.namespace"], ns)
		}
		targets, _ := GetPath(o.Map, "spec", "targetRefs")
		for _, tg := range targets.([]any) {
			name := fmt.Sprint(tg.(map[string]any)["name"])
			route, ok := routes["HTTPRoute "+ns+"/"+name]
			if !ok {
				t.Errorf("%s targets HTTPRoute %s/%s, which is not rendered", o.Name(), ns, name)
				continue
			}
			js, _ := json.Marshal(GetPathOr(route.Map, nil, "spec", "rules"))
			if !strings.Contains(string(js), `"name":"`+attrs["ingress.service_name"]+`"`) {
				t.Errorf("%s: ingress.service_name %q is not a backend of %s", o.Name(), attrs["ingress.service_name"], route.Name())
			}
		}
	}
	if policies == 0 {
		t.Error("no ObservabilityPolicy: NGF traces nothing without one")
	}
}

// Peers the isolation checks use, with the labels their charts give them.
var (
	teamPod    = Peer{"team-alpha", map[string]string{"app": "productpage"}}
	grafanaPod = Peer{"monitoring", map[string]string{"app.kubernetes.io/name": "grafana", "app.kubernetes.io/instance": "kube-prometheus-stack"}}
	promPod    = Peer{"monitoring", map[string]string{"app.kubernetes.io/name": "prometheus"}}
	otherMon   = Peer{"monitoring", map[string]string{"app.kubernetes.io/name": "alertmanager"}}
)

func tempoPod(component string) Peer {
	return Peer{"tempo", map[string]string{"app.kubernetes.io/name": "tempo", "app.kubernetes.io/instance": "tempo", "app.kubernetes.io/component": component}}
}

// collectorPod is a pod of the base CR with the labels the operator sets.
func collectorPod(t *testing.T) Peer {
	cr := find(t, render(t, "base"), "OpenTelemetryCollector", "otelcol-mesh")
	return Peer{fmt.Sprint(GetPathOr(cr.Map, nil, "metadata", "namespace")), map[string]string{
		"app.kubernetes.io/name":       fmt.Sprint(GetPathOr(cr.Map, nil, "metadata", "name")) + "-collector",
		"app.kubernetes.io/component":  "opentelemetry-collector",
		"app.kubernetes.io/managed-by": "opentelemetry-operator",
		"app.kubernetes.io/part-of":    "opentelemetry",
	}}
}

func networkPolicies(t *testing.T, dirs ...string) []networkingv1.NetworkPolicy {
	t.Helper()
	var out []networkingv1.NetworkPolicy
	for _, dir := range dirs {
		for _, o := range render(t, dir) {
			if o.GVK().Kind != "NetworkPolicy" {
				continue
			}
			var p networkingv1.NetworkPolicy
			if err := json.Unmarshal(o.JSON, &p); err != nil {
				t.Fatal(err)
			}
			out = append(out, p)
		}
	}
	return out
}

type flow struct {
	name  string
	src   Peer
	dst   Peer
	port  int32
	allow bool
}

func isolationFlows(collector Peer) []flow {
	return []flow{
		{"an app sends OTLP/gRPC to the collector", teamPod, collector, 4317, true},
		{"an app sends OTLP/HTTP to the collector", teamPod, collector, 4318, true},
		{"Prometheus scrapes the collector", promPod, collector, 8888, true},
		{"an app reads the collector's metrics", teamPod, collector, 8888, false},
		{"the collector pushes to the distributor", collector, tempoPod("distributor"), 4317, true},
		{"an app pushes to the distributor (any tenant)", teamPod, tempoPod("distributor"), 4317, false},
		{"an app pushes OTLP/HTTP to the distributor", teamPod, tempoPod("distributor"), 4318, false},
		{"Grafana pushes to the distributor", grafanaPod, tempoPod("distributor"), 4317, false},
		{"Grafana queries the query-frontend", grafanaPod, tempoPod("query-frontend"), 3200, true},
		{"an app queries the query-frontend (any tenant)", teamPod, tempoPod("query-frontend"), 3200, false},
		{"another monitoring pod queries the query-frontend", otherMon, tempoPod("query-frontend"), 3200, false},
		{"an app queries a querier directly", teamPod, tempoPod("querier"), 3200, false},
		{"an app queries a live-store directly", teamPod, tempoPod("live-store"), 3200, false},
		{"the collector queries the query-frontend", collector, tempoPod("query-frontend"), 3200, false},
		{"a querier pulls work from the query-frontend", tempoPod("querier"), tempoPod("query-frontend"), 9095, true},
		{"Prometheus scrapes a querier", promPod, tempoPod("querier"), 3200, true},
	}
}

func checkIsolation(pols []networkingv1.NetworkPolicy, collector Peer) []string {
	var problems []string
	for _, f := range isolationFlows(collector) {
		if got := Allowed(pols, f.src, f.dst, f.port); got != f.allow {
			problems = append(problems, fmt.Sprintf("%s (port %d): allowed=%v, want %v", f.name, f.port, got, f.allow))
		}
	}
	return problems
}

// Tenant isolation on the network: only the collector pushes to Tempo, only
// Grafana queries it, anything in the pod network may send to the collector.
func TestNetworkIsolation(t *testing.T) {
	pols := networkPolicies(t, "base", "tempo")
	collector := collectorPod(t)
	noProblems(t, "NetworkPolicies", checkIsolation(pols, collector))
	cr := find(t, render(t, "base"), "OpenTelemetryCollector", "otelcol-mesh")
	if en, _ := GetPath(cr.Map, "spec", "networkPolicy", "enabled"); en != false {
		t.Errorf("spec.networkPolicy.enabled = %v: the operator's own policy would add to ours", en)
	}
	// The checks can fail: without the Tempo policies anyone reaches Tempo,
	// and a distributor policy open to all namespaces lets any team push.
	expectProblem(t, "no Tempo policies", checkIsolation(networkPolicies(t, "base"), collector), "an app pushes to the distributor")
	var open []networkingv1.NetworkPolicy
	for _, p := range pols {
		if p.Name == "tempo-distributor-otlp" {
			p = *p.DeepCopy()
			p.Spec.Ingress[0].From = []networkingv1.NetworkPolicyPeer{{NamespaceSelector: p.Spec.Ingress[0].From[0].NamespaceSelector.DeepCopy()}}
			p.Spec.Ingress[0].From[0].NamespaceSelector.MatchLabels = nil
		}
		open = append(open, p)
	}
	expectProblem(t, "distributor open to every namespace", checkIsolation(open, collector), "an app pushes to the distributor")
}

// Scraping and alerting as the official chart and operator offer them: a
// ServiceMonitor from the operator, a PrometheusRule with the alerts
// testbed/ asks for, both selected by kube-prometheus-stack, every metric
// checked against a live scrape of the binary.
func TestPrometheusRule(t *testing.T) {
	base := render(t, "base")
	cr := find(t, base, "OpenTelemetryCollector", "otelcol-mesh")
	rule := find(t, base, "PrometheusRule", "otelcol-mesh")
	if en, _ := GetPath(cr.Map, "spec", "observability", "metrics", "enableMetrics"); en != true {
		t.Error("spec.observability.metrics.enableMetrics is not true: no ServiceMonitor")
	}
	sel, _ := GetPath(cr.Map, "spec", "observability", "metrics", "extraLabels", "release")
	if rl, _ := GetPath(rule.Map, "metadata", "labels", "release"); rl != sel || sel == nil {
		t.Errorf("PrometheusRule label release=%v, ServiceMonitor label release=%v: both must match Prometheus' selectors", rl, sel)
	}
	port, _ := GetPath(collectorConfig(t, "base"), "service", "telemetry", "metrics", "readers")
	if !strings.Contains(fmt.Sprint(port), "port:8888") {
		t.Errorf("the collector's metrics are not on 8888 (the port the NetworkPolicy opens to Prometheus): %v", port)
	}
	groups, _ := GetPath(rule.Map, "spec", "groups")
	var exprs []string
	alerts := map[string]bool{}
	for _, g := range groups.([]any) {
		for _, r := range g.(map[string]any)["rules"].([]any) {
			rm := r.(map[string]any)
			exprs = append(exprs, fmt.Sprint(rm["expr"]))
			alerts[fmt.Sprint(rm["alert"])] = true
		}
	}
	all := strings.Join(exprs, "\n")
	for _, m := range []string{
		"otelcol_receiver_refused_spans",                      // refusals
		"otelcol_exporter_queue_size",                         // queue near full
		"otelcol_exporter_queue_capacity",                     //
		"otelcol_exporter_send_failed_spans",                  // send failures
		"otelcol_exporter_enqueue_failed_spans",               // queue overflow
		"otelcol_processor_tenantrouting_spans_dropped",       // data without a tenant
		"otelcol_processor_tenantrouting_spans_routed",        // quarantined
		"otelcol_extension_tenantheader_requests_refused",     // exports without a tenant
		"otelcol_processor_spannormalizer_context_breaks",     // context breaks
		"otelcol_processor_spannormalizer_context_propagated", //
	} {
		if !strings.Contains(all, m) {
			t.Errorf("no alert uses %s", m)
		}
	}
	t.Logf("%d alerts: %v", len(alerts), keys(alerts))
	checkQueriedMetrics(t, "the PrometheusRule", exprs, 8)
}
