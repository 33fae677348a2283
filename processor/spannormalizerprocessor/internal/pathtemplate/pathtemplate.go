// Package pathtemplate turns request paths into bounded-cardinality span
// names: ID-like path segments become a placeholder, and the number of
// distinct names per service, the number of services tracked and the length
// of a name are all bounded, so the memory the Namer holds is bounded too.
package pathtemplate // import "github.com/otelcol-mesh/otelcol-mesh/processor/spannormalizerprocessor/internal/pathtemplate"

import (
	"errors"
	"regexp"
	"strings"
	"sync"
)

// IDPlaceholder replaces ID-like segments.
const IDPlaceholder = "{id}"

// Pattern is a user pattern compiled at create time. It matches a whole
// path segment.
type Pattern struct {
	re          *regexp.Regexp
	replacement string
}

// CompilePattern compiles expr anchored to a whole segment (`^(?:expr)$`).
func CompilePattern(expr, replacement string) (Pattern, error) {
	if expr == "" {
		return Pattern{}, errors.New("regex must not be empty")
	}
	if replacement == "" || strings.IndexByte(replacement, '/') >= 0 {
		return Pattern{}, errors.New("replacement must be non-empty and must not contain '/'")
	}
	re, err := regexp.Compile(`^(?:` + expr + `)$`)
	if err != nil {
		return Pattern{}, err
	}
	return Pattern{re: re, replacement: replacement}, nil
}

// IsID reports whether a path segment is ID-like: all digits, a UUID, a hex
// token of 16+ characters, or a base64url token of 16+ characters that
// contains both a digit and a letter (so long plain words and slugs such as
// `internationalization` or `my-product-name` are kept).
func IsID(seg string) bool {
	n := len(seg)
	if n == 0 {
		return false
	}
	allDigits, allHex, allB64 := true, true, true
	hasDigit, hasLetter := false, false
	for i := 0; i < n; i++ {
		c := seg[i]
		switch {
		case c >= '0' && c <= '9':
			hasDigit = true
		case c >= 'a' && c <= 'f', c >= 'A' && c <= 'F':
			allDigits = false
			hasLetter = true
		case c >= 'g' && c <= 'z', c >= 'G' && c <= 'Z':
			allDigits, allHex = false, false
			hasLetter = true
		case c == '-' || c == '_':
			allDigits, allHex = false, false
		default:
			return false
		}
	}
	switch {
	case allDigits:
		return true
	case n == 36 && isUUID(seg):
		return true
	case n >= 16 && allHex:
		return true
	case n >= 16 && allB64 && hasDigit && hasLetter:
		return true
	}
	return false
}

// isUUID checks the 8-4-4-4-12 hex layout.
func isUUID(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return false
			}
			continue
		}
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') && (c < 'A' || c > 'F') {
			return false
		}
	}
	return true
}

// Outcome says what Name or Intern did.
type Outcome uint8

const (
	// Known: the name was already tracked for the service.
	Known Outcome = iota
	// Added: the name was new and is now tracked.
	Added
	// CollapsedNameLimit: the service already has the maximum number of names.
	CollapsedNameLimit
	// CollapsedServiceLimit: the service is new and the maximum number of
	// services is already tracked.
	CollapsedServiceLimit
	// CollapsedTooLong: the name or the service name is longer than the
	// maximum name length.
	CollapsedTooLong
	// CollapsedNodeLimit: the service's route positions are all in use; the
	// path was named in the parameter form without being learned.
	CollapsedNodeLimit
)

// Namer builds and interns span names, and learns each service's routes
// (see Learning). It is safe for concurrent use.
type Namer struct {
	patterns    []Pattern
	maxNames    int
	maxServices int
	maxLen      int
	learn       Learning

	mu       sync.Mutex
	services map[string]*serviceRoutes
	// servicesSwept is the epoch of the last sweep for room at the
	// service limit.
	servicesSwept uint32
	budget        budget
}

