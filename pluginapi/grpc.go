package pluginapi

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	pluginv1 "github.com/relayhost/relay-host/pluginapi/proto/relayplugin/v1"
	"google.golang.org/grpc"
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
	pluginv1.RegisterPluginServer(s, &grpcServer{impl: p.impl, logger: p.logger})
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

// grpcServer serves a Plugin implementation over gRPC, inside the plugin
// process.
type grpcServer struct {
	pluginv1.UnimplementedPluginServer
	impl   Plugin
	logger hclog.Logger
}

func (s *grpcServer) Info(context.Context, *pluginv1.InfoRequest) (*pluginv1.InfoResponse, error) {
	info := s.impl.Info()
	return &pluginv1.InfoResponse{
		Name: info.Name, Version: info.Version,
		Platforms: info.Platforms, Capabilities: info.Capabilities,
	}, nil
}

func (s *grpcServer) Handle(ctx context.Context, req *pluginv1.ForwardRequest) (*pluginv1.ForwardResponse, error) {
	return s.handle(ctx, req), nil
}

func (s *grpcServer) HandleStream(stream pluginv1.Plugin_HandleStreamServer) error {
	ctx := stream.Context()
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
		go func() {
			defer wg.Done()
			resp := s.handle(ctx, req)
			sendMu.Lock()
			defer sendMu.Unlock()
			if err := stream.Send(resp); err != nil {
				s.logger.Debug("send result to host failed", "id", req.GetId(), "error", err)
			}
		}()
	}
}

// handle runs one forward through the implementation with the SDK's
// guarantees: size limit, deadline, panic recovery and result validation.
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
		res = s.call(withLogger(ctx, s.logger), f)
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

	sendMu sync.Mutex // gRPC client streams allow one sender at a time
	stream pluginv1.Plugin_HandleStreamClient

	mu      sync.Mutex
	nextID  uint64
	pending map[uint64]chan *pluginv1.ForwardResponse
	err     error
}

func newRemote(c pluginv1.PluginClient) *Remote {
	return &Remote{client: c, done: make(chan struct{}), pending: make(map[uint64]chan *pluginv1.ForwardResponse)}
}

// open starts the forward stream; it is called once, right after dispensing.
func (r *Remote) open() error {
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := r.client.HandleStream(ctx, grpc.MaxCallRecvMsgSize(MaxMessageBytes), grpc.MaxCallSendMsgSize(MaxMessageBytes))
	if err != nil {
		cancel()
		return fmt.Errorf("open forward stream: %w", err)
	}
	r.cancel, r.stream = cancel, stream
	go r.receive()
	return nil
}

func (r *Remote) receive() {
	for {
		resp, err := r.stream.Recv()
		if err != nil {
			r.fail(fmt.Errorf("%w: %v", ErrPluginGone, err))
			return
		}
		r.mu.Lock()
		ch, ok := r.pending[resp.GetId()]
		delete(r.pending, resp.GetId())
		r.mu.Unlock()
		if ok {
			ch <- resp
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

// Close ends the forward stream; waiting forwards fail with ErrPluginGone.
func (r *Remote) Close() {
	r.fail(fmt.Errorf("%w: closed by the host", ErrPluginGone))
	if r.cancel != nil {
		r.cancel()
	}
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
	r.sendMu.Lock()
	err := r.stream.Send(req)
	r.sendMu.Unlock()
	if err != nil {
		r.forget(id)
		return Result{}, fmt.Errorf("%w: send: %v", ErrPluginGone, err)
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
