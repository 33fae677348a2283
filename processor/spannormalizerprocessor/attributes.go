package spannormalizerprocessor // import "github.com/otelcol-mesh/otelcol-mesh/processor/spannormalizerprocessor"

import (
	"errors"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	semconv "go.opentelemetry.io/otel/semconv/v1.38.0"

	"github.com/otelcol-mesh/otelcol-mesh/internal/meshattr"
	"github.com/otelcol-mesh/otelcol-mesh/processor/spannormalizerprocessor/internal/parse"
)

// This file is the one place that knows attribute keys: the tables below
// say which keys the single scan of a span records, which old keys are
// removed once converted, and which of them are plain renames that the
// table itself writes. Conversions that need more than one key (URL,
// status, addresses, gRPC) are code in the dialect and protocol files.

// Stable keys, from the semantic conventions v1.38.0 (the last release
// with rpc.system, rpc.service and peer.service; 1.39 renamed them).
const (
	attrRequestMethod         = string(semconv.HTTPRequestMethodKey)
	attrRequestMethodOriginal = string(semconv.HTTPRequestMethodOriginalKey)
	attrResponseStatusCode    = string(semconv.HTTPResponseStatusCodeKey)
	attrRoute                 = string(semconv.HTTPRouteKey)
	attrURLFull               = string(semconv.URLFullKey)
	attrURLPath               = string(semconv.URLPathKey)
	attrURLQuery              = string(semconv.URLQueryKey)
	attrURLScheme             = string(semconv.URLSchemeKey)
	attrProtocolVersion       = string(semconv.NetworkProtocolVersionKey)
	attrUserAgent             = string(semconv.UserAgentOriginalKey)
	attrServerAddress         = string(semconv.ServerAddressKey)
	attrServerPort            = string(semconv.ServerPortKey)
	attrClientAddress         = string(semconv.ClientAddressKey)
	attrClientPort            = string(semconv.ClientPortKey)
	attrPeerAddress           = string(semconv.NetworkPeerAddressKey)
	attrPeerPort              = string(semconv.NetworkPeerPortKey)
	attrRequestBodySize       = string(semconv.HTTPRequestBodySizeKey)
	attrResponseBodySize      = string(semconv.HTTPResponseBodySizeKey)
	attrResendCount           = string(semconv.HTTPRequestResendCountKey)
	attrPeerService           = string(semconv.PeerServiceKey)
	attrRPCSystem             = string(semconv.RPCSystemKey)
	attrRPCService            = string(semconv.RPCServiceKey)
	attrRPCMethod             = string(semconv.RPCMethodKey)
	attrRPCGRPCStatusCode     = string(semconv.RPCGRPCStatusCodeKey)
	attrErrorType             = string(semconv.ErrorTypeKey)

	resServiceName      = string(semconv.ServiceNameKey)
	resServiceNamespace = string(semconv.ServiceNamespaceKey)
	resServiceVersion   = string(semconv.ServiceVersionKey)
	resK8sNamespace     = string(semconv.K8SNamespaceNameKey)
	resK8sPodName       = string(semconv.K8SPodNameKey)
)

// Old keys: deprecated names and proxy-specific tags that are converted.
// The constant is the key's index in spanState.old and its bit in
// spanState.remove.
const (
	oldMethod                = iota // http.method
	oldStatusCode                   // http.status_code
	oldURL                          // http.url
	oldTarget                       // http.target
	oldScheme                       // http.scheme
	oldProtocol                     // http.protocol (Envoy)
	oldFlavor                       // http.flavor
	oldHTTPUserAgent                // http.user_agent
	oldUserAgent                    // user_agent (Envoy)
	oldHostPort                     // net.host.port
	oldHostName                     // net.host.name
	oldPeerIP                       // net.peer.ip
	oldPeerPort                     // net.peer.port
	oldSockPeerAddr                 // net.sock.peer.addr (nginx-otel)
	oldSockPeerPort                 // net.sock.peer.port (nginx-otel)
	oldPeerAddress                  // peer.address (Envoy: the downstream)
	oldUpstreamAddress              // upstream_address (Envoy upstream span)
	oldRequestSize                  // request_size (Envoy)
	oldResponseSize                 // response_size (Envoy)
	oldRequestContentLength         // http.request_content_length (nginx-otel)
	oldResponseContentLength        // http.response_content_length (nginx-otel)
	oldRetryCount                   // retry.count (Envoy upstream span)
	oldHTTPHost                     // http.host
	oldServerName                   // http.server_name
	oldClientIP                     // http.client_ip
	oldGRPCPath                     // grpc.path (Envoy)
	oldGRPCStatus                   // grpc.status_code (Envoy)
	oldError                        // error (Envoy)
	oldResponseFlags                // response_flags (Envoy)
	oldDownstream                   // downstream_cluster (Envoy)
	numOld
)

