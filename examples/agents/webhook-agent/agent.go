package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// seenEvents is how many event ids the agent remembers to drop redeliveries:
// relay-host delivers at least once, and a redelivery carries the same
// event_id.
const seenEvents = 1024

// event is the part of relay-host's webhook POST this agent reads: the
// MessageEvent JSON form plus event_id and destination, or an interrupt
// notice ({"type":"interrupt", "session_key", "reason"}).
type event struct {
	Type        string `json:"type"`
	Reason      string `json:"reason"`
	EventID     string `json:"event_id"`
	Text        string `json:"text"`
	MessageType string `json:"message_type"`
	MessageID   string `json:"message_id"`
	SessionKey  string `json:"session_key"`
	EgressKind  string `json:"egress_kind"`
	Source      struct {
		Platform string `json:"platform"`
		ChatID   string `json:"chat_id"`
		UserName string `json:"user_name"`
	} `json:"source"`
	Destination struct {
		MaxMessageLength int      `json:"max_message_length"`
		SupportsEdit     bool     `json:"supports_edit"`
		SupportedOps     []string `json:"supported_ops"`
	} `json:"destination"`
	PromptResponse *struct {
		PromptID string `json:"prompt_id"`
		OptionID string `json:"option_id"`
	} `json:"prompt_response"`
}

// can reports whether the event's chat takes op.
func (e *event) can(op string) bool { return slices.Contains(e.Destination.SupportedOps, op) }

// agent answers events: it streams answers by editing a message, and asks
// for approval with buttons before it "deploys".
type agent struct {
	api  *apiClient
	step time.Duration // pause between two edits of a streamed answer
	log  *log.Logger

	mu       sync.Mutex
	turns    int                                   // turns started, to name each
	running  map[string]map[int]context.CancelFunc // session key → its turns in flight
	pending  map[string]string                     // prompt id → what waits for approval
	seen     map[string]bool
	seenList []string
	work     sync.WaitGroup
}

func newAgent(api *apiClient, step time.Duration, logger *log.Logger) *agent {
	return &agent{api: api, step: step, log: logger,
		running: map[string]map[int]context.CancelFunc{}, pending: map[string]string{}, seen: map[string]bool{}}
}

// ServeHTTP takes relay-host's webhook POSTs. It answers at once (an empty
// 200: the event is taken) and does the work in the background, through the
// agent API.
func (a *agent) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var ev event
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&ev); err != nil {
		http.Error(w, "body is not a JSON event", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, "{}")
	if ev.Type == "interrupt" {
		a.interrupt(ev.SessionKey)
		return
	}
	if a.duplicate(ev.EventID) {
		a.log.Printf("event %s: delivered again; already handled", ev.EventID)
		return
	}
	ctx, turn := a.begin(ev.SessionKey)
	a.work.Add(1)
	go func() {
		defer a.work.Done()
		defer a.end(ev.SessionKey, turn)
		a.handle(ctx, &ev)
	}()
}

// handle decides what an event asks for. ctx ends when the session is
// interrupted; the work checks it between steps, while each call to the
// agent API, once made, runs to its answer (an abandoned call would leave
// its outcome unknown).
func (a *agent) handle(ctx context.Context, ev *event) {
	switch {
	case ev.PromptResponse != nil:
		a.approval(ctx, ev)
	case strings.Contains(strings.ToLower(ev.Text), "deploy"):
		a.askApproval(ctx, ev)
	default:
		a.stream(ctx, ev)
	}
}

// stream answers with one message that grows by edits, as a model would
// write it; where the chat cannot edit (or the event is an interaction,
// answered through a follow-up), it sends the whole answer as one reply.
func (a *agent) stream(ctx context.Context, ev *event) {
	answer := fmt.Sprintf("You said %q. This answer arrives the way a model writes it: one message, edited a few words at a time, until it is complete.", ev.Text)
	if ev.EgressKind != "" || !ev.Destination.SupportsEdit || !ev.can("edit") || ev.Source.ChatID == "" {
		a.reply(ctx, ev, answer)
		return
	}
	replyTo := any(nil)
	if ev.MessageID != "" {
		replyTo = ev.MessageID
	}
	sent, err := a.api.action(context.WithoutCancel(ctx), map[string]any{"op": "send", "chat_id": ev.Source.ChatID, "content": "…", "reply_to": replyTo})
	if err != nil || !sent.Success || sent.MessageID == "" {
		a.log.Printf("event %s: first message not sent (status %d, %v %s); replying in one piece", ev.EventID, sent.Status, err, sent.Error)
		a.reply(ctx, ev, answer)
		return
	}
	words := strings.Fields(answer)
	const edits = 4
	for k := 1; k <= edits; k++ {
		content := strings.Join(words[:k*len(words)/edits], " ")
		select {
		case <-ctx.Done():
			// Interrupted: leave what was written, marked as stopped.
			a.edit(ctx, ev, sent.MessageID, content+" (stopped)")
			a.log.Printf("event %s: stopped after %d edits", ev.EventID, k-1)
			return
		case <-time.After(a.step):
		}
		if k < edits {
			content += " …"
		}
		if !a.edit(ctx, ev, sent.MessageID, content) {
			return
		}
	}
	a.log.Printf("event %s: answer streamed in %d edits of message %s", ev.EventID, edits, sent.MessageID)
}

