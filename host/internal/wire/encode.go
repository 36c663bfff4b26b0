package wire

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"unicode/utf8"
)

// ErrActionNotObject is returned when an outbound action does not encode as a
// JSON object.
var ErrActionNotObject = errors.New("relay: outbound action must encode as a JSON object")

// helloFrame and the other *Frame structs below are the gateway→connector
// wire shapes of docs/protocol.md, Gateway to connector.
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
// attaches it only to the "discord" hello (docs/protocol.md, hello).
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
	b := make([]byte, 0, outboundSizeHint(action)+len(requestID)+len(platform)+len(botID))
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

// outboundSizeHint is about the encoded size of an outbound frame without
// its ids: the frame's fixed text and the action's top-level keys and
// string values, so that the buffer rarely grows (a reply's text is most
// of a frame, and growing copied it once or twice).
func outboundSizeHint(action any) int {
	n := 128
	if m, ok := action.(map[string]any); ok {
		for k, v := range m {
			n += len(k) + 8
			if s, ok := v.(string); ok {
				n += len(s) + len(s)/8 // a little room for escapes
			}
		}
	}
	return n
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
// gateway's uuid4().hex (docs/protocol.md, outbound). An id only has to be
// unique among a connection's requests, not secret (only the connector sees
// it): the runtime's per-thread ChaCha8 generator (math/rand/v2) gives its
// 122 random bits without the system call crypto/rand costs per reply.
func NewRequestID() string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(b[8:], rand.Uint64())
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return hex.EncodeToString(b[:])
}

// appendValue appends the JSON form of v for the value kinds outbound
// actions are built from (strings, booleans, null, and maps and slices of
// them), with object keys sorted as encoding/json sorts them; ok is false
// for anything else, which the caller then encodes with encoding/json. It
// spares the reflection and allocations of encoding/json on every reply.
func appendValue(dst []byte, v any) (_ []byte, ok bool) {
	switch x := v.(type) {
	case nil:
		return append(dst, "null"...), true
	case string:
		return appendString(dst, x), true
	case bool:
		if x {
			return append(dst, "true"...), true
		}
		return append(dst, "false"...), true
	case map[string]any:
		return appendObject(dst, x)
	case map[string]string:
		return appendObject(dst, x)
	case []string:
		if x == nil {
			return append(dst, "null"...), true
		}
		dst = append(dst, '[')
		for i, s := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, s)
		}
		return append(dst, ']'), true
	case []any:
		if x == nil {
			return append(dst, "null"...), true
		}
		dst = append(dst, '[')
		for i, item := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			if dst, ok = appendValue(dst, item); !ok {
				return dst, false
			}
		}
		return append(dst, ']'), true
	}
	return dst, false
}

// appendString appends s as a JSON string the way encoding/json does with
// HTML escaping off: \" \\ \b \f \n \r \t, \u00XX for other control
// characters, \u2028 and \u2029, and U+FFFD for invalid UTF-8.
func appendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendAction appends the JSON object of an outbound action: fast for the
// kinds appendValue knows, compacted for json.RawMessage, encoding/json for
// anything else.
func appendAction(dst []byte, action any) ([]byte, error) {
	switch a := action.(type) {
	case json.RawMessage:
		if rawKind(a) != '{' {
			return dst, ErrActionNotObject
		}
		var b bytes.Buffer
		if err := json.Compact(&b, a); err != nil {
			return dst, err
		}
		return append(dst, b.Bytes()...), nil
	case map[string]any:
		if out, ok := appendValue(dst, a); ok {
			return out, nil
		}
	}
	b, err := encode(action)
	if err != nil {
		return dst, err
	}
	b = b[:len(b)-1] // drop encode's newline
	if rawKind(b) != '{' {
		return dst, ErrActionNotObject
	}
	return append(dst, b...), nil
}

// appendObject appends a JSON object with keys sorted as encoding/json sorts
// them; ok is false when a value is of a kind appendValue does not handle.
func appendObject[V any](dst []byte, m map[string]V) (_ []byte, ok bool) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, k)
		dst = append(dst, ':')
		if dst, ok = appendValue(dst, any(m[k])); !ok {
			return dst, false
		}
	}
	return append(dst, '}'), true
}