// New returns a Namer. maxNames and maxServices are the cardinality bounds,
// maxLen the longest name (and service name) that is tracked; learn
// configures route learning (its zero value turns it off).
func New(patterns []Pattern, maxNames, maxServices, maxLen int, learn Learning) *Namer {
	return &Namer{
		patterns:    patterns,
		maxNames:    maxNames,
		maxServices: maxServices,
		maxLen:      maxLen,
		learn:       learn,
		services:    make(map[string]*serviceRoutes),
		budget:      budget{max: learn.MaxTotalNodes},
	}
}

// AppendName appends `method` + " " + template(path) to dst, naming every
// segment that is not the user's pattern or an ID as it is (no learning).
// It stops and returns false as soon as the result would exceed the maximum
// name length, so a huge path costs at most maxLen bytes of work buffer. An
// empty path becomes "/".
func (n *Namer) AppendName(dst []byte, method, path string) ([]byte, bool) {
	base := len(dst)
	if len(method)+1 > n.maxLen {
		return dst, false
	}
	dst = append(dst, method...)
	dst = append(dst, ' ')
	if path == "" {
		path = "/"
	}
	for len(path) > 0 {
		seg, rest := path, ""
		if i := strings.IndexByte(path, '/'); i >= 0 {
			seg, rest = path[:i], path[i+1:]
		}
		s := n.segment(seg)
		if len(dst)-base+len(s) > n.maxLen {
			return dst, false
		}
		dst = append(dst, s...)
		if len(seg) == len(path) {
			break
		}
		if len(dst)-base+1 > n.maxLen {
			return dst, false
		}
		dst = append(dst, '/')
		path = rest
	}
	return dst, true
}

func (n *Namer) segment(seg string) string {
	if seg == "" {
		return ""
	}
	label := ""
	if n.matchPattern(seg, &label) {
		return label
	}
	if IsID(seg) {
		return IDPlaceholder
	}
	return seg
}

// Filled reports which bound a call filled: the caller can say so once,
// when it happens, instead of on every collapsed span.
type Filled uint8

const (
	// FilledNames: this call added the service's last allowed name.
	FilledNames Filled = 1 << iota
	// FilledServices: this call added the last allowed service.
	FilledServices
)

// service returns the routes of service, creating them within the bound;
// it sweeps what went idle once per epoch. Called with n.mu held.
func (n *Namer) service(service string, epoch uint32, st *Step) *serviceRoutes {
	sr, ok := n.services[service]
	if !ok {
		if len(n.services) >= n.maxServices {
			if n.servicesSwept != epoch {
				// Nothing can go idle again before the epoch moves on: one
				// sweep per epoch, not one per span of an unknown service.
				n.servicesSwept = epoch
				n.sweepServices(epoch)
			}
			if len(n.services) >= n.maxServices {
				st.Outcome = CollapsedServiceLimit
				return nil
			}
		}
		sr = &serviceRoutes{
			roots: make(map[string]*node, 1), flat: make(map[string]*flatName), last: epoch,
			maxNodes: n.learn.MaxNodes, minCount: n.learn.MinCount, budget: &n.budget,
		}
		n.services[strings.Clone(service)] = sr
		if len(n.services) == n.maxServices {
			st.Filled |= FilledServices
		}
		return sr
	}
	if sr.last != epoch {
		sr.last = epoch
		sr.sweep(epoch, n.learn.IdleEpochs)
	}
	return sr
}

// sweepServices forgets the services whose routes all went idle, to make
// room for a new one.
func (n *Namer) sweepServices(epoch uint32) {
	if n.learn.IdleEpochs == 0 {
		return
	}
	for name, sr := range n.services {
		if sr.last != epoch {
			sr.last = epoch
			sr.sweep(epoch, n.learn.IdleEpochs)
		}
		if len(sr.roots) == 0 && len(sr.flat) == 0 {
			n.budget.used -= sr.nodes
			delete(n.services, name)
		}
	}
}

