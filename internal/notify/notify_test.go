package notify

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitTimeout bounds every wait of these tests; each returns as soon as its
// condition holds.
const waitTimeout = 10 * time.Second

func deadline(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

func TestWaitReturnsAtOnceWhenTheConditionHolds(t *testing.T) {
	var s Signal
	calls := 0
	if err := s.Wait(deadline(t), func() bool { calls++; return true }); err != nil || calls != 1 {
		t.Fatalf("Wait = %v after %d checks, want nil after 1", err, calls)
	}
}

func TestWaitWithoutADeadlineIsRefused(t *testing.T) {
	var s Signal
	for name, ctx := range map[string]context.Context{
		"background": context.Background(),
		"cancellable": func() context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			t.Cleanup(cancel)
			return ctx
		}(),
	} {
		t.Run(name, func(t *testing.T) {
			called := false
			if err := s.Wait(ctx, func() bool { called = true; return true }); !errors.Is(err, ErrNoDeadline) || called {
				t.Fatalf("Wait = %v (condition checked: %v), want ErrNoDeadline without a check", err, called)
			}
		})
	}
}

func TestWaitEndsWithTheContext(t *testing.T) {
	var s Signal
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := s.Wait(ctx, func() bool { return false }); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait = %v, want the context's deadline", err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), waitTimeout)
	cancel()
	if err := s.Wait(ctx, func() bool { return false }); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait = %v, want the context's cancellation", err)
	}
}

// TestAChangeRightAfterTheCheckIsNotMissed changes the state and notifies
// right after the first check, before Wait blocks: Wait must see it at
// once, not at the deadline.
func TestAChangeRightAfterTheCheckIsNotMissed(t *testing.T) {
	var s Signal
	var ready atomic.Bool
	checks := 0
	err := s.Wait(deadline(t), func() bool {
		checks++
		if checks == 1 {
			ready.Store(true) // too late for this check
			s.Notify()
			return false
		}
		return ready.Load()
	})
	if err != nil || checks != 2 {
		t.Fatalf("Wait = %v after %d checks, want nil after 2", err, checks)
	}
}

// TestNotifyWakesEveryWaiter changes the state many times from several
// goroutines while several waiters each wait for their own threshold: a
// lost wake-up leaves a waiter blocked until the deadline.
func TestNotifyWakesEveryWaiter(t *testing.T) {
	var (
		s     Signal
		mu    sync.Mutex
		count int
	)
	const writers, perWriter, waiters = 4, 500, 8
	ctx := deadline(t)
	errs := make(chan error, waiters)
	for w := range waiters {
		want := (w + 1) * writers * perWriter / waiters
		go func() {
			errs <- s.Wait(ctx, func() bool {
				mu.Lock()
				defer mu.Unlock()
				return count >= want
			})
		}()
	}
	var wg sync.WaitGroup
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range perWriter {
				mu.Lock()
				count++
				mu.Unlock()
				s.Notify()
			}
		}()
	}
	wg.Wait()
	for range waiters {
		if err := <-errs; err != nil {
			t.Fatalf("a waiter was not woken: %v", err)
		}
	}
}

func TestNotifyWithoutWaitersAllocatesNothing(t *testing.T) {
	var s Signal
	if n := testing.AllocsPerRun(100, s.Notify); n != 0 {
		t.Fatalf("Notify allocated %.0f times with no waiter", n)
	}
}