func (a *agent) edit(ctx context.Context, ev *event, messageID, content string) bool {
	r, err := a.api.action(context.WithoutCancel(ctx), map[string]any{"op": "edit", "chat_id": ev.Source.ChatID, "message_id": messageID, "content": content})
	if err != nil || !r.Success {
		a.log.Printf("event %s: edit failed (status %d, %v %s)", ev.EventID, r.Status, err, r.Error)
		return false
	}
	return true
}

// askApproval sends a prompt with two buttons; the answer comes back later
// as an event carrying prompt_response.
func (a *agent) askApproval(ctx context.Context, ev *event) {
	what := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(ev.Text), "/"))
	if !ev.can("prompt") || ev.Source.ChatID == "" {
		a.reply(ctx, ev, "I would ask before deploying, but this chat cannot show buttons.")
		return
	}
	// The agent names the prompt itself and notes it before sending, so a
	// press that comes back at once finds it. (Without a prompt_id,
	// relay-host mints one and answers it.)
	id := "deploy." + randomHex(8)
	a.mu.Lock()
	a.pending[id] = what
	a.mu.Unlock()
	r, err := a.api.action(context.WithoutCancel(ctx), map[string]any{
		"op": "prompt", "chat_id": ev.Source.ChatID, "prompt_kind": "approval", "prompt_id": id,
		"content": fmt.Sprintf("Run %q in production?", what), "timeout_s": 600,
		"options": []map[string]any{
			{"id": "approve", "label": "Approve", "style": "primary"},
			{"id": "deny", "label": "Deny", "style": "danger"},
		},
	})
	if err != nil || (!r.Success && !r.Ambiguous) {
		a.mu.Lock()
		delete(a.pending, id)
		a.mu.Unlock()
		a.log.Printf("event %s: prompt not shown (status %d, %v %s)", ev.EventID, r.Status, err, r.Error)
		a.reply(ctx, ev, "I could not show the approval buttons, so nothing was deployed.")
		return
	}
	a.log.Printf("event %s: approval asked, prompt %s", ev.EventID, id)
}

// randomHex returns n random bytes as hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

// approval acts on a button press: relay-host delivers only the first
// answer to a prompt it holds open, so each prompt is answered once.
func (a *agent) approval(ctx context.Context, ev *event) {
	a.mu.Lock()
	what, ok := a.pending[ev.PromptResponse.PromptID]
	delete(a.pending, ev.PromptResponse.PromptID)
	a.mu.Unlock()
	switch {
	case !ok:
		a.reply(ctx, ev, "That approval is no longer pending.")
	case ev.PromptResponse.OptionID == "approve":
		who := ev.Source.UserName
		if who == "" {
			who = "you"
		}
		a.reply(ctx, ev, fmt.Sprintf("✅ Approved by %s: running %q.", who, what))
	default:
		a.reply(ctx, ev, fmt.Sprintf("❌ Denied: %q was not run.", what))
	}
}

// reply answers an event through POST /v1/reply: relay-host sends a
// follow-up or a message to the chat, whichever the event calls for.
func (a *agent) reply(ctx context.Context, ev *event, content string) {
	r, err := a.api.reply(context.WithoutCancel(ctx), ev.EventID, content)
	if err != nil || !r.Success {
		a.log.Printf("event %s: reply failed (status %d, %v %s)", ev.EventID, r.Status, err, r.Error)
		return
	}
	how := ""
	if r.Fallback == "send" {
		how = ", as a message to the chat after the follow-up failed"
	}
	a.log.Printf("event %s: replied (message %s%s)", ev.EventID, r.MessageID, how)
}

// begin starts a turn of a session; an interrupt for the session cancels
// its context.
func (a *agent) begin(sessionKey string) (context.Context, int) {
	ctx, cancel := context.WithCancel(context.Background())
	a.mu.Lock()
	defer a.mu.Unlock()
	a.turns++
	if a.running[sessionKey] == nil {
		a.running[sessionKey] = map[int]context.CancelFunc{}
	}
	a.running[sessionKey][a.turns] = cancel
	return ctx, a.turns
}

func (a *agent) end(sessionKey string, turn int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if cancel, ok := a.running[sessionKey][turn]; ok {
		cancel()
		delete(a.running[sessionKey], turn)
	}
	if len(a.running[sessionKey]) == 0 {
		delete(a.running, sessionKey)
	}
}

// interrupt stops a session's turns (a user pressed stop).
func (a *agent) interrupt(sessionKey string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, cancel := range a.running[sessionKey] {
		cancel()
	}
	a.log.Printf("session %s: interrupt (%d turns running)", sessionKey, len(a.running[sessionKey]))
}

// duplicate reports whether an event id was seen before, and remembers it.
func (a *agent) duplicate(eventID string) bool {
	if eventID == "" {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.seen[eventID] {
		return true
	}
	a.seen[eventID] = true
	a.seenList = append(a.seenList, eventID)
	if len(a.seenList) > seenEvents {
		delete(a.seen, a.seenList[0])
		a.seenList = a.seenList[1:]
	}
	return false
}
