package agentapi

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/relayhost/relay-host/host/relay"
	"github.com/relayhost/relay-host/pluginapi"
)

// asyncFakeLink is fakeLink with OutboundAsync: the result is given to the
// callback from another goroutine, as the link's reader would.
type asyncFakeLink struct {
	*fakeLink
	async int // frames sent through OutboundAsync
}

func (l *asyncFakeLink) OutboundAsync(action any, platform, botID string, done func(relay.OutboundResult)) {
	l.mu.Lock()
	l.async++
	l.mu.Unlock()
	go func() { done(l.Outbound(context.Background(), action, platform, botID)) }()
}

// TestReplyAsyncAnswersAsReplyDoes checks that the host's asynchronous
// reply takes the common case without waiting and answers it as Reply
// would (the same ops, status and fallback), and that it declines, without
// sending, every case Reply handles otherwise.
func TestReplyAsyncAnswersAsReplyDoes(t *testing.T) {
	interaction := discordEvent("c1", "/ask")
	interaction.EgressKind = pluginapi.EgressDiscordInteractionToken
	chat := discordEvent("c2", "hello")
	failFollowUp := func(f frame) relay.OutboundResult {
		if f.op() == "follow_up" {
			return failWith("interaction token expired", "")
		}
		return echo(f)
	}
	tests := []struct {
		name     string
		ev       pluginapi.MessageEvent
		text     string
		answer   func(frame) relay.OutboundResult
		ops      []string // nil: declined
		status   int
		fallback bool
	}{
		{name: "interaction: follow_up", ev: interaction, text: "answer", ops: []string{"follow_up"}, status: 200},
		{name: "chat: send", ev: chat, text: "answer", ops: []string{"send"}, status: 200},
		{name: "definite follow_up failure falls back to a send", ev: interaction, text: "answer", answer: failFollowUp,
			ops: []string{"follow_up", "send"}, status: 200, fallback: true},
		{name: "several parts: declined", ev: chat, text: strings.Repeat("x", 2001)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			link := &asyncFakeLink{fakeLink: newFakeLink(discordDesc())}
			link.answer = tc.answer
			s, err := New(Config{Link: link, Identities: testIdentities})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close(context.Background())
			s.Remember(tc.ev, "discord:e/0", "app1")
			type result struct {
				status int
				answer map[string]any
			}
			got := make(chan result, 1)
			sent := s.ReplyAsync(tc.ev, tc.text, func(status int, answer map[string]any) { got <- result{status, answer} })
			if tc.ops == nil {
				if sent || len(link.sentFrames()) != 0 {
					t.Fatalf("ReplyAsync took %q (sent %v); want it declined, nothing sent", tc.name, link.sentFrames())
				}
				return
			}
			if !sent {
				t.Fatal("ReplyAsync declined the common case")
			}
			var r result
			select {
			case r = <-got:
			case <-time.After(10 * time.Second):
				t.Fatal("done was never called")
			}
			var ops []string
			for _, f := range link.sentFrames() {
				ops = append(ops, f.op())
			}
			if strings.Join(ops, ",") != strings.Join(tc.ops, ",") || r.status != tc.status || (r.answer["fallback"] == "send") != tc.fallback {
				t.Errorf("ops %v, status %d, answer %v; want ops %v, status %d, fallback %v", ops, r.status, r.answer, tc.ops, tc.status, tc.fallback)
			}
			if link.async != 1 {
				t.Errorf("%d frames went through OutboundAsync, want the first one only", link.async)
			}
		})
	}
	t.Run("a link without OutboundAsync: declined", func(t *testing.T) {
		link := newFakeLink(discordDesc())
		s := newService(t, link)
		s.Remember(chat, "discord:e/0", "app1")
		if s.ReplyAsync(chat, "answer", func(int, map[string]any) { t.Error("done called") }) {
			t.Error("ReplyAsync took a reply over a link that cannot send asynchronously")
		}
	})
}
