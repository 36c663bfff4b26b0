package plugintest

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/relayhost/relay-host/pluginapi"
)

// Configure hands the plugin a configuration, as the host does before the
// first forward and on every change: settings is encoded as JSON (a map,
// a struct or a json.RawMessage; nil for none), secrets are the secret
// files' contents. It returns the plugin's refusal, if any.
func (h *Harness) Configure(tb testing.TB, settings any, secrets map[string]string) error {
	tb.Helper()
	raw := json.RawMessage("{}")
	if settings != nil {
		b, err := json.Marshal(settings)
		if err != nil {
			tb.Fatalf("encode settings: %v", err)
		}
		raw = b
	}
	c := pluginapi.Config{Settings: raw, Secrets: map[string][]byte{}}
	for k, v := range secrets {
		c.Secrets[k] = []byte(v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), ForwardTimeout)
	defer cancel()
	return h.remote.Configure(ctx, c)
}

// Action sends the plugin an agent action for platform (egress), as the
// host does for a chat of a platform whose egress the plugin owns, and
// returns its answer.
func (h *Harness) Action(ctx context.Context, platform, botID string, action map[string]any) pluginapi.ActionResult {
	r := h.remote.HandleAction(ctx, platform, botID, action)
	extra := map[string]any{}
	for k, v := range r.Raw {
		switch k {
		case "success", "message_id", "error", "code":
		default:
			extra[k] = v
		}
	}
	return pluginapi.ActionResult{Success: r.Success, MessageID: r.MessageID, Error: r.Error, Code: r.Code, Extra: extra}
}

// CheckHealth runs the plugin's health check, as `relay-host plugins list
// --check` and /readyz do.
func (h *Harness) CheckHealth(ctx context.Context) error { return h.remote.CheckHealth(ctx) }
