package e2e

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-mesh/otelcol-mesh/testbed/harness"
)

// TestExamplesMatchFixtures keeps the README's examples/ and the span
// normalizer's test fixtures the same documents: what a user posts is what
// the unit tests prove the output of.
func TestExamplesMatchFixtures(t *testing.T) {
	root := harness.RepoRoot(t)
	examples, err := filepath.Glob(filepath.Join(root, "examples", "*.json"))
	require.NoError(t, err)
	fixtures, err := filepath.Glob(filepath.Join(root, "processor", "spannormalizerprocessor", "testdata", "fixtures", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, examples)

	names := func(paths []string) []string {
		out := make([]string, len(paths))
		for i, p := range paths {
			out[i] = filepath.Base(p)
		}
		return out
	}
	require.Equal(t, names(fixtures), names(examples), "examples/ and the fixtures hold different files")
	for i := range examples {
		want, err := os.ReadFile(fixtures[i])
		require.NoError(t, err)
		got, err := os.ReadFile(examples[i])
		require.NoError(t, err)
		assert.Equal(t, string(want), string(got), "%s differs from its fixture", filepath.Base(examples[i]))
	}
}
