package wire

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
)

// rawKind returns the first byte of a raw JSON value ('{', '[', '"', 't',
// 'f', 'n', a digit or '-'), or 0 when the value is absent.
func rawKind(r json.RawMessage) byte {
	r = bytes.TrimSpace(r)
	if len(r) == 0 {
		return 0
	}
	return r[0]
}

// rawAbsent reports whether a field is missing or null.
func rawAbsent(r json.RawMessage) bool {
	k := rawKind(r)
	return k == 0 || k == 'n'
}

// plainInner returns the text between the quotes of a JSON string that
// needs no decoding (no escapes, printable ASCII: the common case), and
// whether r is such a string.
func plainInner(r []byte) ([]byte, bool) {
	if rawKind(r) != '"' {
		return nil, false
	}
	r = bytes.TrimSpace(r)
	inner := r[1 : len(r)-1]
	for _, c := range inner {
		if c == '\\' || c < 0x20 || c >= 0x80 {
			return nil, false
		}
	}
	return inner, true
}

// rawPlainString returns the value of a JSON string, or "" for anything
// else.
func rawPlainString(r json.RawMessage) string {
	if rawKind(r) != '"' {
		return ""
	}
	if inner, ok := plainInner(r); ok {
		return string(inner)
	}
	var s string
	if err := json.Unmarshal(r, &s); err != nil {
		return ""
	}
	return s
}

// rawString is the "string form" of a field: a string's value, "" for a
// missing or null field, and the JSON text of anything else (numbers keep
// their digits, so a numeric chat id still works).
func rawString(r json.RawMessage) string {
	switch rawKind(r) {
	case 0, 'n':
		return ""
	case '"':
		return rawPlainString(r)
	}
	return string(bytes.TrimSpace(r))
}

// rawID is the string form of an identifier field (bufferId, requestId):
// strings and numbers only; anything else is "".
func rawID(r json.RawMessage) string {
	switch k := rawKind(r); {
	case k == '"':
		return rawPlainString(r)
	case k == '-' || (k >= '0' && k <= '9'):
		return string(bytes.TrimSpace(r))
	}
	return ""
}

// rawTruthy is Python truthiness of a JSON value, which is how the reference
// reads boolean-ish fields it stores unvalidated.
func rawTruthy(r json.RawMessage) bool {
	r = bytes.TrimSpace(r)
	switch rawKind(r) {
	case 0, 'n', 'f':
		return false
	case 't':
		return true
	case '"':
		return rawPlainString(r) != ""
	case '[':
		var a []json.RawMessage
		return json.Unmarshal(r, &a) == nil && len(a) > 0
	case '{':
		var m map[string]json.RawMessage
		return json.Unmarshal(r, &m) == nil && len(m) > 0
	}
	f, err := strconv.ParseFloat(string(r), 64)
	return err == nil && f != 0
}

// rawInt converts a number, a numeric string or a boolean the way Python's
// int() does; ok is false for anything else.
func rawInt(r json.RawMessage) (n int64, ok bool) {
	r = bytes.TrimSpace(r)
	switch k := rawKind(r); {
	case k == 't':
		return 1, true
	case k == 'f':
		return 0, true
	case k == '"':
		s := strings.ReplaceAll(strings.TrimSpace(rawPlainString(r)), "_", "")
		v, err := strconv.ParseInt(s, 10, 64)
		return v, err == nil
	case k == '-' || (k >= '0' && k <= '9'):
		if v, err := strconv.ParseInt(string(r), 10, 64); err == nil {
			return v, true
		}
		f, err := strconv.ParseFloat(string(r), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f > math.MaxInt64 || f < math.MinInt64 {
			return 0, false
		}
		return int64(f), true // int() truncates toward zero
	}
	return 0, false
}

// rawObject decodes an object-valued field into dst. A missing or null field
// leaves dst untouched and reports true (treated as {}); any other non-object
// reports false.
func rawObject(r json.RawMessage, dst any) bool {
	switch rawKind(r) {
	case 0, 'n':
		return true
	case '{':
		return json.Unmarshal(r, dst) == nil
	}
	return false
}

// rawArray returns the elements of an array-valued field (subslices of r),
// or nil for anything else. r must be valid JSON, as every value cut from a
// decoded frame is.
func rawArray(r json.RawMessage) []json.RawMessage {
	var out []json.RawMessage
	if !eachElem(r, func(e []byte) { out = append(out, e) }) {
		return nil
	}
	return out
}

// eachElem calls fn with each element of the JSON array b, trimmed, and
// reports whether b is an array. b must be valid JSON: this only tracks
// nesting and strings, it does not validate.
func eachElem(b []byte, fn func(elem []byte)) bool {
	b = bytes.TrimSpace(b)
	if len(b) < 2 || b[0] != '[' {
		return false
	}
	depth, start := 0, -1
	inStr, esc := false, false
	for i := 1; i < len(b)-1; i++ {
		c := b[i]
		if inStr {
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			}
			continue
		}
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		case ',':
			if depth == 0 {
				fn(bytes.TrimSpace(b[start:i]))
				start = -1
				continue
			}
		case '"':
			inStr = true
		case '[', '{':
			depth++
		case ']', '}':
			depth--
		}
		if start < 0 {
			start = i
		}
	}
	if start >= 0 {
		fn(bytes.TrimSpace(b[start : len(b)-1]))
	}
	return true
}
