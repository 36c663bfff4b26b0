package wire

import (
	"bytes"
	"encoding/json"
	"testing"
)

// stdEncode is encoding/json with HTML escaping off, as the transport used
// before appendValue.
func stdEncode(t testing.TB, v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

func TestAppendValueMatchesEncodingJSON(t *testing.T) {
	for _, v := range []any{
		nil, true, false, "", "plain", "<html> & \"quotes\" \\ back", "tab\tnl\ncr\rbs\bff\f\x00\x1f\x7f",
		"é ü 😀 \u2028 \u2029", "bad \xff utf8 \xc3", string([]byte{0xed, 0xa0, 0x80}),
		map[string]any{"op": "follow_up", "session_key": "agent:main:discord:group:c:u", "kind": "discord.interaction_token",
			"content": "echo: hi", "metadata": map[string]any{}},
		map[string]any{"op": "send", "chat_id": "c", "content": "x", "reply_to": nil, "metadata": map[string]any{"scope_id": "g", "user_id": "u"}},
		map[string]any{"b": []string{"x", "y"}, "a": []any{"z", true, nil, map[string]string{"k": "v"}}, "c": []string(nil), "d": []any(nil)},
	} {
		got, ok := appendValue(nil, v)
		if !ok {
			t.Errorf("appendValue(%#v) refused", v)
			continue
		}
		if want := stdEncode(t, v); !bytes.Equal(got, want) {
			t.Errorf("appendValue(%#v)\n got %s\nwant %s", v, got, want)
		}
	}
	if _, ok := appendValue(nil, map[string]any{"n": 1}); ok {
		t.Error("appendValue took a number; it must leave it to encoding/json")
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "a", "\"\\/", "\x00\x1f", "\u2028", "\xff", "é😀", "<>&"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := appendString(nil, s), stdEncode(t, s); !bytes.Equal(got, want) {
			t.Fatalf("appendString(%q) = %s, encoding/json %s", s, got, want)
		}
	})
}
