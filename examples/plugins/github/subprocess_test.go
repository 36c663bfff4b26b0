package main

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/relayhost/relay-host/pluginapi"
	"github.com/relayhost/relay-host/pluginapi/plugintest"
)

// TestAsASubprocess builds the plugin binary and drives it exactly as
// relay-host does (go-plugin, gRPC with AutoMTLS, the environment
// allowlist): configuration with secrets over the link, a recorded
// delivery, and the reply posted to a fake GitHub on loopback.
func TestAsASubprocess(t *testing.T) {
	gh := newFakeGitHub(t)
	h := plugintest.Start(t, plugintest.Build(t, ".", "-trimpath"))
	if info := h.Info(); info.Name != "github" || info.SDKVersion != pluginapi.SDKVersion || info.Config == nil {
		t.Fatalf("Info() = %+v", info)
	}
	if err := h.Configure(t, map[string]any{"api_base_url": gh.URL, "bot_login": "relay-bot"},
		map[string]string{"webhook_secret": testSecret, "api_token": "ghp_sub"}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := h.CheckHealth(ctx); err != nil {
		t.Fatalf("health: %v", err)
	}
	f := plugintest.RequestFromFile(t, platform, filepath.Join("testdata", "issue_comment-created.http"))
	res, err := h.Forward(ctx, f)
	if err != nil || res.Disposition != pluginapi.Handled || len(res.Events) != 1 {
		t.Fatalf("recorded delivery: %+v %v", res, err)
	}
	plugintest.Check(t, res, f)
	ev := res.Events[0]
	ar := h.Action(ctx, platform, "relay-bot", map[string]any{"op": "follow_up", "session_key": ev.SessionKey, "kind": ev.EgressKind, "content": "on it"})
	if !ar.Success || ar.MessageID == "" {
		t.Fatalf("reply: %+v", ar)
	}
	if got := gh.posted(); len(got) != 1 || got[0].Body != "on it" || got[0].Auth != "Bearer ghp_sub" {
		t.Fatalf("GitHub got %+v", got)
	}
}
