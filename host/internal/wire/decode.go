package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
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
