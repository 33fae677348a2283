package pathtemplate

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testLearning: a value is named after 3 sightings, a position with more
// than 8 distinct values is a parameter.
var testLearning = Learning{MinCount: 3, MaxValues: 8, MaxNodes: 500, MaxTotalNodes: 5000, IdleEpochs: 2}

func newLearner(tb testing.TB, l Learning) *Namer {
	tb.Helper()
	return New(nil, 100, 10, 128, l)
}

func name(n *Namer, service, method, path string, epoch uint32) string {
	s, _ := n.Name(service, method, path, epoch, nil)
	return s
}

func TestValueIsNamedOnlyAfterMinCount(t *testing.T) {
	n := newLearner(t, testLearning)
	assert.Equal(t, "GET /{param}/{param}/{param}", name(n, "shop", "GET", "/api/v1/cart", 0))
	assert.Equal(t, "GET /{param}/{param}/{param}", name(n, "shop", "GET", "/api/v1/cart", 0))
	// The third sighting of each value: every position was counted from the
	// first request on, so the whole route settles at once.
	assert.Equal(t, "GET /api/v1/cart", name(n, "shop", "GET", "/api/v1/cart", 0))
	// A sibling is counted on its own: not named before its third sighting.
	assert.Equal(t, "GET /api/v1/{param}", name(n, "shop", "GET", "/api/v1/checkout", 0))
	name(n, "shop", "GET", "/api/v1/checkout", 0)
	assert.Equal(t, "GET /api/v1/checkout", name(n, "shop", "GET", "/api/v1/checkout", 0))
	assert.Equal(t, "GET /api/v1/cart", name(n, "shop", "GET", "/api/v1/cart", 0), "two static routes stay two names")
	// Methods learn apart.
	assert.Equal(t, "POST /{param}/{param}/{param}", name(n, "shop", "POST", "/api/v1/cart", 0))
}

func TestIDsNeedNoLearning(t *testing.T) {
	n := newLearner(t, testLearning)
	for range 3 {
		name(n, "shop", "GET", "/orders/1", 0)
	}
	assert.Equal(t, "GET /orders/{id}", name(n, "shop", "GET", "/orders/3fa85f64-5717-4562-b3fc-2c963f66afa6", 0))
	assert.Equal(t, "GET /orders/{id}", name(n, "shop", "GET", "/orders/42", 0))
}

func TestManyValuesMakeAParameter(t *testing.T) {
	n := newLearner(t, testLearning)
	for range 3 {
		name(n, "blog", "GET", "/blog/welcome", 0)
	}
	assert.Equal(t, "GET /blog/welcome", name(n, "blog", "GET", "/blog/welcome", 0), "a popular value is named while the position is undecided")
	// 40 posts, each seen once: after 4 x MaxValues requests, most brought
	// a value the position had not seen.
	learned := 0
	for i := range 40 {
		_, st := n.Name("blog", "GET", fmt.Sprintf("/blog/post-%c%c", 'a'+i%26, 'a'+i/26), 0, nil)
		learned += st.Learned
	}
	assert.Equal(t, 1, learned, "the position was decided once")
	// Now every value there is {param}, the popular one and IDs too: one
	// route, one name.
	assert.Equal(t, "GET /blog/{param}", name(n, "blog", "GET", "/blog/welcome", 0))
	assert.Equal(t, "GET /blog/{param}", name(n, "blog", "GET", "/blog/2024-retrospective-of-the-year1", 0))
	assert.Equal(t, "GET /blog/{param}", name(n, "blog", "GET", "/blog/123", 0))
	assert.Equal(t, "GET /blog/{param}/comments", func() string {
		for range 2 {
			name(n, "blog", "GET", "/blog/x/comments", 0)
		}
		return name(n, "blog", "GET", "/blog/y/comments", 0)
	}())
}

// TestNoRareValueInAName: random slugs, each seen once or twice, never
// appear in a name, whatever the order.
func TestNoRareValueInAName(t *testing.T) {
	n := newLearner(t, testLearning)
	rng := rand.New(rand.NewPCG(1, 2))
	seen := map[string]int{}
	for range 2000 {
		slug := randomWord(rng, 6)
		if seen[slug] >= testLearning.MinCount-1 {
			continue
		}
		seen[slug]++
		got := name(n, "blog", "PUT", "/blog/"+slug, 0)
		assert.NotContains(t, got, slug)
	}
}

