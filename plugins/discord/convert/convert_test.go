package convert

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/relayhost/relay-host/pluginapi"
)

// convertBody converts body from the default profile and checks the
// invariants every result must meet.
func convertBody(t *testing.T, body string) pluginapi.Result {
	t.Helper()
	res := Convert(pluginapi.Forward{Platform: "discord", Body: []byte(body)})
	checkInvariants(t, []byte(body), res)
	return res
}

// event converts body and returns its one event, failing unless handled.
func event(t *testing.T, body string) pluginapi.MessageEvent {
	t.Helper()
	res := convertBody(t, body)
	if res.Disposition != pluginapi.Handled {
		t.Fatalf("disposition %s (%s), want handled, for %s", res.Disposition, res.Reason, body)
	}
	return res.Events[0]
}

func TestTruthy(t *testing.T) {
	cases := []struct {
		json string
		want bool
	}{
		{`null`, false}, {`false`, false}, {`true`, true},
		{`0`, false}, {`-0`, false}, {`0.0`, false}, {`-0.0`, false}, {`0e5`, false}, {`1e-400`, false},
		{`1`, true}, {`-1`, true}, {`0.5`, true}, {`1e400`, true}, {`100000000000000000000000`, true},
		{`""`, false}, {`" "`, true}, {`"0"`, true}, {`"false"`, true},
		{`[]`, false}, {`[0]`, true}, {`{}`, false}, {`{"a":null}`, true},
	}
	for _, c := range cases {
		if got := truthy(decode(t, c.json)); got != c.want {
			t.Errorf("truthy(%s) = %v, want %v", c.json, got, c.want)
		}
	}
}

func TestNumericEquality(t *testing.T) {
	cases := []struct {
		json string
		want int64
		ok   bool
	}{
		{`2`, 2, true}, {`2.0`, 2, true}, {`2e0`, 2, true}, {`20e-1`, 2, true},
		{`2.0000000000000001`, 2, true}, // the same double, as in Python
		{`-0`, 0, true}, {`11`, 11, true},
		{`2.5`, 0, false}, {`1e400`, 0, false}, {`99999999999999999999`, 0, false},
		{`true`, 0, false}, {`"2"`, 0, false}, {`null`, 0, false}, {`[2]`, 0, false},
	}
	for _, c := range cases {
		got, ok := smallInt(decode(t, c.json))
		if got != c.want || ok != c.ok {
			t.Errorf("smallInt(%s) = %d, %v, want %d, %v", c.json, got, ok, c.want, c.ok)
		}
	}
}

func TestRenderIsLossless(t *testing.T) {
	cases := []struct{ json, want string }{
		{`"text"`, "text"},
		{`123456789012345678901234567890`, "123456789012345678901234567890"},
		{`1018492019823419392`, "1018492019823419392"}, // > 2^53: kept digit for digit
		{`2.5`, "2.5"}, {`3.0`, "3.0"}, {`1E5`, "1E5"}, {`1e+16`, "1e+16"}, {`-0`, "-0"},
		{`true`, "true"}, {`false`, "false"}, {`null`, ""},
		{`{"b":1,"a":"<x>"}`, `{"a":"<x>","b":1}`},
		{`[1, "two", null]`, `[1,"two",null]`},
	}
	for _, c := range cases {
		if got := render(decode(t, c.json)); got != c.want {
			t.Errorf("render(%s) = %q, want %q", c.json, got, c.want)
		}
	}
}

