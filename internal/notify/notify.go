// Package notify is relay-host's one wait/notify helper: goroutines wait,
// always with a deadline, until a condition on some shared state holds, and
// whoever changes that state wakes them. It replaces the hand-written
// "close the channel and make a new one" notifiers.
//
// The owner of the state keeps a [Signal] next to it and calls
// [Signal.Notify] after every change; a waiter calls [Signal.Wait] with a
// condition that reads the state under the owner's lock:
//
//	err := s.changed.Wait(ctx, func() bool {
//		s.mu.Lock()
//		defer s.mu.Unlock()
//		return s.dials >= n
//	})
//
// A change between the condition's check and the wait is never missed:
// Wait takes the wake-up channel before it checks the condition.
package notify

import (
	"context"
	"errors"
	"sync"
)

// ErrNoDeadline is returned by Wait for a context that carries no deadline:
// every wait in relay-host is bounded, so that a lost wake-up or a peer that
// never answers turns into an error rather than a hang.
var ErrNoDeadline = errors.New("notify: wait without a deadline")

// Signal wakes the goroutines waiting for a condition on shared state. The
// zero Signal is ready to use. A Signal must not be copied after first use.
type Signal struct {
	mu sync.Mutex
	ch chan struct{} // closed by Notify; made by the first waiter after it
}

// Notify wakes every Wait in progress so that it checks its condition
// again. Call it after each change of the state the conditions read (it may
// be called with the owner's lock held or not). It never blocks and
// allocates nothing when no one waits.
func (s *Signal) Notify() {
	s.mu.Lock()
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
	s.mu.Unlock()
}

// changed returns the channel the next Notify closes.
func (s *Signal) changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

// Wait blocks until cond reports true and returns nil. cond runs on the
// calling goroutine, at once and again after every Notify; it must not
// block and must not call Notify. Wait returns ctx's error, unwrapped, when
// ctx ends first.
//
// ctx must carry a deadline: without one, Wait returns ErrNoDeadline at
// once, whatever cond would say, so that an unbounded wait fails the first
// time it runs rather than the day it hangs.
func (s *Signal) Wait(ctx context.Context, cond func() bool) error {
	if _, ok := ctx.Deadline(); !ok {
		return ErrNoDeadline
	}
	for {
		ch := s.changed()
		if cond() {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
