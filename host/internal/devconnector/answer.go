package devconnector

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/relayhost/relay-host/host/internal/wire"
)

// Platform profiles of the descriptors the connector sends.
const (
	// discordMaxMessageLength is Discord's limit on a message's content:
	// 2000 characters, which Discord's API counts in code points (its
	// API is written in Python and measures str length; see
	// discord/discord-api-docs issue 1315), hence len_unit "chars".
	discordMaxMessageLength = 2000
	// twilioMaxMessageLength is Twilio's limit on an SMS body: 1600
	// characters. SMS text that is not GSM-7 travels as UCS-2, where an
	// emoji outside the Basic Multilingual Plane takes two units, so the
	// limit is counted in UTF-16 code units.
	twilioMaxMessageLength = 1600
)

// FullOps are the outbound ops the dev connector carries out for a chat
// platform like Discord: every op of docs/protocol.md (Outbound actions)
// but draft (no draft streaming) and the task cards.
func FullOps() []string {
	return []string{"send", "edit", "typing", "follow_up", "get_chat_info", "send_media", "prompt", "react",
		"thread_create", "thread_rename", "delete"}
}

// twilioOps are what an SMS number can do: send text and media, and tell
// what a chat is.
func twilioOps() []string { return []string{"send", "send_media", "get_chat_info"} }

// DefaultDescriptor is the descriptor the connector sends for a platform
// when Options.Descriptor is nil: all nine required fields, with realistic
// values for "discord" (2000 code points, discord markdown, threads, the
// full op set) and "twilio" (1600 UTF-16 units, plain text, send and
// media), and a generic chat platform otherwise (4096 code points, plain,
// the full op set).
func DefaultDescriptor(platform string) wire.Descriptor {
	d := wire.Descriptor{
		ContractVersion:  wire.ContractVersion,
		Platform:         platform,
		Label:            platform,
		MaxMessageLength: wire.DefaultMaxMessageLength,
		SupportsEdit:     true,
		MarkdownDialect:  "plain",
		LenUnit:          "chars",
		Emoji:            wire.DefaultEmoji,
		SupportedOps:     FullOps(),
	}
	switch platform {
	case "discord":
		d.Label, d.MaxMessageLength, d.MarkdownDialect, d.SupportsThreads = "Discord", discordMaxMessageLength, "discord", true
	case "twilio":
		d.Label, d.MaxMessageLength, d.LenUnit, d.SupportsEdit, d.SupportedOps = "Twilio SMS", twilioMaxMessageLength, "utf16", false, twilioOps()
	}
	return d
}

// required lists the fields each op the connector carries out must have,
// as non-empty strings.
var required = map[string][]string{
	"send":          {"chat_id"},
	"edit":          {"chat_id", "message_id"},
	"typing":        {"chat_id"},
	"get_chat_info": {"chat_id"},
	"follow_up":     {"session_key", "kind"},
	"send_media":    {"chat_id", "media_kind", "source_url"},
	"prompt":        {"chat_id", "prompt_id"},
	"react":         {"chat_id", "message_id", "emoji"},
	"thread_create": {"chat_id", "thread_name"},
	"thread_rename": {"chat_id", "message_id", "thread_name"},
	"delete":        {"chat_id", "message_id"},
}

// Answer returns the result the connector gives an outbound action, as if
// it had carried it out on the platform: a new message id ("<prefix><n>",
// Options.MessageIDPrefix, n counting the messages created) for send,
// follow_up, send_media and prompt; the edited message's id for edit; a new
// thread id for thread_create; the chat's name and type for get_chat_info;
// success for typing, react, thread_rename and delete. An action missing a
// field it needs, a send_media of a file this connector does not host
// (under its /relay/media/ whose id it does not know), and an op it does not
// carry out are answered with success false and the reason. It never
// consults the interaction-token vault of the edge (host/edge answers
// follow_ups itself).
func (s *Server) Answer(of OutboundFrame) map[string]any {
	op := of.Op()
	str := func(k string) string { v, _ := of.Action[k].(string); return v }
	if _, known := required[op]; !known || !slices.Contains(s.descriptorOps(of.Platform), op) {
		return map[string]any{"success": false, "error": fmt.Sprintf("%s is not supported by this connector", orQuoted(op)),
			"code": "unsupported_op"}
	}
	for _, k := range required[op] {
		if str(k) == "" {
			return map[string]any{"success": false, "error": fmt.Sprintf("%s: %s is required", op, k)}
		}
	}
	switch op {
	case "send", "follow_up", "prompt":
		return map[string]any{"success": true, "message_id": s.newMessageID()}
	case "send_media":
		if id, ours := s.mediaIDOf(str("source_url")); ours && !s.media.has(id) {
			return map[string]any{"success": false, "error": "send_media: source_url names no file this connector hosts (expired or never uploaded)"}
		}
		return map[string]any{"success": true, "message_id": s.newMessageID()}
	case "edit":
		return map[string]any{"success": true, "message_id": str("message_id")}
	case "thread_create":
		return map[string]any{"success": true, "thread_id": s.newThreadID()}
	case "get_chat_info":
		typ := "group"
		if of.Platform == "twilio" {
			typ = "dm"
		}
		return map[string]any{"success": true, "name": str("chat_id"), "type": typ}
	}
	return map[string]any{"success": true}
}

// descriptorOps returns the ops the connector advertised for platform ("" is
// the session default: the ops of the first identity are not known here,
// so every op of FullOps and the SMS set counts).
func (s *Server) descriptorOps(platform string) []string {
	if platform == "" {
		return append(FullOps(), twilioOps()...)
	}
	d := DefaultDescriptor(platform)
	if s.opts.Descriptor != nil {
		d = s.opts.Descriptor(platform, "")
	}
	if len(d.SupportedOps) == 0 {
		return wire.LegacyOps()
	}
	return d.SupportedOps
}

func (s *Server) newMessageID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.messages++
	return s.messageIDPrefix() + strconv.Itoa(s.messages)
}

func (s *Server) newThreadID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.threads++
	return s.messageIDPrefix() + "thread-" + strconv.Itoa(s.threads)
}

func (s *Server) messageIDPrefix() string {
	if s.opts.MessageIDPrefix != "" {
		return s.opts.MessageIDPrefix
	}
	return "m-"
}

// mediaIDOf reports whether raw is a URL of this connector's media plane,
// and the file id it names.
func (s *Server) mediaIDOf(raw string) (string, bool) {
	base := s.URL()
	if base == "" {
		return "", false
	}
	id, ok := strings.CutPrefix(raw, base+MediaPath+"/")
	return id, ok && id != "" && !strings.Contains(id, "/")
}

func orQuoted(op string) string {
	if op == "" {
		return "an action without op"
	}
	return strconv.Quote(op)
}