func TestPythonWhitespace(t *testing.T) {
	cases := []struct{ in, want string }{
		{" \t\n\v\f\r x \r\n", "x"},
		{"\x1c\x1d\x1e\x1fx\x1f", "x"}, // information separators: Python strips them, unicode.IsSpace does not
		{"\u00a0\u0085x\u2028\u2029\u3000", "x"},
		{"\u200bx\u200b", "\u200bx\u200b"}, // zero-width space is not whitespace in Python either
		{"\ufeffx", "\ufeffx"},
		{"a  b\tc", "a  b\tc"}, // inner whitespace is kept
	}
	for _, c := range cases {
		if got := pyStrip(c.in); got != c.want {
			t.Errorf("pyStrip(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	for r := rune(0); r < 0x3100; r++ {
		want := strings.ContainsRune(" \t\n\v\f\r\x1c\x1d\x1e\x1f\u0085\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000", r)
		if got := isPySpace(r); got != want {
			t.Errorf("isPySpace(%U) = %v, want %v (Python's str.isspace)", r, got, want)
		}
	}
}

func TestParsePromptToken(t *testing.T) {
	long := strings.Repeat("a", 32)
	cases := []struct {
		customID       string
		prompt, option string
		ok             bool
	}{
		{"hp1:3fa9c1.0b7e2d4f:once", "3fa9c1.0b7e2d4f", "once", true},
		{"hp1:a:b", "a", "b", true},
		{"hp1:A-Z_0.9:c0", "A-Z_0.9", "c0", true},
		{"hp1:" + long + ":" + long, long, long, true},
		{"hp1:p:once\n", "p", "once", true}, // one trailing newline tolerated (and dropped)
		{"hp1:p\n:once", "p", "once", true}, // on either id
		{"hp1:p:once\n\n", "", "", false},   // only one
		{"hp1:p:once\r\n", "", "", false},
		{"hp1:" + long + "a:once", "", "", false}, // 33 characters
		{"hp1::once", "", "", false},
		{"hp1:p:", "", "", false},
		{"hp1:p", "", "", false},
		{"hp1:p:once:extra", "", "", false},
		{"HP1:p:once", "", "", false},
		{"hp1\n:p:once", "", "", false},
		{" hp1:p:once", "", "", false},
		{"hp1:p q:once", "", "", false},
		{"hp1:p:ónce", "", "", false},
		{"hp2:p:once", "", "", false},
		{"", "", "", false},
	}
	for _, c := range cases {
		p, o, ok := ParsePromptToken(c.customID)
		if p != c.prompt || o != c.option || ok != c.ok {
			t.Errorf("ParsePromptToken(%q) = %q, %q, %v, want %q, %q, %v", c.customID, p, o, ok, c.prompt, c.option, c.ok)
		}
	}
}

func TestPromptAnswer(t *testing.T) {
	ev := event(t, `{"type":3,"id":"9","channel_id":"c","user":{"id":"u"},"message":{"id":"m1"},"data":{"component_type":2,"custom_id":"hp1:p1:deny"}}`)
	want := &pluginapi.PromptResponse{PromptID: "p1", OptionID: "deny", PromptMessageID: "m1"}
	if ev.Text != "/deny" || ev.MessageType != pluginapi.MessageTypeCommand || !reflect.DeepEqual(ev.PromptResponse, want) {
		t.Errorf("got text %q type %s prompt %+v, want /deny command %+v", ev.Text, ev.MessageType, ev.PromptResponse, want)
	}
	// Without an attached message the prompt message id is empty.
	ev = event(t, `{"type":3,"data":{"custom_id":"hp1:p1:once"}}`)
	if ev.PromptResponse == nil || ev.PromptResponse.PromptMessageID != "" {
		t.Errorf("prompt response %+v, want one without a prompt message id", ev.PromptResponse)
	}
	// A custom_id starting with "/" stays text (the dispatcher may still treat it as a command).
	ev = event(t, `{"type":3,"data":{"custom_id":"/help"}}`)
	if ev.Text != "/help" || ev.MessageType != pluginapi.MessageTypeText || ev.PromptResponse != nil {
		t.Errorf("got %q %s %+v, want plain text /help", ev.Text, ev.MessageType, ev.PromptResponse)
	}
}

func TestUserNamePrecedence(t *testing.T) {
	user := `"user":{"id":"u","username":"uname","global_name":"Global"}`
	cases := []struct {
		name, body, want string
	}{
		{"dm prefers global name", `{"type":2,` + user + `}`, "Global"},
		{"dm falls back to username", `{"type":2,"user":{"id":"u","username":"uname","global_name":null}}`, "uname"},
		{"dm ignores a nick", `{"type":2,"member":{"nick":"Nick","user":{"username":"uname","global_name":"Global"}}}`, "Global"},
		{"guild prefers nick", `{"type":2,"guild_id":"g","member":{"nick":"Nick",` + user + `}}`, "Nick"},
		{"guild null nick falls to global name", `{"type":2,"guild_id":"g","member":{"nick":null,` + user + `}}`, "Global"},
		{"guild empty nick falls to global name", `{"type":2,"guild_id":"g","member":{"nick":"",` + user + `}}`, "Global"},
		{"guild without nick key falls to global name", `{"type":2,"guild_id":"g","member":{` + user + `}}`, "Global"},
		{"guild without global name falls to username", `{"type":2,"guild_id":"g","member":{"user":{"username":"uname"}}}`, "uname"},
		{"guild with top-level user", `{"type":2,"guild_id":"g",` + user + `}`, "Global"},
		{"member user wins over top-level user", `{"type":2,"guild_id":"g","member":{"user":{"username":"member"}},"user":{"username":"top"}}`, "member"},
		{"empty member user falls back to top-level user", `{"type":2,"guild_id":"g","member":{"user":{},"nick":"Nick"},"user":{"username":"top"}}`, "Nick"},
		{"non-object user counts as empty", `{"type":2,"user":"uname"}`, ""},
		{"non-object member is ignored", `{"type":2,"guild_id":"g","member":"x",` + user + `}`, "Global"},
		{"numbers render as written", `{"type":2,"user":{"username":12345678901234567890}}`, "12345678901234567890"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := event(t, c.body).Source.UserName; got != c.want {
				t.Errorf("user_name %q, want %q", got, c.want)
			}
		})
	}
}

func TestChatIdentity(t *testing.T) {
	cases := []struct {
		name string
		body string
		want pluginapi.SessionSource
		key  string
	}{
		{"dm", `{"type":2,"channel_id":"c","user":{"id":"u"}}`,
			pluginapi.SessionSource{ChatID: "c", ChatType: "dm", UserID: "u"}, "agent:main:discord:dm:c"},
		{"dm without channel keys by user", `{"type":2,"user":{"id":"u"}}`,
			pluginapi.SessionSource{ChatType: "dm", UserID: "u"}, "agent:main:discord:dm:u"},
		{"guild channel", `{"type":2,"channel_id":"c","guild_id":"g","channel":{"type":0,"parent_id":"cat"},"member":{"user":{"id":"u"}}}`,
			pluginapi.SessionSource{ChatID: "c", ChatType: "group", UserID: "u", ScopeID: "g"}, "agent:main:discord:group:c:u"},
		{"public thread", `{"type":2,"channel_id":"t","guild_id":"g","channel":{"type":11,"parent_id":"p"},"member":{"user":{"id":"u"}}}`,
			pluginapi.SessionSource{ChatID: "t", ChatType: "thread", ThreadID: "t", ParentChatID: "p", UserID: "u", ScopeID: "g"}, "agent:main:discord:thread:t:t"},
		{"private thread", `{"type":2,"channel_id":"t","guild_id":"g","channel":{"type":12}}`,
			pluginapi.SessionSource{ChatID: "t", ChatType: "thread", ThreadID: "t", ScopeID: "g"}, "agent:main:discord:thread:t:t"},
		{"announcement thread", `{"type":2,"channel_id":"t","guild_id":"g","channel":{"type":10,"parent_id":"p"}}`,
			pluginapi.SessionSource{ChatID: "t", ChatType: "thread", ThreadID: "t", ParentChatID: "p", ScopeID: "g"}, "agent:main:discord:thread:t:t"},
		{"thread type 11.0 counts", `{"type":2,"channel_id":"t","guild_id":"g","channel":{"type":11.0}}`,
			pluginapi.SessionSource{ChatID: "t", ChatType: "thread", ThreadID: "t", ScopeID: "g"}, "agent:main:discord:thread:t:t"},
		{"thread type as string does not", `{"type":2,"channel_id":"t","guild_id":"g","channel":{"type":"11"}}`,
			pluginapi.SessionSource{ChatID: "t", ChatType: "group", ScopeID: "g"}, "agent:main:discord:group:t"},
		{"forum channel is not a thread", `{"type":2,"channel_id":"f","guild_id":"g","channel":{"type":15}}`,
			pluginapi.SessionSource{ChatID: "f", ChatType: "group", ScopeID: "g"}, "agent:main:discord:group:f"},
		{"thread without guild is a dm", `{"type":2,"channel_id":"t","channel":{"type":11,"parent_id":"p"}}`,
			pluginapi.SessionSource{ChatID: "t", ChatType: "dm"}, "agent:main:discord:dm:t"},
		{"non-object channel is ignored", `{"type":2,"channel_id":"t","guild_id":"g","channel":[11]}`,
			pluginapi.SessionSource{ChatID: "t", ChatType: "group", ScopeID: "g"}, "agent:main:discord:group:t"},
		{"falsy guild is no guild", `{"type":2,"channel_id":"c","guild_id":0}`,
			pluginapi.SessionSource{ChatID: "c", ChatType: "dm"}, "agent:main:discord:dm:c"},
		{"numeric snowflakes", `{"type":2,"channel_id":1018492019823419392,"guild_id":1018492019823419393,"member":{"user":{"id":1018492019823419394}}}`,
			pluginapi.SessionSource{ChatID: "1018492019823419392", ChatType: "group", UserID: "1018492019823419394", ScopeID: "1018492019823419393"},
			"agent:main:discord:group:1018492019823419392:1018492019823419394"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ev := event(t, c.body)
			want := c.want
			want.Platform = Platform
			want.DeliveredViaUpstreamRelay = true
			if !reflect.DeepEqual(ev.Source, want) {
				t.Errorf("source\n got %+v\nwant %+v", ev.Source, want)
			}
			if ev.SessionKey != c.key {
				t.Errorf("session key %q, want %q", ev.SessionKey, c.key)
			}
		})
	}
}

