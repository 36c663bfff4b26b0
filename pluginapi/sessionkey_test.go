package pluginapi

import "testing"

func TestSessionKey(t *testing.T) {
	tests := []struct {
		name string
		src  SessionSource
		want string
	}{
		{"guild channel isolates the user", SessionSource{Platform: "discord", ChatType: "group", ChatID: "chanA", UserID: "userX", ScopeID: "guild1"}, "agent:main:discord:group:chanA:userX"},
		{"thread is shared by its participants", SessionSource{Platform: "discord", ChatType: "thread", ChatID: "thr1", ThreadID: "thr1", UserID: "userX", ParentChatID: "chanA"}, "agent:main:discord:thread:thr1:thr1"},
		{"DM is keyed by the chat", SessionSource{Platform: "discord", ChatType: "dm", ChatID: "dm9", UserID: "userX"}, "agent:main:discord:dm:dm9"},
		{"DM with empty chat id falls back to the user", SessionSource{Platform: "discord", ChatType: "dm", UserID: "userX"}, "agent:main:discord:dm:userX"},
		{"DM with empty chat id and a thread", SessionSource{Platform: "discord", ChatType: "dm", UserID: "userX", ThreadID: "t1"}, "agent:main:discord:dm:userX:t1"},
		{"DM thread", SessionSource{Platform: "telegram", ChatType: "dm", ChatID: "c1", ThreadID: "t1", UserID: "u"}, "agent:main:telegram:dm:c1:t1"},
		{"DM with nothing", SessionSource{Platform: "discord", ChatType: "dm"}, "agent:main:discord:dm"},
		{"group without a user", SessionSource{Platform: "discord", ChatType: "group", ChatID: "chanA"}, "agent:main:discord:group:chanA"},
		{"profile main is marked", SessionSource{Platform: "discord", ChatType: "group", ChatID: "c", UserID: "u", Profile: "main"}, "agent:main~:discord:group:c:u"},
		{"named profile gets its namespace", SessionSource{Platform: "discord", ChatType: "group", ChatID: "c", UserID: "u", Profile: "reviewer"}, "agent:reviewer:discord:group:c:u"},
		{"profile default is the main namespace", SessionSource{Platform: "discord", ChatType: "group", ChatID: "c", UserID: "u", Profile: "default"}, "agent:main:discord:group:c:u"},
		{"scope is not part of the key", SessionSource{Platform: "discord", ChatType: "group", ChatID: "c", UserID: "u", ScopeID: "other-guild"}, "agent:main:discord:group:c:u"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SessionKey(tt.src); got != tt.want {
				t.Errorf("SessionKey(%+v)\n got %q\nwant %q", tt.src, got, tt.want)
			}
		})
	}
}

func TestProfileFromSessionKey(t *testing.T) {
	for key, want := range map[string]string{
		"agent:main:discord:group:c:u":     "",
		"agent:main~:discord:group:c:u":    "main",
		"agent:reviewer:discord:group:c:u": "reviewer",
		"not-a-key":                        "",
	} {
		if got := ProfileFromSessionKey(key); got != want {
			t.Errorf("ProfileFromSessionKey(%q) = %q, want %q", key, got, want)
		}
	}
}

func TestParseMessageType(t *testing.T) {
	for in, want := range map[string]MessageType{"command": MessageTypeCommand, "photo": MessageTypePhoto, "image": MessageTypeText, "": MessageTypeText} {
		if got := ParseMessageType(in); got != want {
			t.Errorf("ParseMessageType(%q) = %q, want %q", in, got, want)
		}
	}
}
