package agentapi

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relayhost/relay-host/host/relay"
	"github.com/relayhost/relay-host/pluginapi"
)

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// answerEvent is a button press on prompt id in chat c1.
func answerEvent(id, option string) pluginapi.MessageEvent {
	ev := discordEvent("c1", "/"+option)
	ev.MessageType = pluginapi.MessageTypeCommand
	ev.PromptResponse = &pluginapi.PromptResponse{PromptID: id, OptionID: option}
	return ev
}

const promptBody = `{"op":"prompt","chat_id":"c1","content":"Deploy?","options":[{"id":"yes","label":"Yes","style":"primary"},{"id":"no","label":"No"}]}`

func TestPromptMintedAndAnswered(t *testing.T) {
	clk := &clock{now: time.Unix(1_700_000_000, 0)}
	link := newFakeLink(discordDesc())
	s := newService(t, link, func(c *Config) { c.Now = clk.Now })

	status, answer := call(t, s, EndpointActions, promptBody)
	if status != 200 {
		t.Fatalf("status %d: %v", status, answer)
	}
	id := stringOf(answer["prompt_id"])
	if !promptIDShape.MatchString(id) || !strings.HasPrefix(id, s.prompts.nonce+".") {
		t.Fatalf("prompt_id %q: want <this process's 6-hex nonce>.<8 hex>", id)
	}
	f := link.sentFrames()[0]
	if f.Action["prompt_id"] != id || f.Action["prompt_kind"] != DefaultPromptKind {
		t.Fatalf("frame %v: want the minted id and the default kind on the wire", f.Action)
	}
	if n := s.Status()["open_prompts"]; n != 1 {
		t.Fatalf("open_prompts %v, want 1", n)
	}

	ctx := context.Background()
	if !s.Admit(ctx, answerEvent(id, "yes")) {
		t.Fatal("the answer to an open prompt was not delivered")
	}
	if s.Admit(ctx, answerEvent(id, "yes")) {
		t.Fatal("a repeated answer was delivered")
	}
	if s.Admit(ctx, answerEvent(id, "no")) {
		t.Fatal("a second answer to an answered prompt was delivered")
	}
	if n := len(link.sentFrames()); n != 1 {
		t.Fatalf("repeats must be swallowed silently; %d frames sent", n)
	}
	if n := s.Status()["open_prompts"]; n != 0 {
		t.Fatalf("open_prompts %v after the answer, want 0", n)
	}
}

