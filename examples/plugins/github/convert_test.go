package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/relayhost/relay-host/pluginapi"
	"github.com/relayhost/relay-host/pluginapi/plugintest"
)

// testSecret is the webhook secret of GitHub's signature example.
const testSecret = "It's a Secret to Everybody"

func TestSignatureVector(t *testing.T) {
	const want = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
	if !verify([]byte(testSecret), []byte("Hello, World!"), want) {
		t.Fatal("GitHub's documented signature does not verify")
	}
	if verify([]byte(testSecret), []byte("Hello, World?"), want) || verify([]byte(testSecret), []byte("Hello, World!"), "sha1=00") {
		t.Fatal("a wrong body or a non-sha256 header verified")
	}
}

// sign returns the X-Hub-Signature-256 of body under secret.
func sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

func sample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// delivery is a forward of body as GitHub delivers event.
func delivery(event string, body []byte, signature string) pluginapi.Forward {
	h := []pluginapi.Header{{Name: "content-type", Value: "application/json"},
		{Name: "x-github-delivery", Value: "72d3162e-cc78-11e3-81ab-4c9367dc0958"}, {Name: "x-github-event", Value: event}}
	if signature != "" {
		h = append(h, pluginapi.Header{Name: "x-hub-signature-256", Value: signature})
	}
	return pluginapi.Forward{Platform: platform, BotID: "relay-bot", Method: "POST", Path: "/webhooks/github", Headers: h, Body: body}
}

// configured starts the plugin in-process and configures it.
func configured(t *testing.T, settings map[string]any, secrets map[string]string) *plugintest.Harness {
	t.Helper()
	h := plugintest.New(t, newPlugin())
	if secrets == nil {
		secrets = map[string]string{"webhook_secret": testSecret + "\n", "api_token": "ghp_test"}
	}
	if err := h.Configure(t, settings, secrets); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	return h
}

func TestConvert(t *testing.T) {
	h := configured(t, map[string]any{"repos": []string{"Codertocat/Hello-World", "Octocoders/Hello-World"}, "bot_login": "relay-bot"}, nil)
	comment := sample(t, "issue_comment-created.json")
	tests := []struct {
		name        string
		f           pluginapi.Forward
		disposition pluginapi.Disposition
		reason      string // a substring of the reason
		golden      string
	}{
		{"new comment", delivery("issue_comment", comment, sign(testSecret, comment)), pluginapi.Handled, "", "issue_comment-created"},
		{"new issue", delivery("issues", sample(t, "issues-opened.json"), sign(testSecret, sample(t, "issues-opened.json"))), pluginapi.Handled, "", "issues-opened"},
		{"recorded delivery", plugintest.RequestFromFile(t, platform, filepath.Join("testdata", "issue_comment-created.http")), pluginapi.Handled, "", "issue_comment-created"},
		{"ping", delivery("ping", sample(t, "ping.json"), sign(testSecret, sample(t, "ping.json"))), pluginapi.Dropped, "webhook is set up", ""},
		{"the bot's own comment", delivery("issue_comment", sample(t, "issue_comment-created-by-bot.json"), sign(testSecret, sample(t, "issue_comment-created-by-bot.json"))), pluginapi.Dropped, "bot_login", ""},
		{"edited comment", delivery("issue_comment", []byte(strings.Replace(string(comment), `"created"`, `"edited"`, 1)), sign(testSecret, []byte(strings.Replace(string(comment), `"created"`, `"edited"`, 1)))), pluginapi.Dropped, "issue_comment edited", ""},
		{"other event", delivery("push", comment, sign(testSecret, comment)), pluginapi.Dropped, "push deliveries", ""},
		{"wrong signature", delivery("issue_comment", comment, sign("another secret", comment)), pluginapi.Rejected, "X-Hub-Signature-256", ""},
		{"no signature", delivery("issue_comment", comment, ""), pluginapi.Rejected, "X-Hub-Signature-256", ""},
		{"no event header", pluginapi.Forward{Platform: platform, Headers: []pluginapi.Header{{Name: "x-hub-signature-256", Value: sign(testSecret, comment)}}, Body: comment}, pluginapi.Rejected, "X-GitHub-Event", ""},
		{"not JSON", delivery("issue_comment", []byte("nope"), sign(testSecret, []byte("nope"))), pluginapi.Rejected, "not a GitHub webhook payload", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), plugintest.ForwardTimeout)
			defer cancel()
			res, err := h.Forward(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			if res.Disposition != tt.disposition || !strings.Contains(res.Reason, tt.reason) {
				t.Fatalf("got %s %q, want %s with %q", res.Disposition, res.Reason, tt.disposition, tt.reason)
			}
			plugintest.Check(t, res, tt.f)
			if tt.golden != "" {
				plugintest.Golden(t, filepath.Join("testdata", "golden", tt.golden+".json"), res)
			}
		})
	}
}

