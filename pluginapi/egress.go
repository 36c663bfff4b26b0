package pluginapi

import (
	"context"
	"fmt"
)

// Egress is implemented by a plugin that sends the agent's messages to its
// platform itself: a platform the connector does not know (GitHub, a
// self-hosted chat) is then complete with the plugin alone. Serve
// advertises the "egress" capability, and the host hands the plugin every
// action for a chat of the plugin's platforms (the agent API's actions and
// the one-line reply to an event) instead of sending it to the connector.
//
// HandleAction is called concurrently and must honour ctx (the host's
// deadline). A panic is recovered and answered as a failure.
type Egress interface {
	HandleAction(ctx context.Context, a Action) ActionResult
}

// Action is one agent action for a chat of the plugin's platform
// (docs/agents.md lists the ops and their fields).
type Action struct {
	// Platform is the platform the action is for.
	Platform string `json:"platform"`
	// BotID is the identity the chat's events came to; "" when unknown.
	BotID string `json:"bot_id,omitempty"`
	// Op is the action's op: send, edit, typing, follow_up, react, ….
	Op string `json:"op"`
	// Fields is the whole action object as the agent sent it (op included).
	// Numbers are float64.
	Fields map[string]any `json:"fields"`
}

// String returns the string field key of the action, "" when it is absent
// or not a string.
func (a Action) String(key string) string {
	s, _ := a.Fields[key].(string)
	return s
}

// ActionResult is a plugin's answer to an action, in the shape of a
// connector's outbound_result (docs/protocol.md, Outbound results): the
// agent sees the same object whichever sent its action.
type ActionResult struct {
	// Success says the platform took the action.
	Success bool `json:"success"`
	// MessageID is the platform's id of the message sent or edited.
	MessageID string `json:"message_id,omitempty"`
	// Error says why it failed, in one line without secrets.
	Error string `json:"error,omitempty"`
	// Code is a machine-readable failure code, e.g. "rate_limited".
	Code string `json:"code,omitempty"`
	// Extra holds any other keys of the result object (thread_id, …), as
	// JSON-shaped values; the four keys above cannot be overridden here.
	Extra map[string]any `json:"-"`
}

// ActionSent returns a successful result carrying the platform's message id.
func ActionSent(messageID string) ActionResult {
	return ActionResult{Success: true, MessageID: messageID}
}

// ActionFailed returns a failed result with a code ("" for none) and a
// formatted one-line error.
func ActionFailed(code, format string, args ...any) ActionResult {
	return ActionResult{Error: fmt.Sprintf(format, args...), Code: code}
}

// Action failure codes the SDK and the host use.
const (
	// CodeUnsupportedOp: the plugin does not do this op.
	CodeUnsupportedOp = "unsupported_op"
	// CodePluginFailed: the plugin panicked, answered garbage or did not
	// answer in time.
	CodePluginFailed = "plugin_failed"
)