func TestAdmit(t *testing.T) {
	ctx := context.Background()
	t.Run("events that answer no prompt are delivered", func(t *testing.T) {
		s := newService(t, newFakeLink(discordDesc()))
		if !s.Admit(ctx, discordEvent("c1", "hi")) {
			t.Fatal("plain event swallowed")
		}
		ev := discordEvent("c1", "hi")
		ev.PromptResponse = &pluginapi.PromptResponse{PromptID: "x"}
		if !s.Admit(ctx, ev) {
			t.Fatal("a prompt_response without an option is not an answer; it must be delivered")
		}
	})
	t.Run("another process's nonce: swallowed silently", func(t *testing.T) {
		link := newFakeLink(discordDesc())
		s := newService(t, link)
		other := "abcdef.12345678"
		if strings.HasPrefix(other, s.prompts.nonce) {
			other = "fedcba.12345678"
		}
		if s.Admit(ctx, answerEvent(other, "yes")) {
			t.Fatal("a sibling gateway's prompt answer was delivered")
		}
		if n := len(link.sentFrames()); n != 0 {
			t.Fatalf("%d frames sent for a foreign answer, want none", n)
		}
	})
	t.Run("own nonce but unknown: expiry notice, swallowed", func(t *testing.T) {
		link := newFakeLink(discordDesc())
		s := newService(t, link)
		s.Remember(discordEvent("c1", "x"), "", "app1")
		ev := answerEvent(s.prompts.nonce+".00000000", "yes")
		ev.Source.ThreadID = "th"
		if s.Admit(ctx, ev) {
			t.Fatal("an unknown own prompt's answer was delivered")
		}
		fs := link.sentFrames()
		if len(fs) != 1 || fs[0].op() != "send" || fs[0].Action["content"] != PromptExpiredText || fs[0].Action["chat_id"] != "c1" {
			t.Fatalf("frames %v: want one expiry notice to the chat", fs)
		}
		if md := fs[0].Action["metadata"].(map[string]any); md["thread_id"] != "th" || deref(fs[0].Platform) != "discord" {
			t.Errorf("notice metadata %v platform %v", md, deref(fs[0].Platform))
		}
	})
	t.Run("expired: expiry notice, swallowed", func(t *testing.T) {
		clk := &clock{now: time.Unix(1_700_000_000, 0)}
		link := newFakeLink(discordDesc())
		s := newService(t, link, func(c *Config) { c.Now = clk.Now })
		body := strings.Replace(promptBody, `"content"`, `"timeout_s":60,"content"`, 1)
		_, answer := call(t, s, EndpointActions, body)
		id := stringOf(answer["prompt_id"])
		clk.advance(61 * time.Second)
		if n := s.Status()["open_prompts"]; n != 0 {
			t.Errorf("an expired prompt counts as open: %v", n)
		}
		if s.Admit(ctx, answerEvent(id, "yes")) {
			t.Fatal("an expired prompt's answer was delivered")
		}
		fs := link.sentFrames()
		if len(fs) != 2 || fs[1].Action["content"] != PromptExpiredText {
			t.Fatalf("frames %v", fs)
		}
	})
	t.Run("default timeout is an hour", func(t *testing.T) {
		clk := &clock{now: time.Unix(1_700_000_000, 0)}
		s := newService(t, newFakeLink(discordDesc()), func(c *Config) { c.Now = clk.Now })
		_, a1 := call(t, s, EndpointActions, promptBody)
		_, a2 := call(t, s, EndpointActions, promptBody)
		clk.advance(59 * time.Minute)
		if !s.Admit(ctx, answerEvent(stringOf(a1["prompt_id"]), "yes")) {
			t.Error("answer after 59 minutes refused")
		}
		clk.advance(2 * time.Minute)
		if s.Admit(ctx, answerEvent(stringOf(a2["prompt_id"]), "yes")) {
			t.Error("answer after 61 minutes delivered")
		}
	})
	t.Run("an id the agent chose is held open too", func(t *testing.T) {
		s := newService(t, newFakeLink(discordDesc()))
		body := strings.Replace(promptBody, `"content"`, `"prompt_id":"deploy.42","content"`, 1)
		if status, answer := call(t, s, EndpointActions, body); status != 200 || answer["prompt_id"] != "deploy.42" {
			t.Fatalf("status %d answer %v", status, answer)
		}
		if !s.Admit(ctx, answerEvent("deploy.42", "yes")) {
			t.Fatal("answer to an agent-named open prompt not delivered")
		}
	})
	t.Run("a prompt the connector refused is not held open", func(t *testing.T) {
		link := newFakeLink(discordDesc())
		link.answer = func(f frame) relay.OutboundResult {
			if f.op() == "prompt" {
				return failWith("too many buttons", "")
			}
			return echo(f)
		}
		s := newService(t, link)
		status, answer := call(t, s, EndpointActions, promptBody)
		if status != 502 || answer["prompt_id"] == nil {
			t.Fatalf("status %d answer %v", status, answer)
		}
		if s.Admit(ctx, answerEvent(stringOf(answer["prompt_id"]), "yes")) {
			t.Fatal("answer to a refused prompt delivered")
		}
	})
	t.Run("an ambiguous prompt stays open", func(t *testing.T) {
		link := newFakeLink(discordDesc())
		link.answer = func(frame) relay.OutboundResult {
			return relay.OutboundResult{Error: relay.ErrTextTimedOut, Ambiguous: true}
		}
		s := newService(t, link)
		_, answer := call(t, s, EndpointActions, promptBody)
		if !s.Admit(ctx, answerEvent(stringOf(answer["prompt_id"]), "yes")) {
			t.Fatal("answer to a prompt that may have been shown was refused")
		}
	})
	t.Run("open prompts are bounded", func(t *testing.T) {
		s := newService(t, newFakeLink(discordDesc()), func(c *Config) { c.OpenPrompts = 2 })
		var ids []string
		for range 3 {
			_, a := call(t, s, EndpointActions, promptBody)
			ids = append(ids, stringOf(a["prompt_id"]))
		}
		if n := s.Status()["open_prompts"]; n != 2 {
			t.Errorf("open_prompts %v, want 2", n)
		}
		if s.Admit(ctx, answerEvent(ids[0], "yes")) {
			t.Error("the evicted oldest prompt still delivers")
		}
	})
	t.Run("the last 256 answers are remembered", func(t *testing.T) {
		s := newService(t, newFakeLink(discordDesc()))
		var first string
		for i := range ResolvedPromptMemory + 1 {
			_, a := call(t, s, EndpointActions, promptBody)
			id := stringOf(a["prompt_id"])
			if i == 0 {
				first = id
			}
			if !s.Admit(ctx, answerEvent(id, "yes")) {
				t.Fatalf("answer %d refused", i)
			}
		}
		if len(s.prompts.resolved.Keys()) != ResolvedPromptMemory || s.prompts.resolved.Contains(first) {
			t.Errorf("answered memory holds %d ids (first kept: %v), want the last %d",
				len(s.prompts.resolved.Keys()), s.prompts.resolved.Contains(first), ResolvedPromptMemory)
		}
	})
}

func TestPromptIDsDiffer(t *testing.T) {
	s1 := newService(t, newFakeLink(discordDesc()))
	s2 := newService(t, newFakeLink(discordDesc()))
	if s1.prompts.nonce == s2.prompts.nonce {
		t.Fatalf("two services share the nonce %q", s1.prompts.nonce)
	}
	seen := map[string]bool{}
	for range 100 {
		id, err := s1.prompts.mint()
		if err != nil {
			t.Fatal(err)
		}
		if seen[id] || !promptIDShape.MatchString(id) {
			t.Fatalf("minted %q (seen before: %v)", id, seen[id])
		}
		seen[id] = true
	}
}

func TestConcurrentAnswersDeliverOnce(t *testing.T) {
	s := newService(t, newFakeLink(discordDesc()))
	for round := range 20 {
		_, answer := call(t, s, EndpointActions, promptBody)
		id := stringOf(answer["prompt_id"])
		var delivered atomic.Int32
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if s.Admit(context.Background(), answerEvent(id, "yes")) {
					delivered.Add(1)
				}
			}()
		}
		wg.Wait()
		if n := delivered.Load(); n != 1 {
			t.Fatalf("round %d: %d of 8 racing answers delivered, want exactly 1", round, n)
		}
	}
}
