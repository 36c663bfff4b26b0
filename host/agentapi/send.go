package agentapi

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/relayhost/relay-host/host/relay"
	"github.com/relayhost/relay-host/pluginapi"
)

// outcome is the result of running one action through the pipeline.
type outcome struct {
	status int
	answer map[string]any
	// parts is how many frames were sent; delivered how many succeeded.
	parts, delivered int
	// res is the result of the last frame sent.
	res relay.OutboundResult
	// gated is set when the op was refused as not advertised (409).
	gated bool
}

// route is where an action goes: the platform its frame is tagged with
// ("" for the session default), the botId that goes with it, and what is
// remembered of its chat.
type route struct {
	platform string
	botID    string
	chat     chatInfo
	known    bool
}

// routeOf decides an action's tagging: an explicit platform override wins;
// a follow_up goes to the platform its kind names, when fronted; a
// chat-addressed action goes to the platform its chat was last seen on, when
// fronted; get_chat_info is never tagged.
func (s *Service) routeOf(a *action) route {
	var r route
	chatID, _ := a.fields["chat_id"].(string)
	switch {
	case a.op == OpGetChatInfo:
		return r
	case a.platform != "":
		r.platform = a.platform
		r.chat, r.known = s.mem.chat(a.platform, chatID)
	case a.op == OpFollowUp:
		kind, _ := a.fields["kind"].(string)
		if prefix, _, ok := strings.Cut(kind, "."); ok {
			r.platform = s.egressPlatform(prefix)
		}
	default:
		r.chat, r.known = s.mem.chat("", chatID)
		if r.known {
			r.platform = s.egressPlatform(r.chat.platform)
		}
	}
	if a.op == OpFollowUp {
		// A follow_up names a session, not a chat: its profile is the one
		// the session key's namespace names.
		r.chat = chatInfo{profile: pluginapi.ProfileFromSessionKey(stringOf(a.fields["session_key"]))}
		r.known = r.chat.profile != ""
	}
	return r.withBot(s, a)
}

// withBot fills the botId: the override, else the identity that received
// the chat's last event, else the fronted identity's.
func (r route) withBot(s *Service, a *action) route {
	if r.platform == "" {
		return r
	}
	switch {
	case a.botID != "":
		r.botID = a.botID
	case r.known && r.chat.platform == r.platform && r.chat.botID != "":
		r.botID = r.chat.botID
	default:
		r.botID = s.identityBotID(r.platform)
	}
	return r
}

// run enriches, gates, splits and sends one validated action, and answers
// it.
func (s *Service) run(ctx context.Context, a *action) outcome {
	r := s.routeOf(a)
	if o, ok := s.viaPlugin(ctx, a, r); ok {
		return o
	}
	if !s.link.Ready() {
		return local(notConnected())
	}
	desc, ok := s.descriptor(r.platform)
	if !ok {
		return local(notConnected())
	}
	if !advertises(desc, a.op) {
		return s.unsupported(ctx, a, r, desc)
	}
	if a.op == OpSendMedia {
		delete(a.fields, "fallback")
	}
	enrich(a, r)
	if a.op == OpPrompt {
		return s.sendPrompt(ctx, a, r)
	}
	return s.sendSplit(ctx, a, r, desc)
}

// local is an outcome answered without sending anything.
func local(status int, answer map[string]any) outcome {
	return outcome{status: status, answer: answer}
}

// advertises reports whether a descriptor lets op through: its
// supported_ops (the legacy set when empty); draft needs
// supports_draft_streaming too, and never comes from the legacy set.
func advertises(d relay.Descriptor, op string) bool {
	if op == OpDraft {
		return d.SupportsDraftStreaming && slices.Contains(d.SupportedOps, OpDraft)
	}
	return d.SupportsOp(op)
}

// unsupported answers an op the destination does not advertise: typing is
// answered success without sending, get_chat_info locally, send_media with
// "fallback":"text" becomes a text send of its caption and URL; anything
// else is refused 409.
func (s *Service) unsupported(ctx context.Context, a *action, r route, desc relay.Descriptor) outcome {
	switch a.op {
	case OpTyping:
		return local(http.StatusOK, map[string]any{"success": true})
	case OpGetChatInfo:
		chatID := stringOf(a.fields["chat_id"])
		return local(http.StatusOK, map[string]any{"success": true, "name": chatID, "type": pluginapi.ChatTypeDM})
	case OpSendMedia:
		if stringOf(a.fields["fallback"]) == "text" {
			text := stringOf(a.fields["content"])
			if text != "" {
				text += "\n"
			}
			text += stringOf(a.fields["source_url"])
			send := &action{op: OpSend, platform: a.platform, botID: a.botID, fields: map[string]any{
				"op": OpSend, "chat_id": a.fields["chat_id"], "content": text,
				"reply_to": a.fields["reply_to"], "metadata": a.fields["metadata"],
			}}
			if _, ok := a.fields["metadata"].(map[string]any); !ok {
				send.fields["metadata"] = map[string]any{}
			}
			o := s.run(ctx, send)
			o.answer["fallback"] = "text"
			return o
		}
	}
	platform := r.platform
	if platform == "" {
		platform = desc.Platform
	}
	o := local(http.StatusConflict, map[string]any{
		"success": false,
		"error":   fmt.Sprintf("%s is not supported by %s", a.op, platform),
		"code":    CodeUnsupportedOp,
	})
	o.gated = true
	return o
}