func TestProfiles(t *testing.T) {
	body := []byte(`{"type":2,"channel_id":"c","guild_id":"g","member":{"user":{"id":"u"}},"data":{"name":"x"}}`)
	for profile, key := range map[string]string{
		"":        "agent:main:discord:group:c:u",
		"default": "agent:main:discord:group:c:u",
		"main":    "agent:main~:discord:group:c:u",
		"ops":     "agent:ops:discord:group:c:u",
	} {
		res := Convert(pluginapi.Forward{Platform: "discord", Profile: profile, Body: body})
		if ev := res.Events[0]; ev.SessionKey != key || ev.Source.Profile != profile {
			t.Errorf("profile %q: key %q profile %q, want %q", profile, ev.SessionKey, ev.Source.Profile, key)
		}
	}
}

func TestForwardPlatformIsNotChecked(t *testing.T) {
	body := []byte(`{"type":2,"data":{"name":"x"}}`)
	for _, platform := range []string{"discord", "", "relay", "twilio"} {
		res := Convert(pluginapi.Forward{Platform: platform, Body: body})
		if res.Disposition != pluginapi.Handled || res.Events[0].Source.Platform != "discord" {
			t.Errorf("platform %q: %s %+v, want handled with source platform discord", platform, res.Disposition, res.Events)
		}
	}
}

