package agentapi

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/relayhost/relay-host/host/relay"
	"github.com/relayhost/relay-host/pluginapi"
)

func TestActionStatusCodes(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		setup   func(*fakeLink)
		cfg     func(*Config)
		status  int
		errHas  string // substring of the answer's error
		sends   int    // frames expected on the link
		checkFn func(t *testing.T, answer map[string]any)
	}{
		{name: "send succeeds: 200 with the connector's result", body: `{"op":"send","chat_id":"c1","content":"hi"}`,
			status: 200, sends: 1, checkFn: func(t *testing.T, a map[string]any) {
				if a["message_id"] != "send:c1:hi" || a["success"] != true {
					t.Errorf("answer %v", a)
				}
			}},
		{name: "malformed JSON: 400", body: `{"op":"send",`, status: 400, errHas: "not valid JSON"},
		{name: "empty body: 400", body: ``, status: 400, errHas: "empty"},
		{name: "trailing data: 400", body: `{"op":"send"} {}`, status: 400, errHas: "after the object"},
		{name: "not an object: 400", body: `["op","send"]`, status: 400, errHas: "must be a JSON object, not an array"},
		{name: "missing op: 400", body: `{"chat_id":"c1"}`, status: 400, errHas: "op is required"},
		{name: "op not a string: 400", body: `{"op":7}`, status: 400, errHas: "op must be a string"},
		{name: "unknown op: 400", body: `{"op":"teleport","chat_id":"c1"}`, status: 400, errHas: `unknown op "teleport"`},
		{name: "unknown op allowed and advertised: 200", body: `{"op":"teleport","chat_id":"c1","to":"mars"}`,
			cfg:    func(c *Config) { c.AllowUnknownOps = true },
			setup:  func(l *fakeLink) { l.descs["discord"] = discordDesc("send", "teleport") },
			status: 200, sends: 1},
		{name: "unknown op allowed, not advertised: 409", body: `{"op":"teleport","chat_id":"c1"}`,
			cfg: func(c *Config) { c.AllowUnknownOps = true }, status: 409, errHas: "teleport is not supported by discord"},
		{name: "send without chat_id: 400 naming it", body: `{"op":"send","content":"hi"}`, status: 400, errHas: "send: chat_id is required"},
		{name: "send with empty chat_id: 400", body: `{"op":"send","chat_id":"","content":"hi"}`, status: 400, errHas: "send: chat_id is required"},
		{name: "send content not a string: 400", body: `{"op":"send","chat_id":"c1","content":5}`, status: 400, errHas: "send: content must be a string, not a number"},
		{name: "send reply_to a number: 400", body: `{"op":"send","chat_id":"c1","content":"x","reply_to":5}`, status: 400, errHas: "send: reply_to must be a string or null"},
		{name: "metadata not an object: 400", body: `{"op":"send","chat_id":"c1","content":"x","metadata":[]}`, status: 400, errHas: "send: metadata must be an object"},
		{name: "edit without message_id: 400", body: `{"op":"edit","chat_id":"c1","content":"x"}`, status: 400, errHas: "edit: message_id is required"},
		{name: "react without emoji: 400", body: `{"op":"react","chat_id":"c1","message_id":"m"}`, status: 400, errHas: "react: emoji is required"},
		{name: "follow_up without kind: 400", body: `{"op":"follow_up","session_key":"k","content":"x"}`, status: 400, errHas: "follow_up: kind is required"},
		{name: "send_media bad kind: 400", body: `{"op":"send_media","chat_id":"c1","media_kind":"gif","source_url":"https://x/y"}`, status: 400, errHas: "send_media: media_kind must be one of image, voice, audio, video, document"},
		{name: "send_media bad URL: 400", body: `{"op":"send_media","chat_id":"c1","media_kind":"image","source_url":"file:///etc/passwd"}`, status: 400, errHas: "send_media: source_url must be an absolute http(s) URL"},
		{name: "send_media bad fallback: 400", body: `{"op":"send_media","chat_id":"c1","media_kind":"image","source_url":"https://x/y","fallback":"link"}`, status: 400, errHas: `send_media: fallback must be "text"`},
		{name: "prompt without options: 400", body: `{"op":"prompt","chat_id":"c1","content":"ok?"}`, status: 400, errHas: "prompt: options is required"},
		{name: "prompt option without id: 400", body: `{"op":"prompt","chat_id":"c1","content":"ok?","options":[{"id":"y","label":"Yes"},{"label":"No"}]}`, status: 400, errHas: "prompt: options[1].id is required"},
		{name: "prompt option id outside the codec alphabet: 400", body: `{"op":"prompt","chat_id":"c1","content":"ok?","options":[{"id":"y:es","label":"Yes"}]}`, status: 400, errHas: "prompt: options[0].id must be 1 to 32"},
		{name: "prompt timeout_s not positive: 400", body: `{"op":"prompt","chat_id":"c1","content":"ok?","options":[{"id":"y","label":"Y"}],"timeout_s":0}`, status: 400, errHas: "prompt: timeout_s must be above zero"},
		{name: "draft id not an integer: 400", body: `{"op":"draft","chat_id":"c1","draft_id":1.5,"content":"x","final":false}`, status: 400, errHas: "draft: draft_id must be an integer"},
		{name: "invalid UTF-8 names the field: 400", body: "{\"op\":\"send\",\"chat_id\":\"c1\",\"content\":\"ok\",\"metadata\":{\"note\":\"\xff\"}}", status: 400, errHas: "metadata.note: invalid UTF-8"},
		{name: "lone surrogate escape names the field: 400", body: `{"op":"send","chat_id":"c1","content":"a\ud800b"}`, status: 400, errHas: "content: invalid UTF-8"},
		{name: "paired surrogate escape is fine: 200", body: `{"op":"send","chat_id":"c1","content":"\ud83d\ude00"}`, status: 200, sends: 1},
		{name: "platform not fronted: 400", body: `{"op":"send","chat_id":"c1","content":"x","platform":"slack"}`, status: 400, errHas: `platform: "slack" is not a platform this gateway fronts (discord, telegram)`},
		{name: "bot_id without platform: 400", body: `{"op":"send","chat_id":"c1","content":"x","bot_id":"b"}`, status: 400, errHas: "bot_id: give platform too"},
		{name: "op not advertised: 409", body: `{"op":"delete","chat_id":"c1","message_id":"m"}`,
			setup: func(l *fakeLink) { l.descs["discord"] = discordDesc("send") }, status: 409, errHas: "delete is not supported by discord",
			checkFn: func(t *testing.T, a map[string]any) {
				if a["code"] != "unsupported_op" || a["success"] != false {
					t.Errorf("answer %v", a)
				}
			}},
		{name: "connector failure: 502 with the same object", body: `{"op":"send","chat_id":"c1","content":"x"}`,
			setup: func(l *fakeLink) {
				l.answer = func(frame) relay.OutboundResult {
					r := failWith("discord said no", "")
					r.Raw["retry_after"] = json.Number("3")
					return r
				}
			},
			status: 502, sends: 1, errHas: "discord said no", checkFn: func(t *testing.T, a map[string]any) {
				if a["retry_after"] != json.Number("3") || a["ambiguous"] != nil {
					t.Errorf("answer %v: want the connector's keys verbatim, no ambiguous", a)
				}
			}},
		{name: "ambiguous timeout: 502 with ambiguous true", body: `{"op":"send","chat_id":"c1","content":"x"}`,
			setup: func(l *fakeLink) {
				l.answer = func(frame) relay.OutboundResult {
					return relay.OutboundResult{Error: relay.ErrTextTimedOut, Ambiguous: true}
				}
			},
			status: 502, sends: 1, errHas: relay.ErrTextTimedOut, checkFn: func(t *testing.T, a map[string]any) {
				if a["ambiguous"] != true {
					t.Errorf("answer %v: want ambiguous true", a)
				}
			}},
		{name: "link down: 503, nothing sent", body: `{"op":"send","chat_id":"c1","content":"x"}`,
			setup: func(l *fakeLink) { l.ready = false }, status: 503, errHas: relay.ErrTextNotConnected},
		{name: "link drops under the send: 503", body: `{"op":"send","chat_id":"c1","content":"x"}`,
			setup: func(l *fakeLink) {
				l.answer = func(frame) relay.OutboundResult { return relay.OutboundResult{Error: relay.ErrTextNotConnected} }
			},
			status: 503, sends: 1, errHas: relay.ErrTextNotConnected},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			link := newFakeLink(discordDesc(), telegramDesc())
			if tc.setup != nil {
				tc.setup(link)
			}
			cfg := []func(*Config){}
			if tc.cfg != nil {
				cfg = append(cfg, tc.cfg)
			}
			s := newService(t, link, cfg...)
			status, answer := call(t, s, EndpointActions, tc.body)
			if status != tc.status {
				t.Fatalf("status %d, want %d; answer %v", status, tc.status, answer)
			}
			if tc.errHas != "" && !errContains(answer, tc.errHas) {
				t.Errorf("error %q, want it to contain %q", answer["error"], tc.errHas)
			}
			if status != 200 && answer["success"] != false {
				t.Errorf("failure answer without success:false: %v", answer)
			}
			if got := len(link.sentFrames()); got != tc.sends {
				t.Errorf("%d frames sent, want %d: %v", got, tc.sends, link.sentFrames())
			}
			if tc.checkFn != nil {
				tc.checkFn(t, answer)
			}
		})
	}
}

