package tenantroutingprocessor // import "github.com/otelcol-mesh/otelcol-mesh/processor/tenantroutingprocessor"

import (
	"math/bits"
	"slices"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-mesh/otelcol-mesh/internal/meshattr"
)

// TruncatedAttribute is the span attribute set on a span whose string
// attribute values were shortened to fit max_span_bytes; its value is the
// number of bytes cut.
const TruncatedAttribute = "mesh.truncated"

// truncatedMarkerBudget bounds the encoded size the TruncatedAttribute adds
// to a span: field tag and length (2), the KeyValue's key (2 + 14) and value
// (2 + AnyValue of an int64: 1 + at most 10), rounded up.
const truncatedMarkerBudget = 32

// spanCapper bounds the encoded size of every span as the exporter's byte
// batcher measures it: the size of an OTLP request that carries the span
// alone, with its resource and scope. A span over the bound is shortened by
// truncating its largest string attribute values (span, event and link
// attributes; never the resource or scope, which other spans share, and
// never mesh.destination.namespace, which routing reads); if that cannot
// bring it under the bound, it is removed.
type spanCapper struct {
	max   int // 0 = off
	sizer ptrace.ProtoMarshaler
}

// deltaSize is what a message of n bytes adds to its parent as a
// length-delimited field: tag (1 byte for field numbers < 16), length, body.
func deltaSize(n int) int {
	return 1 + (bits.Len64(uint64(n)|1)+6)/7 + n
}

// capResource enforces the bound on the spans of rs. It returns how many
// spans were truncated and how many were removed (scopes left without spans
// are removed too).
//
// Cost: the common case is one upperBound walk of rs (string lengths and
// attribute counts, no allocation). Only when that bound exceeds max is rs
// sized exactly (pdata's ResourceSpansSize), and only the scopes, then the
// spans, that do not fit are sized one by one.
func (c *spanCapper) capResource(rs ptrace.ResourceSpans) (truncated, dropped int) {
	if b, ok := resourceBound(rs); ok && b <= c.max {
		return 0, 0
	}
	rsSize := c.sizer.ResourceSpansSize(rs)
	if deltaSize(rsSize) <= c.max {
		// A request holding all of rs fits, so each of its spans does.
		return 0, 0
	}
	sss := rs.ScopeSpans()
	ssSizes := make([]int, sss.Len())
	resShell := rsSize // rs without its scopes
	for j := 0; j < sss.Len(); j++ {
		ssSizes[j] = c.sizer.ScopeSpansSize(sss.At(j))
		resShell -= deltaSize(ssSizes[j])
	}
	var emptied []bool // scopes whose every span was removed here
	for j := 0; j < sss.Len(); j++ {
		if deltaSize(resShell+deltaSize(ssSizes[j])) <= c.max {
			continue
		}
		t, d := c.capScope(sss.At(j), resShell, ssSizes[j])
		truncated += t
		dropped += d
		if d > 0 && sss.At(j).Spans().Len() == 0 {
			if emptied == nil {
				emptied = make([]bool, sss.Len())
			}
			emptied[j] = true
		}
	}
	if emptied != nil {
		j := -1
		sss.RemoveIf(func(ptrace.ScopeSpans) bool {
			j++
			return emptied[j]
		})
	}
	return truncated, dropped
}

// capScope handles the spans of one scope that does not fit as a whole.
func (c *spanCapper) capScope(ss ptrace.ScopeSpans, resShell, ssSize int) (truncated, dropped int) {
	spans := ss.Spans()
	sizes := make([]int, spans.Len())
	ssShell := ssSize
	for k := 0; k < spans.Len(); k++ {
		sizes[k] = c.sizer.SpanSize(spans.At(k))
		ssShell -= deltaSize(sizes[k])
	}
	alone := func(spanSize int) int { return deltaSize(resShell + deltaSize(ssShell+deltaSize(spanSize))) }
	var drop []bool
	for k := 0; k < spans.Len(); k++ {
		excess := alone(sizes[k]) - c.max
		if excess <= 0 {
			continue
		}
		span := spans.At(k)
		if truncateSpan(span, excess) && alone(c.sizer.SpanSize(span)) <= c.max {
			truncated++
			continue
		}
		if drop == nil {
			drop = make([]bool, spans.Len())
		}
		drop[k] = true
		dropped++
	}
	if dropped > 0 {
		k := -1
		spans.RemoveIf(func(ptrace.Span) bool {
			k++
			return drop[k]
		})
	}
	return truncated, dropped
}

// strCandidate is a string attribute value that may be truncated.
type strCandidate struct {
	v pcommon.Value
	n int
}

