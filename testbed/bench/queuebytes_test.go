package bench

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/api/resource"
)

// deployQueueShare is the exporter queue of deploy/base, in bytes per byte
// of memory_limiter's hard limit (limit_percentage of the container limit).
func deployQueueShare(t *testing.T) float64 {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "deploy", "base", "collector.yaml"))
	require.NoError(t, err)
	var cr struct {
		Spec struct {
			Resources struct {
				Limits struct {
					Memory string `yaml:"memory"`
				} `yaml:"limits"`
			} `yaml:"resources"`
			Config struct {
				Processors struct {
					MemoryLimiter struct {
						LimitPercentage float64 `yaml:"limit_percentage"`
					} `yaml:"memory_limiter"`
				} `yaml:"processors"`
				Exporters map[string]struct {
					SendingQueue struct {
						Sizer     string  `yaml:"sizer"`
						QueueSize float64 `yaml:"queue_size"`
					} `yaml:"sending_queue"`
				} `yaml:"exporters"`
			} `yaml:"config"`
		} `yaml:"spec"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &cr))
	memory, err := resource.ParseQuantity(cr.Spec.Resources.Limits.Memory)
	require.NoError(t, err, "deploy/base: spec.resources.limits.memory")
	pct := cr.Spec.Config.Processors.MemoryLimiter.LimitPercentage
	require.Positive(t, pct, "deploy/base: memory_limiter.limit_percentage")

	var queue float64
	for id, exp := range cr.Spec.Config.Exporters {
		if strings.HasPrefix(id, "otlp_grpc/") && exp.SendingQueue.Sizer == "bytes" {
			require.Zero(t, queue, "deploy/base: more than one byte-sized otlp_grpc queue")
			queue = exp.SendingQueue.QueueSize
		}
	}
	require.Positive(t, queue, "deploy/base: no otlp_grpc exporter with a byte-sized queue")
	return queue / (float64(memory.Value()) * pct / 100)
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
