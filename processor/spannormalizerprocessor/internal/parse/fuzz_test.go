package parse

import (
	"strings"
	"testing"
)

// FuzzParseURL checks the split the normalizer writes into url.path and
// url.query: the path never carries the query or the fragment, and the
// pieces come from the input.
func FuzzParseURL(f *testing.F) {
	for _, seed := range []string{
		"https://shop.example.com/productpage?u=normal", "/api/v1/orders/42?ref=home#top", "*",
		"http://[2001:db8::1]:8080/x", "http://u:p@h:99999/", "ftp://", "/", "?", "//x", "a+b://h?q",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, ok := ParseURL(s)
		if !ok {
			return
		}
		if strings.ContainsAny(u.Path, "?#") {
			t.Fatalf("%q: path %q keeps a query or fragment", s, u.Path)
		}
		if strings.Contains(u.Query, "#") {
			t.Fatalf("%q: query %q keeps the fragment", s, u.Query)
		}
		if u.Query != "" && !u.HasQuery {
			t.Fatalf("%q: query without HasQuery", s)
		}
		if !strings.Contains(s, u.Path) || !strings.Contains(s, u.Host) || !strings.Contains(s, u.Query) {
			t.Fatalf("%q: parts %+v not from the input", s, u)
		}
		if u.Port < 0 || u.Port > 65535 {
			t.Fatalf("%q: port %d", s, u.Port)
		}
	})
}

// FuzzSplitHostPort checks that the host comes from the input and any port
// reported valid is a real port.
func FuzzSplitHostPort(f *testing.F) {
	for _, seed := range []string{"h", "h:80", "[::1]:443", "2001:db8::1", "[v6", "h:", ":0", "h:65536"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		host, port, ok := SplitHostPort(s)
		if !strings.Contains(s, host) {
			t.Fatalf("%q: host %q not from the input", s, host)
		}
		if ok && (port < 0 || port > 65535) {
			t.Fatalf("%q: port %d reported valid", s, port)
		}
	})
}
