package workers

import (
	"testing"

	"go.uber.org/goleak"
)

// TestBoundedNeverQueuesBehindAStuckFunction hands a pool with room to
// spare a function that never returns (a plugin forward stuck on I/O that
// ignores its deadline) and, right behind it, another one: the second must
// run, on a worker of its own, even when both arrive while the pool's one
// idle worker has not yet taken the first. Each round is a race, so it is
// run many times.
func TestBoundedNeverQueuesBehindAStuckFunction(t *testing.T) {
	defer goleak.VerifyNone(t)
	const rounds = 200
	for range rounds {
		stop := make(chan struct{})
		p := NewBounded(8, 100, stop)
		warm := make(chan struct{}, 1)
		p.Go(func() { warm <- struct{}{} })
		receive(t, warm, 1, "warm-up function")
		eventually(t, "an idle worker", func() bool { return p.idle.Load() == 1 })

		stuck, ran := make(chan struct{}), make(chan struct{}, 2)
		for range 2 {
			p.Go(func() { <-stuck }) // never returns until the round ends
		}
		p.Go(func() { ran <- struct{}{} })
		receive(t, ran, 1, "the function behind the stuck ones")
		close(stuck)
		close(stop)
	}
}
