package wire

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/relayhost/relay-host/pluginapi"
)

// feed runs messages through a splitter and collects lines and errors.
func feed(max int, msgs ...string) (lines []string, errs []string, buffered int) {
	sp := NewSplitter(max)
	for _, m := range msgs {
		sp.Feed([]byte(m), func(line []byte, err error) {
			if err != nil {
				var de *DecodeError
				if !errors.As(err, &de) {
					panic("splitter error is not a *DecodeError")
				}
				errs = append(errs, de.Kind)
				return
			}
			lines = append(lines, string(line))
		})
	}
	return lines, errs, sp.Buffered()
}

func TestSplitter(t *testing.T) {
	long := strings.Repeat("x", 20)
	cases := []struct {
		name      string
		max       int
		msgs      []string
		lines     []string
		errs      []string
		remaining int
	}{
		{"one frame per message", 0, []string{"{\"a\":1}\n", "{\"b\":2}\n"}, []string{`{"a":1}`, `{"b":2}`}, nil, 0},
		{"several frames in one message", 0, []string{"{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n"}, []string{`{"a":1}`, `{"b":2}`, `{"c":3}`}, nil, 0},
		{"frame split over three messages", 0, []string{"{\"a\"", ":1", "}\n"}, []string{`{"a":1}`}, nil, 0},
		{"partial line kept for the next message", 0, []string{"{\"a\":1}\n{\"b\""}, []string{`{"a":1}`}, nil, 4},
		{"partial completed with the next frame", 0, []string{"{\"a\":1}\n{\"b\"", ":2}\n{\"c\":3}\n"}, []string{`{"a":1}`, `{"b":2}`, `{"c":3}`}, nil, 0},
		{"blank and whitespace lines skipped", 0, []string{"\n \n\t\r\n{\"a\":1}\n   \n"}, []string{`{"a":1}`}, nil, 0},
		{"CRLF and surrounding spaces trimmed", 0, []string{"  {\"a\":1}  \r\n"}, []string{`{"a":1}`}, nil, 0},
		{"no newline at all: nothing yet", 0, []string{"{\"a\":1}"}, nil, nil, 7},
		{"line at the limit accepted", 20, []string{long + "\n"}, []string{long}, nil, 0},
		{"oversize line in one message skipped, next kept", 20, []string{long + "y\n{\"a\":1}\n"}, []string{`{"a":1}`}, []string{BadFrameOversize}, 0},
		{"oversize line across messages reported once", 20, []string{"xxxxxxxxxx", "xxxxxxxxxx", "xxxxxxxxxx", "xx\n{\"a\":1}\n"}, []string{`{"a":1}`}, []string{BadFrameOversize}, 0},
		{"carry plus tail over the limit", 20, []string{"xxxxxxxxxxxxxxx", "xxxxxxxxxx\n{\"a\":1}\n"}, []string{`{"a":1}`}, []string{BadFrameOversize}, 0},
		{"empty message", 0, []string{""}, nil, nil, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lines, errs, rem := feed(tc.max, tc.msgs...)
			if !reflect.DeepEqual(lines, tc.lines) || !reflect.DeepEqual(errs, tc.errs) || rem != tc.remaining {
				t.Fatalf("lines %q errs %q buffered %d; want %q %q %d", lines, errs, rem, tc.lines, tc.errs, tc.remaining)
			}
		})
	}
}

