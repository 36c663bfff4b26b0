package launcher

import (
	"encoding/json"
	"reflect"
	"testing"
)

// checkFlatMetadata fails when flatMetadata takes an input encoding/json
// reads differently, or refuses.
func checkFlatMetadata(t *testing.T, b []byte) {
	t.Helper()
	fast, ok := flatMetadata(b)
	if !ok {
		return
	}
	var want map[string]any
	if err := json.Unmarshal(b, &want); err != nil || want == nil {
		t.Fatalf("flatMetadata took %q, which encoding/json refuses (%v)", b, err)
	}
	if !reflect.DeepEqual(fast, want) {
		t.Fatalf("flatMetadata(%q)\n got %#v\nwant %#v", b, fast, want)
	}
}

var flatMetadataSeeds = []string{
	`{"discord_interaction_id":"1234567890"}`,
	` { "a" : "b" , "c":true,"d":false,"e":null , "a":"again"} `,
	`{}`, `{"a":"b",}`, `{"a":truex}`, `{"a":true1}`, `{"a":"é"}`, `{"a":"\u0041"}`,
	`{"a":1}`, `{"a":["x"]}`, `{"a":{"b":"c"}}`, `{"a":"b"} x`, `{"a" "b"}`, `["a"]`, `null`, `{"a":nul}`,
	`{"discord_values":["a","b"],"discord_modal_fields":[{"custom_id":"f","value":"v"},{"custom_id":"g","value":""}]}`,
	`{"a":[]}`, `{"a":{}}`, `{"a":[,]}`, `{"a":[1]}`, `{"a":["x",]}`, `{"a":{"b"}}`, `{"a":[[[[[[[[[[[[[[[[[["deep"]]]]]]]]]]]]]]]]]]}`,
}

func TestFlatMetadataMatchesEncodingJSON(t *testing.T) {
	for _, s := range flatMetadataSeeds {
		checkFlatMetadata(t, []byte(s))
	}
	for _, s := range []string{flatMetadataSeeds[0], `{"discord_values":["a","b"],"discord_modal_fields":[{"custom_id":"f","value":"v"}]}`} {
		if md, ok := flatMetadata([]byte(s)); !ok || len(md) == 0 {
			t.Fatalf("a shape the Discord plugin sends took the slow path: %s", s)
		}
	}
}

func FuzzFlatMetadataMatchesEncodingJSON(f *testing.F) {
	for _, s := range flatMetadataSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkFlatMetadata(t, b) })
}
