// Package workers runs functions on reused goroutines. It is the one worker
// pool of relay-host: the host runs its deliveries on an elastic pool
// (never waits, keeps some idle goroutines), a plugin runs its forwards on a
// bounded one (at most so many at once, the rest wait in order).
//
// A goroutine that has run one function already has a grown stack; handing
// it the next function instead of starting a new goroutine spares the new
// goroutine and its stack growth. On the deep paths both users run (a
// delivery: plugin hop, agent, ack, reply; a conversion recursing into the
// JSON it parses) that showed up as a few percent of the CPU in profiles.
//
// The package is internal to the module but importable by pluginapi, its
// plugintest and the host alike, and so reaches third-party plugins
// through pluginapi.
package workers

import "sync/atomic"

// Pool runs functions on reused goroutines; see NewBounded and NewElastic.
// It is safe for concurrent use.
type Pool struct {
	// max bounds the workers of a bounded pool; 0 marks an elastic pool.
	max int32
	// keep bounds the workers an elastic pool keeps once their function
	// returned.
	keep int32
	// queue hands functions to idle workers: buffered (the waiting line)
	// in a bounded pool, unbuffered (a direct hand-off) in an elastic one.
	queue chan func()
	stop  <-chan struct{}

	workers atomic.Int32 // bounded: started; elastic: kept
	idle    atomic.Int32 // waiting on queue
	queued  atomic.Int32 // bounded: functions in the queue, not yet taken
}

// NewBounded returns a pool that runs at most max functions at once. More
// wait, in arrival order, in a line of up to queue; Go blocks while the
// line is full. Workers are started as needed and kept until stop is
// closed. After stop is closed, Go runs its function itself.
func NewBounded(max, queue int, stop <-chan struct{}) *Pool {
	if max < 1 {
		max = 1
	}
	return &Pool{max: int32(max), queue: make(chan func(), queue), stop: stop}
}

// NewElastic returns a pool whose Go never waits: a function runs on an
// idle worker if there is one, else on a new goroutine, so functions never
// queue behind one another. Up to keep workers are kept for reuse once
// their function returned; they exit when stop is closed.
func NewElastic(keep int, stop <-chan struct{}) *Pool {
	return &Pool{keep: int32(keep), queue: make(chan func()), stop: stop}
}

// Go runs f on the pool.
func (p *Pool) Go(f func()) {
	if p.max == 0 {
		select {
		case p.queue <- f: // an idle worker took it
		default:
			go p.loop(f)
		}
		return
	}
	select {
	case <-p.stop:
		f() // no workers any more: run it here, so nothing waits on it forever
		return
	default:
	}
	p.queued.Add(1)
	select {
	case p.queue <- f:
	case <-p.stop:
		p.queued.Add(-1)
		f()
		return
	}
	// Every queued function needs a worker that will take it: an idle one,
	// or a new one while there are fewer than max. Counting after the
	// function is queued, against the functions still queued, means one
	// never waits behind a function that does not return (a worker busy
	// with it is not idle) while the pool has room. queued is read before
	// idle; loop updates them in the other order, so a race can only start
	// a worker too many, never one too few.
	if q := p.queued.Load(); p.idle.Load() < q {
		if n := p.workers.Add(1); n <= p.max {
			go p.loop(nil)
		} else {
			p.workers.Add(-1)
		}
	}
}

// loop runs first (if any), then whatever the queue hands it, until stop.
// An elastic pool's worker exits after first when keep workers are kept
// already.
func (p *Pool) loop(first func()) {
	if first != nil {
		first()
	}
	if p.max == 0 && p.workers.Add(1) > p.keep {
		p.workers.Add(-1)
		return
	}
	defer p.workers.Add(-1)
	for {
		p.idle.Add(1)
		select {
		case f := <-p.queue:
			p.idle.Add(-1)
			if p.max > 0 {
				p.queued.Add(-1) // after idle: see Go
			}
			f()
		case <-p.stop:
			p.idle.Add(-1)
			return
		}
	}
}
