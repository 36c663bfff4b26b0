package agentapi

import (
	"context"
	"fmt"
	"net/http"

	"github.com/relayhost/relay-host/pluginapi"
)

// Remember records a delivered event: its chat in the chat memory (the
// tenant facts later actions to the chat are enriched with), and, under
// eventID, how to reply to it, so that POST /v1/reply can answer it by
// event_id or by its session key. botID is the identity that received it.
// Both memories are bounded LRUs.
func (s *Service) Remember(ev pluginapi.MessageEvent, eventID, botID string) {
	s.mem.remember(ev, eventID, botID)
}

// Reply sends the one reply an event calls for, as POST /v1/reply does:
// through the same enrichment, gating and splitting as any action, with the
// follow_up → send fallback.
func (s *Service) Reply(ctx context.Context, ev pluginapi.MessageEvent, text string) (status int, answer map[string]any) {
	ref := refOf(ev, "")
	if info, ok := s.mem.chat(ev.Source.Platform, ev.Source.ChatID); ok {
		ref.botID = info.botID
	}
	return s.reply(ctx, ref, text)
}

func (s *Service) callReply(ctx context.Context, body []byte) (int, map[string]any) {
	obj, err := parseObject(body)
	if err != nil {
		return badRequestAnswer(err)
	}
	eventID, err := stringField(obj, "reply", "event_id", false)
	if err != nil {
		return badRequestAnswer(err)
	}
	sessionKey, err := stringField(obj, "reply", "session_key", false)
	if err != nil {
		return badRequestAnswer(err)
	}
	if _, ok := obj["content"]; !ok {
		return badRequestAnswer(badRequest("reply: content is required"))
	}
	content, err := stringField(obj, "reply", "content", false)
	if err != nil {
		return badRequestAnswer(err)
	}
	var ref eventRef
	var known bool
	switch {
	case eventID != "" && sessionKey != "":
		return badRequestAnswer(badRequest("reply: give event_id or session_key, not both"))
	case eventID != "":
		if ref, known = s.mem.event(eventID); !known {
			return http.StatusNotFound, failure(fmt.Sprintf(
				"reply: unknown event_id %q: relay-host remembers the last %d events it delivered", eventID, s.cfg.EventMemory))
		}
	case sessionKey != "":
		if ref, known = s.mem.session(sessionKey); !known {
			return http.StatusNotFound, failure(fmt.Sprintf(
				"reply: no event of session_key %q among the last %d events relay-host delivered", sessionKey, s.cfg.EventMemory))
		}
	default:
		return badRequestAnswer(badRequest("reply: event_id or session_key is required"))
	}
	return s.reply(ctx, ref, content)
}

// reply sends text as the reply to an event: a follow_up through the
// event's egress capability when it has one, else a send to its chat. A
// follow_up that fails definitely (the capability is absent or expired, the
// op is not advertised) and delivered nothing falls back to a send to the
// event's chat; the answer then carries "fallback":"send". An ambiguous
// failure, a decline by the connector's egress guard, or a link that is
// down is never turned into a send.
func (s *Service) reply(ctx context.Context, ref eventRef, text string) (int, map[string]any) {
	if ref.egressKind == "" {
		if ref.chatID == "" {
			return http.StatusBadRequest, failure("reply: the event has neither an egress kind nor a chat to send to")
		}
		o := s.run(ctx, s.chatReply(ref, text))
		return o.status, o.answer
	}
	o := s.run(ctx, followUpReply(ref, text))
	if o.status == http.StatusOK || !fallsBack(o) || ref.chatID == "" {
		return o.status, o.answer
	}
	s.log.Info("follow_up failed; replying with a send to the chat", "session_key", ref.sessionKey,
		"error", o.res.Error, "gated", o.gated)
	o2 := s.run(ctx, s.chatReply(ref, text))
	o2.answer["fallback"] = "send"
	return o2.status, o2.answer
}

// fallsBack reports whether a failed follow_up may be retried as a send: it
// was refused as not advertised, or the connector answered a definite
// failure that is not an egress decline, and no part of it was delivered.
func fallsBack(o outcome) bool {
	if o.gated {
		return true
	}
	if o.delivered > 0 || o.parts == 0 {
		return false
	}
	r := o.res
	return r.Raw != nil && !r.Success && !r.Ambiguous && !r.EgressDeclined()
}

// followUpReply builds the follow_up that answers an event through its
// egress capability.
func followUpReply(ref eventRef, text string) *action {
	return &action{op: OpFollowUp, fields: map[string]any{
		"op": OpFollowUp, "session_key": ref.sessionKey, "kind": ref.egressKind,
		"content": text, "metadata": map[string]any{},
	}}
}

// chatReply builds the send that replies to an event in its chat (in its
// thread, when it came from one).
func (s *Service) chatReply(ref eventRef, text string) *action {
	md := map[string]any{}
	if ref.threadID != "" {
		md["thread_id"] = ref.threadID
	}
	a := &action{op: OpSend, fields: map[string]any{
		"op": OpSend, "chat_id": ref.chatID, "content": text, "reply_to": nil, "metadata": md,
	}}
	if s.egressPlatform(ref.platform) != "" {
		a.platform = ref.platform
		a.botID = ref.botID
	}
	return a
}
