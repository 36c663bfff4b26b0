package agentapi

import (
	"context"
	"net/http"
	"sync"
	"testing"

	"github.com/relayhost/relay-host/host/relay"
	"github.com/relayhost/relay-host/pluginapi"
)

// recordingEgress is a plugin's egress that records what it is given.
type recordingEgress struct {
	mu      sync.Mutex
	actions []map[string]any
	botIDs  []string
}

func (e *recordingEgress) Outbound(_ context.Context, action map[string]any, platform, botID string) relay.OutboundResult {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.actions = append(e.actions, action)
	e.botIDs = append(e.botIDs, botID)
	return relay.OutboundResult{Success: true, MessageID: "gh-" + platform, Raw: map[string]any{"success": true, "message_id": "gh-" + platform}}
}

// TestPluginEgress routes actions for a platform whose egress a plugin owns
// to the plugin (even while the connector link is down), and everything
// else to the connector.
func TestPluginEgress(t *testing.T) {
	link := newFakeLink(relay.Descriptor{Platform: "discord", SupportedOps: []string{"send", "follow_up"}, MaxMessageLength: 2000})
	eg := &recordingEgress{}
	s := newService(t, link, func(c *Config) {
		c.Egress = func(platform string) (Egress, bool) { return eg, platform == "github" }
	})
	src := pluginapi.SessionSource{Platform: "github", ChatID: "octo/repo#1", ChatType: pluginapi.ChatTypeGroup, UserID: "octocat"}
	ev := pluginapi.MessageEvent{Text: "hi", Source: src, SessionKey: pluginapi.SessionKey(src), EgressKind: "github.comment"}
	s.Remember(ev, "ev-gh", "relay-bot")
	link.mu.Lock()
	link.ready = false // the connector is away: plugin egress does not need it
	link.mu.Unlock()

	if status, answer := call(t, s, EndpointActions, `{"op":"send","chat_id":"octo/repo#1","content":"from the agent","metadata":{}}`); status != http.StatusOK || answer["message_id"] != "gh-github" {
		t.Fatalf("send to a github chat: %d %v", status, answer)
	}
	if status, answer := s.Reply(context.Background(), ev, "one-line reply"); status != http.StatusOK || answer["message_id"] != "gh-github" {
		t.Fatalf("reply to a github event: %d %v", status, answer)
	}
	eg.mu.Lock()
	if len(eg.actions) != 2 || eg.actions[0]["op"] != "send" || eg.actions[1]["op"] != "follow_up" || eg.actions[1]["kind"] != "github.comment" {
		t.Errorf("plugin got %v", eg.actions)
	}
	if eg.botIDs[0] != "relay-bot" {
		t.Errorf("bot id %q, want the identity the chat's event came to", eg.botIDs[0])
	}
	if md, _ := eg.actions[0]["metadata"].(map[string]any); md["user_id"] != "octocat" {
		t.Errorf("plugin action not enriched: %v", eg.actions[0])
	}
	eg.mu.Unlock()
	// A discord chat still goes to the connector (which is down here).
	if status, _ := call(t, s, EndpointActions, `{"op":"send","chat_id":"unknown-chat","content":"x","metadata":{}}`); status != http.StatusServiceUnavailable {
		t.Errorf("send to a connector chat while the link is down: %d, want 503", status)
	}
	if len(link.frames) != 0 {
		t.Errorf("the connector got %v", link.frames)
	}
}