// conversion says how a renamed old value becomes its stable value.
type conversion uint8

const (
	convNone     conversion = iota // not a plain rename: code converts it
	convText                       // a non-empty string
	convProtocol                   // `HTTP/1.1`, `2.0` -> `1.1`, `2`
	convSize                       // a byte count: int, or a decimal string
)

// oldKeySpec describes one old key. A plain rename names its stable key
// (by its presence bit) and conversion; the first old key of a stable key
// that converts wins, and every old key that converts is removed.
type oldKeySpec struct {
	name   string
	stable int // has* bit of the stable key written; -1 when not a rename
	conv   conversion
}

func oldKeyTable() [numOld]oldKeySpec {
	special := func(name string) oldKeySpec { return oldKeySpec{name: name, stable: -1} }
	rename := func(name string, stable int, conv conversion) oldKeySpec {
		return oldKeySpec{name: name, stable: stable, conv: conv}
	}
	return [numOld]oldKeySpec{
		oldMethod:                special("http.method"),
		oldStatusCode:            special("http.status_code"),
		oldURL:                   special("http.url"),
		oldTarget:                special("http.target"),
		oldScheme:                special("http.scheme"),
		oldProtocol:              rename("http.protocol", hasProtocolVersion, convProtocol),
		oldFlavor:                rename("http.flavor", hasProtocolVersion, convProtocol),
		oldHTTPUserAgent:         rename("http.user_agent", hasUserAgent, convText),
		oldUserAgent:             rename("user_agent", hasUserAgent, convText),
		oldHostPort:              special("net.host.port"),
		oldHostName:              special("net.host.name"),
		oldPeerIP:                special("net.peer.ip"),
		oldPeerPort:              special("net.peer.port"),
		oldSockPeerAddr:          special("net.sock.peer.addr"),
		oldSockPeerPort:          special("net.sock.peer.port"),
		oldPeerAddress:           special("peer.address"),
		oldUpstreamAddress:       special("upstream_address"),
		oldRequestSize:           rename("request_size", hasRequestSize, convSize),
		oldResponseSize:          rename("response_size", hasResponseSize, convSize),
		oldRequestContentLength:  rename("http.request_content_length", hasRequestSize, convSize),
		oldResponseContentLength: rename("http.response_content_length", hasResponseSize, convSize),
		oldRetryCount:            rename("retry.count", hasResendCount, convSize),
		oldHTTPHost:              special("http.host"),
		oldServerName:            special("http.server_name"),
		oldClientIP:              special("http.client_ip"),
		oldGRPCPath:              special("grpc.path"),
		oldGRPCStatus:            special("grpc.status_code"),
		oldError:                 special("error"),
		oldResponseFlags:         special("response_flags"),
		oldDownstream:            special("downstream_cluster"),
	}
}

// Stable keys whose presence the scan records (bit index in spanState.has):
// a stable value already on the span is never overwritten.
const (
	hasMethod = iota
	hasStatusCode
	hasRoute
	hasURLFull
	hasURLPath
	hasURLQuery
	hasURLScheme
	hasProtocolVersion
	hasUserAgent
	hasServerAddress
	hasServerPort
	hasClientAddress
	hasClientPort
	hasPeerAddress
	hasPeerPort
	hasRequestSize
	hasResponseSize
	hasResendCount
	hasPeerService
	hasRPCSystem
	hasRPCService
	hasRPCMethod
	hasRPCStatus
	hasErrorType
	hasDestinationNamespace
	hasContextBreak
	hasContextEvidence
	numStable
)

