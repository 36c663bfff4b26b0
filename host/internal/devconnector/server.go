package devconnector

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/relayhost/relay-host/host/internal/wire"
	"github.com/relayhost/relay-host/host/relay"
	"github.com/relayhost/relay-host/internal/notify"
)

// RelayPath is the only path where the connector accepts the upgrade
// (docs/protocol.md, Transport).
const RelayPath = "/relay"

// Connector timings.
const (
	// writeTimeout bounds one write to a connection; a gateway that does
	// not read for this long is treated as gone.
	writeTimeout = 10 * time.Second
	// readHeaderTimeout bounds the HTTP request head of an upgrade or a
	// webhook: loopback clients send it at once.
	readHeaderTimeout = 10 * time.Second
	// idleTimeout closes a kept-alive HTTP connection that sends no new
	// request for this long (an upgraded connection is not idle: it is the
	// WebSocket's own). The handlers of extra routes bound their own body
	// reads (host/edge).
	idleTimeout = 30 * time.Second
)

// ErrNoConnection is returned when no connection has completed its
// handshake.
var ErrNoConnection = errors.New("devconnector: no handshaked connection")

// Options configure a Server.
type Options struct {
	// Addr is the listen address; "127.0.0.1:0" when empty.
	Addr string
	// GatewayID, when set, must be the payload of the upgrade token.
	GatewayID string
	// Secrets is the verify list for the upgrade bearer (primary first).
	// Empty means no authentication is required.
	Secrets []string
	// Now is the clock for token verification; time.Now when nil.
	Now func() time.Time
	// Descriptor builds the descriptor for a hello; DefaultDescriptor when
	// nil.
	Descriptor func(platform, botID string) wire.Descriptor
	// Outbound decides how to answer each outbound request; nil answers
	// every request at once (see Answers). It runs on the connection's read
	// goroutine and must not block.
	Outbound func(OutboundFrame) OutboundReply
	// Answers makes the connector answer each outbound request (that
	// Outbound leaves to it) with the result Server.Answer gives: message
	// and thread ids, chat info, a failure for a malformed action or an op
	// it does not carry out. Without it, every request is answered
	// {"success":true,"message_id":"m-<n>"}, n counting the outbound
	// requests.
	Answers bool
	// MessageIDPrefix prefixes the message and thread ids Answer mints;
	// "m-" when empty.
	MessageIDPrefix string
	// OnMedia is told about each request to the media plane (upload or
	// download) and how it was answered. It runs on the request's
	// goroutine and must not block.
	OnMedia func(MediaRequest)
	// OnFrame is told about each frame received, in order, before the
	// connector acts on it (an inbound_ack has already trimmed the
	// buffer). It runs on the connection's read goroutine and must not
	// block.
	OnFrame func(Frame)
	// Hooks watch and steer each connection (tests only).
	Hooks Hooks
	// Logger receives the connector's logs; nil discards them.
	Logger hclog.Logger
	// idleTimeout replaces the package's idleTimeout (tests).
	idleTimeout time.Duration
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

	mu         sync.Mutex
	started    bool
	closed     bool
	ln         net.Listener
	srv        *http.Server
	dials      int
	outbounds  int
	messages   int // messages Answer created
	threads    int // threads Answer created
	media      *mediaStore
	conns      map[int]*sconn
	handshakes map[int]bool // connections that completed a handshake, kept after they end
	buffer     []bufItem
	nextBuf    int
	changed    notify.Signal // notified when a connection completes its handshake
	wake       waker         // the wake URL caller (wake.go)
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
	}
	if s.log == nil {
		s.log = hclog.NewNullLogger()
	}
	if s.opts.Addr == "" {
		s.opts.Addr = "127.0.0.1:0"
	}
	s.media = newMediaStore()
	s.extra.HandleFunc("POST "+MediaPath, s.serveMediaUpload)
	s.extra.HandleFunc("GET "+MediaPath+"/{id}", s.serveMediaDownload)
	return s
}

// Start listens on Options.Addr and serves in the background.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.closed {
		return errors.New("devconnector: server already started or closed")
	}
	ln, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("devconnector: listen: %w", err)
	}
	s.started, s.ln = true, ln
	s.srv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       cmp.Or(s.opts.idleTimeout, idleTimeout),
		ErrorLog:          log.New(s.log.StandardWriter(&hclog.StandardLoggerOptions{}), "", 0),
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = s.srv.Serve(ln)
	}()
	return nil
}

// URL returns the server's base URL, http://127.0.0.1:<port>; the gateway
// normalises it to ws://127.0.0.1:<port>/relay.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return "http://" + s.ln.Addr().String()
}

// HandleFunc registers an extra HTTP route beside RelayPath (ServeMux
// pattern syntax), e.g. the dev mode's platform webhooks.
func (s *Server) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	s.extra.HandleFunc(pattern, h)
}

// Handle registers an extra HTTP handler beside RelayPath.
func (s *Server) Handle(pattern string, h http.Handler) { s.extra.Handle(pattern, h) }

// ServeHTTP serves RelayPath, refuses an upgrade on any other path with
// 400, and hands every other request to the extra routes.
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

// Dials returns the number of accepted upgrades at RelayPath.
func (s *Server) Dials() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dials
}

// WaitHandshake waits until connection number conn has completed its
// handshake (its first descriptor is on its way), or ctx ends; ctx must
// carry a deadline.
func (s *Server) WaitHandshake(ctx context.Context, conn int) error {
	err := s.changed.Wait(ctx, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.handshakes[conn]
	})
	if err != nil {
		return fmt.Errorf("devconnector: wait for the handshake of connection %d: %w", conn, err)
	}
	return nil
}

func (s *Server) now() time.Time {
	if s.opts.Now != nil {
		return s.opts.Now()
	}
	return time.Now()
}

// authorized checks the upgrade bearer against the secrets.
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
