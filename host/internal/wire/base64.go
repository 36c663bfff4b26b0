package wire

import (
	"encoding/base64"
	"strings"
)

// stdAlphabet is the standard (RFC 4648 §4) base64 alphabet.
const stdAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

// decodeBodyB64 decodes a passthrough bodyB64 the way the reference gateway
// does (docs/protocol.md, passthrough_forward): Python's non-validating
// base64.b64decode. Characters outside the alphabet are discarded, a complete
// pad sequence ends the input, and anything Python would reject (non-ASCII, a
// dangling character, missing padding) yields empty bytes. It never fails.
func decodeBodyB64(s string) []byte {
	if s == "" {
		return []byte{}
	}
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b
	}
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return []byte{} // Python refuses non-ASCII str input
		}
	}
	out := make([]byte, 0, len(s)*3/4)
	var quad, pads int
	var left byte
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch == '=' {
			if quad >= 2 {
				pads++
				if quad+pads >= 4 {
					return out // a complete pad sequence ends the input
				}
			}
			continue
		}
		idx := strings.IndexByte(stdAlphabet, ch)
		if idx < 0 {
			continue
		}
		v := byte(idx)
		pads = 0
		switch quad {
		case 0:
			left, quad = v, 1
		case 1:
			out = append(out, left<<2|v>>4)
			left, quad = v&0x0f, 2
		case 2:
			out = append(out, left<<4|v>>2)
			left, quad = v&0x03, 3
		case 3:
			out = append(out, left<<6|v)
			left, quad = 0, 0
		}
	}
	if quad != 0 {
		return []byte{} // "Incorrect padding" in Python
	}
	return out
}
