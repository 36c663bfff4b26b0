package relay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/hashicorp/go-hclog"

	"github.com/relayhost/relay-host/host/internal/gather"
	"github.com/relayhost/relay-host/pluginapi"
)

// Timeouts and backoff defaults. Each applies when the matching Config field
// is zero.
const (
	// DefaultHandshakeTimeout bounds the wait for the first descriptor after
	// the upgrade (connect_timeout_s, wire-contract.md §2.2).
	DefaultHandshakeTimeout = 30 * time.Second
	// DefaultOutboundTimeout bounds the wait for an outbound_result
	// (outbound_timeout_s, §4.5); after it the result is ambiguous.
	DefaultOutboundTimeout = 30 * time.Second
	// DefaultPingInterval is the keepalive ping period (§1.4 [LATER]).
	DefaultPingInterval = 30 * time.Second
	// DefaultPingTimeout is how long a ping may go unanswered before the
	// link is declared dead (§1.4 [LATER]; 20 s gave spurious closes under
	// WAN latency, incident 2026-08-18).
	DefaultPingTimeout = 60 * time.Second
	// DefaultBackoffBase is the first reconnect wait ceiling (§4.2).
	DefaultBackoffBase = 1 * time.Second
	// DefaultBackoffMax caps the reconnect wait (§4.2).
	DefaultBackoffMax = 30 * time.Second
	// DefaultStableAfter is how long a connection must stay up, from its
	// first descriptor, to reset the backoff ladder (§4.2 [LATEST]).
	DefaultStableAfter = 60 * time.Second
	// DefaultGoingIdleTimeout bounds the wait for going_idle_ack
	// (go_idle(timeout=10 s), §4.4). The host usually passes a shorter
	// context deadline at shutdown (the reference uses 2 s there).
	DefaultGoingIdleTimeout = 10 * time.Second
	// DefaultDialTimeout bounds TCP connect, TLS and the HTTP upgrade: the
	// websockets library's 10 s opening-handshake timeout (§1.4).
	DefaultDialTimeout = 10 * time.Second
	// DefaultWriteTimeout bounds one frame write. Not in the contract: a
	// write that cannot complete in 10 s means the peer stopped reading, and
	// the connection is torn down (and re-dialed) rather than left wedged.
	DefaultWriteTimeout = 10 * time.Second
	// DefaultCloseTimeout bounds the closing handshake before the socket is
	// dropped hard (each teardown await is bounded at 1 s in §4.6).
	DefaultCloseTimeout = 1 * time.Second

	// happyEyeballsDelay is the IPv4/IPv6 fallback delay (§1.4 [LATEST]).
	happyEyeballsDelay = 250 * time.Millisecond
)

// Close codes and reasons of wire-contract.md §4.1.
const (
	// UnauthorizedCloseCode is the private close code the connector uses to
	// refuse the upgrade credentials.
	UnauthorizedCloseCode = 4401
	// ExpiredCloseReason is the 4401 reason for a token that merely aged
	// out; it is never treated as a revocation.
	ExpiredCloseReason = "expired"
)

// Errors returned by the Client.
var (
	// ErrRevoked is returned by Run when the connector refused a freshly
	// minted token after a successful handshake (a second 4401 that is not
	// "expired", §4.1 [LATER]): the credential was revoked. The host should
	// stop and exit with the revocation status.
	ErrRevoked = errors.New("relay: connector revoked the gateway credential (4401 on a freshly minted token)")
	// ErrClosed is returned by WaitReady after Close, or after Run returned.
	ErrClosed = errors.New("relay: client closed")
	// ErrNotConnected is returned (wrapped) by AckInbound and Interrupt when
	// there is no socket.
	ErrNotConnected = errors.New("relay: " + ErrTextNotConnected)
)

// Identity is one platform identity the gateway fronts on the link; it is
// announced with one hello.
type Identity struct {
	// Platform is the platform name, e.g. "discord".
	Platform string
	// BotID is the platform identity (application or account id); may be "".
	BotID string
}

