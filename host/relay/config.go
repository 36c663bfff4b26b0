package relay

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/relayhost/relay-host/pluginapi"
)

// Timeouts and backoff defaults. Each applies when the matching Config field
// is zero.
const (
	// DefaultHandshakeTimeout bounds the wait for the first descriptor after
	// the upgrade (connect_timeout_s; docs/protocol.md, Handshake).
	DefaultHandshakeTimeout = 30 * time.Second
	// DefaultOutboundTimeout bounds the wait for an outbound_result
	// (outbound_timeout_s; docs/protocol.md, Outbound results); after it the
	// result is ambiguous.
	DefaultOutboundTimeout = 30 * time.Second
	// DefaultPingInterval is the keepalive ping period (docs/protocol.md,
	// Client settings and keepalive).
	DefaultPingInterval = 30 * time.Second
	// DefaultPingTimeout is how long a ping may go unanswered before the
	// link is declared dead (docs/protocol.md, Client settings and keepalive;
	// 20 s gave spurious closes under WAN latency, incident 2026-08-18).
	DefaultPingTimeout = 60 * time.Second
	// DefaultBackoffBase is the first reconnect wait ceiling
	// (docs/protocol.md, Reconnect and backoff).
	DefaultBackoffBase = 1 * time.Second
	// DefaultBackoffMax caps the reconnect wait (docs/protocol.md, Reconnect
	// and backoff).
	DefaultBackoffMax = 30 * time.Second
	// DefaultStableAfter is how long a connection must stay up, from its
	// first descriptor, to reset the backoff ladder (docs/protocol.md,
	// Reconnect and backoff).
	DefaultStableAfter = 60 * time.Second
	// DefaultGoingIdleTimeout bounds the wait for going_idle_ack
	// (go_idle(timeout=10 s); docs/protocol.md, Going idle). The host usually
	// passes a shorter context deadline at shutdown (the reference uses 2 s
	// there).
	DefaultGoingIdleTimeout = 10 * time.Second
	// DefaultDialTimeout bounds TCP connect, TLS and the HTTP upgrade: the
	// websockets library's 10 s opening-handshake timeout (docs/protocol.md,
	// Client settings and keepalive).
	DefaultDialTimeout = 10 * time.Second
	// DefaultWriteTimeout bounds one frame write. Not in the contract: a
	// write that cannot complete in 10 s means the peer stopped reading, and
	// the connection is torn down (and re-dialed) rather than left wedged.
	DefaultWriteTimeout = 10 * time.Second
	// DefaultCloseTimeout bounds the closing handshake before the socket is
	// dropped hard (each teardown await is bounded at 1 s in docs/protocol.md,
	// Disconnect drain).
	DefaultCloseTimeout = 1 * time.Second

	// DormantCadence is the longest a wake waits before its dial, and the
	// shortest time between two dials a wake starts: the reference's dormant
	// re-dial waits 1.0 s (docs/protocol.md, Dormancy and wake), and a wake
	// storm (the connector's wake GETs, /wake, SIGUSR1) costs at most one
	// dial per second.
	DormantCadence = 1 * time.Second

	// happyEyeballsDelay is the IPv4/IPv6 fallback delay (docs/protocol.md,
	// Client settings and keepalive).
	happyEyeballsDelay = 250 * time.Millisecond
)

// Close codes and reasons of docs/protocol.md, Close code 4401.
const (
	// UnauthorizedCloseCode is the private close code the connector uses to
	// refuse the upgrade credentials.
	UnauthorizedCloseCode = 4401
	// ExpiredCloseReason is the 4401 reason for a token that merely aged
	// out; it is never treated as a revocation.
	ExpiredCloseReason = "expired"
)

// Error texts of OutboundResult.Error that the transport produces itself
// (docs/protocol.md, Outbound results). They are part of the contract with
// callers that match on them, so they are spelled exactly as the reference
// gateway does.
const (
	ErrTextClosed         = "relay transport closed"
	ErrTextNotConnected   = "relay transport not connected"
	ErrTextTimedOut       = "relay outbound timed out"
	ErrTextConnectionLost = "relay transport connection lost"
	ErrTextSendFailed     = "relay send failed"
)

