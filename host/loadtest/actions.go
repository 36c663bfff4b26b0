package loadtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Agent API load defaults.
const (
	// DefaultActionCount is the size of the unbounded actions phase: two
	// seconds at the 10,000 actions/s the performance targets ask for
	// (docs/performance.md).
	DefaultActionCount = 20000
	// DefaultActionWindow is the number of actions in flight in the
	// unbounded phase: the performance targets (docs/performance.md) state
	// the throughput with 64.
	DefaultActionWindow = 64
	// actionTimeout bounds one action: the host's own wait for an
	// outbound_result is 30 s; the load connector answers at once.
	actionTimeout = 35 * time.Second
	// maxActionAnswer bounds how much of an answer is read.
	maxActionAnswer = 64 << 10
)

// actionBody is the action every request of the actions phases sends: a
// short send to a chat the host has never seen, so it goes untagged to the
// session default (Discord), through validation, enrichment, gating and the
// length check, out as an outbound frame and back as its result.
var actionBody = []byte(`{"op":"send","chat_id":"bench-chat","content":"bench action"}`)

// ActionLoad is one phase of agent API load: POST /v1/actions send → the
// host → an outbound frame → the load connector's outbound_result → the
// host → the HTTP answer.
type ActionLoad struct {
	// URL is the agent API's base URL, http://host:port.
	URL string
	// Token is the agent API's bearer token.
	Token string
	// Count is the number of actions to send.
	Count int
	// Window bounds the actions in flight; DefaultActionWindow when 0.
	Window int
	// Rate is the offered rate in actions per second; 0 sends as fast as
	// the window allows.
	Rate float64
}

// actionClient is an HTTP client for the agent API with a connection per
// action in flight.
func actionClient(window int) *http.Client {
	return &http.Client{Timeout: actionTimeout, Transport: &http.Transport{
		MaxIdleConnsPerHost: window, MaxConnsPerHost: window, IdleConnTimeout: time.Minute,
		DisableCompression: true, ForceAttemptHTTP2: false,
	}}
}

// RunActions runs one phase of agent API load and measures it: actions/s
// over the phase, and each action's latency from just before its request
// is written to its answer read in full. Any answer but 200 fails the phase.
func RunActions(ctx context.Context, l ActionLoad) (Result, error) {
	if l.Count <= 0 {
		return Result{}, errors.New("actions: want a positive count")
	}
	if l.Window <= 0 {
		l.Window = DefaultActionWindow
	}
	client := actionClient(l.Window)
	defer client.CloseIdleConnections()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var (
		next    atomic.Int64 // the next action to send (unbounded phase)
		sendEnd atomic.Int64 // when the last action was written, unix ns
		mu      sync.Mutex
		lats    = make([]time.Duration, 0, l.Count)
		failure error
	)
	fail := func(err error) {
		mu.Lock()
		if failure == nil {
			failure = err
		}
		mu.Unlock()
		cancel()
	}
	// Rated: a dispatcher hands out each action at its time.
	var due chan int
	if l.Rate > 0 {
		due = make(chan int, l.Window)
	}
	start := time.Now()
	var wg sync.WaitGroup
	for range l.Window {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := make([]time.Duration, 0, l.Count/l.Window+1)
			defer func() {
				mu.Lock()
				lats = append(lats, mine...)
				mu.Unlock()
			}()
			for {
				var i int
				if due != nil {
					var ok bool
					if i, ok = <-due; !ok {
						return
					}
				} else if i = int(next.Add(1)) - 1; i >= l.Count {
					return
				}
				if ctx.Err() != nil {
					return
				}
				t0 := time.Now()
				if i == l.Count-1 {
					sendEnd.Store(t0.UnixNano())
				}
				if err := sendAction(ctx, client, l); err != nil {
					fail(fmt.Errorf("action %d: %w", i, err))
					return
				}
				mine = append(mine, time.Since(t0))
			}
		}()
	}
	if due != nil {
		interval := time.Duration(float64(time.Second) / l.Rate)
	dispatch:
		for i := range l.Count {
			if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
				if err := sleep(ctx, d); err != nil {
					break
				}
			}
			select {
			case due <- i:
			case <-ctx.Done():
				break dispatch
			}
		}
		close(due)
	}
	wg.Wait()
	end := time.Now()
	mu.Lock()
	defer mu.Unlock()
	if failure != nil {
		return Result{}, failure
	}
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	res := Result{Sent: l.Count, Acked: len(lats), Elapsed: end.Sub(start), Latency: summarise(lats)}
	res.PerSecond = float64(res.Acked) / res.Elapsed.Seconds()
	if d := time.Duration(sendEnd.Load() - start.UnixNano()); d > 0 && l.Rate > 0 {
		res.OfferedPerSecond = float64(l.Count-1) / d.Seconds()
	}
	return res, nil
}

// sendAction sends the bench action and reads its answer, which must be
// 200.
func sendAction(ctx context.Context, client *http.Client, l ActionLoad) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.URL+"/v1/actions", bytes.NewReader(actionBody))
	if err != nil {
		return fmt.Errorf("build the request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+l.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("POST /v1/actions: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxActionAnswer))
	if err != nil {
		return fmt.Errorf("read the answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("answered %d: %s", resp.StatusCode, bytes.TrimSpace(body))
	}
	return nil
}
