package pathtemplate // import "github.com/otelcol-mesh/otelcol-mesh/processor/spannormalizerprocessor/internal/pathtemplate"

import "strings"

// ParamPlaceholder names a path position learned to be variable, and any
// value not yet seen often enough to be named.
const ParamPlaceholder = "{param}"

// Learning configures route learning. The zero value turns it off: every
// segment that is not ID-like is named as it is, as without learning.
type Learning struct {
	// MinCount is how often a segment value must have been seen at its
	// position before it may appear in a name; until then it is named
	// {param}. 1 names every value at once.
	MinCount int
	// MaxValues is how many distinct values a position may show before it
	// is decided variable: from then on every value there is {param}.
	MaxValues int
	// MaxNodes bounds the positions and values tracked per service, and
	// MaxTotalNodes those of all services; beyond them, paths that need a
	// new position are named in the parameter form.
	MaxNodes      int
	MaxTotalNodes int
	// IdleEpochs: positions and values not seen for this many epochs are
	// forgotten (0: never).
	IdleEpochs uint32
}

// enabled reports whether values are counted before they are named.
func (l Learning) enabled() bool { return l.MinCount > 1 || l.MaxValues > 0 }

// node is one path position under one prefix, for one service and method.
// The path from the root to a node spells a name: literal values, {id}
// and the user's placeholders, {param}. A node's name is cached the first
// time a request ends there, so a known route costs no allocation.
type node struct {
	last uint32 // epoch it was last used
	// total and novel count the requests that reached this position with a
	// value to learn, and those whose value it was not tracking; frequent
	// counts its values seen MinCount times.
	total, novel, frequent int
	// variable: more than MaxValues distinct values were seen here; every
	// value is {param} now (values is nil).
	variable bool
	// values: the values seen at this position, with their counts and their
	// subtrees.
	values valueSet
	// Placeholder children: an empty segment (the path's leading slash, a
	// trailing slash), {id}, and the user's replacements.
	empty, id *node
	typed     map[string]*node
	// param: the {param} child.
	param *node
	// name is the cached name of a path that ends here ("" until one does).
	name string
}

type value struct {
	name  string
	count int
	last  uint32
	child *node // the positions below this value
}

// fewValues is how many values a position scans in place before it hashes
// them: most static positions have a handful to a few dozen. The scan
// compares a packed (length, first byte, last byte) key first, so it
// rarely compares strings that differ.
const fewValues = 32

// valueSet holds a position's values: a short slice scanned in place while
// they are few, a map beyond.
type valueSet struct {
	keys []uint32 // packedKey of few[i]
	few  []*value
	many map[string]*value
}

func packedKey(k string) uint32 {
	if k == "" {
		return 0
	}
	return uint32(len(k))<<16 | uint32(k[0])<<8 | uint32(k[len(k)-1])
}

func (vs *valueSet) get(k string) *value {
	if vs.many != nil {
		return vs.many[k]
	}
	pk := packedKey(k)
	for i, key := range vs.keys {
		if key == pk && vs.few[i].name == k {
			return vs.few[i]
		}
	}
	return nil
}

func (vs *valueSet) add(v *value) {
	if vs.many == nil && len(vs.few) < fewValues {
		vs.few = append(vs.few, v)
		vs.keys = append(vs.keys, packedKey(v.name))
		return
	}
	if vs.many == nil {
		vs.many = make(map[string]*value, 2*fewValues)
		for _, f := range vs.few {
			vs.many[f.name] = f
		}
		vs.few, vs.keys = nil, nil
	}
	vs.many[v.name] = v
}

func (vs *valueSet) len() int {
	if vs.many != nil {
		return len(vs.many)
	}
	return len(vs.few)
}

// removeIf deletes the values drop reports, after calling it on every one.
func (vs *valueSet) removeIf(drop func(*value) bool) {
	if vs.many != nil {
		for k, v := range vs.many {
			if drop(v) {
				delete(vs.many, k)
			}
		}
		return
	}
	kept, keys := vs.few[:0], vs.keys[:0]
	for _, v := range vs.few {
		if !drop(v) {
			kept = append(kept, v)
			keys = append(keys, packedKey(v.name))
		}
	}
	clear(vs.few[len(kept):])
	vs.few, vs.keys = kept, keys
}