func stableKeyTable() [numStable]string {
	return [numStable]string{
		hasMethod:               attrRequestMethod,
		hasStatusCode:           attrResponseStatusCode,
		hasRoute:                attrRoute,
		hasURLFull:              attrURLFull,
		hasURLPath:              attrURLPath,
		hasURLQuery:             attrURLQuery,
		hasURLScheme:            attrURLScheme,
		hasProtocolVersion:      attrProtocolVersion,
		hasUserAgent:            attrUserAgent,
		hasServerAddress:        attrServerAddress,
		hasServerPort:           attrServerPort,
		hasClientAddress:        attrClientAddress,
		hasClientPort:           attrClientPort,
		hasPeerAddress:          attrPeerAddress,
		hasPeerPort:             attrPeerPort,
		hasRequestSize:          attrRequestBodySize,
		hasResponseSize:         attrResponseBodySize,
		hasResendCount:          attrResendCount,
		hasPeerService:          attrPeerService,
		hasRPCSystem:            attrRPCSystem,
		hasRPCService:           attrRPCService,
		hasRPCMethod:            attrRPCMethod,
		hasRPCStatus:            attrRPCGRPCStatusCode,
		hasErrorType:            attrErrorType,
		hasDestinationNamespace: meshattr.DestinationNamespace,
		hasContextBreak:         meshattr.ContextBreak,
		hasContextEvidence:      meshattr.ContextEvidence,
	}
}

// Dialect tags: kept on the span, read to recognise a proxy and resolve its
// identity and destination (index in spanState.tag).
const (
	tagComponent = iota
	tagUpstreamCluster
	tagNodeID
	tagCanonicalService
	tagCanonicalRevision
	tagIstioNamespace
	tagIngressNamespace
	tagIngressService
	tagGRPCMessage
	tagZone
	tagMeshID
	tagClusterID
	tagUpstreamClusterName
	numTags
)

func tagKeyTable() [numTags]string {
	return [numTags]string{
		tagComponent:           "component",
		tagUpstreamCluster:     "upstream_cluster",
		tagNodeID:              "node_id",
		tagCanonicalService:    "istio.canonical_service",
		tagCanonicalRevision:   "istio.canonical_revision",
		tagIstioNamespace:      "istio.namespace",
		tagIngressNamespace:    "ingress.namespace",
		tagIngressService:      "ingress.service_name",
		tagGRPCMessage:         "grpc.message",
		tagZone:                "zone",
		tagMeshID:              "istio.mesh_id",
		tagClusterID:           "istio.cluster_id",
		tagUpstreamClusterName: "upstream_cluster.name",
	}
}

// keyClass says what the scan does with a key.
type keyClass uint8

const (
	classOld keyClass = iota + 1
	classStable
	classTag
)

type keyRef struct {
	name  string
	class keyClass
	index uint8
	flags uint8 // for tags: which dialect a tag says the span is from
}

// Dialect flags of a tag.
const (
	flagEnvoy uint8 = 1 << iota
	flagIstio
	flagIngress
)

func tagFlags(i int) uint8 {
	switch i {
	case tagUpstreamCluster, tagNodeID:
		return flagEnvoy
	case tagCanonicalService, tagCanonicalRevision, tagIstioNamespace, tagMeshID, tagClusterID:
		return flagEnvoy | flagIstio
	case tagIngressNamespace, tagIngressService:
		return flagIngress
	}
	return 0
}

// keyIndex finds a key's class and index with a perfect hash: every key of
// the tables has a slot of its own, picked by one multiplication of four
// of its bytes packed together (length, first, middle, last), so a lookup
// costs one multiplication and at most one string comparison, about what
// the compiler's string switch costs, and far less than hashing the key
// for a map. The multiplier is searched for once, at create time.
type keyIndex struct {
	// slots holds, per hash slot, the position in refs plus one (0: empty);
	// one byte a slot keeps the whole index in a few cache lines.
	slots  [keySlots]uint8
	refs   []keyRef
	mult   uint32
	old    [numOld]oldKeySpec
	stable [numStable]string
	tags   [numTags]string
	// renames lists the old keys that are plain renames, in table order.
	renames []int
}

