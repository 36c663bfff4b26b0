package edge

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/relayhost/relay-host/host/internal/devconnector"
	"github.com/relayhost/relay-host/host/relay"
	"github.com/relayhost/relay-host/internal/notify"
	"github.com/relayhost/relay-host/pluginapi"
)

// Platforms the edge serves.
const (
	PlatformDiscord = "discord"
	PlatformTwilio  = "twilio"
)

// Paths the edge serves; each also takes a /{botId} suffix naming the
// identity, and without it uses the configured identity for the platform.
// An optional ?profile= query sets the forward's profile.
const (
	DiscordPath = "/interactions/discord"
	TwilioPath  = "/twilio"
)

// MaxBodyBytes is the largest request body the edge accepts: the plugins
// refuse larger bodies anyway (pluginapi.MaxBodyBytes), so a larger one is
// answered 413 at the edge instead of being carried to the host for nothing.
const MaxBodyBytes = pluginapi.MaxBodyBytes

// ackMemory is how many acknowledged bufferIds the edge remembers, to tell
// a first ack from the repeat the host sends for a replay it had already
// settled. Replays come on the next connection, so recent ids are the ones
// that matter; an older id acked again is reported as a first ack.
const ackMemory = 10_000

// TwiML is the empty TwiML document the edge answers Twilio with: "received,
// nothing to say" (a reply, if any, goes out later through the API).
const TwiML = `<?xml version="1.0" encoding="UTF-8"?><Response/>`

// Config configures an Edge.
type Config struct {
	// Addr is where the connector and the edge listen; "127.0.0.1:0" when
	// empty.
	Addr string
	// GatewayID and Secret are the credential the connector accepts from
	// the host (docs/protocol.md, Upgrade token). Both empty accepts any
	// upgrade.
	GatewayID, Secret string
	// Identities give the bot id used when a request path names none: the
	// first identity of each platform.
	Identities []relay.Identity
	// PublicKeys are the Discord application public keys a signature may
	// verify against. Empty means signatures are not checked and unsigned
	// interactions are accepted (dev only; a real connector always checks).
	PublicKeys []ed25519.PublicKey
	// Profile is the profile stamped on forwards whose request has no
	// ?profile= query; "" is the default profile.
	Profile string
	// OnEvent is told everything the edge does. Calls are serialised (never
	// concurrent) and come from request, link and watcher goroutines; it
	// must not block for long and must not call back into the Edge.
	OnEvent func(Event)
	// Logger receives the edge's and the connector's logs; nil discards.
	Logger hclog.Logger
	// Now is the clock signed timestamps are checked against; nil is
	// time.Now.
	Now func() time.Time
	// bodyTimeout replaces RequestReadTimeout (tests).
	bodyTimeout time.Duration
}

// Edge is the dev connector's platform-facing edge together with the
// in-process connector it forwards through. Its methods are safe for
// concurrent use.
type Edge struct {
	cfg     Config
	log     hclog.Logger
	srv     *devconnector.Server
	vault   *vault
	replays *replayGuard

	emitMu sync.Mutex

	mu       sync.Mutex
	lastConn int                 // newest connection that said hello
	hellos   int                 // hellos seen on lastConn
	acked    map[string]struct{} // bufferIds acked at least once (the last ackMemory)
	ackOrder []string            // acked's keys, oldest first
	changed  notify.Signal       // notified on every hello
}

// Start starts the connector and the edge on cfg.Addr.
func Start(cfg Config) (*Edge, error) {
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	e := &Edge{cfg: cfg, log: cfg.Logger, vault: newVault(nil), replays: newReplayGuard(), acked: map[string]struct{}{}}
	opts := devconnector.Options{
		Addr:            cfg.Addr,
		GatewayID:       cfg.GatewayID,
		Outbound:        e.outbound,
		MessageIDPrefix: MessageIDPrefix,
		OnMedia:         func(r devconnector.MediaRequest) { e.emit(Media{r}) },
		OnFrame:         e.onFrame,
		Logger:          cfg.Logger.Named("connector"),
	}
	if cfg.Secret != "" {
		opts.Secrets = []string{cfg.Secret}
	}
	e.srv = devconnector.New(opts)
	e.srv.HandleFunc("POST "+DiscordPath, e.serveDiscord)
	e.srv.HandleFunc("POST "+DiscordPath+"/{botId}", e.serveDiscord)
	e.srv.HandleFunc("POST "+TwilioPath, e.serveTwilio)
	e.srv.HandleFunc("POST "+TwilioPath+"/{botId}", e.serveTwilio)
	e.srv.HandleFunc("POST "+ForwardPathPrefix+"{platform}/{botId}/{path...}", e.serveForward)
	e.srv.HandleFunc("GET /{$}", e.serveIndex)
	if err := e.srv.Start(); err != nil {
		return nil, fmt.Errorf("start the dev connector on %s: %w", cfg.Addr, err)
	}
	if len(cfg.PublicKeys) == 0 {
		e.log.Info("no Discord public key configured: unsigned interactions are accepted")
	}
	return e, nil
}

