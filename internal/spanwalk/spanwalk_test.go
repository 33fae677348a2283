package spanwalk

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

func TestEachVisitsEverySpanInWireOrder(t *testing.T) {
	td := ptrace.NewTraces()
	for r := 0; r < 2; r++ {
		rs := td.ResourceSpans().AppendEmpty()
		for s := 0; s < 2; s++ {
			spans := rs.ScopeSpans().AppendEmpty().Spans()
			for k := 0; k < 2; k++ {
				spans.AppendEmpty().SetName(string(rune('a' + r*4 + s*2 + k)))
			}
		}
	}
	td.ResourceSpans().AppendEmpty() // a resource without scopes
	var names string
	Each(td, func(s ptrace.Span) { names += s.Name() })
	assert.Equal(t, "abcdefgh", names)
}
