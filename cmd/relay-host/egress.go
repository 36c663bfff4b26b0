package main

import (
	"context"
	"strings"

	"github.com/relayhost/relay-host/host"
	"github.com/relayhost/relay-host/host/agentapi"
	"github.com/relayhost/relay-host/host/plugins"
	"github.com/relayhost/relay-host/host/relay"
)

// pluginEgress sends the agent's actions for the chats of a platform whose
// egress a plugin owns (the egress capability) through that plugin; the
// connector stays the path of every other platform.
type pluginEgress struct{ mgr *plugins.Manager }

var _ agentapi.Egress = pluginEgress{}

// route is agentapi.Config.Egress: the plugin for platform, when one owns
// its egress.
func (e pluginEgress) route(platform string) (agentapi.Egress, bool) {
	if e.mgr.EgressPlatform(platform) {
		return e, true
	}
	return nil, false
}

// Outbound implements agentapi.Egress.
func (e pluginEgress) Outbound(ctx context.Context, action map[string]any, platform, botID string) relay.OutboundResult {
	res := e.mgr.HandleAction(ctx, platform, botID, action)
	return relay.OutboundResult{Success: res.Success, MessageID: res.MessageID, Error: res.Error, Code: res.Code,
		Ambiguous: res.Ambiguous, Raw: res.Raw}
}

// egressLink is the host's link with plugin egress: a reply to an event of
// a platform whose egress a plugin owns goes to the plugin (the platform
// is the one the host tagged it with, or the one a follow_up's kind
// names), everything else to the connector.
type egressLink struct {
	host.Link
	egress pluginEgress
}

// Outbound implements host.Link.
func (l egressLink) Outbound(ctx context.Context, action any, platform, botID string) relay.OutboundResult {
	fields, _ := action.(map[string]any)
	p := egressPlatform(fields, platform)
	if fields != nil && p != "" && l.egress.mgr.EgressPlatform(p) {
		return l.egress.Outbound(ctx, fields, p, botID)
	}
	return l.Link.Outbound(ctx, action, platform, botID)
}

// Batch implements host.Batcher when the link under it does.
func (l egressLink) Batch(fn func()) {
	if b, ok := l.Link.(host.Batcher); ok {
		b.Batch(fn)
		return
	}
	fn()
}

// OutboundAsync implements host.Link: a reply for a platform whose egress
// a plugin owns goes to that plugin (its call bounded by the outbound
// timeout), everything else to the connector without waiting.
func (l egressLink) OutboundAsync(action any, platform, botID string, done func(relay.OutboundResult)) {
	fields, _ := action.(map[string]any)
	p := egressPlatform(fields, platform)
	if fields == nil || p == "" || !l.egress.mgr.EgressPlatform(p) {
		l.Link.OutboundAsync(action, platform, botID, done)
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), relay.DefaultOutboundTimeout)
		defer cancel()
		res := l.egress.Outbound(ctx, fields, p, botID)
		if done != nil {
			done(res)
		}
	}()
}

// egressPlatform is the platform an action of the host's goes out on: the
// one it was tagged with, or, for a follow_up, the one its kind names.
func egressPlatform(fields map[string]any, platform string) string {
	if platform == "" && fields != nil && fields["op"] == "follow_up" {
		kind, _ := fields["kind"].(string)
		platform, _, _ = strings.Cut(kind, ".")
	}
	return platform
}
