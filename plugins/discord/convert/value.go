package convert

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"unicode"
)

// This file holds the small value helpers that reproduce the reference's
// Python semantics on decoded JSON (map[string]any with json.Number numbers):
// truthiness, numeric equality, whitespace, and the lossless stringification
// of plugins/discord/README.md, "Values, truthiness, whitespace".

// object returns v as a JSON object, or nil when it is anything else.
func object(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// truthy reports Python truthiness of a decoded JSON value: null, false, 0
// (in any spelling: 0, -0, 0.0, 0e5, 1e-400), "", [] and {} are false,
// everything else is true.
func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case string:
		return x != ""
	case json.Number:
		return numberTruthy(string(x))
	case []any:
		return len(x) > 0
	case map[string]any:
		return len(x) > 0
	}
	return true
}

// numberTruthy reports whether a JSON number literal is non-zero the way
// Python sees it: integers are exact, other literals are IEEE doubles (so a
// literal that underflows to 0.0 is false and one that overflows to inf is
// true).
func numberTruthy(s string) bool {
	if isIntLiteral(s) {
		return strings.ContainsAny(s, "123456789")
	}
	f, _ := strconv.ParseFloat(s, 64) // overflow yields ±Inf, which is truthy
	return f != 0
}

// isIntLiteral reports whether a JSON number literal has neither a fraction
// nor an exponent, i.e. Python's json decodes it as an int.
func isIntLiteral(s string) bool {
	return !strings.ContainsAny(s, ".eE")
}

// maxSmallInt bounds smallInt; every number compared against is tiny, and
// keeping the bound below 2^53 keeps the float path exact.
const maxSmallInt = 1 << 31

// smallInt returns the integer a JSON number is numerically equal to, when it
// is one of modest size: "2", "2.0", "2e0" and "2.0000000000000001" (which is
// the double 2.0 in Python too) all give 2. Strings, booleans and everything
// else give ok=false: a JSON true is not 1 and "11" is not 11 here.
func smallInt(v any) (n int64, ok bool) {
	num, isNum := v.(json.Number)
	if !isNum {
		return 0, false
	}
	s := string(num)
	if isIntLiteral(s) {
		i, err := strconv.ParseInt(s, 10, 64)
		if err != nil || i > maxSmallInt || i < -maxSmallInt {
			return 0, false
		}
		return i, true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != math.Trunc(f) || f > maxSmallInt || f < -maxSmallInt {
		return 0, false
	}
	return int64(f), true
}

// isNumber reports whether v is a JSON number numerically equal to one of
// want.
func isNumber(v any, want ...int64) bool {
	n, ok := smallInt(v)
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

// render is the lossless stringification (plugins/discord/README.md, "Values,
// truthiness, whitespace"), used wherever the reference applies Python's
// str(): strings unchanged, numbers exactly as written in the body, booleans
// true/false, null as "". Arrays and objects (which Discord never sends where
// a scalar is expected) render as compact JSON with sorted keys instead of
// Python's repr.
func render(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case json.Number:
		return string(x)
	case bool:
		if x {
			return "true"
		}
		return "false"
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "" // unreachable for decoded JSON
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

// truthyString is the reference's `str(x) if x else ""`: the rendering of v
// when v is truthy, else "".
func truthyString(v any) string {
	if !truthy(v) {
		return ""
	}
	return render(v)
}

// firstTruthy returns truthyString of the first truthy value, or "".
func firstTruthy(vs ...any) string {
	for _, v := range vs {
		if truthy(v) {
			return render(v)
		}
	}
	return ""
}

// isPySpace reports whether Python's str.isspace() holds for r: Go's
// unicode.IsSpace plus the information separators U+001C–U+001F, which
// Python counts as whitespace (bidirectional class B/S) and Go does not.
func isPySpace(r rune) bool {
	if r < 0x80 {
		switch r {
		case ' ', '\t', '\n', '\v', '\f', '\r', 0x1c, 0x1d, 0x1e, 0x1f:
			return true
		}
		return false
	}
	return unicode.IsSpace(r)
}

// pyStrip is Python's str.strip() with no arguments.
func pyStrip(s string) string {
	return strings.TrimFunc(s, isPySpace)
}
