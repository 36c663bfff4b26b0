package agentapi

import (
	"context"
	"net/http"

	"github.com/relayhost/relay-host/host/relay"
	"github.com/relayhost/relay-host/pluginapi"
)

// AsyncLink is a Link that can also send without waiting for the result
// (*relay.Client): the result comes to a callback, from the link's reader,
// with no goroutine held meanwhile.
type AsyncLink interface {
	Link
	OutboundAsync(action any, platform, botID string, done func(relay.OutboundResult))
}

// ReplyAsync is Reply for the host's own replies to the events it
// delivers: the common reply (one part, through the connector, its op
// advertised) is written at once and its answer given to done when the
// connector's result arrives, with nothing waiting meanwhile. A follow_up
// that then fails definitely falls back to a send as Reply does (that send
// waits, on a goroutine of its own). The answer and status are Reply's.
//
// It reports false, without sending anything and without calling done,
// when the reply is not the common case (the link cannot send
// asynchronously, a plugin owns the chat's egress, the link is down, the op
// is not advertised, the text needs several parts): the caller then uses
// Reply. done must not block: it may run on the link's reader.
func (s *Service) ReplyAsync(ev pluginapi.MessageEvent, text string, done func(status int, answer map[string]any)) bool {
	link, ok := s.link.(AsyncLink)
	if !ok {
		return false
	}
	ref := refOf(ev, "")
	if info, ok := s.mem.chat(ev.Source.Platform, ev.Source.ChatID); ok {
		ref.botID = info.botID
	}
	var a *action
	switch {
	case ref.egressKind != "":
		a = followUpReply(ref, text)
	case ref.chatID != "":
		a = s.chatReply(ref, text)
	default:
		return false
	}
	r := s.routeOf(a)
	if _, _, owned := s.pluginEgress(a, r); owned || !s.link.Ready() {
		return false
	}
	desc, ok := s.descriptor(r.platform)
	if !ok || !advertises(desc, a.op) {
		return false
	}
	if !FitsOnePart(text, desc.MaxMessageLength, desc.LenUnit) {
		return false
	}
	enrich(a, r)
	link.OutboundAsync(a.fields, r.platform, r.botID, func(res relay.OutboundResult) {
		status, answer := resultAnswer(res)
		o := outcome{status: status, answer: answer, parts: 1, delivered: boolInt(res.Success), res: res}
		if a.op != OpFollowUp || status == http.StatusOK || !fallsBack(o) || ref.chatID == "" {
			done(status, answer)
			return
		}
		// The rare follow_up → send fallback waits for its own result, so
		// it leaves the reader first.
		go func() {
			s.log.Info("follow_up failed; replying with a send to the chat", "session_key", ref.sessionKey,
				"error", res.Error)
			ctx, cancel := context.WithTimeout(context.Background(), relay.DefaultOutboundTimeout)
			defer cancel()
			o2 := s.run(ctx, s.chatReply(ref, text))
			o2.answer["fallback"] = "send"
			done(o2.status, o2.answer)
		}()
	})
	return true
}