// URL returns the base URL, http://127.0.0.1:<port>.
func (e *Edge) URL() string { return e.srv.URL() }

// DiscordURL returns the URL Discord interactions for botID are posted to.
func (e *Edge) DiscordURL(botID string) string {
	return e.URL() + DiscordPath + "/" + url.PathEscape(botID)
}

// TwilioURL returns the URL Twilio webhooks for botID are posted to.
func (e *Edge) TwilioURL(botID string) string {
	return e.URL() + TwilioPath + "/" + url.PathEscape(botID)
}

// Connector returns the in-process connector (its buffer and connection
// count are there for tests and diagnostics).
func (e *Edge) Connector() *devconnector.Server { return e.srv }

// Vaulted returns the number of interaction tokens held.
func (e *Edge) Vaulted() int { return e.vault.len() }

// Close stops the edge and the connector. It is idempotent.
func (e *Edge) Close() { e.srv.Close() }

// WaitHost waits until a host has connected, said hello for every
// configured identity (at least one) and completed its handshake; ctx must
// carry a deadline.
func (e *Edge) WaitHost(ctx context.Context) error {
	want := max(1, len(e.cfg.Identities))
	var conn int
	err := e.changed.Wait(ctx, func() bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		conn = e.lastConn
		return conn > 0 && e.hellos >= want
	})
	if err == nil {
		// A hello is reported just before its descriptor leaves.
		err = e.srv.WaitHandshake(ctx, conn)
	}
	if err != nil {
		return fmt.Errorf("wait for the host to connect: %w", err)
	}
	return nil
}

func (e *Edge) emit(ev Event) {
	if e.cfg.OnEvent == nil {
		return
	}
	e.emitMu.Lock()
	defer e.emitMu.Unlock()
	e.cfg.OnEvent(ev)
}

func (e *Edge) botID(platform, fromPath string) string {
	if fromPath != "" {
		return fromPath
	}
	for _, id := range e.cfg.Identities {
		if id.Platform == platform {
			return id.BotID
		}
	}
	return ""
}

func (e *Edge) profile(r *http.Request) string {
	if p := r.URL.Query().Get("profile"); p != "" {
		return p
	}
	return e.cfg.Profile
}

// readBody reads the request body up to MaxBodyBytes, answering 413 or 400
// itself when it cannot.
func (e *Edge) readBody(w http.ResponseWriter, r *http.Request, platform string) ([]byte, bool) {
	e.armDeadlines(w)
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			e.refuse(w, r, platform, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", MaxBodyBytes))
		} else {
			e.refuse(w, r, platform, http.StatusBadRequest, "cannot read the body")
		}
		return nil, false
	}
	return body, true
}

func (e *Edge) refuse(w http.ResponseWriter, r *http.Request, platform string, status int, reason string) {
	e.log.Debug("request refused", "platform", platform, "path", r.URL.Path, "status", status, "reason", reason)
	e.emit(Refused{Platform: platform, Path: r.URL.Path, Status: status, Reason: reason})
	http.Error(w, reason, status)
}

// answer writes the platform's response and flushes it, so the platform has
// its answer before the forward is handed on.
func (e *Edge) answer(w http.ResponseWriter, contentType, body string) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, body)
	_ = http.NewResponseController(w).Flush()
}

