// Package relaytest is an in-process relay connector on 127.0.0.1 for tests
// and for `relay-host dev`. It speaks the connector side of wire-contract.md
// the way the real connector is described there: it serves the WebSocket at
// /relay (400 for an upgrade on any other path), verifies the upgrade bearer
// and refuses a bad one by accepting and closing 4401 "unauthorized",
// answers each hello with a descriptor, answers outbound requests, acks
// going_idle, and keeps a durable per-server buffer that it replays on every
// handshake and trims only on inbound_ack (§4.3).
//
// Everything it receives is recorded; WaitFrame, WaitConns and WaitAcked
// block on a change notification, so tests never poll or sleep. Per-connection
// behaviour (close at accept, no descriptor, a malformed descriptor, close
// with a code after the handshake, stop reading) is chosen with Plan.
//
// Extra HTTP routes can share the listener (HandleFunc), which is how the dev
// mode serves its platform webhooks next to /relay.
package relaytest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/hashicorp/go-hclog"

	"github.com/relayhost/relay-host/host/relay"
	"github.com/relayhost/relay-host/pluginapi"
)

// RelayPath is the only path where the connector accepts the upgrade (§1.1).
const RelayPath = "/relay"

// writeTimeout bounds one server-side write; a client that does not read
// for this long is treated as gone.
const writeTimeout = 10 * time.Second

// ErrNoConnection is returned by the Send* methods when no connection has
// completed its handshake.
var ErrNoConnection = errors.New("relaytest: no handshaked connection")

// Plan says how the server treats one connection. The zero Plan is a
// well-behaved connector.
type Plan struct {
	// CloseAtAccept closes the connection right after the upgrade, before
	// reading anything (a connector that accepts and immediately closes).
	CloseAtAccept bool
	// NoDescriptor never answers hellos (the client's handshake times out).
	NoDescriptor bool
	// MalformedDescriptor sends, before each descriptor, a descriptor frame
	// missing its required keys; with NoDescriptor it is the only one sent.
	MalformedDescriptor bool
	// CloseAfterDescriptor closes the connection right after the first
	// descriptor (and the buffered backlog) was sent.
	CloseAfterDescriptor bool
	// StallAfterDescriptor stops reading after the first descriptor: pings
	// go unanswered and outbound requests are never seen (a dead link).
	StallAfterDescriptor bool
	// CloseCode is the close code used by CloseAtAccept and
	// CloseAfterDescriptor; 0 means 1000.
	CloseCode int
	// CloseReason is the close reason sent with CloseCode.
	CloseReason string
}

// OutboundFrame is one outbound request the server received.
type OutboundFrame struct {
	// Conn is the 1-based number of the connection it came on.
	Conn int
	// RequestID is the request's id.
	RequestID string
	// Platform and BotID are the optional egress tags ("" when absent).
	Platform, BotID string
	// Action is the decoded action object.
	Action map[string]any
}

// Op returns the action's "op" ("" when absent).
func (o OutboundFrame) Op() string {
	s, _ := o.Action["op"].(string)
	return s
}

// OutboundReply says how to answer one outbound request. The zero value
// answers at once with {"success":true,"message_id":"m-<n>"}.
type OutboundReply struct {
	// Result is the result object; nil means the default success.
	Result map[string]any
	// Never leaves the request unanswered.
	Never bool
	// Delay answers after this long.
	Delay time.Duration
	// After answers once this channel is closed.
	After <-chan struct{}
}

// Options configure a Server.
type Options struct {
	// Plan is the default behaviour for connections without a queued plan
	// (see PlanNext). Its fields are promoted: opts.NoDescriptor = true, or
	// Options{Plan: Plan{NoDescriptor: true}} in a literal.
	Plan
	// Addr is the listen address; "127.0.0.1:0" when empty.
	Addr string
	// GatewayID, when set, must be the payload of the upgrade token.
	GatewayID string
	// Secrets is the verify list for the upgrade bearer (primary first).
	// Empty means no authentication is required.
	Secrets []string
	// Now is the clock for token verification; time.Now when nil.
	Now func() time.Time
	// NeverAckIdle leaves going_idle unanswered.
	NeverAckIdle bool
	// Descriptor builds the descriptor for a hello; DefaultDescriptor when nil.
	Descriptor func(platform, botID string) relay.Descriptor
	// Outbound decides how to answer each outbound request; nil answers
	// every request with success at once.
	Outbound func(OutboundFrame) OutboundReply
	// OnOutbound is told about each outbound request as it arrives, for
	// example so the dev mode can print each follow_up. It runs on the
	// connection's read goroutine and must not block.
	OnOutbound func(OutboundFrame)
	// Logger receives the server's logs; nil discards them.
	Logger hclog.Logger
}