func TestSendWireShape(t *testing.T) {
	link := newFakeLink(discordDesc())
	s := newService(t, link)
	status, _ := call(t, s, EndpointActions, `{"op":"send","chat_id":"c9","content":"hello","components":[{"type":1}],"x_count":12345678901234567890}`)
	if status != 200 {
		t.Fatalf("status %d", status)
	}
	f := link.sentFrames()[0]
	a := f.Action
	if v, ok := a["reply_to"]; !ok || v != nil {
		t.Errorf("reply_to = %v (present %v), want null present", v, ok)
	}
	if md, ok := a["metadata"].(map[string]any); !ok || len(md) != 0 {
		t.Errorf("metadata = %v, want {}", a["metadata"])
	}
	if mustJSON(a["components"]) != `[{"type":1}]` || a["x_count"] != json.Number("12345678901234567890") {
		t.Errorf("unknown fields not passed through untouched: %v", a)
	}
	if f.Platform != nil || f.BotID != nil {
		t.Errorf("an unseen chat must go untagged, got platform %v botId %v", f.Platform, f.BotID)
	}
}

func TestEnrichmentAndTagging(t *testing.T) {
	link := newFakeLink(discordDesc(), telegramDesc())
	s := newService(t, link)
	ev := discordEvent("c1", "hi")
	ev.Source.Profile = "reviewer"
	s.Remember(ev, "ev-1", "app1")
	tg := pluginapi.MessageEvent{Source: pluginapi.SessionSource{Platform: "telegram", ChatID: "t1", ChatType: "dm", UserID: "u9"}}
	s.Remember(tg, "", "")
	relayEv := pluginapi.MessageEvent{Source: pluginapi.SessionSource{Platform: "relay", ChatID: "r1", UserID: "ur"}}
	s.Remember(relayEv, "", "")

	tests := []struct {
		name         string
		body         string
		wantPlatform string // "" means untagged
		wantBot      string // "" means no botId
		wantMeta     map[string]any
	}{
		{"seen chat: metadata filled, tagged with platform and botId",
			`{"op":"send","chat_id":"c1","content":"x"}`, "discord", "app1",
			map[string]any{"scope_id": "guild-c1", "user_id": "user-c1", "profile": "reviewer"}},
		{"metadata the agent set is kept",
			`{"op":"edit","chat_id":"c1","message_id":"m","content":"x","metadata":{"scope_id":"mine","extra":true}}`, "discord", "app1",
			map[string]any{"scope_id": "mine", "user_id": "user-c1", "profile": "reviewer", "extra": true}},
		{"identity without botId: platform only",
			`{"op":"send","chat_id":"t1","content":"x"}`, "telegram", "",
			map[string]any{"user_id": "u9"}},
		{"placeholder relay platform: untagged but enriched",
			`{"op":"send","chat_id":"r1","content":"x"}`, "", "",
			map[string]any{"user_id": "ur"}},
		{"unseen chat: untagged, empty metadata",
			`{"op":"send","chat_id":"never","content":"x"}`, "", "", map[string]any{}},
		{"explicit platform override",
			`{"op":"send","chat_id":"never","content":"x","platform":"telegram"}`, "telegram", "", map[string]any{}},
		{"explicit platform and bot_id override",
			`{"op":"send","chat_id":"c1","content":"x","platform":"discord","bot_id":"app2"}`, "discord", "app2",
			map[string]any{"scope_id": "guild-c1", "user_id": "user-c1", "profile": "reviewer"}},
		{"follow_up: platform from its kind, profile from its session key",
			`{"op":"follow_up","session_key":"agent:reviewer:discord:group:c1:u","kind":"discord.interaction_token","content":"x"}`,
			"discord", "app1", map[string]any{"profile": "reviewer"}},
		{"follow_up with a platform override keeps its profile",
			`{"op":"follow_up","session_key":"agent:main~:discord:dm:c1","kind":"discord.interaction_token","content":"x","platform":"discord"}`,
			"discord", "app1", map[string]any{"profile": "main"}},
		{"follow_up in the default namespace: no profile",
			`{"op":"follow_up","session_key":"agent:main:discord:dm:c1","kind":"discord.interaction_token","content":"x"}`,
			"discord", "app1", map[string]any{}},
		{"follow_up for a platform not fronted: untagged",
			`{"op":"follow_up","session_key":"agent:main:slack:dm:c1","kind":"slack.response_url","content":"x"}`,
			"", "", map[string]any{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(link.sentFrames())
			status, answer := call(t, s, EndpointActions, tc.body)
			if status != 200 {
				t.Fatalf("status %d: %v", status, answer)
			}
			f := link.sentFrames()[before]
			if got := deref(f.Platform); got != tc.wantPlatform {
				t.Errorf("platform %q, want %q", got, tc.wantPlatform)
			}
			if got := deref(f.BotID); got != tc.wantBot {
				t.Errorf("botId %q, want %q", got, tc.wantBot)
			}
			if mustJSON(f.Action["metadata"]) != mustJSON(tc.wantMeta) {
				t.Errorf("metadata %s, want %s", mustJSON(f.Action["metadata"]), mustJSON(tc.wantMeta))
			}
		})
	}

	t.Run("get_chat_info is never tagged and carries no metadata", func(t *testing.T) {
		link.mu.Lock()
		link.descs["discord"] = discordDesc("send", "get_chat_info")
		link.mu.Unlock()
		before := len(link.sentFrames())
		status, _ := call(t, s, EndpointActions, `{"op":"get_chat_info","chat_id":"c1"}`)
		if status != 200 {
			t.Fatalf("status %d", status)
		}
		f := link.sentFrames()[before]
		if f.Platform != nil || f.BotID != nil {
			t.Errorf("get_chat_info tagged: %v %v", deref(f.Platform), deref(f.BotID))
		}
		if _, ok := f.Action["metadata"]; ok {
			t.Errorf("get_chat_info carries metadata: %v", f.Action)
		}
	})
}

