package wire

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// This file is DecodeFrame's fast path: one pass over the line that
// validates it exactly as encoding/json would and cuts out the raw values
// of the envelope's keys (and of the forward's), which the same lenient
// field decoders as the slow path then read. encoding/json needs two passes
// (validate, then decode) and reflection, and a passthrough_forward is
// mostly one long base64 string, so scanning it once is most of the work.
//
// Whenever the line holds something whose meaning under encoding/json is
// not plain to see (an escaped or non-ASCII key, a key that differs from a
// field's name only by case, a repeated "forward", deep nesting), or is not
// valid JSON at all, the fast path gives up and DecodeFrame takes the slow
// path, so both always agree; FuzzDecodeFrameFastPath checks that.

// scanMaxDepth is the nesting the fast path follows; deeper values (never
// seen in real frames) go to the slow path, which allows 10,000.
const scanMaxDepth = 64

// scanner validates JSON text, value by value.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) skipSpace() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// value consumes one value (no surrounding whitespace) and reports whether
// it is valid.
func (s *scanner) value(depth int) bool {
	if s.i >= len(s.b) {
		return false
	}
	switch c := s.b[s.i]; {
	case c == '"':
		_, ok := s.str()
		return ok
	case c == '{':
		return s.object(depth+1, nil)
	case c == '[':
		return s.array(depth + 1)
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number()
	}
	return false
}

func (s *scanner) literal(lit string) bool {
	if !bytes.HasPrefix(s.b[s.i:], []byte(lit)) {
		return false
	}
	s.i += len(lit)
	return true
}

// number consumes -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?.
func (s *scanner) number() bool {
	b := s.b
	if s.i < len(b) && b[s.i] == '-' {
		s.i++
	}
	switch {
	case s.i < len(b) && b[s.i] == '0':
		s.i++
	case s.i < len(b) && b[s.i] >= '1' && b[s.i] <= '9':
		for s.i < len(b) && b[s.i] >= '0' && b[s.i] <= '9' {
			s.i++
		}
	default:
		return false
	}
	if s.i < len(b) && b[s.i] == '.' {
		s.i++
		if s.i >= len(b) || b[s.i] < '0' || b[s.i] > '9' {
			return false
		}
		for s.i < len(b) && b[s.i] >= '0' && b[s.i] <= '9' {
			s.i++
		}
	}
	if s.i < len(b) && (b[s.i] == 'e' || b[s.i] == 'E') {
		s.i++
		if s.i < len(b) && (b[s.i] == '+' || b[s.i] == '-') {
			s.i++
		}
		if s.i >= len(b) || b[s.i] < '0' || b[s.i] > '9' {
			return false
		}
		for s.i < len(b) && b[s.i] >= '0' && b[s.i] <= '9' {
			s.i++
		}
	}
	return true
}

// str consumes a string and reports whether it is valid and whether it is
// plain: no escapes and ASCII only, so its bytes are its value. A string
// holding invalid UTF-8 is reported invalid: DecodeFrame's slow path
// refuses such a line (encoding/json alone would turn each bad byte into
// U+FFFD). Only strings with non-ASCII bytes are checked, so the check
// costs nothing on the usual, all-ASCII frame.
func (s *scanner) str() (plain, ok bool) {
	b := s.b
	s.i++ // the opening quote
	start := s.i
	plain = true
	ascii := true
	for s.i < len(b) {
		// Skip eight ordinary bytes at a time: the bulk of a forward is
		// one long base64 string.
		for s.i+8 <= len(b) && !special8(binary.LittleEndian.Uint64(b[s.i:])) {
			s.i += 8
		}
		if s.i >= len(b) {
			break
		}
		c := b[s.i]
		switch {
		case c == '"':
			if !ascii && !utf8.Valid(b[start:s.i]) {
				return false, false
			}
			s.i++
			return plain, true
		case c == '\\':
			plain = false
			s.i++
			if s.i >= len(b) {
				return false, false
			}
			switch b[s.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i++
			case 'u':
				if s.i+5 > len(b) {
					return false, false
				}
				for _, h := range b[s.i+1 : s.i+5] {
					if !isHex(h) {
						return false, false
					}
				}
				s.i += 5
			default:
				return false, false
			}
		case c < 0x20:
			return false, false
		default:
			if c >= 0x80 {
				plain, ascii = false, false
			}
			s.i++
		}
	}
	return false, false
}