// Frame is one frame the server received from the gateway.
type Frame struct {
	// Conn is the 1-based number of the connection it came on.
	Conn int
	// Type is the frame's type ("" when absent or the line was not JSON).
	Type string
	// Raw is the line as received, without the newline.
	Raw []byte
	// OwnMessage is true when the WS message held exactly this frame
	// followed by one "\n" (the framing §1.5 asks of the gateway).
	OwnMessage bool
	// Binary is true when it came in a binary WS message.
	Binary bool
	// Platform and BotID of a hello or an outbound.
	Platform, BotID string
	// CommandManifest of a hello.
	CommandManifest json.RawMessage
	// RequestID of an outbound.
	RequestID string
	// Action of an outbound, decoded.
	Action map[string]any
	// SessionKey of an interrupt.
	SessionKey string
	// Reason of an interrupt; nil when it was null.
	Reason *string
	// BufferID of an inbound_ack.
	BufferID string
}

// CloseInfo says how one connection ended, as the server saw it.
type CloseInfo struct {
	// Conn is the connection's 1-based number.
	Conn int
	// Code is the close code the peer sent (-1 when the socket dropped
	// without a close frame, or the server closed it itself).
	Code int
	// Reason is the peer's close reason.
	Reason string
}

type bufItem struct {
	id    string
	frame []byte
}

type sconn struct {
	id   int
	ws   *websocket.Conn
	plan Plan
	wmu  sync.Mutex
	// Guarded by Server.mu.
	handshaked bool
	idle       bool
	live       bool
	sent       map[string]bool
}

// Server is an in-process relay connector. Its methods are safe for
// concurrent use.
type Server struct {
	opts   Options
	log    hclog.Logger
	extra  *http.ServeMux
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu           sync.Mutex
	started      bool
	closed       bool
	ln           net.Listener
	srv          *http.Server
	dials        int
	authFailures int
	plans        []Plan
	conns        map[int]*sconn
	handshakes   map[int]bool // connections that sent a descriptor, kept after they end
	closes       []CloseInfo
	auths        []string
	frames       []Frame
	outbounds    []OutboundFrame
	acks         []string
	buffer       []bufItem
	nextBuf      int
	changed      chan struct{} // closed and replaced on every recorded change
}

// New returns a Server; call Start to listen.
func New(opts Options) *Server {
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		opts:       opts,
		log:        opts.Logger,
		extra:      http.NewServeMux(),
		ctx:        ctx,
		cancel:     cancel,
		conns:      map[int]*sconn{},
		handshakes: map[int]bool{},
		changed:    make(chan struct{}),
	}
	if s.log == nil {
		s.log = hclog.NewNullLogger()
	}
	if s.opts.Addr == "" {
		s.opts.Addr = "127.0.0.1:0"
	}
	return s
}

// Start listens on Options.Addr and serves in the background.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.closed {
		return errors.New("relaytest: server already started or closed")
	}
	ln, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("relaytest: listen: %w", err)
	}
	s.started, s.ln = true, ln
	s.srv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(s.log.StandardWriter(&hclog.StandardLoggerOptions{}), "", 0),
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = s.srv.Serve(ln)
	}()
	return nil
}

// URL returns the server's base URL, http://127.0.0.1:<port>; the client
// normalises it to ws://127.0.0.1:<port>/relay.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return "http://" + s.ln.Addr().String()
}

// Handler returns the server's HTTP handler (/relay plus the extra routes),
// for mounting on another listener.
func (s *Server) Handler() http.Handler { return s }