// enrich adds to a chat-addressed action the tenant facts it lacks, from
// the chat's last event: metadata.scope_id, user_id and profile (a follow_up
// gets the profile its session key names).
func enrich(a *action, r route) {
	md, ok := a.fields["metadata"].(map[string]any)
	if !ok || !r.known {
		return
	}
	for _, kv := range [...][2]string{{"scope_id", r.chat.scopeID}, {"user_id", r.chat.userID}, {"profile", r.chat.profile}} {
		if kv[1] == "" {
			continue
		}
		if v, present := md[kv[0]]; !present || v == nil || v == "" {
			md[kv[0]] = kv[1]
		}
	}
}

// sendSplit sends an action, split into parts when it is a send or a
// follow_up whose content is longer than the destination takes. Parts go
// one after the other; the first failure stops the rest.
func (s *Service) sendSplit(ctx context.Context, a *action, r route, desc relay.Descriptor) outcome {
	content, isText := a.fields["content"].(string)
	if (a.op != OpSend && a.op != OpFollowUp) || !isText {
		res := s.link.Outbound(ctx, a.fields, r.platform, r.botID)
		status, answer := resultAnswer(res)
		return outcome{status: status, answer: answer, parts: 1, delivered: boolInt(res.Success), res: res}
	}
	fences := desc.MarkdownDialect != "" && desc.MarkdownDialect != "plain"
	texts := Split(content, desc.MaxMessageLength, desc.LenUnit, fences)
	if len(texts) == 1 {
		res := s.link.Outbound(ctx, a.fields, r.platform, r.botID)
		status, answer := resultAnswer(res)
		return outcome{status: status, answer: answer, parts: 1, delivered: boolInt(res.Success), res: res}
	}
	var o outcome
	var first map[string]any
	var parts []any
	for i, text := range texts {
		frame := maps.Clone(a.fields)
		frame["content"] = text
		if i > 0 && a.op == OpSend {
			frame["reply_to"] = nil
		}
		res := s.link.Outbound(ctx, frame, r.platform, r.botID)
		status, answer := resultAnswer(res)
		o.parts++
		o.res = res
		parts = append(parts, answer)
		if i == 0 {
			first = maps.Clone(answer)
			o.status = status
		}
		if !res.Success {
			o.status = status
			if i > 0 {
				first["success"] = false
				first["error"] = fmt.Sprintf("part %d of %d: %s", i+1, len(texts), res.Error)
				for _, k := range []string{"code", "ambiguous"} {
					if v, ok := answer[k]; ok {
						first[k] = v
					}
				}
			}
			break
		}
		o.delivered++
	}
	first["parts"] = parts
	o.answer = first
	if s.log.IsDebug() {
		s.log.Debug("split send", "op", a.op, "parts", len(texts), "sent", o.parts, "delivered", o.delivered)
	}
	return o
}

// resultAnswer turns an outbound result into the HTTP status and answer:
// the connector's result object verbatim (every key; success added when it
// lacks one; ambiguous:true when the transport synthesised it), 200 on
// success, 502 for a failure the connector reported or an ambiguous one
// (the frame reached the wire; the outcome is unknown), 503 when the frame
// never left (the link is down, closing, or the write failed).
func resultAnswer(r relay.OutboundResult) (int, map[string]any) {
	answer := make(map[string]any, len(r.Raw)+2)
	maps.Copy(answer, r.Raw)
	if _, ok := answer["success"]; !ok {
		answer["success"] = r.Success
	}
	if _, ok := answer["error"]; !ok && r.Error != "" {
		answer["error"] = r.Error
	}
	if r.Ambiguous {
		answer["ambiguous"] = true
	}
	switch {
	case r.Success:
		return http.StatusOK, answer
	case r.Raw == nil && !r.Ambiguous:
		return http.StatusServiceUnavailable, answer
	}
	return http.StatusBadGateway, answer
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// stringOf returns v when it is a string, else "".
func stringOf(v any) string {
	s, _ := v.(string)
	return s
}
