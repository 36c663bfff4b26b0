package relay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/relayhost/relay-host/host/internal/gather"
	"github.com/relayhost/relay-host/host/internal/logguard"
	"github.com/relayhost/relay-host/host/internal/wire"
)

// conn is one WebSocket connection (one dial generation).
type conn struct {
	c      *Client
	ws     *websocket.Conn
	gen    uint64
	ctx    context.Context // cancelling it drops the socket hard
	cancel context.CancelFunc
	wmu    sync.Mutex // one writer at a time
	// nc is the TCP connection under ws (nil if the dial did not go
	// through linkDialer); writers queued on wmu leave their frames held
	// in it for the last of them to send together.
	nc      *gather.Conn
	waiting atomic.Int32 // writers waiting for wmu

	readyCh    chan struct{} // closed at the first descriptor
	readerDone chan struct{}
	readErr    error // written by the reader before readerDone is closed

	deliberate atomic.Bool            // closed by Close or ctx
	local      atomic.Pointer[string] // why we closed it ourselves

	mu         sync.Mutex
	dead       bool
	ready      bool
	readyAt    time.Time
	def        *Descriptor
	byPlatform map[string]Descriptor
	pending    map[string]pendingOutbound
	idle       []chan struct{}

	wg sync.WaitGroup
}

func newConn(c *Client, ws *websocket.Conn, gen uint64) *conn {
	ctx, cancel := context.WithCancel(context.Background())
	return &conn{
		c: c, ws: ws, gen: gen, ctx: ctx, cancel: cancel,
		readyCh:    make(chan struct{}),
		readerDone: make(chan struct{}),
		byPlatform: map[string]Descriptor{},
		pending:    map[string]pendingOutbound{},
	}
}

func (cn *conn) start() {
	// Cancelling ctx drops the socket hard. The reader reads without a
	// context of its own: coder/websocket registers a context.AfterFunc
	// per Reader call on a cancellable context, which on a busy link cost
	// an allocation and a cancel-tree update for every message.
	context.AfterFunc(cn.ctx, func() { _ = cn.ws.CloseNow() })
	cn.wg.Add(2)
	go cn.readLoop()
	go cn.keepalive()
}

// shutdown starts a closing handshake and drops the socket hard if the reader
// has not finished within CloseTimeout.
func (cn *conn) shutdown(code websocket.StatusCode, reason string, deliberate bool) {
	if deliberate {
		cn.deliberate.Store(true)
	} else {
		cn.local.Store(&reason)
	}
	cn.wg.Add(1)
	go func() {
		defer cn.wg.Done()
		_ = cn.ws.Close(code, reason)
	}()
	t := time.NewTimer(cn.c.cfg.CloseTimeout)
	defer t.Stop()
	select {
	case <-cn.readerDone:
	case <-t.C:
		cn.cancel()
	}
}

// finish waits for the reader, releases the socket and waits for every
// goroutine of the connection.
func (cn *conn) finish() {
	<-cn.readerDone
	cn.cancel()
	_ = cn.ws.CloseNow()
	cn.wg.Wait()
}

func (cn *conn) isReady() bool {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	return cn.ready
}

func (cn *conn) readyTime() time.Time {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	return cn.readyAt
}

// pendingOutbound is how an outbound request waiting for its
// outbound_result is answered: on ch (Outbound, a buffered channel with
// exactly one sender) or by calling done (OutboundAsync).
type pendingOutbound struct {
	ch   chan OutboundResult
	done func(OutboundResult)
}

// settle answers the request with r.
func (p pendingOutbound) settle(r OutboundResult) {
	if p.done != nil {
		p.done(r)
		return
	}
	p.ch <- r
}

func (cn *conn) addPending(id string, p pendingOutbound) bool {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if cn.dead {
		return false
	}
	cn.pending[id] = p
	return true
}

// takePending removes the request and reports whether it was still
// pending: whoever takes it answers it.
func (cn *conn) takePending(id string) (pendingOutbound, bool) {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	p, ok := cn.pending[id]
	delete(cn.pending, id)
	return p, ok
}

func (cn *conn) dropPending(id string) {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	delete(cn.pending, id)
}

func (cn *conn) addIdleWaiter(ch chan struct{}) bool {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if cn.dead {
		return false
	}
	cn.idle = append(cn.idle, ch)
	return true
}

