package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/relayhost/relay-host/host/internal/devconnector"
	"github.com/relayhost/relay-host/host/internal/gather"
	"github.com/relayhost/relay-host/host/internal/wire"
	"github.com/relayhost/relay-host/host/relay"
	"github.com/relayhost/relay-host/internal/notify"
	"github.com/relayhost/relay-host/pluginapi"
)

// Connector timings and sizes.
const (
	// connWriteTimeout bounds every write. Loopback writes take
	// microseconds; a peer that does not read for this long is broken and
	// the bench fails rather than hangs.
	connWriteTimeout = 10 * time.Second
	// readHeaderTimeout bounds the HTTP upgrade request.
	readHeaderTimeout = 10 * time.Second
	// outQueue is the depth of a connection's write queue: several times
	// the in-flight window, so neither the sender nor the reader waits for
	// the writer in the normal course.
	outQueue = 4096
)

// Config configures a Connector.
type Config struct {
	// Addr is the listen address; it must be a loopback address
	// (CheckLoopback). "127.0.0.1:0" when empty.
	Addr string
	// GatewayID and Secret authenticate the peer's upgrade bearer
	// (docs/protocol.md, Upgrade token); both are required.
	GatewayID, Secret string
	// BotID is the Discord application id the forwards are addressed to.
	BotID string
}

// Connector is a purpose-built relay connector for load measurements: it
// serves /relay on loopback, authenticates the upgrade, answers hellos with
// descriptors, outbound requests with success and going_idle with its ack,
// and pushes passthrough forwards (each with a bufferId) at a chosen rate,
// timing each one from its write to the inbound_ack that settles it.
//
// Unlike the dev connector (host/internal/devconnector) it records nothing
// per frame and keeps no durable buffer: everything it tracks is bounded by the in-flight window, so its
// own cost stays small and constant next to the peer it measures.
type Connector struct {
	cfg  Config
	ln   net.Listener
	srv  *http.Server
	base context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup

	followUps atomic.Int64 // follow_up requests received, ever
	outbounds atomic.Int64 // outbound requests received, ever
	frames    sync.Pool    // frame buffers, recycled by the writers

	mu      sync.Mutex
	peer    *peer         // the newest connection that completed a handshake
	changed notify.Signal // notified when peer changes
	run     *tracker      // the phase in progress, nil between phases
	nextRun int
}

// peer is one accepted connection. All its writes go through one writer
// goroutine, which sends whatever is queued in one syscall (gather.Conn),
// so the connector's own cost per frame stays low.
type peer struct {
	ws         *websocket.Conn
	gc         *gather.Conn // under ws; nil if the listener did not wrap it
	frames     *sync.Pool   // where written frame buffers go back
	out        chan []byte
	gone       chan struct{} // closed when the connection ended
	handshaked bool          // guarded by Connector.mu

	// answers are the frames that answer the peer (descriptors, results,
	// going_idle_ack): the writer sends them ahead of queued forwards, and
	// queueing one never blocks, so the connection's reader never waits
	// for the writer. A connector that stopped reading whenever its pushes
	// were held back would deadlock with a peer that holds them back until
	// its replies' results arrive. Bounded by the peer's own requests.
	amu     sync.Mutex
	answers [][]byte
	answer  chan struct{} // poked (never blocking) when answers grew
}

// frameBufferSize fits a typical forward frame (bodies of a few KiB,
// base64-encoded) without growing.
const frameBufferSize = 4 << 10

// write sends one frame as one text message and recycles its buffer.
func (p *peer) write(b []byte) error {
	err := p.ws.Write(context.Background(), websocket.MessageText, b)
	p.frames.Put(b[:0]) //nolint:staticcheck // the slice header is small next to the buffer
	return err
}

// connKey carries the accepted connection to the upgrade handler.
type connKey struct{}

// answerWith queues a frame that answers the peer; it never blocks.
func (p *peer) answerWith(b []byte) {
	p.amu.Lock()
	p.answers = append(p.answers, b)
	p.amu.Unlock()
	select {
	case p.answer <- struct{}{}:
	default:
	}
}

// takeAnswers returns the queued answers, oldest first, and clears them.
func (p *peer) takeAnswers() [][]byte {
	p.amu.Lock()
	defer p.amu.Unlock()
	a := p.answers
	p.answers = nil
	return a
}

// queue hands a frame to the writer; it reports false once the connection
// is gone.
func (p *peer) queue(b []byte) bool {
	select {
	case p.out <- b:
		return true
	case <-p.gone:
		return false
	}
}

// writeLoop sends queued frames until the connection ends, each as its own
// WebSocket message, gathering what is queued into one write.
func (p *peer) writeLoop() {
	for {
		var b []byte
		select {
		case b = <-p.out:
		case <-p.answer:
		case <-p.gone:
			return
		}
		if p.gc != nil {
			p.gc.Hold()
		}
		var err error
		for _, a := range p.takeAnswers() {
			if err = p.ws.Write(context.Background(), websocket.MessageText, a); err != nil {
				break
			}
		}
		if err == nil && b != nil {
			err = p.write(b)
		}
	drain:
		for err == nil {
			for _, a := range p.takeAnswers() { // answers first
				if err = p.ws.Write(context.Background(), websocket.MessageText, a); err != nil {
					break drain
				}
			}
			select {
			case b = <-p.out:
				err = p.write(b)
			default:
				break drain
			}
		}
		if p.gc != nil {
			if rerr := p.gc.Release(); err == nil {
				err = rerr
			}
		}
		if err != nil {
			_ = p.ws.CloseNow()
			return
		}
	}
}