// SWAR constants for special8.
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// special8 reports whether any of the eight bytes packed in w is one a
// string scan must stop at: a quote, a backslash, a control character
// (below 0x20) or a non-ASCII byte (0x80 and up).
func special8(w uint64) bool {
	hasZero := func(x uint64) uint64 { return (x - ones) & ^x & highs }
	quote := hasZero(w ^ (ones * '"'))
	backslash := hasZero(w ^ (ones * '\\'))
	control := (w - ones*0x20) & ^w & highs // a byte below 0x20 (exact when no byte has its high bit set)
	return quote|backslash|control|(w&highs) != 0
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func (s *scanner) array(depth int) bool {
	if depth > scanMaxDepth {
		return false
	}
	s.i++ // [
	s.skipSpace()
	if s.i < len(s.b) && s.b[s.i] == ']' {
		s.i++
		return true
	}
	for {
		s.skipSpace()
		if !s.value(depth) {
			return false
		}
		s.skipSpace()
		if s.i >= len(s.b) {
			return false
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case ']':
			s.i++
			return true
		default:
			return false
		}
	}
}

// object consumes an object. For each member it calls member (when not
// nil) with the key's bytes and whether the key is plain, positioned at the
// value, which member must consume (with rawValue, or object for a nested
// object it wants to see into); member returns false when the value is
// invalid or the fast path is abandoned. A nil member just validates.
func (s *scanner) object(depth int, member func(key []byte, plain bool) bool) bool {
	if depth > scanMaxDepth {
		return false
	}
	s.i++ // {
	s.skipSpace()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		return true
	}
	for {
		s.skipSpace()
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			return false
		}
		k0 := s.i + 1
		plain, ok := s.str()
		if !ok {
			return false
		}
		key := s.b[k0 : s.i-1]
		s.skipSpace()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return false
		}
		s.i++
		s.skipSpace()
		if member == nil {
			ok = s.value(depth)
		} else {
			ok = member(key, plain)
		}
		if !ok {
			return false
		}
		s.skipSpace()
		if s.i >= len(s.b) {
			return false
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case '}':
			s.i++
			return true
		default:
			return false
		}
	}
}

// rawValue consumes one value and returns its bytes.
func (s *scanner) rawValue(depth int) ([]byte, bool) {
	v0 := s.i
	if !s.value(depth) {
		return nil, false
	}
	return s.b[v0:s.i], true
}

// matchKey finds key among names the way encoding/json matches a struct
// field: an exact match gives its index; no match at all gives -1 (an
// unknown key, ignored); anything in between (an escaped or non-ASCII key,
// or one equal to a name but for case, which encoding/json also accepts)
// reports ok=false and sends the line to the slow path.
func matchKey(key []byte, plain bool, names []string) (idx int, ok bool) {
	if !plain {
		return -1, false
	}
	for i, n := range names {
		if string(key) == n {
			return i, true
		}
	}
	for _, n := range names {
		if strings.EqualFold(string(key), n) {
			return -1, false
		}
	}
	return -1, true
}

// Keys of the envelope and of a forward, in the order of the fields they
// fill (wireFrame and wireForward).
var (
	frameKeys   = []string{"type", "descriptor", "event", "forward", "bufferId", "requestId", "result", "session_key", "chat_id"}
	forwardKeys = []string{"platform", "botId", "method", "path", "headers", "bodyB64", "profile"}
)

