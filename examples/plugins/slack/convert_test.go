package main

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/relayhost/relay-host/pluginapi"
	"github.com/relayhost/relay-host/pluginapi/plugintest"
)

// formType is the content-type header the connector forwards with a slash
// command.
const formType = "application/x-www-form-urlencoded"

// sample reads a request body from testdata/ (see testdata/README.md).
func sample(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatalf("read sample: %v", err)
	}
	return b
}

// send forwards body to the plugin as the connector would: a POST with the
// given content-type ("" for none) and agent profile.
func send(tb testing.TB, h *plugintest.Harness, body []byte, contentType, profile string) pluginapi.Result {
	tb.Helper()
	f := pluginapi.Forward{Platform: "slack", BotID: "A123456", Method: "POST", Path: "/slack/commands", Body: body, Profile: profile}
	if contentType != "" {
		f.Headers = []pluginapi.Header{{Name: "content-type", Value: contentType}}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := h.Forward(ctx, f)
	if err != nil {
		tb.Fatalf("forward: %v", err)
	}
	return res
}

func TestSlashCommandBecomesOneCommandEvent(t *testing.T) {
	h := plugintest.New(t, slack{})
	tests := []struct {
		name, file, profile string
		text, chatType      string
		chatName, scope     string
		sessionKey          string
		meta                map[string]any // compared whole when non-nil
	}{
		{
			name: "channel command has a session per user", file: "weather.txt",
			text: "/weather 94070", chatType: "group", chatName: "test", scope: "T0001",
			sessionKey: "agent:main:slack:group:C2147483705:U2147483697",
			meta: map[string]any{
				"slack_command": "/weather", "slack_team_id": "T0001", "slack_team_domain": "example",
				"slack_enterprise_id": "E0001", "slack_enterprise_name": "Globular Construct Inc",
				"slack_api_app_id": "A123456",
			},
		},
		{
			name: "private channel command with empty text is the bare command", file: "webhook-collect.txt",
			text: "/webhook-collect", chatType: "group", chatName: "foobar", scope: "T1DC2JH3J",
			sessionKey: "agent:main:slack:group:G8PSS9T3V:U2CERLKJA",
			meta: map[string]any{
				"slack_command": "/webhook-collect", "slack_team_id": "T1DC2JH3J", "slack_team_domain": "testteamnow",
			},
		},
		{
			name: "direct message has a session per channel", file: "directmessage.txt",
			text: "/weather 94070", chatType: "dm", chatName: "directmessage", scope: "T0001",
			sessionKey: "agent:main:slack:dm:D2147483705",
		},
		{
			name: "enterprise install is scoped to the enterprise, workspace kept in metadata", file: "enterprise-install.txt",
			text: "/weather 94070", chatType: "group", chatName: "test", scope: "E0001",
			sessionKey: "agent:main:slack:group:C2147483705:U2147483697",
			meta: map[string]any{
				"slack_command": "/weather", "slack_team_id": "T0001", "slack_team_domain": "example",
				"slack_enterprise_id": "E0001", "slack_enterprise_name": "Globular Construct Inc",
				"slack_api_app_id": "A123456", "slack_is_enterprise_install": true,
			},
		},
		{
			name: "escaped text and mentions pass through as Slack sent them", file: "escaped-text.txt",
			text:     "/ask what did <@U2147483697|steve> say in <#C2147483705|test>? R&amp;D &lt;3",
			chatType: "group", chatName: "test", scope: "T0001",
			sessionKey: "agent:main:slack:group:C2147483705:U2147483697",
		},
		{
			name: "profile names the session namespace", file: "weather.txt", profile: "reviewer",
			text: "/weather 94070", chatType: "group", chatName: "test", scope: "T0001",
			sessionKey: "agent:reviewer:slack:group:C2147483705:U2147483697",
		},
		{
			name: "profile literally named main gets the escaped namespace", file: "directmessage.txt", profile: "main",
			text: "/weather 94070", chatType: "dm", chatName: "directmessage", scope: "T0001",
			sessionKey: "agent:main~:slack:dm:D2147483705",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := sample(t, tt.file)
			form, err := url.ParseQuery(string(body))
			if err != nil {
				t.Fatalf("sample is not a form: %v", err)
			}
			res := send(t, h, body, formType, tt.profile)
			if res.Disposition != pluginapi.Handled || len(res.Events) != 1 {
				t.Fatalf("got %s with %d events (reason %q), want handled with 1 event", res.Disposition, len(res.Events), res.Reason)
			}
			ev := res.Events[0]
			want := pluginapi.SessionSource{
				Platform: "slack", ChatID: form.Get("channel_id"), ChatName: tt.chatName, ChatType: tt.chatType,
				UserID: form.Get("user_id"), UserName: form.Get("user_name"), ScopeID: tt.scope,
				Profile: tt.profile, DeliveredViaUpstreamRelay: true,
			}
			if ev.Source != want {
				t.Errorf("source:\n got %+v\nwant %+v", ev.Source, want)
			}
			if ev.Text != tt.text || ev.MessageType != pluginapi.MessageTypeCommand {
				t.Errorf("text %q (%s), want %q (command)", ev.Text, ev.MessageType, tt.text)
			}
			if ev.SessionKey != tt.sessionKey || ev.SessionKey != pluginapi.SessionKey(ev.Source) {
				t.Errorf("session key %q, want %q (= pluginapi.SessionKey of the source)", ev.SessionKey, tt.sessionKey)
			}
			if ev.MessageID != form.Get("trigger_id") || ev.MessageID == "" {
				t.Errorf("message_id %q, want the trigger_id %q", ev.MessageID, form.Get("trigger_id"))
			}
			if ev.EgressKind != "slack.response_url" {
				t.Errorf("egress kind %q, want slack.response_url", ev.EgressKind)
			}
			if tt.meta != nil && !reflect.DeepEqual(ev.Metadata, tt.meta) {
				t.Errorf("metadata:\n got %v\nwant %v", ev.Metadata, tt.meta)
			}
		})
	}
}

