package envoy

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestParseCluster(t *testing.T) {
	tests := []struct {
		in   string
		want Cluster
		ok   bool
	}{
		{"outbound|9080|v1|ratings.team-a.svc.cluster.local", Cluster{Outbound: true, Port: 9080, Host: "ratings.team-a.svc.cluster.local", Service: "ratings", Namespace: "team-a"}, true},
		{"outbound|9080||productpage.team-alpha.svc.cluster.local", Cluster{Outbound: true, Port: 9080, Host: "productpage.team-alpha.svc.cluster.local", Service: "productpage", Namespace: "team-alpha"}, true},
		{"outbound|443||api.partner.com", Cluster{Outbound: true, Port: 443, Host: "api.partner.com"}, true},
		{"outbound|80||web.Team.svc.cluster.local", Cluster{Outbound: true, Port: 80, Host: "web.Team.svc.cluster.local"}, true},
		{"outbound|x||web.team.svc", Cluster{Outbound: true, Host: "web.team.svc", Service: "web", Namespace: "team"}, true},
		{"inbound|9080||", Cluster{Port: 9080}, true},
		// Istio 1.24+ stats names end in ';'.
		{"outbound|80||server.echo.svc.cluster.local;", Cluster{Outbound: true, Port: 80, Host: "server.echo.svc.cluster.local", Service: "server", Namespace: "echo"}, true},
		// Ambient waypoints: the cluster of the service they serve.
		{"inbound-vip|9080|http|details.bookinfo.svc.cluster.local", Cluster{Waypoint: true, Port: 9080, Host: "details.bookinfo.svc.cluster.local", Service: "details", Namespace: "bookinfo"}, true},
		{"inbound-vip|8081|http/canary|customers.lab.svc.cluster.local;", Cluster{Waypoint: true, Port: 8081, Host: "customers.lab.svc.cluster.local", Service: "customers", Namespace: "lab"}, true},
		{"PassthroughCluster", Cluster{}, false},
		{"-", Cluster{}, false},
		{"sideways|1|2|3", Cluster{}, false},
		{"outbound|1|2", Cluster{}, false},
		{"outbound|1|2|3|4", Cluster{}, false},
	}
	for _, tt := range tests {
		got, ok := ParseCluster(tt.in)
		assert.Equal(t, tt.ok, ok, tt.in)
		if ok {
			assert.Equal(t, tt.want, got, tt.in)
		}
	}
}

func TestParseNodeID(t *testing.T) {
	n, ok := ParseNodeID("sidecar~10.244.1.17~reviews-v2-5b7f9c8d4-x2kqp.team-alpha~team-alpha.svc.cluster.local")
	assert.True(t, ok)
	assert.Equal(t, Node{Sidecar: true, Pod: "reviews-v2-5b7f9c8d4-x2kqp", Namespace: "team-alpha"}, n)
	n, ok = ParseNodeID("router~10.244.0.5~istio-ingressgateway-7d4f8b9c6-abcde.istio-system~istio-system.svc.cluster.local")
	assert.True(t, ok)
	assert.True(t, n.Gateway)
	assert.Equal(t, "istio-system", n.Namespace)
	n, ok = ParseNodeID("sidecar~fd00::1~podwithoutns~x")
	assert.True(t, ok)
	assert.Empty(t, n.Pod, "no namespace suffix: pod unknown")
	n, ok = ParseNodeID("waypoint~10.244.0.19~waypoint-5f89fbb8b5-nmdsg.bookinfo~bookinfo.svc.cluster.local")
	assert.True(t, ok)
	assert.Equal(t, Node{Waypoint: true, Pod: "waypoint-5f89fbb8b5-nmdsg", Namespace: "bookinfo"}, n)
	for _, bad := range []string{"", "-", "ztunnel~1~p.n~d", "sidecar~1", "sidecar~1~p.n", "envoy-default-eg-e41e7b31-5d8c7b9f4-x2kqp"} {
		_, ok := ParseNodeID(bad)
		assert.False(t, ok, bad)
	}
}

func TestMessage(t *testing.T) {
	tests := map[string]string{
		"UF":                "upstream connection failure",
		"UF,URX":            "upstream connection failure, upstream retry limit exceeded",
		" UH , NR ":         "no healthy upstream host, no route configured",
		"QQ":                "response flag QQ",
		"bad value!":        "unknown response flag",
		"UF,-,":             "upstream connection failure",
		"TOOLONGFLAGXXXXXX": "unknown response flag",
	}
	for in, want := range tests {
		got, ok := DescribeFlags(in)
		assert.True(t, ok, in)
		assert.Equal(t, want, got.Message, in)
	}
	for _, in := range []string{"", "-", ",", " , "} {
		_, ok := DescribeFlags(in)
		assert.False(t, ok, in)
	}
	long, ok := DescribeFlags(strings.Repeat("UF,", 10000))
	assert.True(t, ok)
	assert.LessOrEqual(t, len(long.Message), maxMessage)
	// A known flag after the message is full still gives the error.type.
	late, ok := DescribeFlags(strings.Repeat("QQ,", 100) + "UF")
	assert.True(t, ok)
	assert.Equal(t, "upstream_connection_failure", late.ErrorType)
}

func TestSingleKnownFlagDoesNotAllocate(t *testing.T) {
	assert.Zero(t, testing.AllocsPerRun(100, func() { _, _ = DescribeFlags("URX") }))
}

func TestRouteNamespace(t *testing.T) {
	ns, ok := RouteNamespace("httproute/team-a/shop/rule/0")
	assert.True(t, ok)
	assert.Equal(t, "team-a", ns)
	ns, ok = RouteNamespace("grpcroute/team-b/api/rule/2/match/0")
	assert.True(t, ok)
	assert.Equal(t, "team-b", ns)
	for _, bad := range []string{"", "-", "httproute/team-a/shop", "httproute/Team/shop/rule/0", "ingress/a/b/rule/0",
		"httproute//shop/rule/0", "httproute/a//rule/0", "outbound|80||a.b.svc.cluster.local", "tracing/backend/-1"} {
		_, ok := RouteNamespace(bad)
		assert.False(t, ok, bad)
	}
}

func TestErrorType(t *testing.T) {
	tests := map[string]string{
		"UF":       "upstream_connection_failure",
		"DC":       "downstream_connection_termination",
		"UT":       "upstream_request_timeout",
		"UAEX":     "unauthorized_external_service",
		"UF,URX":   "upstream_connection_failure",
		"QQ,UH":    "no_healthy_upstream",
		"QQ":       "_OTHER",
		"bad!":     "_OTHER",
		" NR ,- ":  "no_route_found",
		"RL":       "rate_limited",
		"DR":       "downstream_remote_reset",
		"UMSDR,DT": "upstream_max_stream_duration_reached",
	}
	for in, want := range tests {
		got, ok := DescribeFlags(in)
		assert.True(t, ok, in)
		assert.Equal(t, want, got.ErrorType, in)
	}
}