func (e *Edge) serveDiscord(w http.ResponseWriter, r *http.Request) {
	body, ok := e.readBody(w, r, PlatformDiscord)
	if !ok {
		return
	}
	signed := false
	if len(e.cfg.PublicKeys) > 0 {
		if !verifySignature(e.cfg.PublicKeys, r.Header.Get(HeaderSignature), r.Header.Get(HeaderTimestamp), body) {
			e.refuse(w, r, PlatformDiscord, http.StatusUnauthorized, "invalid request signature")
			return
		}
		if why := checkTimestamp(r.Header.Get(HeaderTimestamp), e.now()); why != "" {
			e.refuse(w, r, PlatformDiscord, http.StatusUnauthorized, why)
			return
		}
		signed = true
	}
	in, err := parseInteraction(body)
	if err != nil {
		e.refuse(w, r, PlatformDiscord, http.StatusBadRequest, err.Error())
		return
	}
	a, ok := ackFor(in.typ)
	if !ok {
		e.refuse(w, r, PlatformDiscord, http.StatusBadRequest, fmt.Sprintf("unsupported interaction type %d", in.typ))
		return
	}
	// Discord sends an interaction once: a signed one seen before is a
	// replay, refused before it is answered or forwarded. (Unsigned ones
	// are dev's curl lines, which may well be sent twice.)
	if signed && in.typ != TypePing && in.id != "" && !e.replays.first(in.id) {
		e.refuse(w, r, PlatformDiscord, http.StatusUnauthorized, "interaction already received: a replay")
		return
	}
	botID := e.botID(PlatformDiscord, r.PathValue("botId"))
	e.emit(Received{Platform: PlatformDiscord, BotID: botID, Path: r.URL.Path, Type: in.typ, ID: in.id, Bytes: len(body), Signed: signed})
	if in.typ == TypePing {
		// Answered at the edge and never forwarded (docs/protocol.md,
		// passthrough_forward).
		e.answer(w, "application/json", a.body)
		e.emit(Answered{Platform: PlatformDiscord, ID: in.id, Status: http.StatusOK, Body: a.body, Meaning: a.meaning})
		return
	}

	// The token leaves the body before anything else sees it.
	stripped, token, _, err := stripToken(body)
	if err != nil {
		e.refuse(w, r, PlatformDiscord, http.StatusBadRequest, "body is not a JSON object")
		return
	}
	f := pluginapi.Forward{Platform: PlatformDiscord, BotID: botID, Method: r.Method, Path: r.URL.Path,
		Headers: forwardHeaders(r, len(stripped)), Body: stripped, Profile: e.profile(r)}
	d := Delivery{Platform: f.Platform, BotID: botID, Path: f.Path, ID: in.id, Profile: f.Profile}
	if token == "" {
		d.NotVaulted = "the body carries no token"
	} else if session, why := sessionFor(stripped, f.Profile); session == "" {
		d.NotVaulted = why
	} else {
		d.Session, d.TokenID = session, e.vault.put(session, token, in.id)
	}
	e.answer(w, "application/json", a.body)
	e.emit(Answered{Platform: PlatformDiscord, ID: in.id, Status: http.StatusOK, Body: a.body, Meaning: a.meaning})
	e.forward(f, d)
}

func (e *Edge) serveTwilio(w http.ResponseWriter, r *http.Request) {
	body, ok := e.readBody(w, r, PlatformTwilio)
	if !ok {
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		e.refuse(w, r, PlatformTwilio, http.StatusBadRequest, "body is not a form (application/x-www-form-urlencoded)")
		return
	}
	id := form.Get("MessageSid")
	if id == "" {
		id = form.Get("CallSid")
	}
	botID := e.botID(PlatformTwilio, r.PathValue("botId"))
	e.emit(Received{Platform: PlatformTwilio, BotID: botID, Path: r.URL.Path, ID: id, Bytes: len(body)})
	e.answer(w, "text/xml", TwiML)
	e.emit(Answered{Platform: PlatformTwilio, ID: id, Status: http.StatusOK, Body: "<Response/>", Meaning: "empty TwiML"})
	f := pluginapi.Forward{Platform: PlatformTwilio, BotID: botID, Method: r.Method, Path: r.URL.Path,
		Headers: forwardHeaders(r, len(body)), Body: body, Profile: e.profile(r)}
	e.forward(f, Delivery{Platform: f.Platform, BotID: botID, Path: f.Path, ID: id, Profile: f.Profile})
}

func (e *Edge) serveIndex(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "relay-host dev connector\n\nPOST Discord interactions to %s[/BOT_ID]\nPOST Twilio webhooks to %s[/BOT_ID]\nPOST any platform's requests to %s<platform>/<bot_id>/<path…>\nThe host dials %s\n",
		e.URL()+DiscordPath, e.URL()+TwilioPath, e.URL()+ForwardPathPrefix, e.URL()+devconnector.RelayPath)
}

// forward hands f to the connector's durable buffer. Every forward goes
// through it: it is pushed at once when a host is connected (handshaked and
// not gone idle) and replayed on each handshake until acked, so nothing is
// lost while the host is away.
func (e *Edge) forward(f pluginapi.Forward, d Delivery) {
	var live bool
	d.BufferID, live = e.srv.Enqueue(f)
	e.log.Debug("forward enqueued", "platform", f.Platform, "path", f.Path, "buffer_id", d.BufferID, "live", live)
	if live {
		e.emit(Forwarded{d})
	} else {
		e.emit(Buffered{d})
	}
}

// credentialHeaders are request headers that carry a caller's credentials;
// the connector never forwards them.
func isCredentialHeader(name string) bool {
	switch name {
	case "authorization", "proxy-authorization", "cookie":
		return true
	}
	return false
}

