package pluginapi

// MessageType says what kind of message an event carries. The values are the
// strings of the relay wire form (docs/protocol.md, Inbound events).
type MessageType string

// The message types of the relay wire form. Interactions only ever produce
// MessageTypeText or MessageTypeCommand.
const (
	MessageTypeText     MessageType = "text"
	MessageTypeLocation MessageType = "location"
	MessageTypePhoto    MessageType = "photo"
	MessageTypeVideo    MessageType = "video"
	MessageTypeAudio    MessageType = "audio"
	MessageTypeVoice    MessageType = "voice"
	MessageTypeDocument MessageType = "document"
	MessageTypeSticker  MessageType = "sticker"
	MessageTypeCommand  MessageType = "command"
)

// ParseMessageType maps a wire string to a MessageType; anything that is not
// one of the known values becomes MessageTypeText, as the reference gateway
// does.
func ParseMessageType(s string) MessageType {
	switch t := MessageType(s); t {
	case MessageTypeText, MessageTypeLocation, MessageTypePhoto, MessageTypeVideo,
		MessageTypeAudio, MessageTypeVoice, MessageTypeDocument, MessageTypeSticker,
		MessageTypeCommand:
		return t
	}
	return MessageTypeText
}

// Chat types used in SessionSource.ChatType.
const (
	ChatTypeDM      = "dm"
	ChatTypeGroup   = "group"
	ChatTypeChannel = "channel"
	ChatTypeThread  = "thread"
	ChatTypeForum   = "forum"
)

// EgressDiscordInteractionToken is the egress kind of replies to Discord
// interactions: the host sends them as a follow_up naming the session, and the
// connector answers through the interaction token it vaulted.
const EgressDiscordInteractionToken = "discord.interaction_token"

// SessionSource says where a message came from: platform, chat, thread and
// author. Its fields feed the session key, so they must match what the
// connector derives (docs/events.md, Session keys).
type SessionSource struct {
	// Platform is the source platform, e.g. "discord".
	Platform string `json:"platform"`
	// ChatID is the chat (channel) id; "" when unknown.
	ChatID string `json:"chat_id"`
	// ChatName is the chat's display name, when known.
	ChatName string `json:"chat_name,omitempty"`
	// ChatType is one of dm, group, channel, thread, forum.
	ChatType string `json:"chat_type"`
	// UserID is the author's platform id.
	UserID string `json:"user_id,omitempty"`
	// UserName is the author's display name.
	UserName string `json:"user_name,omitempty"`
	// ThreadID is the thread's id when the message came from a thread.
	ThreadID string `json:"thread_id,omitempty"`
	// ChatTopic is the chat's topic, when known.
	ChatTopic string `json:"chat_topic,omitempty"`
	// ScopeID is the tenant scope: the Discord guild or Slack workspace.
	ScopeID string `json:"scope_id,omitempty"`
	// ParentChatID is a thread's parent channel.
	ParentChatID string `json:"parent_chat_id,omitempty"`
	// MessageID is the platform id of the message the event is attached to.
	MessageID string `json:"message_id,omitempty"`
	// Profile is the agent profile the connector routed to; "" is default.
	Profile string `json:"profile,omitempty"`
	// DeliveredViaUpstreamRelay marks events that came through the relay.
	DeliveredViaUpstreamRelay bool `json:"delivered_via_upstream_relay,omitempty"`
}

// PromptResponse is a structured answer to a prompt the agent sent (for
// example a button press on an approval).
type PromptResponse struct {
	// PromptID names the prompt that was answered.
	PromptID string `json:"prompt_id"`
	// OptionID names the option that was chosen.
	OptionID string `json:"option_id"`
	// PromptMessageID is the id of the message that carried the prompt.
	PromptMessageID string `json:"prompt_message_id,omitempty"`
	// Label is the chosen option's label, when the platform sends it.
	Label string `json:"label,omitempty"`
}

// MessageEvent is one normalised message for the agent. Its JSON form is the
// relay's inbound.event wire form plus session_key, metadata and egress_kind
// (docs/events.md); it is what `relay-host convert` prints, what the stdout agent
// writes and what the webhook agent posts.
type MessageEvent struct {
	// Text is the rendered input.
	Text string `json:"text"`
	// MessageType is the kind of message.
	MessageType MessageType `json:"message_type"`
	// Source says where the message came from.
	Source SessionSource `json:"source"`
	// MessageID is the platform id of this message or interaction.
	MessageID string `json:"message_id,omitempty"`
	// ReplyToMessageID is the id of the message this one replies to.
	ReplyToMessageID string `json:"reply_to_message_id,omitempty"`
	// ReplyToText is the text of the message this one replies to.
	ReplyToText string `json:"reply_to_text,omitempty"`
	// ReplyToAuthorName is the author of the message this one replies to.
	ReplyToAuthorName string `json:"reply_to_author_name,omitempty"`
	// MediaURLs are attachment URLs; MediaTypes is parallel to it.
	MediaURLs []string `json:"media_urls,omitempty"`
	// MediaTypes are the MIME types of MediaURLs ("" when unknown).
	MediaTypes []string `json:"media_types,omitempty"`
	// PromptResponse is set when the event answers a prompt.
	PromptResponse *PromptResponse `json:"prompt_response,omitempty"`
	// Metadata carries platform details that have no field of their own.
	// Values must be JSON-shaped Go values: string, bool, float64 or
	// json.Number, nil, []any, []string, map[string]any or
	// map[string]string (nested likewise). Numbers cross the plugin
	// boundary as doubles, so carry ids as strings.
	Metadata map[string]any `json:"metadata,omitempty"`
	// SessionKey names the agent session; see SessionKey.
	SessionKey string `json:"session_key"`
	// EgressKind says how a reply to this event must leave: "" means an
	// ordinary send to the chat; EgressDiscordInteractionToken means a
	// follow_up through the connector's vaulted interaction token.
	EgressKind string `json:"egress_kind,omitempty"`
}
