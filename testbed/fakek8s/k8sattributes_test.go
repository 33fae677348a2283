package fakek8s

import (
	"context"
	"net"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/k8sattributesprocessor"
	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/transformprocessor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/featuregate"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"
)

const teamLabel = "platform.example.com/team"

// cluster is the fake cluster of these tests: a pod of team-a at 127.0.0.2,
// a pod of team-b at 127.0.0.3, a gateway in istio-system at 127.0.0.4.
func cluster(t *testing.T, opts ...Option) *Server {
	s := New(opts...)
	t.Cleanup(s.Close)
	s.AddNamespace(Namespace{Name: "team-a", Labels: map[string]string{teamLabel: "alpha"}})
	s.AddNamespace(Namespace{Name: "team-b", Labels: map[string]string{teamLabel: "beta"}})
	s.AddNamespace(Namespace{Name: "istio-system"})
	s.AddPod(Pod{Namespace: "team-a", Name: "app-a-1", IP: "127.0.0.2", Labels: map[string]string{"app": "a"}})
	s.AddPod(Pod{Namespace: "team-b", Name: "app-b-1", IP: "127.0.0.3", Labels: map[string]string{"app": "b"}})
	s.AddPod(Pod{Namespace: "istio-system", Name: "ingressgateway-1", IP: "127.0.0.4"})
	path := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, s.WriteKubeconfig(path))
	t.Setenv("KUBECONFIG", path)
	return s
}

// k8sAttributesConfig is the configuration deploy/ must use: pods are
// associated by the connection's source IP only (a sender-supplied k8s.pod.ip
// or k8s.pod.uid must not pick the pod), and the namespace label the
// tenantrouting namespace_label rule reads is extracted from the namespace.
var k8sAttributesConfig = map[string]any{
	"auth_type":                 "kubeConfig",
	"wait_for_metadata":         true, // Start returns once pods and namespaces are synced
	"wait_for_metadata_timeout": "20s",
	"pod_association": []any{
		map[string]any{"sources": []any{map[string]any{"from": "connection"}}},
	},
	"extract": map[string]any{
		"metadata": []any{"k8s.namespace.name", "k8s.pod.name"},
		"labels": []any{
			map[string]any{"from": "namespace", "key": teamLabel},
		},
	},
}

// stripClaims is the transform that must run before k8s_attributes: it
// deletes every namespace identity a sender can claim, because k8s_attributes
// never overwrites an attribute the sender already set.
var stripClaims = map[string]any{
	"error_mode": "propagate",
	"trace_statements": []any{
		map[string]any{
			"context": "resource",
			"statements": []any{
				`delete_key(attributes, "k8s.namespace.name")`,
				`delete_matching_keys(attributes, "^k8s\\.namespace\\.labels?\\.")`,
				`delete_key(attributes, "k8s.pod.name")`,
			},
		},
	},
}

func newK8sAttributes(t *testing.T, next consumer.Traces) processor.Traces {
	f := k8sattributesprocessor.NewFactory()
	cfg := f.CreateDefaultConfig()
	require.NoError(t, confmap.NewFromStringMap(k8sAttributesConfig).Unmarshal(cfg))
	p, err := f.CreateTraces(context.Background(), processortest.NewNopSettings(f.Type()), cfg, next)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, p.Shutdown(context.Background())) })
	return p
}

func newStripClaims(t *testing.T, next consumer.Traces) processor.Traces {
	f := transformprocessor.NewFactory()
	cfg := f.CreateDefaultConfig()
	require.NoError(t, confmap.NewFromStringMap(stripClaims).Unmarshal(cfg))
	p, err := f.CreateTraces(context.Background(), processortest.NewNopSettings(f.Type()), cfg, next)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, p.Shutdown(context.Background())) })
	return p
}

// send pushes one span whose resource has attrs, as if it arrived from ip,
// and returns the resource attributes that came out.
func send(t *testing.T, p consumer.Traces, sink *consumertest.TracesSink, ip string, attrs map[string]any) map[string]any {
	sink.Reset()
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	require.NoError(t, rs.Resource().Attributes().FromRaw(attrs))
	rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty().SetName("span")
	ctx := client.NewContext(context.Background(), client.Info{Addr: &net.IPAddr{IP: net.ParseIP(ip)}})
	require.NoError(t, p.ConsumeTraces(ctx, td))
	require.Len(t, sink.AllTraces(), 1)
	return sink.AllTraces()[0].ResourceSpans().At(0).Resource().Attributes().AsRaw()
}

func TestFeatureGatesAtThisRelease(t *testing.T) {
	gates := map[string]bool{}
	featuregate.GlobalRegistry().VisitAll(func(g *featuregate.Gate) {
		if strings.HasPrefix(g.ID(), "processor.k8sattributes.") {
			gates[g.ID()] = g.IsEnabled()
		}
	})
	assert.True(t, gates["processor.k8sattributes.EmitV1K8sConventions"])
	assert.True(t, gates["processor.k8sattributes.DontEmitV0K8sConventions"])
}

