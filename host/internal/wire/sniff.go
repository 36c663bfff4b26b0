package wire

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// envelopeSniffer reads the "type" and "bufferId" of a frame's top-level
// object from text that cannot be decoded: a line over the frame limit
// (fed in chunks as it streams past, never held), nesting too deep for
// encoding/json, invalid UTF-8, or JSON broken further on. With them an
// undecodable buffered delivery can still be settled: it can never become
// decodable, and left un-acked it would block the connector's ack-gated
// replay on every reconnect (docs/protocol.md, Settlement).
//
// It tracks only nesting and strings, byte by byte, and keeps nothing but a
// top-level key (a few bytes) and the two values: each a JSON string of at
// most MaxIDBytes once unescaped, in valid UTF-8; any other value reads as
// "". Keys match exactly (escapes decoded), and when one repeats the last
// counts, as in encoding/json. Its zero value is ready to use.
type envelopeSniffer struct {
	state sniffState
	depth int  // nesting below the top-level object (sNested only)
	inStr bool // sNested: inside a string
	esc   bool // inside a string, after a backslash
	// raw collects a top-level key, then a wanted value, as raw JSON
	// string contents (escapes included); rawOK is false once it is too
	// long to be what we want.
	raw   []byte
	rawOK bool
	// want says which value the current member holds: 0 neither, 1
	// type, 2 bufferId.
	want int

	typ, bufferID string
}

type sniffState uint8

const (
	sStart      sniffState = iota // before the top-level '{'
	sKeyOrEnd                     // in the top-level object, before a key (or '}')
	sKey                          // inside a top-level key
	sColon                        // after a key, before ':'
	sValue                        // before a top-level value
	sVal                          // inside a top-level string value we want
	sSkipStr                      // inside a top-level string value we do not want
	sScalar                       // inside a top-level number or literal
	sNested                       // inside a top-level object or array value
	sAfterValue                   // after a top-level value, before ',' or '}'
	sDone                         // the top-level object ended, or the text is not one
)

// Raw lengths the sniffer keeps: a key is wanted only if it is "type" or
// "bufferId", at most six bytes of escape per character; a value at most
// MaxIDBytes once unescaped.
const (
	sniffMaxKey = 6 * len("bufferId")
	sniffMaxVal = 6 * MaxIDBytes
)

// feed reads the next chunk of the line.
func (s *envelopeSniffer) feed(b []byte) {
	for _, c := range b {
		switch s.state {
		case sDone:
			return
		case sStart:
			switch c {
			case ' ', '\t', '\n', '\r':
			case '{':
				s.state = sKeyOrEnd
			default:
				s.state = sDone
			}
		case sKeyOrEnd:
			switch c {
			case ' ', '\t', '\n', '\r', ',':
			case '"':
				s.state = sKey
				s.startRaw()
			default: // '}' ends the object; anything else is not JSON
				s.state = sDone
			}
		case sKey, sVal:
			if !s.esc && c == '"' {
				s.endString()
				continue
			}
			s.esc = !s.esc && c == '\\'
			max := sniffMaxVal
			if s.state == sKey {
				max = sniffMaxKey
			}
			if s.rawOK && len(s.raw) < max {
				s.raw = append(s.raw, c)
			} else {
				s.rawOK = false
			}
		case sColon:
			switch c {
			case ' ', '\t', '\n', '\r':
			case ':':
				s.state = sValue
			default:
				s.state = sDone
			}
		case sValue:
			switch c {
			case ' ', '\t', '\n', '\r':
			case '"':
				if s.want == 0 {
					s.state = sSkipStr
				} else {
					s.state = sVal
					s.startRaw()
				}
			case '{', '[':
				s.state, s.depth, s.inStr = sNested, 1, false
				s.set("")
			default:
				s.state = sScalar
				s.set("")
			}
		case sSkipStr:
			switch {
			case s.esc:
				s.esc = false
			case c == '\\':
				s.esc = true
			case c == '"':
				s.state = sAfterValue
			}
		case sScalar:
			switch c {
			case ',':
				s.state = sKeyOrEnd
			case '}':
				s.state = sDone
			case ' ', '\t', '\n', '\r':
				s.state = sAfterValue
			}
		case sNested:
			switch {
			case s.esc:
				s.esc = false
			case s.inStr:
				switch c {
				case '"':
					s.inStr = false
				case '\\':
					s.esc = true
				}
			case c == '"':
				s.inStr = true
			case c == '{' || c == '[':
				s.depth++
			case c == '}' || c == ']':
				if s.depth--; s.depth == 0 {
					s.state = sAfterValue
				}
			}
		case sAfterValue:
			switch c {
			case ' ', '\t', '\n', '\r':
			case ',':
				s.state = sKeyOrEnd
			default: // '}' ends the object; anything else is not JSON
				s.state = sDone
			}
		}
	}
}

// startRaw starts collecting a string's contents.
func (s *envelopeSniffer) startRaw() {
	s.raw, s.rawOK, s.esc = s.raw[:0], true, false
}

// endString handles the closing quote of a key or of a wanted value.
func (s *envelopeSniffer) endString() {
	v, ok := s.unquote()
	if s.state == sKey {
		s.state, s.want = sColon, 0
		if ok {
			switch v {
			case "type":
				s.want = 1
			case "bufferId":
				s.want = 2
			}
		}
		return
	}
	s.state = sAfterValue
	if !ok || len(v) > MaxIDBytes {
		v = ""
	}
	s.set(v)
}

// unquote returns the collected string's value; ok is false when it was
// too long to keep, is not a valid JSON string or is not valid UTF-8.
func (s *envelopeSniffer) unquote() (string, bool) {
	if !s.rawOK || !utf8.Valid(s.raw) {
		return "", false
	}
	if bytes.IndexByte(s.raw, '\\') < 0 {
		for _, c := range s.raw {
			if c < 0x20 {
				return "", false
			}
		}
		return string(s.raw), true
	}
	q := make([]byte, 0, len(s.raw)+2)
	q = append(append(append(q, '"'), s.raw...), '"')
	var v string
	if json.Unmarshal(q, &v) != nil {
		return "", false
	}
	return v, true
}

// set records the value of the current member, when it is one we want.
func (s *envelopeSniffer) set(v string) {
	switch s.want {
	case 1:
		s.typ = v
	case 2:
		s.bufferID = v
	}
	s.want = 0
}

// sniffEnvelope reads the type and bufferId of a whole line (see
// envelopeSniffer).
func sniffEnvelope(line []byte) (FrameType, string) {
	var s envelopeSniffer
	s.feed(line)
	return FrameType(s.typ), s.bufferID
}
