package agentapi

import "testing"

func TestFindBadText(t *testing.T) {
	tests := []struct {
		body  string
		where string // "" means the text is fine
	}{
		{`{"op":"send","content":"plain"}`, ""},
		{`{"content":"\ud83d\ude00 paired, \\ud800 is an escaped backslash"}`, ""},
		{"{\"content\":\"\xff\"}", "content"},
		{"{\"metadata\":{\"a\":[1,{\"b\":\"\xc3\"}]}}", "metadata.a[1].b"},
		{"{\"options\":[{\"id\":\"y\",\"label\":\"ok\"},{\"id\":\"n\",\"label\":\"\xe2\x82\"}]}", "options[1].label"},
		{"{\"metadata\":{\"\xff\":1}}", "metadata (a key)"},
		{`{"content":"\udc00"}`, "content"},
		{`{"content":"\ud800x"}`, "content"},
		{`{"content":"\ud800\u0041"}`, "content"},
		{`{"a":"ok","b":["x","\uDBFF"]}`, "b[1]"},
	}
	for _, tc := range tests {
		where, bad := findBadText([]byte(tc.body))
		if bad != (tc.where != "") || where != tc.where {
			t.Errorf("findBadText(%q) = %q, %v; want %q", tc.body, where, bad, tc.where)
		}
	}
}
