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
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, ok := ParseCluster(s)
		if !ok {
			return
		}
		if c.Outbound != strings.HasPrefix(s, "outbound|") {
			t.Fatalf("%q: direction %v", s, c.Outbound)
		}
		if c.Port < 0 || c.Port > 65535 {
			t.Fatalf("%q: port %d", s, c.Port)
		}
		if !strings.HasSuffix(s, "|"+c.Host) {
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
		if n.Gateway == n.Sidecar {
			t.Fatalf("%q: gateway=%v sidecar=%v", s, n.Gateway, n.Sidecar)
		}
		for _, field := range []string{n.IP, n.Pod, n.Namespace} {
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
		if msg, ok := Message(flags); ok && msg == "" {
			t.Fatalf("%q: ok with an empty message", flags)
		}
	})
}