func TestDefaultIdentityLeavesRelayChatsUntagged(t *testing.T) {
	link := newFakeLink(discordDesc())
	s := newService(t, link, func(c *Config) { c.Identities = nil })
	s.Remember(pluginapi.MessageEvent{Source: pluginapi.SessionSource{Platform: "relay", ChatID: "r1", UserID: "u"}}, "", "")
	if status, _ := call(t, s, EndpointActions, `{"op":"send","chat_id":"r1","content":"x"}`); status != 200 {
		t.Fatal(status)
	}
	f := link.sentFrames()[0]
	if f.Platform != nil || f.BotID != nil || f.Action["metadata"].(map[string]any)["user_id"] != "u" {
		t.Errorf("frame %v platform %v: want untagged and enriched", f.Action, deref(f.Platform))
	}
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func TestChatMemoryIsBounded(t *testing.T) {
	link := newFakeLink(discordDesc())
	s := newService(t, link, func(c *Config) { c.ChatMemory = 2 })
	for _, c := range []string{"a", "b", "c"} {
		s.Remember(discordEvent(c, "x"), "", "app1")
	}
	if _, ok := s.mem.chat("", "a"); ok {
		t.Errorf("the oldest chat is still remembered with a memory of 2")
	}
	for _, c := range []string{"b", "c"} {
		if _, ok := s.mem.chat("", c); !ok {
			t.Errorf("chat %s forgotten", c)
		}
	}
}

func TestGating(t *testing.T) {
	t.Run("typing not advertised: success, nothing sent", func(t *testing.T) {
		link := newFakeLink(discordDesc("send"))
		s := newService(t, link)
		status, answer := call(t, s, EndpointActions, `{"op":"typing","chat_id":"c1"}`)
		if status != 200 || answer["success"] != true || len(link.sentFrames()) != 0 {
			t.Fatalf("status %d answer %v frames %v", status, answer, link.sentFrames())
		}
	})
	t.Run("get_chat_info not advertised: answered locally", func(t *testing.T) {
		link := newFakeLink(discordDesc())
		s := newService(t, link)
		status, answer := call(t, s, EndpointActions, `{"op":"get_chat_info","chat_id":"c7"}`)
		if status != 200 || mustJSON(answer) != `{"name":"c7","success":true,"type":"dm"}` || len(link.sentFrames()) != 0 {
			t.Fatalf("status %d answer %v frames %v", status, answer, link.sentFrames())
		}
	})
	t.Run("legacy set when supported_ops is empty", func(t *testing.T) {
		link := newFakeLink(discordDesc([]string{}...))
		s := newService(t, link)
		if status, _ := call(t, s, EndpointActions, `{"op":"edit","chat_id":"c1","message_id":"m","content":"x"}`); status != 200 {
			t.Errorf("edit (legacy): status %d", status)
		}
		if status, _ := call(t, s, EndpointActions, `{"op":"react","chat_id":"c1","message_id":"m","emoji":"x"}`); status != 409 {
			t.Errorf("react (not legacy): status %d", status)
		}
	})
	t.Run("send_media not advertised: 409 without fallback", func(t *testing.T) {
		link := newFakeLink(discordDesc("send"))
		s := newService(t, link)
		status, answer := call(t, s, EndpointActions, `{"op":"send_media","chat_id":"c1","media_kind":"image","source_url":"https://cdn.example/a.png"}`)
		if status != 409 || answer["code"] != "unsupported_op" || len(link.sentFrames()) != 0 {
			t.Fatalf("status %d answer %v", status, answer)
		}
	})
	t.Run("send_media not advertised, fallback text: a send of caption and URL", func(t *testing.T) {
		link := newFakeLink(discordDesc("send"))
		s := newService(t, link)
		status, answer := call(t, s, EndpointActions, `{"op":"send_media","chat_id":"c1","media_kind":"image","source_url":"https://cdn.example/a.png","content":"look","reply_to":"m0","fallback":"text"}`)
		if status != 200 || answer["fallback"] != "text" {
			t.Fatalf("status %d answer %v", status, answer)
		}
		fs := link.sentFrames()
		if len(fs) != 1 || fs[0].op() != "send" || fs[0].Action["content"] != "look\nhttps://cdn.example/a.png" || fs[0].Action["reply_to"] != "m0" {
			t.Fatalf("frames %v", fs)
		}
	})
	t.Run("send_media advertised and declined: never retried as text", func(t *testing.T) {
		link := newFakeLink(discordDesc())
		link.answer = func(frame) relay.OutboundResult {
			return failWith("discord egress declined: target is not an approved destination for this connection", relay.EgressDeclinedCode)
		}
		s := newService(t, link)
		status, answer := call(t, s, EndpointActions, `{"op":"send_media","chat_id":"c1","media_kind":"image","source_url":"https://cdn.example/a.png","fallback":"text"}`)
		if status != 502 || answer["code"] != relay.EgressDeclinedCode {
			t.Fatalf("status %d answer %v", status, answer)
		}
		fs := link.sentFrames()
		if len(fs) != 1 || fs[0].op() != "send_media" {
			t.Fatalf("want exactly the one send_media frame, got %v", fs)
		}
		if _, ok := fs[0].Action["fallback"]; ok {
			t.Errorf("the host's fallback directive leaked onto the wire: %v", fs[0].Action)
		}
	})
	t.Run("draft needs supports_draft_streaming and an explicit op", func(t *testing.T) {
		d := discordDesc("send", "draft")
		link := newFakeLink(d)
		s := newService(t, link)
		body := `{"op":"draft","chat_id":"c1","draft_id":1,"content":"x","final":false}`
		if status, _ := call(t, s, EndpointActions, body); status != 409 {
			t.Errorf("draft without supports_draft_streaming: status %d, want 409", status)
		}
		d.SupportsDraftStreaming = true
		link.mu.Lock()
		link.descs["discord"] = d
		link.mu.Unlock()
		if status, _ := call(t, s, EndpointActions, body); status != 200 {
			t.Errorf("draft with both: status %d, want 200", status)
		}
	})
	t.Run("gating follows the chat's platform", func(t *testing.T) {
		link := newFakeLink(discordDesc(), telegramDesc())
		s := newService(t, link)
		s.Remember(pluginapi.MessageEvent{Source: pluginapi.SessionSource{Platform: "telegram", ChatID: "t1"}}, "", "")
		status, answer := call(t, s, EndpointActions, `{"op":"send_media","chat_id":"t1","media_kind":"image","source_url":"https://x.example/a"}`)
		if status != 409 || !errContains(answer, "send_media is not supported by telegram") {
			t.Fatalf("status %d answer %v", status, answer)
		}
	})
}

func TestSplitSends(t *testing.T) {
	d := discordDesc()
	d.MaxMessageLength = 20
	link := newFakeLink(d)
	s := newService(t, link)
	content := "first paragraph.\n\nsecond one here\nthird line"
	status, answer := call(t, s, EndpointActions, map[string]any{"op": "send", "chat_id": "c1", "content": content, "reply_to": "m0"})
	if status != 200 {
		t.Fatalf("status %d: %v", status, answer)
	}
	fs := link.sentFrames()
	want := Split(content, 20, UnitChars, true)
	if len(fs) != len(want) || len(want) < 3 {
		t.Fatalf("%d frames, want %d (%q)", len(fs), len(want), want)
	}
	var joined string
	for i, f := range fs {
		joined += stringOf(f.Action["content"])
		if i == 0 && f.Action["reply_to"] != "m0" {
			t.Errorf("first part lost reply_to: %v", f.Action)
		}
		if v, ok := f.Action["reply_to"]; i > 0 && (!ok || v != nil) {
			t.Errorf("part %d reply_to %v (present %v), want null", i, v, ok)
		}
	}
	if joined != content {
		t.Errorf("parts joined %q, want %q", joined, content)
	}
	parts, _ := answer["parts"].([]any)
	if len(parts) != len(want) || answer["message_id"] != "send:c1:first paragr" {
		t.Fatalf("answer %v: want the first part's result plus %d parts", answer, len(want))
	}
	for i, p := range parts {
		if got, want := p.(map[string]any)["message_id"], "send:c1:"+firstRunes(want[i], 12); got != want {
			t.Errorf("parts[%d].message_id %v, want %v (each part its own result)", i, got, want)
		}
	}

	t.Run("a failing part stops the rest", func(t *testing.T) {
		link := newFakeLink(d)
		n := 0
		link.answer = func(f frame) relay.OutboundResult {
			if n++; n == 2 {
				return failWith("rate limited", "rate_limited")
			}
			return echo(f)
		}
		s := newService(t, link)
		status, answer := call(t, s, EndpointActions, map[string]any{"op": "send", "chat_id": "c1", "content": content})
		if status != 502 || answer["success"] != false || answer["code"] != "rate_limited" || !errContains(answer, "part 2 of") {
			t.Fatalf("status %d answer %v", status, answer)
		}
		if len(link.sentFrames()) != 2 || len(answer["parts"].([]any)) != 2 {
			t.Fatalf("want 2 frames and 2 results, got %d frames, answer %v", len(link.sentFrames()), answer)
		}
	})
	t.Run("follow_up splits into follow_ups of the same session", func(t *testing.T) {
		link := newFakeLink(d)
		s := newService(t, link)
		status, _ := call(t, s, EndpointActions, map[string]any{"op": "follow_up", "session_key": "agent:main:discord:dm:c1",
			"kind": "discord.interaction_token", "content": content})
		if status != 200 {
			t.Fatalf("status %d", status)
		}
		for _, f := range link.sentFrames() {
			if f.op() != "follow_up" || f.Action["session_key"] != "agent:main:discord:dm:c1" || f.Action["kind"] != "discord.interaction_token" {
				t.Errorf("frame %v", f.Action)
			}
		}
		if len(link.sentFrames()) != len(want) {
			t.Errorf("%d frames, want %d", len(link.sentFrames()), len(want))
		}
	})
	t.Run("utf16 destination counts UTF-16 units", func(t *testing.T) {
		tg := telegramDesc()
		tg.MaxMessageLength = 4
		link := newFakeLink(tg)
		s := newService(t, link)
		if status, _ := call(t, s, EndpointActions, map[string]any{"op": "send", "chat_id": "t", "content": "😀😀😀"}); status != 200 {
			t.Fatalf("status %d", status)
		}
		if got := len(link.sentFrames()); got != 2 {
			t.Errorf("%d frames for three emoji at 4 UTF-16 units, want 2", got)
		}
	})
}

func TestReply(t *testing.T) {
	interaction := discordEvent("c1", "/ask")
	interaction.EgressKind = pluginapi.EgressDiscordInteractionToken
	interaction.Source.ThreadID = "th1"
	chat := discordEvent("c2", "hello")

	setup := func(t *testing.T, answer func(frame) relay.OutboundResult) (*Service, *fakeLink) {
		link := newFakeLink(discordDesc())
		link.answer = answer
		s := newService(t, link)
		s.Remember(interaction, "discord:i1/0", "app1")
		s.Remember(chat, "discord:m2/0", "app1")
		return s, link
	}
	failFollowUp := func(r relay.OutboundResult) func(frame) relay.OutboundResult {
		return func(f frame) relay.OutboundResult {
			if f.op() == "follow_up" {
				return r
			}
			return echo(f)
		}
	}
	tests := []struct {
		name    string
		body    string
		answer  func(frame) relay.OutboundResult
		down    bool
		status  int
		ops     []string
		errHas  string
		fallbck bool
	}{
		{name: "event with an egress kind: follow_up", body: `{"event_id":"discord:i1/0","content":"answer"}`,
			status: 200, ops: []string{"follow_up"}},
		{name: "chat event: send to its chat", body: `{"event_id":"discord:m2/0","content":"answer"}`,
			status: 200, ops: []string{"send"}},
		{name: "by session key", body: `{"session_key":"` + chat.SessionKey + `","content":"answer"}`,
			status: 200, ops: []string{"send"}},
		{name: "follow_up failing definitely falls back to send", body: `{"event_id":"discord:i1/0","content":"answer"}`,
			answer: failFollowUp(failWith("interaction token expired", "")), status: 200, ops: []string{"follow_up", "send"}, fallbck: true},
		{name: "follow_up not advertised falls back to send", body: `{"event_id":"discord:i1/0","content":"answer"}`,
			status: 200, ops: []string{"send"}, fallbck: true},
		{name: "ambiguous follow_up failure: no fallback", body: `{"event_id":"discord:i1/0","content":"answer"}`,
			answer: failFollowUp(relay.OutboundResult{Error: relay.ErrTextTimedOut, Ambiguous: true}), status: 502, ops: []string{"follow_up"}},
		{name: "egress decline: no fallback", body: `{"event_id":"discord:i1/0","content":"answer"}`,
			answer: failFollowUp(failWith("discord egress declined: target is not an approved destination for this connection", "")),
			status: 502, ops: []string{"follow_up"}},
		{name: "link down: 503, no fallback", body: `{"event_id":"discord:i1/0","content":"answer"}`, down: true, status: 503},
		{name: "unknown event: 404", body: `{"event_id":"nope","content":"answer"}`, status: 404, errHas: `unknown event_id "nope"`},
		{name: "unknown session: 404", body: `{"session_key":"agent:main:x","content":"answer"}`, status: 404, errHas: "no event of session_key"},
		{name: "neither id: 400", body: `{"content":"answer"}`, status: 400, errHas: "event_id or session_key is required"},
		{name: "both ids: 400", body: `{"event_id":"a","session_key":"b","content":"x"}`, status: 400, errHas: "not both"},
		{name: "no content: 400", body: `{"event_id":"discord:m2/0"}`, status: 400, errHas: "reply: content is required"},
		{name: "content not a string: 400", body: `{"event_id":"discord:m2/0","content":1}`, status: 400, errHas: "reply: content must be a string"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, link := setup(t, tc.answer)
			if tc.name == "follow_up not advertised falls back to send" {
				link.descs["discord"] = discordDesc("send")
			}
			link.setReady(!tc.down)
			status, answer := call(t, s, EndpointReply, tc.body)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %v", status, tc.status, answer)
			}
			var ops []string
			for _, f := range link.sentFrames() {
				ops = append(ops, f.op())
			}
			if strings.Join(ops, ",") != strings.Join(tc.ops, ",") {
				t.Errorf("ops %v, want %v", ops, tc.ops)
			}
			if (answer["fallback"] == "send") != tc.fallbck {
				t.Errorf("fallback = %v, want %v", answer["fallback"], tc.fallbck)
			}
			if tc.errHas != "" && !errContains(answer, tc.errHas) {
				t.Errorf("error %q, want %q in it", answer["error"], tc.errHas)
			}
		})
	}

	t.Run("fallback send goes to the event's chat and thread, tagged", func(t *testing.T) {
		s, link := setup(t, failFollowUp(failWith("gone", "")))
		if status, _ := call(t, s, EndpointReply, `{"event_id":"discord:i1/0","content":"answer"}`); status != 200 {
			t.Fatal(status)
		}
		f := link.sentFrames()[1]
		if f.Action["chat_id"] != "c1" || deref(f.Platform) != "discord" || deref(f.BotID) != "app1" {
			t.Errorf("fallback frame %v platform %s bot %s", f.Action, deref(f.Platform), deref(f.BotID))
		}
		md := f.Action["metadata"].(map[string]any)
		if md["thread_id"] != "th1" || md["scope_id"] != "guild-c1" {
			t.Errorf("fallback metadata %v", md)
		}
	})
	t.Run("Reply uses the same path", func(t *testing.T) {
		s, link := setup(t, failFollowUp(failWith("gone", "")))
		status, answer := s.Reply(context.Background(), interaction, "echo: /ask")
		if status != 200 || answer["fallback"] != "send" || len(link.sentFrames()) != 2 {
			t.Fatalf("status %d answer %v frames %v", status, answer, link.sentFrames())
		}
	})
}