// Errors returned by the Client.
var (
	// ErrRevoked is returned by Run when the connector refused a freshly
	// minted token after a successful handshake (a second 4401 that is not
	// "expired"; docs/protocol.md, Close code 4401): the credential was
	// revoked. The host should stop and exit with the revocation status.
	ErrRevoked = errors.New("relay: connector revoked the gateway credential (4401 on a freshly minted token)")
	// ErrClosed is returned by WaitReady after Close, or after Run returned.
	ErrClosed = errors.New("relay: client closed")
	// ErrNotConnected is returned (wrapped) by AckInbound and Interrupt when
	// there is no socket.
	ErrNotConnected = errors.New("relay: " + ErrTextNotConnected)
	// ErrDormant is returned by Run, with Config.DormantExit, once the link
	// went dormant: the connector acknowledged going_idle and the socket is
	// closed. The host should stop and exit 0; whatever arrives meanwhile is
	// buffered by the connector and replayed to the next process.
	ErrDormant = errors.New("relay: the link went dormant (the connector buffers until the gateway is back)")
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
// All handler methods are called from the read goroutine: the reader is the
// only thing that resolves outbound results and answers pings
// (docs/protocol.md, Framing: the reader liveness rule), so a handler hands
// its work to other goroutines and never waits for an outbound result.
// Inbound and Passthrough may wait for room, briefly and boundedly: that is
// how a host applies back-pressure (while the reader waits, nothing is read
// and TCP holds the connector back); a handler that waits must give up within
// a few seconds when nothing progresses, since what it waits for may itself
// need the reader. The transport never acks a delivery it hands to the
// Handler: the host acks buffered deliveries (non-empty bufferID) with
// Client.AckInbound after durable handoff or a deliberate drop
// (docs/protocol.md, Acks). The one thing the transport settles itself is a
// buffered frame it cannot decode (malformed, not UTF-8, over a limit, or an
// event or forward that is unusable): it can never become usable, and leaving
// it unacked would block the connector's ack-gated replay on every reconnect.
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
	// the upgrade is sent without Authorization (dev/test; docs/protocol.md,
	// Upgrade request).
	GatewayID, Secret string
	// Identities are the fronted identities, one hello each, in order; the
	// first is the session default. Empty means [{relay, ""}]
	// (docs/protocol.md, hello).
	Identities []Identity
	// CommandManifest is an optional JSON array sent as command_manifest on
	// the "discord" hello only (docs/protocol.md, Command manifest).
	CommandManifest json.RawMessage
	// Handler receives inbound frames; required.
	Handler Handler
	// Logger receives the transport's logs; nil discards them.
	Logger hclog.Logger
	// Observer receives metric hooks; nil disables them.
	Observer Observer

	// DormantAfter, when positive, lets the link go dormant (scale to
	// zero) after this long without activity: no delivery arriving, no
	// outbound request in flight, nothing Busy, no Touch. The
	// client then sends going_idle and, on going_idle_ack, closes the
	// socket and dials again only on a Wake (or an Outbound call); a
	// missed ack keeps the link up and tries again after DormantAfter.
	// Zero (the default) never goes dormant.
	DormantAfter time.Duration
	// DormantExit makes Run return ErrDormant after the dormant close
	// instead of waiting for a wake: for platforms that start a fresh
	// process on the wake request.
	DormantExit bool
	// Busy, when set, reports whether the host has work in progress that
	// needs the link (a delivery being converted, handed to the agent,
	// acknowledged or replied to). The link never goes dormant while it
	// returns true. It is called from the Run goroutine and must not block.
	Busy func() bool

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

func setDefault(d *time.Duration, def time.Duration) {
	if *d == 0 {
		*d = def
	}
}
