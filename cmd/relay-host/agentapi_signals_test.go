package main

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/relayhost/relay-host/host/relay/relaytest"
)

// TestAgentAPIPromptRoundTrip: the agent asks with a prompt (relay-host
// mints its id), the user presses a button (through the real Discord
// plugin), and the answer reaches the agent once; a second press, and a
// press on another gateway's prompt, are acked and never delivered.
func TestAgentAPIPromptRoundTrip(t *testing.T) {
	t.Parallel()
	r := startAPIRig(t, rigOptions{})
	ctx := testCtx(t)
	status, m := r.post("/v1/actions", `{"op":"prompt","chat_id":"chan-p","content":"Deploy web?",`+
		`"options":[{"id":"approve","label":"Approve","style":"primary"},{"id":"deny","label":"Deny","style":"danger"}]}`)
	pid, _ := m["prompt_id"].(string)
	msgID, _ := m["message_id"].(string)
	if status != 200 || !regexp.MustCompile(`^[0-9a-f]{6}\.[0-9a-f]{8}$`).MatchString(pid) || msgID == "" {
		t.Fatalf("prompt = %d %v, want a minted <6 hex>.<8 hex> id and a message id", status, m)
	}
	o, _ := r.waitOutbound(0, "the prompt", func(o relaytest.OutboundFrame) bool { return o.Op() == "prompt" })
	if o.Action["prompt_id"] != pid || o.Action["prompt_kind"] != "approval" || o.Platform != "" {
		t.Fatalf("prompt frame = %+v", o)
	}
	if _, st, _ := r.do(http.MethodGet, "/v1/status", "", nil, nil); st["open_prompts"] != 1.0 {
		t.Errorf("open prompts = %v, want 1", st["open_prompts"])
	}

	press := r.srv.Enqueue(discordButton("2001", "hp1:"+pid+":approve", msgID))
	ev := r.agent.waitEvent(t, "the press", func(ev map[string]any) bool { return ev["prompt_response"] != nil })
	pr, _ := ev["prompt_response"].(map[string]any)
	if pr["prompt_id"] != pid || pr["option_id"] != "approve" || pr["prompt_message_id"] != msgID || ev["text"] != "/approve" ||
		ev["event_id"] != press+"/0" {
		t.Fatalf("the press reached the agent as %v", ev)
	}
	if err := r.srv.WaitAcked(ctx, press); err != nil {
		t.Fatal(err)
	}
	// A second press (a double tap), and a press on a prompt another
	// gateway minted: both acked, neither delivered.
	other := "000000"
	if strings.HasPrefix(pid, other) {
		other = "ffffff"
	}
	for i, custom := range []string{"hp1:" + pid + ":deny", "hp1:" + other + ".0123abcd:approve"} {
		id := r.srv.Enqueue(discordButton(fmt.Sprint(2002+i), custom, msgID))
		if err := r.srv.WaitAcked(ctx, id); err != nil {
			t.Fatalf("press %s was not acked: %v", custom, err)
		}
	}
	r.agent.mu.Lock()
	n := 0
	for _, ev := range r.agent.events {
		if ev["prompt_response"] != nil {
			n++
		}
	}
	r.agent.mu.Unlock()
	if n != 1 {
		t.Fatalf("the agent got %d prompt answers, want only the first press", n)
	}
	if _, st, _ := r.do(http.MethodGet, "/v1/status", "", nil, nil); st["open_prompts"] != 0.0 {
		t.Errorf("open prompts after the answer = %v, want 0", st["open_prompts"])
	}
}

// reactions returns the react frames on message id, in order, as
// "+👀"/"-👀".
func (r *apiRig) reactions(t *testing.T, messageID string, n int) []string {
	t.Helper()
	var out []string
	from := 0
	for len(out) < n {
		o, i := r.waitOutbound(from, fmt.Sprintf("reaction %d on %s", len(out)+1, messageID), func(o relaytest.OutboundFrame) bool {
			return o.Op() == "react" && o.Action["message_id"] == messageID
		})
		sign := "+"
		if o.Action["remove"] == true {
			sign = "-"
		}
		out = append(out, sign+fmt.Sprint(o.Action["emoji"]))
		from = i + 1
	}
	return out
}

