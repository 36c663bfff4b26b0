package convert

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math/bits"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// referenceDecode is what decodeJSON must agree with: encoding/json's Decoder
// with UseNumber, the whole input one value, plus a lexical depth scan.
func referenceDecode(b []byte) (v any, ok, tooDeep bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, false, false
	}
	if strings.TrimLeft(string(b[dec.InputOffset():]), " \t\r\n") != "" {
		return nil, false, false
	}
	return v, true, lexicalDepth(b) > MaxDepth
}

// lexicalDepth is the deepest bracket nesting of b, strings skipped.
func lexicalDepth(b []byte) int {
	depth, deepest, inString, escaped := 0, 0, false, false
	for _, c := range b {
		switch {
		case inString && escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case inString && c == '"':
			inString = false
		case inString:
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
			deepest = max(deepest, depth)
		case c == '}' || c == ']':
			depth--
		}
	}
	return deepest
}

// FuzzDecodeMatchesEncodingJSON checks the hand-written decoder against
// encoding/json on arbitrary valid UTF-8: both accept the same inputs (up to
// the depth cap) and produce the same values.
func FuzzDecodeMatchesEncodingJSON(f *testing.F) {
	for _, g := range loadGoldens(f) {
		f.Add(g.forward.Body)
	}
	for _, s := range decoderCases {
		f.Add([]byte(s.in))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !utf8.Valid(b) {
			return // parseBody rejects these before decoding
		}
		got, err := decodeJSON(b)
		want, ok, tooDeep := referenceDecode(b)
		switch {
		case !ok && err == nil:
			t.Fatalf("decodeJSON accepted what encoding/json rejects: %q -> %#v", b, got)
		case ok && tooDeep && (err == nil || err.kind != errTooDeep):
			t.Fatalf("decodeJSON did not reject a body deeper than %d: %q (err %+v)", MaxDepth, b, err)
		case ok && !tooDeep && err != nil:
			t.Fatalf("decodeJSON rejected what encoding/json accepts: %q: %+v", b, *err)
		case ok && !tooDeep && !reflect.DeepEqual(got, want):
			t.Fatalf("values differ for %q\n got %#v\nwant %#v", b, got, want)
		}
		if err != nil && (err.offset < 0 || err.offset > len(b)) {
			t.Fatalf("error offset %d outside the input (%d bytes)", err.offset, len(b))
		}
	})
}

var decoderCases = []struct {
	in   string
	want any // nil with ok=false means "must fail"
	ok   bool
}{
	{`{}`, map[string]any{}, true},
	{` [ ] `, []any{}, true},
	{`{"a":[1,-2.5e+3,0,-0,1E400,true,false,null,"s"]}`, map[string]any{"a": []any{json.Number("1"), json.Number("-2.5e+3"), json.Number("0"), json.Number("-0"), json.Number("1E400"), true, false, nil, "s"}}, true},
	{`"\"\\\/\b\f\n\r\t\u00e9\u20AC"`, "\"\\/\b\f\n\r\t\u00e9\u20ac", true},
	{`"\ud83d\ude00"`, "\U0001F600", true},
	{`"\ud83d"`, "\ufffd", true},
	{`"\ude00\ud83d"`, "\ufffd\ufffd", true},
	{`"\ud83dx"`, "\ufffdx", true},
	{`"\ud83d\n"`, "\ufffd\n", true},
	{`"\ud83d\u0041"`, "\ufffdA", true},
	{`"\u0000"`, "\x00", true},
	{`"héllo ✓"`, "héllo ✓", true},
	{`{"a":1,"a":2}`, map[string]any{"a": json.Number("2")}, true},
	{"\t\r\n{}\n", map[string]any{}, true},
	{`01`, nil, false},
	{`1.`, nil, false},
	{`.5`, nil, false},
	{`-`, nil, false},
	{`1e`, nil, false},
	{`+1`, nil, false},
	{`NaN`, nil, false},
	{`tru`, nil, false},
	{`nul`, nil, false},
	{`"a`, nil, false},
	{"\"a\tb\"", nil, false},
	{`"\x"`, nil, false},
	{`"\u12"`, nil, false},
	{`"\u12g4"`, nil, false},
	{`"\ud83d\u12"`, nil, false},
	{`"\'"`, nil, false},
	{`{"a" 1}`, nil, false},
	{`{"a":1,}`, nil, false},
	{`[1,]`, nil, false},
	{`{1:2}`, nil, false},
	{`[1 2]`, nil, false},
	{`{} {}`, nil, false},
	{"\v{}", nil, false},
	{"{}\u00a0", nil, false},
	{``, nil, false},
	{`   `, nil, false},
}

func TestDecoder(t *testing.T) {
	for _, c := range decoderCases {
		got, err := decodeJSON([]byte(c.in))
		if c.ok != (err == nil) || !reflect.DeepEqual(got, c.want) {
			t.Errorf("decodeJSON(%q) = %#v, %+v; want %#v (ok %v)", c.in, got, err, c.want, c.ok)
		}
		want, ok, _ := referenceDecode([]byte(c.in))
		if ok != c.ok || !reflect.DeepEqual(want, c.want) {
			t.Errorf("encoding/json disagrees with the table on %q: %#v, %v", c.in, want, ok)
		}
	}
}

func TestDecoderErrorOffsets(t *testing.T) {
	cases := []struct {
		in     string
		kind   decodeErrKind
		offset int
	}{
		{`{"a":x}`, errSyntax, 5},
		{`{"a":1`, errTruncated, 6},
		{`{"a":"\u12`, errTruncated, 10},
		{`{"a":"\u12x4"}`, errSyntax, 10},
		{`  `, errEmpty, 2},
		{`{} x`, errTrailing, 3},
		{strings.Repeat("[", MaxDepth) + "{" + strings.Repeat("]", MaxDepth), errTooDeep, MaxDepth},
	}
	for _, c := range cases {
		_, err := decodeJSON([]byte(c.in))
		if err == nil || err.kind != c.kind || err.offset != c.offset {
			t.Errorf("decodeJSON(%q) error %+v, want kind %d at %d", c.in, err, c.kind, c.offset)
		}
	}
}

// firstSpecial is strSpecial's contract, byte by byte: the index of the
// first '"', '\\' or control character in w, or 8.
func firstSpecial(w [8]byte) int {
	for i, c := range w {
		if c == '"' || c == '\\' || c < 0x20 {
			return i
		}
	}
	return 8
}

func TestStrSpecial(t *testing.T) {
	check := func(w [8]byte) {
		t.Helper()
		got := 8
		if m := strSpecial(binary.LittleEndian.Uint64(w[:])); m != 0 {
			got = bits.TrailingZeros64(m) / 8
		}
		if want := firstSpecial(w); got != want {
			t.Fatalf("strSpecial(%q): first flagged byte %d, want %d", w, got, want)
		}
	}
	// Every byte value at every position, among ordinary bytes, and in
	// front of bytes that make a borrow run on (0x00, 0x20, '"'+1).
	for _, fill := range []byte{'a', 0xff, 0x80, 0x21, '"' + 1, '\\' + 1} {
		for p := 0; p < 8; p++ {
			for v := 0; v < 256; v++ {
				var w [8]byte
				for i := range w {
					w[i] = fill
				}
				w[p] = byte(v)
				check(w)
				for q := p + 1; q < 8; q++ {
					w[q] = 0
					check(w)
				}
			}
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		x := r.Uint64()
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], x)
		check(w)
	}
}
