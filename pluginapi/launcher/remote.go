package launcher

import (
	"context"
	"fmt"
	"sync"

	"github.com/relayhost/relay-host/internal/pluginlink"
	"github.com/relayhost/relay-host/pluginapi"
	pluginv1 "github.com/relayhost/relay-host/pluginapi/proto/relayplugin/v1"
	"google.golang.org/grpc"
)

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
	pending map[uint64]chan received
	err     error
	// codec decodes the forward stream's messages and tells their size.
	codec *sizedCodec
	// replies recycles the channels forwards wait on (replyChan).
	replies sync.Pool
	// info is the plugin's last Info answer: the capabilities the SDK 1.0
	// calls check (calls.go).
	info pluginapi.Info
	// generation counts the configurations sent (Configure).
	generation uint64
}

// received is a plugin's response handed to the forward waiting for it;
// sized says the message it came in was small enough that the response
// is within pluginapi.MaxResultBytes without measuring it.
type received struct {
	resp  *pluginv1.ForwardResponse
	sized bool
}

// queuedRequest is a forward waiting for the batching sender, with its
// estimated encoded size.
type queuedRequest struct {
	req  *pluginv1.ForwardRequest
	size int
}

// newRemote returns the Remote of a connected plugin; open starts its
// forward stream.
func newRemote(c pluginv1.PluginClient) *Remote {
	return &Remote{client: c, done: make(chan struct{}), pending: make(map[uint64]chan received), codec: newSizedCodec()}
}

// open starts the forward stream; it is called once, after Info, with
// whether the plugin advertised the forward-batches capability.
func (r *Remote) open(batched bool) error {
	ctx, cancel := context.WithCancel(context.Background())
	opts := []grpc.CallOption{grpc.MaxCallRecvMsgSize(pluginapi.MaxMessageBytes), grpc.MaxCallSendMsgSize(pluginapi.MaxMessageBytes),
		grpc.ForceCodecV2(r.codec)}
	r.cancel = cancel
	if batched {
		stream, err := r.client.HandleBatches(ctx, opts...)
		if err != nil {
			cancel()
			return fmt.Errorf("open forward stream: %w", err)
		}
		r.batches, r.sendq = stream, make(chan queuedRequest, pluginlink.BatchQueue)
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
		r.deliver(resp, r.codec.lastSize() <= pluginapi.MaxResultBytes)
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
		sized := r.codec.lastSize() <= pluginapi.MaxResultBytes
		for _, resp := range batch.GetResponses() {
			r.deliver(resp, sized)
		}
	}
}

// deliver hands a response to the forward waiting for it, if any.
func (r *Remote) deliver(resp *pluginv1.ForwardResponse, sized bool) {
	r.mu.Lock()
	ch, ok := r.pending[resp.GetId()]
	delete(r.pending, resp.GetId())
	r.mu.Unlock()
	if ok {
		ch <- received{resp: resp, sized: sized}
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
		for len(batch.Requests) < pluginlink.MaxBatchForwards {
			select {
			case q := <-r.sendq:
				if size+q.size > pluginlink.BatchTargetBytes {
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

// hostCapabilities are what the host tells every plugin it supports
// (InfoRequest.host_capabilities).
func hostCapabilities() []string { return []string{pluginlink.HostCapabilityMetadataJSON} }

// Info asks the plugin to describe itself, and tells it what the host
// supports.
func (r *Remote) Info(ctx context.Context) (pluginapi.Info, error) {
	resp, err := r.client.Info(ctx, &pluginv1.InfoRequest{HostCapabilities: hostCapabilities()})
	if err != nil {
		return pluginapi.Info{}, fmt.Errorf("plugin info: %w", err)
	}
	info := infoFromWire(resp)
	r.mu.Lock()
	r.info = info
	r.mu.Unlock()
	return info, nil
}

// HandleForward sends one forward to the plugin and waits for its result.
// A body over pluginapi.MaxBodyBytes, and a forward that cannot be encoded
// (checkForward), are rejected without a round trip. The error is
// non-nil only when the plugin did not answer: ErrPluginGone, or ctx's error.
func (r *Remote) HandleForward(ctx context.Context, f pluginapi.Forward) (pluginapi.Result, error) {
	if len(f.Body) > pluginapi.MaxBodyBytes {
		return pluginapi.Rejectf("body is %d bytes, over the %d-byte limit", len(f.Body), pluginapi.MaxBodyBytes), nil
	}
	size := estimateSize(f)
	if reason := checkForward(f, size); reason != "" {
		return pluginapi.Reject(reason), nil // alone: the stream and the other forwards on it are untouched
	}
	ch := r.replyChan()
	r.mu.Lock()
	if r.err != nil {
		err := r.err
		r.mu.Unlock()
		return pluginapi.Result{}, err
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
		case r.sendq <- queuedRequest{req: req, size: size}:
		case <-r.done:
			return pluginapi.Result{}, r.Err()
		case <-ctx.Done():
			r.forget(id)
			return pluginapi.Result{}, fmt.Errorf("waiting to send to the plugin: %w", ctx.Err())
		}
	} else {
		r.sendMu.Lock()
		err := r.stream.Send(req)
		r.sendMu.Unlock()
		if err != nil {
			r.forget(id)
			return pluginapi.Result{}, fmt.Errorf("%w: send: %v", ErrPluginGone, err)
		}
	}
	select {
	case got, ok := <-ch:
		if !ok {
			return pluginapi.Result{}, r.Err()
		}
		r.replies.Put(ch) // its one send is done: it is empty and unreferenced
		return resultFromWire(got.resp, !got.sized), nil
	case <-ctx.Done():
		r.forget(id)
		return pluginapi.Result{}, fmt.Errorf("waiting for the plugin: %w", ctx.Err())
	}
}

// replyChan returns a channel for one forward's response: a recycled one
// when there is one. A channel goes back to the pool only once its forward
// received on it, so no late send can reach its next user; one abandoned
// by a forward that gave up (or closed by fail) is left to the collector.
func (r *Remote) replyChan() chan received {
	if ch, ok := r.replies.Get().(chan received); ok {
		return ch
	}
	return make(chan received, 1)
}

// estimateSize is about the encoded size of f as a ForwardRequest, for
// batch limits: the variable parts plus a generous allowance per field.
func estimateSize(f pluginapi.Forward) int {
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

// grpcDialOptions raises the host side's message limits to
// pluginapi.MaxMessageBytes.
func grpcDialOptions() []grpc.DialOption {
	return []grpc.DialOption{grpc.WithDefaultCallOptions(
		grpc.MaxCallRecvMsgSize(pluginapi.MaxMessageBytes), grpc.MaxCallSendMsgSize(pluginapi.MaxMessageBytes)),
		grpc.WithInitialWindowSize(pluginlink.WindowBytes), grpc.WithInitialConnWindowSize(pluginlink.WindowBytes)}
}
