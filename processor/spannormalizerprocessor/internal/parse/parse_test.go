package parse

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestUint(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "200": 200, "999999999999999999": 999999999999999999} {
		got, ok := Uint(in)
		assert.True(t, ok, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "-", "-1", "+1", " 1", "1 ", "1e3", "0x10", "1234567890123456789", "２００"} {
		_, ok := Uint(in)
		assert.False(t, ok, in)
	}
}

func TestPort(t *testing.T) {
	_, ok := Port("0")
	assert.False(t, ok)
	_, ok = Port("65536")
	assert.False(t, ok)
	p, ok := Port("65535")
	assert.True(t, ok)
	assert.Equal(t, int64(65535), p)
}

func TestParseURL(t *testing.T) {
	tests := []struct {
		in   string
		want URL
		ok   bool
	}{
		{"https://shop.example.com/productpage?u=normal", URL{Scheme: "https", Host: "shop.example.com", Path: "/productpage", Query: "u=normal", HasQuery: true}, true},
		{"http://reviews:9080/reviews/0", URL{Scheme: "http", Host: "reviews", Port: 9080, Path: "/reviews/0"}, true},
		{"http://[2001:db8::1]:8443/a?#frag", URL{Scheme: "http", Host: "2001:db8::1", Port: 8443, Path: "/a", HasQuery: true}, true},
		{"http://user:pw@host/x", URL{Scheme: "http", Host: "host", Path: "/x"}, true},
		{"http://host", URL{Scheme: "http", Host: "host"}, true},
		{"http://host?q", URL{Scheme: "http", Host: "host", Query: "q", HasQuery: true}, true},
		{"/a/b?c=d#e", URL{Path: "/a/b", Query: "c=d", HasQuery: true}, true},
		{"*", URL{Path: "*"}, true},
		{"", URL{}, false},
		{"not a url", URL{}, false},
		{"1http://x/", URL{}, false},
		{"host:80/x", URL{}, false},
	}
	for _, tt := range tests {
		got, ok := ParseURL(tt.in)
		assert.Equal(t, tt.ok, ok, tt.in)
		assert.Equal(t, tt.want, got, tt.in)
	}
}

func TestSplitHostPort(t *testing.T) {
	tests := []struct {
		in   string
		host string
		port int64
		ok   bool
	}{
		{"10.0.0.1", "10.0.0.1", 0, true},
		{"10.0.0.1:8080", "10.0.0.1", 8080, true},
		{"[2001:db8::1]:443", "2001:db8::1", 443, true},
		{"[2001:db8::1]", "2001:db8::1", 0, true},
		{"2001:db8::1", "2001:db8::1", 0, true},
		{"host:x", "host", 0, false},
		{"[::1]x", "::1", 0, false},
		{"[::1", "[::1", 0, false},
		{"", "", 0, true},
	}
	for _, tt := range tests {
		h, p, ok := SplitHostPort(tt.in)
		assert.Equal(t, tt.host, h, tt.in)
		assert.Equal(t, tt.port, p, tt.in)
		assert.Equal(t, tt.ok, ok, tt.in)
	}
}

func TestMethod(t *testing.T) {
	m, ok := Method("PATCH")
	assert.True(t, ok)
	assert.Equal(t, "PATCH", m)
	for _, in := range []string{"get", "PURGE", "", "GET "} {
		m, ok := Method(in)
		assert.False(t, ok, in)
		assert.Equal(t, "_OTHER", m)
	}
}

func TestProtocolVersion(t *testing.T) {
	for in, want := range map[string]string{"HTTP/1.1": "1.1", "HTTP/1.0": "1.0", "HTTP/2": "2", "2.0": "2", "HTTP/3": "3", "3.0": "3", "1.1": "1.1"} {
		got, ok := ProtocolVersion(in)
		assert.True(t, ok, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "HTTP/", "SPDY/3", "HTTP/9", "h2"} {
		_, ok := ProtocolVersion(in)
		assert.False(t, ok, in)
	}
}

func TestIsDNSLabel(t *testing.T) {
	for _, ok := range []string{"a", "team-alpha", "ns1", "0abc"} {
		assert.True(t, IsDNSLabel(ok), ok)
	}
	for _, bad := range []string{"", "-a", "a-", "Team", "a.b", "a_b", string(make([]byte, 64))} {
		assert.False(t, IsDNSLabel(bad), bad)
	}
}
