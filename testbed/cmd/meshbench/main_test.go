package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseOverloadLimits(t *testing.T) {
	got, err := parseOverloadLimits(" 870:154, 160:40 ,")
	require.NoError(t, err)
	assert.Equal(t, []overloadLimit{{limit: 870, spike: 154}, {limit: 160, spike: 40}}, got)
	assert.Equal(t, "overload 160MiB", got[1].label())

	none, err := parseOverloadLimits("")
	require.NoError(t, err)
	assert.Empty(t, none)

	for _, bad := range []string{"870", "870:", ":40", "a:b", "160:160", "160:0", "160:-1", "40:160"} {
		_, err := parseOverloadLimits(bad)
		assert.ErrorContains(t, err, "-overload-limits", bad)
	}
}