// keySlots is a power of two, several times the number of keys, so that a
// collision-free multiplier is found within a few hundred tries.
const (
	keySlotBits = 10
	keySlots    = 1 << keySlotBits
)

// packKey packs a key's length, first, middle and last bytes.
func packKey(k string) uint32 {
	n := len(k)
	return uint32(n&0xff) | uint32(k[0])<<8 | uint32(k[n/2])<<16 | uint32(k[n-1])<<24
}

func (ix *keyIndex) slot(k string) uint32 {
	return (packKey(k) * ix.mult) >> (32 - keySlotBits)
}

// newKeyIndex fails only when the tables hold two keys that no multiplier
// separates (TestKeyIndexIsPerfect catches that before a release).
func newKeyIndex() (*keyIndex, error) {
	ix := &keyIndex{old: oldKeyTable(), stable: stableKeyTable(), tags: tagKeyTable()}
	var refs []keyRef
	for i, spec := range ix.old {
		refs = append(refs, keyRef{name: spec.name, class: classOld, index: uint8(i)})
		if spec.conv != convNone {
			ix.renames = append(ix.renames, i)
		}
	}
	for i, name := range ix.stable {
		refs = append(refs, keyRef{name: name, class: classStable, index: uint8(i)})
	}
	for i, name := range ix.tags {
		refs = append(refs, keyRef{name: name, class: classTag, index: uint8(i), flags: tagFlags(i)})
	}
	// Odd multipliers from a fixed sequence: the first without a collision
	// wins, so the index is the same on every start.
	m := uint32(0x9E3779B1)
	for range maxMultiplierTries {
		ix.mult = m | 1
		if ix.fill(refs) {
			return ix, nil
		}
		m += 0x6A09E668
	}
	return nil, errors.New("spannormalizer: no collision-free index of the attribute keys")
}

// maxMultiplierTries bounds the search; TestKeyIndexIsPerfect checks that
// the tables of this release need far fewer.
const maxMultiplierTries = 1 << 14

// fill places every key in its slot; false on a collision.
func (ix *keyIndex) fill(refs []keyRef) bool {
	ix.slots = [keySlots]uint8{}
	ix.refs = refs
	for i, r := range refs {
		h := ix.slot(r.name)
		if ix.slots[h] != 0 {
			return false
		}
		ix.slots[h] = uint8(i + 1)
	}
	return true
}

func (ix *keyIndex) find(k string) (keyRef, bool) {
	if ref := ix.lookup(k); ref != nil {
		return *ref, true
	}
	return keyRef{}, false
}

// lookup returns the key's entry, or nil.
func (ix *keyIndex) lookup(k string) *keyRef {
	if k == "" {
		return nil
	}
	i := ix.slots[ix.slot(k)]
	if i == 0 {
		return nil
	}
	if ref := &ix.refs[i-1]; len(ref.name) == len(k) && ref.name == k {
		return ref
	}
	return nil
}

// Value kinds recorded by the scan.
const (
	kindAbsent uint8 = iota
	kindStr
	kindInt
	kindOther
)

type rawValue struct {
	s    string
	n    int64
	kind uint8
}

func (r *rawValue) set(v pcommon.Value) {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		r.s, r.kind = v.Str(), kindStr
	case pcommon.ValueTypeInt:
		r.n, r.kind = v.Int(), kindInt
	default:
		r.kind = kindOther
	}
}

// spanState is what one pass over a span's attributes records, and the
// bookkeeping of converting them. Strings are the span's own (no copies);
// they stay valid after the map changes, Values do not.
type spanState struct {
	old    [numOld]rawValue
	tag    [numTags]string
	has    uint64 // stable keys present
	remove uint64 // old keys to delete
	// istioTag: some istio.* key is on the span.
	istioTag bool
	// envoyTag: some Envoy tag (upstream_cluster, node_id, istio.*).
	envoyTag bool
	// ingressTag: some ingress.* key the platform adds to nginx spans.
	ingressTag bool

	// Values of stable keys that drive naming and status.
	stableMethod, stablePath, stableRoute string
	stableStatus                          int64

	// scanned counts the attributes seen; oldPos is each old key's position
	// in the map plus one (0: absent; 255: too far to use), so removal needs
	// no second lookup. oldTwice: an old key is in the map twice.
	scanned  int
	oldPos   [numOld]uint8
	oldTwice bool
	// tagPos: each tag's position plus one, like oldPos; tagStr: the tags
	// whose value is a string; drop: tags to remove (compacting).
	tagPos [numTags]uint8
	tagStr uint32
	drop   uint32
	// hoist: dropped tags whose value moves to the resource (compacting).
	hoist uint32

	invalid int64
}

