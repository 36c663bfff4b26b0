package relay

// The frame codec is host/internal/wire; these are the parts of it the
// Client's callers see, under the names they have always had here.

import "github.com/relayhost/relay-host/host/internal/wire"

// Descriptor is the capability descriptor the connector sends for each
// hello: the platform's message limits, markup, emoji and the outbound ops
// the connector implements (docs/protocol.md, Descriptor).
// Client.Descriptor returns the one of a platform; SupportsOp tells whether
// an op may be sent. The frame codec (host/internal/wire) defines it.
type Descriptor = wire.Descriptor

// OutboundResult is the outcome of one outbound request: the connector's
// outbound_result, or a local failure reported the same way
// (Client.Outbound never returns an error). Ambiguous marks a request whose
// frame reached the wire without an answer coming back: the connector may
// have applied it. EgressDeclined tells the connector's egress guard
// refusing the destination. The frame codec (host/internal/wire) defines it.
type OutboundResult = wire.OutboundResult

// EgressDeclinedCode is the outbound_result code the connector's egress
// guard answers with when it refuses a destination.
const EgressDeclinedCode = wire.EgressDeclinedCode

// MaxFrameBytes is the default per-frame limit (Config.MaxFrameBytes): a
// longer frame is skipped with a log and the link is kept.
const MaxFrameBytes = wire.MaxFrameBytes

// RelayPlatform is the platform of the session-default identity when none is
// configured (one hello {"platform":"relay","botId":""}), and the source
// platform given to inbound events whose platform is unusable.
const RelayPlatform = wire.RelayPlatform

// DefaultMaxMessageLength replaces a descriptor's max_message_length that is
// not a positive integer (docs/protocol.md, Descriptor).
const DefaultMaxMessageLength = wire.DefaultMaxMessageLength

// LegacyOps returns the op set assumed when a descriptor advertises no
// supported_ops: send, edit, typing, follow_up (docs/protocol.md, Descriptor).
func LegacyOps() []string { return wire.LegacyOps() }