// forwardHeaders lists r's headers as lower-cased [name, value] pairs:
// host first, then the rest by name (Go's HTTP server keeps headers in a map,
// so the arrival order between names is not known; the values of one name
// keep their order). Credentials are left out, and content-length is the
// forwarded body's.
func forwardHeaders(r *http.Request, bodyLen int) []pluginapi.Header {
	names := make([]string, 0, len(r.Header))
	for name := range r.Header {
		names = append(names, name)
	}
	sort.Strings(names)
	out := make([]pluginapi.Header, 0, len(names)+2)
	out = append(out, pluginapi.Header{Name: "host", Value: r.Host})
	hasLength := false
	for _, name := range names {
		lower := strings.ToLower(name)
		if isCredentialHeader(lower) || lower == "host" {
			continue
		}
		if lower == "content-length" {
			if !hasLength {
				out = append(out, pluginapi.Header{Name: lower, Value: strconv.Itoa(bodyLen)})
				hasLength = true
			}
			continue
		}
		for _, v := range r.Header[name] {
			out = append(out, pluginapi.Header{Name: lower, Value: v})
		}
	}
	return out
}

// onFrame reports the host's hellos, acks and going_idle frames, in the
// order they arrive on each connection (the connector's OnFrame; a hello
// comes just before its descriptor leaves, an ack after it trimmed the
// buffer).
func (e *Edge) onFrame(f devconnector.Frame) {
	switch f.Type {
	case "hello":
		e.onHello(f)
	case "inbound_ack":
		e.onAck(f.BufferID)
	case "going_idle":
		e.emit(HostIdle{Conn: f.Conn})
	}
}

// onHello reports the host connecting, and wakes WaitHost.
func (e *Edge) onHello(f devconnector.Frame) {
	e.mu.Lock()
	first := f.Conn > e.lastConn
	if first {
		e.lastConn, e.hellos = f.Conn, 0
	}
	e.hellos++
	e.mu.Unlock()
	e.changed.Notify()
	ev := HostConnected{Conn: f.Conn, Platform: f.Platform, BotID: f.BotID, First: first}
	if first {
		ev.Replaying = e.srv.Pending()
	}
	e.emit(ev)
}

// onAck reports an ack, telling a first ack from the repeat the host sends
// for a replay it had already settled.
func (e *Edge) onAck(bufferID string) {
	e.mu.Lock()
	_, again := e.acked[bufferID]
	if !again {
		e.acked[bufferID] = struct{}{}
		e.ackOrder = append(e.ackOrder, bufferID)
		if len(e.ackOrder) > ackMemory {
			delete(e.acked, e.ackOrder[0])
			e.ackOrder = e.ackOrder[1:]
		}
	}
	e.mu.Unlock()
	e.emit(Acked{BufferID: bufferID, Repeat: again})
}

// MessageIDPrefix prefixes the message (and thread) ids the dev connector
// answers with: "dev-msg-<n>".
const MessageIDPrefix = "dev-msg-"

// outbound answers one outbound request from the host as the connector
// would (devconnector.Server.Answer: message ids, thread ids, chat info), a
// follow_up only through a vaulted interaction token, and reports it.
func (e *Edge) outbound(of devconnector.OutboundFrame) devconnector.OutboundReply {
	str := func(k string) string { s, _ := of.Action[k].(string); return s }
	switch of.Op() {
	case "follow_up":
		fu := FollowUp{Session: str("session_key"), Kind: str("kind"), Content: str("content")}
		if fu.Kind != pluginapi.EgressDiscordInteractionToken {
			fu.Error = fmt.Sprintf("unsupported follow_up kind %q", fu.Kind)
			e.emit(fu)
			return devconnector.OutboundReply{Result: map[string]any{"success": false, "error": fu.Error}}
		}
		c, repeat, found := e.vault.take(fu.Session)
		if !found {
			fu.Error = "no interaction capability for this session"
			e.emit(fu)
			return devconnector.OutboundReply{Result: map[string]any{"success": false, "error": fu.Error}}
		}
		res := e.srv.Answer(of)
		fu.Matched, fu.Repeat, fu.InteractionID, fu.TokenID = true, repeat, c.interactionID, c.tokenID
		fu.MessageID, _ = res["message_id"].(string)
		e.emit(fu)
		return devconnector.OutboundReply{Result: res}
	case "send":
		res := e.srv.Answer(of)
		sent := Sent{ChatID: str("chat_id"), Content: str("content")}
		sent.MessageID, _ = res["message_id"].(string)
		sent.Error, _ = res["error"].(string)
		e.emit(sent)
		return devconnector.OutboundReply{Result: res}
	}
	res := e.srv.Answer(of)
	e.emit(outboundEvent(of, res))
	return devconnector.OutboundReply{Result: res}
}