// Handler receives what the connector pushes down the link.
//
// All handler methods are called from the read goroutine and MUST NOT block
// (hand work to goroutines): the reader is the only thing that resolves
// outbound results and answers pings (§1.6). The transport never acks a
// delivery it hands to the Handler: the host acks buffered deliveries
// (non-empty bufferID) with Client.AckInbound after durable handoff or a
// deliberate drop (§5.3 [LATEST]). The one thing the transport settles
// itself is a buffered frame it cannot decode at all (an event or forward
// that is not an object): it can never become usable, and leaving it
// unacked would block the connector's ack-gated replay on every reconnect.
// A panic in a handler is recovered and logged.
type Handler interface {
	// Inbound receives a normalised event; bufferID is set for a buffered
	// replay and "" for a live delivery.
	Inbound(ev pluginapi.MessageEvent, bufferID string)
	// Passthrough receives a forwarded platform request; f.BufferID is set
	// for a buffered replay.
	Passthrough(f pluginapi.Forward)
	// InterruptInbound asks to stop the turn of one session.
	InterruptInbound(sessionKey, chatID string)
}

// Config configures a Client. Zero durations take the Default* constants.
type Config struct {
	// URL is the configured connector URL; it is normalised with DialURL.
	URL string
	// GatewayID and Secret authenticate the upgrade. When either is empty
	// the upgrade is sent without Authorization (dev/test, §1.3).
	GatewayID, Secret string
	// Identities are the fronted identities, one hello each, in order; the
	// first is the session default. Empty means [{relay, ""}] (§2.1).
	Identities []Identity
	// CommandManifest is an optional JSON array sent as command_manifest on
	// the "discord" hello only (§2.1 [LATER]).
	CommandManifest json.RawMessage
	// Handler receives inbound frames; required.
	Handler Handler
	// Logger receives the transport's logs; nil discards them.
	Logger hclog.Logger
	// Observer receives metric hooks; nil disables them.
	Observer Observer

	// HandshakeTimeout: DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// OutboundTimeout: DefaultOutboundTimeout.
	OutboundTimeout time.Duration
	// PingInterval: DefaultPingInterval.
	PingInterval time.Duration
	// PingTimeout: DefaultPingTimeout.
	PingTimeout time.Duration
	// BackoffBase: DefaultBackoffBase; negative means no wait (tests).
	BackoffBase time.Duration
	// BackoffMax: DefaultBackoffMax.
	BackoffMax time.Duration
	// StableAfter: DefaultStableAfter.
	StableAfter time.Duration
	// GoingIdleTimeout: DefaultGoingIdleTimeout.
	GoingIdleTimeout time.Duration
	// DialTimeout: DefaultDialTimeout.
	DialTimeout time.Duration
	// WriteTimeout: DefaultWriteTimeout.
	WriteTimeout time.Duration
	// CloseTimeout: DefaultCloseTimeout.
	CloseTimeout time.Duration
	// MaxFrameBytes is the per-frame limit: MaxFrameBytes when zero.
	MaxFrameBytes int
	// Now is the clock used to mint tokens; time.Now when nil.
	Now func() time.Time
}

// Client is the gateway's WebSocket transport to the connector. Create it
// with New, drive it with Run; every other method is safe for concurrent use.
type Client struct {
	cfg    Config
	url    string
	logURL string
	authed bool
	hellos [][]byte
	log    hclog.Logger
	obs    Observer
	http   *http.Client

	started  atomic.Bool
	stopOnce sync.Once
	stopCh   chan struct{}
	runDone  chan struct{}

	// Written by the reader, read by Run: a descriptor was ever received.
	handshakeEver atomic.Bool

	mu       sync.Mutex
	conn     *conn
	closing  bool
	inflight int
	drained  chan struct{}
	state    State
	stateCh  chan struct{} // closed and replaced on every change
	final    error         // set once Run has returned

	// Owned by the Run goroutine.
	gen          uint64
	retryPending bool   // a provisional 4401 earned one fresh-token re-dial
	retryGen     uint64 // the generation of that re-dial once accepted
}

