package control

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

// member is one key of a JSON object with its raw value.
type member struct {
	key   string
	value json.RawMessage
}

// errNotObject is returned by objectMembers for a value that is not an
// object.
var errNotObject = errors.New("not a JSON object")

// objectMembers splits a JSON object (already known to be valid JSON) into
// its members in order. A key given twice is an error naming it: the
// standard decoder would silently keep the last one.
func objectMembers(raw json.RawMessage) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errNotObject
	}
	var out []member
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, ok := tok.(string)
		if !ok {
			return nil, errNotObject
		}
		if seen[key] {
			return nil, fmt.Errorf("key %q given twice", key)
		}
		seen[key] = true
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		out = append(out, member{key: key, value: v})
	}
	return out, nil
}

// arrayElements splits a JSON document that must be an array into its
// elements; problem is set (and the elements nil) when it is not valid JSON
// or not an array.
func arrayElements(data []byte) (elems []json.RawMessage, problem string) {
	if !json.Valid(data) {
		return nil, "not valid JSON"
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || trimmed[0] != '[' {
		return nil, "not a JSON array"
	}
	if err := json.Unmarshal(trimmed, &elems); err != nil {
		return nil, "not a JSON array"
	}
	return elems, ""
}

// readLimited reads a configuration file of at most limit bytes.
func readLimited(what, path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &FileError{What: what, Path: path, Problem: fsProblem(err), Err: err}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, &FileError{What: what, Path: path, Problem: fsProblem(err), Err: err}
	}
	if int64(len(data)) > limit {
		return nil, &FileError{What: what, Path: path, Problem: fmt.Sprintf("is larger than %d bytes", limit), Err: os.ErrInvalid}
	}
	return data, nil
}

// isNull reports whether a raw JSON value is null.
func isNull(v json.RawMessage) bool { return string(bytes.TrimSpace(v)) == "null" }
