package launcher

import (
	"encoding/json"
	"errors"
)

// errMetadataNotObject is why a result whose metadata_json is not one JSON
// object is rejected.
var errMetadataNotObject = errors.New("plugin returned event metadata that is not a JSON object")

// metadataFromJSON decodes an event's metadata_json: one JSON object,
// read as google.protobuf.Struct's AsInterface reads one (numbers as
// float64), so that both encodings give the same map. An empty object is
// no metadata. The common shapes (plain strings, booleans, nulls, and lists
// and objects of them) are read by flatMetadata; anything else by
// encoding/json (the fuzz target FuzzFlatMetadataMatchesEncodingJSON keeps
// the two in agreement).
func metadataFromJSON(raw []byte) (map[string]any, error) {
	md, ok := flatMetadata(raw)
	if !ok {
		md = nil
		if err := json.Unmarshal(raw, &md); err != nil || md == nil {
			return nil, errMetadataNotObject
		}
	}
	if len(md) == 0 {
		return nil, nil
	}
	return md, nil
}

// flatMetadata reads a JSON object of plain values as encoding/json would;
// ok is false for anything else, which the caller then decodes with
// encoding/json. Plain values are strings of printable ASCII without
// escapes (keys too), true, false, null, and arrays and objects of plain
// values nested at most maxFlatDepth deep: every shape the Discord plugin
// sends. Numbers are left to encoding/json.
func flatMetadata(b []byte) (md map[string]any, ok bool) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, false
	}
	v, i, ok := plainValue(b, i, 0)
	if !ok || skipSpace(b, i) != len(b) {
		return nil, false
	}
	return v.(map[string]any), true
}

// maxFlatDepth bounds the nesting flatMetadata reads itself.
const maxFlatDepth = 16

// plainValue reads the plain JSON value at b[i] (see flatMetadata) and
// returns it and the index after it.
func plainValue(b []byte, i, depth int) (any, int, bool) {
	if i >= len(b) || depth > maxFlatDepth {
		return nil, 0, false
	}
	switch {
	case b[i] == '"':
		return plainString(b, i)
	case hasWord(b, i, "true"):
		return true, i + 4, true
	case hasWord(b, i, "false"):
		return false, i + 5, true
	case hasWord(b, i, "null"):
		return nil, i + 4, true
	case b[i] == '[':
		list := []any{}
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == ']' {
			return list, i + 1, true
		}
		for {
			v, next, ok := plainValue(b, i, depth+1)
			if !ok {
				return nil, 0, false
			}
			list = append(list, v)
			var done bool
			if i, done, ok = nextElement(b, next, ']'); !ok || done {
				return list, i, ok
			}
		}
	case b[i] == '{':
		obj := map[string]any{}
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == '}' {
			return obj, i + 1, true
		}
		for {
			key, next, ok := plainString(b, i)
			if !ok {
				return nil, 0, false
			}
			i = skipSpace(b, next)
			if i >= len(b) || b[i] != ':' {
				return nil, 0, false
			}
			v, next, ok := plainValue(b, skipSpace(b, i+1), depth+1)
			if !ok {
				return nil, 0, false
			}
			obj[key.(string)] = v
			var done bool
			if i, done, ok = nextElement(b, next, '}'); !ok || done {
				return obj, i, ok
			}
		}
	}
	return nil, 0, false // numbers: encoding/json
}

// nextElement reads what follows an element of a list or an object: a
// comma (next is the index of the following element) or the closer (done,
// next is the index after it); ok is false for anything else.
func nextElement(b []byte, i int, closer byte) (next int, done, ok bool) {
	i = skipSpace(b, i)
	if i >= len(b) {
		return 0, false, false
	}
	switch b[i] {
	case ',':
		return skipSpace(b, i+1), false, true
	case closer:
		return i + 1, true, true
	}
	return 0, false, false
}

// plainString reads the JSON string at b[i] when it is plain (printable
// ASCII, no escapes) and returns it (as a string in an any) and the index
// after its closing quote.
func plainString(b []byte, i int) (any, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, 0, false
	}
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return string(b[i+1 : j]), j + 1, true
		case c == '\\' || c < 0x20 || c >= 0x7f:
			return nil, 0, false
		}
	}
	return nil, 0, false
}

// hasWord reports whether b holds the literal w at i, not followed by
// another letter (which would make it something else, and invalid).
func hasWord(b []byte, i int, w string) bool {
	if len(b)-i < len(w) || string(b[i:i+len(w)]) != w {
		return false
	}
	if j := i + len(w); j < len(b) {
		c := b[j]
		return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_')
	}
	return true
}

// skipSpace returns the index of the first byte at or after i that is not
// JSON whitespace.
func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}
