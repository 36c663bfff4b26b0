package convert

import (
	"strings"

	"github.com/relayhost/relay-host/pluginapi"
)

// Application command kinds (data.type) and option types
// (application-commands#application-command-object-application-command-option-type).
const (
	commandUser    = 2 // USER context menu
	commandMessage = 3 // MESSAGE context menu

	optionSubCommand      = 1
	optionSubCommandGroup = 2
	optionAttachment      = 11
)

// command renders an APPLICATION_COMMAND (plugins/discord/README.md,
// "APPLICATION_COMMAND (type 2)"): "/name" followed by subcommand names and
// option values in order, then a context menu's target id. data.type decides
// nothing else: CHAT_INPUT (1), USER (2), MESSAGE (3) and PRIMARY_ENTRY_POINT
// (4) all render as commands.
func (b *builder) command(data map[string]any) {
	head := strings.TrimRight("/"+truthyString(data["name"]), "/")
	if head == "" {
		return // unnamed command: empty text event
	}
	parts := b.options(data, data["options"], nil, 1)

	if kind, _ := smallInt(data["type"]); kind == commandUser || kind == commandMessage {
		target := pyStrip(truthyString(data["target_id"]))
		if target != "" {
			parts = append(parts, target)
			if kind == commandMessage {
				b.replyTo(data, target)
			}
		}
	}

	b.ev.Text = pyStrip(head + " " + strings.Join(parts, " "))
	b.ev.MessageType = pluginapi.MessageTypeCommand
}

// options appends the rendering of one options array to parts: subcommands
// and groups contribute their name and recurse, every other option its value
// (attachments their filename; plugins/discord/README.md, "Deliberate
// differences": attachments). depth is the option nesting level; the walk
// stops at MaxDepth, which a parsed body cannot exceed anyway.
func (b *builder) options(data map[string]any, raw any, parts []string, depth int) []string {
	list, ok := raw.([]any)
	if !ok || depth > MaxDepth {
		return parts
	}
	for _, item := range list {
		opt := object(item)
		if opt == nil {
			continue
		}
		typ := opt["type"]
		if isNumber(typ, optionSubCommand, optionSubCommandGroup) {
			if name := pyStrip(render(opt["name"])); name != "" {
				parts = append(parts, name)
			}
			parts = b.options(data, opt["options"], parts, depth+1)
			continue
		}
		value := opt["value"]
		if value == nil {
			continue
		}
		s := pyStrip(render(value))
		if s == "" {
			continue
		}
		if isNumber(typ, optionAttachment) {
			s = b.attachment(data, s)
		}
		parts = append(parts, s)
	}
	return parts
}

// replyTo fills the reply context from a MESSAGE context menu's target
// (plugins/discord/README.md, "Deliberate differences": context-menu
// targets): the target id, the resolved message's content, and its author's
// display name (member nick → global name → username).
func (b *builder) replyTo(data map[string]any, target string) {
	b.ev.ReplyToMessageID = target
	msg := object(object(object(data["resolved"])["messages"])[target])
	if msg == nil {
		return
	}
	if id := truthyString(msg["id"]); id != "" {
		b.ev.ReplyToMessageID = id
	}
	b.ev.ReplyToText = truthyString(msg["content"])
	author := object(msg["author"])
	b.ev.ReplyToAuthorName = firstTruthy(object(msg["member"])["nick"], author["global_name"], author["username"])
}
