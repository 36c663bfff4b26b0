package wire

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/relayhost/relay-host/pluginapi"
)

// headersByEncodingJSON is forward.headers decoded the slow, obvious way:
// encoding/json, then the same rules (pairs of two strings kept, in order;
// none at all past MaxHeaders or for a value that is not an array).
func headersByEncodingJSON(b []byte) []pluginapi.Header {
	var entries []json.RawMessage
	if json.Unmarshal(b, &entries) != nil {
		return nil
	}
	var out []pluginapi.Header
	for _, e := range entries {
		var pair []json.RawMessage
		if json.Unmarshal(e, &pair) != nil || len(pair) != 2 {
			continue
		}
		var name, value string
		if rawKind(pair[0]) != '"' || rawKind(pair[1]) != '"' ||
			json.Unmarshal(pair[0], &name) != nil || json.Unmarshal(pair[1], &value) != nil {
			continue
		}
		out = append(out, pluginapi.Header{Name: name, Value: value})
	}
	if len(out) > MaxHeaders {
		return nil
	}
	return out
}

// checkHeaders fails when headerList reads b differently from encoding/json.
func checkHeaders(t *testing.T, b []byte) {
	t.Helper()
	if !json.Valid(b) {
		return // encoding/json validates the frame before headerList sees it
	}
	var h headerList
	if err := h.UnmarshalJSON(b); err != nil {
		t.Fatalf("UnmarshalJSON(%q): %v", b, err)
	}
	if want := headersByEncodingJSON(b); !slices.Equal(h.h, want) {
		t.Fatalf("headers of %q:\n got %q\nwant %q", b, h.h, want)
	}
}

func TestHeaderListMatchesEncodingJSON(t *testing.T) {
	for _, s := range headerSeeds {
		checkHeaders(t, []byte(s))
	}
}

// headerSeeds mix plain headers (cut from one string) with escaped and
// non-ASCII ones (decoded one by one), dropped entries and odd values.
var headerSeeds = []string{
	`[["content-type","application/json"],["user-agent","Discord-Interactions/1.0"]]`,
	`[["a","1"],["b\u00e9","2"],["c","x\"y"],["d","4"]]`,
	`[["a","1"],[1,"2"],["c"],["d","4","5"],"e",["f","é"]]`,
	`[]`, `null`, `{"a":"b"}`, `"x"`,
	` [ [ "a" , "b" ] ] `,
	`[["",""],["x",""]]`,
}

func FuzzHeaderList(f *testing.F) {
	for _, s := range headerSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkHeaders(t, b) })
}