// truncateSpan shortens the largest string attribute values of span (its
// own, its events' and its links') to a common length so that at least
// excess bytes, plus room for the marker, are cut, and sets the marker
// attribute to the number of bytes cut. Values are cut at a UTF-8 rune
// boundary. It returns false, changing nothing, when all those values
// together are too short to free enough.
func truncateSpan(span ptrace.Span, excess int) bool {
	need := excess + truncatedMarkerBudget
	var cands []strCandidate
	cands = appendStrCandidates(cands, span.Attributes())
	events := span.Events()
	for i := 0; i < events.Len(); i++ {
		cands = appendStrCandidates(cands, events.At(i).Attributes())
	}
	links := span.Links()
	for i := 0; i < links.Len(); i++ {
		cands = appendStrCandidates(cands, links.At(i).Attributes())
	}
	total := 0
	for _, c := range cands {
		total += c.n
	}
	if total < need {
		return false
	}
	slices.SortFunc(cands, func(a, b strCandidate) int { return b.n - a.n })
	// Water-filling: find the smallest m such that cutting the m largest
	// values down to the length of the (m+1)-th frees enough, then the
	// common length those m values are cut to.
	sum := 0
	limit := 0
	for m := 1; m <= len(cands); m++ {
		sum += cands[m-1].n
		next := 0
		if m < len(cands) {
			next = cands[m].n
		}
		if sum-m*next >= need {
			limit = (sum - need) / m
			cands = cands[:m]
			break
		}
	}
	cut := 0
	for _, c := range cands {
		s := c.v.Str()
		n := min(limit, len(s))
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		cut += len(s) - n
		c.v.SetStr(s[:n])
	}
	prev := int64(0)
	if v, ok := span.Attributes().Get(TruncatedAttribute); ok && v.Type() == pcommon.ValueTypeInt {
		prev = v.Int() // truncated before, by an earlier collector
	}
	span.Attributes().PutInt(TruncatedAttribute, prev+int64(cut))
	return true
}

// appendStrCandidates appends the non-empty top-level string values of m,
// except the destination namespace that edge routing reads.
func appendStrCandidates(cands []strCandidate, m pcommon.Map) []strCandidate {
	for k, v := range m.All() {
		if v.Type() != pcommon.ValueTypeStr || k == meshattr.DestinationNamespace {
			continue
		}
		if n := len(v.Str()); n > 0 {
			cands = append(cands, strCandidate{v: v, n: n})
		}
	}
	return cands
}

// Upper bounds of the encoded sizes, from string lengths and counts, for the
// common case: no nested values. Every length-delimited field costs at most
// 1 tag byte + 5 length bytes (lengths < 4 GiB) + its content; a varint or
// fixed64 field at most 11 bytes.
const (
	fieldMax = 6  // tag + length prefix of a length-delimited field
	varMax   = 11 // tag + varint / fixed64
	// kvMax is a KeyValue without its key and value contents: its own field
	// prefix, the key's and the value's prefixes, and the AnyValue's field
	// prefix (or a scalar).
	kvMax = 3*fieldMax + varMax
	// spanFixedMax is a span's fields other than strings and attributes:
	// its field prefix, trace/span/parent IDs (2+16, 2+8, 2+8), kind,
	// 2 timestamps, 3 dropped counts, flags, the status message's prefix
	// and status code.
	spanFixedMax = fieldMax + 18 + 10 + 10 + 7*varMax + 3*fieldMax + varMax
	// eventFixedMax is an event's prefix, time, name prefix, dropped count.
	eventFixedMax = fieldMax + 2*varMax + fieldMax
	// linkFixedMax is a link's prefix, IDs, trace state prefix, dropped
	// count, flags.
	linkFixedMax = fieldMax + 18 + 10 + fieldMax + 2*varMax
)

// mapBound bounds the encoded size of attributes m. ok is false when a
// value is a map or a slice, whose size only an exact walk can tell.
func mapBound(m pcommon.Map) (n int, ok bool) {
	n = m.Len() * kvMax
	for k, v := range m.All() {
		n += len(k)
		switch v.Type() {
		case pcommon.ValueTypeStr:
			n += len(v.Str())
		case pcommon.ValueTypeBytes:
			n += v.Bytes().Len()
		case pcommon.ValueTypeMap, pcommon.ValueTypeSlice:
			return 0, false
		}
	}
	return n, true
}

// resourceBound bounds the encoded size of rs as a field of a request
// (ResourceSpans and its prefix). ok is false when the bound cannot be had
// cheaply (nested attribute values).
func resourceBound(rs ptrace.ResourceSpans) (int, bool) {
	n, ok := mapBound(rs.Resource().Attributes())
	if !ok {
		return 0, false
	}
	n += 3*fieldMax + varMax + len(rs.SchemaUrl())
	sss := rs.ScopeSpans()
	for j := 0; j < sss.Len(); j++ {
		ss := sss.At(j)
		sc := ss.Scope()
		a, ok := mapBound(sc.Attributes())
		if !ok {
			return 0, false
		}
		n += a + 5*fieldMax + varMax + len(sc.Name()) + len(sc.Version()) + len(ss.SchemaUrl())
		spans := ss.Spans()
		for k := 0; k < spans.Len(); k++ {
			b, ok := spanBound(spans.At(k))
			if !ok {
				return 0, false
			}
			n += b
		}
	}
	return n, true
}

// spanBound bounds the encoded size of span as a field of its scope.
func spanBound(span ptrace.Span) (int, bool) {
	n, ok := mapBound(span.Attributes())
	if !ok {
		return 0, false
	}
	n += spanFixedMax + 2*fieldMax + len(span.Name()) + len(span.TraceState().AsRaw()) + len(span.Status().Message())
	events := span.Events()
	for i := 0; i < events.Len(); i++ {
		ev := events.At(i)
		a, ok := mapBound(ev.Attributes())
		if !ok {
			return 0, false
		}
		n += a + eventFixedMax + len(ev.Name())
	}
	links := span.Links()
	for i := 0; i < links.Len(); i++ {
		l := links.At(i)
		a, ok := mapBound(l.Attributes())
		if !ok {
			return 0, false
		}
		n += a + linkFixedMax + len(l.TraceState().AsRaw())
	}
	return n, true
}