func TestRequestsThatAreNotSlashCommands(t *testing.T) {
	h := plugintest.New(t, slack{})
	tests := []struct {
		name        string
		body        []byte
		contentType string
		want        pluginapi.Disposition
		reason      string // a substring of the reason
	}{
		{"ssl_check ping is dropped", sample(t, "ssl-check.txt"), formType, pluginapi.Dropped, "ssl_check"},
		{"url_verification is dropped", sample(t, "url-verification.json"), "application/json", pluginapi.Dropped, "url_verification"},
		{"url_verification without a content-type is dropped", sample(t, "url-verification.json"), "", pluginapi.Dropped, "url_verification"},
		{"interactivity payload is dropped as not supported", sample(t, "block-actions.txt"), formType, pluginapi.Dropped, `"block_actions" is not supported`},
		{"interactivity type that is not a plain name is not quoted", []byte(`payload=%7B%22type%22%3A%22%3Cb%3E%22%7D`), formType, pluginapi.Dropped, "(unrecognised)"},
		{"form-encoded with charset is accepted", sample(t, "weather.txt"), formType + "; charset=utf-8", pluginapi.Handled, ""},
		{"no content-type is accepted", sample(t, "weather.txt"), "", pluginapi.Handled, ""},
		{"final newline in a sample file is ignored", append(sample(t, "weather.txt"), '\n'), formType, pluginapi.Handled, ""},
		{"empty body is rejected", nil, formType, pluginapi.Rejected, "no command field"},
		{"form without command is rejected", []byte("team_id=T1&channel_id=C1&user_id=U1"), formType, pluginapi.Rejected, "no command field"},
		{"bad percent-escape is rejected", []byte("command=%2Fa&channel_id=C1&user_id=U1&text=%zz"), formType, pluginapi.Rejected, "not valid application/x-www-form-urlencoded"},
		{"semicolon separator is rejected", []byte("command=%2Fa;channel_id=C1"), formType, pluginapi.Rejected, "not valid application/x-www-form-urlencoded"},
		{"wrong content-type is rejected", sample(t, "weather.txt"), "text/plain", pluginapi.Rejected, "content-type is text/plain"},
		{"malformed content-type is rejected", sample(t, "weather.txt"), "/", pluginapi.Rejected, "not a valid media type"},
		{"Events API callback is rejected", []byte(`{"token":"x","type":"event_callback","event":{}}`), "application/json", pluginapi.Rejected, `type "event_callback"`},
		{"JSON that is not an object is rejected", []byte(`[1,2]`), "application/json", pluginapi.Rejected, "not a JSON object"},
		{"interactivity payload that is not JSON is rejected", []byte("payload=nope"), formType, pluginapi.Rejected, "payload field is not a JSON object"},
		{"command and payload together are rejected", []byte("command=%2Fa&payload=%7B%7D"), formType, pluginapi.Rejected, "both command and payload"},
		{"command without a slash is rejected", []byte("command=weather&channel_id=C1&user_id=U1"), formType, pluginapi.Rejected, "want /name"},
		{"repeated field is rejected", []byte("command=%2Fa&command=%2Fb&channel_id=C1&user_id=U1"), formType, pluginapi.Rejected, "command appears 2 times"},
		{"invalid UTF-8 is rejected", []byte("command=%2Fa&text=%FF&channel_id=C1&user_id=U1"), formType, pluginapi.Rejected, "text is not valid UTF-8"},
		{"missing channel_id is rejected", []byte("command=%2Fa&user_id=U1"), formType, pluginapi.Rejected, "no channel_id"},
		{"missing user_id is rejected", []byte("command=%2Fa&channel_id=C1"), formType, pluginapi.Rejected, "no user_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := send(t, h, tt.body, tt.contentType, "")
			if res.Disposition != tt.want || !strings.Contains(res.Reason, tt.reason) {
				t.Fatalf("got %s (%q), want %s with a reason containing %q", res.Disposition, res.Reason, tt.want, tt.reason)
			}
			if tt.want != pluginapi.Handled && (res.Reason == "" || len(res.Events) != 0) {
				t.Fatalf("a %s result needs a reason and no events, got %q and %d events", res.Disposition, res.Reason, len(res.Events))
			}
		})
	}
}