// scan records one attribute.
func (s *spanState) scan(ix *keyIndex, k string, v pcommon.Value) {
	pos := s.scanned
	s.scanned++
	ref := ix.lookup(k)
	if ref == nil {
		if !s.istioTag && strings.HasPrefix(k, "istio.") {
			s.istioTag, s.envoyTag = true, true
		}
		return
	}
	switch ref.class {
	case classOld:
		s.old[ref.index].set(v)
		if s.oldPos[ref.index] != 0 {
			s.oldTwice = true
		}
		s.oldPos[ref.index] = uint8(min(pos+1, 255))
	case classTag:
		s.tagPos[ref.index] = uint8(min(pos+1, 255))
		if v.Type() == pcommon.ValueTypeStr {
			s.tag[ref.index] = v.Str()
			s.tagStr |= 1 << ref.index
		}
		s.envoyTag = s.envoyTag || ref.flags&flagEnvoy != 0
		s.istioTag = s.istioTag || ref.flags&flagIstio != 0
		s.ingressTag = s.ingressTag || ref.flags&flagIngress != 0
	case classStable:
		s.has |= 1 << ref.index
		switch ref.index {
		case hasMethod:
			s.stableMethod = v.Str()
		case hasURLPath:
			s.stablePath = v.Str()
		case hasRoute:
			s.stableRoute = v.Str()
		case hasStatusCode:
			if v.Type() == pcommon.ValueTypeInt {
				s.stableStatus = v.Int()
			}
		}
	}
}

func (s *spanState) present(k int) bool { return s.old[k].kind != kindAbsent }

// text returns a string old value; "" and "-" are "no value" (and the key is
// removed), other types count as invalid and stay.
func (s *spanState) text(k int) (string, bool) {
	v := &s.old[k]
	switch v.kind {
	case kindAbsent:
		return "", false
	case kindStr:
		if v.s == "" || v.s == "-" {
			s.remove |= 1 << k
			return "", false
		}
		return v.s, true
	}
	s.invalid++
	return "", false
}

// textDone returns a string value and marks its key converted.
func (s *spanState) textDone(k int) string {
	v, ok := s.text(k)
	if ok {
		s.done(k)
	}
	return v
}

// integer returns an int old value, or a string one parsed as decimal.
func (s *spanState) integer(k int) (int64, bool) {
	v := &s.old[k]
	switch v.kind {
	case kindAbsent:
		return 0, false
	case kindInt:
		return v.n, true
	case kindStr:
		if v.s == "" || v.s == "-" {
			s.remove |= 1 << k
			return 0, false
		}
		if n, ok := parse.Uint(v.s); ok {
			return n, true
		}
	}
	s.invalid++
	return 0, false
}

// port returns a valid port (1-65535) from an int or numeric string value.
func (s *spanState) port(k int) (int64, bool) {
	n, ok := s.integer(k)
	if !ok {
		return 0, false
	}
	if n < 1 || n > 65535 {
		s.invalid++
		return 0, false
	}
	s.done(k)
	return n, true
}

// hostPort returns the host and port of a `host[:port]` value.
func (s *spanState) hostPort(k int) (string, int64) {
	raw, ok := s.text(k)
	if !ok {
		return "", 0
	}
	h, port, ok := parse.SplitHostPort(raw)
	if !ok || h == "" {
		s.invalid++
		return "", 0
	}
	s.done(k)
	return h, port
}

func (s *spanState) done(k int) { s.remove |= 1 << k }

func (s *spanState) missing(bit int) bool { return s.has&(1<<bit) == 0 }

