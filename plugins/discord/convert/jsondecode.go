package convert

import (
	"encoding/binary"
	"encoding/json"
	"math/bits"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// This file is a small strict JSON decoder (RFC 8259) that produces exactly
// what encoding/json's Decoder with UseNumber produces — map[string]any,
// []any, string, json.Number, bool, nil; duplicate keys keep the last value;
// lone surrogate escapes become U+FFFD — in one pass, with the depth cap
// built in. encoding/json scans a value twice (once to find its end, once to
// decode it) and reflects on every value; this decoder is several times
// faster on interaction bodies, which matters because the conversion must
// run at tens of thousands per second on one core. FuzzDecodeMatchesEncodingJSON
// checks it against encoding/json on arbitrary input.
//
// The input must already be valid UTF-8 (parseBody checks it first), so
// string contents are copied without re-validation.

// decodeErrKind classifies a decode failure.
type decodeErrKind int

const (
	errSyntax    decodeErrKind = iota + 1 // an unexpected byte
	errTruncated                          // the input ended inside a value
	errEmpty                              // nothing but whitespace
	errTrailing                           // data after the top-level value
	errTooDeep                            // nesting beyond MaxDepth
)

// decodeError says what went wrong and at which byte offset (0-based), never
// what the bytes were.
type decodeError struct {
	kind   decodeErrKind
	offset int
}

// decoder holds the state of one decode.
type decoder struct {
	b     []byte
	i     int
	depth int
	err   decodeError
	buf   []byte // scratch for unescaping
}

// decodeJSON decodes one JSON value that must fill b (surrounding whitespace
// aside), nesting at most MaxDepth levels.
func decodeJSON(b []byte) (any, *decodeError) {
	d := decoder{b: b}
	d.space()
	if d.i == len(b) {
		return nil, &decodeError{kind: errEmpty, offset: d.i}
	}
	v, ok := d.value()
	if !ok {
		return nil, &d.err
	}
	d.space()
	if d.i < len(b) {
		return nil, &decodeError{kind: errTrailing, offset: d.i}
	}
	return v, nil
}

// fail records an error at the current offset (see setErr) and yields no
// value.
func (d *decoder) fail() (any, bool) {
	d.setErr()
	return nil, false
}

// setErr records an error at the current offset: truncation when the input
// is exhausted, else a syntax error.
func (d *decoder) setErr() {
	if d.i >= len(d.b) {
		d.err = decodeError{kind: errTruncated, offset: len(d.b)}
	} else {
		d.err = decodeError{kind: errSyntax, offset: d.i}
	}
}

// space skips JSON whitespace. The common cases — no whitespace at all, as
// Discord sends bodies, or indentation — are fast.
func (d *decoder) space() {
	if d.i < len(d.b) && d.b[d.i] > ' ' {
		return
	}
	d.spaceRun()
}

// spaceRun skips JSON whitespace; after a newline, the indentation that
// follows is counted eight bytes at a time. It is kept out of line so that
// space, its fast check, stays small enough to be inlined everywhere.
//
//go:noinline
func (d *decoder) spaceRun() {
	b, i := d.b, d.i
	for i < len(b) {
		c := b[i]
		if c > ' ' || jsonSpaces>>c&1 == 0 {
			break
		}
		i++
		if c == '\n' {
			// Count the spaces of the indentation eight bytes at a time: the
			// first byte that is not a space ends it.
			for i+8 <= len(b) {
				if x := binary.LittleEndian.Uint64(b[i:]) ^ swarSpaces; x != 0 {
					i += bits.TrailingZeros64(x) / 8
					break
				}
				i += 8
			}
		}
	}
	d.i = i
}

// jsonSpaces has bit c set for each JSON whitespace byte c.
const jsonSpaces = 1<<' ' | 1<<'\t' | 1<<'\n' | 1<<'\r'

// value decodes the value starting at d.i.
func (d *decoder) value() (any, bool) {
	if d.i >= len(d.b) {
		return d.fail()
	}
	switch c := d.b[d.i]; {
	case c == '{':
		return d.object()
	case c == '[':
		return d.array()
	case c == '"':
		s, ok := d.str(false)
		if !ok {
			return nil, false
		}
		return s, true
	case c == 't':
		return d.literal("true", true)
	case c == 'f':
		return d.literal("false", false)
	case c == 'n':
		return d.literal("null", nil)
	case c == '-' || ('0' <= c && c <= '9'):
		return d.number()
	}
	return d.fail()
}

// literal consumes the keyword word and yields v.
func (d *decoder) literal(word string, v any) (any, bool) {
	if !d.word(word) {
		return nil, false
	}
	return v, true
}

// word consumes the keyword w (true, false or null).
func (d *decoder) word(w string) bool {
	for k := 0; k < len(w); k++ {
		if d.i >= len(d.b) || d.b[d.i] != w[k] {
			d.setErr()
			return false
		}
		d.i++
	}
	return true
}

// enter counts one more level of nesting at the bracket at d.i.
func (d *decoder) enter() bool {
	d.depth++
	if d.depth > MaxDepth {
		d.err = decodeError{kind: errTooDeep, offset: d.i}
		return false
	}
	d.i++
	return true
}

// object decodes an object; the last of duplicate keys wins.
func (d *decoder) object() (any, bool) {
	if !d.enter() {
		return nil, false
	}
	m := make(map[string]any)
	d.space()
	if d.i < len(d.b) && d.b[d.i] == '}' {
		d.i++
		d.depth--
		return m, true
	}
	for {
		if d.i >= len(d.b) || d.b[d.i] != '"' {
			return d.fail()
		}
		key, ok := d.str(true)
		if !ok {
			return nil, false
		}
		d.space()
		if d.i >= len(d.b) || d.b[d.i] != ':' {
			return d.fail()
		}
		d.i++
		d.space()
		v, ok := d.value()
		if !ok {
			return nil, false
		}
		m[key] = v
		d.space()
		if d.i >= len(d.b) {
			return d.fail()
		}
		switch d.b[d.i] {
		case ',':
			d.i++
			d.space()
		case '}':
			d.i++
			d.depth--
			return m, true
		default:
			return d.fail()
		}
	}
}

// array decodes an array.
func (d *decoder) array() (any, bool) {
	if !d.enter() {
		return nil, false
	}
	list := []any{}
	d.space()
	if d.i < len(d.b) && d.b[d.i] == ']' {
		d.i++
		d.depth--
		return list, true
	}
	for {
		v, ok := d.value()
		if !ok {
			return nil, false
		}
		list = append(list, v)
		d.space()
		if d.i >= len(d.b) {
			return d.fail()
		}
		switch d.b[d.i] {
		case ',':
			d.i++
			d.space()
		case ']':
			d.i++
			d.depth--
			return list, true
		default:
			return d.fail()
		}
	}
}

// number decodes a number literal (-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?)
// as a json.Number holding exactly the bytes written.
func (d *decoder) number() (any, bool) {
	start := d.i
	if !d.numberSpan() {
		return nil, false
	}
	return json.Number(d.b[start:d.i]), true
}

// numberSpan consumes the number literal at d.i (which must start with '-'
// or a digit) without building a value.
func (d *decoder) numberSpan() bool {
	if d.b[d.i] == '-' {
		d.i++
	}
	switch {
	case d.i < len(d.b) && d.b[d.i] == '0':
		d.i++
	case d.i < len(d.b) && '1' <= d.b[d.i] && d.b[d.i] <= '9':
		d.digits()
	default:
		d.setErr()
		return false
	}
	if d.i < len(d.b) && d.b[d.i] == '.' {
		d.i++
		if !d.digits() {
			d.setErr()
			return false
		}
	}
	if d.i < len(d.b) && (d.b[d.i] == 'e' || d.b[d.i] == 'E') {
		d.i++
		if d.i < len(d.b) && (d.b[d.i] == '+' || d.b[d.i] == '-') {
			d.i++
		}
		if !d.digits() {
			d.setErr()
			return false
		}
	}
	return true
}

// digits consumes one or more decimal digits and reports whether there was
// at least one.
func (d *decoder) digits() bool {
	start := d.i
	for d.i < len(d.b) && '0' <= d.b[d.i] && d.b[d.i] <= '9' {
		d.i++
	}
	return d.i > start
}

// str decodes the string starting at the quote at d.i. Object keys are
// interned so that the keys every interaction repeats cost no allocation.
func (d *decoder) str(isKey bool) (string, bool) {
	b, scratch, ok := d.strBytes()
	if !ok {
		return "", false
	}
	if isKey && !scratch {
		return internKey(b), true
	}
	return string(b), true
}

// strBytes decodes the string starting at the quote at d.i without
// allocating: a string without escapes is returned as a slice of the input;
// one with escapes is unescaped into the decoder's scratch buffer (scratch
// is then true), which the next string overwrites.
func (d *decoder) strBytes() (b []byte, scratch, ok bool) {
	start := d.i + 1
	j := start
	// Eight bytes at a time up to the first quote, backslash or control
	// character, then byte by byte.
	for j+8 <= len(d.b) {
		if m := strSpecial(binary.LittleEndian.Uint64(d.b[j:])); m != 0 {
			j += bits.TrailingZeros64(m) / 8
			break
		}
		j += 8
	}
	for j < len(d.b) {
		c := d.b[j]
		if c == '"' {
			d.i = j + 1
			return d.b[start:j], false, true
		}
		if c == '\\' || c < 0x20 {
			break
		}
		j++
	}
	// Slow path: escapes (or an error) ahead.
	d.buf = append(d.buf[:0], d.b[start:j]...)
	d.i = j
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			d.i++
			return d.buf, true, true
		case c < 0x20:
			d.setErr()
			return nil, false, false
		case c != '\\':
			d.buf = append(d.buf, c)
			d.i++
			continue
		}
		// An escape.
		if d.i+1 >= len(d.b) {
			d.i = len(d.b)
			d.setErr()
			return nil, false, false
		}
		d.i++
		switch e := d.b[d.i]; e {
		case '"', '\\', '/':
			d.buf = append(d.buf, e)
		case 'b':
			d.buf = append(d.buf, '\b')
		case 'f':
			d.buf = append(d.buf, '\f')
		case 'n':
			d.buf = append(d.buf, '\n')
		case 'r':
			d.buf = append(d.buf, '\r')
		case 't':
			d.buf = append(d.buf, '\t')
		case 'u':
			r, bad := hex4(d.b, d.i+1)
			if bad >= 0 {
				d.i = bad
				d.setErr()
				return nil, false, false
			}
			d.i += 4 // the last hex digit
			if utf16.IsSurrogate(r) {
				// A valid pair is consumed whole; anything else leaves
				// U+FFFD for this half and goes on with what follows, as
				// encoding/json does.
				paired := false
				if d.i+6 < len(d.b) && d.b[d.i+1] == '\\' && d.b[d.i+2] == 'u' {
					if r2, bad := hex4(d.b, d.i+3); bad < 0 {
						if dec := utf16.DecodeRune(r, r2); dec != unicode.ReplacementChar {
							r, paired = dec, true
						}
					}
				}
				if paired {
					d.i += 6 // the last hex digit of the low half
				} else {
					r = unicode.ReplacementChar
				}
			}
			d.buf = utf8.AppendRune(d.buf, r)
		default:
			d.setErr()
			return nil, false, false
		}
		d.i++
	}
	d.setErr()
	return nil, false, false
}