func TestCommandText(t *testing.T) {
	cases := []struct {
		name, data, text string
		typ              pluginapi.MessageType
	}{
		{"name only", `{"name":"ping"}`, "/ping", "command"},
		{"trailing slashes removed", `{"name":"ping//"}`, "/ping", "command"},
		{"empty name", `{"name":""}`, "", "text"},
		{"name of slashes", `{"name":"//"}`, "", "text"},
		{"missing name", `{"options":[{"type":3,"value":"x"}]}`, "", "text"},
		{"numeric name", `{"name":42}`, "/42", "command"},
		{"whitespace name", `{"name":"  "}`, "/", "command"},
		{"values in order", `{"name":"m","options":[{"type":3,"name":"a","value":"x"},{"type":4,"name":"b","value":7}]}`, "/m x 7", "command"},
		{"zero and false kept", `{"name":"m","options":[{"type":4,"value":0},{"type":5,"value":false}]}`, "/m 0 false", "command"},
		{"null, empty and blank values vanish", `{"name":"m","options":[{"type":3,"value":null},{"type":3,"value":""},{"type":3,"value":" \t"},{"type":3}]}`, "/m", "command"},
		{"values are stripped, inner whitespace kept", `{"name":"m","options":[{"type":3,"value":"  a  b\tc \u3000"}]}`, "/m a  b\tc", "command"},
		{"numbers as written", `{"name":"m","options":[{"type":10,"value":3.0},{"type":10,"value":1e+16},{"type":4,"value":12345678901234567890}]}`, "/m 3.0 1e+16 12345678901234567890", "command"},
		{"non-object options skipped", `{"name":"m","options":[1,"x",null,[],{"type":3,"value":"ok"}]}`, "/m ok", "command"},
		{"options not a list", `{"name":"m","options":{"type":3,"value":"x"}}`, "/m", "command"},
		{"subcommand group", `{"name":"perm","options":[{"type":2,"name":"user","options":[{"type":1,"name":"get","options":[{"type":6,"name":"user","value":"42"}]}]}]}`, "/perm user get 42", "command"},
		{"subcommand type 1.0", `{"name":"m","options":[{"type":1.0,"name":"sub"}]}`, "/m sub", "command"},
		{"blank subcommand name skipped", `{"name":"m","options":[{"type":1,"name":" ","options":[{"type":3,"value":"v"}]}]}`, "/m v", "command"},
		{"option type true is not a subcommand", `{"name":"m","options":[{"type":true,"name":"sub","value":"v"}]}`, "/m v", "command"},
		{"focused ignored", `{"name":"m","options":[{"type":3,"value":"v","focused":true}]}`, "/m v", "command"},
		{"entry point", `{"name":"launch","type":4}`, "/launch", "command"},
		{"user context menu", `{"name":"High Five","type":2,"target_id":"809850198683418695"}`, "/High Five 809850198683418695", "command"},
		{"context menu target as number", `{"name":"x","type":2,"target_id":809850198683418695}`, "/x 809850198683418695", "command"},
		{"chat input ignores target", `{"name":"x","type":1,"target_id":"1"}`, "/x", "command"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ev := event(t, `{"type":2,"data":`+c.data+`}`)
			if ev.Text != c.text || ev.MessageType != c.typ {
				t.Errorf("got %q (%s), want %q (%s)", ev.Text, ev.MessageType, c.text, c.typ)
			}
		})
	}
}

func TestOptionDepthIsCapped(t *testing.T) {
	// Options nested as deep as the body allows still render, one name per level.
	data := `{"type":3,"value":"leaf"}`
	levels := 0
	for ; levels < 14; levels++ {
		data = `{"type":1,"name":"s","options":[` + data + `]}`
	}
	body := `{"type":2,"data":{"name":"m","options":[` + data + `]}}`
	ev := event(t, body)
	if want := "/m " + strings.Repeat("s ", levels) + "leaf"; ev.Text != want {
		t.Errorf("got %q, want %q", ev.Text, want)
	}
	// The walk itself stops at MaxDepth even on a tree built in memory.
	var opt any = map[string]any{"type": json.Number("3"), "value": "leaf"}
	for i := 0; i < 3*MaxDepth; i++ {
		opt = map[string]any{"type": json.Number("1"), "name": "s", "options": []any{opt}}
	}
	var b builder
	if parts := b.options(nil, []any{opt}, nil, 1); len(parts) != MaxDepth {
		t.Errorf("walk produced %d parts, want it cut at %d", len(parts), MaxDepth)
	}
}