// Name returns the span name `method template(path)` for service, learning
// the service's routes from path (see Learning). buf is scratch space. A
// name a bound stops from being tracked comes back "" with the reason in
// the Step (CollapsedNodeLimit returns the parameter form instead); the
// caller then uses the bare method.
func (n *Namer) Name(service, method, path string, epoch uint32, buf []byte) (string, Step) {
	var st Step
	if len(service) > n.maxLen || len(method)+1 > n.maxLen {
		st.Outcome = CollapsedTooLong
		return "", st
	}
	if !n.learn.enabled() {
		buf, ok := n.AppendName(buf, method, path)
		if !ok {
			st.Outcome = CollapsedTooLong
			return "", st
		}
		var name string
		name, st.Outcome, st.Filled = n.Intern(service, buf, epoch)
		return name, st
	}
	buf = append(append(buf, method...), ' ')
	n.mu.Lock()
	defer n.mu.Unlock()
	sr := n.service(service, epoch, &st)
	if sr == nil {
		return "", st
	}
	buf, leaf, settled, ok := n.walk(sr, method, path, epoch, buf, &st)
	switch {
	case !ok:
		st.Outcome = CollapsedTooLong
		return "", st
	case leaf == nil || !settled:
		// Named in the parameter form (past a budget, or a value still
		// being counted): such names are few, interned like flat names.
		name, outcome, filled := n.internLocked(sr, buf, epoch)
		if st.Outcome == 0 || outcome >= CollapsedNameLimit {
			st.Outcome = outcome
		}
		st.Filled |= filled
		return name, st
	case leaf.name != "":
		st.Outcome = Known
		return leaf.name, st
	case sr.names+len(sr.flat) >= n.maxNames:
		st.Outcome = CollapsedNameLimit
		return "", st
	}
	if f, ok := sr.flat[string(buf)]; ok {
		// Named in the parameter form while it was being learned: the same
		// name, now held by its route (counted once).
		leaf.name = f.name
		delete(sr.flat, f.name)
	} else {
		leaf.name = string(buf)
	}
	sr.names++
	st.Outcome = Added
	if sr.names+len(sr.flat) == n.maxNames {
		st.Filled |= FilledNames
	}
	return leaf.name, st
}

// Intern returns the tracked copy of a name that is not a path (a route
// or an RPC name) for service. When a bound stops the name from being
// tracked it returns "" and the collapse reason; the caller then uses the
// bare method.
func (n *Namer) Intern(service string, name []byte, epoch uint32) (string, Outcome, Filled) {
	if len(name) > n.maxLen || len(service) > n.maxLen {
		return "", CollapsedTooLong, 0
	}
	var st Step
	n.mu.Lock()
	defer n.mu.Unlock()
	sr := n.service(service, epoch, &st)
	if sr == nil {
		return "", st.Outcome, st.Filled
	}
	s, outcome, filled := n.internLocked(sr, name, epoch)
	return s, outcome, st.Filled | filled
}

// internLocked returns the tracked copy of name in sr's flat names, adding
// it within the bound. Called with n.mu held.
func (n *Namer) internLocked(sr *serviceRoutes, name []byte, epoch uint32) (string, Outcome, Filled) {
	if f, ok := sr.flat[string(name)]; ok {
		if f.last != epoch {
			f.last = epoch
		}
		return f.name, Known, 0
	}
	if sr.names+len(sr.flat) >= n.maxNames {
		return "", CollapsedNameLimit, 0
	}
	s := string(name)
	sr.flat[s] = &flatName{name: s, last: epoch}
	var filled Filled
	if sr.names+len(sr.flat) == n.maxNames {
		filled = FilledNames
	}
	return s, Added, filled
}

// Services returns how many services are tracked (for tests).
func (n *Namer) Services() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.services)
}

// NameCounts calls f with the number of names tracked for each service
// (for the span_names gauge), at most limit services.
func (n *Namer) NameCounts(limit int, f func(service string, names int)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for name, sr := range n.services {
		if limit <= 0 {
			return
		}
		limit--
		f(name, sr.names+len(sr.flat))
	}
}
