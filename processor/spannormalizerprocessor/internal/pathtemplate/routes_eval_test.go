package pathtemplate

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// The evaluation workload: an API with static routes, slugs, IDs, nested
// resources, a long tail of rare routes and a few scanners, generated with
// its ground truth (the route each request belongs to) so that what the
// namer learns can be judged.

// routeSpec is one true route: its segments are literals or a parameter
// kind that draws a value.
type routeSpec struct {
	template string
	segs     []string
	weight   float64
	static   bool // no parameter at all
}

type paramKind func(rng *rand.Rand, w *workload) string

type workload struct {
	routes  []routeSpec
	cum     []float64
	params  map[string]paramKind
	slugs   []string
	users   []string
	scanner float64 // share of scanner requests
}

type request struct {
	path  string
	route int // -1 for a scanner
	// values are the parameter values in the path (must never be named).
	values []string
}

func newWorkload(seed uint64) *workload {
	rng := rand.New(rand.NewPCG(seed, 99))
	w := &workload{params: map[string]paramKind{}, scanner: 0.02}
	for range 5000 {
		w.slugs = append(w.slugs, randomWord(rng, 5)+"-"+randomWord(rng, 4+rng.IntN(6)))
	}
	for range 2000 {
		w.users = append(w.users, randomWord(rng, 3+rng.IntN(6)))
	}
	zipf := func(n int, s float64) func(*rand.Rand) int {
		z := rand.NewZipf(rand.New(rand.NewPCG(seed, 7)), s, 1, uint64(n-1))
		return func(*rand.Rand) int { return int(z.Uint64()) }
	}
	slugAt, userAt := zipf(len(w.slugs), 1.1), zipf(len(w.users), 1.05)
	w.params["{slug}"] = func(rng *rand.Rand, w *workload) string { return w.slugs[slugAt(rng)] }
	w.params["{user}"] = func(rng *rand.Rand, w *workload) string { return w.users[userAt(rng)] }
	w.params["{id}"] = func(rng *rand.Rand, _ *workload) string { return fmt.Sprint(1 + rng.IntN(1_000_000)) }
	w.params["{uuid}"] = func(rng *rand.Rand, _ *workload) string {
		return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", rng.Uint32(), rng.IntN(1<<16), rng.IntN(1<<16), rng.IntN(1<<16), rng.Uint64()&(1<<48-1))
	}
	w.params["{sku}"] = func(rng *rand.Rand, _ *workload) string {
		return fmt.Sprintf("%c%c-%05d", 'A'+rng.IntN(26), 'A'+rng.IntN(26), rng.IntN(100000))
	}
	w.params["{date}"] = func(rng *rand.Rand, _ *workload) string {
		return time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, rng.IntN(700)).Format("2006-01-02")
	}
	w.params["{token}"] = func(rng *rand.Rand, _ *workload) string { return randomWord(rng, 6) }

	add := func(template string, weight float64) {
		segs := strings.Split(template, "/")
		static := !strings.Contains(template, "{")
		w.routes = append(w.routes, routeSpec{template: template, segs: segs, weight: weight, static: static})
	}
	for _, r := range []string{"cart", "checkout", "products", "categories", "search", "wishlist", "recommendations",
		"currency", "shipping", "payment", "reviews", "inventory", "promotions", "gift-cards", "stores", "help"} {
		add("/api/v1/"+r, 3)
	}
	for _, r := range []string{"/", "/health", "/metrics", "/login", "/logout", "/signup", "/about", "/cart", "/api/v2/cart", "/api/v2/checkout"} {
		add(r, 2)
	}
	add("/blog/{slug}", 6)
	add("/blog/{slug}/comments", 2)
	add("/products/{sku}", 6)
	add("/products/{sku}/reviews", 2)
	add("/users/{user}", 4)
	add("/users/{user}/orders", 3)
	add("/users/{user}/orders/{id}", 4)
	add("/users/{user}/orders/{id}/items/{id}", 2)
	add("/orders/{uuid}", 4)
	add("/orders/{uuid}/tracking", 2)
	add("/reports/daily/{date}", 1)
	add("/s/{token}", 2)
	add("/api/v1/products/{sku}", 5)
	add("/api/v1/users/{user}/wishlist", 2)
	add("/tags/{slug}", 1)
	add("/authors/{user}/posts", 1)
	// A long tail of rare static routes.
	for i := range 30 {
		add(fmt.Sprintf("/legacy/page-%02d", i), 0.02)
	}
	total := 0.0
	for _, r := range w.routes {
		total += r.weight
		w.cum = append(w.cum, total)
	}
	return w
}

func (w *workload) next(rng *rand.Rand) request {
	if rng.Float64() < w.scanner {
		depth := 1 + rng.IntN(4)
		var b strings.Builder
		for range depth {
			b.WriteString("/" + randomWord(rng, 1+rng.IntN(12)))
		}
		return request{path: b.String(), route: -1}
	}
	x := rng.Float64() * w.cum[len(w.cum)-1]
	i := 0
	for w.cum[i] < x {
		i++
	}
	r := &w.routes[i]
	req := request{route: i}
	segs := make([]string, len(r.segs))
	for j, s := range r.segs {
		if gen, ok := w.params[s]; ok {
			v := gen(rng, w)
			segs[j] = v
			req.values = append(req.values, v)
			continue
		}
		segs[j] = s
	}
	req.path = strings.Join(segs, "/")
	return req
}

