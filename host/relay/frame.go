package relay

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/relayhost/relay-host/pluginapi"
)

// Frame limits.
const (
	// MaxFrameBytes is the largest single frame (one newline-terminated line)
	// the reader accepts; a longer line is skipped with a log and the link is
	// kept. The reference gateway takes the websockets default of 1 MiB per
	// WS message and the contract asks for "at least 1 MiB" (wire-contract.md
	// §1.4). Discord interaction bodies are a few KiB, but a forward carries
	// the body base64-encoded (×4/3) plus headers, and the connector's cap is
	// unknown (Open question 1), so we allow 4× the reference: generous for
	// every real frame, small enough that a runaway peer cannot make the carry
	// buffer grow without bound.
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

// Frame types of wire-contract.md §2.
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
	// Event is the decoded event (wire-contract.md §2.5).
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

// Splitter reassembles newline-delimited frames from WebSocket messages with
// a carry buffer (wire-contract.md §1.5): one message may hold several
// frames, a frame may span messages, and blank or whitespace-only lines are
// skipped. A line longer than the limit is dropped whole (even when it spans
// many messages) and reported once. A Splitter is not safe for concurrent use.
type Splitter struct {
	max      int
	buf      []byte
	skipping bool
	dropped  int
}

// carryRetain is the carry-buffer capacity kept between frames; a larger
// buffer (left by one big frame) is released so an idle link holds little
// memory.
const carryRetain = 64 << 10

// NewSplitter returns a Splitter that accepts lines up to maxLine bytes
// (MaxFrameBytes when maxLine <= 0).
func NewSplitter(maxLine int) *Splitter {
	if maxLine <= 0 {
		maxLine = MaxFrameBytes
	}
	return &Splitter{max: maxLine}
}

// Buffered returns the number of bytes of the partial line held back.
func (s *Splitter) Buffered() int { return len(s.buf) }

// Feed consumes one WebSocket message (text, or binary taken as UTF-8). For
// each complete non-blank line it calls emit with the line trimmed of
// surrounding whitespace and a nil error; the slice is only valid during the
// call. For each line over the limit it calls emit(nil, err) with a
// *DecodeError of kind BadFrameOversize.
func (s *Splitter) Feed(msg []byte, emit func(line []byte, err error)) {
	for len(msg) > 0 {
		i := bytes.IndexByte(msg, '\n')
		if i < 0 {
			if s.skipping {
				s.dropped += len(msg)
				return
			}
			if len(s.buf)+len(msg) > s.max {
				s.skipping = true
				s.dropped = len(s.buf) + len(msg)
				s.reset()
				return
			}
			s.buf = append(s.buf, msg...)
			return
		}
		part := msg[:i]
		msg = msg[i+1:]
		if s.skipping {
			n := s.dropped + len(part)
			s.skipping, s.dropped = false, 0
			emit(nil, s.oversize(n))
			continue
		}
		line := part
		if len(s.buf) > 0 {
			if len(s.buf)+len(part) > s.max {
				n := len(s.buf) + len(part)
				s.reset()
				emit(nil, s.oversize(n))
				continue
			}
			s.buf = append(s.buf, part...)
			line = s.buf
		}
		if len(line) > s.max {
			emit(nil, s.oversize(len(line)))
		} else if t := bytes.TrimSpace(line); len(t) > 0 {
			emit(t, nil)
		}
		s.reset()
	}
}

func (s *Splitter) reset() {
	if cap(s.buf) > carryRetain {
		s.buf = nil
		return
	}
	s.buf = s.buf[:0]
}

func (s *Splitter) oversize(n int) error {
	return &DecodeError{Kind: BadFrameOversize,
		Detail: fmt.Sprintf("line of %d bytes exceeds the %d-byte frame limit; skipped", n, s.max)}
}

// wireFrame is the envelope of every connector→gateway frame; polymorphic
// parts stay raw so that each can be judged leniently on its own.
type wireFrame struct {
	Type       json.RawMessage `json:"type"`
	Descriptor json.RawMessage `json:"descriptor"`
	Event      json.RawMessage `json:"event"`
	Forward    *wireForward    `json:"forward"`
	BufferID   json.RawMessage `json:"bufferId"`
	RequestID  json.RawMessage `json:"requestId"`
	Result     json.RawMessage `json:"result"`
	SessionKey json.RawMessage `json:"session_key"`
	ChatID     json.RawMessage `json:"chat_id"`
}

// DecodeFrame decodes one frame line. It never panics. It returns a
// *DecodeError for malformed JSON, a non-object frame, and a descriptor,
// event or forward that cannot be used; unknown and echoed types decode to a
// Frame with only Type set (check Type.Incoming). Field handling follows
// wire-contract.md §2.2, leniently as the reference gateway does: missing
// strings are "", a bad bodyB64 is an empty body, header entries that are not
// 2-element arrays are dropped.
func DecodeFrame(line []byte) (Frame, error) {
	trimmed := bytes.TrimSpace(line)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		if json.Valid(trimmed) {
			return Frame{}, &DecodeError{Kind: BadFrameNotObject, Detail: "frame is valid JSON but not an object"}
		}
		return Frame{}, &DecodeError{Kind: BadFrameMalformedJSON, Detail: "frame is not valid JSON"}
	}
	var w wireFrame
	forwardNotObject, fast := scanFrame(trimmed, &w)
	if !fast {
		w = wireFrame{}
		var err error
		if forwardNotObject, err = unmarshalFrame(trimmed, &w); err != nil {
			return Frame{}, err
		}
	}
	return frameFrom(&w, forwardNotObject)
}

