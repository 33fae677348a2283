// Package parse holds the allocation-free parsers spannormalizer uses on the
// hot path: URLs, host:port pairs, decimal integers, HTTP methods and protocol
// versions. Every function returns substrings of its input, never copies, and
// never panics, whatever the input.
package parse // import "github.com/otelcol-mesh/otelcol-mesh/processor/spannormalizerprocessor/internal/parse"

// maxDigits bounds Uint: 18 decimal digits always fit in an int64.
const maxDigits = 18

// Uint parses an unsigned decimal integer of 1 to 18 digits with no sign, no
// spaces and no leading '+'. Unlike strconv.Atoi it does not allocate an error
// on bad input, which matters because garbage is common in proxy tags.
func Uint(s string) (int64, bool) {
	if s == "" || len(s) > maxDigits {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// Port parses a TCP/UDP port number (1..65535).
func Port(s string) (int64, bool) {
	n, ok := Uint(s)
	if !ok || n < 1 || n > 65535 {
		return 0, false
	}
	return n, true
}

// URL holds the parts of a URL as substrings of the input.
type URL struct {
	Scheme string
	// Host is the host without port; an IPv6 literal is returned without brackets.
	Host string
	// Port is the port from the authority, 0 when absent or invalid.
	Port int64
	// Path is the path ("" when the URL has none); never includes the query.
	Path string
	// Query is the part after '?' without the '?' and without any fragment.
	Query    string
	HasQuery bool
}

// ParseURL splits an absolute URL (`scheme://authority/path?query#fragment`)
// or an origin-form request target (`/path?query`). It reports false when the
// input is neither. Userinfo in the authority is skipped.
func ParseURL(s string) (URL, bool) {
	var u URL
	rest := s
	if i := indexSchemeSep(s); i > 0 {
		u.Scheme = s[:i]
		rest = s[i+3:]
		end := len(rest)
		for j := 0; j < len(rest); j++ {
			if c := rest[j]; c == '/' || c == '?' || c == '#' {
				end = j
				break
			}
		}
		authority := rest[:end]
		rest = rest[end:]
		for j := len(authority) - 1; j >= 0; j-- {
			if authority[j] == '@' {
				authority = authority[j+1:]
				break
			}
		}
		host, port, _ := SplitHostPort(authority)
		u.Host, u.Port = host, port
	} else if s == "" || (s[0] != '/' && s[0] != '*') {
		return URL{}, false
	}
	// rest is path[?query][#fragment]
	for j := 0; j < len(rest); j++ {
		if rest[j] == '#' {
			rest = rest[:j]
			break
		}
	}
	for j := 0; j < len(rest); j++ {
		if rest[j] == '?' {
			u.Query = rest[j+1:]
			u.HasQuery = true
			rest = rest[:j]
			break
		}
	}
	u.Path = rest
	return u, true
}

// indexSchemeSep returns the index of "://" when the text before it is a
// valid URI scheme (ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )), else -1.
func indexSchemeSep(s string) int {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'):
		case c == ':' && i > 0:
			if len(s) >= i+3 && s[i+1] == '/' && s[i+2] == '/' {
				return i
			}
			return -1
		default:
			return -1
		}
	}
	return -1
}

// SplitHostPort splits "host", "host:port", "[v6]", "[v6]:port" or a bare
// IPv6 address ("2001:db8::1", which has several colons and no port). The
// port is 0 when absent; ok is false when a port is present but invalid (the
// host is still returned).
func SplitHostPort(s string) (host string, port int64, ok bool) {
	if s == "" {
		return "", 0, true
	}
	if s[0] == '[' {
		for i := 1; i < len(s); i++ {
			if s[i] == ']' {
				host = s[1:i]
				rest := s[i+1:]
				if rest == "" {
					return host, 0, true
				}
				if rest[0] != ':' {
					return host, 0, false
				}
				p, pok := Port(rest[1:])
				return host, p, pok
			}
		}
		return s, 0, false
	}
	colon := -1
	for i := 0; i < len(s); i++ {
		if s[i] == ':' {
			if colon >= 0 {
				// Two or more colons and no brackets: a bare IPv6 address.
				return s, 0, true
			}
			colon = i
		}
	}
	if colon < 0 {
		return s, 0, true
	}
	p, pok := Port(s[colon+1:])
	return s[:colon], p, pok
}

// Method returns the semconv value of an HTTP method: the method itself when
// it is one of the methods the HTTP semantic conventions know (matched
// exactly, as they are case-sensitive), else "_OTHER" and known=false.
func Method(m string) (normalized string, known bool) {
	switch m {
	case "GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "CONNECT", "TRACE":
		return m, true
	}
	return "_OTHER", false
}

// ProtocolVersion turns "HTTP/1.1" into "1.1", "HTTP/2" and "2.0" into "2",
// "HTTP/3" and "3.0" into "3"; "1.0"/"1.1" stay. ok is false for anything
// else (the caller leaves such values alone).
func ProtocolVersion(v string) (string, bool) {
	if len(v) > 5 && (v[:5] == "HTTP/" || v[:5] == "http/") {
		v = v[5:]
	}
	switch v {
	case "1.0", "1.1":
		return v, true
	case "2", "2.0":
		return "2", true
	case "3", "3.0":
		return "3", true
	}
	return "", false
}

// IsDNSLabel reports whether s is a valid Kubernetes namespace name (an RFC
// 1123 DNS label: 1-63 characters, lower-case alphanumerics and '-', starting
// and ending with an alphanumeric).
func IsDNSLabel(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-' && i > 0 && i < len(s)-1:
		default:
			return false
		}
	}
	return true
}
