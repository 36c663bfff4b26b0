package plugins

import (
	"context"
	"fmt"

	"github.com/relayhost/relay-host/internal/pluginlink"
	"github.com/relayhost/relay-host/pluginapi"
	"github.com/relayhost/relay-host/pluginapi/launcher"
)

// EgressPlatform reports whether the plugin serving platform sends that
// platform's agent actions itself (it advertised the egress capability).
func (m *Manager) EgressPlatform(platform string) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	e, ok := m.byPlatform[platform]
	return ok && e.sup.Info().HasCapability(pluginlink.CapabilityEgress)
}

// HandleAction hands an agent action for a chat of platform to the plugin
// that owns the platform's egress, and returns its answer (shaped like a
// connector's outbound_result). The answer is a failure with code
// pluginapi.CodePluginFailed when no running plugin owns the platform's
// egress, or the plugin did not answer in time. The action's map is sent
// as it is and not kept.
func (m *Manager) HandleAction(ctx context.Context, platform, botID string, action map[string]any) launcher.ActionResult {
	e, refusal := m.acquire(platform)
	if e == nil {
		msg := fmt.Sprintf("no plugin sends %s actions", platform)
		if refusal != nil {
			msg = fmt.Sprintf("plugin %s, which sends %s actions, was refused: %v", refusal.Name, platform, refusal.Err)
		}
		return launcher.ActionResult{Error: msg, Code: pluginapi.CodePluginFailed,
			Raw: map[string]any{"success": false, "error": msg, "code": pluginapi.CodePluginFailed}}
	}
	defer e.inflight.Done()
	if !e.sup.Info().HasCapability(pluginlink.CapabilityEgress) {
		msg := fmt.Sprintf("plugin %s does not send %s actions", e.sup.cand.Name, platform)
		return launcher.ActionResult{Error: msg, Code: pluginapi.CodePluginFailed,
			Raw: map[string]any{"success": false, "error": msg, "code": pluginapi.CodePluginFailed}}
	}
	return e.sup.HandleAction(ctx, platform, botID, action)
}
