package tenantroutingprocessor // import "github.com/otelcol-mesh/otelcol-mesh/processor/tenantroutingprocessor"

import (
	"sync"
	"time"
)

// tokenBucket admits spans at rate per second with bursts up to burst. A
// request is admitted whole or not at all. A request larger than the bucket
// is admitted when the bucket is full and leaves it in debt, so oversized
// requests are possible but the long-run rate still holds.
type tokenBucket struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

func newTokenBucket(rate float64, burst int, now time.Time) *tokenBucket {
	b := float64(burst)
	if b <= 0 {
		b = rate
	}
	return &tokenBucket{rate: rate, burst: b, tokens: b, last: now}
}

// take reports whether n spans are admitted at time now, and if so takes them.
func (b *tokenBucket) take(now time.Time, n int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens = min(b.burst, b.tokens+elapsed.Seconds()*b.rate)
		b.last = now
	}
	need := min(float64(n), b.burst)
	if b.tokens < need {
		return false
	}
	b.tokens -= float64(n)
	return true
}
