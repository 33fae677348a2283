// Package workerpool hands trace requests to a fixed set of long-lived
// goroutines.
//
// The collector's gRPC receiver handles every request on a goroutine of its
// own, which starts with a small stack. The deeper the pipeline behind the
// receiver, the more often that stack has to grow, and each growth copies
// it: with small requests, as proxies send them, the copying cost the
// product pipeline 4.3 us of CPU per span against 1.4 for a passthrough
// (testbed/README.md, session 4). A pool goroutine grows its stack once and
// keeps it for every later request.
package workerpool // import "github.com/otelcol-mesh/otelcol-mesh/processor/spannormalizerprocessor/internal/workerpool"

import (
	"context"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

type job struct {
	ctx  context.Context
	td   ptrace.Traces
	done chan error
}

// Pool passes requests to next on its workers; the caller waits for the
// result. It is started once and stopped once, like the component that
// owns it.
type Pool struct {
	next consumer.Traces
	size int
	jobs chan job

	running   atomic.Bool
	stop      chan struct{}
	startOnce sync.Once
	stopOnce  sync.Once
	wg        sync.WaitGroup
}

// New returns a pool of size workers in front of next; Start starts them.
func New(size int, next consumer.Traces) *Pool {
	return &Pool{next: next, size: max(1, size), jobs: make(chan job), stop: make(chan struct{})}
}

// Start starts the workers; later calls do nothing.
func (p *Pool) Start() {
	p.startOnce.Do(func() {
		p.wg.Add(p.size)
		for range p.size {
			go p.work()
		}
		p.running.Store(true)
	})
}

// Stop stops the workers after the requests they are running return, and
// waits for them; later requests run on the caller's goroutine.
func (p *Pool) Stop() {
	p.stopOnce.Do(func() {
		p.running.Store(false)
		close(p.stop)
	})
	p.wg.Wait()
}

func (p *Pool) work() {
	defer p.wg.Done()
	for {
		select {
		case j := <-p.jobs:
			j.done <- p.next.ConsumeTraces(j.ctx, j.td)
		case <-p.stop:
			return
		}
	}
}

var donePool = sync.Pool{New: func() any { return make(chan error, 1) }}

// ConsumeTraces passes td to next on a worker and returns next's error. It
// always waits for next to return: td belongs to the caller until then. If
// ctx ends before a worker is free, td is not passed on and ctx's error is
// returned. A pool that is not running passes td on the caller's goroutine.
func (p *Pool) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	if !p.running.Load() {
		return p.next.ConsumeTraces(ctx, td)
	}
	done := donePool.Get().(chan error)
	defer donePool.Put(done)
	select {
	case p.jobs <- job{ctx: ctx, td: td, done: done}:
		return <-done
	case <-ctx.Done():
		return ctx.Err()
	case <-p.stop:
		return p.next.ConsumeTraces(ctx, td)
	}
}