// New validates cfg and returns a Client; it does not dial.
func New(cfg Config) (*Client, error) {
	if cfg.Handler == nil {
		return nil, errors.New("relay: Config.Handler is required")
	}
	target := DialURL(cfg.URL)
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("relay: connector URL: %w", err)
	}
	if (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		return nil, fmt.Errorf("relay: connector URL %q: want http://, https://, ws:// or wss:// with a host", u.Redacted())
	}
	if len(cfg.Identities) == 0 {
		cfg.Identities = []Identity{{Platform: RelayPlatform}}
	} else {
		cfg.Identities = append([]Identity(nil), cfg.Identities...)
	}
	seen := map[string]bool{}
	for i, id := range cfg.Identities {
		if id.Platform == "" {
			return nil, fmt.Errorf("relay: identity %d has no platform", i)
		}
		if seen[id.Platform] {
			return nil, fmt.Errorf("relay: platform %q is listed twice in the identities", id.Platform)
		}
		seen[id.Platform] = true
	}
	if len(cfg.CommandManifest) > 0 && (!json.Valid(cfg.CommandManifest) || rawKind(cfg.CommandManifest) != '[') {
		return nil, errors.New("relay: Config.CommandManifest must be a JSON array")
	}
	setDefault(&cfg.HandshakeTimeout, DefaultHandshakeTimeout)
	setDefault(&cfg.OutboundTimeout, DefaultOutboundTimeout)
	setDefault(&cfg.PingInterval, DefaultPingInterval)
	setDefault(&cfg.PingTimeout, DefaultPingTimeout)
	setDefault(&cfg.BackoffBase, DefaultBackoffBase)
	setDefault(&cfg.BackoffMax, DefaultBackoffMax)
	setDefault(&cfg.StableAfter, DefaultStableAfter)
	setDefault(&cfg.GoingIdleTimeout, DefaultGoingIdleTimeout)
	setDefault(&cfg.DialTimeout, DefaultDialTimeout)
	setDefault(&cfg.WriteTimeout, DefaultWriteTimeout)
	setDefault(&cfg.CloseTimeout, DefaultCloseTimeout)
	if cfg.MaxFrameBytes <= 0 {
		cfg.MaxFrameBytes = MaxFrameBytes
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &Client{
		cfg:     cfg,
		url:     target,
		logURL:  u.Redacted(),
		authed:  cfg.GatewayID != "" && cfg.Secret != "",
		log:     cfg.Logger,
		obs:     cfg.Observer,
		stopCh:  make(chan struct{}),
		runDone: make(chan struct{}),
		stateCh: make(chan struct{}),
	}
	if c.log == nil {
		c.log = hclog.NewNullLogger()
	}
	if c.obs == nil {
		c.obs = nopObserver{}
	}
	for _, id := range cfg.Identities {
		var manifest json.RawMessage
		if id.Platform == "discord" {
			manifest = cfg.CommandManifest
		}
		b, err := EncodeHello(id.Platform, id.BotID, manifest)
		if err != nil {
			return nil, fmt.Errorf("relay: %w", err)
		}
		c.hellos = append(c.hellos, b)
	}
	// A private transport: no connection pooling (every dial is a fresh
	// upgrade, and a refused upgrade must not leave an idle keep-alive
	// connection behind).
	c.http = &http.Client{Transport: &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: linkDialer((&net.Dialer{
			Timeout:       cfg.DialTimeout,
			KeepAlive:     30 * time.Second,
			FallbackDelay: happyEyeballsDelay,
		}).DialContext, cfg.WriteTimeout),
		TLSHandshakeTimeout: cfg.DialTimeout,
		DisableKeepAlives:   true,
	}}
	return c, nil
}

func setDefault(d *time.Duration, def time.Duration) {
	if *d == 0 {
		*d = def
	}
}

