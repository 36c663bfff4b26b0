package devconnector

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/relayhost/relay-host/host/internal/wire"
	"github.com/relayhost/relay-host/host/relay"
)

// sconn is one accepted connection.
type sconn struct {
	id  int
	ws  *websocket.Conn
	wmu sync.Mutex // one writer at a time
	// Guarded by Server.mu.
	handshaked bool
	idle       bool
	live       bool
	sent       map[string]bool // bufferIds already sent on this connection
}

func closeCode(code int) websocket.StatusCode {
	if code == 0 {
		return websocket.StatusNormalClosure
	}
	return websocket.StatusCode(code)
}

func (s *Server) serveRelay(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		http.Error(w, "devconnector: closed", http.StatusServiceUnavailable)
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()

	authed := s.authorized(r)
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		s.log.Debug("upgrade failed", "error", err)
		return
	}
	ws.SetReadLimit(wire.MaxMessageBytes)
	s.mu.Lock()
	s.dials++
	sc := &sconn{id: s.dials, ws: ws, live: true, sent: map[string]bool{}}
	s.conns[sc.id] = sc
	closed := s.closed
	s.mu.Unlock()
	if h := s.opts.Hooks.Upgraded; h != nil {
		h(sc.id, authed, r.Header.Get("Authorization"))
	}
	defer func() {
		s.mu.Lock()
		sc.live = false
		delete(s.conns, sc.id)
		s.mu.Unlock()
		_ = ws.CloseNow()
	}()
	if closed {
		return
	}
	s.log.Debug("connection", "conn", sc.id, "authorized", authed)
	if !authed {
		_ = ws.Close(relay.UnauthorizedCloseCode, "unauthorized")
		return
	}
	if h := s.opts.Hooks.Accept; h != nil {
		if ok, code, reason := h(sc.id); ok {
			_ = ws.Close(closeCode(code), reason)
			return
		}
	}
	s.readLoop(sc)
}

func (s *Server) readLoop(sc *sconn) {
	sp := wire.NewSplitter(wire.MaxMessageBytes)
	for {
		typ, data, err := sc.ws.Read(s.ctx)
		if err != nil {
			info := CloseInfo{Conn: sc.id, Code: -1}
			var ce websocket.CloseError
			if errors.As(err, &ce) {
				info.Code, info.Reason = int(ce.Code), ce.Reason
			}
			if h := s.opts.Hooks.Ended; h != nil {
				h(info)
			}
			return
		}
		own := len(data) > 0 && data[len(data)-1] == '\n' && bytes.Count(data, []byte{'\n'}) == 1
		var next *Next
		sp.Feed(data, func(line []byte, err error) {
			if err != nil || next != nil {
				return
			}
			next = s.handleLine(sc, parseFrame(sc.id, line, own, typ == websocket.MessageBinary))
		})
		switch {
		case next == nil:
		case next.Stall:
			<-s.ctx.Done()
			return
		case next.Close:
			_ = sc.ws.Close(closeCode(next.Code), next.Reason)
			return
		}
	}
}

// handleLine acts on one received frame; a non-nil Next ends the reading
// of this message and says what the connection does next.
func (s *Server) handleLine(sc *sconn, fr Frame) *Next {
	if fr.Type == "inbound_ack" {
		s.settle(fr.BufferID)
	}
	if s.opts.OnFrame != nil {
		s.opts.OnFrame(fr)
	}
	switch fr.Type {
	case "hello":
		return s.onHello(sc, fr)
	case "outbound":
		s.onOutbound(sc, fr)
	case "going_idle":
		s.mu.Lock()
		sc.idle = true
		s.mu.Unlock()
		if h := s.opts.Hooks.AckIdle; h == nil || h(sc.id) {
			s.setIdle(true) // buffered-only until the next handshake
			_ = s.write(sc, websocket.MessageText, goingIdleAck)
		}
	}
	return nil
}

