package pluginapi

// This file is the plugin's gRPC service: it runs forwards through the
// Plugin implementation and sends the results back. Serve serves it over
// go-plugin (serve.go); package launcher's ServeInProcess serves it in
// memory (link.go).

import (
	"context"
	"fmt"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/relayhost/relay-host/internal/pluginlink"
	"github.com/relayhost/relay-host/internal/workers"
	pluginv1 "github.com/relayhost/relay-host/pluginapi/proto/relayplugin/v1"
	"google.golang.org/protobuf/proto"
)

// grpcServer serves a Plugin implementation over gRPC, inside the plugin
// process.
type grpcServer struct {
	pluginv1.UnimplementedPluginServer
	impl   Plugin
	logger hclog.Logger
	// workers run the forwards: at most maxWorkers at once, the rest in
	// arrival order. Workers are kept once started, so a forward starts
	// on a goroutine whose stack has already grown.
	workers  *workers.Pool
	stop     chan struct{} // closed by close
	stopOnce sync.Once
	// metadataJSON: the host listed HostCapabilityMetadataJSON in its
	// InfoRequest, so event metadata travels as JSON (wire.go).
	metadataJSON atomic.Bool
}

func newGRPCServer(impl Plugin, logger hclog.Logger) *grpcServer {
	stop := make(chan struct{})
	return &grpcServer{impl: impl, logger: logger, stop: stop, workers: workers.NewBounded(maxWorkers, workQueue, stop)}
}

// close stops the workers once the streams feeding them have ended
// (in-process plugins; a plugin process simply exits). A forward queued
// after it runs on the caller's goroutine.
func (s *grpcServer) close() { s.stopOnce.Do(func() { close(s.stop) }) }

// Info implements the Info RPC: the plugin's Info, plus the capabilities
// this SDK provides for the plugin (capabilities).
func (s *grpcServer) Info(_ context.Context, req *pluginv1.InfoRequest) (*pluginv1.InfoResponse, error) {
	s.metadataJSON.Store(slices.Contains(req.GetHostCapabilities(), pluginlink.HostCapabilityMetadataJSON))
	return infoToWire(s.impl.Info(), capabilities(s.impl)...), nil
}

// Handle implements the unary Handle RPC: one forward, one result.
func (s *grpcServer) Handle(ctx context.Context, req *pluginv1.ForwardRequest) (*pluginv1.ForwardResponse, error) {
	return s.handle(withLogger(ctx, s.logger), req), nil
}

// HandleStream implements the per-forward stream of hosts that predate
// batches: one message per forward each way, results in completion order.
func (s *grpcServer) HandleStream(stream pluginv1.Plugin_HandleStreamServer) error {
	ctx := withLogger(stream.Context(), s.logger)
	var (
		sendMu sync.Mutex
		wg     sync.WaitGroup
	)
	defer wg.Wait()
	for {
		req, err := stream.Recv()
		if err != nil {
			return nil // the host closed the stream or went away
		}
		wg.Add(1)
		s.workers.Go(func() {
			defer wg.Done()
			resp := s.handle(ctx, req)
			sendMu.Lock()
			defer sendMu.Unlock()
			if err := stream.Send(resp); err != nil {
				s.logger.Debug("send result to host failed", "id", req.GetId(), "error", err)
			}
		})
	}
}

// HandleBatches implements the batched stream (CapabilityForwardBatches):
// forwards arrive in batches, and results leave in batches of whatever is
// ready.
func (s *grpcServer) HandleBatches(stream pluginv1.Plugin_HandleBatchesServer) error {
	ctx := withLogger(stream.Context(), s.logger)
	results := make(chan *pluginv1.ForwardResponse, pluginlink.BatchQueue)
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		s.sendResults(stream, results)
	}()
	var wg sync.WaitGroup
	for {
		batch, err := stream.Recv()
		if err != nil {
			break // the host closed the stream or went away
		}
		for _, req := range batch.GetRequests() {
			wg.Add(1)
			s.workers.Go(func() {
				defer wg.Done()
				results <- s.handle(ctx, req)
			})
		}
	}
	wg.Wait()
	close(results)
	<-sent
	return nil
}