func TestAttachments(t *testing.T) {
	resolved := `"resolved":{"attachments":{
		"1":{"id":"1","filename":"a.png","url":"https://cdn/a.png","content_type":"image/png"},
		"2":{"id":"2","filename":"notes.txt","url":"https://cdn/notes.txt"},
		"3":{"id":"3","url":"https://cdn/3"},
		"4":{"id":"4","filename":"nourl.bin"}}}`
	ev := event(t, `{"type":2,"data":{"name":"up","options":[
		{"type":11,"value":"1"},{"type":11,"value":"2"},{"type":11,"value":"3"},
		{"type":11,"value":"4"},{"type":11,"value":"5"},{"type":11,"value":1}],`+resolved+`}}`)
	if want := "/up a.png notes.txt 3 nourl.bin 5 a.png"; ev.Text != want {
		t.Errorf("text %q, want %q", ev.Text, want)
	}
	wantURLs := []string{"https://cdn/a.png", "https://cdn/notes.txt", "https://cdn/3", "https://cdn/a.png"}
	wantTypes := []string{"image/png", "", "", "image/png"}
	if !reflect.DeepEqual(ev.MediaURLs, wantURLs) || !reflect.DeepEqual(ev.MediaTypes, wantTypes) {
		t.Errorf("media %q %q, want %q %q", ev.MediaURLs, ev.MediaTypes, wantURLs, wantTypes)
	}
}

func TestMessageContextMenu(t *testing.T) {
	cases := []struct {
		name, resolved   string
		id, text, author string
	}{
		{"no resolved message", `{}`, "55", "", ""},
		{"author username", `{"messages":{"55":{"id":"55","content":"hi","author":{"username":"ian"}}}}`, "55", "hi", "ian"},
		{"author global name", `{"messages":{"55":{"id":"55","content":"hi","author":{"username":"ian","global_name":"Ian"}}}}`, "55", "hi", "Ian"},
		{"author member nick", `{"messages":{"55":{"id":"55","content":"hi","member":{"nick":"Boss"},"author":{"username":"ian","global_name":"Ian"}}}}`, "55", "hi", "Boss"},
		{"content kept verbatim", `{"messages":{"55":{"content":"  two\nlines ","author":{}}}}`, "55", "  two\nlines ", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ev := event(t, `{"type":2,"data":{"name":"Quote","type":3,"target_id":"55","resolved":`+c.resolved+`}}`)
			if ev.Text != "/Quote 55" || ev.ReplyToMessageID != c.id || ev.ReplyToText != c.text || ev.ReplyToAuthorName != c.author {
				t.Errorf("got %q reply %q %q %q, want /Quote 55 reply %q %q %q", ev.Text, ev.ReplyToMessageID, ev.ReplyToText, ev.ReplyToAuthorName, c.id, c.text, c.author)
			}
		})
	}
}

func TestComponentText(t *testing.T) {
	cases := []struct {
		name, data, text string
		values           []any
	}{
		{"button", `{"component_type":2,"custom_id":"click"}`, "click", nil},
		{"button ignores values", `{"component_type":2,"custom_id":"click","values":["a"]}`, "click", nil},
		{"string select", `{"component_type":3,"custom_id":"pick","values":["b","a"]}`, "pick b a", []any{"b", "a"}},
		{"user select", `{"component_type":5,"custom_id":"u","values":["1","2"]}`, "u 1 2", []any{"1", "2"}},
		{"role select", `{"component_type":6,"custom_id":"r","values":["3"]}`, "r 3", []any{"3"}},
		{"mentionable select", `{"component_type":7,"custom_id":"m","values":["4"]}`, "m 4", []any{"4"}},
		{"channel select", `{"component_type":8,"custom_id":"c","values":["5"]}`, "c 5", []any{"5"}},
		{"select type 3.0", `{"component_type":3.0,"custom_id":"s","values":["x"]}`, "s x", []any{"x"}},
		{"empty selection", `{"component_type":3,"custom_id":"pick","values":[]}`, "pick", []any{}},
		{"values without custom_id", `{"component_type":3,"values":["a","b"]}`, "a b", []any{"a", "b"}},
		{"non-string values render losslessly, nulls skipped", `{"component_type":3,"custom_id":"s","values":[1.50,true,null,"x"]}`, "s 1.50 true x", []any{"1.50", "true", "x"}},
		{"values not a list", `{"component_type":3,"custom_id":"s","values":"a"}`, "s", nil},
		{"numeric custom_id", `{"component_type":2,"custom_id":12}`, "12", nil},
		{"missing custom_id", `{"component_type":2}`, "", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ev := event(t, `{"type":3,"data":`+c.data+`}`)
			if ev.Text != c.text || ev.MessageType != pluginapi.MessageTypeText {
				t.Errorf("got %q (%s), want %q (text)", ev.Text, ev.MessageType, c.text)
			}
			got, has := ev.Metadata[MetaValues]
			if c.values == nil && has || c.values != nil && !reflect.DeepEqual(got, c.values) {
				t.Errorf("discord_values %#v, want %#v", got, c.values)
			}
		})
	}
	// A prompt token on a select is still a prompt answer; its values are kept.
	ev := event(t, `{"type":3,"data":{"component_type":3,"custom_id":"hp1:p:c0","values":["c0"]}}`)
	if ev.Text != "/c0" || ev.PromptResponse == nil || !reflect.DeepEqual(ev.Metadata[MetaValues], []any{"c0"}) {
		t.Errorf("got %q %+v %v, want a prompt answer with values", ev.Text, ev.PromptResponse, ev.Metadata)
	}
}