// HandleFunc registers an extra HTTP route beside /relay (ServeMux pattern
// syntax), e.g. the dev mode's platform webhooks.
func (s *Server) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	s.extra.HandleFunc(pattern, h)
}

// Handle registers an extra HTTP handler beside /relay.
func (s *Server) Handle(pattern string, h http.Handler) { s.extra.Handle(pattern, h) }

// ServeHTTP serves /relay, refuses an upgrade on any other path with 400,
// and hands every other request to the extra routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == RelayPath {
		s.serveRelay(w, r)
		return
	}
	if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		http.Error(w, "relay: the WebSocket endpoint is "+RelayPath, http.StatusBadRequest)
		return
	}
	s.extra.ServeHTTP(w, r)
}

// Close stops the server: the listener, every connection and every
// goroutine it started. It is idempotent.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	srv := s.srv
	var conns []*sconn
	for _, sc := range s.conns {
		conns = append(conns, sc)
	}
	s.mu.Unlock()
	s.cancel()
	if srv != nil {
		_ = srv.Close()
	}
	for _, sc := range conns {
		_ = sc.ws.CloseNow()
	}
	s.wg.Wait()
}

// PlanNext queues plans for the next connections, one per accepted upgrade,
// in order; connections beyond the queue use Options.Plan. To treat the next
// n connections alike: PlanNext(slices.Repeat([]Plan{p}, n)...).
func (s *Server) PlanNext(plans ...Plan) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.plans = append(s.plans, plans...)
}

func (s *Server) now() time.Time {
	if s.opts.Now != nil {
		return s.opts.Now()
	}
	return time.Now()
}

func (s *Server) authorized(r *http.Request) bool {
	if len(s.opts.Secrets) == 0 {
		return true
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return false
	}
	payload, ok := relay.VerifyToken(tok, s.opts.Secrets, s.now())
	return ok && (s.opts.GatewayID == "" || payload == s.opts.GatewayID)
}

func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func closeCode(p Plan) websocket.StatusCode {
	if p.CloseCode == 0 {
		return websocket.StatusNormalClosure
	}
	return websocket.StatusCode(p.CloseCode)
}

func (s *Server) serveRelay(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		http.Error(w, "relaytest: closed", http.StatusServiceUnavailable)
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()

	authed := s.authorized(r)
	authz := r.Header.Get("Authorization")
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		s.log.Debug("relaytest: upgrade failed", "error", err)
		return
	}
	ws.SetReadLimit(relay.MaxMessageBytes)
	s.mu.Lock()
	s.dials++
	sc := &sconn{id: s.dials, ws: ws, plan: s.opts.Plan, live: true, sent: map[string]bool{}}
	if len(s.plans) > 0 {
		sc.plan, s.plans = s.plans[0], s.plans[1:]
	}
	if !authed {
		s.authFailures++
	}
	s.auths = append(s.auths, authz)
	s.conns[sc.id] = sc
	closed := s.closed
	s.notifyLocked()
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		sc.live = false
		delete(s.conns, sc.id)
		s.notifyLocked()
		s.mu.Unlock()
		_ = ws.CloseNow()
	}()
	if closed {
		return
	}
	s.log.Debug("relaytest: connection", "conn", sc.id, "authorized", authed)
	switch {
	case !authed:
		_ = ws.Close(relay.UnauthorizedCloseCode, "unauthorized")
		return
	case sc.plan.CloseAtAccept:
		_ = ws.Close(closeCode(sc.plan), sc.plan.CloseReason)
		return
	}
	s.readLoop(sc)
}

// lineResult tells the read loop what to do after a line.
type lineResult int

const (
	lineContinue lineResult = iota
	lineClose
	lineStall
)

