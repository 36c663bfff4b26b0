package pluginapi

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// echoPlugin answers each forward with one event carrying its body.
type echoPlugin struct {
	gate chan struct{} // when set, HandleForward waits for it to close
}

func (echoPlugin) Info() Info { return Info{Name: "echo", Version: "1", Platforms: []string{"test"}} }

func (p echoPlugin) HandleForward(ctx context.Context, f Forward) Result {
	if p.gate != nil {
		select {
		case <-p.gate:
		case <-ctx.Done():
			return Drop("cancelled")
		}
	}
	return Handle(MessageEvent{Text: string(f.Body), MessageType: MessageTypeText})
}

// streamTestTimeout bounds every forward of these tests; each takes
// microseconds.
const streamTestTimeout = 30 * time.Second

func startInProcess(t testing.TB, impl Plugin, legacy bool) *Remote {
	t.Helper()
	gs := newGRPCServer(impl, hclog.NewNullLogger())
	gs.legacy = legacy
	remote, stop, err := serveInProcess(gs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return remote
}

func TestForwardStreams(t *testing.T) {
	tests := []struct {
		name        string
		legacy      bool
		wantBatched bool
	}{
		{"a plugin advertising forward-batches gets batches", false, true},
		{"a plugin built before batches keeps its per-forward stream", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := startInProcess(t, echoPlugin{}, tt.legacy)
			info, err := r.Info(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if got := info.HasCapability(CapabilityForwardBatches); got != tt.wantBatched {
				t.Fatalf("capability %s advertised = %v, want %v", CapabilityForwardBatches, got, tt.wantBatched)
			}
			if r.Batched() != tt.wantBatched {
				t.Fatalf("Batched() = %v, want %v", r.Batched(), tt.wantBatched)
			}
			// Many forwards at once, so that batches form; each result
			// must come back to its own caller.
			ctx, cancel := context.WithTimeout(context.Background(), streamTestTimeout)
			defer cancel()
			const n = 500
			var wg sync.WaitGroup
			errs := make(chan error, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					body := fmt.Sprintf("forward %d", i)
					res, err := r.HandleForward(ctx, Forward{Platform: "test", Body: []byte(body)})
					switch {
					case err != nil:
						errs <- err
					case len(res.Events) != 1 || res.Events[0].Text != body:
						errs <- fmt.Errorf("forward %q got %+v", body, res)
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
}

func TestBatchesSplitByBytes(t *testing.T) {
	r := startInProcess(t, echoPlugin{}, false)
	ctx, cancel := context.WithTimeout(context.Background(), streamTestTimeout)
	defer cancel()
	// Twelve 1 MiB bodies are three batch limits' worth: they must travel in
	// several messages, each under the gRPC message limit.
	body := strings.Repeat("x", MaxBodyBytes)
	var wg sync.WaitGroup
	for range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := r.HandleForward(ctx, Forward{Platform: "test", Body: []byte(body)})
			if err != nil || len(res.Events) != 1 || len(res.Events[0].Text) != len(body) {
				t.Errorf("large forward: %v (%d events)", err, len(res.Events))
			}
		}()
	}
	wg.Wait()
}

func TestClosedRemoteFailsWaitingForwards(t *testing.T) {
	gate := make(chan struct{})
	defer close(gate)
	r := startInProcess(t, echoPlugin{gate: gate}, false)
	ctx, cancel := context.WithTimeout(context.Background(), streamTestTimeout)
	defer cancel()
	errc := make(chan error, 3)
	for range 3 {
		go func() {
			_, err := r.HandleForward(ctx, Forward{Platform: "test", Body: []byte("held")})
			errc <- err
		}()
	}
	// The forwards are held in the plugin; closing the link fails them all
	// (un-acknowledged, to be redelivered).
	waitPending(t, r, 3)
	r.Close()
	for range 3 {
		if err := <-errc; !errors.Is(err, ErrPluginGone) {
			t.Errorf("held forward: err = %v, want ErrPluginGone", err)
		}
	}
	if _, err := r.HandleForward(ctx, Forward{Platform: "test"}); !errors.Is(err, ErrPluginGone) {
		t.Errorf("forward after Close: err = %v, want ErrPluginGone", err)
	}
}

// waitPending waits until n forwards are waiting for their results.
func waitPending(t *testing.T, r *Remote, n int) {
	t.Helper()
	deadline := time.Now().Add(streamTestTimeout)
	for {
		r.mu.Lock()
		got := len(r.pending)
		r.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d forwards pending, want %d", got, n)
		}
		time.Sleep(time.Millisecond) // polling a counter with no change notification; bounded above
	}
}

// BenchmarkStream compares the two forward streams in-process, 64 forwards
// in flight: one message per forward (HandleStream, plugins built before
// batching) and batches (HandleBatches).
func BenchmarkStream(b *testing.B) {
	for _, legacy := range []bool{true, false} {
		name := "batches"
		if legacy {
			name = "per-forward"
		}
		b.Run(name, func(b *testing.B) {
			r := startInProcess(b, echoPlugin{}, legacy)
			f := Forward{Platform: "test", Method: "POST", Path: "/test", Body: []byte(strings.Repeat("b", 1500))}
			ctx := context.Background()
			b.ReportAllocs()
			b.SetParallelism(32)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := r.HandleForward(ctx, f); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "forwards/s")
		})
	}
}
