package agentapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/relayhost/relay-host/host/relay"
)

// Defaults and limits of the agent API.
const (
	// DefaultChatMemory is how many chats the enrichment memory holds
	// (--chat-memory): enough for a busy multi-tenant gateway, at about
	// 200 bytes a chat.
	DefaultChatMemory = 100_000
	// DefaultEventMemory is how many delivered events POST /v1/reply can
	// still answer by event_id or session_key. An event is answered within
	// seconds to minutes; 10,000 covers the busiest gateway's last hour.
	DefaultEventMemory = 10_000
	// DefaultOpenPrompts bounds the open prompts kept for their answers;
	// the oldest is forgotten first.
	DefaultOpenPrompts = 10_000
	// DefaultPromptTimeout is how long a prompt waits for its answer when
	// the action names no timeout_s.
	DefaultPromptTimeout = time.Hour
	// ResolvedPromptMemory is how many answered prompt ids are remembered,
	// so a double tap or a redelivered answer is swallowed as a repeat
	// rather than answered as expired (the reference gateway's number).
	ResolvedPromptMemory = 256
	// DefaultTypingDelay is how long an event's delivery must have been in
	// flight before the first typing heartbeat.
	DefaultTypingDelay = time.Second
	// DefaultTypingInterval is the typing heartbeat cadence: platforms show
	// "typing…" for 5 to 10 s after each signal.
	DefaultTypingInterval = 8 * time.Second
	// PromptExpiredText is the notice sent to a chat when an answer comes
	// for a prompt that no longer waits for one.
	PromptExpiredText = "That prompt is no longer waiting for an answer."
)

// Endpoint names accepted by Service.Call.
const (
	EndpointActions   = "actions"
	EndpointReply     = "reply"
	EndpointInterrupt = "interrupt"
)

// CodeUnsupportedOp is the code of the 409 answer to an op the destination
// does not advertise.
const CodeUnsupportedOp = "unsupported_op"

// Link is what the agent API needs of the connector link; *relay.Client
// implements it.
type Link interface {
	// Outbound sends one action and waits for its result; it fails fast,
	// without sending, when the link is not connected.
	Outbound(ctx context.Context, action any, platform, botID string) relay.OutboundResult
	// Interrupt sends an interrupt frame for a session.
	Interrupt(sessionKey, reason string) error
	// Descriptor returns the connector's descriptor for a platform.
	Descriptor(platform string) (relay.Descriptor, bool)
	// DefaultDescriptor returns the session default descriptor.
	DefaultDescriptor() (relay.Descriptor, bool)
	// Ready reports whether the link is connected and handshaken.
	Ready() bool
	// State returns the link's connection state.
	State() relay.State
}

// Config configures a Service.
type Config struct {
	// Link is the connector link; required.
	Link Link
	// Identities are the fronted identities, as given to the link; empty
	// means the one identity {relay, ""}.
	Identities []relay.Identity
	// ChatMemory bounds the chat memory (DefaultChatMemory when <= 0).
	ChatMemory int
	// EventMemory bounds the event registry (DefaultEventMemory when <= 0).
	EventMemory int
	// OpenPrompts bounds the open prompts (DefaultOpenPrompts when <= 0).
	OpenPrompts int
	// AllowUnknownOps lets actions with ops relay-host does not know through
	// (still gated on the descriptor).
	AllowUnknownOps bool
	// Typing turns the typing heartbeat of Around on (the CLI's --typing,
	// on by default there).
	Typing bool
	// Reactions turns the processing reactions of Around on (the CLI's
	// --reactions, on by default there).
	Reactions bool
	// TypingDelay and TypingInterval tune the heartbeat
	// (DefaultTypingDelay, DefaultTypingInterval when zero).
	TypingDelay, TypingInterval time.Duration
	// ConnectorBase is the connector's HTTP base, http(s)://host[:port][/base]:
	// the dial URL with ws→http, wss→https and /relay stripped (see
	// ConnectorBase). The media plane lives under it; empty disables
	// GET and POST /v1/media.
	ConnectorBase string
	// Bearer mints a fresh upgrade token for the media plane; required with
	// ConnectorBase.
	Bearer func() string
	// UserAgent is sent on media requests: "relay-host/<version>".
	UserAgent string
	// MediaClient fetches and uploads media; nil uses a client of its own
	// that follows no redirects. Its Timeout is replaced by MediaTimeout.
	MediaClient *http.Client
	// Logger receives the service's logs; nil discards them.
	Logger hclog.Logger
	// Now is the clock for prompt expiry; time.Now when nil.
	Now func() time.Time
	// Rand is the source of prompt ids and the process nonce; crypto/rand
	// when nil.
	Rand io.Reader
	// Egress, when set, is asked for the platform of each action's chat:
	// an action for a platform whose egress a plugin owns goes to that
	// plugin (egress.go) instead of the connector link.
	Egress func(platform string) (Egress, bool)
}