// renamed is the stable value of a plain rename, to be written.
type renamed struct {
	stable int
	s      string
	n      int64
	isInt  bool
}

// readRenames converts the plain renames of the table into r; per stable
// key, the first old key that converts wins.
func (s *spanState) readRenames(ix *keyIndex, r *rewrite) {
	var written uint64
	for _, k := range ix.renames {
		if s.old[k].kind == kindAbsent {
			continue
		}
		spec := &ix.old[k]
		var val renamed
		switch spec.conv {
		case convText:
			v, ok := s.text(k)
			if !ok {
				continue
			}
			val.s = v
		case convProtocol:
			raw, ok := s.text(k)
			if !ok {
				continue
			}
			v, ok := parse.ProtocolVersion(raw)
			if !ok {
				s.invalid++
				continue
			}
			val.s = v
		case convSize:
			n, ok := s.integer(k)
			if !ok {
				continue
			}
			val.n, val.isInt = n, true
		}
		s.done(k)
		if written&(1<<spec.stable) != 0 {
			continue
		}
		written |= 1 << spec.stable
		val.stable = spec.stable
		if r.nRenames < len(r.renames) {
			r.renames[r.nRenames] = val
			r.nRenames++
		}
	}
}

// removeConverted deletes the old keys marked converted. The map has not
// changed since the scan, so their positions pick them out without looking
// a key up again (by key beyond 64 attributes, or when a key is there twice:
// both copies go).
func (ix *keyIndex) removeConverted(attrs pcommon.Map, s *spanState) {
	var mask uint64
	usable := !s.oldTwice
	for k := 0; k < numOld && usable; k++ {
		if s.remove&(1<<k) != 0 {
			usable = addPos(&mask, s.oldPos[k])
		}
	}
	for k := 0; k < numTags && usable; k++ {
		if s.drop&(1<<k) != 0 {
			usable = addPos(&mask, s.tagPos[k])
		}
	}
	if usable {
		i := -1
		attrs.RemoveIf(func(string, pcommon.Value) bool {
			i++
			return i < 64 && mask&(1<<i) != 0
		})
		return
	}
	remove, drop := s.remove, s.drop
	attrs.RemoveIf(func(k string, _ pcommon.Value) bool {
		ref, ok := ix.find(k)
		switch {
		case !ok:
			return false
		case ref.class == classOld:
			return remove&(1<<ref.index) != 0
		case ref.class == classTag:
			return drop&(1<<ref.index) != 0
		}
		return false
	})
}

// addPos adds a scanned position (plus one) to mask; false when it is
// beyond what the mask holds.
func addPos(mask *uint64, pos uint8) bool {
	if pos == 0 || pos > 64 {
		return false
	}
	*mask |= 1 << (pos - 1)
	return true
}

// writeRenames puts the converted plain renames that are not on the span.
func (ix *keyIndex) writeRenames(attrs pcommon.Map, s *spanState, r *rewrite) {
	for i := 0; i < r.nRenames; i++ {
		v := &r.renames[i]
		if !s.missing(v.stable) {
			continue
		}
		if v.isInt {
			attrs.PutInt(ix.stable[v.stable], v.n)
		} else {
			attrs.PutStr(ix.stable[v.stable], v.s)
		}
	}
}

// hoistTags moves the values of the tags marked for hoisting from the span
// to the resource: the value itself, not a copy, which pdata would allocate
// for. The map has not changed since the scan, so the scanned positions
// pick the values out; the emptied tags are dropped by removeConverted.
func (ix *keyIndex) hoistTags(attrs, resAttrs pcommon.Map, s *spanState) {
	var at [65]int8 // tag index + 1 by scanned position
	last := uint8(0)
	for k := 0; k < numTags; k++ {
		if s.hoist&(1<<k) != 0 {
			at[s.tagPos[k]] = int8(k + 1)
			last = max(last, s.tagPos[k])
		}
	}
	pos := uint8(0)
	attrs.Range(func(_ string, v pcommon.Value) bool {
		pos++
		if k := at[pos]; k != 0 {
			v.MoveTo(resAttrs.PutEmpty(ix.tags[k-1]))
		}
		return pos < last
	})
}
