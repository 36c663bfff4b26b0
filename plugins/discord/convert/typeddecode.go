package convert

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// This file holds the primitives of the typed decode (typed.go): a
// validating skip, member and element iterators, and jvalue, a JSON value
// held without building it. They are methods of the same decoder as the
// generic decode and share its string, number and keyword scanners, its
// depth count and its error recording, so both decodes accept exactly the
// same inputs and report the same error at the same offset (the typed path
// meets the bytes in the same order; FuzzTypedMatchesGeneric checks it).

// jkind is the JSON type of a jvalue.
type jkind uint8

const (
	jAbsent jkind = iota // the key was not in the object
	jNull
	jFalse
	jTrue
	jNumber
	jString
	jObject
	jArray
)

// jvalue is one JSON value as the typed path holds it: the kind, and for a
// string its contents (unescaped), for a number its literal exactly as
// written, for an object or array its whole text (brackets included), which
// is scanned again only if the conversion reads into it. raw is a slice of
// the body, or a private copy for a string that had escapes.
type jvalue struct {
	raw      []byte
	kind     jkind
	nonEmpty bool // an object with a member or an array with an element
}

// truthy is Python truthiness (see truthy in value.go) of a jvalue.
func (v jvalue) truthy() bool {
	switch v.kind {
	case jTrue:
		return true
	case jString:
		return len(v.raw) > 0
	case jNumber:
		return numberTruthyBytes(v.raw)
	case jObject, jArray:
		return v.nonEmpty
	}
	return false // absent, null, false
}

// isNull reports whether the value is null or absent: what a map lookup in
// the generic path sees as nil.
func (v jvalue) isNull() bool { return v.kind == jAbsent || v.kind == jNull }

// isNumber reports whether v is a JSON number numerically equal to one of
// want (see isNumber in value.go).
func (v jvalue) isNumber(want ...int64) bool {
	n, ok := v.smallInt()
	if !ok {
		return false
	}
	for _, w := range want {
		if n == w {
			return true
		}
	}
	return false
}

// maxShortInt is the longest integer literal (sign aside) smallInt parses
// by hand: ten digits reach past maxSmallInt, so the bound check decides.
const maxShortInt = 10

