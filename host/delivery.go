package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"time"

	"github.com/relayhost/relay-host/host/agent"
	"github.com/relayhost/relay-host/host/agentapi"
	"github.com/relayhost/relay-host/host/internal/logguard"
	"github.com/relayhost/relay-host/pluginapi"
)

// InterruptNoticeTimeout bounds the interrupt notice to an agent that takes
// them (agent.Interrupter): it is best effort, and the session's deliveries
// are cancelled whether or not the agent hears of it.
const InterruptNoticeTimeout = 5 * time.Second

// eventHashBytes is how much of a SHA-256 names an event that carries no id
// of its own (8 bytes, 16 hex digits: no collision among the events of any
// one agent's dedupe window).
const eventHashBytes = 8

// AgentAPI is the agent API's side of every delivery; *agentapi.Service
// implements it. The host remembers each event's chat with it, asks it
// whether to deliver (prompt answers), wraps each delivery in its lifecycle
// signals (typing, reactions), and sends the agent's reply and actions
// through it, so that they are enriched, gated and split like any action an
// agent sends through the agent API.
type AgentAPI interface {
	// Remember records an event's chat and how to reply to it.
	Remember(ev pluginapi.MessageEvent, eventID, botID string)
	// Admit reports whether the event goes to the agent (a prompt answer
	// that is not this process's, or a repeat, does not).
	Admit(ctx context.Context, ev pluginapi.MessageEvent) bool
	// Around runs deliver inside the event's lifecycle signals.
	Around(ctx context.Context, ev pluginapi.MessageEvent, deliver func(context.Context) error) error
	// Destination is what chats of platform can take.
	Destination(platform string) agentapi.Destination
	// Reply sends the one reply an event calls for.
	Reply(ctx context.Context, ev pluginapi.MessageEvent, text string) (status int, answer map[string]any)
	// Call runs one agent API request (agentapi.EndpointActions, …).
	Call(ctx context.Context, endpoint string, body []byte) (status int, answer map[string]any)
}

// UseAgentAPI makes the host deliver and answer through api (see AgentAPI).
// Call it once, before the link delivers anything (before Attach). Without
// it, events carry no destination, every event is delivered, and a reply
// goes out as one unsplit follow_up or send; actions are not run.
func (h *Host) UseAgentAPI(api AgentAPI) { h.api = api }

// ActionOutcome is how one action of an agent's answer went.
type ActionOutcome struct {
	// Op is the action's op ("" when it had none).
	Op string
	// Status is the HTTP status the agent API would have answered.
	Status int
	// Error is the failure's message ("" on success).
	Error string
}

// reply is an agent's answer to one event, sent once the delivery is
// settled.
type reply struct {
	// ev points into the plugin's result (or at the inbound event): a
	// reply is passed around by value, and the event is large.
	ev      *pluginapi.MessageEvent
	eventID string
	answer  agent.Answer
	// swallowed marks an event the agent API kept from the agent (a prompt
	// answer that is not this process's): settled, nothing to send.
	swallowed bool
}

// sends reports whether the answer has anything to send.
func (r reply) sends() bool {
	return !r.swallowed && (r.answer.Reply != "" || len(r.answer.Actions) > 0)
}

// forwardEventID names the index-th event of a passthrough forward: stable
// across redeliveries of the forward. A buffered forward is named by its
// bufferId; a live one by its platform and the event's message (or
// interaction) id, else a digest of the forward itself.
func forwardEventID(f pluginapi.Forward, index int, ev pluginapi.MessageEvent) string {
	if f.BufferID != "" {
		return f.BufferID + "/" + strconv.Itoa(index)
	}
	id := ev.MessageID
	if id == "" {
		sum := sha256.New()
		for _, part := range []string{f.Platform, f.BotID, f.Method, f.Path, f.Profile} {
			sum.Write([]byte(part))
			sum.Write([]byte{0})
		}
		sum.Write(f.Body)
		id = "sha256-" + hex.EncodeToString(sum.Sum(nil)[:eventHashBytes])
	}
	return f.Platform + ":" + id + "/" + strconv.Itoa(index)
}

// inboundEventID names an inbound event (always the only event of its
// frame): by its bufferId when buffered, else by its platform and message
// id, else by a digest of the event.
func inboundEventID(bufferID string, ev pluginapi.MessageEvent) string {
	if bufferID != "" {
		return bufferID + "/0"
	}
	id := ev.MessageID
	if id == "" {
		b, _ := json.Marshal(ev) // a MessageEvent always encodes (strings, maps of JSON values)
		sum := sha256.Sum256(b)
		id = "sha256-" + hex.EncodeToString(sum[:eventHashBytes])
	}
	return ev.Source.Platform + ":" + id + "/0"
}

