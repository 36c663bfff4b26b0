package pluginapi

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	pluginv1 "github.com/relayhost/relay-host/pluginapi/proto/relayplugin/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// HandshakeConfig is the go-plugin handshake shared by the host and every
// plugin. The magic cookie only guards against running a plugin by hand; it is
// not a security feature.
func HandshakeConfig() plugin.HandshakeConfig {
	return plugin.HandshakeConfig{
		ProtocolVersion:  ProtocolVersion,
		MagicCookieKey:   "RELAY_HOST_PLUGIN",
		MagicCookieValue: "relay-host-plugin-v1-0b8f5c1e",
	}
}

// grpcPlugin is the go-plugin glue: on the plugin side it registers impl as
// the gRPC server; on the host side it builds a Remote.
type grpcPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	impl   Plugin
	logger hclog.Logger
}

var _ plugin.GRPCPlugin = (*grpcPlugin)(nil)

func (p *grpcPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pluginv1.RegisterPluginServer(s, newGRPCServer(p.impl, p.logger))
	return nil
}

func (p *grpcPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return newRemote(pluginv1.NewPluginClient(c)), nil
}

// pluginSets is the VersionedPlugins map of both sides.
func pluginSets(impl Plugin, logger hclog.Logger) map[int]plugin.PluginSet {
	return map[int]plugin.PluginSet{
		ProtocolVersion: {pluginName: &grpcPlugin{impl: impl, logger: logger}},
	}
}

// Batching of the forward stream (HandleBatches) and the plugin's workers.
const (
	// CapabilityForwardBatches is the capability of a plugin that serves
	// HandleBatches. Serve advertises it for every plugin; the host then
	// sends forwards in batches instead of one message each.
	CapabilityForwardBatches = "forward-batches"
	// maxBatchForwards caps the forwards (or results) in one batch message.
	// A batch holds whatever queued up while the previous one was being
	// sent; by a few dozen the per-message cost is amortised to almost
	// nothing, and a bounded batch lets the plugin start on the first
	// forwards sooner.
	maxBatchForwards = 64
	// maxBatchBytes caps a batch's estimated encoded size. A forward or
	// result larger than this still travels, alone. A quarter of
	// MaxMessageBytes leaves ample room for what the estimate misses.
	maxBatchBytes = MaxMessageBytes / 4
	// batchQueue is the depth of the queues feeding each batching sender:
	// the host's default dispatch window (plugins.DefaultMaxInFlight), so
	// callers rarely wait for room while a batch is on its way.
	batchQueue = 256
	// maxWorkers bounds the forwards a plugin runs at once; more wait in
	// order. A conversion is CPU work of some microseconds, so a handful of
	// workers per core keeps the cores busy; 64 also leaves room for
	// plugins that wait on I/O. Workers are kept once started: reusing a
	// goroutine spares a new one and its stack growth per forward (a
	// conversion recurses into the JSON it parses, which showed up as a few
	// percent of the Discord plugin's CPU).
	maxWorkers = 64
	// workQueue is how many forwards may wait for a worker: the host's
	// dispatch window (plugins.DefaultMaxInFlight) several times over, so
	// the stream's reader does not stall behind busy workers.
	workQueue = 1024
)

// grpcServer serves a Plugin implementation over gRPC, inside the plugin
// process.
type grpcServer struct {
	pluginv1.UnimplementedPluginServer
	impl    Plugin
	logger  hclog.Logger
	workers *workerPool
	// legacy makes the server behave like a plugin built before
	// HandleBatches, for compatibility tests.
	legacy bool
}

func newGRPCServer(impl Plugin, logger hclog.Logger) *grpcServer {
	return &grpcServer{impl: impl, logger: logger, workers: newWorkerPool()}
}

func (s *grpcServer) Info(context.Context, *pluginv1.InfoRequest) (*pluginv1.InfoResponse, error) {
	info := s.impl.Info()
	caps := append([]string(nil), info.Capabilities...)
	if !s.legacy && !info.HasCapability(CapabilityForwardBatches) {
		caps = append(caps, CapabilityForwardBatches)
	}
	return &pluginv1.InfoResponse{
		Name: info.Name, Version: info.Version,
		Platforms: info.Platforms, Capabilities: caps,
	}, nil
}