// write sends one frame as one text message.
func (cn *conn) write(typ wire.FrameType, b []byte) error {
	cn.waiting.Add(1)
	cn.wmu.Lock()
	cn.waiting.Add(-1)
	defer cn.wmu.Unlock()
	return cn.writeLocked(typ, b)
}

// writeLocked writes one frame; the caller holds wmu. When other writers
// are queued behind it, the frame stays held in the TCP connection and the
// last writer of the queue sends every held frame in one syscall; each
// frame is still its own WebSocket message (docs/protocol.md, Framing). A
// write error (the write timeout included) drops the connection, so that it
// is re-dialed rather than left wedged.
func (cn *conn) writeLocked(typ wire.FrameType, b []byte) error {
	var err error
	if cn.nc != nil {
		cn.nc.Hold()
		err = cn.ws.Write(context.Background(), websocket.MessageText, b)
		if cn.waiting.Load() == 0 {
			if rerr := cn.nc.Release(); err == nil {
				err = rerr
			}
		}
		if err != nil {
			_ = cn.ws.CloseNow()
		}
	} else {
		ctx, cancel := context.WithTimeout(cn.ctx, cn.c.cfg.WriteTimeout)
		err = cn.ws.Write(ctx, websocket.MessageText, b)
		cancel()
	}
	if err != nil {
		return fmt.Errorf("write %s frame: %w", typ, err)
	}
	cn.c.obs.FrameOut(string(typ))
	if cn.c.log.IsTrace() {
		cn.c.log.Trace("relay frame out", "gen", cn.gen, "type", typ, "bytes", len(b), "frame", redactFrame(b))
	}
	return nil
}

// readLoop is the connection's only reader: it splits messages into frames
// and dispatches each in order. It never waits for anything it resolves.
func (cn *conn) readLoop() {
	defer cn.wg.Done()
	defer close(cn.readerDone)
	defer cn.fail()
	sp := wire.NewSplitter(cn.c.cfg.MaxFrameBytes)
	var buf bytes.Buffer
	for {
		_, r, err := cn.ws.Reader(context.Background()) // ctx: see start
		if err != nil {
			cn.readErr = err
			return
		}
		buf.Reset()
		if _, err := buf.ReadFrom(r); err != nil {
			cn.readErr = err
			return
		}
		sp.Feed(buf.Bytes(), cn.handleLine)
		if buf.Cap() > messageRetain {
			buf = bytes.Buffer{} // release the memory of one big message
		}
	}
}

// fail runs when the reader exits: it uninstalls the connection and settles
// every pending request at once (they would otherwise wait for the timeout).
func (cn *conn) fail() {
	c := cn.c
	c.mu.Lock()
	if c.conn == cn {
		c.conn = nil
	}
	c.mu.Unlock()
	cn.mu.Lock()
	cn.dead = true
	pending := cn.pending
	cn.pending = nil
	cn.mu.Unlock()
	res := OutboundResult{Error: ErrTextConnectionLost, Ambiguous: true}
	if cn.deliberate.Load() {
		res.Error = ErrTextSendFailed + ": " + ErrTextClosed
	}
	for _, p := range pending {
		p.settle(res)
	}
}

func (cn *conn) keepalive() {
	defer cn.wg.Done()
	cfg := cn.c.cfg
	t := time.NewTicker(cfg.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-cn.readerDone:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(cn.ctx, cfg.PingTimeout)
		err := cn.ws.Ping(ctx)
		cancel()
		if err == nil {
			continue
		}
		select {
		case <-cn.readerDone:
			return
		default:
		}
		if cn.ctx.Err() != nil {
			return
		}
		why := fmt.Sprintf("keepalive: no pong within %s", cfg.PingTimeout)
		cn.local.Store(&why)
		cn.c.log.Warn("relay link looks dead; dropping the connection", "gen", cn.gen, "error", err)
		cn.cancel()
		_ = cn.ws.CloseNow()
		return
	}
}