// CheckLoopback returns an error unless addr ("host:port") names a
// loopback address: the load tool pushes traffic as fast as it can and
// hands out a generated credential, so it never listens beyond this machine.
func CheckLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("connector address %q: want HOST:PORT on loopback, e.g. 127.0.0.1:0: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("connector address %q is not a loopback address: the load tool only runs on loopback (use 127.0.0.1 or [::1])", addr)
	}
	return nil
}

// Listen starts a Connector on cfg.Addr.
func Listen(cfg Config) (*Connector, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if err := CheckLoopback(cfg.Addr); err != nil {
		return nil, err
	}
	if cfg.GatewayID == "" || cfg.Secret == "" {
		return nil, errors.New("loadtest connector: GatewayID and Secret are required")
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	// Resolve "localhost" and check what was actually bound.
	if err := CheckLoopback(ln.Addr().String()); err != nil {
		ln.Close()
		return nil, err
	}
	base, stop := context.WithCancel(context.Background())
	c := &Connector{cfg: cfg, ln: ln, base: base, stop: stop}
	c.frames.New = func() any { return make([]byte, 0, frameBufferSize) }
	mux := http.NewServeMux()
	mux.HandleFunc(devconnector.RelayPath, c.serveRelay)
	c.srv = &http.Server{
		Handler: mux, ReadHeaderTimeout: readHeaderTimeout,
		ConnContext: func(ctx context.Context, nc net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, nc)
		},
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		_ = c.srv.Serve(gather.Listener{Listener: ln, Timeout: connWriteTimeout})
	}()
	return c, nil
}

// URL is the connector's base URL, as given to `relay-host run --connector`.
func (c *Connector) URL() string { return "http://" + c.ln.Addr().String() }

// Close stops the listener and drops every connection.
func (c *Connector) Close() {
	c.stop()
	_ = c.srv.Close()
	c.mu.Lock()
	p := c.peer
	c.mu.Unlock()
	if p != nil {
		_ = p.ws.CloseNow()
	}
	c.wg.Wait()
}

// WaitReady blocks until a peer has completed its handshake (its first
// hello was answered), or ctx ends; ctx must carry a deadline.
func (c *Connector) WaitReady(ctx context.Context) error {
	if err := c.waitPeer(ctx, true); err != nil {
		return fmt.Errorf("wait for the peer's handshake: %w", err)
	}
	return nil
}

// WaitGone blocks until no peer is connected (the one there was has left),
// or ctx ends; ctx must carry a deadline.
func (c *Connector) WaitGone(ctx context.Context) error {
	if err := c.waitPeer(ctx, false); err != nil {
		return fmt.Errorf("wait for the peer to leave: %w", err)
	}
	return nil
}

// waitPeer waits until a handshaked peer is connected (present) or none is
// (!present).
func (c *Connector) waitPeer(ctx context.Context, present bool) error {
	return c.changed.Wait(ctx, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return (c.peer != nil) == present
	})
}

// FollowUps returns the number of follow_up requests received so far.
func (c *Connector) FollowUps() int64 { return c.followUps.Load() }

func (c *Connector) authorized(r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return false
	}
	payload, ok := relay.VerifyToken(tok, []string{c.cfg.Secret}, time.Now())
	return ok && payload == c.cfg.GatewayID
}

func (c *Connector) serveRelay(w http.ResponseWriter, r *http.Request) {
	authed := c.authorized(r)
	ws, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	ws.SetReadLimit(wire.MaxMessageBytes)
	if !authed {
		_ = ws.Close(relay.UnauthorizedCloseCode, "unauthorized")
		return
	}
	p := &peer{ws: ws, frames: &c.frames, out: make(chan []byte, outQueue), gone: make(chan struct{}), answer: make(chan struct{}, 1)}
	p.gc, _ = r.Context().Value(connKey{}).(*gather.Conn)
	writer := make(chan struct{})
	go func() {
		defer close(writer)
		p.writeLoop()
	}()
	defer func() {
		c.mu.Lock()
		left := c.peer == p
		if left {
			c.peer = nil
		}
		c.mu.Unlock()
		if left {
			c.changed.Notify()
		}
		close(p.gone)
		_ = ws.CloseNow()
		<-writer
	}()
	c.read(p)
}

// read serves one connection until it ends.
func (c *Connector) read(p *peer) {
	sp := wire.NewSplitter(wire.MaxFrameBytes)
	var buf bytes.Buffer
	for {
		_, rd, err := p.ws.Reader(c.base)
		if err != nil {
			return
		}
		buf.Reset()
		if _, err := buf.ReadFrom(rd); err != nil {
			return
		}
		sp.Feed(buf.Bytes(), func(line []byte, err error) {
			if err == nil {
				c.handleLine(p, line)
			}
		})
	}
}