func (s *grpcServer) Handle(ctx context.Context, req *pluginv1.ForwardRequest) (*pluginv1.ForwardResponse, error) {
	return s.handle(withLogger(ctx, s.logger), req), nil
}

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
		s.workers.run(func() {
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

func (s *grpcServer) HandleBatches(stream pluginv1.Plugin_HandleBatchesServer) error {
	if s.legacy {
		return s.UnimplementedPluginServer.HandleBatches(stream)
	}
	ctx := withLogger(stream.Context(), s.logger)
	results := make(chan *pluginv1.ForwardResponse, batchQueue)
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
			s.workers.run(func() {
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
		for len(batch.Responses) < maxBatchForwards {
			select {
			case r, ok := <-results:
				if !ok {
					break fill
				}
				n := proto.Size(r)
				if size+n > maxBatchBytes {
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

// workerPool runs forwards on up to maxWorkers long-lived goroutines, in
// arrival order; while all are busy, forwards wait in a queue. Workers are
// started as needed and kept, so a forward starts on a goroutine whose stack
// has already grown.
type workerPool struct {
	queue   chan func()
	stop    chan struct{}
	workers atomic.Int32 // started
	idle    atomic.Int32 // waiting for work
	once    sync.Once
}

func newWorkerPool() *workerPool {
	return &workerPool{queue: make(chan func(), workQueue), stop: make(chan struct{})}
}

// run queues f, starting a worker when none is idle and the pool is not full.
func (p *workerPool) run(f func()) {
	if p.idle.Load() == 0 {
		if n := p.workers.Add(1); n <= maxWorkers {
			go p.loop()
		} else {
			p.workers.Add(-1)
		}
	}
	select {
	case p.queue <- f:
	case <-p.stop:
		f() // no workers any more: run it here, so nothing waits on it forever
	}
}

func (p *workerPool) loop() {
	for {
		p.idle.Add(1)
		select {
		case f := <-p.queue:
			p.idle.Add(-1)
			f()
		case <-p.stop:
			p.idle.Add(-1)
			return
		}
	}
}

// close stops the workers once the streams feeding them have ended
// (in-process plugins; a plugin process simply exits). A late run call
// runs its function inline.
func (p *workerPool) close() { p.once.Do(func() { close(p.stop) }) }

// handle runs one forward through the implementation with the SDK's
// guarantees: size limit, deadline, panic recovery and result validation.
// ctx carries the plugin's logger (withLogger).
func (s *grpcServer) handle(ctx context.Context, req *pluginv1.ForwardRequest) *pluginv1.ForwardResponse {
	f := forwardFromWire(req.GetForward())
	var res Result
	if len(f.Body) > MaxBodyBytes {
		res = Rejectf("body is %d bytes, over the %d-byte limit", len(f.Body), MaxBodyBytes)
	} else {
		if dl := req.GetDeadlineUnixNano(); dl > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, time.Unix(0, dl))
			defer cancel()
		}
		res = s.call(ctx, f)
	}
	w, err := resultToWire(req.GetId(), res)
	if err != nil {
		s.logger.Error("plugin returned a result that cannot be encoded; rejecting the forward", "error", err)
		w, _ = resultToWire(req.GetId(), Rejectf("plugin returned a result that cannot be encoded: %v", err))
	}
	return w
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

// ErrPluginGone is returned for a forward whose plugin process died or whose
// connection broke before it answered. The forward was not handled and must
// not be acknowledged; the connector redelivers it.
var ErrPluginGone = errors.New("plugin connection lost")

// Remote is the host's view of one running plugin: it sends forwards down
// one long-lived gRPC stream and matches the results by id. It is safe for
// concurrent use.
type Remote struct {
	client pluginv1.PluginClient

	cancel context.CancelFunc
	done   chan struct{} // closed when the stream broke or Close was called
	wg     sync.WaitGroup

	// Exactly one of the two streams is open. With HandleStream, callers
	// send their own request under sendMu; with HandleBatches they queue it
	// on sendq for the sending goroutine, which batches what it finds.
	sendMu  sync.Mutex // gRPC client streams allow one sender at a time
	stream  pluginv1.Plugin_HandleStreamClient
	batches pluginv1.Plugin_HandleBatchesClient
	sendq   chan queuedRequest

	mu      sync.Mutex
	nextID  uint64
	pending map[uint64]chan *pluginv1.ForwardResponse
	err     error
}

// queuedRequest is a forward waiting for the batching sender, with its
// estimated encoded size.
type queuedRequest struct {
	req  *pluginv1.ForwardRequest
	size int
}

func newRemote(c pluginv1.PluginClient) *Remote {
	return &Remote{client: c, done: make(chan struct{}), pending: make(map[uint64]chan *pluginv1.ForwardResponse)}
}

// open starts the forward stream; it is called once, after Info, with
// whether the plugin advertised CapabilityForwardBatches.
func (r *Remote) open(batched bool) error {
	ctx, cancel := context.WithCancel(context.Background())
	opts := []grpc.CallOption{grpc.MaxCallRecvMsgSize(MaxMessageBytes), grpc.MaxCallSendMsgSize(MaxMessageBytes)}
	r.cancel = cancel
	if batched {
		stream, err := r.client.HandleBatches(ctx, opts...)
		if err != nil {
			cancel()
			return fmt.Errorf("open forward stream: %w", err)
		}
		r.batches, r.sendq = stream, make(chan queuedRequest, batchQueue)
		r.wg.Add(2)
		go r.receiveBatches()
		go r.sendBatches()
		return nil
	}
	stream, err := r.client.HandleStream(ctx, opts...)
	if err != nil {
		cancel()
		return fmt.Errorf("open forward stream: %w", err)
	}
	r.stream = stream
	r.wg.Add(1)
	go r.receive()
	return nil
}

// Batched reports whether forwards travel in batches (HandleBatches).
func (r *Remote) Batched() bool { return r.batches != nil }

func (r *Remote) receive() {
	defer r.wg.Done()
	for {
		resp, err := r.stream.Recv()
		if err != nil {
			r.fail(fmt.Errorf("%w: %v", ErrPluginGone, err))
			return
		}
		r.deliver(resp)
	}
}

func (r *Remote) receiveBatches() {
	defer r.wg.Done()
	for {
		batch, err := r.batches.Recv()
		if err != nil {
			r.fail(fmt.Errorf("%w: %v", ErrPluginGone, err))
			return
		}
		for _, resp := range batch.GetResponses() {
			r.deliver(resp)
		}
	}
}

// deliver hands a response to the forward waiting for it, if any.
func (r *Remote) deliver(resp *pluginv1.ForwardResponse) {
	r.mu.Lock()
	ch, ok := r.pending[resp.GetId()]
	delete(r.pending, resp.GetId())
	r.mu.Unlock()
	if ok {
		ch <- resp
	}
}

// sendBatches sends queued forwards until the link fails or is closed: it
// waits for one, adds whatever else is already queued (up to the batch
// limits) and sends them as one message. A lone forward goes out at once.
func (r *Remote) sendBatches() {
	defer r.wg.Done()
	var carry *queuedRequest
	for {
		var first queuedRequest
		if carry != nil {
			first, carry = *carry, nil
		} else {
			select {
			case first = <-r.sendq:
			case <-r.done:
				return
			}
		}
		batch := &pluginv1.ForwardBatch{Requests: []*pluginv1.ForwardRequest{first.req}}
		size := first.size
	fill:
		for len(batch.Requests) < maxBatchForwards {
			select {
			case q := <-r.sendq:
				if size+q.size > maxBatchBytes {
					carry = &q
					break fill
				}
				batch.Requests = append(batch.Requests, q.req)
				size += q.size
			default:
				break fill
			}
		}
		if err := r.batches.Send(batch); err != nil {
			r.fail(fmt.Errorf("%w: send: %v", ErrPluginGone, err))
			return
		}
	}
}

// fail marks the remote broken and wakes every waiting forward.
func (r *Remote) fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return
	}
	r.err = err
	for id, ch := range r.pending {
		close(ch)
		delete(r.pending, id)
	}
	close(r.done)
}

// Done is closed when the link to the plugin broke (its process died) or
// Close was called.
func (r *Remote) Done() <-chan struct{} { return r.done }

// Err says why Done was closed; nil while the link is up.
func (r *Remote) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// Close ends the forward stream and waits for its goroutines; waiting
// forwards fail with ErrPluginGone.
func (r *Remote) Close() {
	r.fail(fmt.Errorf("%w: closed by the host", ErrPluginGone))
	if r.cancel != nil {
		r.cancel()
	}
	r.wg.Wait()
}

// Info asks the plugin to describe itself.
func (r *Remote) Info(ctx context.Context) (Info, error) {
	resp, err := r.client.Info(ctx, &pluginv1.InfoRequest{})
	if err != nil {
		return Info{}, fmt.Errorf("plugin info: %w", err)
	}
	return Info{
		Name: resp.GetName(), Version: resp.GetVersion(),
		Platforms: resp.GetPlatforms(), Capabilities: resp.GetCapabilities(),
	}, nil
}

// HandleForward sends one forward to the plugin and waits for its result.
// A body over MaxBodyBytes is rejected without a round trip. The error is
// non-nil only when the plugin did not answer: ErrPluginGone, or ctx's error.
func (r *Remote) HandleForward(ctx context.Context, f Forward) (Result, error) {
	if len(f.Body) > MaxBodyBytes {
		return Rejectf("body is %d bytes, over the %d-byte limit", len(f.Body), MaxBodyBytes), nil
	}
	ch := make(chan *pluginv1.ForwardResponse, 1)
	r.mu.Lock()
	if r.err != nil {
		err := r.err
		r.mu.Unlock()
		return Result{}, err
	}
	r.nextID++
	id := r.nextID
	r.pending[id] = ch
	r.mu.Unlock()

	req := &pluginv1.ForwardRequest{Id: id, Forward: forwardToWire(f)}
	if dl, ok := ctx.Deadline(); ok {
		req.DeadlineUnixNano = dl.UnixNano()
	}
	if r.sendq != nil {
		select {
		case r.sendq <- queuedRequest{req: req, size: estimateSize(f)}:
		case <-r.done:
			return Result{}, r.Err()
		case <-ctx.Done():
			r.forget(id)
			return Result{}, fmt.Errorf("waiting to send to the plugin: %w", ctx.Err())
		}
	} else {
		r.sendMu.Lock()
		err := r.stream.Send(req)
		r.sendMu.Unlock()
		if err != nil {
			r.forget(id)
			return Result{}, fmt.Errorf("%w: send: %v", ErrPluginGone, err)
		}
	}
	select {
	case resp, ok := <-ch:
		if !ok {
			return Result{}, r.Err()
		}
		return resultFromWire(resp), nil
	case <-ctx.Done():
		r.forget(id)
		return Result{}, fmt.Errorf("waiting for the plugin: %w", ctx.Err())
	}
}

// estimateSize is about the encoded size of f as a ForwardRequest, for
// batch limits: the variable parts plus a generous allowance per field.
func estimateSize(f Forward) int {
	n := len(f.Body) + len(f.Platform) + len(f.BotID) + len(f.Method) + len(f.Path) + len(f.Profile) + len(f.BufferID) + 64
	for _, h := range f.Headers {
		n += len(h.Name) + len(h.Value) + 8
	}
	return n
}

func (r *Remote) forget(id uint64) {
	r.mu.Lock()
	delete(r.pending, id)
	r.mu.Unlock()
}

// grpcDialOptions raises the host side's message limits to MaxMessageBytes.
func grpcDialOptions() []grpc.DialOption {
	return []grpc.DialOption{grpc.WithDefaultCallOptions(
		grpc.MaxCallRecvMsgSize(MaxMessageBytes), grpc.MaxCallSendMsgSize(MaxMessageBytes))}
}
