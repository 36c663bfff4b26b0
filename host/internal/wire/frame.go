package wire

import (
	"fmt"

	"github.com/relayhost/relay-host/pluginapi"
)

// Frame limits.
const (
	// MaxFrameBytes is the largest single frame (one newline-terminated line)
	// the reader accepts; a longer line is skipped with a log and the link is
	// kept. The reference gateway takes the websockets default of 1 MiB per
	// WS message and the protocol asks a gateway to accept "at least 1 MiB"
	// per message (docs/protocol.md, Framing). Discord interaction bodies are
	// a few KiB, but a forward carries the body base64-encoded (×4/3) plus
	// headers, and the connector's own cap is not published, so we allow 4×
	// the reference: generous for every real frame, small enough that a
	// runaway peer cannot make the carry buffer grow without bound.
	MaxFrameBytes = 4 << 20

	// MaxMessageBytes is the hard per-WebSocket-message limit given to
	// conn.SetReadLimit. It sits above MaxFrameBytes so that one oversize
	// frame inside an otherwise normal message is skipped rather than
	// closing the link; a message beyond it is a broken peer and the library
	// closes the connection with 1009 (message too big), after which the
	// client reconnects.
	MaxMessageBytes = 4 * MaxFrameBytes
)

// FrameType is the "type" of a frame.
type FrameType string

// Frame types of docs/protocol.md, Frames.
const (
	// Gateway → connector.
	TypeHello      FrameType = "hello"
	TypeOutbound   FrameType = "outbound"
	TypeInterrupt  FrameType = "interrupt"
	TypeGoingIdle  FrameType = "going_idle"
	TypeInboundAck FrameType = "inbound_ack"

	// Connector → gateway.
	TypeDescriptor         FrameType = "descriptor"
	TypeInbound            FrameType = "inbound"
	TypeOutboundResult     FrameType = "outbound_result"
	TypeInterruptInbound   FrameType = "interrupt_inbound"
	TypeGoingIdleAck       FrameType = "going_idle_ack"
	TypePassthroughForward FrameType = "passthrough_forward"
)

// Incoming reports whether t is one of the six connector→gateway types the
// gateway handles. Anything else (including echoes of gateway→connector
// types) is ignored by the reader.
func (t FrameType) Incoming() bool {
	switch t {
	case TypeDescriptor, TypeInbound, TypeOutboundResult, TypeInterruptInbound,
		TypeGoingIdleAck, TypePassthroughForward:
		return true
	}
	return false
}

// Frame is one decoded connector→gateway frame. Type says which field is
// set: Descriptor, Inbound, Result, Interrupt or Forward (going_idle_ack has
// no payload). For other types only Type is set.
type Frame struct {
	// Type is the frame's type as on the wire ("" when absent or not a string).
	Type FrameType
	// Descriptor is the normalised capability descriptor of a descriptor frame.
	Descriptor *Descriptor
	// Inbound is the decoded event of an inbound frame.
	Inbound *Inbound
	// Result is the payload of an outbound_result frame.
	Result *OutboundResultFrame
	// Interrupt is the payload of an interrupt_inbound frame.
	Interrupt *InterruptInbound
	// Forward is the payload of a passthrough_forward frame; its BufferID is
	// the frame's bufferId ("" for live forwards).
	Forward *pluginapi.Forward
}

// Inbound is the payload of an inbound frame.
type Inbound struct {
	// Event is the decoded event (docs/protocol.md, Inbound events).
	Event pluginapi.MessageEvent
	// BufferID is set for a buffered replay; "" for live deliveries.
	BufferID string
}

// OutboundResultFrame is the payload of an outbound_result frame.
type OutboundResultFrame struct {
	// RequestID names the outbound request this answers.
	RequestID string
	// Result is the connector's answer.
	Result OutboundResult
}

// InterruptInbound is the payload of an interrupt_inbound frame.
type InterruptInbound struct {
	// SessionKey names the session to interrupt ("" when absent).
	SessionKey string
	// ChatID is the chat of that session ("" when absent).
	ChatID string
}

// Reasons a frame is rejected, as reported in DecodeError.Kind and to
// Observer.BadFrame. They form a small fixed set, safe as metric labels.
const (
	BadFrameMalformedJSON  = "malformed_json"
	BadFrameEncoding       = "invalid_utf8"
	BadFrameNotObject      = "not_object"
	BadFrameOversize       = "oversize"
	BadFrameDescriptor     = "bad_descriptor"
	BadFrameInbound        = "bad_inbound"
	BadFramePassthrough    = "bad_passthrough"
	BadFrameOutboundResult = "bad_outbound_result"
)

// DecodeError says why one frame was skipped. It never carries the frame's
// body, so it is safe to log at any level.
type DecodeError struct {
	// Kind is one of the BadFrame* constants.
	Kind string
	// Type is the frame's type when it could be read.
	Type FrameType
	// BufferID is the frame's bufferId when it could be read, so that an
	// undecodable buffered delivery can still be settled.
	BufferID string
	// Detail explains the problem in one line.
	Detail string
}

// Error implements error.
func (e *DecodeError) Error() string {
	if e.Type != "" {
		return fmt.Sprintf("relay frame %s: %s: %s", e.Type, e.Kind, e.Detail)
	}
	return fmt.Sprintf("relay frame: %s: %s", e.Kind, e.Detail)
}