// Run dials the connector, performs the handshake and serves the link,
// reconnecting forever with capped, jittered exponential backoff (§4.2).
// The first connect is retried like any other: failures are logged and
// reported to the Observer, never returned. Run returns nil once ctx is
// cancelled or Close is called (after closing the socket), and ErrRevoked
// when the connector revoked the credential (§4.1 [LATER]). Run may be
// called once.
func (c *Client) Run(ctx context.Context) error {
	if !c.started.CompareAndSwap(false, true) {
		return errors.New("relay: Run called more than once")
	}
	defer close(c.runDone)
	defer c.http.CloseIdleConnections()
	ctx, cancel := context.WithCancel(ctx)
	var watch sync.WaitGroup
	watch.Add(1)
	go func() {
		defer watch.Done()
		select {
		case <-c.stopCh:
			cancel()
		case <-ctx.Done():
		}
	}()
	defer watch.Wait()
	defer cancel()

	if !c.authed {
		c.log.Info("relay dialing without credentials (gateway id or secret not set)")
	}
	backoff := ladder{base: c.cfg.BackoffBase, max: c.cfg.BackoffMax, stable: c.cfg.StableAfter}
	for dial := 0; ; dial++ {
		select {
		case <-c.stopCh:
			return c.finish(nil)
		default:
		}
		if ctx.Err() != nil {
			return c.finish(nil)
		}
		if dial > 0 {
			c.obs.Reconnect()
		}
		out := c.connectOnce(ctx)
		if ctx.Err() != nil || out.stopped {
			c.setState(StateDisconnected)
			c.log.Info("relay disconnected", "gen", out.gen, "reason", "shutdown")
			return c.finish(nil)
		}
		fields := out.logFields()
		if out.code == UnauthorizedCloseCode {
			switch {
			case !c.handshakeEver.Load():
				fields = append(fields, "note", "credential refused before any handshake (not provisioned yet, or a cold start); retrying with backoff")
			case out.reason == ExpiredCloseReason:
				fields = append(fields, "note", "upgrade token expired; reconnecting with backoff")
			case out.gen == c.retryGen:
				c.setState(StateDisconnected)
				c.log.Error("relay disconnected: the connector refused a freshly minted token; treating the credential as revoked and not reconnecting", fields...)
				return c.finish(ErrRevoked)
			default:
				c.retryPending = true
				c.setState(StateDisconnected)
				c.log.Warn("relay disconnected: 4401 after a successful handshake; re-dialing once now with a fresh token before treating it as a revocation", append(fields, "retry_in", time.Duration(0))...)
				continue
			}
		}
		wait := backoff.next(out.readyAt, out.ended, rand.Float64())
		c.setState(StateDisconnected)
		c.log.Warn("relay disconnected", append(fields, "attempt", backoff.attempt, "retry_in", wait)...)
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				c.log.Info("relay stopped while waiting to reconnect")
				return c.finish(nil)
			}
		}
	}
}

// finish records why Run ended, wakes WaitReady callers and returns err.
func (c *Client) finish(err error) error {
	final := err
	if final == nil {
		final = ErrClosed
	}
	c.mu.Lock()
	c.final = final
	c.closing = true
	close(c.stateCh)
	c.stateCh = make(chan struct{})
	c.mu.Unlock()
	return err
}

// outcome describes how one connection (or dial attempt) ended.
type outcome struct {
	gen     uint64
	code    int    // peer close code; -1 when there was none
	reason  string // peer close reason
	err     error  // what ended it
	readyAt time.Time
	ended   time.Time
	stopped bool // deliberate: ctx cancelled or Close
}

func (o outcome) logFields() []any {
	f := []any{"gen", o.gen}
	if o.code >= 0 {
		f = append(f, "close_code", o.code, "close_reason", o.reason)
	}
	if o.err != nil {
		f = append(f, "error", o.err.Error())
	}
	if !o.readyAt.IsZero() {
		f = append(f, "uptime", o.ended.Sub(o.readyAt).Round(time.Millisecond))
	} else {
		f = append(f, "handshake", false)
	}
	return f
}