// botID returns the bot id of the fronted identity for platform.
func (h *Host) botID(platform string) string {
	for _, id := range h.cfg.Identities {
		if id.Platform == platform {
			return id.BotID
		}
	}
	return ""
}

// turn hands one event to the agent, cancellable by an interrupt for its
// session. With the agent API, the event's chat is remembered first, a
// prompt answer that is not for this process is swallowed (settled, never
// delivered), and the delivery runs inside the event's lifecycle signals.
func (h *Host) turn(ev *pluginapi.MessageEvent, eventID, botID string) (reply, error) {
	r := reply{ev: ev, eventID: eventID}
	var dst *agentapi.Destination
	api := h.api
	if api != nil {
		api.Remember(*ev, eventID, botID)
		if !api.Admit(h.ctx, *ev) {
			r.swallowed = true
			if h.log.IsDebug() {
				h.log.Debug("event kept from the agent (a prompt answer for another gateway, a repeat or an expired prompt)",
					"event_id", eventID, "session_key", ev.SessionKey)
			}
			if h.cfg.Trace != nil {
				h.cfg.Trace(Step{Stage: StageAgent, Event: *ev, EventID: eventID, Swallowed: true})
			}
			return r, nil
		}
		d := api.Destination(ev.Source.Platform)
		dst = &d
	}

	ctx, cancel := context.WithCancel(h.ctx)
	defer cancel()
	t := &turn{cancel: cancel}
	h.mu.Lock()
	if head := h.turns[ev.SessionKey]; head != nil {
		t.next, head.prev = head, t
	}
	h.turns[ev.SessionKey] = t
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		switch {
		case t.prev != nil:
			t.prev.next = t.next
		case t.next != nil:
			h.turns[ev.SessionKey] = t.next
		default:
			delete(h.turns, ev.SessionKey)
		}
		if t.next != nil {
			t.next.prev = t.prev
		}
		h.mu.Unlock()
	}()

	start := time.Now()
	var answer agent.Answer
	deliver := func(ctx context.Context) error {
		// Built here, passed by value: the event is not copied to the heap.
		a, err := h.cfg.Agent.Deliver(ctx, agent.Event{MessageEvent: *ev, EventID: eventID, Destination: dst})
		answer = a
		return err
	}
	var err error
	if api != nil {
		err = api.Around(ctx, *ev, deliver)
	} else {
		err = deliver(ctx)
	}
	r.answer = answer
	if m := h.cfg.Metrics; m != nil {
		m.AgentTurn(time.Since(start), err)
	}
	if h.cfg.Trace != nil {
		h.cfg.Trace(Step{Stage: StageAgent, Event: *ev, EventID: eventID, Reply: r.answer.Reply,
			Actions: len(r.answer.Actions), Err: err})
	}
	return r, err
}

// answer sends an agent's answer to a settled event: the reply first (as
// POST /v1/reply would: follow_up or send, split, with the follow_up → send
// fallback), then each action in order (as POST /v1/actions would). Results
// are logged and counted; none is retried.
func (h *Host) answer(r reply) {
	if !r.sends() {
		return
	}
	api := h.api
	if api == nil {
		if r.answer.Reply != "" {
			h.sendReply(*r.ev, r.answer.Reply)
		}
		if n := len(r.answer.Actions); n > 0 {
			h.log.Warn("the agent's answer carries actions, but the host runs without the agent API: not run",
				"event_id", r.eventID, "actions", n)
		}
		return
	}
	st := Step{Stage: StageAnswer, Event: *r.ev, EventID: r.eventID, Reply: r.answer.Reply}
	if r.answer.Reply != "" {
		ctx, cancel := context.WithTimeout(h.ctx, ReplyTimeout)
		status, ans := api.Reply(ctx, *r.ev, r.answer.Reply)
		cancel()
		h.replied(r, &st, status, ans)
	}
	for i, raw := range r.answer.Actions {
		ctx, cancel := context.WithTimeout(h.ctx, ReplyTimeout)
		status, ans := api.Call(ctx, agentapi.EndpointActions, raw)
		cancel()
		o := ActionOutcome{Op: opOf(raw), Status: status}
		if err := answerError(status, ans); err != nil {
			o.Error = err.Error()
			h.log.Warn("action of the agent's answer failed", "event_id", r.eventID, "index", i, "op", o.Op,
				"status", status, "error", ans["error"], "code", ans["code"], "ambiguous", ans["ambiguous"])
		} else {
			h.log.Debug("action of the agent's answer done", "event_id", r.eventID, "index", i, "op", o.Op)
		}
		if m := h.cfg.Metrics; m != nil {
			m.AnswerAction(o.Op, status)
		}
		st.ActionOutcomes = append(st.ActionOutcomes, o)
	}
	if h.cfg.Trace != nil {
		h.cfg.Trace(st)
	}
}

