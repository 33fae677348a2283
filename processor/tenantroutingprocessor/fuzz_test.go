package tenantroutingprocessor

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-mesh/otelcol-mesh/internal/meshattr"
)

// byteSource turns fuzz input into choices; exhausted input reads as zeros.
type byteSource struct {
	data []byte
	pos  int
}

func (b *byteSource) pick(n int) int {
	if b.pos >= len(b.data) {
		return 0
	}
	v := int(b.data[b.pos])
	b.pos++
	return v % n
}

// absent marks "attribute not set"; intValue marks "set to an int".
const (
	absent   = "\x00absent"
	intValue = "\x00int"
)

var (
	fuzzNamespaces = []string{absent, intValue, "", "istio-system", "ingress-nginx", "team-a", "team-b", "team-",
		"team-a|b", "kube-system", "payments", "special", "team-special", "TEAM-x", "team-" + strings.Repeat("z", 160)}
	fuzzLabels = []string{absent, absent, intValue, "", "pay", "x y", "team-b", "a"}
	fuzzClaims = []string{absent, "a", "b", "platform", "team-b"}
)

// oracleTenantRe is the tenant-ID syntax written independently of validTenant.
var oracleTenantRe = regexp.MustCompile(`^[A-Za-z0-9!\-_.*'()]{1,150}$`)

func oracleValid(s string) bool { return oracleTenantRe.MatchString(s) && s != "." && s != ".." }

// oracleRules applies cfg's rules to a namespace as the README states them.
// label is the resource's namespace-label attribute value (absent/intValue
// for none), ignored when useLabel is false.
func oracleRules(cfg *Config, ns, label string, useLabel bool) string {
	if ns == absent || ns == intValue || ns == "" {
		return ""
	}
	for _, r := range cfg.Rules {
		if r.Namespaces != nil {
			if t, ok := r.Namespaces[ns]; ok {
				return t
			}
		} else if r.NamespaceLabel != "" {
			if useLabel && label != absent && label != intValue && oracleValid(label) {
				return label
			}
		} else if rest, ok := strings.CutPrefix(ns, r.NamespacePrefix); ok && oracleValid(rest) {
			return rest
		}
	}
	return ""
}

// oracleTenants is the set of tenants a span may (and must) reach.
func oracleTenants(cfg *Config, ns, label, dest string) []string {
	own := oracleRules(cfg, ns, label, true)
	if own == "" {
		own = cfg.DefaultTenant
	}
	isEdge := false
	for _, e := range cfg.EdgeNamespaces {
		if ns == e {
			isEdge = true
		}
	}
	if isEdge && dest != absent && dest != intValue && dest != "" {
		if t := oracleRules(cfg, dest, absent, false); t != "" {
			if cfg.PlatformTenant != "" && cfg.PlatformTenant != t {
				return []string{cfg.PlatformTenant, t}
			}
			return []string{t}
		}
	}
	if own == "" {
		return nil
	}
	return []string{own}
}

func putFuzzAttr(m interface {
	PutStr(string, string)
	PutInt(string, int64)
}, key, v string,
) {
	switch v {
	case absent:
	case intValue:
		m.PutInt(key, 7)
	default:
		m.PutStr(key, v)
	}
}

func fuzzConfig(src *byteSource) *Config {
	cfg := meshConfig()
	cfg.Rules = []RuleConfig{
		{Namespaces: map[string]string{"istio-system": "platform", "ingress-nginx": "platform", "special": "a"}},
		{NamespaceLabel: labelKey},
		{NamespacePrefix: "team-"},
	}
	if src.pick(2) == 1 { // other rule order
		cfg.Rules[0], cfg.Rules[2] = cfg.Rules[2], cfg.Rules[0]
	}
	cfg.DefaultTenant = []string{"platform", "", "b"}[src.pick(3)]
	cfg.PlatformTenant = []string{"platform", "", "a"}[src.pick(3)]
	return cfg
}

type fuzzSpan struct {
	name       string
	ns, label  string
	dest       string
	idMode     int
	wantTenant []string
}