// SWAR (SIMD within a register) constants: a byte value repeated in all
// eight bytes of a uint64.
const (
	swarOnes   = 0x0101010101010101
	swarHighs  = 0x8080808080808080
	swarSpaces = 0x2020202020202020
	swarQuotes = swarOnes * '"'
	swarBacks  = swarOnes * '\\'
)

// strSpecial returns x (eight input bytes, the first in the low byte) with
// the high bit set in the bytes that end the fast path of a string: '"',
// '\\' and control characters (< 0x20). Bytes above the first flagged one
// may be flagged falsely (a borrow runs on), so only the lowest flag is
// exact — which is the one the caller uses.
func strSpecial(x uint64) uint64 {
	q := x ^ swarQuotes
	b := x ^ swarBacks
	return (((q - swarOnes) &^ q) | ((b - swarOnes) &^ b) | ((x - swarSpaces) &^ x)) & swarHighs
}

// hex4 reads four hex digits at b[at:]. It returns the rune and -1, or the
// offset of the first byte that is not a hex digit (len(b) when b ends
// first).
func hex4(b []byte, at int) (rune, int) {
	var r rune
	for k := at; k < at+4; k++ {
		if k >= len(b) {
			return 0, len(b)
		}
		c := b[k]
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, k
		}
		r = r<<4 | rune(c)
	}
	return r, -1
}

