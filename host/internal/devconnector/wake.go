package devconnector

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// The connector's side of scale to zero (docs/protocol.md, Dormancy and
// wake): once the gateway's going_idle is acknowledged the instance is
// buffered-only, and a delivery buffered for it then makes the connector
// GET the instance's wake URL: payload-free, unsigned, rate-limited and
// best-effort. The next handshake ends buffered-only delivery.

// WakeInterval is the shortest time between two wake calls. The real
// connector rate-limits its wake GETs; one a second matches the gateway's
// own limit of one wake dial per second, so a burst of deliveries costs
// one call, and a call that found the gateway still starting is repeated
// for the next delivery a second later.
const WakeInterval = time.Second

// wakeTimeout bounds one wake GET: a gateway's /wake answers at once
// (202), while a platform that starts a container on the request may hold
// it for a few seconds.
const wakeTimeout = 10 * time.Second

// wakeBodyLimit caps how much of a wake answer is read (and discarded).
const wakeBodyLimit = 4 << 10

// WakeResult is the outcome of one wake call.
type WakeResult struct {
	// URL is the wake URL called.
	URL string
	// Status is the HTTP status of the answer; 0 when there was none.
	Status int
	// Err is why there was no answer.
	Err error
	// At is when the call was made.
	At time.Time
}

// waker holds the wake URL and whether the instance is buffered-only.
type waker struct {
	mu       sync.Mutex
	url      string
	report   func(WakeResult)
	idle     bool // going_idle acknowledged, no handshake since
	started  bool
	requests chan struct{} // capacity 1: wake requests coalesce
	http     *http.Client
}

// SetWake sets the URL the connector GETs when a delivery is buffered for
// the instance after it went idle (its going_idle acknowledged, no
// handshake since), and report (nil for none), which is told the outcome
// of each call from the connector's goroutine and must not block. Calls
// are at most one per WakeInterval; requests in between coalesce into one
// call at the end of the interval. An empty url turns waking off.
func (s *Server) SetWake(url string, report func(WakeResult)) {
	w := &s.wake
	w.mu.Lock()
	w.url, w.report = url, report
	start := !w.started && url != ""
	if start {
		w.started = true
		w.requests = make(chan struct{}, 1)
		w.http = &http.Client{
			Timeout: wakeTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		}
	}
	w.mu.Unlock()
	if !start {
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	go s.wakeLoop()
}

// setIdle records whether the instance is buffered-only.
func (s *Server) setIdle(idle bool) {
	s.wake.mu.Lock()
	s.wake.idle = idle
	s.wake.mu.Unlock()
}

// wakeIfIdle asks for a wake call when the instance is buffered-only and
// a wake URL is set; it never blocks.
func (s *Server) wakeIfIdle() {
	w := &s.wake
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.idle || w.url == "" || w.requests == nil {
		return
	}
	select {
	case w.requests <- struct{}{}:
	default:
	}
}

// wakeLoop makes the wake calls, at most one per WakeInterval.
func (s *Server) wakeLoop() {
	defer s.wg.Done()
	var last time.Time
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.wake.requests:
		}
		if wait := time.Until(last.Add(WakeInterval)); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-s.ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		s.wake.mu.Lock()
		url, report, idle := s.wake.url, s.wake.report, s.wake.idle
		s.wake.mu.Unlock()
		if url == "" || !idle {
			continue // turned off, or the gateway is back already
		}
		last = time.Now()
		res := s.callWake(url)
		res.At = last
		s.log.Debug("wake call", "url", url, "status", res.Status, "error", res.Err)
		if report != nil {
			report(res)
		}
	}
}

// callWake makes one payload-free, unsigned GET to url.
func (s *Server) callWake(url string) WakeResult {
	res := WakeResult{URL: url}
	ctx, cancel := context.WithTimeout(s.ctx, wakeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		res.Err = fmt.Errorf("devconnector: wake URL: %w", err)
		return res
	}
	resp, err := s.wake.http.Do(req)
	if err != nil {
		res.Err = fmt.Errorf("devconnector: wake call: %w", err)
		return res
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, wakeBodyLimit))
	resp.Body.Close()
	res.Status = resp.StatusCode
	return res
}