// unmarshalFrame is DecodeFrame's slow path: encoding/json, which decides
// every case the fast path (scanFrame) leaves to it.
func unmarshalFrame(trimmed []byte, w *wireFrame) (forwardNotObject bool, err error) {
	if err := json.Unmarshal(trimmed, w); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return false, &DecodeError{Kind: BadFrameMalformedJSON,
				Detail: fmt.Sprintf("invalid JSON at offset %d", se.Offset)}
		case errors.As(err, &te) && te.Field == "forward":
			// The only struct-typed field: every other field is raw or
			// lenient. Decoding went on past it, so the envelope is usable.
			forwardNotObject = true
		default:
			return false, &DecodeError{Kind: BadFrameMalformedJSON, Detail: err.Error()}
		}
	}
	return forwardNotObject, nil
}

// frameFrom builds the Frame of a decoded envelope.
func frameFrom(w *wireFrame, forwardNotObject bool) (Frame, error) {
	typ := FrameType(rawPlainString(w.Type))
	if forwardNotObject && typ != TypePassthroughForward {
		forwardNotObject = false // a stray non-object "forward" key elsewhere is ignored
	}
	f := Frame{Type: typ}
	bufferID := rawID(w.BufferID)
	fail := func(kind, detail string) (Frame, error) {
		return Frame{Type: typ}, &DecodeError{Kind: kind, Type: typ, BufferID: bufferID, Detail: detail}
	}
	switch typ {
	case TypeDescriptor:
		if rawKind(w.Descriptor) != '{' {
			return fail(BadFrameDescriptor, "descriptor is missing or not an object")
		}
		d, err := ParseDescriptor(w.Descriptor)
		if err != nil {
			return fail(BadFrameDescriptor, err.Error())
		}
		f.Descriptor = &d
	case TypeInbound:
		ev, err := decodeEvent(w.Event)
		if err != nil {
			return fail(BadFrameInbound, err.Error())
		}
		f.Inbound = &Inbound{Event: ev, BufferID: bufferID}
	case TypePassthroughForward:
		if forwardNotObject {
			return fail(BadFramePassthrough, errForwardNotObject.Error())
		}
		fw := w.Forward.forward()
		fw.BufferID = bufferID
		f.Forward = &fw
	case TypeOutboundResult:
		id := rawID(w.RequestID)
		if id == "" {
			return fail(BadFrameOutboundResult, "requestId is missing or not a string")
		}
		f.Result = &OutboundResultFrame{RequestID: id, Result: parseResult(w.Result)}
	case TypeInterruptInbound:
		f.Interrupt = &InterruptInbound{SessionKey: rawString(w.SessionKey), ChatID: rawString(w.ChatID)}
	}
	return f, nil
}

