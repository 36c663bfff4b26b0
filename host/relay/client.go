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
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/hashicorp/go-hclog"

	"github.com/relayhost/relay-host/host/internal/logguard"
	"github.com/relayhost/relay-host/host/internal/wire"
	"github.com/relayhost/relay-host/internal/notify"
)

// Client is the gateway's WebSocket transport to the connector. Create it
// with New, drive it with Run; every other method is safe for concurrent use.
type Client struct {
	cfg    Config
	url    string
	logURL string
	authed bool
	hellos [][]byte
	log    hclog.Logger
	logs   *logguard.Limiter // rate-limits the per-frame log lines
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
	final    error // set once Run has returned
	// dormant is set by the dormant close and cleared by the next
	// handshake: the link is away by choice and a wake brings it back.
	dormant bool

	// wakeCh carries a wake to a dormant Run (capacity 1: wakes coalesce).
	wakeCh chan struct{}
	// lastActive is when the link last saw activity (UnixNano): what
	// DormantAfter is measured from.
	lastActive atomic.Int64
	// lastWake is when Wake was last called (UnixNano).
	lastWake atomic.Int64

	// changed is notified on every change of state and of final: what
	// WaitReady waits on (a connection becomes ready together with
	// StateConnected).
	changed notify.Signal

	// Owned by the Run goroutine.
	gen          uint64
	retryPending bool      // a provisional 4401 earned one fresh-token re-dial
	retryGen     uint64    // the generation of that re-dial once accepted
	lastDial     time.Time // when the last dial started
	idleSent     time.Time // when the last dormancy going_idle was sent
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
		cfg.Identities = []Identity{{Platform: wire.RelayPlatform}}
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
	if len(cfg.CommandManifest) > 0 && (!json.Valid(cfg.CommandManifest) || bytes.TrimSpace(cfg.CommandManifest)[0] != '[') {
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
		logs:    logguard.NewLimiter(nil),
		obs:     cfg.Observer,
		stopCh:  make(chan struct{}),
		runDone: make(chan struct{}),
		wakeCh:  make(chan struct{}, 1),
	}
	if cfg.DormantAfter > 0 {
		c.cfg.Handler = activityHandler{next: cfg.Handler, c: c}
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
		b, err := wire.EncodeHello(id.Platform, id.BotID, manifest)
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

// Run dials the connector, performs the handshake and serves the link,
// reconnecting forever with capped, jittered exponential backoff
// (docs/protocol.md, Reconnect and backoff).
// The first connect is retried like any other: failures are logged and
// reported to the Observer, never returned. Run returns nil once ctx is
// cancelled or Close is called (after closing the socket), and ErrRevoked
// when the connector revoked the credential (docs/protocol.md, Close code
// 4401). Run may be called once.
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
		if out.dormant {
			// Not a failure: the ladder is not advanced (a long
			// connection still resets it), and the next dial waits for
			// a wake rather than a backoff.
			backoff.settle(out.readyAt, out.ended)
			if c.cfg.DormantExit {
				c.enterDormant()
				c.log.Info("relay dormant: exiting as configured; the connector buffers until the gateway is started again", "gen", out.gen)
				return c.finish(ErrDormant)
			}
			if !c.sleep(ctx, out.gen) {
				c.log.Info("relay stopped while dormant")
				return c.finish(nil)
			}
			continue
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
	c.mu.Unlock()
	c.changed.Notify()
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
	dormant bool // closed to go dormant, after going_idle_ack
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
	c.lastDial = time.Now()
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
		// auth outcome: it is the fresh-token retry (docs/protocol.md, Close
		// code 4401).
		c.retryGen, c.retryPending = out.gen, false
	}
	ws.SetReadLimit(max(wire.MaxMessageBytes, int64(c.cfg.MaxFrameBytes)))
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
		if err := cn.writeLocked(wire.TypeHello, h); err != nil {
			c.log.Debug("relay hello write failed", "gen", out.gen, "error", err)
			break // the reader sees the close and says why
		}
	}
	cn.wmu.Unlock()

	hs := time.NewTimer(c.cfg.HandshakeTimeout)
	select {
	case <-cn.readyCh:
		hs.Stop()
		out.dormant = c.serve(ctx, cn)
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
	}
	if s == StateConnected {
		c.dormant = false // a successful dial ends dormancy
	}
	c.mu.Unlock()
	if changed {
		c.changed.Notify()
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
// the context's error when ctx ends first. ctx must carry a deadline, like
// every wait in relay-host: without one, WaitReady fails at once with an
// error wrapping notify's ErrNoDeadline.
func (c *Client) WaitReady(ctx context.Context) error {
	var final error
	err := c.changed.Wait(ctx, func() bool {
		c.mu.Lock()
		cn := c.conn
		final = c.final
		c.mu.Unlock()
		return final != nil || (cn != nil && cn.isReady())
	})
	switch {
	case err != nil:
		return fmt.Errorf("wait for relay handshake: %w", err)
	case final != nil:
		return final
	}
	return nil
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
// current connection. Its SupportedOps is shared with the connection's
// copy: read it, never modify it (a descriptor frame replaces the slice
// rather than changing it, so readers need no lock).
func (c *Client) Descriptor(platform string) (Descriptor, bool) {
	cn := c.current()
	if cn == nil {
		return Descriptor{}, false
	}
	cn.mu.Lock()
	defer cn.mu.Unlock()
	d, ok := cn.byPlatform[platform]
	return d, ok
}

// DefaultDescriptor returns the first descriptor of the current connection:
// the session default (docs/protocol.md, descriptor). Its SupportedOps is
// shared, like Descriptor's.
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
	return d, true
}

// announced reports whether platform is one of the fronted identities
// (one this gateway sent a hello for). Descriptors for other platforms are
// not kept: a connector could otherwise make the gateway hold any number.
func (c *Client) announced(platform string) bool {
	for _, id := range c.cfg.Identities {
		if id.Platform == platform {
			return true
		}
	}
	return false
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