// Service is the transport-agnostic core of the agent API: it validates,
// enriches, gates, splits and sends agent actions, answers /v1/reply and
// /v1/interrupt, keeps the chat memory and the open prompts, and sends the
// lifecycle signals around deliveries. The HTTP handler (NewHandler) and any
// other front end call Call. Its methods are safe for concurrent use.
type Service struct {
	cfg     Config
	link    Link
	log     hclog.Logger
	mem     *memory
	prompts *prompts
	media   *mediaPlane

	// bg is cancelled by Close; it bounds the lifecycle signals, which wg
	// counts. bgMu orders wg.Add against Close's wait.
	bg   context.Context
	stop context.CancelFunc
	bgMu sync.Mutex
	wg   sync.WaitGroup
}

// New validates cfg and returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Link == nil {
		return nil, errors.New("agentapi: Config.Link is required")
	}
	if len(cfg.Identities) == 0 {
		cfg.Identities = []relay.Identity{{Platform: relay.RelayPlatform}}
	} else {
		cfg.Identities = append([]relay.Identity(nil), cfg.Identities...)
	}
	if cfg.ChatMemory <= 0 {
		cfg.ChatMemory = DefaultChatMemory
	}
	if cfg.EventMemory <= 0 {
		cfg.EventMemory = DefaultEventMemory
	}
	if cfg.OpenPrompts <= 0 {
		cfg.OpenPrompts = DefaultOpenPrompts
	}
	if cfg.TypingDelay <= 0 {
		cfg.TypingDelay = DefaultTypingDelay
	}
	if cfg.TypingInterval <= 0 {
		cfg.TypingInterval = DefaultTypingInterval
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	mem, err := newMemory(cfg.ChatMemory, cfg.EventMemory)
	if err != nil {
		return nil, fmt.Errorf("agentapi: %w", err)
	}
	pr, err := newPrompts(cfg.OpenPrompts, cfg.Rand, cfg.Now)
	if err != nil {
		return nil, fmt.Errorf("agentapi: %w", err)
	}
	s := &Service{cfg: cfg, link: cfg.Link, log: cfg.Logger, mem: mem, prompts: pr}
	if cfg.ConnectorBase != "" {
		if cfg.Bearer == nil {
			return nil, errors.New("agentapi: Config.Bearer is required with ConnectorBase")
		}
		s.media, err = newMediaPlane(cfg.ConnectorBase, cfg.Bearer, cfg.UserAgent, cfg.MediaClient)
		if err != nil {
			return nil, fmt.Errorf("agentapi: %w", err)
		}
	}
	s.bg, s.stop = context.WithCancel(context.Background())
	return s, nil
}

// Close stops the lifecycle signals still running (typing heartbeats,
// closing reactions) and waits for them, at most until ctx ends.
func (s *Service) Close(ctx context.Context) error {
	s.bgMu.Lock()
	s.stop()
	s.bgMu.Unlock()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("agentapi: close: %w", ctx.Err())
	}
}

// ConnectorBase returns the connector's HTTP base for a configured
// connector URL: the dial URL (relay.DialURL) with ws→http, wss→https and
// the trailing /relay stripped. The media plane lives under it.
func ConnectorBase(configured string) string {
	u := relay.DialURL(configured)
	if rest, ok := strings.CutPrefix(u, "wss://"); ok {
		u = "https://" + rest
	} else if rest, ok := strings.CutPrefix(u, "ws://"); ok {
		u = "http://" + rest
	}
	return strings.TrimSuffix(u, "/relay")
}

// Call runs one agent-API request: endpoint is EndpointActions,
// EndpointReply or EndpointInterrupt, body the raw JSON request body. It
// returns the HTTP status code and the JSON answer object. Every front end
// (HTTP, NATS) answers through it.
func (s *Service) Call(ctx context.Context, endpoint string, body []byte) (status int, answer map[string]any) {
	switch endpoint {
	case EndpointActions:
		return s.callAction(ctx, body)
	case EndpointReply:
		return s.callReply(ctx, body)
	case EndpointInterrupt:
		return s.callInterrupt(body)
	}
	return http.StatusNotFound, failure(fmt.Sprintf("unknown endpoint %q", endpoint))
}

