package agentapi

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/relayhost/relay-host/host/relay"
	"github.com/relayhost/relay-host/pluginapi"
)

func reactionsOn(c *Config) { c.Reactions = true }

func closeNow(t *testing.T, s *Service) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestAroundReactions(t *testing.T) {
	tests := []struct {
		name      string
		desc      relay.Descriptor
		event     pluginapi.MessageEvent
		deliver   error
		wantFinal string
	}{
		{"success on discord: ✅", discordDesc(), discordEvent("c1", "hi"), nil, EmojiDone},
		{"failure on discord: ❌", discordDesc(), discordEvent("c1", "hi"), errors.New("agent down"), EmojiFailed},
		{"success on telegram: 👍", telegramDesc(), pluginapi.MessageEvent{MessageID: "7",
			Source: pluginapi.SessionSource{Platform: "telegram", ChatID: "t1"}}, nil, EmojiDoneTelegram},
		{"failure on telegram: 👎", telegramDesc(), pluginapi.MessageEvent{MessageID: "7",
			Source: pluginapi.SessionSource{Platform: "telegram", ChatID: "t1"}}, errors.New("x"), EmojiFailedTelegram},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			link := newFakeLink(tc.desc)
			s := newService(t, link, reactionsOn)
			called := false
			err := s.Around(context.Background(), tc.event, func(context.Context) error {
				called = true
				return tc.deliver
			})
			if !called || !errors.Is(err, tc.deliver) {
				t.Fatalf("deliver called %v, Around returned %v, want %v", called, err, tc.deliver)
			}
			msgID := tc.event.MessageID
			want := []struct {
				emoji  string
				remove bool
			}{{EmojiWorking, false}, {EmojiWorking, true}, {tc.wantFinal, false}}
			for i, w := range want {
				f := link.wait(t)
				if f.op() != "react" || f.Action["emoji"] != w.emoji || f.Action["remove"] != w.remove ||
					f.Action["message_id"] != msgID || f.Action["chat_id"] != tc.event.Source.ChatID {
					t.Fatalf("frame %d: %v, want react %s remove=%v on %s", i, f.Action, w.emoji, w.remove, msgID)
				}
				if deref(f.Platform) != tc.desc.Platform {
					t.Errorf("frame %d tagged %q, want %q", i, deref(f.Platform), tc.desc.Platform)
				}
			}
			closeNow(t, s)
			if n := len(link.sentFrames()); n != 3 {
				t.Errorf("%d frames, want 3", n)
			}
		})
	}
}

func TestAroundSignalsDecision(t *testing.T) {
	slash := discordEvent("c1", "/ask")
	slash.MessageType = pluginapi.MessageTypeCommand
	interaction := discordEvent("c1", "pressed")
	interaction.EgressKind = pluginapi.EgressDiscordInteractionToken
	noMsg := discordEvent("c1", "x")
	noMsg.MessageID = ""
	noChat := discordEvent("", "x")
	tests := []struct {
		name              string
		desc              relay.Descriptor
		reactions, typing bool
		event             pluginapi.MessageEvent
		down              bool
		wantReact         bool
		wantTyping        bool
	}{
		{"chat message, both on and advertised", discordDesc(), true, true, discordEvent("c1", "x"), false, true, true},
		{"slash command: no reactions", discordDesc(), true, true, slash, false, false, true},
		{"interaction: neither (the connector shows thinking…)", discordDesc(), true, true, interaction, false, false, false},
		{"no message id: no reactions", discordDesc(), true, true, noMsg, false, false, true},
		{"no chat: nothing", discordDesc(), true, true, noChat, false, false, false},
		{"react not advertised", discordDesc("send", "typing"), true, true, discordEvent("c1", "x"), false, false, true},
		{"typing not advertised", discordDesc("send", "react"), true, true, discordEvent("c1", "x"), false, true, false},
		{"legacy set has typing, not react", discordDesc([]string{}...), true, true, discordEvent("c1", "x"), false, false, true},
		{"both off", discordDesc(), false, false, discordEvent("c1", "x"), false, false, false},
		{"link down", discordDesc(), true, true, discordEvent("c1", "x"), true, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			link := newFakeLink(tc.desc)
			link.setReady(!tc.down)
			s := newService(t, link, func(c *Config) { c.Reactions, c.Typing = tc.reactions, tc.typing })
			sig := s.signalsFor(tc.event)
			if sig.react != tc.wantReact || sig.typing != tc.wantTyping {
				t.Fatalf("react %v typing %v, want %v %v", sig.react, sig.typing, tc.wantReact, tc.wantTyping)
			}
			if !tc.wantReact && !tc.wantTyping {
				if err := s.Around(context.Background(), tc.event, func(context.Context) error { return nil }); err != nil {
					t.Fatal(err)
				}
				closeNow(t, s)
				if n := len(link.sentFrames()); n != 0 {
					t.Fatalf("%d frames sent, want none", n)
				}
			}
		})
	}
}