func (s *Server) readLoop(sc *sconn) {
	sp := relay.NewSplitter(relay.MaxMessageBytes)
	for {
		typ, data, err := sc.ws.Read(s.ctx)
		if err != nil {
			info := CloseInfo{Conn: sc.id, Code: -1}
			var ce websocket.CloseError
			if errors.As(err, &ce) {
				info.Code, info.Reason = int(ce.Code), ce.Reason
			}
			s.mu.Lock()
			s.closes = append(s.closes, info)
			s.notifyLocked()
			s.mu.Unlock()
			return
		}
		own := len(data) > 0 && data[len(data)-1] == '\n' && bytes.Count(data, []byte{'\n'}) == 1
		next := lineContinue
		sp.Feed(data, func(line []byte, err error) {
			if err != nil || next != lineContinue {
				return
			}
			next = s.handleLine(sc, line, own, typ == websocket.MessageBinary)
		})
		switch next {
		case lineClose:
			_ = sc.ws.Close(closeCode(sc.plan), sc.plan.CloseReason)
			return
		case lineStall:
			<-s.ctx.Done()
			return
		}
	}
}

func (s *Server) handleLine(sc *sconn, line []byte, own, binary bool) lineResult {
	fr := Frame{Conn: sc.id, Raw: bytes.Clone(line), OwnMessage: own, Binary: binary}
	var m map[string]json.RawMessage
	if json.Unmarshal(line, &m) != nil {
		s.record(fr)
		return lineContinue
	}
	str := func(k string) string {
		var v string
		_ = json.Unmarshal(m[k], &v)
		return v
	}
	fr.Type = str("type")
	switch fr.Type {
	case "hello":
		fr.Platform, fr.BotID = str("platform"), str("botId")
		if raw, ok := m["command_manifest"]; ok {
			fr.CommandManifest = bytes.Clone(raw)
		}
	case "outbound":
		fr.RequestID, fr.Platform, fr.BotID = str("requestId"), str("platform"), str("botId")
		_ = json.Unmarshal(m["action"], &fr.Action)
	case "interrupt":
		fr.SessionKey = str("session_key")
		_ = json.Unmarshal(m["reason"], &fr.Reason)
	case "inbound_ack":
		fr.BufferID = str("bufferId")
		// Record the frame and settle the buffer in one step, so a waiter
		// woken by the frame sees Acks and Pending already updated.
		s.mu.Lock()
		s.frames = append(s.frames, fr)
		s.acks = append(s.acks, fr.BufferID)
		for i, it := range s.buffer {
			if it.id == fr.BufferID {
				s.buffer = append(s.buffer[:i:i], s.buffer[i+1:]...)
				break
			}
		}
		s.notifyLocked()
		s.mu.Unlock()
		return lineContinue
	}
	s.record(fr)

	switch fr.Type {
	case "hello":
		return s.onHello(sc, fr)
	case "outbound":
		s.onOutbound(sc, fr)
	case "going_idle":
		s.mu.Lock()
		sc.idle = true
		s.mu.Unlock()
		if !s.opts.NeverAckIdle {
			_ = s.write(sc, websocket.MessageText, []byte(`{"type":"going_idle_ack"}`+"\n"))
		}
	}
	return lineContinue
}

func (s *Server) record(fr Frame) {
	s.mu.Lock()
	s.frames = append(s.frames, fr)
	s.notifyLocked()
	s.mu.Unlock()
}

// DefaultDescriptor is the descriptor the server sends for a platform when
// Options.Descriptor is nil: all nine required fields, Discord-like values
// for "discord" and plain ones otherwise.
func DefaultDescriptor(platform string) relay.Descriptor {
	d := relay.Descriptor{
		ContractVersion:  relay.ContractVersion,
		Platform:         platform,
		Label:            platform,
		MaxMessageLength: relay.DefaultMaxMessageLength,
		SupportsEdit:     true,
		MarkdownDialect:  "plain",
		LenUnit:          "chars",
		Emoji:            relay.DefaultEmoji,
		SupportedOps:     relay.LegacyOps(),
	}
	if platform == "discord" {
		d.Label, d.MaxMessageLength, d.MarkdownDialect, d.SupportsThreads = "Discord", 2000, "discord", true
	}
	return d
}

