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
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// to returns a consumer that calls f.
func to(t *testing.T, f func(context.Context, ptrace.Traces) error) consumer.Traces {
	c, err := consumer.NewTraces(f)
	require.NoError(t, err)
	return c
}

func TestConsumeTracesReturnsNextsError(t *testing.T) {
	want := errors.New("refused")
	var got ptrace.Traces
	p := New(2, to(t, func(_ context.Context, td ptrace.Traces) error { got = td; return want }))
	p.Start()
	defer p.Stop()
	td := ptrace.NewTraces()
	td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	assert.ErrorIs(t, p.ConsumeTraces(context.Background(), td), want)
	assert.Equal(t, 1, got.SpanCount(), "next got the request")
}

// At most Size requests run at once; the others wait for a free worker.
func TestConsumeTracesIsBoundedBySize(t *testing.T) {
	var running, peak atomic.Int32
	release := make(chan struct{})
	p := New(3, to(t, func(context.Context, ptrace.Traces) error {
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
	}))
	p.Start()
	defer p.Stop()
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = p.ConsumeTraces(context.Background(), ptrace.NewTraces())
		}()
	}
	require.Eventually(t, func() bool { return running.Load() == 3 }, 5*time.Second, time.Millisecond)
	close(release)
	wg.Wait()
	assert.Equal(t, int32(3), peak.Load())
}

// A caller whose context ends while every worker is busy gets the
// context's error, and its request never reaches next.
func TestConsumeTracesGivesUpWhenTheContextEnds(t *testing.T) {
	release, busy := make(chan struct{}), make(chan struct{})
	var calls atomic.Int32
	p := New(1, to(t, func(context.Context, ptrace.Traces) error {
		if calls.Add(1) == 1 {
			close(busy)
			<-release
		}
		return nil
	}))
	p.Start()
	defer p.Stop()
	errc := make(chan error, 1)
	go func() { errc <- p.ConsumeTraces(context.Background(), ptrace.NewTraces()) }()
	<-busy
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, p.ConsumeTraces(ctx, ptrace.NewTraces()), context.DeadlineExceeded)
	close(release)
	assert.NoError(t, <-errc)
	assert.Equal(t, int32(1), calls.Load())
}

// Before Start and after Stop the caller's goroutine passes the request on,
// so a component used without its lifecycle still works.
func TestConsumeTracesWithoutWorkers(t *testing.T) {
	var calls atomic.Int32
	p := New(2, to(t, func(context.Context, ptrace.Traces) error { calls.Add(1); return nil }))
	require.NoError(t, p.ConsumeTraces(context.Background(), ptrace.NewTraces()))
	p.Start()
	p.Start() // harmless
	require.NoError(t, p.ConsumeTraces(context.Background(), ptrace.NewTraces()))
	p.Stop()
	p.Stop() // harmless
	require.NoError(t, p.ConsumeTraces(context.Background(), ptrace.NewTraces()))
	assert.Equal(t, int32(3), calls.Load())
}

// Stop waits for the request a worker is running (goleak checks that no
// worker outlives the test).
func TestStopWaitsForRunningRequests(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	var finished atomic.Bool
	p := New(1, to(t, func(context.Context, ptrace.Traces) error {
		close(started)
		<-release
		finished.Store(true)
		return nil
	}))
	p.Start()
	errc := make(chan error, 1)
	go func() { errc <- p.ConsumeTraces(context.Background(), ptrace.NewTraces()) }()
	<-started
	stopped := make(chan struct{})
	go func() { p.Stop(); close(stopped) }()
	select {
	case <-stopped:
		t.Fatal("Stop returned while a request was running")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	<-stopped
	assert.True(t, finished.Load())
	assert.NoError(t, <-errc)
}
