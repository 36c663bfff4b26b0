package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/relayhost/relay-host/host/relay/relaytest"
)

// expiredContent is a follow_up content the test connector answers as a
// definite failure: the interaction token expired.
const expiredContent = "too late for the token"

// TestAgentAPIWebhookAnswer checks what a webhook agent's answer does:
// "reply" goes out first, then each of "actions" in order, all after the
// event is acked; a bad action is logged and counted, never retried; a
// follow_up that fails for good falls back to a send to the event's chat
// (the answer's reply and POST /v1/reply alike); and an interrupt_inbound
// reaches the agent as an interrupt notice.
func TestAgentAPIWebhookAnswer(t *testing.T) {
	t.Parallel()
	r := startAPIRig(t, rigOptions{connector: relaytest.Options{Outbound: func(o relaytest.OutboundFrame) relaytest.OutboundReply {
		if o.Op() == "follow_up" && o.Action["content"] == expiredContent {
			return relaytest.OutboundReply{Result: map[string]any{"success": false, "error": "Unknown interaction (token expired)"}}
		}
		return relaytest.OutboundReply{}
	}}})
	ctx := testCtx(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	r.agent.setAnswer(func(ev map[string]any) (int, string) {
		switch ev["text"] {
		case "/act go":
			return 200, `{"reply":"done","actions":[{"op":"send","chat_id":"chan-s","content":"a1"},` +
				`{"op":"edit","chat_id":"chan-s","message_id":"m-9","content":"a2"},{"op":"teleport"},{"op":"react","chat_id":"chan-s"}]}`
		case "/late go":
			return 200, `{"reply":"` + expiredContent + `"}`
		case "/hold go":
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
		return 200, "{}"
	})

	// Reply, then the actions in order, after the ack.
	act := r.srv.Enqueue(discordSlash("4001", "act", "go"))
	if err := r.srv.WaitAcked(ctx, act); err != nil {
		t.Fatal(err)
	}
	fu, i := r.waitOutbound(0, "the reply", func(o relaytest.OutboundFrame) bool { return o.Action["content"] == "done" })
	if fu.Op() != "follow_up" || fu.Action["kind"] != "discord.interaction_token" || fu.Platform != "discord" {
		t.Fatalf("reply = %+v", fu)
	}
	ackAt, replyAt := -1, -1
	for n, f := range r.srv.Frames() {
		switch {
		case f.Type == "inbound_ack" && f.BufferID == act && ackAt < 0:
			ackAt = n
		case f.Type == "outbound" && f.RequestID == fu.RequestID:
			replyAt = n
		}
	}
	if ackAt < 0 || replyAt < ackAt {
		t.Fatalf("the reply (frame %d) went out before the ack (frame %d)", replyAt, ackAt)
	}
	a1, j := r.waitOutbound(i+1, "action 1", func(o relaytest.OutboundFrame) bool { return o.Action["content"] == "a1" })
	a2, k := r.waitOutbound(j+1, "action 2", func(o relaytest.OutboundFrame) bool { return o.Action["content"] == "a2" })
	if a1.Op() != "send" || a2.Op() != "edit" || k != j+1 || j != i+1 {
		t.Fatalf("actions = %+v, %+v at %d, %d after the reply at %d", a1, a2, j, k, i)
	}
	if err := r.p.stderr.waitFor(ctx, "action of the agent's answer failed", 2); err != nil {
		t.Fatal(err)
	}
	_, metrics := get(t, "http://"+r.listen+"/metrics")
	for _, want := range []string{
		`relay_host_answer_actions_total{op="send",status="200"} 1`,
		`relay_host_answer_actions_total{op="edit",status="200"} 1`,
		`relay_host_answer_actions_total{op="teleport",status="400"} 1`,
		`relay_host_answer_actions_total{op="react",status="400"} 1`,
		`relay_host_outbound_results_total{op="follow_up",result="success"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// The follow_up fails for good: the reply goes to the chat instead.
	late := r.srv.Enqueue(discordSlash("4002", "late", "go"))
	if err := r.srv.WaitAcked(ctx, late); err != nil {
		t.Fatal(err)
	}
	failed, i := r.waitOutbound(0, "the failing follow-up", func(o relaytest.OutboundFrame) bool {
		return o.Op() == "follow_up" && o.Action["content"] == expiredContent
	})
	send, _ := r.waitOutbound(i+1, "the fallback send", func(o relaytest.OutboundFrame) bool {
		return o.Op() == "send" && o.Action["content"] == expiredContent
	})
	if send.Action["chat_id"] != "chan-s" || send.Platform != "discord" || failed.Action["session_key"] == nil {
		t.Fatalf("fallback send = %+v", send)
	}
	// POST /v1/reply for the same event: the same fallback, said in the
	// answer.
	ev := r.agent.waitEvent(t, "the /late event", func(ev map[string]any) bool { return ev["text"] == "/late go" })
	status, m := r.post("/v1/reply", fmt.Sprintf(`{"event_id":%q,"content":%q}`, ev["event_id"], expiredContent))
	if status != 200 || m["fallback"] != "send" || m["success"] != true {
		t.Fatalf("POST /v1/reply with an expired token = %d %v, want 200 with fallback send", status, m)
	}

	// An interrupt for a session whose turn is in flight.
	hold := r.srv.Enqueue(discordSlash("4003", "hold", "go"))
	held := r.agent.waitEvent(t, "the held event", func(ev map[string]any) bool { return ev["text"] == "/hold go" })
	key := fmt.Sprint(held["session_key"])
	if err := r.srv.SendInterruptInbound(key, "chan-s"); err != nil {
		t.Fatal(err)
	}
	n := r.agent.waitNotice(t)
	if n["type"] != "interrupt" || n["session_key"] != key || n["chat_id"] != "chan-s" || n["reason"] == "" {
		t.Fatalf("interrupt notice = %v", n)
	}
	if err := r.p.stderr.waitFor(ctx, "left un-acknowledged for redelivery", 1); err != nil {
		t.Fatal(err)
	}
	for _, a := range r.srv.Acks() {
		if a == hold {
			t.Fatal("the interrupted delivery was acked")
		}
	}
	if status, _ := r.post("/v1/actions", `{"op":"send","chat_id":"chan-s","content":"still serving"}`); status != http.StatusOK {
		t.Fatalf("a send after the interrupt = %d", status)
	}
}