func TestAllowlist(t *testing.T) {
	h := configured(t, map[string]any{"repos": []string{"octo-org/other"}}, nil)
	comment := sample(t, "issue_comment-created.json")
	res := h.Body(t, platform, comment) // unsigned: refused before anything else
	if res.Disposition != pluginapi.Rejected {
		t.Fatalf("unsigned: %+v", res)
	}
	ctx := context.Background()
	res, err := h.Forward(ctx, delivery("issue_comment", comment, sign(testSecret, comment)))
	if err != nil || res.Disposition != pluginapi.Dropped || !strings.Contains(res.Reason, "not in the repos allowlist") {
		t.Fatalf("repository outside the allowlist: %+v %v", res, err)
	}
}

func TestConfigurationRefused(t *testing.T) {
	h := plugintest.New(t, newPlugin())
	for name, tt := range map[string]struct {
		settings map[string]any
		secrets  map[string]string
		want     string
	}{
		"no webhook secret": {nil, map[string]string{}, "webhook_secret"},
		"empty secret":      {nil, map[string]string{"webhook_secret": "\n"}, "webhook_secret"},
		"bad base URL":      {map[string]any{"api_base_url": "ftp://x"}, map[string]string{"webhook_secret": "s"}, "api_base_url"},
		"bad repo":          {map[string]any{"repos": []string{"justaname"}}, map[string]string{"webhook_secret": "s"}, "owner/name"},
		"unknown setting":   {map[string]any{"repo": "x/y"}, map[string]string{"webhook_secret": "s"}, `unknown field "repo"`},
	} {
		if err := h.Configure(t, tt.settings, tt.secrets); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Configure = %v, want a refusal mentioning %q", name, err, tt.want)
		}
	}
	// Refused configurations left the plugin unconfigured: it says so.
	if err := h.CheckHealth(context.Background()); err == nil || !strings.Contains(err.Error(), "not configured") {
		t.Errorf("health after refusals = %v", err)
	}
	if res := h.Body(t, platform, []byte("{}")); res.Disposition != pluginapi.Rejected || !strings.Contains(res.Reason, "no configuration") {
		t.Errorf("forward before any configuration: %+v", res)
	}
}

func TestChatIDs(t *testing.T) {
	owner, name, n, ok := parseChatID(chatID("Codertocat/Hello-World", 12))
	if !ok || owner != "Codertocat" || name != "Hello-World" || n != 12 {
		t.Errorf("round trip: %s %s %d %v", owner, name, n, ok)
	}
	for _, bad := range []string{"", "a/b", "a#1", "/b#1", "a/b#x", "a/b#0", "a/b/c#1"} {
		if _, _, _, ok := parseChatID(bad); ok {
			t.Errorf("%q parsed", bad)
		}
	}
	src := pluginapi.SessionSource{Platform: platform, ChatType: pluginapi.ChatTypeGroup, ChatID: "o/r#3", UserID: "u", Profile: "reviewer"}
	if got, ok := chatFromSessionKey(pluginapi.SessionKey(src)); !ok || got != "o/r#3" {
		t.Errorf("chat from session key: %q %v", got, ok)
	}
}