// connectOnce dials once and serves the connection until it ends.
func (c *Client) connectOnce(ctx context.Context) outcome {
	c.gen++
	out := outcome{gen: c.gen, code: -1}
	c.setState(StateConnecting)
	c.log.Info("relay connecting", "url", c.logURL, "gen", out.gen, "authenticated", c.authed)

	hdr := http.Header{}
	if c.authed {
		hdr.Set("Authorization", "Bearer "+MakeUpgradeToken(c.cfg.GatewayID, c.cfg.Secret, c.cfg.Now()))
	}
	dctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	slot := &dialSlot{}
	dctx = context.WithValue(dctx, dialSlotKey{}, slot)
	ws, resp, err := websocket.Dial(dctx, c.url, &websocket.DialOptions{HTTPClient: c.http, HTTPHeader: hdr})
	cancel()
	if err != nil {
		if resp != nil {
			out.err = fmt.Errorf("dial connector: upgrade refused with HTTP %d: %w", resp.StatusCode, err)
		} else {
			out.err = fmt.Errorf("dial connector: %w", err)
		}
		out.ended = time.Now()
		out.stopped = ctx.Err() != nil
		return out
	}
	if c.retryPending {
		// The upgrade was accepted, so this dial's fresh token reaches an
		// auth outcome: it is the fresh-token retry (§4.1 [LATER]).
		c.retryGen, c.retryPending = out.gen, false
	}
	ws.SetReadLimit(max(MaxMessageBytes, int64(c.cfg.MaxFrameBytes)))
	cn := newConn(c, ws, out.gen)
	cn.nc = slot.conn

	// Hold the write lock while installing the socket so that an outbound
	// request issued meanwhile is written after the hellos.
	cn.wmu.Lock()
	c.mu.Lock()
	c.conn = cn
	c.mu.Unlock()
	cn.start()
	for _, h := range c.hellos {
		if err := cn.writeLocked(TypeHello, h); err != nil {
			c.log.Debug("relay hello write failed", "gen", out.gen, "error", err)
			break // the reader sees the close and says why
		}
	}
	cn.wmu.Unlock()

	hs := time.NewTimer(c.cfg.HandshakeTimeout)
	select {
	case <-cn.readyCh:
		hs.Stop()
		select {
		case <-cn.readerDone:
		case <-ctx.Done():
			cn.shutdown(websocket.StatusNormalClosure, "gateway shutting down", true)
		}
	case <-cn.readerDone:
		hs.Stop()
	case <-hs.C:
		c.log.Warn("relay connector sent no descriptor in time; closing the connection", "gen", out.gen, "timeout", c.cfg.HandshakeTimeout)
		cn.shutdown(websocket.StatusPolicyViolation, "no descriptor within the handshake timeout", false)
	case <-ctx.Done():
		hs.Stop()
		cn.shutdown(websocket.StatusNormalClosure, "gateway shutting down", true)
	}
	cn.finish()

	out.ended = time.Now()
	out.readyAt = cn.readyTime()
	out.stopped = cn.deliberate.Load()
	if local := cn.local.Load(); local != nil {
		out.err = errors.New(*local)
	} else if cn.readErr != nil {
		var ce websocket.CloseError
		if errors.As(cn.readErr, &ce) {
			out.code, out.reason = int(ce.Code), ce.Reason
		} else {
			out.err = fmt.Errorf("read: %w", cn.readErr)
		}
	}
	return out
}

// setState records a state change, wakes WaitReady callers and tells the
// Observer.
func (c *Client) setState(s State) {
	c.mu.Lock()
	changed := c.state != s
	if changed {
		c.state = s
		close(c.stateCh)
		c.stateCh = make(chan struct{})
	}
	c.mu.Unlock()
	if changed {
		c.obs.State(s)
	}
}

// current returns the installed connection, or nil.
func (c *Client) current() *conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conn
}

// WaitReady blocks until the current connection has received its first
// descriptor. It returns ErrClosed (or ErrRevoked) once Run has returned, and
// the context's error when ctx ends first.
func (c *Client) WaitReady(ctx context.Context) error {
	for {
		c.mu.Lock()
		if c.final != nil {
			err := c.final
			c.mu.Unlock()
			return err
		}
		cn, ch := c.conn, c.stateCh
		c.mu.Unlock()
		if cn != nil && cn.isReady() {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("wait for relay handshake: %w", ctx.Err())
		}
	}
}

// Ready reports whether a socket is up and its handshake is done.
func (c *Client) Ready() bool {
	cn := c.current()
	return cn != nil && cn.isReady()
}

// State returns the current connection state.
func (c *Client) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// Descriptor returns the descriptor the connector sent for platform on the
// current connection.
func (c *Client) Descriptor(platform string) (Descriptor, bool) {
	cn := c.current()
	if cn == nil {
		return Descriptor{}, false
	}
	cn.mu.Lock()
	defer cn.mu.Unlock()
	d, ok := cn.byPlatform[platform]
	d.SupportedOps = slices.Clone(d.SupportedOps)
	return d, ok
}

// DefaultDescriptor returns the first descriptor of the current connection:
// the session default (§2.2).
func (c *Client) DefaultDescriptor() (Descriptor, bool) {
	cn := c.current()
	if cn == nil {
		return Descriptor{}, false
	}
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if cn.def == nil {
		return Descriptor{}, false
	}
	d := *cn.def
	d.SupportedOps = slices.Clone(d.SupportedOps)
	return d, true
}

