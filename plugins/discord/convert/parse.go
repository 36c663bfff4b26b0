package convert

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// MaxDepth is the deepest nesting of JSON objects and arrays a body may have;
// the top-level object counts as level 1. A real interaction stays far below
// it (a MESSAGE context-menu target carrying Components V2 — data, resolved,
// messages, the message, a container, a section, its accessory — reaches
// about 15), and the cap bounds the decoder's recursion and every walk over
// the body (options, modal components). Deeper bodies are rejected
// (plugins/discord/README.md, "Parsing").
const MaxDepth = 32

// utf8BOM is the UTF-8 encoding of U+FEFF. Python's json.loads refuses a str
// that starts with it, so the reference gateway treats such a body as
// unusable; so do we.
var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// parseBody decodes a forward body into the interaction object. On failure it
// returns a one-line reason that names the problem and, where useful, a byte
// offset, but never quotes the body (it may hold the interaction token).
//
// Numbers are kept as json.Number, i.e. exactly as written; duplicate keys
// keep the last value, as Python's json does. NaN and Infinity literals, which
// Python accepts, are invalid JSON here.
func parseBody(body []byte) (map[string]any, string) {
	if reason := checkBody(body); reason != "" {
		return nil, reason
	}
	v, err := decodeJSON(body)
	if err != nil {
		return nil, describeDecodeError(body, err)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Sprintf("body is a JSON %s, not an object: expected a Discord interaction object", jsonKind(v))
	}
	return obj, ""
}

// checkBody checks what must hold of a body before it is decoded: it is not
// empty, has no byte order mark and is valid UTF-8. It returns the reason
// for rejecting it, or "".
func checkBody(body []byte) string {
	if len(body) == 0 {
		return "empty body: expected a Discord interaction JSON object"
	}
	if bytes.HasPrefix(body, utf8BOM) {
		return "body starts with a UTF-8 byte order mark: expected a bare JSON object"
	}
	if !utf8.Valid(body) {
		return fmt.Sprintf("body is not valid UTF-8 (first invalid byte at offset %d)", firstInvalidUTF8(body))
	}
	return ""
}

// describeDecodeError turns a decode error into a reason. It names offsets,
// never bytes: the offending byte could be part of the token.
func describeDecodeError(body []byte, err *decodeError) string {
	switch err.kind {
	case errTooDeep:
		return fmt.Sprintf("body nests JSON deeper than %d levels (at byte offset %d)", MaxDepth, err.offset)
	case errEmpty:
		return "body is not valid JSON: no value (the body is only whitespace)"
	case errTruncated:
		return "body is not valid JSON: truncated (unexpected end of input)"
	case errTrailing:
		return fmt.Sprintf("body is not valid JSON: unexpected data after the top-level value at byte offset %d", err.offset)
	}
	// Python's json accepts NaN and Infinity; say why we do not.
	if err.offset < len(body) && (body[err.offset] == 'N' || body[err.offset] == 'I') {
		return fmt.Sprintf("body is not valid JSON: syntax error at byte offset %d (NaN and Infinity are not JSON numbers)", err.offset)
	}
	return fmt.Sprintf("body is not valid JSON: syntax error at byte offset %d", err.offset)
}

// firstInvalidUTF8 returns the offset of the first byte that does not start a
// valid UTF-8 sequence, or -1 when b is valid.
func firstInvalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		if b[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return -1
}

// jsonKind names the JSON type of a decoded value, for reasons.
func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case json.Number:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return "value"
}