func TestModalFields(t *testing.T) {
	cases := []struct {
		name, components, text string
		fields                 []any
	}{
		{"legacy rows", `[{"type":1,"components":[{"type":4,"custom_id":"a","value":"x"}]},{"type":1,"components":[{"type":4,"custom_id":"b","value":"y"}]}]`,
			"a=x\nb=y", []any{field("a", "x"), field("b", "y")}},
		{"label wrapper", `[{"type":18,"component":{"type":4,"custom_id":"a","value":"x"}}]`, "a=x", []any{field("a", "x")}},
		{"empty and null values kept", `[{"type":18,"component":{"type":4,"custom_id":"a","value":""}},{"type":18,"component":{"custom_id":"b","value":null}}]`,
			"a=\nb=", []any{field("a", ""), field("b", "")}},
		{"multi-line value kept", `[{"type":18,"component":{"type":4,"custom_id":"a","value":"one\ntwo"}}]`, "a=one\ntwo", []any{field("a", "one\ntwo")}},
		{"checkbox and radio", `[{"type":18,"component":{"type":23,"custom_id":"ok","value":true}},{"type":18,"component":{"type":21,"custom_id":"size","value":"L"}}]`,
			"ok=true\nsize=L", []any{field("ok", "true"), field("size", "L")}},
		{"select values", `[{"type":18,"component":{"type":3,"custom_id":"s","values":["a","b"]}}]`, "s=a,b", []any{selectField("s", "a,b", "a", "b")}},
		{"select with no selection", `[{"type":18,"component":{"type":5,"custom_id":"u","values":[]}}]`, "u=", []any{selectField("u", "")}},
		{"select values null", `[{"type":18,"component":{"type":5,"custom_id":"u","values":null}}]`, "u=", []any{selectField("u", "")}},
		{"no custom_id", `[{"type":18,"component":{"type":4,"value":"x"}}]`, "", []any{}},
		{"null custom_id", `[{"type":18,"component":{"type":4,"custom_id":null,"value":"x"}}]`, "", []any{}},
		{"text display has no value", `[{"type":10,"id":3,"custom_id":"t"}]`, "", []any{}},
		{"numeric custom_id", `[{"custom_id":7,"value":1.0}]`, "7=1.0", []any{field("7", "1.0")}},
		{"components not a list", `{"custom_id":"a","value":"x"}`, "a=x", []any{field("a", "x")}},
		{"nothing", `null`, "", []any{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ev := event(t, `{"type":5,"data":{"custom_id":"m","components":`+c.components+`}}`)
			if ev.Text != c.text || ev.MessageType != pluginapi.MessageTypeText {
				t.Errorf("text %q (%s), want %q (text)", ev.Text, ev.MessageType, c.text)
			}
			if got := ev.Metadata[MetaModalFields]; !reflect.DeepEqual(got, c.fields) {
				t.Errorf("fields %#v, want %#v", got, c.fields)
			}
			if got := ev.Metadata[MetaModalCustomID]; got != "m" {
				t.Errorf("modal custom id %#v, want m", got)
			}
		})
	}
}

// field builds an expected discord_modal_fields entry of a value leaf.
func field(customID, value string) map[string]any {
	return map[string]any{"custom_id": customID, "value": value}
}

// selectField builds an expected discord_modal_fields entry of a values leaf.
func selectField(customID, value string, values ...string) map[string]any {
	return map[string]any{"custom_id": customID, "value": value, "values": anyStrings(values)}
}

func TestModalFileUpload(t *testing.T) {
	ev := event(t, `{"type":5,"data":{"custom_id":"m","components":[{"type":18,"component":{"type":19,"custom_id":"files","values":["1","2","9"]}}],
		"resolved":{"attachments":{"1":{"filename":"a.png","url":"https://cdn/a.png","content_type":"image/png"},"2":{"filename":"b.pdf","url":"https://cdn/b.pdf"}}}}}`)
	if want := "files=a.png,b.pdf,9"; ev.Text != want {
		t.Errorf("text %q, want %q", ev.Text, want)
	}
	if !reflect.DeepEqual(ev.MediaURLs, []string{"https://cdn/a.png", "https://cdn/b.pdf"}) || !reflect.DeepEqual(ev.MediaTypes, []string{"image/png", ""}) {
		t.Errorf("media %q %q", ev.MediaURLs, ev.MediaTypes)
	}
	want := []any{map[string]any{"custom_id": "files", "value": "a.png,b.pdf,9", "values": []any{"1", "2", "9"}}}
	if got := ev.Metadata[MetaModalFields]; !reflect.DeepEqual(got, want) {
		t.Errorf("fields %#v, want %#v", got, want)
	}
}