// botIDFor returns the botId of the fronted identity for platform.
func (c *Client) botIDFor(platform string) string {
	for _, id := range c.cfg.Identities {
		if id.Platform == platform {
			return id.BotID
		}
	}
	return ""
}

// Outbound sends one outbound action and waits for its outbound_result
// (§2.1, §4.5). action must encode as a JSON object (a map, a struct or
// json.RawMessage). platform tags the egress platform ("" for the session
// default); botID goes with it, and when it is "" the botId of the fronted
// identity for that platform is used.
//
// Outbound never returns an error. It fails fast, not ambiguous, while the
// client is closing ("relay transport closed"), when there is no socket
// ("relay transport not connected") and when the write fails ("relay send
// failed: …"). Once the frame is on the wire, every failure is ambiguous: no
// answer within OutboundTimeout ("relay outbound timed out"), the connection
// dropping ("relay transport connection lost"; the reference leaves this one
// unflagged, see Open question 4), Close giving up on it ("relay send
// failed: relay transport closed") and ctx ending ("relay send failed:
// context …").
func (c *Client) Outbound(ctx context.Context, action any, platform, botID string) OutboundResult {
	if platform != "" && botID == "" {
		botID = c.botIDFor(platform)
	}
	reqID := NewRequestID()
	frame, err := EncodeOutbound(reqID, action, platform, botID)
	if err != nil {
		return OutboundResult{Error: ErrTextSendFailed + ": " + err.Error()}
	}
	if err := ctx.Err(); err != nil {
		return OutboundResult{Error: ErrTextSendFailed + ": " + err.Error()}
	}
	ch := make(chan OutboundResult, 1)
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return OutboundResult{Error: ErrTextClosed}
	}
	cn := c.conn
	if cn == nil || !cn.addPending(reqID, ch) {
		c.mu.Unlock()
		return OutboundResult{Error: ErrTextNotConnected}
	}
	c.inflight++
	c.mu.Unlock()
	defer c.doneInflight()

	if err := cn.write(TypeOutbound, frame); err != nil {
		cn.dropPending(reqID)
		c.log.Debug("relay outbound write failed", "request_id", reqID, "error", err)
		return OutboundResult{Error: ErrTextSendFailed + ": " + err.Error()}
	}
	t := time.NewTimer(c.cfg.OutboundTimeout)
	defer t.Stop()
	select {
	case r := <-ch:
		return r
	case <-t.C:
		cn.dropPending(reqID)
		select {
		case r := <-ch: // the answer raced the timer
			return r
		default:
		}
		c.log.Warn("relay outbound timed out; outcome unknown", "request_id", reqID, "timeout", c.cfg.OutboundTimeout)
		return OutboundResult{Error: ErrTextTimedOut, Ambiguous: true}
	case <-ctx.Done():
		cn.dropPending(reqID)
		select {
		case r := <-ch:
			return r
		default:
		}
		return OutboundResult{Error: ErrTextSendFailed + ": " + ctx.Err().Error(), Ambiguous: true}
	}
}

func (c *Client) doneInflight() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inflight--
	if c.inflight == 0 && c.drained != nil {
		close(c.drained)
		c.drained = nil
	}
}

// AckInbound sends inbound_ack for a buffered delivery once the host has
// durably handed it off or deliberately dropped it (§2.1, §5.3). The ack goes
// over the current socket (also while Close is draining). It fails only when
// there is no socket or the write fails; the connector then simply
// redelivers the item on the next connection.
func (c *Client) AckInbound(bufferID string) error {
	if bufferID == "" {
		return errors.New("relay: ack inbound: empty bufferId")
	}
	cn := c.current()
	if cn == nil {
		return fmt.Errorf("ack inbound: %w", ErrNotConnected)
	}
	if err := cn.write(TypeInboundAck, EncodeInboundAck(bufferID)); err != nil {
		return fmt.Errorf("ack inbound: %w", err)
	}
	return nil
}

// Interrupt sends a fire-and-forget interrupt for sessionKey; an empty
// reason is sent as null (§2.1).
func (c *Client) Interrupt(sessionKey, reason string) error {
	cn := c.current()
	if cn == nil {
		return fmt.Errorf("send interrupt: %w", ErrNotConnected)
	}
	if err := cn.write(TypeInterrupt, EncodeInterrupt(sessionKey, reason)); err != nil {
		return fmt.Errorf("send interrupt: %w", err)
	}
	return nil
}

