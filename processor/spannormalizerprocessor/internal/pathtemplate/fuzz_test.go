package pathtemplate

import (
	"strings"
	"testing"
)

// FuzzAppendName checks the span-name template for any path: it stays
// within the length bound, starts with the method, and leaves no segment
// that looks like an ID.
func FuzzAppendName(f *testing.F) {
	for _, seed := range []string{
		"/orders/3fa85f64-5717-4562-b3fc-2c963f66afa6/items", "/api/v1/products/42", "", "//", "/a/b/",
		"/" + strings.Repeat("x", 300), "/0123456789abcdef0123/z",
	} {
		f.Add("GET", seed)
	}
	const maxLen = 128
	namer := New(nil, 100, 100, maxLen, Learning{})
	f.Fuzz(func(t *testing.T, method, path string) {
		name, ok := namer.AppendName(nil, method, path)
		if len(name) > maxLen {
			t.Fatalf("name of %d bytes over the bound %d", len(name), maxLen)
		}
		if !ok {
			return
		}
		rest, found := strings.CutPrefix(string(name), method+" ")
		if !found {
			t.Fatalf("%q does not start with the method %q", name, method)
		}
		for _, seg := range strings.Split(rest, "/") {
			if seg != IDPlaceholder && IsID(seg) {
				t.Fatalf("segment %q of %q is an ID left in the name", seg, name)
			}
		}
	})
}