// scanFrame fills w from line (already trimmed) as json.Unmarshal would,
// and reports forwardNotObject as DecodeFrame's slow path does. ok is false
// when the fast path does not apply; w is then to be ignored.
func scanFrame(line []byte, w *wireFrame) (forwardNotObject, ok bool) {
	if len(line) == 0 || line[0] != '{' {
		return false, false
	}
	s := scanner{b: line}
	seenForward := false
	valid := s.object(1, func(key []byte, plain bool) bool {
		i, ok := matchKey(key, plain, frameKeys)
		if !ok {
			return false
		}
		if i == 3 { // forward
			if seenForward {
				return false // encoding/json would merge the two into one struct
			}
			seenForward = true
			if s.i < len(s.b) && s.b[s.i] == '{' {
				fw := &wireForward{}
				if !s.object(2, fw.member(&s)) {
					return false
				}
				w.Forward = fw
				return true
			}
		}
		val, ok := s.rawValue(1)
		if !ok {
			return false
		}
		switch i {
		case 0:
			w.Type = val
		case 1:
			w.Descriptor = val
		case 2:
			w.Event = val
		case 3:
			if val[0] == 'n' {
				w.Forward = nil
			} else {
				forwardNotObject = true // a type error for encoding/json
			}
		case 4:
			w.BufferID = val
		case 5:
			w.RequestID = val
		case 6:
			w.Result = val
		case 7:
			w.SessionKey = val
		case 8:
			w.ChatID = val
		}
		return true
	})
	if !valid {
		return false, false
	}
	s.skipSpace()
	if s.i != len(line) {
		return false, false
	}
	return forwardNotObject, true
}

// member returns the object member visitor that fills fw through the same
// decoders json.Unmarshal would call.
func (fw *wireForward) member(s *scanner) func(key []byte, plain bool) bool {
	return func(key []byte, plain bool) bool {
		i, ok := matchKey(key, plain, forwardKeys)
		if !ok {
			return false
		}
		val, ok := s.rawValue(2)
		if !ok {
			return false
		}
		var u json.Unmarshaler
		switch i {
		case 0:
			u = &fw.Platform
		case 1:
			u = &fw.BotID
		case 2:
			u = &fw.Method
		case 3:
			u = &fw.Path
		case 4:
			u = &fw.Headers
		case 5:
			u = &fw.BodyB64
		case 6:
			u = &fw.Profile
		default:
			return true // unknown key: ignored
		}
		_ = u.UnmarshalJSON(val) // these decoders never fail
		return true
	}
}

// resultKeys are the fields parseResult reads from an outbound_result.
var resultKeys = []string{"success", "message_id", "error", "code"}

// scanResult is parseResult's fast path for a result object: one pass that
// validates it, fills Raw (as json.Decoder with UseNumber would) and reads
// the four fields from their raw values with the same helpers. ok is false
// when the object holds something whose reading under encoding/json is not
// plain (see matchKey), or a value it would decode with more work than a
// literal, a plain string or a number; parseResult then decodes it itself.
func scanResult(r []byte) (res OutboundResult, ok bool) {
	s := scanner{b: r}
	s.skipSpace()
	if s.i >= len(r) || r[s.i] != '{' {
		return OutboundResult{}, false
	}
	raw := map[string]any{}
	var fields [4][]byte
	valid := s.object(1, func(key []byte, plain bool) bool {
		i, ok := matchKey(key, plain, resultKeys)
		if !ok {
			return false
		}
		if s.i >= len(s.b) {
			return false
		}
		v0 := s.i
		var val any
		switch c := s.b[s.i]; {
		case c == '"':
			plainStr, ok := s.str()
			if !ok || !plainStr {
				return false
			}
			val = string(s.b[v0+1 : s.i-1])
		case c == 't' || c == 'f' || c == 'n':
			if !s.value(1) {
				return false
			}
			switch c {
			case 't':
				val = true
			case 'f':
				val = false
			}
		case c == '-' || (c >= '0' && c <= '9'):
			if !s.number() {
				return false
			}
			val = json.Number(s.b[v0:s.i])
		default:
			return false // objects and arrays: the slow path decodes them
		}
		if i >= 0 {
			raw[resultKeys[i]] = val // the same string, without a copy
			fields[i] = s.b[v0:s.i]
		} else {
			raw[string(key)] = val
		}
		return true
	})
	if !valid {
		return OutboundResult{}, false
	}
	s.skipSpace()
	if s.i != len(r) {
		return OutboundResult{}, false
	}
	return OutboundResult{
		Success:   rawTruthy(fields[0]),
		MessageID: rawString(fields[1]),
		Error:     rawString(fields[2]),
		Code:      rawString(fields[3]),
		Raw:       raw,
	}, true
}