// handleLine decodes and dispatches one frame, or logs why it was skipped.
func (cn *conn) handleLine(line []byte, err error) {
	c := cn.c
	if err == nil {
		if c.log.IsTrace() {
			c.log.Trace("relay frame in", "gen", cn.gen, "bytes", len(line), "frame", redactFrame(line))
		}
		var f wire.Frame
		if f, err = wire.DecodeFrame(line); err == nil {
			cn.dispatch(f)
			return
		}
	}
	var de *wire.DecodeError
	if !errors.As(err, &de) {
		de = &wire.DecodeError{Kind: wire.BadFrameMalformedJSON, Detail: err.Error()}
	}
	c.obs.BadFrame(de.Kind)
	settle := de.BufferID != "" && (de.Type == wire.TypeInbound || de.Type == wire.TypePassthroughForward)
	if ok, held := c.logs.Allow("relay skipping malformed frame"); ok {
		c.log.Warn("relay skipping malformed frame", "gen", cn.gen, "reason", de.Kind,
			"type", clipString(string(de.Type)), "buffer_id", clipString(de.BufferID), "detail", clipString(de.Detail),
			"acked_as_dropped", settle, "suppressed", held)
	}
	if settle {
		// An undecodable buffered delivery can never become decodable, and
		// leaving it unacked would block the connector's ack-gated drain on
		// every reconnect: settle it as a deliberate drop (docs/protocol.md,
		// Acks).
		if err := cn.write(wire.TypeInboundAck, wire.EncodeInboundAck(de.BufferID)); err != nil {
			c.log.Debug("relay ack of an undecodable delivery failed", "buffer_id", clipString(de.BufferID), "error", err)
		}
	}
}

func (cn *conn) dispatch(f wire.Frame) {
	c := cn.c
	if !f.Type.Incoming() {
		c.obs.FrameIn("unknown")
		c.log.Debug("relay ignoring frame of unhandled type", "type", clipString(string(f.Type)))
		return
	}
	defer c.obs.FrameIn(string(f.Type)) // counted once handled
	switch f.Type {
	case wire.TypeDescriptor:
		cn.onDescriptor(*f.Descriptor)
	case wire.TypeInbound:
		c.safeCall("inbound", func() { c.cfg.Handler.Inbound(f.Inbound.Event, f.Inbound.BufferID) })
	case wire.TypePassthroughForward:
		c.safeCall("passthrough", func() { c.cfg.Handler.Passthrough(*f.Forward) })
	case wire.TypeInterruptInbound:
		c.safeCall("interrupt_inbound", func() {
			c.cfg.Handler.InterruptInbound(f.Interrupt.SessionKey, f.Interrupt.ChatID)
		})
	case wire.TypeOutboundResult:
		p, ok := cn.takePending(f.Result.RequestID)
		if !ok {
			c.log.Debug("relay outbound_result for an unknown or settled request; ignored", "request_id", clipString(f.Result.RequestID))
			return
		}
		p.settle(f.Result.Result)
	case wire.TypeGoingIdleAck:
		cn.mu.Lock()
		waiters := cn.idle
		cn.idle = nil
		cn.mu.Unlock()
		for _, ch := range waiters {
			close(ch)
		}
	}
}

func (cn *conn) onDescriptor(d Descriptor) {
	c := cn.c
	cn.mu.Lock()
	first := !cn.ready
	announced := c.announced(d.Platform)
	if announced {
		cn.byPlatform[d.Platform] = d
	}
	if first {
		cn.def = &d
		cn.ready = true
		cn.readyAt = time.Now()
	}
	cn.mu.Unlock()
	c.handshakeEver.Store(true)
	if !first {
		if !announced {
			c.log.Debug("relay descriptor for a platform this gateway did not announce; ignored", "gen", cn.gen, "platform", clipString(d.Platform))
			return
		}
		c.log.Debug("relay descriptor", "gen", cn.gen, "platform", d.Platform)
		return
	}
	close(cn.readyCh)
	c.setState(StateConnected)
	c.log.Info("relay connected", "gen", cn.gen, "platform", clipString(d.Platform), "contract_version", d.ContractVersion,
		"identities", len(c.cfg.Identities))
}

// safeCall runs a handler method, turning a panic into a log line so that
// one bad frame cannot end the read loop.
func (c *Client) safeCall(what string, fn func()) {
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("relay handler panicked; frame dropped", "handler", what, "panic", fmt.Sprint(r))
		}
	}()
	fn()
}

// messageRetain is the message buffer capacity the reader keeps between
// messages; a larger buffer (left by one big message) is released so that an
// idle link holds little memory. It is the frame splitter's carry-buffer
// bound too: both are sized for the few-KiB frames of a normal link.
const messageRetain = 64 << 10

// traceClip bounds frame text in TRACE logs.
const traceClip = 2048

func clip(b []byte) string {
	if len(b) > traceClip {
		return string(b[:traceClip]) + "…"
	}
	return string(b)
}

// clipString bounds peer-controlled strings (types, ids) in logs, and
// keeps them valid UTF-8.
func clipString(s string) string { return logguard.Clip(s) }
