package workerpool

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRunReturnsTheError(t *testing.T) {
	p := New(2)
	p.Start()
	defer p.Stop()
	want := errors.New("refused")
	assert.ErrorIs(t, p.Run(context.Background(), func() error { return want }), want)
	assert.NoError(t, p.Run(context.Background(), func() error { return nil }))
}

// At most Size calls run at once; the others wait for a free worker.
func TestRunIsBoundedBySize(t *testing.T) {
	p := New(3)
	p.Start()
	defer p.Stop()
	var running, peak atomic.Int32
	release := make(chan struct{})
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = p.Run(context.Background(), func() error {
				n := running.Add(1)
				for {
					old := peak.Load()
					if n <= old || peak.CompareAndSwap(old, n) {
						break
					}
				}
				<-release
				running.Add(-1)
				return nil
			})
		}()
	}
	require.Eventually(t, func() bool { return running.Load() == 3 }, 5*time.Second, time.Millisecond)
	close(release)
	wg.Wait()
	assert.Equal(t, int32(3), peak.Load())
}

// A caller whose context ends while every worker is busy gets the
// context's error, and its function never runs.
func TestRunGivesUpWhenTheContextEnds(t *testing.T) {
	p := New(1)
	p.Start()
	defer p.Stop()
	release := make(chan struct{})
	busy := make(chan struct{})
	go func() {
		_ = p.Run(context.Background(), func() error { close(busy); <-release; return nil })
	}()
	<-busy
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	ran := false
	err := p.Run(ctx, func() error { ran = true; return nil })
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.False(t, ran)
	close(release)
}

// Before Start and after Stop the caller's goroutine runs the function, so
// a component used without its lifecycle still works.
func TestRunWithoutWorkers(t *testing.T) {
	p := New(2)
	calls := 0
	require.NoError(t, p.Run(context.Background(), func() error { calls++; return nil }))
	p.Start()
	p.Start() // harmless
	require.NoError(t, p.Run(context.Background(), func() error { calls++; return nil }))
	p.Stop()
	p.Stop() // harmless
	require.NoError(t, p.Run(context.Background(), func() error { calls++; return nil }))
	assert.Equal(t, 3, calls)
}

// Stop waits for the call a worker is running (goleak checks that no
// worker outlives the test).
func TestStopWaitsForRunningCalls(t *testing.T) {
	p := New(1)
	p.Start()
	started, release := make(chan struct{}), make(chan struct{})
	var finished atomic.Bool
	errc := make(chan error, 1)
	go func() {
		errc <- p.Run(context.Background(), func() error {
			close(started)
			<-release
			finished.Store(true)
			return nil
		})
	}()
	<-started
	stopped := make(chan struct{})
	go func() { p.Stop(); close(stopped) }()
	select {
	case <-stopped:
		t.Fatal("Stop returned while a call was running")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	<-stopped
	assert.True(t, finished.Load())
	assert.NoError(t, <-errc)
}