// evaluation is what one run of the workload through a namer shows.
type evaluation struct {
	trueRoutes   int     // routes requested in the measured window
	names        int     // distinct names of those requests
	ratio        float64 // names / trueRoutes
	mergedStatic int     // names shared by two static routes
	mergedAny    int     // names shared by two true routes
	leaks        int     // names that carry a parameter value
	rareInName   int     // names with a literal seen fewer than MinCount times at its position
	// convergedAfter is the request after which no route of weight 1 or
	// more changed its name again.
	convergedAfter int
}

func evaluate(n *Namer, w *workload, warmup, measured int, seed uint64) evaluation {
	rng := rand.New(rand.NewPCG(seed, 1))
	seenAt := map[string]int{} // "index|value" -> sightings
	namesOf := map[string]map[int]bool{}
	routesSeen := map[int]bool{}
	var ev evaluation
	lastName := map[int]string{}
	values := map[string]bool{}
	for i := range warmup + measured {
		req := w.next(rng)
		for j, seg := range strings.Split(req.path, "/") {
			seenAt[fmt.Sprint(j, "|", seg)]++
		}
		got, _ := n.Name("shop", "GET", req.path, 0, nil)
		if req.route >= 0 && w.routes[req.route].weight >= 1 && lastName[req.route] != got {
			lastName[req.route] = got
			ev.convergedAfter = i
		}
		if i < warmup || req.route < 0 {
			continue
		}
		routesSeen[req.route] = true
		if namesOf[got] == nil {
			namesOf[got] = map[int]bool{}
		}
		namesOf[got][req.route] = true
		for _, v := range req.values {
			values[v] = true
		}
		for j, seg := range strings.Split(strings.TrimPrefix(got, "GET "), "/") {
			if seg != "" && !strings.HasPrefix(seg, "{") && seenAt[fmt.Sprint(j, "|", seg)] < n.learn.MinCount {
				ev.rareInName++
			}
		}
	}
	ev.trueRoutes = len(routesSeen)
	ev.names = len(namesOf)
	ev.ratio = float64(ev.names) / float64(ev.trueRoutes)
	for nm, routes := range namesOf {
		static := 0
		for r := range routes {
			if w.routes[r].static {
				static++
			}
		}
		if static > 1 {
			ev.mergedStatic++
		}
		if len(routes) > 1 {
			ev.mergedAny++
		}
		for _, seg := range strings.Split(strings.TrimPrefix(nm, "GET "), "/") {
			if values[seg] {
				ev.leaks++
				break
			}
		}
	}
	return ev
}

var evalLearning = Learning{MinCount: 3, MaxValues: 64, MaxNodes: 1000, MaxTotalNodes: 100000, IdleEpochs: 60}

// TestLearningOnARealisticAPI checks the bar on the workload: after
// warm-up, distinct names at most 1.2x the true routes, no static routes
// merged, no name with a value seen fewer than MinCount times.
func TestLearningOnARealisticAPI(t *testing.T) {
	w := newWorkload(42)
	assert.GreaterOrEqual(t, len(w.routes), 50)
	ev := evaluate(New(nil, 1000, 10, 256, evalLearning), w, 50_000, 50_000, 7)
	t.Logf("%+v", ev)
	assert.LessOrEqual(t, ev.ratio, 1.2, "distinct names per true route")
	assert.Zero(t, ev.mergedStatic, "static routes merged")
	assert.Zero(t, ev.rareInName, "names with a value seen fewer than min_count times")

	// Without learning (today's heuristics), the same traffic gives a name
	// per slug, user, SKU and date until the name bound collapses them.
	before := evaluate(New(nil, 1000, 10, 256, Learning{}), w, 50_000, 50_000, 7)
	t.Logf("heuristics only: %+v", before)
	assert.Greater(t, before.ratio, 3.0, "the workload defeats the heuristics alone")
}

// BenchmarkRouteLearning prints the evaluation's figures and the cost per
// name of the learner against the heuristics alone, on the same requests.
//
//	go test -run '^$' -bench RouteLearning -benchtime 200000x ./processor/spannormalizerprocessor/internal/pathtemplate/
func BenchmarkRouteLearning(b *testing.B) {
	w := newWorkload(42)
	rng := rand.New(rand.NewPCG(11, 12))
	reqs := make([]string, 1<<16)
	for i := range reqs {
		reqs[i] = w.next(rng).path
	}
	for _, bc := range []struct {
		name  string
		learn Learning
	}{{"heuristics_only", Learning{}}, {"learned", evalLearning}} {
		b.Run(bc.name, func(b *testing.B) {
			ev := evaluate(New(nil, 1000, 10, 256, bc.learn), w, 50_000, 50_000, 7)
			n := New(nil, 1000, 10, 256, bc.learn)
			buf := make([]byte, 0, 256)
			for _, p := range reqs { // warm up
				n.Name("shop", "GET", p, 0, buf)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				n.Name("shop", "GET", reqs[i&(len(reqs)-1)], 0, buf)
				i++
			}
			b.ReportMetric(float64(ev.trueRoutes), "true_routes")
			b.ReportMetric(float64(ev.names), "names")
			b.ReportMetric(ev.ratio, "names/route")
			b.ReportMetric(float64(ev.mergedAny), "merged_names")
			b.ReportMetric(float64(ev.mergedStatic), "merged_static")
			b.ReportMetric(float64(ev.leaks), "leaking_names")
			b.ReportMetric(float64(ev.convergedAfter), "converged_after_reqs")
		})
	}
}
