package envoy

import (
	"strings"
	"testing"

	"github.com/otelcol-mesh/otelcol-mesh/processor/spannormalizerprocessor/internal/parse"
)

// FuzzParseCluster checks the properties the normalizer relies on for any
// upstream_cluster value: a parsed namespace is a valid namespace name taken
// from the host, and the port is a real port or 0.
func FuzzParseCluster(f *testing.F) {
	for _, seed := range []string{
		"outbound|9080|v1|ratings.team-a.svc.cluster.local", "inbound|9080||", "outbound|80||a.b.svc",
		"PassthroughCluster", "-", "outbound|||", "outbound|99999||x.y.svc|z", "inbound|-1||.svc.",
		"inbound-vip|9080|http|details.bookinfo.svc.cluster.local", "outbound|80||s.n.svc.cluster.local;",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, ok := ParseCluster(s)
		if !ok {
			return
		}
		if c.Outbound != strings.HasPrefix(s, "outbound|") || c.Waypoint != strings.HasPrefix(s, "inbound-vip|") {
			t.Fatalf("%q: outbound %v waypoint %v", s, c.Outbound, c.Waypoint)
		}
		if c.Port < 0 || c.Port > 65535 {
			t.Fatalf("%q: port %d", s, c.Port)
		}
		if !strings.HasSuffix(strings.TrimSuffix(s, ";"), "|"+c.Host) {
			t.Fatalf("%q: host %q is not the last field", s, c.Host)
		}
		if c.Namespace != "" {
			if !parse.IsDNSLabel(c.Namespace) || !strings.HasPrefix(c.Host, c.Service+"."+c.Namespace+".svc") {
				t.Fatalf("%q: namespace %q service %q not from host %q", s, c.Namespace, c.Service, c.Host)
			}
		}
	})
}

// FuzzParseNodeID checks that a parsed node ID is one of the two proxy types
// and that its fields come from the input.
func FuzzParseNodeID(f *testing.F) {
	for _, seed := range []string{
		"sidecar~10.244.1.17~reviews-v2-5b7f9c8d4-x2kqp.team-alpha~team-alpha.svc.cluster.local",
		"router~10.244.0.5~istio-ingressgateway-7d4f8b9c6-abcde.istio-system~istio-system.svc.cluster.local",
		"router~~~", "sidecar~1~2", "waypoint~a~b.c~d", "~~~~",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, ok := ParseNodeID(s)
		if !ok {
			return
		}
		types := 0
		for _, is := range []bool{n.Gateway, n.Sidecar, n.Waypoint} {
			if is {
				types++
			}
		}
		if types != 1 {
			t.Fatalf("%q: gateway=%v sidecar=%v waypoint=%v", s, n.Gateway, n.Sidecar, n.Waypoint)
		}
		for _, field := range []string{n.Pod, n.Namespace} {
			if !strings.Contains(s, field) {
				t.Fatalf("%q: field %q not from the input", s, field)
			}
		}
	})
}

// FuzzMessage checks that any response_flags value yields either no message
// or a non-empty one, without panicking.
func FuzzMessage(f *testing.F) {
	for _, seed := range []string{"UF", "UH,URX", "-", "", "NR,XX,UF", ",,,"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, flags string) {
		f, ok := DescribeFlags(flags)
		if ok && f.Message == "" {
			t.Fatalf("%q: ok with an empty message", flags)
		}
		// error.type is there exactly when the message is, and it is a
		// bounded identifier, never text taken from the input.
		if ok != (f.ErrorType != "") {
			t.Fatalf("%q: message %v, error.type %q", flags, ok, f.ErrorType)
		}
		if len(f.ErrorType) > 40 || strings.ContainsAny(f.ErrorType, " ,") {
			t.Fatalf("%q: error.type %q", flags, f.ErrorType)
		}
	})
}

// FuzzRouteNamespace checks that a route cluster's namespace is a valid
// namespace name taken from the input.
func FuzzRouteNamespace(f *testing.F) {
	for _, seed := range []string{"httproute/team-a/shop/rule/0", "grpcroute/a/b/rule/1/match/0", "httproute//x/rule/0", "-"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ns, ok := RouteNamespace(s)
		if !ok {
			return
		}
		// The second field, and a valid namespace name.
		if kind, rest, _ := strings.Cut(s, "/"); !parse.IsDNSLabel(ns) || !strings.HasPrefix(rest, ns+"/") || kind == "" {
			t.Fatalf("%q: %q", s, ns)
		}
	})
}