func (s *Server) onHello(sc *sconn, fr Frame) lineResult {
	if sc.plan.NoDescriptor && !sc.plan.MalformedDescriptor {
		return lineContinue
	}
	sc.wmu.Lock()
	defer sc.wmu.Unlock()
	if sc.plan.MalformedDescriptor {
		bad, _ := json.Marshal(map[string]any{"type": "descriptor", "descriptor": map[string]any{"platform": fr.Platform}})
		if s.writeLocked(sc, websocket.MessageText, append(bad, '\n')) != nil {
			return lineContinue
		}
	}
	if sc.plan.NoDescriptor {
		return lineContinue
	}
	d := DefaultDescriptor(fr.Platform)
	if s.opts.Descriptor != nil {
		d = s.opts.Descriptor(fr.Platform, fr.BotID)
	}
	b, err := json.Marshal(map[string]any{"type": "descriptor", "descriptor": d})
	if err != nil {
		s.log.Error("relaytest: cannot encode descriptor", "error", err)
		return lineContinue
	}
	// Mark the handshake before the descriptor leaves, under the write
	// lock: a Send* that picks this connection as soon as the gateway sees
	// the descriptor then waits here and lands after the descriptor and the
	// backlog.
	s.mu.Lock()
	first := !sc.handshaked
	sc.handshaked = true
	sc.idle = false
	s.handshakes[sc.id] = true
	s.notifyLocked()
	s.mu.Unlock()
	if s.writeLocked(sc, websocket.MessageText, append(b, '\n')) != nil || !first {
		return lineContinue
	}
	s.flushLocked(sc) // the handshake completes: replay the backlog, in order
	switch {
	case sc.plan.CloseAfterDescriptor:
		return lineClose
	case sc.plan.StallAfterDescriptor:
		return lineStall
	}
	return lineContinue
}

func (s *Server) onOutbound(sc *sconn, fr Frame) {
	of := OutboundFrame{Conn: sc.id, RequestID: fr.RequestID, Platform: fr.Platform, BotID: fr.BotID, Action: fr.Action}
	s.mu.Lock()
	s.outbounds = append(s.outbounds, of)
	n := len(s.outbounds)
	s.notifyLocked()
	s.mu.Unlock()
	if s.opts.OnOutbound != nil {
		s.opts.OnOutbound(of)
	}
	var reply OutboundReply
	if s.opts.Outbound != nil {
		reply = s.opts.Outbound(of)
	}
	if reply.Never {
		return
	}
	result := reply.Result
	if result == nil {
		result = map[string]any{"success": true, "message_id": fmt.Sprintf("m-%d", n)}
	}
	b, err := json.Marshal(map[string]any{"type": "outbound_result", "requestId": fr.RequestID, "result": result})
	if err != nil {
		s.log.Error("relaytest: cannot encode outbound_result", "error", err)
		return
	}
	b = append(b, '\n')
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
		return fmt.Errorf("relaytest: write to connection %d: %w", sc.id, err)
	}
	return nil
}