// serviceRoutes is what is learned for one service.
type serviceRoutes struct {
	roots map[string]*node // per method
	// nodes counts the service's positions and values; budget is shared by
	// every service of the Namer.
	nodes    int
	maxNodes int
	minCount int
	budget   *budget
	names    int
	last     uint32 // epoch of the last sweep
	// flat holds the names that are not paths (routes, RPC names).
	flat map[string]*flatName
}

// budget bounds what every service together learns.
type budget struct {
	used, max int
}

// room reports whether k more positions or values may be learned.
func (sr *serviceRoutes) room(k int) bool {
	return sr.nodes+k <= sr.maxNodes && sr.budget.used+k <= sr.budget.max
}

func (sr *serviceRoutes) grow(k int) {
	sr.nodes += k
	sr.budget.used += k
}

type flatName struct {
	name string
	last uint32
}

// Step reports what one Name call learned: positions decided variable, and
// whether a bound made the name collapse.
type Step struct {
	Outcome Outcome
	Filled  Filled
	// Learned counts positions this call decided to be variable.
	Learned int
}

// walk names path for the tree of method in sr, learning from it. The tree
// follows the path's own values (counted at their positions from the first
// request on), while the name says a value only once it has been seen
// MinCount times. buf holds `method ` on entry and the name on return. It
// returns the node the path ends at (nil when a bound stopped the walk: the
// name is then built without a node) and whether the name is settled:
// every value in it has been seen MinCount times (only then is it cached).
func (n *Namer) walk(sr *serviceRoutes, method, path string, epoch uint32, buf []byte, st *Step) ([]byte, *node, bool, bool) {
	root := sr.roots[method]
	if root == nil {
		if !sr.room(1) {
			st.Outcome = CollapsedNodeLimit
			buf, ok := n.appendUnlearned(buf, path)
			return buf, nil, false, ok
		}
		root = &node{}
		sr.roots[strings.Clone(method)] = root
		sr.grow(1)
	}
	if root.last != epoch {
		root.last = epoch
	}
	cur := root
	settled := true
	if path == "" {
		path = "/"
	}
	for {
		seg, rest, more := cutSlash(path)
		label, next, decided := n.step(sr, cur, seg, epoch, st)
		settled = settled && decided
		if len(buf)+len(label) > n.maxLen {
			return buf, nil, false, false
		}
		buf = append(buf, label...)
		if next == nil { // the node budget is spent
			st.Outcome = CollapsedNodeLimit
			if !more {
				return buf, nil, false, true
			}
			if len(buf)+1 > n.maxLen {
				return buf, nil, false, false
			}
			buf, ok := n.appendUnlearned(append(buf, '/'), rest)
			return buf, nil, false, ok
		}
		if next.last != epoch { // a write only when the epoch moved on
			next.last = epoch
		}
		cur = next
		if !more {
			return buf, cur, settled, true
		}
		if len(buf)+1 > n.maxLen {
			return buf, nil, false, false
		}
		buf = append(buf, '/')
		path = rest
	}
}

