// Package convert turns one Discord interaction body, as the connector
// forwards it, into the relay-host result for the agent: at most one
// [pluginapi.MessageEvent] and a [pluginapi.Disposition].
//
// The rules are those of the reference gateway with relay-host's deliberate
// differences on top; plugins/discord/README.md lists every rule and every
// deliberate difference. In short:
//
//   - APPLICATION_COMMAND (2) becomes "/name sub … values" with message type
//     command; context menus become "/name <target_id>", and a MESSAGE
//     command's target fills the reply_to_* fields.
//   - MESSAGE_COMPONENT (3) becomes the custom_id (plus the selected values of
//     a select menu); a valid "hp1:<prompt_id>:<option_id>" custom_id becomes a
//     prompt answer "/<option_id>" with a prompt_response.
//   - MODAL_SUBMIT (5) becomes one "custom_id=value" line per submitted field.
//   - PING (1) and AUTOCOMPLETE (4) are dropped; unusable bodies are rejected.
//
// Everything here is a pure function of the forward: no I/O, no clocks, no
// state kept between calls, so Convert is safe for concurrent use. A top-level
// "token" in the body is deleted before anything else is read, and no output
// (event, metadata or reason) depends on its value.
package convert