func TestInterrupt(t *testing.T) {
	link := newFakeLink(discordDesc())
	s := newService(t, link)
	if status, answer := call(t, s, EndpointInterrupt, `{"session_key":"agent:main:discord:dm:c1","reason":"user pressed stop"}`); status != 200 || answer["success"] != true {
		t.Fatalf("status %d answer %v", status, answer)
	}
	if status, answer := call(t, s, EndpointInterrupt, `{"reason":"x"}`); status != 400 || !errContains(answer, "interrupt: session_key is required") {
		t.Fatalf("status %d answer %v", status, answer)
	}
	if status, _ := call(t, s, EndpointInterrupt, `{"session_key":"k","reason":5}`); status != 400 {
		t.Fatalf("reason not a string: status %d", status)
	}
	link.setReady(false)
	if status, answer := call(t, s, EndpointInterrupt, `{"session_key":"k2"}`); status != 503 || answer["error"] != relay.ErrTextNotConnected {
		t.Fatalf("status %d answer %v", status, answer)
	}
	link.mu.Lock()
	defer link.mu.Unlock()
	if mustJSON(link.interrupts) != `[["agent:main:discord:dm:c1","user pressed stop"]]` {
		t.Errorf("interrupts %v", link.interrupts)
	}
}

func TestUnknownEndpoint(t *testing.T) {
	s := newService(t, newFakeLink(discordDesc()))
	if status, _ := call(t, s, "nope", `{}`); status != http.StatusNotFound {
		t.Errorf("status %d", status)
	}
}

