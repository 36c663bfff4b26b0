package wire

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/relayhost/relay-host/pluginapi"
)

// forwardString is a string field of a forward (platform, botId, method,
// path, profile): a JSON string, or "" when the field is missing or null.
// Any other JSON value makes the forward unusable: it would otherwise reach
// a plugin as JSON text, and a plugin expects the string the connector
// forwarded (docs/operating.md, Limits and isolation).
type forwardString struct {
	v       string
	invalid bool // a value that is neither a string nor null
}

// UnmarshalJSON implements json.Unmarshaler; it never fails, so that one bad
// field leaves the rest of the frame (its bufferId above all) readable. A
// repeated key is read again: the last one counts, as in encoding/json.
func (s *forwardString) UnmarshalJSON(b []byte) error {
	switch rawKind(b) {
	case 0, 'n':
		*s = forwardString{}
	case '"':
		*s = forwardString{v: rawPlainString(b)}
	default:
		*s = forwardString{invalid: true}
	}
	return nil
}

// headerList decodes forward.headers: only [name, value] pairs of two
// strings are kept, in arrival order; any other entry is dropped, and a
// value that is not an array gives no headers.
type headerList struct {
	h []pluginapi.Header
	n int // pairs kept; counts on past MaxHeaders, which keeps none
}

// UnmarshalJSON implements json.Unmarshaler. encoding/json hands it a
// value it has already validated.
//
// The names and values of plain strings (no escapes, ASCII: nearly every
// header) are cut from one string holding them all, one allocation for
// the list instead of two per header; the others are decoded one by one.
func (h *headerList) UnmarshalJSON(b []byte) error {
	*h = headerList{}
	var raw [][2][]byte
	plainBytes := 0
	eachElem(b, func(entry []byte) {
		var pair [2][]byte
		n := 0
		eachElem(entry, func(e []byte) {
			if n < 2 {
				pair[n] = e
			}
			n++
		})
		if n != 2 || rawKind(pair[0]) != '"' || rawKind(pair[1]) != '"' {
			return // not a pair of strings: dropped
		}
		if h.n++; h.n > MaxHeaders {
			raw = nil
			return
		}
		for _, e := range pair {
			if in, ok := plainInner(e); ok {
				plainBytes += len(in)
			}
		}
		raw = append(raw, pair)
	})
	if len(raw) == 0 {
		return nil
	}
	var all strings.Builder
	all.Grow(plainBytes)
	for _, pair := range raw {
		for _, e := range pair {
			if in, ok := plainInner(e); ok {
				all.Write(in)
			}
		}
	}
	text, at := all.String(), 0
	str := func(e []byte) string {
		in, ok := plainInner(e)
		if !ok {
			return rawPlainString(e)
		}
		v := text[at : at+len(in)]
		at += len(in)
		return v
	}
	h.h = make([]pluginapi.Header, len(raw))
	for i, pair := range raw {
		h.h[i].Name = str(pair[0])
		h.h[i].Value = str(pair[1])
	}
	return nil
}

// bodyB64 decodes forward.bodyB64 (see decodeBodyB64); a non-string value is
// an empty body.
type bodyB64 []byte

// UnmarshalJSON implements json.Unmarshaler.
func (p *bodyB64) UnmarshalJSON(b []byte) error {
	if rawKind(b) != '"' {
		*p = []byte{}
		return nil
	}
	b = bytes.TrimSpace(b)
	inner := b[1 : len(b)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		// Common case: decode straight from the JSON bytes.
		dst := make([]byte, base64.StdEncoding.DecodedLen(len(inner)))
		if n, err := base64.StdEncoding.Decode(dst, inner); err == nil {
			*p = dst[:n]
			return nil
		}
	}
	*p = decodeBodyB64(rawPlainString(b))
	return nil
}

// wireForward is the forward object of a passthrough_forward frame, decoded
// in the same pass as the envelope.
type wireForward struct {
	Platform forwardString `json:"platform"`
	BotID    forwardString `json:"botId"`
	Method   forwardString `json:"method"`
	Path     forwardString `json:"path"`
	Headers  headerList    `json:"headers"`
	BodyB64  bodyB64       `json:"bodyB64"`
	Profile  forwardString `json:"profile"`
}

// forward converts the decoded wire form; a nil w (missing or null forward)
// is treated as {}. problem is "" for a usable forward, else why it is not
// (a field that is not a string, or longer than its limit); it names fields
// and limits only, never their contents.
func (w *wireForward) forward() (f pluginapi.Forward, problem string) {
	if w == nil {
		return pluginapi.Forward{Body: []byte{}}, ""
	}
	for _, c := range [...]struct {
		name string
		s    *forwardString
		max  int
	}{
		{"platform", &w.Platform, MaxIDBytes},
		{"botId", &w.BotID, MaxIDBytes},
		{"method", &w.Method, MaxMethodBytes},
		{"path", &w.Path, MaxPathBytes},
		{"profile", &w.Profile, MaxIDBytes},
	} {
		if c.s.invalid {
			return pluginapi.Forward{}, "forward." + c.name + " is not a string"
		}
		if len(c.s.v) > c.max {
			return pluginapi.Forward{}, fmt.Sprintf("forward.%s is %d bytes, over the %d-byte limit", c.name, len(c.s.v), c.max)
		}
	}
	if w.Headers.n > MaxHeaders {
		return pluginapi.Forward{}, fmt.Sprintf("forward.headers holds %d pairs, over the limit of %d", w.Headers.n, MaxHeaders)
	}
	for i, h := range w.Headers.h {
		if len(h.Name) > MaxHeaderNameBytes || len(h.Value) > MaxHeaderValueBytes {
			return pluginapi.Forward{}, fmt.Sprintf("forward.headers[%d] is over the limits (name %d bytes, value %d bytes)",
				i, MaxHeaderNameBytes, MaxHeaderValueBytes)
		}
	}
	f = pluginapi.Forward{
		Platform: w.Platform.v,
		BotID:    w.BotID.v,
		Method:   w.Method.v,
		Path:     w.Path.v,
		Headers:  w.Headers.h,
		Body:     []byte(w.BodyB64),
		Profile:  w.Profile.v,
	}
	if f.Body == nil {
		f.Body = []byte{}
	}
	return f, ""
}
