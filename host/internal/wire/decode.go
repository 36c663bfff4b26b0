package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

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
// *DecodeError for malformed JSON, a line that is not valid UTF-8, a
// non-object frame, and a descriptor, event or forward that cannot be used;
// unknown and echoed types decode to a Frame with only Type set (check
// Type.Incoming). Field handling follows docs/protocol.md (Frames),
// leniently as the reference gateway does where that is harmless (missing
// strings are "", a bad bodyB64 is an empty body, header entries that are
// not pairs of strings are dropped) and strictly where a connector could
// otherwise hand a plugin something it did not forward: a forward's
// platform, botId, method, path and profile and a delivery's bufferId must
// be strings within the limits of limits.go. A DecodeError carries the
// frame's type and bufferId whenever they can be read, even from a line
// that is not JSON, so that an undecodable buffered delivery can be settled.
func DecodeFrame(line []byte) (Frame, error) {
	trimmed := bytes.TrimSpace(line)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		if json.Valid(trimmed) {
			return Frame{}, &DecodeError{Kind: BadFrameNotObject, Detail: "frame is valid JSON but not an object"}
		}
		return Frame{}, &DecodeError{Kind: BadFrameMalformedJSON, Detail: "frame is not valid JSON"}
	}
	var w wireFrame // on the stack: only the slow path's frame escapes
	forwardNotObject, fast := scanFrame(trimmed, &w)
	if !fast {
		slow := new(wireFrame)
		var err error
		if forwardNotObject, err = unmarshalFrame(trimmed, slow); err != nil {
			return Frame{}, err
		}
		return frameFrom(slow, forwardNotObject)
	}
	return frameFrom(&w, forwardNotObject)
}

// unmarshalFrame is DecodeFrame's slow path: encoding/json, which decides
// every case the fast path (scanFrame) leaves to it. Its *DecodeError for a
// line it cannot decode carries the type and bufferId sniffed from it.
func unmarshalFrame(trimmed []byte, w *wireFrame) (forwardNotObject bool, err error) {
	undecodable := func(kind, detail string) (bool, error) {
		typ, bufferID := sniffEnvelope(trimmed)
		return false, &DecodeError{Kind: kind, Type: typ, BufferID: bufferID, Detail: detail}
	}
	if !utf8.Valid(trimmed) {
		// JSON text must be UTF-8 (RFC 8259 §8.1). encoding/json would
		// quietly turn each bad byte of a string into U+FFFD, and the
		// fast path leaves any string with one to this path.
		return undecodable(BadFrameEncoding, "frame is not valid UTF-8")
	}
	if err := json.Unmarshal(trimmed, w); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			// Malformed JSON, or nesting past encoding/json's depth limit.
			return undecodable(BadFrameMalformedJSON, fmt.Sprintf("invalid JSON at offset %d", se.Offset))
		case errors.As(err, &te) && te.Field == "forward":
			// The only struct-typed field: every other field is raw or
			// lenient. Decoding went on past it, so the envelope is usable.
			forwardNotObject = true
		default:
			return undecodable(BadFrameMalformedJSON, err.Error())
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
	bufferID, idProblem := deliveryBufferID(w.BufferID)
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
		if idProblem != "" {
			return fail(BadFrameInbound, idProblem)
		}
		ev, err := decodeEvent(w.Event)
		if err != nil {
			return fail(BadFrameInbound, err.Error())
		}
		f.Inbound = &Inbound{Event: ev, BufferID: bufferID}
	case TypePassthroughForward:
		if forwardNotObject {
			return fail(BadFramePassthrough, errForwardNotObject.Error())
		}
		if idProblem != "" {
			return fail(BadFramePassthrough, idProblem)
		}
		fw, problem := w.Forward.forward()
		if problem != "" {
			return fail(BadFramePassthrough, problem)
		}
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

// deliveryBufferID reads the bufferId of an inbound or passthrough_forward
// frame: a string of at most MaxIDBytes, or absent (null) for a live
// delivery. problem says why any other value makes the delivery unusable;
// id is then still what an ack would name (the string, or a number's
// digits, as earlier relay-host versions read it), so that the unusable
// delivery can be settled, or "" when nothing can name it.
func deliveryBufferID(r json.RawMessage) (id, problem string) {
	switch k := rawKind(r); {
	case k == 0 || k == 'n':
		return "", ""
	case k == '"':
		id = rawPlainString(r)
		if len(id) > MaxIDBytes {
			return id, fmt.Sprintf("bufferId is %d bytes, over the %d-byte limit", len(id), MaxIDBytes)
		}
		return id, ""
	}
	return rawID(r), "bufferId is not a string"
}