// ErrActionNotObject is returned when an outbound action does not encode as a
// JSON object.
var ErrActionNotObject = errors.New("relay: outbound action must encode as a JSON object")

// helloFrame and the other *Frame structs below are the gateway→connector
// wire shapes of wire-contract.md §2.1.
type helloFrame struct {
	Type            FrameType       `json:"type"`
	Platform        string          `json:"platform"`
	BotID           string          `json:"botId"`
	CommandManifest json.RawMessage `json:"command_manifest,omitempty"`
}

type interruptFrame struct {
	Type       FrameType `json:"type"`
	SessionKey string    `json:"session_key"`
	Reason     *string   `json:"reason"`
}

// encode marshals v as one frame: compact JSON followed by "\n".
func encode(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil { // Encode appends the '\n'
		return nil, err
	}
	return b.Bytes(), nil
}

// EncodeHello encodes a hello frame for one fronted identity. A non-empty
// commandManifest (a JSON array) is attached as command_manifest; the Client
// attaches it only to the "discord" hello (§2.1).
func EncodeHello(platform, botID string, commandManifest json.RawMessage) ([]byte, error) {
	b, err := encode(helloFrame{Type: TypeHello, Platform: platform, BotID: botID, CommandManifest: commandManifest})
	if err != nil {
		return nil, fmt.Errorf("encode hello: %w", err)
	}
	return b, nil
}

// EncodeOutbound encodes an outbound request. action may be anything that
// encodes as a JSON object (a map, a struct, json.RawMessage). platform is
// omitted when empty, and botID is sent only together with platform.
func EncodeOutbound(requestID string, action any, platform, botID string) ([]byte, error) {
	b := make([]byte, 0, 256)
	b = append(b, `{"type":"outbound","requestId":`...)
	b = appendString(b, requestID)
	b = append(b, `,"action":`...)
	b, err := appendAction(b, action)
	if err != nil {
		if errors.Is(err, ErrActionNotObject) {
			return nil, err
		}
		return nil, fmt.Errorf("encode outbound action: %w", err)
	}
	if platform != "" {
		b = append(b, `,"platform":`...)
		b = appendString(b, platform)
		if botID != "" {
			b = append(b, `,"botId":`...)
			b = appendString(b, botID)
		}
	}
	return append(b, "}\n"...), nil
}

// EncodeInterrupt encodes an interrupt frame; an empty reason is sent as
// null (the key is always present).
func EncodeInterrupt(sessionKey, reason string) []byte {
	f := interruptFrame{Type: TypeInterrupt, SessionKey: sessionKey}
	if reason != "" {
		f.Reason = &reason
	}
	b, _ := encode(f) // strings only: cannot fail
	return b
}

// EncodeGoingIdle encodes a going_idle frame.
func EncodeGoingIdle() []byte {
	return []byte(`{"type":"going_idle"}` + "\n")
}

// EncodeInboundAck encodes an inbound_ack frame for bufferID.
func EncodeInboundAck(bufferID string) []byte {
	b := make([]byte, 0, 40+len(bufferID))
	b = append(b, `{"type":"inbound_ack","bufferId":`...)
	b = appendString(b, bufferID)
	return append(b, "}\n"...)
}

// NewRequestID returns a fresh outbound requestId: a random UUID version 4
// rendered as 32 lowercase hex characters without dashes, like the reference
// gateway's uuid4().hex (§2.1).
func NewRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return hex.EncodeToString(b[:])
}