// The expectations were checked against CPython's base64.b64decode.
func TestDecodeBodyB64PythonLenient(t *testing.T) {
	cases := []struct{ in, want string }{
		{"", ""},
		{"aGVsbG8=", "hello"},
		{"aGVsbG8=\n", "hello"},
		{"aGVs bG8=", "hello"},     // non-alphabet characters are discarded
		{"!!!not base64!!!", ""},   // discards to "notbase64" → bad length → empty
		{"YQ==YQ==", "a"},          // a complete pad sequence ends the input
		{"Y Q = =", "a"},           // padding survives interleaved junk
		{"YQ", ""},                 // missing padding: Python "Incorrect padding"
		{"YQ=", ""},                // incomplete padding
		{"Y", ""},                  // one dangling character
		{"aGVsbG8", ""},            // missing padding
		{"aGVsbG8=é", ""},          // non-ASCII: Python refuses the str
		{"YWJj", "abc"},            // no padding needed
		{"YR==", "a"},              // non-zero trailing bits ignored
		{"=YQ==", "a"},             // leading pad ignored (quad < 2)
		{"YWJj\r\nZGVm", "abcdef"}, // line breaks inside
		{"YW*Jj", "abc"},           // junk inside a quad
		{"-_-_", ""},               // URL-safe characters are not in the standard alphabet
		{"YWJjZA==ZZZZ", "abcd"},   // trailing data after padding ignored
		{"YWJjZA=x=", "abcd\x0c"},  // a data char resets the pad count (checked against CPython)
		{"YWJjZ", ""},              // 5 data characters: 1 more than a multiple of 4
		{"YWJjZA", ""},             // 6 data characters, no padding
		{"YWJjZA=", ""},            // one pad of two
		{"YWJjZGU=", "abcde"},      // exact
		{"YWJjZGU=\n\n", "abcde"},  // trailing newlines
		{strings.Repeat("QUJD", 3), "ABCABCABC"},
	}
	for _, tc := range cases {
		if got := string(decodeBodyB64(tc.in)); got != tc.want {
			t.Errorf("decodeBodyB64(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	// Round trip of arbitrary bytes.
	raw := []byte{0, 1, 2, 0xff, 0xfe, '\n', '{', 0x80}
	if got := decodeBodyB64(base64.StdEncoding.EncodeToString(raw)); !bytes.Equal(got, raw) {
		t.Fatalf("round trip = %v, want %v", got, raw)
	}
}

func mustDecode(t *testing.T, line string) Frame {
	t.Helper()
	f, err := DecodeFrame([]byte(line))
	if err != nil {
		t.Fatalf("DecodeFrame(%s): %v", line, err)
	}
	return f
}

func TestDecodeFrameBadInput(t *testing.T) {
	cases := []struct {
		name, line, kind, bufferID string
	}{
		{"malformed JSON", `{"type":"inbound",`, BadFrameMalformedJSON, ""},
		{"garbage", `not json at all`, BadFrameMalformedJSON, ""},
		{"stray brace", `}`, BadFrameMalformedJSON, ""},
		{"array frame", `[1,2,3]`, BadFrameNotObject, ""},
		{"string frame", `"inbound"`, BadFrameNotObject, ""},
		{"number frame", `42`, BadFrameNotObject, ""},
		{"null frame", `null`, BadFrameNotObject, ""},
		{"descriptor missing", `{"type":"descriptor"}`, BadFrameDescriptor, ""},
		{"descriptor not an object", `{"type":"descriptor","descriptor":[1]}`, BadFrameDescriptor, ""},
		{"descriptor missing required keys", `{"type":"descriptor","descriptor":{"platform":"discord"}}`, BadFrameDescriptor, ""},
		{"event not an object", `{"type":"inbound","event":"hi","bufferId":"buf-9"}`, BadFrameInbound, "buf-9"},
		{"source not an object", `{"type":"inbound","event":{"source":[1]}}`, BadFrameInbound, ""},
		{"forward not an object", `{"type":"passthrough_forward","forward":[1],"bufferId":"pbuf-3"}`, BadFramePassthrough, "pbuf-3"},
		{"forward a string", `{"type":"passthrough_forward","forward":"x"}`, BadFramePassthrough, ""},
		{"outbound_result without requestId", `{"type":"outbound_result","result":{"success":true}}`, BadFrameOutboundResult, ""},
		{"outbound_result with object requestId", `{"type":"outbound_result","requestId":{},"result":{}}`, BadFrameOutboundResult, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeFrame([]byte(tc.line))
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("DecodeFrame(%s) error = %v, want *DecodeError", tc.line, err)
			}
			if de.Kind != tc.kind || de.BufferID != tc.bufferID {
				t.Fatalf("kind %q bufferID %q, want %q %q (%v)", de.Kind, de.BufferID, tc.kind, tc.bufferID, de)
			}
			if strings.Contains(de.Error(), "hi") && tc.name == "event not an object" {
				t.Fatalf("error text leaks the frame body: %v", de)
			}
		})
	}
}

func TestDecodeFrameIgnoredTypes(t *testing.T) {
	for _, line := range []string{
		`{"type":"brain_rpc_request","request_id":"x"}`,
		`{"type":"hello","platform":"discord","botId":"1"}`,
		`{"type":"outbound","requestId":"r","action":{}}`,
		`{"type":"interrupt","session_key":"k","reason":null}`,
		`{"type":"going_idle"}`,
		`{"type":"inbound_ack","bufferId":"b"}`,
		`{"type":7}`,
		`{}`,
	} {
		f := mustDecode(t, line)
		if f.Type.Incoming() {
			t.Errorf("%s: Incoming() = true, want ignored", line)
		}
		if f.Descriptor != nil || f.Inbound != nil || f.Result != nil || f.Interrupt != nil || f.Forward != nil {
			t.Errorf("%s: payload set on an ignored frame: %+v", line, f)
		}
	}
}

func TestDecodePassthroughForward(t *testing.T) {
	body := []byte(`{"type":2,"data":{"name":"ask"}}`)
	line := `{"type":"passthrough_forward","forward":{"platform":"discord","botId":"appShared","method":"POST",` +
		`"path":"/interactions/discord/appShared","headers":[["content-type","application/json"],["x-foo","bar"],["x-foo","baz"],` +
		`["only-one"],"str",["a","b","c"],[1,true]],"bodyB64":"` + base64.StdEncoding.EncodeToString(body) + `","profile":"reviewer"},"bufferId":"pbuf-7"}`
	f := mustDecode(t, line)
	want := pluginapi.Forward{
		Platform: "discord", BotID: "appShared", Method: "POST", Path: "/interactions/discord/appShared",
		Headers: []pluginapi.Header{{Name: "content-type", Value: "application/json"}, {Name: "x-foo", Value: "bar"},
			{Name: "x-foo", Value: "baz"}}, // [1,true] is not a pair of strings: dropped
		Body: body, Profile: "reviewer", BufferID: "pbuf-7",
	}
	if f.Type != TypePassthroughForward || f.Forward == nil || !reflect.DeepEqual(*f.Forward, want) {
		t.Fatalf("forward = %+v\nwant      %+v", f.Forward, want)
	}

	// Lenient cases of docs/protocol.md, passthrough_forward and Passthrough
	// forwards by platform.
	cases := []struct {
		name, line string
		want       pluginapi.Forward
	}{
		{"bad base64 gives an empty body", `{"type":"passthrough_forward","forward":{"platform":"discord","bodyB64":"!!!not base64!!!"}}`,
			pluginapi.Forward{Platform: "discord", Body: []byte{}}},
		{"missing forward gives empty strings", `{"type":"passthrough_forward"}`, pluginapi.Forward{Body: []byte{}}},
		{"null forward is {}", `{"type":"passthrough_forward","forward":null}`, pluginapi.Forward{Body: []byte{}}},
		{"absent profile is empty", `{"type":"passthrough_forward","forward":{"platform":"twilio","bodyB64":"RnJvbT0lMkIxJkJvZHk9aGk="}}`,
			pluginapi.Forward{Platform: "twilio", Body: []byte("From=%2B1&Body=hi")}},
		{"null strings, a non-string body and non-array headers are empty", `{"type":"passthrough_forward","forward":{"platform":"x","botId":null,"method":null,"bodyB64":5,"headers":{"a":"b"}}}`,
			pluginapi.Forward{Platform: "x", Body: []byte{}}},
		{"escaped strings and limits exactly met", `{"type":"passthrough_forward","forward":{"platform":"` + strings.Repeat("p", MaxIDBytes) +
			`","path":"/caf\u00e9","method":"` + strings.Repeat("M", MaxMethodBytes) + `"},"bufferId":"` + strings.Repeat("b", MaxIDBytes) + `"}`,
			pluginapi.Forward{Platform: strings.Repeat("p", MaxIDBytes), Method: strings.Repeat("M", MaxMethodBytes), Path: "/café",
				Body: []byte{}, BufferID: strings.Repeat("b", MaxIDBytes)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := mustDecode(t, tc.line)
			if f.Forward == nil || !reflect.DeepEqual(*f.Forward, tc.want) {
				t.Fatalf("forward = %+v, want %+v", f.Forward, tc.want)
			}
		})
	}
}

func TestDecodeInboundEvent(t *testing.T) {
	line := `{"type":"inbound","bufferId":"buf-42","event":{"text":"hello there","message_type":"photo","message_id":"m1",` +
		`"reply_to_message_id":"m0","reply_to":{"text":"earlier","author":"bob","is_own":true},` +
		`"media_urls":["https://c/relay/media/2","https://c/relay/media/1",7],` +
		`"media":[{"url":"https://c/relay/media/1","mime":"image/png"},{"url":"https://c/relay/media/2","mime":"audio/ogg"},"junk"],` +
		`"context":[{"text":"hi all","source":{"user_name":"ann"}},{"text":"yo","source":{"user_id":"u9"}},{"text":""},"junk"],` +
		`"prompt_response":{"prompt_id":"p1","option_id":"yes","label":"Yes"},"unknown_key":1,` +
		`"source":{"platform":"discord","chat_id":"chanA","chat_type":"group","chat_name":"general","user_id":"userX",` +
		`"user_display_name":"Alice","user_name":"alice","user_handle":"@alice","thread_id":"","scope_id":"guild1",` +
		`"message_id":"m1","profile":"reviewer","user_id_alt":"alt1","auto_thread_created":true}}}`
	f := mustDecode(t, line)
	if f.Inbound == nil || f.Inbound.BufferID != "buf-42" {
		t.Fatalf("inbound = %+v", f.Inbound)
	}
	ev := f.Inbound.Event
	wantSrc := pluginapi.SessionSource{Platform: "discord", ChatID: "chanA", ChatType: "group", ChatName: "general",
		UserID: "userX", UserName: "Alice", ScopeID: "guild1", MessageID: "m1", Profile: "reviewer", DeliveredViaUpstreamRelay: true}
	if ev.Source != wantSrc {
		t.Fatalf("source = %+v\nwant     %+v", ev.Source, wantSrc)
	}
	if ev.Text != "hello there" || ev.MessageType != pluginapi.MessageTypePhoto || ev.MessageID != "m1" ||
		ev.ReplyToMessageID != "m0" || ev.ReplyToText != "earlier" || ev.ReplyToAuthorName != "bob" {
		t.Fatalf("event fields = %+v", ev)
	}
	if want := []string{"https://c/relay/media/2", "https://c/relay/media/1"}; !reflect.DeepEqual(ev.MediaURLs, want) {
		t.Fatalf("media_urls = %q, want %q", ev.MediaURLs, want)
	}
	if want := []string{"audio/ogg", "image/png"}; !reflect.DeepEqual(ev.MediaTypes, want) {
		t.Fatalf("media_types = %q, want %q (matched by URL, not position)", ev.MediaTypes, want)
	}
	if ev.PromptResponse == nil || *ev.PromptResponse != (pluginapi.PromptResponse{PromptID: "p1", OptionID: "yes", Label: "Yes"}) {
		t.Fatalf("prompt_response = %+v", ev.PromptResponse)
	}
	if ev.SessionKey != "agent:reviewer:discord:group:chanA:userX" || ev.SessionKey != pluginapi.SessionKey(ev.Source) {
		t.Fatalf("session key = %q", ev.SessionKey)
	}
	wantMeta := map[string]any{"reply_to_is_own": true, "user_id_alt": "alt1", "auto_thread_created": true,
		"channel_context": "[Recent channel messages]\nann: hi all\nu9: yo"}
	if !reflect.DeepEqual(ev.Metadata, wantMeta) {
		t.Fatalf("metadata = %#v\nwant %#v", ev.Metadata, wantMeta)
	}
}

func TestDecodeInboundDefaults(t *testing.T) {
	cases := []struct {
		name, event string
		check       func(ev pluginapi.MessageEvent) bool
	}{
		{"missing event is an empty relay DM", ``, func(ev pluginapi.MessageEvent) bool {
			return ev.Source.Platform == "relay" && ev.Source.ChatType == "dm" && ev.Text == "" &&
				ev.MessageType == pluginapi.MessageTypeText && ev.SessionKey == "agent:main:relay:dm" && ev.Source.DeliveredViaUpstreamRelay
		}},
		{"unknown platform falls back to relay", `,"event":{"source":{"platform":"Not A Platform!"}}`, func(ev pluginapi.MessageEvent) bool {
			return ev.Source.Platform == "relay"
		}},
		{"platform is lower-cased", `,"event":{"source":{"platform":" Telegram "}}`, func(ev pluginapi.MessageEvent) bool {
			return ev.Source.Platform == "telegram"
		}},
		{"unknown message_type becomes text", `,"event":{"message_type":"image"}`, func(ev pluginapi.MessageEvent) bool {
			return ev.MessageType == pluginapi.MessageTypeText
		}},
		{"user_name when no display name", `,"event":{"source":{"user_name":"alice","user_handle":"@a"}}`, func(ev pluginapi.MessageEvent) bool {
			return ev.Source.UserName == "alice"
		}},
		{"user_handle last", `,"event":{"source":{"user_display_name":"","user_handle":"@a"}}`, func(ev pluginapi.MessageEvent) bool {
			return ev.Source.UserName == "@a"
		}},
		{"guild_id when no scope_id", `,"event":{"source":{"guild_id":"g1"}}`, func(ev pluginapi.MessageEvent) bool {
			return ev.Source.ScopeID == "g1"
		}},
		{"numeric chat_id keeps its digits", `,"event":{"source":{"chat_id":12345,"chat_type":"group","user_id":7}}`, func(ev pluginapi.MessageEvent) bool {
			return ev.Source.ChatID == "12345" && ev.SessionKey == "agent:main:relay:group:12345:7"
		}},
		{"null source is {}", `,"event":{"source":null,"text":"x"}`, func(ev pluginapi.MessageEvent) bool {
			return ev.Text == "x" && ev.Source.Platform == "relay"
		}},
		{"delivered_via_upstream_relay is never read from the wire", `,"event":{"source":{"delivered_via_upstream_relay":false}}`, func(ev pluginapi.MessageEvent) bool {
			return ev.Source.DeliveredViaUpstreamRelay
		}},
		{"media types without media[] are empty strings", `,"event":{"media_urls":["u1"]}`, func(ev pluginapi.MessageEvent) bool {
			return reflect.DeepEqual(ev.MediaTypes, []string{""})
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := mustDecode(t, `{"type":"inbound"`+tc.event+`}`)
			if f.Inbound == nil || !tc.check(f.Inbound.Event) {
				t.Fatalf("event = %+v", f.Inbound)
			}
		})
	}
}

func TestParseDescriptor(t *testing.T) {
	base := map[string]any{
		"contract_version": 1, "platform": "discord", "label": "Discord", "max_message_length": 2000,
		"supports_draft_streaming": false, "supports_edit": true, "supports_threads": true,
		"markdown_dialect": "discord", "len_unit": "utf16",
	}
	with := func(k string, v any) []byte {
		m := map[string]any{}
		for key, val := range base {
			m[key] = val
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		b, _ := json.Marshal(m)
		return b
	}
	d, err := ParseDescriptor(with("unknown_key", "ignored"))
	if err != nil {
		t.Fatal(err)
	}
	want := Descriptor{ContractVersion: 1, Platform: "discord", Label: "Discord", MaxMessageLength: 2000,
		SupportsEdit: true, SupportsThreads: true, MarkdownDialect: "discord", LenUnit: "utf16", Emoji: DefaultEmoji}
	if !reflect.DeepEqual(d, want) {
		t.Fatalf("descriptor = %+v\nwant         %+v", d, want)
	}
	if !d.SupportsOp("follow_up") || d.SupportsOp("get_chat_info") {
		t.Fatalf("empty supported_ops must mean the legacy set")
	}
	for _, tc := range []struct {
		v    any
		want int
	}{{0, 4096}, {-5, 4096}, {"abc", 4096}, {"2000", 2000}, {1999.7, 1999}, {nil, 0}, {true, 1}, {[]int{1}, 4096}} {
		if tc.v == nil {
			continue
		}
		d, err := ParseDescriptor(with("max_message_length", tc.v))
		if err != nil || d.MaxMessageLength != tc.want {
			t.Errorf("max_message_length %v → %d (%v), want %d", tc.v, d.MaxMessageLength, err, tc.want)
		}
	}
	for _, tc := range []struct {
		v    any
		want []string
	}{{"send", nil}, {[]any{"send", 3, "", "get_chat_info"}, []string{"send", "get_chat_info"}}, {map[string]any{}, nil}} {
		d, err := ParseDescriptor(with("supported_ops", tc.v))
		if err != nil || !reflect.DeepEqual(d.SupportedOps, tc.want) {
			t.Errorf("supported_ops %v → %q (%v), want %q", tc.v, d.SupportedOps, err, tc.want)
		}
	}
	d, _ = ParseDescriptor(with("supported_ops", []any{"get_chat_info"}))
	if d.SupportsOp("send") || !d.SupportsOp("get_chat_info") {
		t.Errorf("an advertised op set replaces the legacy set")
	}
	_, err = ParseDescriptor(with("len_unit", nil))
	if err == nil || !strings.Contains(err.Error(), "len_unit") {
		t.Fatalf("missing len_unit: err = %v, want it named", err)
	}
	d, _ = ParseDescriptor(with("emoji", "🎮"))
	if d.Emoji != "🎮" {
		t.Errorf("emoji = %q", d.Emoji)
	}
}

func TestDecodeOutboundResultAndInterrupt(t *testing.T) {
	f := mustDecode(t, `{"type":"outbound_result","requestId":"abc","result":{"success":true,"message_id":123456789012345678901,"thread_id":"t1"}}`)
	r := f.Result.Result
	if f.Result.RequestID != "abc" || !r.Success || r.MessageID != "123456789012345678901" || r.Raw["thread_id"] != "t1" {
		t.Fatalf("result = %+v", f.Result)
	}
	f = mustDecode(t, `{"type":"outbound_result","requestId":"abc"}`)
	if f.Result.Result.Success || f.Result.Result.Ambiguous {
		t.Fatalf("missing result must be a plain failure: %+v", f.Result.Result)
	}
	f = mustDecode(t, `{"type":"outbound_result","requestId":"abc","result":[true]}`)
	if f.Result.Result.Success || !f.Result.Result.Ambiguous {
		t.Fatalf("non-object result must be an ambiguous failure: %+v", f.Result.Result)
	}
	f = mustDecode(t, `{"type":"outbound_result","requestId":"abc","result":{"success":false,"error":"Discord egress declined: target is not an approved destination for this connection"}}`)
	if !f.Result.Result.EgressDeclined() {
		t.Fatalf("egress declined text not recognised: %+v", f.Result.Result)
	}
	f = mustDecode(t, `{"type":"outbound_result","requestId":"abc","result":{"success":false,"code":"egress_declined"}}`)
	if !f.Result.Result.EgressDeclined() {
		t.Fatalf("egress_declined code not recognised")
	}
	f = mustDecode(t, `{"type":"interrupt_inbound","session_key":"agent:main:discord:group:chanA:userX","chat_id":"chanA"}`)
	if *f.Interrupt != (InterruptInbound{SessionKey: "agent:main:discord:group:chanA:userX", ChatID: "chanA"}) {
		t.Fatalf("interrupt = %+v", f.Interrupt)
	}
	f = mustDecode(t, `{"type":"interrupt_inbound"}`)
	if *f.Interrupt != (InterruptInbound{}) {
		t.Fatalf("empty interrupt = %+v", f.Interrupt)
	}
	f = mustDecode(t, `{"type":"going_idle_ack"}`)
	if f.Type != TypeGoingIdleAck || !f.Type.Incoming() {
		t.Fatalf("going_idle_ack = %+v", f)
	}
}

func TestEncodeFrames(t *testing.T) {
	oneLine := func(t *testing.T, b []byte) map[string]json.RawMessage {
		t.Helper()
		if bytes.Count(b, []byte{'\n'}) != 1 || b[len(b)-1] != '\n' {
			t.Fatalf("frame %q is not exactly one line ending in \\n", b)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("frame %q: %v", b, err)
		}
		return m
	}
	b, err := EncodeHello("discord", "123", json.RawMessage(`[{"name":"ask","description":"Ask"}]`))
	if err != nil {
		t.Fatal(err)
	}
	if m := oneLine(t, b); string(m["type"]) != `"hello"` || string(m["platform"]) != `"discord"` || string(m["botId"]) != `"123"` ||
		string(m["command_manifest"]) != `[{"name":"ask","description":"Ask"}]` {
		t.Fatalf("hello = %s", b)
	}
	b, _ = EncodeHello("relay", "", nil)
	if m := oneLine(t, b); string(m["botId"]) != `""` || m["command_manifest"] != nil {
		t.Fatalf("hello without manifest = %s", b)
	}

	id := NewRequestID()
	if !regexp.MustCompile(`^[0-9a-f]{12}4[0-9a-f]{3}[89ab][0-9a-f]{15}$`).MatchString(id) || id == NewRequestID() {
		t.Fatalf("request id %q is not a version-4 UUID as 32 lowercase hex, or not fresh", id)
	}
	b, err = EncodeOutbound(id, map[string]any{"op": "send", "chat_id": "c", "content": "<hi>", "reply_to": nil}, "discord", "123")
	if err != nil {
		t.Fatal(err)
	}
	m := oneLine(t, b)
	if string(m["requestId"]) != `"`+id+`"` || string(m["platform"]) != `"discord"` || string(m["botId"]) != `"123"` ||
		!strings.Contains(string(m["action"]), `"reply_to":null`) || !strings.Contains(string(m["action"]), `"<hi>"`) {
		t.Fatalf("outbound = %s", b)
	}
	b, _ = EncodeOutbound(id, json.RawMessage(`{"op":"typing"}`), "", "123")
	if m := oneLine(t, b); m["platform"] != nil || m["botId"] != nil {
		t.Fatalf("untagged outbound carries platform/botId: %s", b)
	}
	for _, bad := range []any{[]int{1}, "send", nil, json.RawMessage(`[1]`)} {
		if _, err := EncodeOutbound(id, bad, "", ""); !errors.Is(err, ErrActionNotObject) {
			t.Errorf("EncodeOutbound(%v) error = %v, want ErrActionNotObject", bad, err)
		}
	}
	if m := oneLine(t, EncodeInterrupt("k", "")); string(m["reason"]) != "null" || string(m["session_key"]) != `"k"` {
		t.Fatalf("interrupt without reason must send reason:null: %s", EncodeInterrupt("k", ""))
	}
	if m := oneLine(t, EncodeInterrupt("k", "stop")); string(m["reason"]) != `"stop"` {
		t.Fatalf("interrupt with reason = %s", EncodeInterrupt("k", "stop"))
	}
	if m := oneLine(t, EncodeGoingIdle()); string(m["type"]) != `"going_idle"` || len(m) != 1 {
		t.Fatalf("going_idle = %s", EncodeGoingIdle())
	}
	if m := oneLine(t, EncodeInboundAck("buf-42")); string(m["bufferId"]) != `"buf-42"` || string(m["type"]) != `"inbound_ack"` {
		t.Fatalf("inbound_ack = %s", EncodeInboundAck("buf-42"))
	}
}

// splitLines feeds data to a splitter in pieces cut at the given offsets.
func splitLines(data []byte, max int, cuts ...int) (lines []string, errs int) {
	sp := NewSplitter(max)
	prev := 0
	for _, c := range append(cuts, len(data)) {
		if c < prev || c > len(data) {
			continue
		}
		sp.Feed(data[prev:c], func(line []byte, err error) {
			if err != nil {
				errs++
				return
			}
			lines = append(lines, string(line))
		})
		prev = c
	}
	return lines, errs
}

var validKinds = map[string]bool{
	BadFrameMalformedJSON: true, BadFrameEncoding: true, BadFrameNotObject: true, BadFrameOversize: true, BadFrameDescriptor: true,
	BadFrameInbound: true, BadFramePassthrough: true, BadFrameOutboundResult: true,
}

func FuzzDecodeFrames(f *testing.F) {
	seeds := []string{
		`{"type":"descriptor","descriptor":{"contract_version":1,"platform":"discord","label":"Discord","max_message_length":2000,"supports_draft_streaming":false,"supports_edit":true,"supports_threads":true,"markdown_dialect":"discord","len_unit":"utf16","supported_ops":["send",1,""]}}` + "\n",
		`{"type":"inbound","event":{"text":"hi","source":{"platform":"discord","chat_id":"c","chat_type":"group","user_id":"u"}},"bufferId":"buf-1"}` + "\n",
		`{"type":"passthrough_forward","forward":{"platform":"discord","botId":"a","method":"POST","path":"/i","headers":[["content-type","application/json"],["x"]],"bodyB64":"eyJ0eXBlIjoxfQ==","profile":"p"},"bufferId":"pbuf-7"}` + "\n",
		`{"type":"outbound_result","requestId":"3f2a","result":{"success":true,"message_id":"m1"}}` + "\n",
		`{"type":"interrupt_inbound","session_key":"agent:main:discord:group:chanA:userX","chat_id":"chanA"}` + "\n{\"type\":\"going_idle_ack\"}\n",
		"{\"type\":\"passthrough_forward\",\"forward\":{\"bodyB64\":\"!!!not base64!!!\"}}\n\n  \n[1]\n{bad\n\"x\"\n",
		`{"type":"inbound","event":{"media_urls":["a",1],"media":[{"url":"a","mime":"x"}],"context":[{"text":"t","source":{"user_name":"n"}}],"reply_to":{"text":"r"},"prompt_response":{"prompt_id":"p"}}}`,
	}
	seeds = append(seeds, `[]`, ` [ ] `, `[1, "a,]\"[", {"k":[1,2]}, [[],[3]], null, true, -1.5e3 ]`, `[["a","b"],["c"],"d",["e","f","g"],[1,null]]`)
	for i, s := range seeds {
		f.Add([]byte(s), uint16(i*7))
	}
	f.Fuzz(func(t *testing.T, data []byte, cut uint16) {
		const max = 1 << 12
		whole, wholeErrs := splitLines(data, max)
		c := 0
		if len(data) > 0 {
			c = int(cut) % (len(data) + 1)
		}
		parts, partErrs := splitLines(data, max, c/2, c)
		// Chunking never changes which frames come out, except that an
		// oversize line is reported once however it was split.
		if wholeErrs == 0 && partErrs == 0 && !reflect.DeepEqual(whole, parts) {
			t.Fatalf("chunking changed the lines:\nwhole %q\nparts %q", whole, parts)
		}
		// The element splitter agrees with encoding/json on every valid array.
		if json.Valid(data) {
			var want []json.RawMessage
			isArray := json.Unmarshal(data, &want) == nil
			got := rawArray(data)
			if !isArray && got != nil {
				t.Fatalf("rawArray(%q) = %q for a value that is not an array", data, got)
			}
			if isArray {
				if len(got) != len(want) {
					t.Fatalf("rawArray(%q) has %d elements, encoding/json %d", data, len(got), len(want))
				}
				for i := range want {
					if !bytes.Equal(got[i], want[i]) {
						t.Fatalf("rawArray(%q)[%d] = %q, want %q", data, i, got[i], want[i])
					}
				}
			}
		}
		for _, line := range append(whole, string(data)) {
			fr, err := DecodeFrame([]byte(line))
			if err != nil {
				var de *DecodeError
				if !errors.As(err, &de) || !validKinds[de.Kind] {
					t.Fatalf("error %v is not a *DecodeError with a known kind", err)
				}
				continue
			}
			switch fr.Type {
			case TypeDescriptor:
				if fr.Descriptor == nil || fr.Descriptor.MaxMessageLength <= 0 {
					t.Fatalf("descriptor %+v", fr.Descriptor)
				}
			case TypeInbound:
				ev := fr.Inbound.Event
				if ev.Source.Platform == "" || ev.Source.ChatType == "" || !ev.Source.DeliveredViaUpstreamRelay ||
					len(ev.MediaTypes) != len(ev.MediaURLs) || ev.SessionKey != pluginapi.SessionKey(ev.Source) {
					t.Fatalf("inbound event invariants broken: %+v", ev)
				}
			case TypePassthroughForward:
				if fr.Forward == nil || fr.Forward.Body == nil {
					t.Fatalf("forward %+v", fr.Forward)
				}
			case TypeOutboundResult:
				if fr.Result == nil || fr.Result.RequestID == "" {
					t.Fatalf("result %+v", fr.Result)
				}
			case TypeInterruptInbound:
				if fr.Interrupt == nil {
					t.Fatalf("interrupt missing")
				}
			}
		}
	})
}

// benchForwardLine is a typical passthrough_forward: a Discord slash-command
// interaction of about 1.3 KiB with the headers the connector forwards.
func benchForwardLine() []byte {
	body := `{"app_permissions":"2248473465835073","application_id":"1234567890123456789","authorizing_integration_owners":{"0":"987654321098765432"},` +
		`"channel":{"flags":0,"guild_id":"987654321098765432","id":"1122334455667788990","last_message_id":"1122334455667788999","name":"general","nsfw":false,"parent_id":"1122334455667788000","permissions":"2251799813685247","position":0,"rate_limit_per_user":0,"topic":null,"type":0},` +
		`"channel_id":"1122334455667788990","context":0,"data":{"id":"1230000000000000001","name":"ask","options":[{"name":"prompt","type":3,"value":"What is the weather like in Lisbon this weekend?"}],"type":1},` +
		`"entitlement_sku_ids":[],"entitlements":[],"guild":{"features":[],"id":"987654321098765432","locale":"en-US"},"guild_id":"987654321098765432","guild_locale":"en-US","id":"1300000000000000001","locale":"en-GB",` +
		`"member":{"avatar":null,"deaf":false,"flags":0,"joined_at":"2024-01-01T00:00:00.000000+00:00","mute":false,"nick":null,"pending":false,"permissions":"2251799813685247","roles":["1111111111111111111"],` +
		`"user":{"avatar":"a1b2c3d4e5f6","discriminator":"0","global_name":"Alice","id":"5555555555555555555","public_flags":0,"username":"alice"}},"type":2,"version":1}`
	f := map[string]any{
		"type": "passthrough_forward",
		"forward": map[string]any{
			"platform": "discord", "botId": "1234567890123456789", "method": "POST", "path": "/interactions/discord/1234567890123456789",
			"headers": [][2]string{{"content-type", "application/json"}, {"user-agent", "Discord-Interactions/1.0 (+https://discord.com)"},
				{"x-forwarded-for", "162.159.0.1"}, {"x-request-id", "0f1e2d3c4b5a69788796a5b4c3d2e1f0"}},
			"bodyB64": base64.StdEncoding.EncodeToString([]byte(body)),
		},
	}
	b, _ := json.Marshal(f)
	return b
}

func BenchmarkDecodeFrame(b *testing.B) {
	line := benchForwardLine()
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		f, err := DecodeFrame(line)
		if err != nil || f.Forward == nil {
			b.Fatal(err)
		}
	}
}
