package loadtest

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestRunActions(t *testing.T) {
	var n, inFlight, peak atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cur := inFlight.Add(1)
		defer inFlight.Add(-1)
		for p := peak.Load(); cur > p && !peak.CompareAndSwap(p, cur); p = peak.Load() {
		}
		body, _ := io.ReadAll(r.Body)
		if r.URL.Path != "/v1/actions" || r.Header.Get("Authorization") != "Bearer tok" || string(body) != string(actionBody) {
			http.Error(w, `{"success":false}`, http.StatusBadRequest)
			return
		}
		n.Add(1)
		_, _ = io.WriteString(w, `{"success":true,"message_id":"m"}`)
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	res, err := RunActions(ctx, ActionLoad{URL: srv.URL, Token: "tok", Count: 300, Window: 8})
	if err != nil || res.Acked != 300 || res.Sent != 300 || res.PerSecond <= 0 || res.Latency.Max < res.Latency.P50 || n.Load() != 300 {
		t.Fatalf("unbounded = %+v, %v (%d requests)", res, err, n.Load())
	}
	if peak.Load() > 8 {
		t.Errorf("%d actions in flight, want at most the window of 8", peak.Load())
	}
	res, err = RunActions(ctx, ActionLoad{URL: srv.URL, Token: "tok", Count: 50, Window: 4, Rate: 500})
	if err != nil || res.Acked != 50 || res.OfferedPerSecond <= 0 || res.OfferedPerSecond > 600 {
		t.Fatalf("rated = %+v, %v", res, err)
	}
	if _, err := RunActions(ctx, ActionLoad{URL: srv.URL, Token: "wrong", Count: 10, Window: 2}); err == nil || !strings.Contains(err.Error(), "answered 400") {
		t.Fatalf("a phase with refused actions = %v, want it to fail naming the status", err)
	}
	if _, err := RunActions(ctx, ActionLoad{URL: srv.URL, Count: 0}); err == nil {
		t.Fatal("a phase of 0 actions ran")
	}
}

// TestRunActionsKeepsItsWindow holds every request until the test has seen
// the window fill, then watches, for a moment, that no request beyond the
// window arrives. Under a heavy load a window overrun might show up too
// late to be seen; it can never fail a correct window.
func TestRunActionsKeepsItsWindow(t *testing.T) {
	const window = 4
	arrived := make(chan struct{}, 4*window)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		arrived <- struct{}{}
		<-release
		_, _ = io.WriteString(w, `{"success":true}`)
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := RunActions(ctx, ActionLoad{URL: srv.URL, Token: "t", Count: 3 * window, Window: window})
		done <- err
	}()
	for range window {
		select {
		case <-arrived:
		case <-ctx.Done():
			t.Fatal("the window never filled")
		}
	}
	watch := time.NewTimer(200 * time.Millisecond)
	select {
	case <-arrived:
		t.Error("a request beyond the window arrived while the window was full")
	case <-watch.C:
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