// asyncReplier is an AgentAPI that can send the common reply without
// waiting for its result (*agentapi.Service).
type asyncReplier interface {
	ReplyAsync(ev pluginapi.MessageEvent, text string, done func(status int, answer map[string]any)) bool
}

// answerAsync sends an answer that is one reply and no action without
// waiting for the connector's result (agentapi.Service.ReplyAsync): the
// result comes through the reader, which may be behind frames it has not
// read, and nothing holds a goroutine meanwhile. It reports false when the
// answer must go through answer instead (actions, the host without the
// agent API, a reply that is not the common case, MaxPendingReplies
// waiting already).
func (h *Host) answerAsync(r reply) bool {
	if r.swallowed || r.answer.Reply == "" || len(r.answer.Actions) > 0 {
		return false
	}
	ar, ok := h.api.(asyncReplier)
	if !ok || !h.replies.track() {
		return false
	}
	sent := ar.ReplyAsync(*r.ev, r.answer.Reply, func(status int, ans map[string]any) {
		defer h.replies.done()
		st := Step{Stage: StageAnswer, Event: *r.ev, EventID: r.eventID, Reply: r.answer.Reply}
		h.replied(r, &st, status, ans)
		if h.cfg.Trace != nil {
			h.cfg.Trace(st)
		}
	})
	if !sent {
		h.replies.done()
	}
	return sent
}

// replied records how a reply went: the step's fields, a log line.
func (h *Host) replied(r reply, st *Step, status int, ans map[string]any) {
	st.Status = status
	st.Parts = partsOf(ans)
	st.Fallback, _ = ans["fallback"].(string)
	st.Err = answerError(status, ans)
	if st.Err != nil {
		h.warnLimited("reply not delivered", "event_id", logguard.Clip(r.eventID), "session_key", logguard.Clip(r.ev.SessionKey), "status", status,
			"error", clipAny(ans["error"]), "code", clipAny(ans["code"]), "ambiguous", ans["ambiguous"])
		return
	}
	if h.log.IsDebug() { // the arguments alone cost allocations per reply
		h.log.Debug("reply delivered", "event_id", logguard.Clip(r.eventID), "session_key", logguard.Clip(r.ev.SessionKey), "parts", st.Parts,
			"fallback", st.Fallback, "message_id", clipAny(ans["message_id"]))
	}
}

// clipAny clips a value of a connector's answer for a log line.
func clipAny(v any) any {
	if s, ok := v.(string); ok {
		return logguard.Clip(s)
	}
	return v
}

// answerError turns a non-200 agent API answer into an error naming its
// status and message.
func answerError(status int, ans map[string]any) error {
	if status == 200 {
		return nil
	}
	msg, _ := ans["error"].(string)
	return &AnswerError{Status: status, Message: msg}
}

// AnswerError is a reply or action of an agent's answer that the agent API
// answered with a failure.
type AnswerError struct {
	// Status is the HTTP status the agent API would have answered.
	Status int
	// Message is the answer's error text.
	Message string
}

// Error returns the status and the message.
func (e *AnswerError) Error() string {
	return strconv.Itoa(e.Status) + ": " + e.Message
}

// partsOf reads how many messages an answer went out in.
func partsOf(ans map[string]any) int {
	if parts, ok := ans["parts"].([]any); ok {
		return len(parts)
	}
	return 1
}

// opOf reads an action's op for logs and metrics ("" when it is not an
// object with a string op).
func opOf(raw []byte) string {
	var a struct {
		Op string `json:"op"`
	}
	_ = json.Unmarshal(raw, &a)
	return a.Op
}

// notifyInterrupt tells an agent that takes interrupt notices about an
// interrupt, best effort and off the reader's goroutine.
func (h *Host) notifyInterrupt(sessionKey, chatID string) {
	ir, ok := h.cfg.Agent.(agent.Interrupter)
	if !ok {
		return
	}
	h.work.Add(1)
	h.workers.run(func() {
		defer h.work.Done()
		ctx, cancel := context.WithTimeout(h.ctx, InterruptNoticeTimeout)
		defer cancel()
		if err := ir.Interrupt(ctx, sessionKey, chatID); err != nil {
			h.log.Warn("the agent was not told of the interrupt", "session_key", sessionKey, "error", err)
			return
		}
		h.log.Debug("agent told of the interrupt", "session_key", sessionKey)
	})
}
