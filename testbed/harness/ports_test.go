package harness

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFreePortsAreDistinctAndOutsideTheEphemeralRange(t *testing.T) {
	seen := map[int]bool{}
	for range 200 {
		p := FreePort(t)
		require.False(t, seen[p], "port %d handed out twice", p)
		seen[p] = true
		if ephemeralLow()-portRangeLow >= 1000 {
			assert.GreaterOrEqual(t, p, portRangeLow)
			assert.Less(t, p, ephemeralLow())
		}
	}
}

func TestFreePortIsBindable(t *testing.T) {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t))))
	require.NoError(t, err)
	require.NoError(t, l.Close())
}

func TestReservationKeepsOtherProcessesOff(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	require.True(t, reserve(dir, 21000, now))
	assert.False(t, reserve(dir, 21000, now.Add(time.Second)), "a fresh reservation must hold")
	assert.True(t, reserve(dir, 21001, now), "another port is free")

	// A reservation older than the TTL is taken over, and then holds again.
	old := now.Add(-reservationTTL - time.Second)
	require.NoError(t, os.Chtimes(filepath.Join(dir, "21000"), old, old))
	assert.True(t, reserve(dir, 21000, now))
	assert.False(t, reserve(dir, 21000, now.Add(time.Second)))
}