// flushLocked sends, in order, every buffered item not yet sent on sc; the
// caller holds sc.wmu.
func (s *Server) flushLocked(sc *sconn) {
	s.mu.Lock()
	if !sc.handshaked || sc.idle || !sc.live {
		s.mu.Unlock()
		return
	}
	var items []bufItem
	for _, it := range s.buffer {
		if !sc.sent[it.id] {
			sc.sent[it.id] = true
			items = append(items, it)
		}
	}
	s.mu.Unlock()
	for _, it := range items {
		if s.writeLocked(sc, websocket.MessageText, it.frame) != nil {
			return // still buffered: redelivered on the next connection
		}
	}
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

func (s *Server) send(typ websocket.MessageType, b []byte) error {
	sc := s.current()
	if sc == nil {
		return ErrNoConnection
	}
	return s.write(sc, typ, b)
}

type wireForward struct {
	Platform string      `json:"platform"`
	BotID    string      `json:"botId"`
	Method   string      `json:"method"`
	Path     string      `json:"path"`
	Headers  [][2]string `json:"headers"`
	BodyB64  string      `json:"bodyB64"`
	Profile  string      `json:"profile,omitempty"`
}

// PassthroughFrame encodes f as a passthrough_forward frame line (with its
// "\n"): standard base64 body, headers as ordered [name, value] pairs, and
// bufferId when f.BufferID is set.
func PassthroughFrame(f pluginapi.Forward) []byte {
	w := wireForward{Platform: f.Platform, BotID: f.BotID, Method: f.Method, Path: f.Path,
		Headers: make([][2]string, 0, len(f.Headers)), BodyB64: base64.StdEncoding.EncodeToString(f.Body), Profile: f.Profile}
	for _, h := range f.Headers {
		w.Headers = append(w.Headers, [2]string{h.Name, h.Value})
	}
	frame := struct {
		Type     string      `json:"type"`
		Forward  wireForward `json:"forward"`
		BufferID string      `json:"bufferId,omitempty"`
	}{"passthrough_forward", w, f.BufferID}
	b, _ := json.Marshal(frame) // strings only: cannot fail
	return append(b, '\n')
}

// SendPassthrough pushes f live to the current connection (a bufferId is
// included only when f.BufferID is set; use Enqueue for durable delivery).
func (s *Server) SendPassthrough(f pluginapi.Forward) error {
	return s.send(websocket.MessageText, PassthroughFrame(f))
}

// SendInbound pushes an inbound frame; ev is anything that encodes as the
// event object, and bufferID ("" for live) is sent when non-empty.
func (s *Server) SendInbound(ev any, bufferID string) error {
	frame := map[string]any{"type": "inbound", "event": ev}
	if bufferID != "" {
		frame["bufferId"] = bufferID
	}
	b, err := json.Marshal(frame)
	if err != nil {
		return fmt.Errorf("relaytest: encode inbound: %w", err)
	}
	return s.send(websocket.MessageText, append(b, '\n'))
}

// SendInterruptInbound pushes an interrupt_inbound frame.
func (s *Server) SendInterruptInbound(sessionKey, chatID string) error {
	b, _ := json.Marshal(map[string]string{"type": "interrupt_inbound", "session_key": sessionKey, "chat_id": chatID})
	return s.send(websocket.MessageText, append(b, '\n'))
}

// SendRaw writes text as one WS text message, exactly as given (no newline
// is added), for framing and bad-input tests.
func (s *Server) SendRaw(text string) error {
	return s.send(websocket.MessageText, []byte(text))
}

// SendBinary writes b as one WS binary message, exactly as given.
func (s *Server) SendBinary(b []byte) error {
	return s.send(websocket.MessageBinary, b)
}

// CloseConn closes every live connection with code and reason.
func (s *Server) CloseConn(code int, reason string) error {
	s.mu.Lock()
	var conns []*sconn
	for _, sc := range s.conns {
		if sc.live {
			sc.live = false // no Send* may pick it from now on
			conns = append(conns, sc)
		}
	}
	s.notifyLocked()
	s.mu.Unlock()
	if len(conns) == 0 {
		return ErrNoConnection
	}
	for _, sc := range conns {
		_ = sc.ws.Close(websocket.StatusCode(code), reason)
	}
	return nil
}

// Enqueue appends f to the durable buffer and returns its bufferId. It is
// delivered (with bufferId) right away when a handshaked, non-idle
// connection exists, and on every later handshake until an inbound_ack for
// it arrives.
func (s *Server) Enqueue(f pluginapi.Forward) string {
	s.mu.Lock()
	s.nextBuf++
	f.BufferID = fmt.Sprintf("pbuf-%d", s.nextBuf)
	s.buffer = append(s.buffer, bufItem{id: f.BufferID, frame: PassthroughFrame(f)})
	s.mu.Unlock()
	s.flushCurrent()
	return f.BufferID
}

// EnqueueInbound is Enqueue for an inbound event (bufferId "buf-<n>").
func (s *Server) EnqueueInbound(ev any) (string, error) {
	s.mu.Lock()
	s.nextBuf++
	id := fmt.Sprintf("buf-%d", s.nextBuf)
	s.mu.Unlock()
	b, err := json.Marshal(map[string]any{"type": "inbound", "event": ev, "bufferId": id})
	if err != nil {
		return "", fmt.Errorf("relaytest: encode inbound: %w", err)
	}
	s.mu.Lock()
	s.buffer = append(s.buffer, bufItem{id: id, frame: append(b, '\n')})
	s.mu.Unlock()
	s.flushCurrent()
	return id, nil
}

func (s *Server) flushCurrent() {
	if sc := s.current(); sc != nil {
		sc.wmu.Lock()
		s.flushLocked(sc)
		sc.wmu.Unlock()
	}
}

// Pending returns the bufferIds still buffered (not acked), in order.
func (s *Server) Pending() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, len(s.buffer))
	for i, it := range s.buffer {
		ids[i] = it.id
	}
	return ids
}