// TestAgentAPIReactionsSequence checks the processing reactions on a chat
// message: 👀 while the agent works, then ✅, or ❌ when it failed; a
// slash command gets none, and --typing=false sends no typing.
func TestAgentAPIReactionsSequence(t *testing.T) {
	t.Parallel()
	r := startAPIRig(t, rigOptions{args: []string{"--typing=false"}})
	ctx := testCtx(t)
	r.agent.setAnswer(func(ev map[string]any) (int, string) {
		if ev["text"] == "fail" {
			return http.StatusBadRequest, `{"error":"no"}`
		}
		return 200, "{}"
	})
	ok, _ := r.srv.EnqueueInbound(inboundEvent("discord", "chat-x", "msg-ok", "fine"))
	if got := strings.Join(r.reactions(t, "msg-ok", 3), " "); got != "+👀 -👀 +✅" {
		t.Errorf("reactions on success = %s, want +👀 -👀 +✅", got)
	}
	if err := r.srv.WaitAcked(ctx, ok); err != nil {
		t.Fatal(err)
	}
	r.srv.EnqueueInbound(inboundEvent("discord", "chat-x", "msg-bad", "fail"))
	if got := strings.Join(r.reactions(t, "msg-bad", 3), " "); got != "+👀 -👀 +❌" {
		t.Errorf("reactions on failure = %s, want +👀 -👀 +❌", got)
	}
	slash := r.srv.Enqueue(discordSlash("3001", "ask", "q"))
	if err := r.srv.WaitAcked(ctx, slash); err != nil {
		t.Fatal(err)
	}
	// One more event after the slash command: its reactions come after any
	// the slash command could have caused.
	last, _ := r.srv.EnqueueInbound(inboundEvent("discord", "chat-x", "msg-last", "last"))
	r.reactions(t, "msg-last", 3)
	if err := r.srv.WaitAcked(ctx, last); err != nil {
		t.Fatal(err)
	}
	for _, o := range r.srv.Outbounds() {
		if o.Op() == "react" && o.Action["message_id"] == "3001" {
			t.Errorf("a slash command got a reaction: %v", o.Action)
		}
		if o.Op() == "typing" {
			t.Errorf("typing sent with --typing=false: %v", o.Action)
		}
	}
}

// TestAgentAPITypingCadence checks the typing heartbeat while an agent
// takes its time: the first once delivery has taken a second, the next 8 s
// later, none once the agent has answered. It takes about 9 s.
func TestAgentAPITypingCadence(t *testing.T) {
	t.Parallel()
	r := startAPIRig(t, rigOptions{args: []string{"--reactions=false"}})
	release := make(chan struct{})
	r.agent.setAnswer(func(ev map[string]any) (int, string) {
		if ev["text"] == "slow" {
			select {
			case <-release:
			case <-testCtx(t).Done():
			}
		}
		return 200, "{}"
	})
	arrived := map[string]time.Time{}
	enqueued := time.Now()
	id, _ := r.srv.EnqueueInbound(inboundEvent("discord", "chat-t", "m-t", "slow"))
	first, i := r.waitOutbound(0, "the first typing", func(o relaytest.OutboundFrame) bool { return o.Op() == "typing" })
	arrived["first"] = time.Now()
	second, _ := r.waitOutbound(i+1, "the second typing", func(o relaytest.OutboundFrame) bool { return o.Op() == "typing" })
	arrived["second"] = time.Now()
	close(release)
	if err := r.srv.WaitAcked(testCtx(t), id); err != nil {
		t.Fatal(err)
	}
	if d := arrived["first"].Sub(enqueued); d < time.Second {
		t.Errorf("the first typing came %s after the event, want after a second of delivery", d)
	}
	if d := arrived["second"].Sub(arrived["first"]); d < 7*time.Second {
		t.Errorf("typing heartbeats %s apart, want 8 s", d)
	}
	for _, o := range []relaytest.OutboundFrame{first, second} {
		if o.Action["chat_id"] != "chat-t" || o.Platform != "discord" || fmt.Sprint(o.Action["metadata"]) != "map[profile:p-chat-t scope_id:g-chat-t user_id:u-chat-t]" {
			t.Errorf("typing frame = %+v", o)
		}
	}
	// Nothing more once the agent has answered: a later event's echo is
	// the next frame.
	next, _ := r.srv.EnqueueInbound(inboundEvent("discord", "chat-t", "m-t2", "quick"))
	if err := r.srv.WaitAcked(testCtx(t), next); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, o := range r.srv.Outbounds() {
		if o.Op() == "typing" {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d typing frames, want 2", n)
	}
}
