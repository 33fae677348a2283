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

// Outcome says what Intern did.
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
)

// Namer builds and interns span names. It is safe for concurrent use.
type Namer struct {
	patterns    []Pattern
	maxNames    int
	maxServices int
	maxLen      int

	mu sync.Mutex
	// services maps a service name to its set of names; each name is stored
	// once (key and value share their bytes) and handed out for SetName, so a
	// known name costs no allocation.
	services map[string]map[string]string
}

// New returns a Namer. maxNames and maxServices are the cardinality bounds,
// maxLen the longest name (and service name) that is tracked.
func New(patterns []Pattern, maxNames, maxServices, maxLen int) *Namer {
	return &Namer{
		patterns:    patterns,
		maxNames:    maxNames,
		maxServices: maxServices,
		maxLen:      maxLen,
		services:    make(map[string]map[string]string),
	}
}

// AppendName appends `method` + " " + template(path) to dst. It stops and returns
// false as soon as the result would exceed the maximum name length, so a huge
// path costs at most maxLen bytes of work buffer. An empty path becomes "/".
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
	for i := range n.patterns {
		if n.patterns[i].re.MatchString(seg) {
			return n.patterns[i].replacement
		}
	}
	if IsID(seg) {
		return IDPlaceholder
	}
	return seg
}

// Filled reports which bound an Intern call filled: the caller can say so
// once, when it happens, instead of on every collapsed span.
type Filled uint8

const (
	// FilledNames: this call added the service's last allowed name.
	FilledNames Filled = 1 << iota
	// FilledServices: this call added the last allowed service.
	FilledServices
)

// Intern returns the tracked copy of name for service. When a bound stops the
// name from being tracked it returns "" and the collapse reason; the caller
// then uses the bare method.
func (n *Namer) Intern(service string, name []byte) (string, Outcome, Filled) {
	if len(name) > n.maxLen || len(service) > n.maxLen {
		return "", CollapsedTooLong, 0
	}
	var filled Filled
	n.mu.Lock()
	defer n.mu.Unlock()
	set, ok := n.services[service]
	if !ok {
		if len(n.services) >= n.maxServices {
			return "", CollapsedServiceLimit, 0
		}
		set = make(map[string]string)
		n.services[strings.Clone(service)] = set
		if len(n.services) == n.maxServices {
			filled |= FilledServices
		}
	}
	if s, ok := set[string(name)]; ok {
		return s, Known, filled
	}
	if len(set) >= n.maxNames {
		return "", CollapsedNameLimit, filled
	}
	s := string(name)
	set[s] = s
	if len(set) == n.maxNames {
		filled |= FilledNames
	}
	return s, Added, filled
}

// Services returns how many services are tracked (for tests).
func (n *Namer) Services() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.services)
}
