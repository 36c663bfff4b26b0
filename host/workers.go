package host

import "github.com/relayhost/relay-host/internal/workers"

// maxIdleWorkers bounds the delivery goroutines kept for reuse. A delivery
// the admission starts runs on an idle worker when there is one, else on a
// new goroutine (the admission bounds how many run: MaxInFlight); keeping
// the goroutines spares a new goroutine and its stack growth per forward
// (the delivery path is deep: plugin hop, agent, ack, reply), which
// profiling showed as about 5% of the host's CPU under load. 256 is the
// plugin window (PlatformWindow), so a platform at full window runs on
// kept goroutines only; idle ones cost their (collector-shrunk) stacks,
// 2–8 KiB each.
const maxIdleWorkers = 256

// workerPool runs deliveries on reused goroutines: the module's elastic
// worker pool (internal/workers), which never makes a delivery wait.
type workerPool struct{ pool *workers.Pool }

// newWorkerPool returns a pool whose idle workers exit once stop is closed.
func newWorkerPool(stop <-chan struct{}) *workerPool {
	return &workerPool{pool: workers.NewElastic(maxIdleWorkers, stop)}
}

// run runs f on an idle worker, or on a new goroutine; it never blocks.
func (p *workerPool) run(f func()) { p.pool.Go(f) }
