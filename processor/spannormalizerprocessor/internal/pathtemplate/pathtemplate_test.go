package pathtemplate

import (
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestIsID(t *testing.T) {
	for _, id := range []string{
		"0", "42", "3fa85f64-5717-4562-b3fc-2c963f66afa6", "3FA85F64-5717-4562-B3FC-2C963F66AFA6",
		"deadbeefcafebabe", "0123456789abcdef0123", "dGhpcyBpcyBhIHRva2Vu1", "aB3_-xYz09aB3_-xYz09",
	} {
		assert.True(t, IsID(id), id)
	}
	for _, word := range []string{
		"", "v1", "api", "reviews", "productpage", "internationalization", "my-long-product-name",
		"deadbeefcafebab", // 15 hex chars
		"aB3xYz09aB3xYz0", "file.json", "a%20b", "ab12",
	} {
		assert.False(t, IsID(word), word)
	}
}

func TestAppendName(t *testing.T) {
	re, err := CompilePattern("[a-z]{2}-[A-Z]{2}", "{locale}")
	require.NoError(t, err)
	n := New([]Pattern{re}, 10, 10, 64, Learning{})
	tests := map[string]string{
		"":  "GET /",
		"/": "GET /",
		"/orders/3fa85f64-5717-4562-b3fc-2c963f66afa6/items": "GET /orders/{id}/items",
		"/a//b/":         "GET /a//b/",
		"/en-US/shop/12": "GET /{locale}/shop/{id}",
		"*":              "GET *",
		"relative/7":     "GET relative/{id}",
	}
	for path, want := range tests {
		got, ok := n.AppendName(nil, "GET", path)
		assert.True(t, ok, path)
		assert.Equal(t, want, string(got), path)
	}
	_, ok := n.AppendName(nil, "GET", "/"+strings.Repeat("abc/", 100))
	assert.False(t, ok, "longer than maxLen")
	_, ok = n.AppendName(nil, "GET", "/"+strings.Repeat("x", 61))
	assert.False(t, ok, "one segment past maxLen")
	got, ok := n.AppendName(nil, "GET", "/"+strings.Repeat("x", 59))
	assert.True(t, ok, "exactly maxLen")
	assert.Len(t, got, 64)
}

func TestCompilePattern(t *testing.T) {
	_, err := CompilePattern("", "{x}")
	assert.Error(t, err)
	_, err = CompilePattern("a", "")
	assert.Error(t, err)
	_, err = CompilePattern("a", "x/y")
	assert.Error(t, err)
	_, err = CompilePattern("(", "{x}")
	assert.Error(t, err)
	p, err := CompilePattern("ab|cd", "{x}")
	require.NoError(t, err)
	assert.True(t, p.re.MatchString("cd"))
	assert.False(t, p.re.MatchString("abcd"), "anchored around the whole alternation")
}

func TestInternBounds(t *testing.T) {
	n := New(nil, 2, 2, 16, Learning{})
	s, o, f := n.Intern("a", []byte("GET /x"), 0)
	assert.Equal(t, "GET /x", s)
	assert.Equal(t, Added, o)
	assert.Zero(t, f)
	_, o, _ = n.Intern("a", []byte("GET /x"), 0)
	assert.Equal(t, Known, o)
	_, o, f = n.Intern("a", []byte("GET /y"), 0)
	assert.Equal(t, Added, o)
	assert.Equal(t, FilledNames, f, "second name fills service a")
	s, o, f = n.Intern("a", []byte("GET /z"), 0)
	assert.Equal(t, CollapsedNameLimit, o)
	assert.Empty(t, s)
	assert.Zero(t, f, "reported once, when it fills")
	_, o, f = n.Intern("b", []byte("GET /z"), 0)
	assert.Equal(t, Added, o)
	assert.Equal(t, FilledServices, f)
	_, o, _ = n.Intern("c", []byte("GET /z"), 0)
	assert.Equal(t, CollapsedServiceLimit, o)
	_, o, _ = n.Intern("a", []byte(strings.Repeat("n", 17)), 0)
	assert.Equal(t, CollapsedTooLong, o)
	_, o, _ = n.Intern(strings.Repeat("s", 17), []byte("GET /"), 0)
	assert.Equal(t, CollapsedTooLong, o)
	assert.Equal(t, 2, n.Services())
}

func TestInternKnownNameDoesNotAllocate(t *testing.T) {
	n := New(nil, 10, 10, 64, Learning{})
	name := []byte("GET /x")
	n.Intern("svc", name, 0)
	assert.Zero(t, testing.AllocsPerRun(100, func() { n.Intern("svc", name, 0) }), 0)
}

// TestInternConcurrent is meaningful under -race.
func TestInternConcurrent(t *testing.T) {
	n := New(nil, 50, 5, 64, Learning{})
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				n.Intern("svc"+strconv.Itoa(i%7), []byte("GET /"+strconv.Itoa(i+g)), 0)
			}
		}(g)
	}
	wg.Wait()
	assert.Equal(t, 5, n.Services())
	for _, sr := range n.services {
		assert.LessOrEqual(t, len(sr.flat), 50)
	}
}