// GoIdle asks the connector to switch this instance to buffered-only
// delivery and waits for going_idle_ack (§4.4), at most GoingIdleTimeout or
// until ctx ends. The reader keeps serving meanwhile, so deliveries that land
// in the flip window still arrive live. It returns true on the ack, false when
// not connected, closing, on timeout, or when the connection drops.
func (c *Client) GoIdle(ctx context.Context) bool {
	c.mu.Lock()
	cn, closing := c.conn, c.closing
	c.mu.Unlock()
	if cn == nil || closing {
		return false
	}
	ch := make(chan struct{})
	if !cn.addIdleWaiter(ch) {
		return false
	}
	if err := cn.write(TypeGoingIdle, EncodeGoingIdle()); err != nil {
		c.log.Warn("relay going_idle write failed", "error", err)
		return false
	}
	t := time.NewTimer(c.cfg.GoingIdleTimeout)
	defer t.Stop()
	select {
	case <-ch:
		c.log.Info("relay connector switched this instance to buffered delivery (going_idle_ack)")
		return true
	case <-cn.readerDone:
		c.log.Warn("relay connection dropped while waiting for going_idle_ack")
	case <-t.C:
		c.log.Warn("relay no going_idle_ack in time", "timeout", c.cfg.GoingIdleTimeout)
	case <-ctx.Done():
		c.log.Warn("relay gave up waiting for going_idle_ack", "error", ctx.Err())
	}
	return false
}

// Close disconnects deliberately (§4.6): new outbound calls fail fast with
// "relay transport closed", in-flight outbound requests are waited for until
// ctx ends, then the socket is closed with 1000 and whatever is still in
// flight fails with "relay send failed: relay transport closed" (ambiguous).
// Close then waits for Run to return. The drain is bounded by ctx; the
// closing handshake after it is bounded by CloseTimeout, so Close may
// outlast ctx by about that much, and returns ctx's error only if Run has
// still not returned then. It is idempotent; a client that was never Run is
// simply marked closed.
func (c *Client) Close(ctx context.Context) error {
	c.mu.Lock()
	c.closing = true
	var drained chan struct{}
	n := c.inflight
	if n > 0 {
		if c.drained == nil {
			c.drained = make(chan struct{})
		}
		drained = c.drained
	}
	c.mu.Unlock()
	if drained != nil {
		c.log.Info("relay closing: waiting for in-flight outbound requests", "in_flight", n)
		select {
		case <-drained:
		case <-ctx.Done():
			c.log.Warn("relay closing: drain budget spent; failing the remaining outbound requests")
		}
	}
	c.stopOnce.Do(func() { close(c.stopCh) })
	if !c.started.Load() {
		c.mu.Lock()
		if c.final == nil {
			c.final = ErrClosed
			close(c.stateCh)
			c.stateCh = make(chan struct{})
		}
		c.mu.Unlock()
		return nil
	}
	// The drain is bounded by ctx; the closing handshake that follows is
	// bounded by CloseTimeout on its own, so a spent drain budget still gets
	// the socket closed before Close returns.
	grace := time.NewTimer(2*c.cfg.CloseTimeout + 100*time.Millisecond)
	defer grace.Stop()
	select {
	case <-c.runDone:
		return nil
	case <-ctx.Done():
	}
	select {
	case <-c.runDone:
		return nil
	case <-grace.C:
		return fmt.Errorf("close relay client: %w", ctx.Err())
	}
}

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
	pending    map[string]chan OutboundResult
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
		pending:    map[string]chan OutboundResult{},
	}
}