func TestDispositions(t *testing.T) {
	cases := []struct {
		name, body string
		want       pluginapi.Disposition
		reason     string // a substring of the reason
	}{
		{"ping", `{"type":1}`, pluginapi.Dropped, "PING"},
		{"ping 1.0", `{"type":1.0,"data":"x"}`, pluginapi.Dropped, "PING"},
		{"autocomplete", `{"type":4,"data":{"name":"x"}}`, pluginapi.Dropped, "AUTOCOMPLETE"},
		{"autocomplete with bad data", `{"type":4,"data":[1]}`, pluginapi.Dropped, "AUTOCOMPLETE"},
		{"command alone", `{"type":2}`, pluginapi.Handled, ""},
		{"unknown type", `{"type":6,"data":"whatever"}`, pluginapi.Handled, ""},
		{"missing type", `{}`, pluginapi.Handled, ""},
		{"type true", `{"type":true}`, pluginapi.Handled, ""},
		{"type as string", `{"type":"2","data":"x"}`, pluginapi.Handled, ""},
		{"falsy data", `{"type":3,"data":""}`, pluginapi.Handled, ""},
		{"empty list data", `{"type":5,"data":[]}`, pluginapi.Handled, ""},
		{"zero data", `{"type":2,"data":0}`, pluginapi.Handled, ""},
		{"command data string", `{"type":2,"data":"ping"}`, pluginapi.Rejected, "interaction data is a JSON string, not an object (interaction type 2)"},
		{"component data list", `{"type":3,"data":[1]}`, pluginapi.Rejected, "JSON array, not an object (interaction type 3)"},
		{"modal data number", `{"type":5.0,"data":5}`, pluginapi.Rejected, "JSON number, not an object (interaction type 5)"},
		{"modal data true", `{"type":5,"data":true}`, pluginapi.Rejected, "JSON boolean"},
		{"empty body", ``, pluginapi.Rejected, "empty body"},
		{"whitespace", " \n\t", pluginapi.Rejected, "only whitespace"},
		{"bom", "\ufeff{}", pluginapi.Rejected, "byte order mark"},
		{"invalid utf-8", "{\"a\":\"\xc3\x28\"}", pluginapi.Rejected, "not valid UTF-8 (first invalid byte at offset 6)"},
		{"utf-8 surrogate", "{\"a\":\"\xed\xa0\x80\"}", pluginapi.Rejected, "not valid UTF-8"},
		{"truncated", `{"type":2`, pluginapi.Rejected, "truncated"},
		{"syntax", `{"type":2,}`, pluginapi.Rejected, "syntax error at byte offset"},
		{"trailing data", `{"type":2} {}`, pluginapi.Rejected, "unexpected data after the top-level value at byte offset 11"},
		{"NaN", `{"type":2,"data":{"name":"x","options":[{"type":10,"value":NaN}]}}`, pluginapi.Rejected, "NaN and Infinity"},
		{"Infinity", `{"type":2,"x":Infinity}`, pluginapi.Rejected, "NaN and Infinity"},
		{"-Infinity", `{"type":2,"x":-Infinity}`, pluginapi.Rejected, "NaN and Infinity"},
		{"array", `[{"type":2}]`, pluginapi.Rejected, "JSON array, not an object"},
		{"string", `"x"`, pluginapi.Rejected, "JSON string"},
		{"number", `2`, pluginapi.Rejected, "JSON number"},
		{"null", `null`, pluginapi.Rejected, "JSON null"},
		{"single quotes", `{'type':2}`, pluginapi.Rejected, "syntax error"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := convertBody(t, c.body)
			if res.Disposition != c.want || !strings.Contains(res.Reason, c.reason) {
				t.Errorf("got %s %q, want %s containing %q", res.Disposition, res.Reason, c.want, c.reason)
			}
		})
	}
}

func TestDepthLimit(t *testing.T) {
	nest := func(levels int) string {
		// levels counts the top-level object.
		return `{"type":2,"x":` + strings.Repeat("[", levels-1) + strings.Repeat("]", levels-1) + `}`
	}
	if res := convertBody(t, nest(MaxDepth)); res.Disposition != pluginapi.Handled {
		t.Errorf("%d levels: %s %q, want handled", MaxDepth, res.Disposition, res.Reason)
	}
	res := convertBody(t, nest(MaxDepth+1))
	if res.Disposition != pluginapi.Rejected || !strings.Contains(res.Reason, "deeper than 32 levels") {
		t.Errorf("%d levels: %s %q, want rejected as too deep", MaxDepth+1, res.Disposition, res.Reason)
	}
	// Brackets inside strings, escaped quotes included, do not count.
	s := `{"type":2,"data":{"name":"x","options":[{"type":3,"value":"` + strings.Repeat(`[{\"`, 50) + `"}]}}`
	if ev := event(t, s); !strings.HasPrefix(ev.Text, "/x [{") {
		t.Errorf("text %q", ev.Text)
	}
	// A deep body is rejected before it is decoded, however deep it is.
	if res := convertBody(t, strings.Repeat("[", 1_000_000)); res.Disposition != pluginapi.Rejected || !strings.Contains(res.Reason, "deeper") {
		t.Errorf("deep array: %s %q", res.Disposition, res.Reason)
	}
}

