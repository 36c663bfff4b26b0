package edge

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/relayhost/relay-host/host/internal/devconnector"
)

// Outbound is an outbound action from the host other than a follow_up or a
// send (edit, typing, prompt, react, thread_create, send_media, …) and how
// the connector answered it.
type Outbound struct {
	// Op is the action's op.
	Op string
	// Platform is the frame's platform tag ("" for the session default).
	Platform string
	// ChatID is the action's chat.
	ChatID string
	// MessageID is the message the action acts on (edit, react, delete,
	// thread_rename), or the prompt's answer.
	MessageID string
	// Detail is what the action asks for, in a few words: the new text of
	// an edit, the emoji of a reaction, a thread's name, a file's URL.
	Detail string
	// PromptID and Options are a prompt's id and buttons.
	PromptID string
	Options  []PromptOption
	// NewID is the message or thread id answered ("" when none).
	NewID string
	// Success and Error are the answer.
	Success bool
	Error   string
}

// PromptOption is one button of a prompt.
type PromptOption struct {
	// ID is the option's id (what a press answers with).
	ID string
	// Label is the button's text.
	Label string
}

// PromptButtonID returns the custom_id of the button for option of a
// prompt, as the connector renders prompts on Discord ("hp1:" + prompt id +
// ":" + option id): a press on it comes back as a MESSAGE_COMPONENT
// interaction the Discord plugin turns into a prompt answer.
func PromptButtonID(promptID, optionID string) string { return "hp1:" + promptID + ":" + optionID }

// outboundEvent describes one action and its answer.
func outboundEvent(of devconnector.OutboundFrame, res map[string]any) Outbound {
	a := of.Action
	str := func(k string) string { s, _ := a[k].(string); return s }
	o := Outbound{Op: of.Op(), Platform: of.Platform, ChatID: str("chat_id")}
	o.Success, _ = res["success"].(bool)
	o.Error, _ = res["error"].(string)
	switch o.Op {
	case "edit":
		o.MessageID, o.Detail = str("message_id"), lengthNote(str("content"))
	case "react":
		o.MessageID, o.Detail = str("message_id"), str("emoji")
		if remove, _ := a["remove"].(bool); remove {
			o.Detail += " removed"
		} else {
			o.Detail += " added"
		}
	case "delete":
		o.MessageID = str("message_id")
	case "thread_rename":
		o.MessageID, o.Detail = str("message_id"), fmt.Sprintf("%q", str("thread_name"))
	case "thread_create":
		o.MessageID, o.Detail = str("message_id"), fmt.Sprintf("%q", str("thread_name"))
	case "send_media":
		o.Detail = str("media_kind") + " " + str("source_url")
		if c := str("content"); c != "" {
			o.Detail += " with caption " + fmt.Sprintf("%q", OneLine(c))
		}
	case "prompt":
		o.PromptID, o.Detail = str("prompt_id"), fmt.Sprintf("%q", OneLine(str("content")))
		list, _ := a["options"].([]any)
		for _, it := range list {
			m, _ := it.(map[string]any)
			id, _ := m["id"].(string)
			label, _ := m["label"].(string)
			o.Options = append(o.Options, PromptOption{ID: id, Label: label})
		}
	case "typing":
		if c, ok := a["content"].(string); ok {
			o.Detail = fmt.Sprintf("status %q", OneLine(c))
		}
	}
	for _, k := range []string{"message_id", "thread_id"} {
		if v, _ := res[k].(string); v != "" && o.Op != "edit" {
			o.NewID = v
		}
	}
	return o
}

// String describes the action and its answer on one line.
func (o Outbound) String() string {
	var b strings.Builder
	b.WriteString(orNone(o.Op))
	switch {
	case o.PromptID != "":
		fmt.Fprintf(&b, " %s", o.PromptID)
	case o.MessageID != "" && o.Op != "thread_create":
		fmt.Fprintf(&b, " of %s", o.MessageID)
	}
	if o.ChatID != "" {
		fmt.Fprintf(&b, " in chat %s", o.ChatID)
	}
	if o.Detail != "" {
		fmt.Fprintf(&b, ": %s", o.Detail)
	}
	for _, opt := range o.Options {
		fmt.Fprintf(&b, " [%s: %s]", opt.ID, opt.Label)
	}
	switch {
	case !o.Success:
		fmt.Fprintf(&b, " → failed: %s", o.Error)
	case o.NewID != "":
		fmt.Fprintf(&b, " → %s", o.NewID)
	default:
		b.WriteString(" → ok")
	}
	return b.String()
}

// Media is a request to the connector's media plane: an upload from the
// host (for a following send_media) or a download of a hosted file.
type Media struct{ devconnector.MediaRequest }

// String describes the request on one line.
func (m Media) String() string {
	what := "download of " + orNone(m.ID)
	if m.Upload {
		what = "upload"
		if m.Filename != "" {
			what += " of " + fmt.Sprintf("%q", m.Filename)
		}
	}
	if m.Reason != "" {
		return fmt.Sprintf("%s refused %d: %s", what, m.Status, m.Reason)
	}
	s := fmt.Sprintf("%s (%d bytes, %s)", what, m.Size, m.ContentType)
	if m.Upload {
		s += " → " + m.ID
	}
	return s
}

// lengthNote renders a message's text on one line, with its length when
// OneLine had to cut it.
func lengthNote(s string) string {
	line := OneLine(s)
	if n := utf8.RuneCountInString(s); n > maxLineRunes {
		return fmt.Sprintf("%s (%d chars)", line, n)
	}
	return line
}
