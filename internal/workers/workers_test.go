package workers

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// waitTimeout bounds every wait of these tests; each step takes
// microseconds.
const waitTimeout = 30 * time.Second

// receive waits for n values on ch.
func receive(t *testing.T, ch <-chan struct{}, n int, what string) {
	t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	for i := range n {
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("%s: %d of %d after %s", what, i, n, waitTimeout)
		}
	}
}

// eventually polls cond, which has no change notification, until it holds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %s", what, waitTimeout)
		}
		time.Sleep(time.Millisecond) // polling a counter; bounded above
	}
}

func TestBoundedRunsAtMostMax(t *testing.T) {
	defer goleak.VerifyNone(t)
	stop := make(chan struct{})
	defer close(stop)
	const max, n = 3, 20
	p := NewBounded(max, 100, stop)
	gate := make(chan struct{})
	started := make(chan struct{}, n)
	var running, peak atomic.Int32
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		p.Go(func() {
			defer wg.Done()
			now := running.Add(1)
			for {
				old := peak.Load()
				if now <= old || peak.CompareAndSwap(old, now) {
					break
				}
			}
			started <- struct{}{}
			<-gate
			running.Add(-1)
		})
	}
	// Every Go has returned: max functions run (held at the gate) and the
	// rest wait in the line.
	receive(t, started, max, "functions started")
	if got := p.workers.Load(); got != max {
		t.Errorf("%d workers started, want %d", got, max)
	}
	if got := len(p.queue); got != n-max {
		t.Errorf("%d functions waiting, want %d", got, n-max)
	}
	close(gate)
	wg.Wait()
	if got := peak.Load(); got != max {
		t.Errorf("at most %d functions ran at once, want %d", got, max)
	}
}

func TestBoundedKeepsArrivalOrder(t *testing.T) {
	stop := make(chan struct{})
	defer close(stop)
	p := NewBounded(1, 16, stop)
	var (
		mu  sync.Mutex
		got []int
		wg  sync.WaitGroup
	)
	for i := range 10 {
		wg.Add(1)
		p.Go(func() {
			defer wg.Done()
			mu.Lock()
			got = append(got, i)
			mu.Unlock()
		})
	}
	wg.Wait()
	for i, v := range got {
		if v != i {
			t.Fatalf("ran in order %v, want 0..9", got)
		}
	}
}

func TestBoundedRunsInlineAfterStop(t *testing.T) {
	defer goleak.VerifyNone(t)
	stop := make(chan struct{})
	p := NewBounded(2, 4, stop)
	done := make(chan struct{})
	p.Go(func() { close(done) })
	receive(t, done, 1, "function before stop")
	close(stop)
	ran := false
	p.Go(func() { ran = true })
	if !ran {
		t.Fatal("Go after stop did not run its function before returning")
	}
}

func TestElasticNeverWaits(t *testing.T) {
	defer goleak.VerifyNone(t)
	stop := make(chan struct{})
	const keep, n = 2, 6
	p := NewElastic(keep, stop)
	// batch runs n functions that hold until released, and waits until
	// all n run at once: more than the pool keeps. Go is called from its
	// own goroutine, so a Go that waited would fail the deadline rather
	// than hang the test.
	batch := func(what string) {
		gate := make(chan struct{})
		started := make(chan struct{}, n)
		var wg sync.WaitGroup
		wg.Add(n)
		go func() {
			for range n {
				p.Go(func() {
					defer wg.Done()
					started <- struct{}{}
					<-gate
				})
			}
		}()
		receive(t, started, n, what)
		close(gate)
		wg.Wait()
	}
	batch("functions running at once on a new pool")
	eventually(t, "workers beyond keep exit", func() bool { return p.workers.Load() == keep })
	eventually(t, "kept workers idle", func() bool { return p.idle.Load() == keep })
	batch("functions running at once with idle workers kept")
	close(stop)
	eventually(t, "kept workers exit after stop", func() bool { return p.workers.Load() == 0 })
}