func (s *Server) onHello(sc *sconn, fr Frame) *Next {
	var before [][]byte
	send := true
	if h := s.opts.Hooks.Hello; h != nil {
		before, send = h(sc.id, fr.Platform)
	}
	sc.wmu.Lock()
	defer sc.wmu.Unlock()
	for _, b := range before {
		if s.writeLocked(sc, websocket.MessageText, b) != nil {
			return nil
		}
	}
	if !send {
		return nil
	}
	d := DefaultDescriptor(fr.Platform)
	if s.opts.Descriptor != nil {
		d = s.opts.Descriptor(fr.Platform, fr.BotID)
	}
	b, err := descriptorFrame(d)
	if err != nil {
		s.log.Error("cannot encode descriptor", "error", err)
		return nil
	}
	// Mark the handshake before the descriptor leaves, under the write
	// lock: a Send that picks this connection as soon as the gateway sees
	// the descriptor then waits here and lands after the descriptor and the
	// backlog.
	s.mu.Lock()
	first := !sc.handshaked
	sc.handshaked = true
	sc.idle = false
	s.handshakes[sc.id] = true
	s.mu.Unlock()
	s.setIdle(false)
	s.changed.Notify()
	if h := s.opts.Hooks.Handshaked; h != nil {
		h(sc.id)
	}
	if s.writeLocked(sc, websocket.MessageText, b) != nil || !first {
		return nil
	}
	s.flushLocked(sc) // the handshake completes: replay the backlog, in order
	if h := s.opts.Hooks.AfterHandshake; h != nil {
		if next := h(sc.id); next.Close || next.Stall {
			return &next
		}
	}
	return nil
}

func (s *Server) onOutbound(sc *sconn, fr Frame) {
	of := OutboundFrame{Conn: sc.id, RequestID: fr.RequestID, Platform: fr.Platform, BotID: fr.BotID, Action: fr.Action}
	s.mu.Lock()
	s.outbounds++
	n := s.outbounds
	s.mu.Unlock()
	var reply OutboundReply
	if s.opts.Outbound != nil {
		reply = s.opts.Outbound(of)
	}
	if reply.Never {
		return
	}
	result := reply.Result
	switch {
	case result != nil:
	case s.opts.Answers:
		result = s.Answer(of)
	default:
		result = map[string]any{"success": true, "message_id": fmt.Sprintf("m-%d", n)}
	}
	b, err := outboundResultFrame(fr.RequestID, result)
	if err != nil {
		s.log.Error("cannot encode outbound_result", "error", err)
		return
	}
	if reply.Delay <= 0 && reply.After == nil {
		_ = s.write(sc, websocket.MessageText, b)
		return
	}
	s.wg.Add(1) // safe: this connection's handler holds a count
	go func() {
		defer s.wg.Done()
		var timer <-chan time.Time
		if reply.Delay > 0 {
			t := time.NewTimer(reply.Delay)
			defer t.Stop()
			timer = t.C
		}
		select {
		case <-timer:
		case <-reply.After:
		case <-s.ctx.Done():
			return
		}
		_ = s.write(sc, websocket.MessageText, b)
	}()
}

func (s *Server) write(sc *sconn, typ websocket.MessageType, b []byte) error {
	sc.wmu.Lock()
	defer sc.wmu.Unlock()
	return s.writeLocked(sc, typ, b)
}

func (s *Server) writeLocked(sc *sconn, typ websocket.MessageType, b []byte) error {
	ctx, cancel := context.WithTimeout(s.ctx, writeTimeout)
	defer cancel()
	if err := sc.ws.Write(ctx, typ, b); err != nil {
		return fmt.Errorf("devconnector: write to connection %d: %w", sc.id, err)
	}
	return nil
}

// current returns the newest live connection that completed its handshake.
func (s *Server) current() *sconn {
	s.mu.Lock()
	defer s.mu.Unlock()
	var best *sconn
	for _, sc := range s.conns {
		if sc.live && sc.handshaked && (best == nil || sc.id > best.id) {
			best = sc
		}
	}
	return best
}

// Send writes msg, exactly as given, as one WebSocket message (binary when
// binary is true, else text) on the newest connection that completed its
// handshake; ErrNoConnection when there is none.
func (s *Server) Send(msg []byte, binary bool) error {
	sc := s.current()
	if sc == nil {
		return ErrNoConnection
	}
	typ := websocket.MessageText
	if binary {
		typ = websocket.MessageBinary
	}
	return s.write(sc, typ, msg)
}

// CloseConns closes every live connection with code and reason;
// ErrNoConnection when there is none.
func (s *Server) CloseConns(code int, reason string) error {
	s.mu.Lock()
	var conns []*sconn
	for _, sc := range s.conns {
		if sc.live {
			sc.live = false // no Send may pick it from now on
			conns = append(conns, sc)
		}
	}
	s.mu.Unlock()
	if len(conns) == 0 {
		return ErrNoConnection
	}
	for _, sc := range conns {
		_ = sc.ws.Close(websocket.StatusCode(code), reason)
	}
	return nil
}