func TestStatusAndDestination(t *testing.T) {
	link := newFakeLink(discordDesc(), telegramDesc())
	s := newService(t, link)
	st := s.Status()
	if st["state"] != "connected" || st["ready"] != true || st["default_platform"] != "discord" || st["open_prompts"] != 0 {
		t.Errorf("status %v", mustJSON(st))
	}
	descs := st["descriptors"].(map[string]any)
	if len(descs) != 2 || descs["telegram"].(map[string]any)["len_unit"] != "utf16" {
		t.Errorf("descriptors %v", mustJSON(descs))
	}
	if got := mustJSON(st["identities"]); got != `[{"bot_id":"app1","platform":"discord"},{"bot_id":"","platform":"telegram"}]` {
		t.Errorf("identities %s", got)
	}
	d := s.Destination("discord")
	if d.MaxMessageLength != 2000 || d.MarkdownDialect != "discord" || !d.SupportsEdit || len(d.SupportedOps) != 9 {
		t.Errorf("destination %+v", d)
	}
	link.descs["discord"] = discordDesc([]string{}...)
	if got := strings.Join(s.Destination("discord").SupportedOps, ","); got != "send,edit,typing,follow_up" {
		t.Errorf("empty supported_ops resolves to %q, want the legacy set", got)
	}
	link.setReady(false)
	if d := s.Destination("discord"); d.MaxMessageLength != 4096 || d.LenUnit != "chars" {
		t.Errorf("destination without a link: %+v", d)
	}
	if st := s.Status(); st["state"] != "disconnected" || st["ready"] != false {
		t.Errorf("status while down: %v", st)
	}
}

