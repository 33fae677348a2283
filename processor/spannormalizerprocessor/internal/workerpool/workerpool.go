// Package workerpool runs calls on a fixed set of long-lived goroutines.
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
)

type job struct {
	fn   func() error
	done chan error
}

// Pool runs functions on its workers; the caller waits for the result.
type Pool struct {
	size int
	jobs chan job

	mu      sync.RWMutex // guards running against Stop
	running bool
	stop    chan struct{}
	wg      sync.WaitGroup
}

// New returns a pool of size workers; Start starts them.
func New(size int) *Pool {
	return &Pool{size: max(1, size), jobs: make(chan job)}
}

// Size is the number of workers.
func (p *Pool) Size() int { return p.size }

// Start starts the workers. Calling it on a running pool does nothing.
func (p *Pool) Start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.running {
		return
	}
	p.stop = make(chan struct{})
	p.running = true
	p.wg.Add(p.size)
	for range p.size {
		go p.work(p.stop)
	}
}

// Stop stops the workers after the calls they are running return, and waits
// for them. Later calls of Run run on the caller's goroutine.
func (p *Pool) Stop() {
	p.mu.Lock()
	if !p.running {
		p.mu.Unlock()
		return
	}
	p.running = false
	close(p.stop)
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *Pool) work(stop <-chan struct{}) {
	defer p.wg.Done()
	for {
		select {
		case j := <-p.jobs:
			j.done <- j.fn()
		case <-stop:
			return
		}
	}
}

var donePool = sync.Pool{New: func() any { return make(chan error, 1) }}

// Run runs fn on a worker and returns its error. It always waits for fn to
// return: what fn works on belongs to the caller until then. If ctx ends
// before a worker is free, fn does not run and Run returns ctx's error. A
// pool that is not running runs fn on the caller's goroutine.
func (p *Pool) Run(ctx context.Context, fn func() error) error {
	p.mu.RLock()
	if !p.running {
		p.mu.RUnlock()
		return fn()
	}
	stop := p.stop
	p.mu.RUnlock()
	done := donePool.Get().(chan error)
	select {
	case p.jobs <- job{fn: fn, done: done}:
	case <-ctx.Done():
		donePool.Put(done)
		return ctx.Err()
	case <-stop:
		donePool.Put(done)
		return fn()
	}
	err := <-done
	donePool.Put(done)
	return err
}