// credentials returns the credential values in a sample: the verification
// token and the response_url, whether top-level form fields, inside an
// interactivity payload, or in a JSON body.
func credentials(tb testing.TB, body []byte) []string {
	tb.Helper()
	fromJSON := func(s string) []string {
		var m struct {
			Token       string `json:"token"`
			ResponseURL string `json:"response_url"`
		}
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			tb.Fatalf("sample JSON: %v", err)
		}
		return []string{m.Token, m.ResponseURL}
	}
	var out []string
	if looksLikeJSON(body) {
		out = fromJSON(string(body))
	} else {
		form, err := url.ParseQuery(string(body))
		if err != nil {
			tb.Fatalf("sample form: %v", err)
		}
		out = []string{form.Get("token"), form.Get("response_url")}
		if p := form.Get("payload"); p != "" {
			out = append(out, fromJSON(p)...)
		}
	}
	var nonEmpty []string
	for _, s := range out {
		if s != "" {
			nonEmpty = append(nonEmpty, s)
		}
	}
	return nonEmpty
}

func TestCredentialsNeverReachTheResult(t *testing.T) {
	h := plugintest.New(t, slack{})
	files, err := filepath.Glob(filepath.Join("testdata", "*.*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range files {
		name := filepath.Base(path)
		if name == "README.md" {
			continue
		}
		t.Run(name, func(t *testing.T) {
			body := sample(t, name)
			creds := credentials(t, body)
			if len(creds) == 0 {
				t.Fatal("sample has no credential to check for")
			}
			for _, profile := range []string{"", "reviewer"} {
				out, err := json.Marshal(send(t, h, body, "", profile))
				if err != nil {
					t.Fatal(err)
				}
				for _, c := range creds {
					if strings.Contains(string(out), c) {
						t.Errorf("result JSON contains the credential %q:\n%s", c, out)
					}
				}
				if strings.Contains(string(out), "hooks.slack.com") {
					t.Errorf("result JSON contains a response_url host:\n%s", out)
				}
			}
		})
	}
}