// Frames returns every frame received so far, in order.
func (s *Server) Frames() []Frame {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Frame(nil), s.frames...)
}

// Hellos returns the hello frames received so far.
func (s *Server) Hellos() []Frame {
	var out []Frame
	for _, f := range s.Frames() {
		if f.Type == "hello" {
			out = append(out, f)
		}
	}
	return out
}

// Acks returns the bufferIds of every inbound_ack received, in order,
// duplicates included.
func (s *Server) Acks() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.acks...)
}

// Outbounds returns every outbound request received, in order.
func (s *Server) Outbounds() []OutboundFrame {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]OutboundFrame(nil), s.outbounds...)
}

// Closes returns how each connection that the gateway closed (or that
// dropped) ended, in order. Connections the server closed itself are not
// listed.
func (s *Server) Closes() []CloseInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]CloseInfo(nil), s.closes...)
}

// WaitClosed waits until connection conn has ended and returns how.
func (s *Server) WaitClosed(ctx context.Context, conn int) (CloseInfo, error) {
	var info CloseInfo
	err := s.wait(ctx, fmt.Sprintf("close of connection %d", conn), func() bool {
		for _, c := range s.closes {
			if c.Conn == conn {
				info = c
				return true
			}
		}
		return false
	})
	return info, err
}

// Authorizations returns the Authorization header of every accepted
// upgrade, in order ("" when none was sent). It exists so tests can check
// that a fresh token is minted per dial; do not log it.
func (s *Server) Authorizations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.auths...)
}

// Dials returns the number of accepted upgrades at /relay.
func (s *Server) Dials() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dials
}

// AuthFailures returns the number of upgrades refused with 4401
// "unauthorized" because of a bad or missing bearer.
func (s *Server) AuthFailures() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.authFailures
}

// wait blocks until cond (called under the lock) holds or ctx ends.
func (s *Server) wait(ctx context.Context, what string, cond func() bool) error {
	for {
		s.mu.Lock()
		ok, ch := cond(), s.changed
		s.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("relaytest: wait for %s: %w", what, ctx.Err())
		}
	}
}

// WaitFrame returns the first recorded frame (earliest first, including
// those already received) for which match is true, waiting for new frames
// until ctx ends. match must not call the Server.
func (s *Server) WaitFrame(ctx context.Context, match func(Frame) bool) (Frame, error) {
	var found Frame
	seen := 0
	err := s.wait(ctx, "frame", func() bool {
		for ; seen < len(s.frames); seen++ {
			if match(s.frames[seen]) {
				found = s.frames[seen]
				return true
			}
		}
		return false
	})
	return found, err
}

// WaitConns waits until at least n upgrades have been accepted.
func (s *Server) WaitConns(ctx context.Context, n int) error {
	return s.wait(ctx, fmt.Sprintf("%d connections", n), func() bool { return s.dials >= n })
}

// WaitAcked waits until an inbound_ack for bufferID has arrived.
func (s *Server) WaitAcked(ctx context.Context, bufferID string) error {
	return s.wait(ctx, "ack of "+bufferID, func() bool {
		for _, a := range s.acks {
			if a == bufferID {
				return true
			}
		}
		return false
	})
}

// WaitOutbounds waits until at least n outbound requests have arrived.
func (s *Server) WaitOutbounds(ctx context.Context, n int) error {
	return s.wait(ctx, fmt.Sprintf("%d outbound requests", n), func() bool { return len(s.outbounds) >= n })
}

// WaitHandshake waits until connection number conn has sent its first
// descriptor.
func (s *Server) WaitHandshake(ctx context.Context, conn int) error {
	return s.wait(ctx, fmt.Sprintf("handshake of connection %d", conn), func() bool { return s.handshakes[conn] })
}
