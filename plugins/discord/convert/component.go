package convert

import (
	"strings"

	"github.com/relayhost/relay-host/pluginapi"
)

// PromptTokenPrefix is the first part of a Hermes prompt token, the custom_id
// the connector gives the buttons of a prompt: "hp1:<prompt_id>:<option_id>"
// (plugins/discord/README.md, "MESSAGE_COMPONENT (type 3)").
const PromptTokenPrefix = "hp1"

// maxPromptPart is the longest prompt or option id a prompt token may carry.
const maxPromptPart = 32

// component renders a MESSAGE_COMPONENT (plugins/discord/README.md,
// "MESSAGE_COMPONENT (type 3)"): the custom_id; for a select menu also its
// values; for a valid prompt token a prompt answer.
func (b *builder) component(data map[string]any) {
	customID := truthyString(data["custom_id"])
	b.ev.Text = customID

	if isNumber(data["component_type"], 3, 5, 6, 7, 8) { // string, user, role, mentionable, channel select
		if list, ok := data["values"].([]any); ok {
			values := renderList(list)
			b.setMeta(MetaValues, anyStrings(values))
			if len(values) > 0 {
				if customID != "" {
					b.ev.Text = customID + " " + strings.Join(values, " ")
				} else {
					b.ev.Text = strings.Join(values, " ")
				}
			}
		}
	}

	if promptID, optionID, ok := ParsePromptToken(customID); ok {
		b.ev.PromptResponse = &pluginapi.PromptResponse{
			PromptID:        promptID,
			OptionID:        optionID,
			PromptMessageID: b.ev.Source.MessageID,
		}
		b.ev.Text = "/" + optionID
		b.ev.MessageType = pluginapi.MessageTypeCommand
	}
}

// ParsePromptToken parses a component custom_id as a prompt token
// "hp1:<prompt_id>:<option_id>": exactly three ':'-separated parts, the first
// exactly "hp1", the other two each 1–32 characters of [A-Za-z0-9_.-]. Like
// the reference's regular expression, it tolerates one trailing "\n" on
// either id; unlike it, the newline is not kept in the returned id.
func ParsePromptToken(customID string) (promptID, optionID string, ok bool) {
	prefix, rest, found := strings.Cut(customID, ":")
	if !found || prefix != PromptTokenPrefix {
		return "", "", false
	}
	promptID, optionID, found = strings.Cut(rest, ":")
	if !found || strings.Contains(optionID, ":") {
		return "", "", false
	}
	promptID, okP := promptPart(promptID)
	optionID, okO := promptPart(optionID)
	if !okP || !okO {
		return "", "", false
	}
	return promptID, optionID, true
}

// promptPart validates one id of a prompt token and drops a single trailing
// newline.
func promptPart(s string) (string, bool) {
	s = strings.TrimSuffix(s, "\n")
	if len(s) == 0 || len(s) > maxPromptPart {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_', c == '.', c == '-':
		default:
			return "", false
		}
	}
	return s, true
}

// renderList renders the non-null elements of a JSON array losslessly, in
// order.
func renderList(list []any) []string {
	out := make([]string, 0, len(list))
	for _, v := range list {
		if v != nil {
			out = append(out, render(v))
		}
	}
	return out
}

// anyStrings converts to []any: metadata crosses the plugin boundary as JSON
// values, and []any is the list form every encoder accepts.
func anyStrings(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
