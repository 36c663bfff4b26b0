package host

import "sync/atomic"

// maxIdleWorkers bounds the delivery goroutines kept for reuse. A delivery
// runs on an idle worker when there is one, else on a new goroutine, so
// deliveries are never queued behind one another; keeping the goroutines
// spares a new goroutine and its stack growth per forward (the delivery
// path is deep: plugin hop, agent, ack, reply), which profiling showed as
// about 5% of the host's CPU under load. 128 is half the dispatch window
// (plugins.DefaultMaxInFlight) and costs a few MiB of stacks at most.
const maxIdleWorkers = 128

// workerPool runs deliveries on reused goroutines.
type workerPool struct {
	work chan func()
	stop <-chan struct{}
	kept atomic.Int32
}

// newWorkerPool returns a pool whose idle workers exit once stop is closed.
func newWorkerPool(stop <-chan struct{}) *workerPool {
	return &workerPool{work: make(chan func()), stop: stop}
}

// run runs f on an idle worker, or on a new goroutine; it never blocks.
func (p *workerPool) run(f func()) {
	select {
	case p.work <- f:
	default:
		go p.loop(f)
	}
}

func (p *workerPool) loop(f func()) {
	f()
	if p.kept.Add(1) > maxIdleWorkers {
		p.kept.Add(-1)
		return
	}
	defer p.kept.Add(-1)
	for {
		select {
		case f := <-p.work:
			f()
		case <-p.stop:
			return
		}
	}
}
