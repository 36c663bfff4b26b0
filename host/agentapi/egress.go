package agentapi

import (
	"context"
	"strings"

	"github.com/relayhost/relay-host/host/relay"
)

// Egress sends the actions for chats of one platform when a plugin, not the
// connector, owns that platform's egress (a plugin with the egress
// capability; see docs/plugin-authoring.md). Its answer has the shape of a
// connector's outbound_result.
type Egress interface {
	Outbound(ctx context.Context, action map[string]any, platform, botID string) relay.OutboundResult
}

// chatPlatform is the platform of the chat an action is for, whether or
// not the connector fronts it: the explicit platform, the platform a
// follow_up's kind names, or the platform the chat was last seen on.
func chatPlatform(a *action, r route) string {
	switch {
	case a.platform != "":
		return a.platform
	case r.platform != "":
		return r.platform
	case a.op == OpFollowUp:
		prefix, _, _ := strings.Cut(stringOf(a.fields["kind"]), ".")
		return prefix
	case r.known:
		return r.chat.platform
	}
	return ""
}

// pluginEgress returns the plugin egress that owns the action's chat
// platform, and that platform; false when the connector carries it.
func (s *Service) pluginEgress(a *action, r route) (Egress, string, bool) {
	if s.cfg.Egress == nil || a.op == OpGetChatInfo {
		return nil, "", false
	}
	platform := chatPlatform(a, r)
	if platform == "" {
		return nil, "", false
	}
	eg, ok := s.cfg.Egress(platform)
	return eg, platform, ok
}

// viaPlugin sends an action through the plugin that owns its chat's
// platform, when Config.Egress names one: enriched like any action, but
// neither gated on a connector descriptor nor split (the plugin knows its
// platform's rules). It reports false when the connector path applies.
func (s *Service) viaPlugin(ctx context.Context, a *action, r route) (outcome, bool) {
	eg, platform, ok := s.pluginEgress(a, r)
	if !ok {
		return outcome{}, false
	}
	enrich(a, r)
	botID := a.botID
	if botID == "" && r.known && r.chat.platform == platform {
		botID = r.chat.botID
	}
	res := eg.Outbound(ctx, a.fields, platform, botID)
	status, answer := resultAnswer(res)
	return outcome{status: status, answer: answer, parts: 1, delivered: boolInt(res.Success), res: res}, true
}