func (cn *conn) start() {
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

func (cn *conn) addPending(id string, ch chan OutboundResult) bool {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if cn.dead {
		return false
	}
	cn.pending[id] = ch
	return true
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
func (cn *conn) write(typ FrameType, b []byte) error {
	cn.waiting.Add(1)
	cn.wmu.Lock()
	cn.waiting.Add(-1)
	defer cn.wmu.Unlock()
	return cn.writeLocked(typ, b)
}

// writeLocked writes one frame; the caller holds wmu. When other writers
// are queued behind it, the frame stays held in the TCP connection and the
// last writer of the queue sends every held frame in one syscall; each
// frame is still its own WebSocket message (§1.5). A write error (the write
// timeout included) drops the connection, so that it is re-dialed rather
// than left wedged.
func (cn *conn) writeLocked(typ FrameType, b []byte) error {
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
		cn.c.log.Trace("relay frame out", "gen", cn.gen, "type", typ, "bytes", len(b), "frame", clip(b))
	}
	return nil
}

// readLoop is the connection's only reader: it splits messages into frames
// and dispatches each in order. It never waits for anything it resolves.
func (cn *conn) readLoop() {
	defer cn.wg.Done()
	defer close(cn.readerDone)
	defer cn.fail()
	sp := NewSplitter(cn.c.cfg.MaxFrameBytes)
	var buf bytes.Buffer
	for {
		_, r, err := cn.ws.Reader(cn.ctx)
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
		if buf.Cap() > carryRetain {
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
	for _, ch := range pending {
		ch <- res // buffered; each channel has exactly one sender
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
			c.log.Trace("relay frame in", "gen", cn.gen, "bytes", len(line), "frame", clip(line))
		}
		var f Frame
		if f, err = DecodeFrame(line); err == nil {
			cn.dispatch(f)
			return
		}
	}
	var de *DecodeError
	if !errors.As(err, &de) {
		de = &DecodeError{Kind: BadFrameMalformedJSON, Detail: err.Error()}
	}
	c.obs.BadFrame(de.Kind)
	c.log.Warn("relay skipping malformed frame", "gen", cn.gen, "reason", de.Kind,
		"type", clipString(string(de.Type)), "buffer_id", clipString(de.BufferID), "detail", de.Detail)
	if de.BufferID != "" && (de.Type == TypeInbound || de.Type == TypePassthroughForward) {
		// An undecodable buffered delivery can never become decodable, and
		// leaving it unacked would block the connector's ack-gated drain on
		// every reconnect: settle it as a deliberate drop (§5.3 step 3).
		if err := cn.write(TypeInboundAck, EncodeInboundAck(de.BufferID)); err != nil {
			c.log.Debug("relay ack of an undecodable delivery failed", "buffer_id", clipString(de.BufferID), "error", err)
		}
	}
}

func (cn *conn) dispatch(f Frame) {
	c := cn.c
	if !f.Type.Incoming() {
		c.obs.FrameIn("unknown")
		c.log.Debug("relay ignoring frame of unhandled type", "type", clipString(string(f.Type)))
		return
	}
	defer c.obs.FrameIn(string(f.Type)) // counted once handled
	switch f.Type {
	case TypeDescriptor:
		cn.onDescriptor(*f.Descriptor)
	case TypeInbound:
		c.safeCall("inbound", func() { c.cfg.Handler.Inbound(f.Inbound.Event, f.Inbound.BufferID) })
	case TypePassthroughForward:
		c.safeCall("passthrough", func() { c.cfg.Handler.Passthrough(*f.Forward) })
	case TypeInterruptInbound:
		c.safeCall("interrupt_inbound", func() {
			c.cfg.Handler.InterruptInbound(f.Interrupt.SessionKey, f.Interrupt.ChatID)
		})
	case TypeOutboundResult:
		cn.mu.Lock()
		ch, ok := cn.pending[f.Result.RequestID]
		delete(cn.pending, f.Result.RequestID)
		cn.mu.Unlock()
		if !ok {
			c.log.Debug("relay outbound_result for an unknown or settled request; ignored", "request_id", clipString(f.Result.RequestID))
			return
		}
		ch <- f.Result.Result
	case TypeGoingIdleAck:
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
	if d.Platform != "" {
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
		c.log.Debug("relay descriptor", "gen", cn.gen, "platform", d.Platform)
		return
	}
	close(cn.readyCh)
	c.setState(StateConnected)
	c.log.Info("relay connected", "gen", cn.gen, "platform", d.Platform, "contract_version", d.ContractVersion,
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

// traceClip bounds frame text in TRACE logs.
const traceClip = 2048

func clip(b []byte) string {
	if len(b) > traceClip {
		return string(b[:traceClip]) + "…"
	}
	return string(b)
}

// clipString bounds peer-controlled strings (types, ids) in logs.
func clipString(s string) string {
	const max = 80
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}
