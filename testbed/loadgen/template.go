package loadgen

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sort"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/otelcol-mesh/otelcol-mesh/internal/spanwalk"
)

// Template is one request marshalled once to OTLP protobuf, with the byte
// offsets of every trace and span ID in it so that each replay can carry
// fresh IDs without marshalling again.
type Template struct {
	// Target indexes Config.Targets: where this request is sent.
	Target int
	// Body is the marshalled ExportTraceServiceRequest. Never modified.
	Body []byte
	// Spans is the number of spans in the request (on the wire).
	Spans int
	// Logical is the number of spans this request adds to the offered load
	// (less than Spans when the same span is sent to several targets).
	Logical int
	// Expect is, per tenant, what the sink must receive once this request
	// was acknowledged.
	Expect map[string]int

	ids []idSlot
}

// idSlot is one distinct ID of the template and every place it occurs
// (a span ID also appears as its children's parent span ID).
type idSlot struct {
	size    int // 16 trace ID, 8 span ID
	offsets []int
}

// NewTemplate marshals td and locates its IDs. Every trace and span ID in td
// must be non-zero and distinct (BuildMix's are random); an ID whose bytes
// occur anywhere else in the body is rejected.
func NewTemplate(td ptrace.Traces, target, logical int, expect map[string]int) (*Template, error) {
	body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		return nil, fmt.Errorf("loadgen: marshal: %w", err)
	}
	traceIDs := map[pcommon.TraceID]int{}
	spanIDs := map[pcommon.SpanID]int{}
	var spans int
	spanwalk.Each(td, func(s ptrace.Span) {
		spans++
		traceIDs[s.TraceID()]++
		spanIDs[s.SpanID()]++
		if p := s.ParentSpanID(); !p.IsEmpty() {
			spanIDs[p]++
		}
	})
	t := &Template{Target: target, Body: body, Spans: spans, Logical: logical, Expect: expect}
	for id, n := range traceIDs {
		if err := t.locate(id[:], n); err != nil {
			return nil, err
		}
	}
	for id, n := range spanIDs {
		if err := t.locate(id[:], n); err != nil {
			return nil, err
		}
	}
	// Stable order: slots sorted by first offset.
	sort.Slice(t.ids, func(a, b int) bool { return t.ids[a].offsets[0] < t.ids[b].offsets[0] })
	return t, nil
}

// locate records the n occurrences of id in the body. pdata writes an ID as
// a length-delimited field whose value is the raw bytes, so each
// occurrence is preceded by its length byte.
func (t *Template) locate(id []byte, n int) error {
	if bytes.Equal(id, make([]byte, len(id))) {
		return fmt.Errorf("loadgen: zero ID in template")
	}
	needle := append([]byte{byte(len(id))}, id...)
	var offs []int
	for from := 0; ; {
		i := bytes.Index(t.Body[from:], needle)
		if i < 0 {
			break
		}
		offs = append(offs, from+i+1)
		from += i + 1
	}
	if len(offs) != n {
		return fmt.Errorf("loadgen: ID %x occurs %d times in the body, want %d", id, len(offs), n)
	}
	t.ids = append(t.ids, idSlot{size: len(id), offsets: offs})
	return nil
}

// IDs is the number of distinct IDs patched per replay.
func (t *Template) IDs() int { return len(t.ids) }

// Fill copies the body into dst (grown as needed) with a fresh random value
// for every distinct ID, keeping parent/child links intact, and returns it.
func (t *Template) Fill(dst []byte, rng *rand.Rand) []byte {
	dst = append(dst[:0], t.Body...)
	var buf [16]byte
	for _, slot := range t.ids {
		binary.LittleEndian.PutUint64(buf[0:8], rng.Uint64()|1) // never all zero
		binary.LittleEndian.PutUint64(buf[8:16], rng.Uint64())
		id := buf[:slot.size]
		for _, off := range slot.offsets {
			copy(dst[off:off+slot.size], id)
		}
	}
	return dst
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