func (s *Service) callAction(ctx context.Context, body []byte) (int, map[string]any) {
	a, err := parseAction(body, s.cfg.AllowUnknownOps)
	if err != nil {
		return badRequestAnswer(err)
	}
	if a.botID != "" && a.platform == "" {
		return http.StatusBadRequest, failure("bot_id: give platform too (a botId is only sent along with a platform)")
	}
	if a.platform != "" && !s.fronts(a.platform) {
		return http.StatusBadRequest, failure(fmt.Sprintf("platform: %q is not a platform this gateway fronts (%s)",
			a.platform, strings.Join(s.platforms(), ", ")))
	}
	o := s.run(ctx, a)
	if s.log.IsDebug() {
		s.log.Debug("agent action", "op", a.op, "status", o.status, "parts", o.parts)
	}
	return o.status, o.answer
}

func (s *Service) callInterrupt(body []byte) (int, map[string]any) {
	obj, err := parseObject(body)
	if err != nil {
		return badRequestAnswer(err)
	}
	key, err := stringField(obj, "interrupt", "session_key", true)
	if err != nil {
		return badRequestAnswer(err)
	}
	reason, err := stringField(obj, "interrupt", "reason", false)
	if err != nil {
		return badRequestAnswer(err)
	}
	if !s.link.Ready() {
		return notConnected()
	}
	if err := s.link.Interrupt(key, reason); err != nil {
		s.log.Warn("interrupt not sent", "session_key", key, "error", err)
		if errors.Is(err, relay.ErrNotConnected) {
			return notConnected()
		}
		return http.StatusServiceUnavailable, failure(err.Error())
	}
	return http.StatusOK, map[string]any{"success": true}
}

// stringField reads a string field of a request object; required fields
// must be non-empty.
func stringField(obj map[string]any, what, name string, required bool) (string, error) {
	v, ok := obj[name]
	if !ok || v == nil {
		if required {
			return "", badRequest("%s: %s is required", what, name)
		}
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", badRequest("%s: %s must be a string, not %s", what, name, jsonKind(v))
	}
	if required && s == "" {
		return "", badRequest("%s: %s is required (it is empty)", what, name)
	}
	return s, nil
}

// fronts reports whether platform is one of the fronted identities.
func (s *Service) fronts(platform string) bool {
	for _, id := range s.cfg.Identities {
		if id.Platform == platform {
			return true
		}
	}
	return false
}

func (s *Service) platforms() []string {
	out := make([]string, len(s.cfg.Identities))
	for i, id := range s.cfg.Identities {
		out[i] = id.Platform
	}
	return out
}

// identityBotID returns the botId of the fronted identity for platform.
func (s *Service) identityBotID(platform string) string {
	for _, id := range s.cfg.Identities {
		if id.Platform == platform {
			return id.BotID
		}
	}
	return ""
}

// egressPlatform returns the platform a frame for platform is tagged with:
// the platform itself when this gateway fronts it and it names a concrete
// platform, else "" (untagged: the connector's session default).
func (s *Service) egressPlatform(platform string) string {
	if platform == "" || platform == relay.RelayPlatform || !s.fronts(platform) {
		return ""
	}
	return platform
}

// descriptor returns the descriptor governing a frame tagged with platform
// (the session default for an untagged frame, or for a platform the
// connector sent no descriptor for).
func (s *Service) descriptor(platform string) (relay.Descriptor, bool) {
	if platform != "" {
		if d, ok := s.link.Descriptor(platform); ok {
			return d, true
		}
	}
	return s.link.DefaultDescriptor()
}

// newNonce returns n random bytes as hex.
func newNonce(r io.Reader, n int) (string, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", fmt.Errorf("read random bytes: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// failure is a failure answer of relay-host's own.
func failure(msg string) map[string]any {
	return map[string]any{"success": false, "error": msg}
}

func badRequestAnswer(err error) (int, map[string]any) {
	return http.StatusBadRequest, failure(err.Error())
}

func notConnected() (int, map[string]any) {
	return http.StatusServiceUnavailable, failure(relay.ErrTextNotConnected)
}
