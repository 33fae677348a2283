package bench

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-mesh/otelcol-mesh/deploy/validate"
)

// deployQueueShare is deploy/base's in-memory export queue in bytes per byte
// of memory_limiter's hard limit, as deploy/validate computes both.
func deployQueueShare(t *testing.T) float64 {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "deploy", "base", "collector.yaml"))
	require.NoError(t, err)
	objs, err := validate.SplitYAML(raw)
	require.NoError(t, err)
	require.Len(t, objs, 1, "deploy/base/collector.yaml holds the collector CR alone")
	plan, problems := validate.CheckMemory(objs[0])
	require.Empty(t, problems)
	queues, problems := validate.CheckMemoryQueue(objs[0], plan)
	require.Empty(t, problems)
	require.Len(t, queues, 1, "deploy/base: one in-memory export queue")
	return float64(queues[0].QueueBytes) / float64(plan.Hard)
}

// TestQueueBytesForFollowsDeploy keeps the bench's exporter queue in the
// proportion to the memory limit that deploy/base ships, so that the overload
// cell fills its queue when, and only when, a deployed collector would. The
// bench sizes by memory_limiter's limit_mib; deploy/base by the container
// limit, of which the hard limit is limit_percentage.
func TestQueueBytesForFollowsDeploy(t *testing.T) {
	want := deployQueueShare(t)
	for _, limitMiB := range []int{160, 512, 1024} {
		got := float64(QueueBytesFor(limitMiB)) / float64(limitMiB<<20)
		assert.InEpsilonf(t, want, got, 0.01,
			"QueueBytesFor(%d) is %.3f of the limit, deploy/base ships %.3f: change one with the other", limitMiB, got, want)
	}
}