func TestDuplicateKeysLastWins(t *testing.T) {
	ev := event(t, `{"type":1,"type":2,"data":{"name":"a"},"data":{"name":"b"},"token":"x","token":null}`)
	if ev.Text != "/b" {
		t.Errorf("text %q, want /b", ev.Text)
	}
}

func TestLoneSurrogateEscape(t *testing.T) {
	// Python would keep a lone surrogate; Go's decoder (and valid UTF-8
	// output) turn it into U+FFFD.
	ev := event(t, `{"type":3,"data":{"custom_id":"a\ud800b"}}`)
	if ev.Text != "a\ufffdb" {
		t.Errorf("text %q", ev.Text)
	}
}

func TestTokenIsStripped(t *testing.T) {
	const token = "aW50ZXJhY3Rpb246MTIzNDU2Nzg5MDEyMzQ1Njc4OmFiY2RlZg"
	bodies := []string{
		`{"type":2,"token":"` + token + `","id":"1","data":{"name":"x"}}`,
		`{"type":5,"token":"` + token + `","data":{"components":[{"custom_id":"a","value":"b"}]}}`,
		`{"type":1,"token":"` + token + `"}`,
		`{"type":3,"token":"` + token + `","data":"bad"}`,
		`{"token":"` + token + `"}`,
	}
	for _, body := range bodies {
		res, d := ConvertDetailed(pluginapi.Forward{Body: []byte(body)})
		checkInvariants(t, []byte(body), res)
		if !d.TokenStripped {
			t.Errorf("%s: TokenStripped false", body)
		}
		out, _ := json.Marshal(res)
		if strings.Contains(string(out), token) {
			t.Errorf("%s: token in result %s", body, out)
		}
	}
	for _, body := range []string{`{"type":2}`, `{"type":2,"data":{"token":"nested"}}`, `not json`} {
		if _, d := ConvertDetailed(pluginapi.Forward{Body: []byte(body)}); d.TokenStripped {
			t.Errorf("%s: TokenStripped true", body)
		}
	}
	// Any value counts, null included.
	if _, d := ConvertDetailed(pluginapi.Forward{Body: []byte(`{"type":2,"token":null}`)}); !d.TokenStripped {
		t.Errorf("null token: TokenStripped false")
	}
	// A token never reaches a reason, even in a body that is rejected late.
	body := `{"type":2,"token":"` + token + `","data":"` + token + `"}`
	if res := Convert(pluginapi.Forward{Body: []byte(body)}); strings.Contains(res.Reason, token) || res.Disposition != pluginapi.Rejected {
		t.Errorf("reason %q", res.Reason)
	}
}

func TestIDs(t *testing.T) {
	ev := event(t, `{"type":3,"id":"i1","message":{"id":"m1"},"data":{"custom_id":"c"}}`)
	if ev.MessageID != "i1" || ev.Metadata[MetaInteractionID] != "i1" || ev.Source.MessageID != "m1" {
		t.Errorf("event id %q meta %v source id %q", ev.MessageID, ev.Metadata, ev.Source.MessageID)
	}
	ev = event(t, `{"type":2,"id":0,"message":"m1","data":{"name":"x"}}`)
	if ev.MessageID != "" || ev.Metadata != nil || ev.Source.MessageID != "" {
		t.Errorf("falsy ids: event id %q meta %v source id %q", ev.MessageID, ev.Metadata, ev.Source.MessageID)
	}
}

// decode parses one JSON value the way parseBody does.
func decode(t *testing.T, s string) any {
	t.Helper()
	obj, reason := parseBody([]byte(`{"v":` + s + `}`))
	if reason != "" {
		t.Fatalf("decode %s: %s", s, reason)
	}
	return obj["v"]
}

func TestConcurrentUse(t *testing.T) {
	goldens := loadGoldens(t)
	want := make([]string, len(goldens))
	for i, g := range goldens {
		want[i] = string(resultJSON(t, Convert(g.forward)))
	}
	done := make(chan struct{})
	errs := make(chan string, 8*len(goldens))
	for w := 0; w < 8; w++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for i, g := range goldens {
				res := Convert(g.forward)
				b, _ := json.MarshalIndent(res, "", "  ")
				if string(b)+"\n" != want[i] {
					errs <- g.name
				}
			}
		}()
	}
	for w := 0; w < 8; w++ {
		<-done
	}
	close(errs)
	for name := range errs {
		t.Errorf("%s: concurrent conversion differs from a sequential one", name)
	}
}