// TestK8sAttributesWithFakeServer runs the real k8s_attributes processor
// against the fake API server and records what it writes.
func TestK8sAttributesWithFakeServer(t *testing.T) {
	for _, tls := range []bool{false, true} {
		name := "http"
		var opts []Option
		if tls {
			// client-go sends the kubeconfig token over TLS only.
			name = "tls"
			opts = append(opts, WithTLS(), WithToken("secret-token"))
		}
		t.Run(name, func(t *testing.T) {
			srv := cluster(t, opts...)
			sink := new(consumertest.TracesSink)
			p := newK8sAttributes(t, sink)

			// Honest sender in team-a: namespace and the namespace label
			// appear under the v1 ("label", singular) name only.
			got := send(t, p, sink, "127.0.0.2", map[string]any{"service.name": "a"})
			assert.Equal(t, "team-a", got["k8s.namespace.name"])
			assert.Equal(t, "app-a-1", got["k8s.pod.name"])
			assert.Equal(t, "alpha", got["k8s.namespace.label."+teamLabel])
			assert.NotContains(t, got, "k8s.namespace.labels."+teamLabel, "v0 name is off at this release")

			// What the processor needed from the API server: pods (typed) and
			// namespaces (metadata client), nothing else.
			assert.ElementsMatch(t, []string{"/api/v1/namespaces", "/api/v1/pods"}, servedPaths(srv.Requests()))
		})
	}
}

// TestK8sAttributesKeepsSenderClaims shows that k8s_attributes v1.0.0 does NOT
// overwrite a resource attribute the sender already set, even when it knows
// the sending pod: a pod in team-a that claims team-b stays team-b.
func TestK8sAttributesKeepsSenderClaims(t *testing.T) {
	cluster(t)
	sink := new(consumertest.TracesSink)
	p := newK8sAttributes(t, sink)

	got := send(t, p, sink, "127.0.0.2", map[string]any{"k8s.namespace.name": "team-b"})
	assert.Equal(t, "team-b", got["k8s.namespace.name"], "the claim survives k8s_attributes")
	assert.Equal(t, "app-a-1", got["k8s.pod.name"], "the pod was found")
	// Namespace labels come from the pod's real namespace, so the resource
	// is now inconsistent: namespace team-b with team-a's label.
	assert.Equal(t, "alpha", got["k8s.namespace.label."+teamLabel])

	got = send(t, p, sink, "127.0.0.2", map[string]any{"k8s.namespace.label." + teamLabel: "beta"})
	assert.Equal(t, "beta", got["k8s.namespace.label."+teamLabel], "a claimed label survives too")
	assert.Equal(t, "team-a", got["k8s.namespace.name"])

	// An unknown source keeps its claim, and gets the claimed namespace's
	// labels: k8s_attributes falls back to the resource's namespace.
	got = send(t, p, sink, "127.0.0.9", map[string]any{"k8s.namespace.name": "team-b"})
	assert.Equal(t, "team-b", got["k8s.namespace.name"])
	assert.Equal(t, "beta", got["k8s.namespace.label."+teamLabel])
	assert.NotContains(t, got, "k8s.pod.name")
}

// TestTrustChain is the trust model deploy/ must implement: a transform that
// deletes the sender's namespace claims, then k8s_attributes associating by
// connection only. A sender whose resource claims team-b but whose pod IP is
// in team-a lands in team-a; an unknown source has no namespace at all.
func TestTrustChain(t *testing.T) {
	cluster(t)
	sink := new(consumertest.TracesSink)
	p := newStripClaims(t, newK8sAttributes(t, sink))

	claims := map[string]any{
		"k8s.namespace.name":                "team-b",
		"k8s.namespace.label." + teamLabel:  "beta",
		"k8s.namespace.labels." + teamLabel: "beta",
		"k8s.pod.name":                      "app-b-1",
		"k8s.pod.ip":                        "127.0.0.3", // ignored: association is by connection only
		"service.name":                      "liar",
	}
	got := send(t, p, sink, "127.0.0.2", claims)
	assert.Equal(t, "team-a", got["k8s.namespace.name"])
	assert.Equal(t, "alpha", got["k8s.namespace.label."+teamLabel])
	assert.Equal(t, "app-a-1", got["k8s.pod.name"])
	assert.NotContains(t, got, "k8s.namespace.labels."+teamLabel)
	assert.Equal(t, "liar", got["service.name"], "other attributes are untouched")

	got = send(t, p, sink, "127.0.0.4", claims)
	assert.Equal(t, "istio-system", got["k8s.namespace.name"])
	assert.NotContains(t, got, "k8s.namespace.label."+teamLabel, "istio-system has no team label")

	got = send(t, p, sink, "127.0.0.9", claims)
	assert.NotContains(t, got, "k8s.namespace.name", "unknown source: no namespace, so tenantrouting's default")
	assert.NotContains(t, got, "k8s.namespace.label."+teamLabel)
}

// servedPaths returns the distinct request paths (no query) the server saw.
func servedPaths(reqs []string) []string {
	seen := map[string]bool{}
	for _, r := range reqs {
		_, uri, _ := strings.Cut(r, " ")
		path, _, _ := strings.Cut(uri, "?")
		seen[path] = true
	}
	out := make([]string, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}