// internKey returns the object key b as a string, without allocating for
// the keys Discord interaction bodies repeat.
func internKey(b []byte) string {
	switch string(b) { // no allocation: the compiler compares in place
	case "id":
		return "id"
	case "type":
		return "type"
	case "name":
		return "name"
	case "value":
		return "value"
	case "values":
		return "values"
	case "options":
		return "options"
	case "data":
		return "data"
	case "token":
		return "token"
	case "version":
		return "version"
	case "user":
		return "user"
	case "member":
		return "member"
	case "username":
		return "username"
	case "global_name":
		return "global_name"
	case "nick":
		return "nick"
	case "avatar":
		return "avatar"
	case "discriminator":
		return "discriminator"
	case "public_flags":
		return "public_flags"
	case "flags":
		return "flags"
	case "roles":
		return "roles"
	case "permissions":
		return "permissions"
	case "joined_at":
		return "joined_at"
	case "premium_since":
		return "premium_since"
	case "pending":
		return "pending"
	case "is_pending":
		return "is_pending"
	case "mute":
		return "mute"
	case "deaf":
		return "deaf"
	case "guild_id":
		return "guild_id"
	case "guild":
		return "guild"
	case "channel_id":
		return "channel_id"
	case "channel":
		return "channel"
	case "parent_id":
		return "parent_id"
	case "application_id":
		return "application_id"
	case "app_permissions":
		return "app_permissions"
	case "locale":
		return "locale"
	case "guild_locale":
		return "guild_locale"
	case "message":
		return "message"
	case "content":
		return "content"
	case "author":
		return "author"
	case "components":
		return "components"
	case "component":
		return "component"
	case "component_type":
		return "component_type"
	case "custom_id":
		return "custom_id"
	case "resolved":
		return "resolved"
	case "attachments":
		return "attachments"
	case "target_id":
		return "target_id"
	case "label":
		return "label"
	case "style":
		return "style"
	case "context":
		return "context"
	case "entitlements":
		return "entitlements"
	case "authorizing_integration_owners":
		return "authorizing_integration_owners"
	case "attachment_size_limit":
		return "attachment_size_limit"
	}
	return string(b)
}
