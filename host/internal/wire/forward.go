package wire

import (
	"bytes"
	"encoding/base64"

	"github.com/relayhost/relay-host/pluginapi"
)

// headerList decodes forward.headers: only 2-element arrays are kept, both
// sides in string form, in arrival order; anything else is dropped.
type headerList []pluginapi.Header

// UnmarshalJSON implements json.Unmarshaler. encoding/json hands it a
// value it has already validated.
func (h *headerList) UnmarshalJSON(b []byte) error {
	var out []pluginapi.Header
	eachElem(b, func(entry []byte) {
		var pair [2][]byte
		n := 0
		eachElem(entry, func(e []byte) {
			if n < 2 {
				pair[n] = e
			}
			n++
		})
		if n != 2 {
			return // not a 2-element array: dropped, as the reference does
		}
		out = append(out, pluginapi.Header{Name: rawString(pair[0]), Value: rawString(pair[1])})
	})
	*h = out
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
// leniently in the same pass as the envelope.
type wireForward struct {
	Platform lenientString `json:"platform"`
	BotID    lenientString `json:"botId"`
	Method   lenientString `json:"method"`
	Path     lenientString `json:"path"`
	Headers  headerList    `json:"headers"`
	BodyB64  bodyB64       `json:"bodyB64"`
	Profile  plainString   `json:"profile"`
}

// forward converts the decoded wire form; a nil w (missing or null forward)
// is treated as {}.
func (w *wireForward) forward() pluginapi.Forward {
	if w == nil {
		return pluginapi.Forward{Body: []byte{}}
	}
	f := pluginapi.Forward{
		Platform: string(w.Platform),
		BotID:    string(w.BotID),
		Method:   string(w.Method),
		Path:     string(w.Path),
		Headers:  []pluginapi.Header(w.Headers),
		Body:     []byte(w.BodyB64),
		Profile:  string(w.Profile),
	}
	if f.Body == nil {
		f.Body = []byte{}
	}
	return f
}