// step names one segment at cur and returns its label, the child node the
// rest of the path continues at (nil when no node may be added), and
// whether the label is decided (not a value still being counted).
// Precedence: the user's patterns, then (at a position not yet variable)
// the ID heuristics, then what was learned.
func (n *Namer) step(sr *serviceRoutes, cur *node, seg string, epoch uint32, st *Step) (string, *node, bool) {
	label := ""
	switch {
	case seg == "":
	case n.matchPattern(seg, &label):
	case cur.variable:
		return ParamPlaceholder, n.paramChild(sr, cur), true
	default:
		// A value already tracked here is not an ID (IDs never are): look
		// it up first and skip the ID test for the common static segment.
		if v := cur.values.get(seg); v != nil {
			cur.total++
			return n.countValue(sr, cur, v, seg, epoch, st)
		}
		if !IsID(seg) {
			return n.learnValue(sr, cur, seg, epoch, st)
		}
		label = IDPlaceholder
	}
	var child *node
	switch label {
	case "":
		child = cur.empty
	case IDPlaceholder:
		child = cur.id
	default:
		child = cur.typed[label]
	}
	if child == nil {
		if !sr.room(1) {
			return label, nil, true
		}
		child = &node{}
		sr.grow(1)
		switch label {
		case "":
			cur.empty = child
		case IDPlaceholder:
			cur.id = child
		default:
			if cur.typed == nil {
				cur.typed = make(map[string]*node, 1)
			}
			cur.typed[label] = child
		}
	}
	return label, child, true
}

func (n *Namer) matchPattern(seg string, label *string) bool {
	for i := range n.patterns {
		if n.patterns[i].re.MatchString(seg) {
			*label = n.patterns[i].replacement
			return true
		}
	}
	return false
}

// learnValue counts seg at cur and follows the value's own subtree, so that
// the positions below are counted from the first request on. The value is
// named as it is once seen MinCount times; before that it is {param}.
//
// A position becomes a parameter (every value there is {param} from then
// on) when more than MaxValues of its values were seen MinCount times, or
// when, after 4 x MaxValues requests, more than half of its requests
// brought a value it had not seen: a slug, a user name, a date. Static
// segments repeat, so they stay literal, and the rare garbage a scanner
// sends to a static position does not turn it into a parameter.
//
// A position tracks at most 2 x MaxValues values; when full, the values not
// yet seen MinCount times are forgotten. Each value and each node count
// against the service's budget; without budget the path goes on in the
// parameter form.
func (n *Namer) learnValue(sr *serviceRoutes, cur *node, seg string, epoch uint32, st *Step) (string, *node, bool) {
	cur.total++
	cur.novel++
	if n.noveltyDecides(cur) {
		n.makeVariable(sr, cur)
		st.Learned++
		return ParamPlaceholder, n.paramChild(sr, cur), true
	}
	if cur.values.len() >= 2*n.learn.MaxValues || !sr.room(2) {
		n.forgetRare(sr, cur)
	}
	if cur.values.len() >= 2*n.learn.MaxValues || !sr.room(2) {
		return ParamPlaceholder, n.paramChild(sr, cur), false
	}
	v := &value{name: strings.Clone(seg), child: &node{}}
	cur.values.add(v)
	sr.grow(2)
	return n.countValue(sr, cur, v, seg, epoch, st)
}

// countValue counts one more sighting of v at cur and names it.
func (n *Namer) countValue(sr *serviceRoutes, cur *node, v *value, seg string, epoch uint32, st *Step) (string, *node, bool) {
	if v.last != epoch {
		v.last = epoch
	}
	if v.count < n.learn.MinCount {
		v.count++
		if v.count == n.learn.MinCount {
			cur.frequent++
			if cur.frequent > n.learn.MaxValues {
				n.makeVariable(sr, cur)
				st.Learned++
				return ParamPlaceholder, n.paramChild(sr, cur), true
			}
		}
	}
	if v.count < n.learn.MinCount {
		return ParamPlaceholder, v.child, false
	}
	return seg, v.child, true
}

// noveltyDecides: after 4 x MaxValues requests, more than half of them
// brought a value the position had not seen.
func (n *Namer) noveltyDecides(cur *node) bool {
	return cur.total >= 4*n.learn.MaxValues && 2*cur.novel > cur.total
}

// forgetRare drops the values of cur not yet seen MinCount times, with
// their subtrees.
func (n *Namer) forgetRare(sr *serviceRoutes, cur *node) {
	cur.values.removeIf(func(v *value) bool {
		if v.count >= n.learn.MinCount {
			return false
		}
		sr.grow(-1)
		if v.child != nil {
			sr.drop(v.child)
		}
		return true
	})
}