func TestAroundNeverDelaysDelivery(t *testing.T) {
	link := newFakeLink(discordDesc())
	release := make(chan struct{})
	link.answer = func(f frame) relay.OutboundResult {
		<-release // the connector takes its time answering the reaction
		return echo(f)
	}
	s := newService(t, link, reactionsOn)
	returned := make(chan error, 1)
	go func() {
		returned <- s.Around(context.Background(), discordEvent("c1", "hi"), func(context.Context) error {
			if f, _ := link.tryWait(t); f.Action["emoji"] != EmojiWorking {
				t.Errorf("first frame %v", f.Action)
			}
			return nil // the 👀 is still waiting for its result
		})
	}()
	select {
	case err := <-returned:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Around waited for a lifecycle signal")
	}
	close(release)
	for _, want := range []string{EmojiWorking, EmojiDone} {
		if f := link.wait(t); f.Action["emoji"] != want {
			t.Fatalf("frame %v, want %s", f.Action, want)
		}
	}
}

func TestAroundTyping(t *testing.T) {
	link := newFakeLink(discordDesc())
	s := newService(t, link, func(c *Config) {
		c.Typing = true
		c.TypingDelay = 5 * time.Millisecond
		c.TypingInterval = 5 * time.Millisecond
	})
	ev := discordEvent("c1", "think hard")
	ev.Source.ThreadID = "th"
	s.Remember(ev, "", "app1")
	err := s.Around(context.Background(), ev, func(context.Context) error {
		for range 3 { // delivery is in flight until three heartbeats went out
			f := link.wait(t)
			if f.op() != "typing" || f.Action["chat_id"] != "c1" || deref(f.Platform) != "discord" {
				t.Errorf("frame %v platform %s", f.Action, deref(f.Platform))
			}
			if _, ok := f.Action["content"]; ok {
				t.Errorf("a heartbeat carries content: %v", f.Action)
			}
			md := f.Action["metadata"].(map[string]any)
			if md["thread_id"] != "th" || md["scope_id"] != "guild-c1" || md["user_id"] != "user-c1" {
				t.Errorf("metadata %v", md)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	closeNow(t, s)
	// After Close no heartbeat is running: the count no longer moves.
	n := len(link.sentFrames())
	if n < 3 {
		t.Fatalf("%d frames", n)
	}
	if err := s.Around(context.Background(), ev, func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if m := len(link.sentFrames()); m != n {
		t.Errorf("signals sent after Close: %d frames, then %d", n, m)
	}
}

func TestAroundTypingWaitsForTheDelay(t *testing.T) {
	link := newFakeLink(discordDesc())
	s := newService(t, link, func(c *Config) { c.Typing = true; c.TypingDelay = time.Hour })
	if err := s.Around(context.Background(), discordEvent("c1", "quick"), func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	closeNow(t, s)
	if n := len(link.sentFrames()); n != 0 {
		t.Fatalf("%d typing frames for a delivery shorter than the delay", n)
	}
}

func TestAroundCloseStopsHeartbeat(t *testing.T) {
	link := newFakeLink(discordDesc())
	s := newService(t, link, func(c *Config) {
		c.Typing = true
		c.TypingDelay = time.Millisecond
		c.TypingInterval = time.Millisecond
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Around(context.Background(), discordEvent("c1", "x"), func(context.Context) error {
			link.tryWait(t)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := s.Close(ctx); err != nil { // returns although the delivery is still in flight
				t.Error(err)
			}
			return nil
		})
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not stop the heartbeat")
	}
}