// TestOrderDoesNotMatter: two learners fed the same requests in different
// orders (two replicas behind a load balancer) name every route alike.
func TestOrderDoesNotMatter(t *testing.T) {
	var paths []string
	for _, r := range []string{"/api/v1/cart", "/api/v1/checkout", "/api/v1/products", "/users/me"} {
		for range 5 {
			paths = append(paths, r)
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 40 {
		paths = append(paths, "/users/"+randomWord(rng, 7)+"/orders/"+fmt.Sprint(rng.IntN(1000)))
	}
	a, b := newLearner(t, testLearning), newLearner(t, testLearning)
	for _, p := range paths {
		name(a, "s", "GET", p, 0)
	}
	shuffled := append([]string(nil), paths...)
	rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	for _, p := range shuffled {
		name(b, "s", "GET", p, 0)
	}
	for _, p := range paths {
		assert.Equal(t, name(a, "s", "GET", p, 0), name(b, "s", "GET", p, 0), p)
	}
	assert.Equal(t, "GET /users/{param}/orders/{id}", name(a, "s", "GET", "/users/zed/orders/7", 0))
}

func TestIdleRoutesAreForgotten(t *testing.T) {
	n := newLearner(t, testLearning)
	for range 3 {
		name(n, "s", "GET", "/old/route", 0)
	}
	assert.Equal(t, "GET /old/route", name(n, "s", "GET", "/old/route", 1))
	for range 3 {
		name(n, "s", "GET", "/new/route", 2)
	}
	before := n.services["s"].nodes
	// Epoch 4: /old was last seen at 1, more than IdleEpochs ago.
	assert.Equal(t, "GET /new/route", name(n, "s", "GET", "/new/route", 4))
	assert.Less(t, n.services["s"].nodes, before, "the old route's positions were freed")
	assert.Equal(t, "GET /{param}/{param}", name(n, "s", "GET", "/old/route", 4), "forgotten: learned again")
}

func TestBudgetsHold(t *testing.T) {
	l := testLearning
	l.MaxNodes, l.MaxTotalNodes, l.MaxValues = 40, 60, 1000
	n := newLearner(t, l)
	rng := rand.New(rand.NewPCG(5, 6))
	collapsed := 0
	for i := range 3000 {
		p := "/" + randomWord(rng, 3) + "/" + randomWord(rng, 3)
		got, st := n.Name(fmt.Sprintf("svc%d", i%3), "GET", p, 0, nil)
		if st.Outcome == CollapsedNodeLimit {
			collapsed++
			assert.Equal(t, "GET /{param}/{param}", got, "past the budget: the parameter form")
		}
	}
	assert.Positive(t, collapsed)
	total := 0
	for _, sr := range n.services {
		assert.LessOrEqual(t, sr.nodes, l.MaxNodes)
		total += sr.nodes
	}
	assert.LessOrEqual(t, total, l.MaxTotalNodes)
	assert.Equal(t, total, n.budget.used)
}

func TestSettledNameDoesNotAllocate(t *testing.T) {
	n := newLearner(t, testLearning)
	buf := make([]byte, 0, 128)
	for range 3 {
		n.Name("s", "GET", "/api/v1/orders/42", 0, buf)
	}
	assert.Zero(t, testing.AllocsPerRun(100, func() { n.Name("s", "GET", "/api/v1/orders/42", 0, buf) }))
}

func TestNameBounds(t *testing.T) {
	n := New(nil, 2, 10, 32, testLearning)
	for _, p := range []string{"/a", "/b", "/c"} {
		for range 3 {
			name(n, "s", "GET", p, 0)
		}
	}
	_, st := n.Name("s", "GET", "/c", 0, nil)
	assert.Equal(t, CollapsedNameLimit, st.Outcome, "a third name is over max names")
	_, st = n.Name("s", "GET", strings.Repeat("/a", 8), 0, nil)
	assert.Equal(t, CollapsedTooLong, st.Outcome, "8 x {param} is over 32 bytes")
}

// TestLearnerConcurrent is meaningful under -race.
func TestLearnerConcurrent(t *testing.T) {
	n := newLearner(t, testLearning)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 9))
			for i := range 500 {
				n.Name(fmt.Sprintf("svc%d", i%3), "GET", "/x/"+randomWord(rng, 2), uint32(i/100), nil)
			}
		}()
	}
	wg.Wait()
	require.LessOrEqual(t, n.budget.used, testLearning.MaxTotalNodes)
}

func randomWord(rng *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + rng.IntN(26))
	}
	return string(b)
}

// TestFrequentValuesBeyondTheLimitMakeAParameter: more than MaxValues values
// seen MinCount times each (a popular head of slugs) decide the position
// even when few requests brought new values.
func TestFrequentValuesBeyondTheLimitMakeAParameter(t *testing.T) {
	n := newLearner(t, testLearning)
	for i := range testLearning.MaxValues + 1 {
		for range testLearning.MinCount {
			name(n, "s", "GET", fmt.Sprintf("/tag/t%c", 'a'+i), 0)
		}
	}
	assert.Equal(t, "GET /tag/{param}", name(n, "s", "GET", "/tag/ta", 0))
}

// TestScannerGarbageKeepsStaticRoutes: random first segments from a scanner,
// a few percent of the traffic, do not turn the static routes beside them
// into a parameter.
func TestScannerGarbageKeepsStaticRoutes(t *testing.T) {
	n := newLearner(t, testLearning)
	rng := rand.New(rand.NewPCG(8, 8))
	for i := range 3000 {
		if i%25 == 0 {
			name(n, "s", "GET", "/"+randomWord(rng, 8), 0)
			continue
		}
		name(n, "s", "GET", []string{"/cart", "/checkout", "/login"}[i%3], 0)
	}
	assert.Equal(t, "GET /cart", name(n, "s", "GET", "/cart", 0))
	assert.Equal(t, "GET /login", name(n, "s", "GET", "/login", 0))
	assert.Equal(t, "GET /{param}", name(n, "s", "GET", "/"+randomWord(rng, 8), 0))
}
