// Package relaytest is the test connector: an in-process relay connector on
// 127.0.0.1 (the dev connector, host/internal/devconnector) that records
// everything it receives, lets a test wait on that record, and misbehaves
// on purpose when a Plan says so. It is for tests only; `relay-host dev`
// and the load tool use the dev connector directly.
//
// The connector serves the WebSocket at /relay, verifies the upgrade bearer
// and refuses a bad one with 4401 "unauthorized", answers each hello with a
// descriptor, answers outbound requests (with Options.Answers, as a
// connector carrying each op out would), acks going_idle, keeps a durable
// buffer that it replays on every handshake and trims only on inbound_ack,
// and hosts the media plane (media.go).
//
// It also serves the control-plane endpoints /relay/enroll,
// /relay/provision and /relay/policy with programmable answers, and calls
// a wake URL when a delivery is buffered for a gateway that went idle
// (control.go).
//
// Everything it receives is recorded (recorder.go); WaitFrame, WaitConns,
// WaitAcked and the other waits block on a change notification with the
// caller's deadline, so tests never poll or sleep (wait.go). Per-connection
// behaviour (close at accept, no descriptor, a malformed descriptor, close
// with a code after the handshake, stop reading) is chosen with Plan
// (plan.go); Send* push frames live and Enqueue* buffer them (send.go).
package relaytest

import (
	"net/http"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/relayhost/relay-host/host/internal/devconnector"
	"github.com/relayhost/relay-host/host/relay"
	"github.com/relayhost/relay-host/pluginapi"
)

// RelayPath is the only path where the connector accepts the upgrade.
const RelayPath = devconnector.RelayPath

// ErrNoConnection is returned by the Send* methods and CloseConn when no
// connection has completed its handshake.
var ErrNoConnection = devconnector.ErrNoConnection

// Frame is one frame the server received from the gateway.
type Frame = devconnector.Frame

// OutboundFrame is one outbound request the server received; Op returns
// its action's "op".
type OutboundFrame = devconnector.OutboundFrame

// OutboundReply says how to answer one outbound request. The zero value
// answers at once with {"success":true,"message_id":"m-<n>"}, n counting
// the outbound requests the server received.
type OutboundReply = devconnector.OutboundReply

// CloseInfo says how one connection ended, as the server saw it.
type CloseInfo = devconnector.CloseInfo

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
	// every request at once (see Answers).
	Outbound func(OutboundFrame) OutboundReply
	// Answers makes the server answer each outbound request (that Outbound
	// leaves to it) as a connector carrying it out would (see Answer);
	// without it every request is answered {"success":true,
	// "message_id":"m-<n>"}.
	Answers bool
	// OnMedia is told about each request to the media plane (media.go).
	OnMedia func(MediaRequest)
	// OnOutbound is told about each outbound request as it arrives, after
	// it is recorded. It runs on the connection's read goroutine and must
	// not block.
	OnOutbound func(OutboundFrame)
	// Logger receives the server's logs; nil discards them.
	Logger hclog.Logger
}

// Server is the test connector. Its methods are safe for concurrent use.
type Server struct {
	opts Options
	conn *devconnector.Server
	rec  recorder
	plan planner
	ctl  controlState // control-plane endpoints and wake calls (control.go)
}

// New returns a Server; call Start to listen.
func New(opts Options) *Server {
	s := &Server{opts: opts}
	s.plan.init(opts.Plan)
	hooks := s.plan.hooks(opts.NeverAckIdle)
	hooks.Upgraded = func(conn int, authorized bool, authorization string) {
		s.plan.assign(conn)
		s.rec.upgraded(authorized, authorization)
	}
	hooks.Ended = s.rec.ended
	s.conn = devconnector.New(devconnector.Options{
		Addr:       opts.Addr,
		GatewayID:  opts.GatewayID,
		Secrets:    opts.Secrets,
		Now:        opts.Now,
		Descriptor: opts.Descriptor,
		Outbound:   s.outbound,
		Answers:    opts.Answers,
		OnMedia:    opts.OnMedia,
		OnFrame:    s.rec.frame,
		Hooks:      hooks,
		Logger:     opts.Logger,
	})
	s.registerControl()
	return s
}

// outbound tells OnOutbound of an outbound request (recorded already with
// its frame) and asks Options.Outbound for the reply.
func (s *Server) outbound(of OutboundFrame) OutboundReply {
	if s.opts.OnOutbound != nil {
		s.opts.OnOutbound(of)
	}
	if s.opts.Outbound != nil {
		return s.opts.Outbound(of)
	}
	return OutboundReply{}
}

// Start listens on Options.Addr and serves in the background.
func (s *Server) Start() error { return s.conn.Start() }

// URL returns the server's base URL, http://127.0.0.1:<port>; the client
// normalises it to ws://127.0.0.1:<port>/relay.
func (s *Server) URL() string { return s.conn.URL() }

// Handler returns the server's HTTP handler (/relay plus the extra routes),
// for mounting on another listener.
func (s *Server) Handler() http.Handler { return s.conn }

// HandleFunc registers an extra HTTP route beside /relay (ServeMux pattern
// syntax).
func (s *Server) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	s.conn.HandleFunc(pattern, h)
}

// Handle registers an extra HTTP handler beside /relay.
func (s *Server) Handle(pattern string, h http.Handler) { s.conn.Handle(pattern, h) }

// ServeHTTP serves /relay, refuses an upgrade on any other path with 400,
// and hands every other request to the extra routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.conn.ServeHTTP(w, r) }

// Close stops the server: the listener, every connection and every
// goroutine it started. It is idempotent.
func (s *Server) Close() { s.conn.Close() }

// DefaultDescriptor is the descriptor the server sends for a platform when
// Options.Descriptor is nil: all nine required fields, Discord-like values
// for "discord" and plain ones otherwise.
func DefaultDescriptor(platform string) relay.Descriptor {
	return devconnector.DefaultDescriptor(platform)
}

// PassthroughFrame encodes f as a passthrough_forward frame line (with its
// "\n"): standard base64 body, headers as ordered [name, value] pairs, and
// bufferId when f.BufferID is set.
func PassthroughFrame(f pluginapi.Forward) []byte { return devconnector.PassthroughFrame(f) }