// How relay-host starts the frames it sends for every forward (an ack, and
// a follow_up): these skip the JSON decoder. Anything else is decoded.
var (
	ackPrefix      = []byte(`{"type":"inbound_ack","bufferId":"`)
	outboundPrefix = []byte(`{"type":"outbound","requestId":"`)
	followUpOp     = []byte(`"op":"follow_up"`)
)

// gatewayFrame holds the fields of a gateway→connector frame the connector
// acts on.
type gatewayFrame struct {
	Type      string `json:"type"`
	Platform  string `json:"platform"`
	RequestID string `json:"requestId"`
	BufferID  string `json:"bufferId"`
	Action    struct {
		Op string `json:"op"`
	} `json:"action"`
}

func (c *Connector) handleLine(p *peer, line []byte) {
	if rest, ok := bytes.CutPrefix(line, ackPrefix); ok {
		if end := bytes.IndexByte(rest, '"'); end >= 0 && bytes.Equal(rest[end:], []byte(`"}`)) {
			c.onAck(rest[:end])
			return
		}
	}
	if rest, ok := bytes.CutPrefix(line, outboundPrefix); ok {
		// relay-host's request ids are 32 hex digits: no escapes.
		if end := bytes.IndexByte(rest, '"'); end > 0 && bytes.IndexByte(rest[:end], '\\') < 0 {
			c.onOutbound(p, rest[:end], bytes.Contains(rest[end:], followUpOp))
			return
		}
	}
	var f gatewayFrame
	if json.Unmarshal(line, &f) != nil {
		return
	}
	switch f.Type {
	case "hello":
		c.onHello(p, f.Platform)
	case "outbound":
		c.onOutbound(p, []byte(f.RequestID), f.Action.Op == "follow_up")
	case "going_idle":
		p.answerWith([]byte(`{"type":"going_idle_ack"}` + "\n"))
	case "inbound_ack":
		c.onAck([]byte(f.BufferID))
	}
}

// onOutbound answers an outbound request with success.
func (c *Connector) onOutbound(p *peer, requestID []byte, followUp bool) {
	n := c.outbounds.Add(1)
	if followUp {
		c.followUps.Add(1)
	}
	res := make([]byte, 0, 128)
	res = append(res, `{"type":"outbound_result","requestId":`...)
	id, _ := json.Marshal(string(requestID)) // a string always encodes
	res = append(res, id...)
	res = append(res, `,"result":{"success":true,"message_id":"m-`...)
	res = strconv.AppendInt(res, n, 10)
	res = append(res, "\"}}\n"...)
	p.answerWith(res)
	c.progress()
}

func (c *Connector) onHello(p *peer, platform string) {
	b, err := json.Marshal(map[string]any{"type": "descriptor", "descriptor": devconnector.DefaultDescriptor(platform)})
	if err != nil {
		return
	}
	// The peer becomes current before its descriptor leaves: a peer that has
	// its descriptor may start a phase at once.
	c.mu.Lock()
	first := !p.handshaked
	if first {
		p.handshaked = true
		c.peer = p
	}
	c.mu.Unlock()
	if first {
		c.changed.Notify()
	}
	p.answerWith(append(b, '\n'))
}

// current returns the handshaked peer and the run in progress.
func (c *Connector) current() (*peer, *tracker) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.peer, c.run
}

func (c *Connector) onAck(id []byte) {
	// An ack of no current phase (a late one, after a kill) is ignored.
	if _, r := c.current(); r != nil {
		r.settle(id)
	}
}

// progress wakes the phase in progress (a follow-up arrived).
func (c *Connector) progress() {
	if _, r := c.current(); r != nil {
		r.poke()
	}
}

// forwardTemplate is a passthrough_forward frame cut before its bufferId,
// so that a frame costs one append per send.
type forwardTemplate struct {
	name   string
	prefix []byte // `{"type":"passthrough_forward","forward":{…},"bufferId":"`
}

// forwardSuffix closes a frame after the bufferId.
const forwardSuffix = "\"}\n"

func (c *Connector) templates(payloads []Payload) []forwardTemplate {
	out := make([]forwardTemplate, len(payloads))
	for i, p := range payloads {
		f := pluginapi.Forward{
			Platform: "discord", BotID: c.cfg.BotID, Method: "POST",
			Path: "/interactions/discord/" + c.cfg.BotID,
			Headers: []pluginapi.Header{
				{Name: "content-type", Value: "application/json"},
				{Name: "user-agent", Value: "Discord-Interactions/1.0 (+https://discord.com)"},
			},
			Body: p.Body,
		}
		frame := devconnector.PassthroughFrame(f) // `{…,"forward":{…}}` + "\n", no bufferId
		frame = bytes.TrimSuffix(frame, []byte("}\n"))
		out[i] = forwardTemplate{name: p.Name, prefix: append(frame, `,"bufferId":"`...)}
	}
	return out
}
