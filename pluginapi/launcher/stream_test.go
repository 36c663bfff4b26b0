package launcher

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/relayhost/relay-host/internal/pluginlink"
	"github.com/relayhost/relay-host/pluginapi"
	pluginv1 "github.com/relayhost/relay-host/pluginapi/proto/relayplugin/v1"
	"google.golang.org/grpc"
)

// echoPlugin answers each forward with one event carrying its body.
type echoPlugin struct {
	gate chan struct{} // when set, HandleForward waits for it to close
}

func (echoPlugin) Info() pluginapi.Info {
	return pluginapi.Info{Name: "echo", Version: "1", Platforms: []string{"test"}}
}

func (p echoPlugin) HandleForward(ctx context.Context, f pluginapi.Forward) pluginapi.Result {
	if p.gate != nil {
		select {
		case <-p.gate:
		case <-ctx.Done():
			return pluginapi.Drop("cancelled")
		}
	}
	return pluginapi.Handle(pluginapi.MessageEvent{Text: string(f.Body), MessageType: pluginapi.MessageTypeText})
}

// streamTestTimeout bounds every forward of these tests; each takes
// microseconds.
const streamTestTimeout = 30 * time.Second

// startInProcess serves impl in-process, as a plugin built before batches
// when legacy is set.
func startInProcess(t testing.TB, impl pluginapi.Plugin, legacy bool, opts ...inProcessOption) *Remote {
	t.Helper()
	srv, stopServer, err := pluginlink.NewServer(impl, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	if legacy {
		srv = legacyServer{inner: srv}
	}
	remote, stop, err := serveInProcess(srv, stopServer, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return remote
}

// legacyServer is the gRPC service of a plugin built before batches: no
// HandleBatches, no forward-batches capability, none of the SDK 1.0 calls
// (Configure, HandleAction, CheckHealth, Shutdown) or their capabilities.
type legacyServer struct {
	pluginv1.UnimplementedPluginServer
	inner pluginv1.PluginServer
}

func (l legacyServer) Info(ctx context.Context, req *pluginv1.InfoRequest) (*pluginv1.InfoResponse, error) {
	resp, err := l.inner.Info(ctx, req)
	if err != nil {
		return nil, err
	}
	var caps []string
	for _, c := range resp.GetCapabilities() {
		switch c {
		case pluginlink.CapabilityForwardBatches, pluginlink.CapabilityConfigure, pluginlink.CapabilityEgress,
			pluginlink.CapabilityHealth, pluginlink.CapabilityShutdown:
		default:
			caps = append(caps, c)
		}
	}
	resp.Capabilities, resp.SdkVersion = caps, ""
	return resp, nil
}

func (l legacyServer) Handle(ctx context.Context, req *pluginv1.ForwardRequest) (*pluginv1.ForwardResponse, error) {
	return l.inner.Handle(ctx, req)
}

func (l legacyServer) HandleStream(s pluginv1.Plugin_HandleStreamServer) error {
	return l.inner.HandleStream(s)
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
			if got := info.HasCapability(pluginlink.CapabilityForwardBatches); got != tt.wantBatched {
				t.Fatalf("capability %s advertised = %v, want %v", pluginlink.CapabilityForwardBatches, got, tt.wantBatched)
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
					res, err := r.HandleForward(ctx, pluginapi.Forward{Platform: "test", Body: []byte(body)})
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
	body := strings.Repeat("x", pluginapi.MaxBodyBytes)
	var wg sync.WaitGroup
	for range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := r.HandleForward(ctx, pluginapi.Forward{Platform: "test", Body: []byte(body)})
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
			_, err := r.HandleForward(ctx, pluginapi.Forward{Platform: "test", Body: []byte("held")})
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
	if _, err := r.HandleForward(ctx, pluginapi.Forward{Platform: "test"}); !errors.Is(err, ErrPluginGone) {
		t.Errorf("forward after Close: err = %v, want ErrPluginGone", err)
	}
}

// gatedStream is the host's end of a HandleBatches stream that records the
// size of every batch sent and holds the first one until gate is closed.
type gatedStream struct {
	grpc.ClientStream
	gate    <-chan struct{}
	entered chan<- struct{} // told when the first batch is being sent
	mu      sync.Mutex
	sizes   []int
}

func (g *gatedStream) SendMsg(m any) error {
	g.mu.Lock()
	g.sizes = append(g.sizes, len(m.(*pluginv1.ForwardBatch).GetRequests()))
	first := len(g.sizes) == 1
	g.mu.Unlock()
	if first {
		g.entered <- struct{}{}
		<-g.gate
	}
	return g.ClientStream.SendMsg(m)
}

// TestForwardsQueuedDuringASendShareABatch holds the first batch in its send
// while ten more forwards queue, and checks that those ten leave as one
// batch, each answered.
func TestForwardsQueuedDuringASendShareABatch(t *testing.T) {
	gate := make(chan struct{})
	entered := make(chan struct{}, 1)
	stream := &gatedStream{gate: gate, entered: entered}
	intercept := func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		cs, err := streamer(ctx, desc, cc, method, opts...)
		if err != nil || method != pluginv1.Plugin_HandleBatches_FullMethodName {
			return cs, err
		}
		stream.ClientStream = cs
		return stream, nil
	}
	r := startInProcess(t, echoPlugin{}, false, func(o *inProcessOptions) {
		o.dial = append(o.dial, grpc.WithStreamInterceptor(intercept))
	})
	ctx, cancel := context.WithTimeout(context.Background(), streamTestTimeout)
	defer cancel()
	const queued = 10
	errs := make(chan error, queued+1)
	send := func(body string) {
		res, err := r.HandleForward(ctx, pluginapi.Forward{Platform: "test", Body: []byte(body)})
		if err == nil && (len(res.Events) != 1 || res.Events[0].Text != body) {
			err = fmt.Errorf("forward %q got %+v", body, res)
		}
		errs <- err
	}
	go send("first")
	select {
	case <-entered:
	case <-ctx.Done():
		t.Fatal("the first batch was never sent")
	}
	for i := range queued {
		go send(fmt.Sprintf("queued %d", i))
	}
	waitQueued(t, r, queued)
	close(gate)
	for range queued + 1 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	stream.mu.Lock()
	defer stream.mu.Unlock()
	if want := []int{1, queued}; !slices.Equal(stream.sizes, want) {
		t.Errorf("batches of %v forwards, want %v", stream.sizes, want)
	}
}

// waitQueued waits until n forwards wait for the batching sender.
func waitQueued(t *testing.T, r *Remote, n int) {
	t.Helper()
	deadline := time.Now().Add(streamTestTimeout)
	for len(r.sendq) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d forwards queued, want %d", len(r.sendq), n)
		}
		time.Sleep(time.Millisecond) // polling a queue length with no change notification; bounded above
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
			f := pluginapi.Forward{Platform: "test", Method: "POST", Path: "/test", Body: []byte(strings.Repeat("b", 1500))}
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