func (n *Namer) paramChild(sr *serviceRoutes, cur *node) *node {
	if cur.param == nil {
		if !sr.room(1) {
			return nil
		}
		cur.param = &node{}
		sr.grow(1)
	}
	return cur.param
}

// makeVariable decides that cur is a parameter: its literal subtrees are
// dropped (their requests are named through {param} from now on).
func (n *Namer) makeVariable(sr *serviceRoutes, cur *node) {
	cur.values.removeIf(func(v *value) bool {
		sr.grow(-1) // the value
		if v.child != nil {
			sr.drop(v.child)
		}
		return true
	})
	cur.values = valueSet{}
	cur.variable = true
	cur.frequent = 0
}

// appendUnlearned names the rest of a path that no node tracks, in the
// parameter form: what is not the user's pattern or an ID is {param}, so
// the names stay as few as the positions.
func (n *Namer) appendUnlearned(buf []byte, path string) ([]byte, bool) {
	for {
		seg, rest, more := cutSlash(path)
		label := ""
		switch {
		case seg == "":
		case n.matchPattern(seg, &label):
		case IsID(seg):
			label = IDPlaceholder
		default:
			label = ParamPlaceholder
		}
		if len(buf)+len(label) > n.maxLen {
			return buf, false
		}
		buf = append(buf, label...)
		if !more {
			return buf, true
		}
		if len(buf)+1 > n.maxLen {
			return buf, false
		}
		buf = append(buf, '/')
		path = rest
	}
}

// drop forgets a subtree.
func (sr *serviceRoutes) drop(nd *node) {
	sr.grow(-1)
	if nd.name != "" {
		sr.names--
	}
	nd.values.removeIf(func(v *value) bool {
		sr.grow(-1)
		if v.child != nil {
			sr.drop(v.child)
		}
		return true
	})
	for _, c := range [...]*node{nd.empty, nd.id} {
		if c != nil {
			sr.drop(c)
		}
	}
	for _, c := range nd.typed {
		sr.drop(c)
	}
	if nd.param != nil {
		sr.drop(nd.param)
	}
}

// sweep forgets what was not used since epoch-idle: positions, values and
// the names they held.
func (sr *serviceRoutes) sweep(epoch, idle uint32) {
	if idle == 0 || epoch < idle {
		return
	}
	oldest := epoch - idle
	for k, f := range sr.flat {
		if f.last < oldest {
			delete(sr.flat, k)
		}
	}
	for m, root := range sr.roots {
		if root.last < oldest {
			sr.drop(root)
			delete(sr.roots, m)
			continue
		}
		sr.sweepNode(root, oldest)
	}
}

func (sr *serviceRoutes) sweepNode(nd *node, oldest uint32) {
	nd.values.removeIf(func(v *value) bool {
		if v.last < oldest {
			sr.grow(-1)
			if v.count >= sr.minCount {
				nd.frequent--
			}
			if v.child != nil {
				sr.drop(v.child)
			}
			return true
		}
		if v.child != nil {
			sr.sweepNode(v.child, oldest)
		}
		return false
	})
	for _, slot := range [...]**node{&nd.empty, &nd.id} {
		if c := *slot; c != nil {
			if c.last < oldest {
				sr.drop(c)
				*slot = nil
			} else {
				sr.sweepNode(c, oldest)
			}
		}
	}
	for k, c := range nd.typed {
		if c.last < oldest {
			sr.drop(c)
			delete(nd.typed, k)
			continue
		}
		sr.sweepNode(c, oldest)
	}
	if nd.param != nil {
		if nd.param.last < oldest {
			sr.drop(nd.param)
			nd.param = nil
		} else {
			sr.sweepNode(nd.param, oldest)
		}
	}
}

// cutSlash splits path at its first '/' (strings.Cut's general separator
// search costs more than one byte's).
func cutSlash(path string) (seg, rest string, found bool) {
	if i := strings.IndexByte(path, '/'); i >= 0 {
		return path[:i], path[i+1:], true
	}
	return path, "", false
}