// sendResults sends results in batches until results is closed. After a
// failed send it keeps draining, so that no worker blocks on a dead stream.
func (s *grpcServer) sendResults(stream pluginv1.Plugin_HandleBatchesServer, results <-chan *pluginv1.ForwardResponse) {
	var carry *pluginv1.ForwardResponse
	broken := false
	for {
		first := carry
		carry = nil
		if first == nil {
			var ok bool
			if first, ok = <-results; !ok {
				return
			}
		}
		batch := &pluginv1.ForwardResponseBatch{Responses: []*pluginv1.ForwardResponse{first}}
		size := proto.Size(first)
	fill:
		for len(batch.Responses) < pluginlink.MaxBatchForwards {
			select {
			case r, ok := <-results:
				if !ok {
					break fill
				}
				n := proto.Size(r)
				if size+n > pluginlink.BatchTargetBytes {
					carry = r
					break fill
				}
				batch.Responses = append(batch.Responses, r)
				size += n
			default:
				break fill
			}
		}
		if broken {
			continue
		}
		if err := stream.Send(batch); err != nil {
			broken = true
			s.logger.Debug("send results to host failed; discarding the rest", "results", len(batch.Responses), "error", err)
		}
	}
}

// handle runs one forward through the implementation with the SDK's
// guarantees: size limit, deadline, panic recovery, result validation and
// the result caps (MaxResultEvents, MaxResultBytes).
// ctx carries the plugin's logger (withLogger).
func (s *grpcServer) handle(ctx context.Context, req *pluginv1.ForwardRequest) *pluginv1.ForwardResponse {
	f := forwardFromWire(req.GetForward())
	if f.ID != "" {
		ctx = withForward(ctx, f)
	}
	var res Result
	if len(f.Body) > MaxBodyBytes {
		res = Rejectf("body is %d bytes, over the %d-byte limit", len(f.Body), MaxBodyBytes)
	} else {
		if dl := req.GetDeadlineUnixNano(); dl > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, time.Unix(0, dl))
			defer cancel()
		}
		res = capEvents(s.call(ctx, f), s.logger)
	}
	enc := wireEncoding{metadataJSON: s.metadataJSON.Load()}
	w, err := enc.result(req.GetId(), res)
	if err != nil {
		s.logger.Error("plugin returned a result that cannot be encoded; rejecting the forward", "error", err)
		w, _ = enc.result(req.GetId(), Rejectf("plugin returned a result that cannot be encoded: %v", err))
	}
	return capBytes(w, s.logger)
}

// call invokes the implementation, turning a panic into a Rejected result
// and normalising what the implementation returned.
func (s *grpcServer) call(ctx context.Context, f Forward) (res Result) {
	defer func() {
		if p := recover(); p != nil {
			// The panic value may quote the body, so it stays at debug; the
			// stack holds no values and goes out at error.
			s.logger.Error("plugin panicked while handling a forward; the forward is rejected and the plugin keeps serving",
				"platform", f.Platform, "path", f.Path, "stack", string(debug.Stack()))
			s.logger.Debug("panic value", "value", fmt.Sprint(p))
			res = Reject("plugin panicked while handling the forward (see the plugin's log)")
		}
	}()
	res = s.impl.HandleForward(ctx, f)
	return normalise(res, s.logger)
}

// normalise makes a result well-formed: a valid disposition, events only
// when handled, a non-nil event list.
func normalise(res Result, logger hclog.Logger) Result {
	if !res.Disposition.Valid() {
		logger.Warn("plugin returned an invalid disposition; rejecting", "disposition", string(res.Disposition))
		return Reject(fmt.Sprintf("plugin returned an invalid disposition %q", string(res.Disposition)))
	}
	if res.Disposition != Handled && len(res.Events) > 0 {
		logger.Warn("plugin returned events with a non-handled disposition; events discarded",
			"disposition", string(res.Disposition), "events", len(res.Events))
		res.Events = nil
	}
	if res.Events == nil {
		res.Events = []MessageEvent{}
	}
	return res
}
