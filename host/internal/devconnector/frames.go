package devconnector

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/relayhost/relay-host/pluginapi"
)

// This file is the connector's own frame handling: it reads the
// gateway→connector frames with encoding/json and writes the
// connector→gateway frames with encoding/json, independently of the
// gateway's codec (host/internal/wire), so that a test through this
// connector checks that codec rather than agreeing with it by construction.

// Frame is one frame the connector received from the gateway.
type Frame struct {
	// Conn is the 1-based number of the connection it came on.
	Conn int
	// Type is the frame's type ("" when absent or the line was not JSON).
	Type string
	// Raw is the line as received, without the newline.
	Raw []byte
	// OwnMessage is true when the WS message held exactly this frame
	// followed by one "\n" (the framing the gateway must use).
	OwnMessage bool
	// Binary is true when it came in a binary WS message.
	Binary bool
	// Platform and BotID of a hello or an outbound.
	Platform, BotID string
	// CommandManifest of a hello.
	CommandManifest json.RawMessage
	// RequestID of an outbound.
	RequestID string
	// Action of an outbound, decoded.
	Action map[string]any
	// SessionKey of an interrupt.
	SessionKey string
	// Reason of an interrupt; nil when it was null.
	Reason *string
	// BufferID of an inbound_ack.
	BufferID string
}

// parseFrame reads one received line; a line that is not a JSON object
// gives a Frame with only Conn, Raw, OwnMessage and Binary set.
func parseFrame(conn int, line []byte, own, binary bool) Frame {
	fr := Frame{Conn: conn, Raw: bytes.Clone(line), OwnMessage: own, Binary: binary}
	var m map[string]json.RawMessage
	if json.Unmarshal(line, &m) != nil {
		return fr
	}
	str := func(k string) string {
		var v string
		_ = json.Unmarshal(m[k], &v)
		return v
	}
	fr.Type = str("type")
	switch fr.Type {
	case "hello":
		fr.Platform, fr.BotID = str("platform"), str("botId")
		if raw, ok := m["command_manifest"]; ok {
			fr.CommandManifest = bytes.Clone(raw)
		}
	case "outbound":
		fr.RequestID, fr.Platform, fr.BotID = str("requestId"), str("platform"), str("botId")
		_ = json.Unmarshal(m["action"], &fr.Action)
	case "interrupt":
		fr.SessionKey = str("session_key")
		_ = json.Unmarshal(m["reason"], &fr.Reason)
	case "inbound_ack":
		fr.BufferID = str("bufferId")
	}
	return fr
}

// OutboundFrame is one outbound request the connector received.
type OutboundFrame struct {
	// Conn is the 1-based number of the connection it came on.
	Conn int
	// RequestID is the request's id.
	RequestID string
	// Platform and BotID are the optional egress tags ("" when absent).
	Platform, BotID string
	// Action is the decoded action object.
	Action map[string]any
}

// Op returns the action's "op" ("" when absent).
func (o OutboundFrame) Op() string {
	s, _ := o.Action["op"].(string)
	return s
}

// OutboundReply says how to answer one outbound request. The zero value
// answers at once with the connector's own answer (see Options.Answers).
type OutboundReply struct {
	// Result is the result object; nil means the connector's own answer.
	Result map[string]any
	// Never leaves the request unanswered.
	Never bool
	// Delay answers after this long.
	Delay time.Duration
	// After answers once this channel is closed.
	After <-chan struct{}
}

// line marshals v as one frame line: JSON and "\n".
func line(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// descriptorFrame encodes a descriptor frame line.
func descriptorFrame(d any) ([]byte, error) {
	return line(map[string]any{"type": "descriptor", "descriptor": d})
}

// goingIdleAck is the going_idle_ack frame line.
var goingIdleAck = []byte(`{"type":"going_idle_ack"}` + "\n")

// outboundResultFrame encodes the outbound_result frame line for requestID.
func outboundResultFrame(requestID string, result map[string]any) ([]byte, error) {
	return line(map[string]any{"type": "outbound_result", "requestId": requestID, "result": result})
}

type wireForward struct {
	Platform string      `json:"platform"`
	BotID    string      `json:"botId"`
	Method   string      `json:"method"`
	Path     string      `json:"path"`
	Headers  [][2]string `json:"headers"`
	BodyB64  string      `json:"bodyB64"`
	Profile  string      `json:"profile,omitempty"`
}

// PassthroughFrame encodes f as a passthrough_forward frame line (with its
// "\n"): standard base64 body, headers as ordered [name, value] pairs, and
// bufferId when f.BufferID is set.
func PassthroughFrame(f pluginapi.Forward) []byte {
	w := wireForward{Platform: f.Platform, BotID: f.BotID, Method: f.Method, Path: f.Path,
		Headers: make([][2]string, 0, len(f.Headers)), BodyB64: base64.StdEncoding.EncodeToString(f.Body), Profile: f.Profile}
	for _, h := range f.Headers {
		w.Headers = append(w.Headers, [2]string{h.Name, h.Value})
	}
	frame := struct {
		Type     string      `json:"type"`
		Forward  wireForward `json:"forward"`
		BufferID string      `json:"bufferId,omitempty"`
	}{"passthrough_forward", w, f.BufferID}
	b, _ := line(frame) // strings only: cannot fail
	return b
}

// InboundFrame encodes an inbound frame line; ev is anything that encodes as
// the event object, and bufferID is sent when non-empty.
func InboundFrame(ev any, bufferID string) ([]byte, error) {
	frame := map[string]any{"type": "inbound", "event": ev}
	if bufferID != "" {
		frame["bufferId"] = bufferID
	}
	b, err := line(frame)
	if err != nil {
		return nil, fmt.Errorf("encode inbound: %w", err)
	}
	return b, nil
}

// InterruptInboundFrame encodes an interrupt_inbound frame line.
func InterruptInboundFrame(sessionKey, chatID string) []byte {
	b, _ := line(map[string]string{"type": "interrupt_inbound", "session_key": sessionKey, "chat_id": chatID}) // strings only
	return b
}