// smallInt is smallInt of value.go for a jvalue. Plain short integer
// literals, which is what Discord sends, are parsed in place; any other
// spelling (2.0, 2e0, long literals) goes through the generic function.
func (v jvalue) smallInt() (int64, bool) {
	if v.kind != jNumber {
		return 0, false
	}
	digits := v.raw
	neg := len(digits) > 0 && digits[0] == '-'
	if neg {
		digits = digits[1:]
	}
	if len(digits) == 0 || len(digits) > maxShortInt {
		return smallInt(json.Number(v.raw))
	}
	var n int64
	for _, c := range digits {
		if c < '0' || c > '9' {
			return smallInt(json.Number(v.raw))
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	if n > maxSmallInt || n < -maxSmallInt {
		return 0, false
	}
	return n, true
}

// numberTruthyBytes is numberTruthy for a literal held as bytes.
func numberTruthyBytes(lit []byte) bool {
	if bytes.IndexAny(lit, ".eE") < 0 {
		return bytes.IndexAny(lit, "123456789") >= 0
	}
	f, _ := strconv.ParseFloat(string(lit), 64) // overflow yields ±Inf, which is truthy
	return f != 0
}

// kindName names a jvalue's JSON type the way jsonKind names a decoded
// value, for reasons.
func (v jvalue) kindName() string {
	switch v.kind {
	case jAbsent, jNull:
		return "null"
	case jFalse, jTrue:
		return "boolean"
	case jNumber:
		return "number"
	case jString:
		return "string"
	case jArray:
		return "array"
	case jObject:
		return "object"
	}
	return "value"
}

// scalar decodes the value at d.i into v without building it: strings and
// numbers as their bytes, objects and arrays skipped (validated) and kept as
// their text.
func (d *decoder) scalar(v *jvalue) bool {
	if d.i >= len(d.b) {
		d.setErr()
		return false
	}
	start := d.i
	switch c := d.b[d.i]; {
	case c == '{':
		nonEmpty, ok := d.skipObject()
		*v = jvalue{kind: jObject, nonEmpty: nonEmpty, raw: d.b[start:d.i]}
		return ok
	case c == '[':
		nonEmpty, ok := d.skipArray()
		*v = jvalue{kind: jArray, nonEmpty: nonEmpty, raw: d.b[start:d.i]}
		return ok
	case c == '"':
		s, scratch, ok := d.strBytes()
		if scratch {
			s = bytes.Clone(s) // the scratch buffer is reused by the next string
		}
		*v = jvalue{kind: jString, raw: s}
		return ok
	case c == 't':
		*v = jvalue{kind: jTrue}
		return d.word("true")
	case c == 'f':
		*v = jvalue{kind: jFalse}
		return d.word("false")
	case c == 'n':
		*v = jvalue{kind: jNull}
		return d.word("null")
	case c == '-' || ('0' <= c && c <= '9'):
		ok := d.numberSpan()
		*v = jvalue{kind: jNumber, raw: d.b[start:d.i]}
		return ok
	}
	d.setErr()
	return false
}

// atObject reports whether the value at d.i is an object.
func (d *decoder) atObject() bool { return d.i < len(d.b) && d.b[d.i] == '{' }

// fields decodes the value at d.i into v. When it is an object, each member
// whose key is keys[k] is decoded (with scalar) into *dst[k] — the last one
// when a key repeats — and every other member is skipped. The fields must be
// zero beforehand: a field whose key is missing stays absent.
func (d *decoder) fields(v *jvalue, keys []string, dst []*jvalue) bool {
	if !d.atObject() {
		return d.scalar(v)
	}
	start := d.i
	nonEmpty := false
	for first := true; ; first = false {
		key, end, ok := d.nextMember(first)
		if !ok {
			return false
		}
		if end {
			break
		}
		nonEmpty = true
		k := 0
		for k < len(keys) && string(key) != keys[k] {
			k++
		}
		if k < len(keys) {
			ok = d.scalar(dst[k])
		} else {
			ok = d.skipValue()
		}
		if !ok {
			return false
		}
	}
	*v = jvalue{kind: jObject, nonEmpty: nonEmpty, raw: d.b[start:d.i]}
	return true
}

// skipValue consumes the value at d.i, checking it exactly as value does,
// without building anything.
func (d *decoder) skipValue() bool {
	if d.i >= len(d.b) {
		d.setErr()
		return false
	}
	switch c := d.b[d.i]; {
	case c == '{':
		_, ok := d.skipObject()
		return ok
	case c == '[':
		_, ok := d.skipArray()
		return ok
	case c == '"':
		_, _, ok := d.strBytes()
		return ok
	case c == 't':
		return d.word("true")
	case c == 'f':
		return d.word("false")
	case c == 'n':
		return d.word("null")
	case c == '-' || ('0' <= c && c <= '9'):
		return d.numberSpan()
	}
	d.setErr()
	return false
}

// skipObject consumes the object at d.i and reports whether it had a member.
func (d *decoder) skipObject() (nonEmpty, ok bool) {
	for first := true; ; first = false {
		_, end, ok := d.nextMember(first)
		if !ok || end {
			return !first, ok
		}
		if !d.skipValue() {
			return true, false
		}
	}
}

// skipArray consumes the array at d.i and reports whether it had an element.
func (d *decoder) skipArray() (nonEmpty, ok bool) {
	for first := true; ; first = false {
		end, ok := d.nextElement(first)
		if !ok || end {
			return !first, ok
		}
		if !d.skipValue() {
			return true, false
		}
	}
}

// nextMember steps through the object at d.i: the first call (first true,
// d.i at the '{') enters it, every call reads one member's key and leaves
// d.i at its value, which the caller must consume before the next call. At
// the closing '}' it consumes it and returns end. The grammar, the depth
// count and the errors (recorded in d.err, ok false) are object's. key may
// live in the scratch buffer: look at it before decoding anything.
func (d *decoder) nextMember(first bool) (key []byte, end, ok bool) {
	if first {
		if !d.enter() {
			return nil, false, false
		}
		d.space()
		if d.i < len(d.b) && d.b[d.i] == '}' {
			d.i++
			d.depth--
			return nil, true, true
		}
	} else {
		d.space()
		if d.i >= len(d.b) {
			d.setErr()
			return nil, false, false
		}
		switch d.b[d.i] {
		case ',':
			d.i++
			d.space()
		case '}':
			d.i++
			d.depth--
			return nil, true, true
		default:
			d.setErr()
			return nil, false, false
		}
	}
	if d.i >= len(d.b) || d.b[d.i] != '"' {
		d.setErr()
		return nil, false, false
	}
	key, _, ok = d.strBytes()
	if !ok {
		return nil, false, false
	}
	d.space()
	if d.i >= len(d.b) || d.b[d.i] != ':' {
		d.setErr()
		return nil, false, false
	}
	d.i++
	d.space()
	return key, false, true
}

// nextElement steps through the array at d.i like nextMember through an
// object: each call leaves d.i at the next element, which the caller must
// consume; at the closing ']' it consumes it and returns end. The grammar,
// depth count and errors are array's.
func (d *decoder) nextElement(first bool) (end, ok bool) {
	if first {
		if !d.enter() {
			return false, false
		}
		d.space()
		if d.i < len(d.b) && d.b[d.i] == ']' {
			d.i++
			d.depth--
			return true, true
		}
		return false, true
	}
	d.space()
	if d.i >= len(d.b) {
		d.setErr()
		return false, false
	}
	switch d.b[d.i] {
	case ',':
		d.i++
		d.space()
		return false, true
	case ']':
		d.i++
		d.depth--
		return true, true
	}
	d.setErr()
	return false, false
}
