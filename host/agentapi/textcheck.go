package agentapi

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// findBadText reports whether a syntactically valid JSON body holds a string
// that is not valid Unicode text: invalid UTF-8 bytes, or a \u escape of a
// lone UTF-16 surrogate. encoding/json would silently turn either into
// U+FFFD, changing what the agent sent, so relay-host refuses the request
// instead and names the field: a dotted path such as "metadata.note" or
// "options[1].label" ("(body)" for the top level; " (a key)" is added when
// a key itself is at fault).
func findBadText(body []byte) (where string, bad bool) {
	if utf8.Valid(body) && surrogatesPaired(body) {
		return "", false
	}
	type level struct {
		object  bool
		key     string
		index   int
		wantKey bool
	}
	var stack []level
	path := func() string {
		var b bytes.Buffer
		for _, l := range stack {
			if l.object {
				if b.Len() > 0 {
					b.WriteByte('.')
				}
				b.WriteString(l.key)
			} else {
				b.WriteString("[" + strconv.Itoa(l.index) + "]")
			}
		}
		if b.Len() == 0 {
			return "(body)"
		}
		return b.String()
	}
	// valueDone advances the enclosing container past one value.
	valueDone := func() {
		if n := len(stack); n > 0 {
			if stack[n-1].object {
				stack[n-1].wantKey = true
			} else {
				stack[n-1].index++
			}
		}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	prev := int64(0)
	for {
		tok, err := dec.Token()
		if err != nil {
			// Not reached for a body that decoded: the caller parsed it.
			return "(body)", true
		}
		end := dec.InputOffset()
		raw := body[prev:end]
		prev = end
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				stack = append(stack, level{object: true, wantKey: true})
			case '[':
				stack = append(stack, level{})
			default:
				stack = stack[:len(stack)-1]
				valueDone()
			}
		case string:
			top := len(stack) - 1
			if top >= 0 && stack[top].object && stack[top].wantKey {
				if !textOK(raw) {
					stack = stack[:top]
					return path() + " (a key)", true
				}
				stack[top].key = t
				stack[top].wantKey = false
				continue
			}
			if !textOK(raw) {
				return path(), true
			}
			valueDone()
		default:
			valueDone()
		}
		if len(stack) == 0 {
			return "(body)", true
		}
	}
}

// textOK reports whether raw JSON bytes hold only valid UTF-8 and paired
// surrogate escapes.
func textOK(raw []byte) bool { return utf8.Valid(raw) && surrogatesPaired(raw) }

// surrogatesPaired reports whether every \u escape of a UTF-16 surrogate in
// raw JSON is a high surrogate directly followed by an escaped low one.
// Backslashes occur only inside strings in valid JSON, so it can scan a whole
// body.
func surrogatesPaired(raw []byte) bool {
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		if i+1 >= len(raw) {
			return true
		}
		if raw[i+1] != 'u' {
			i++ // a two-byte escape such as \\ or \"
			continue
		}
		r, ok := hex4(raw, i+2)
		if !ok {
			return true // not valid JSON; the decoder reports it
		}
		i += 5
		switch {
		case r >= 0xD800 && r <= 0xDBFF:
			if i+6 >= len(raw) || raw[i+1] != '\\' || raw[i+2] != 'u' {
				return false
			}
			lo, ok := hex4(raw, i+3)
			if !ok || lo < 0xDC00 || lo > 0xDFFF {
				return false
			}
			i += 6
		case r >= 0xDC00 && r <= 0xDFFF:
			return false
		}
	}
	return true
}

// hex4 reads four hex digits at raw[at:].
func hex4(raw []byte, at int) (rune, bool) {
	if at+4 > len(raw) {
		return 0, false
	}
	var r rune
	for _, c := range raw[at : at+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c-'a') + 10
		case c >= 'A' && c <= 'F':
			r |= rune(c-'A') + 10
		default:
			return 0, false
		}
	}
	return r, true
}