func TestConnectorBase(t *testing.T) {
	for in, want := range map[string]string{
		"https://connector.example":            "https://connector.example",
		"https://connector.example/":           "https://connector.example",
		"wss://connector.example/relay":        "https://connector.example",
		"http://127.0.0.1:8080/base/relay":     "http://127.0.0.1:8080/base",
		"ws://127.0.0.1:9/relay/":              "http://127.0.0.1:9",
		"  https://connector.example/tenant  ": "https://connector.example/tenant",
	} {
		if got := ConnectorBase(in); got != want {
			t.Errorf("ConnectorBase(%q) = %q, want %q", in, got, want)
		}
	}
}

var promptIDShape = regexp.MustCompile(`^[0-9a-f]{6}\.[0-9a-f]{8}$`)

// documentedStatus are the status codes Call may answer.
var documentedStatus = map[int]bool{200: true, 400: true, 404: true, 409: true, 502: true, 503: true}

// FuzzCall feeds arbitrary bodies to every endpoint: Call never panics, its
// status is a documented one, every answer carries success, and a refused
// request (4xx) sends nothing.
func FuzzCall(f *testing.F) {
	for _, seed := range []string{
		`{"op":"send","chat_id":"c1","content":"hello"}`,
		`{"op":"send","chat_id":"c1","content":"` + strings.Repeat("long line of text ", 20) + `","reply_to":"m"}`,
		`{"op":"prompt","chat_id":"c1","content":"ok?","options":[{"id":"y","label":"Y"}],"timeout_s":5}`,
		`{"op":"send_media","chat_id":"c1","media_kind":"image","source_url":"https://x/y","fallback":"text"}`,
		`{"op":"follow_up","session_key":"agent:main:discord:dm:c1","kind":"discord.interaction_token","content":"x"}`,
		`{"op":"draft","chat_id":"c1","draft_id":1,"content":"x","final":true,"platform":"discord","bot_id":"b"}`,
		`{"op":"typing","chat_id":"t1","metadata":{"a":[1,{"b":null}]}}`,
		`{"event_id":"e1","content":"reply"}`,
		`{"session_key":"k","reason":"stop"}`,
		"{\"op\":\"send\",\"chat_id\":\"c1\",\"content\":\"\xff\"}",
		`{"op":"send","chat_id":"c1","content":"\ud800"}`,
		`[1,2]`, `null`, `{"op":{}}`, ``,
	} {
		for _, ep := range []uint8{0, 1, 2} {
			f.Add(ep, []byte(seed))
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		endpoint := []string{EndpointActions, EndpointReply, EndpointInterrupt}[int(which)%3]
		d := discordDesc()
		d.MaxMessageLength = 50
		link := newFakeLink(d, telegramDesc())
		link.answer = func(f frame) relay.OutboundResult {
			if stringOf(f.Action["chat_id"]) == "fail" {
				return failWith("no", "")
			}
			return echo(f)
		}
		s, err := New(Config{Link: link, Identities: testIdentities, AllowUnknownOps: which >= 128})
		if err != nil {
			t.Fatal(err)
		}
		s.Remember(discordEvent("c1", "x"), "e1", "app1")
		status, answer := s.Call(context.Background(), endpoint, body)
		if !documentedStatus[status] {
			t.Fatalf("status %d is not documented: %v", status, answer)
		}
		if _, ok := answer["success"].(bool); !ok {
			t.Fatalf("answer without success: %v", answer)
		}
		if status >= 400 && status < 500 && len(link.sentFrames()) > 0 {
			t.Fatalf("status %d but %d frames sent", status, len(link.sentFrames()))
		}
		if _, err := json.Marshal(answer); err != nil {
			t.Fatalf("answer does not encode: %v", err)
		}
	})
}