func FuzzRouting(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 3, 3, 0, 3, 5, 0, 0, 4, 0, 1, 2})
	f.Add([]byte{1, 1, 2, 5, 4, 4, 0, 4, 9, 3, 1, 5, 2, 4, 7, 0, 3, 0, 2, 6, 1})
	f.Add([]byte("team-a istio-system ingress-nginx payments edge spans everywhere"))
	f.Add([]byte{2, 0, 1, 5, 3, 7, 4, 9, 3, 11, 2, 5, 8, 5, 10, 1, 4, 12, 0, 13, 14, 6})
	// Edge and team resources whose spans include all-zero trace and span IDs.
	f.Add([]byte{0, 0, 0, 2, 3, 0, 3, 5, 0, 2, 6, 5, 0, 1, 7, 0, 0, 0, 0, 5, 0, 6, 3, 0, 0, 0, 0, 0, 7, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		src := &byteSource{data: data}
		cfg := fuzzConfig(src)
		td := ptrace.NewTraces()
		var all []fuzzSpan
		seq := uint64(0)
		for r, nr := 0, src.pick(6); r < nr; r++ {
			rs := td.ResourceSpans().AppendEmpty()
			attrs := rs.Resource().Attributes()
			nsv := fuzzNamespaces[src.pick(len(fuzzNamespaces))]
			label := fuzzLabels[src.pick(len(fuzzLabels))]
			putFuzzAttr(attrs, namespaceAttribute, nsv)
			putFuzzAttr(attrs, "k8s.namespace.label."+labelKey, label)
			putFuzzAttr(attrs, "tenant", fuzzClaims[src.pick(len(fuzzClaims))])
			putFuzzAttr(attrs, meshattr.DestinationNamespace, fuzzNamespaces[src.pick(len(fuzzNamespaces))])
			for s, nsc := 0, src.pick(3)+1; s < nsc; s++ {
				ss := rs.ScopeSpans().AppendEmpty()
				for k, nsp := 0, src.pick(5); k < nsp; k++ {
					sp := ss.Spans().AppendEmpty()
					seq++
					name := fmt.Sprintf("r%d-s%d-k%d", r, s, k)
					sp.SetName(name)
					// 0-5: valid IDs; 6: all-zero trace ID; 7: all-zero span ID.
					idMode := src.pick(8)
					if idMode != 6 {
						sp.SetTraceID(testTraceID(seq))
					}
					if idMode != 7 {
						sp.SetSpanID(testSpanID(seq))
					}
					dest := fuzzNamespaces[src.pick(len(fuzzNamespaces))]
					putFuzzAttr(sp.Attributes(), meshattr.DestinationNamespace, dest)
					putFuzzAttr(sp.Attributes(), namespaceAttribute, fuzzNamespaces[src.pick(len(fuzzNamespaces))])
					putFuzzAttr(sp.Attributes(), "x-scope-orgid", fuzzClaims[src.pick(len(fuzzClaims))])
					want := oracleTenants(cfg, nsv, label, dest)
					if idMode >= 6 {
						want = nil // invalid IDs reach no tenant
					}
					all = append(all, fuzzSpan{name: name, ns: nsv, label: label, dest: dest, idMode: idMode, wantTenant: want})
				}
			}
		}
		ctx := client.NewContext(context.Background(), client.Info{
			Metadata: client.NewMetadata(map[string][]string{meshattr.DefaultTenantMetadataKey: {fuzzClaims[1+src.pick(len(fuzzClaims)-1)]}}),
		})

		sink := &tenantSink{key: cfg.MetadataKey}
		p := newTestProcessor(t, cfg, sink)
		require.NoError(t, p.ConsumeTraces(ctx, td))

		got := map[string][]string{} // span -> tenants it reached
		for tenant, names := range sink.byTenant(t) {
			for _, n := range names {
				got[n] = append(got[n], tenant)
			}
		}
		for _, s := range all {
			want := append([]string(nil), s.wantTenant...)
			sort.Strings(want)
			have := got[s.name]
			sort.Strings(have)
			require.Equal(t, want, have, "span %s (namespace %q, label %q, destination %q, ID mode %d, config %+v)", s.name, s.ns, s.label, s.dest, s.idMode, cfg)
			delete(got, s.name)
		}
		require.Empty(t, got, "spans that were never sent")
	})
}
