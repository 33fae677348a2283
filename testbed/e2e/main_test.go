// Package e2e holds the end-to-end tests: the ocb-built binary as a child
// process, real OTLP clients, and the Tempo-like sink.
package e2e

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// The SDK exporters' HTTP transports keep idle connections alive; they
	// are not leaks of ours.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"))
}
