package convert

import (
	"fmt"

	"github.com/relayhost/relay-host/pluginapi"
)

// Platform is the source platform of every event this package produces,
// whatever the forward's own Platform field says (the host routes forwards by
// platform; a Discord body converts the same way under any label).
const Platform = "discord"

// Discord interaction types (receiving-and-responding#interaction-object-interaction-type).
const (
	typePing               = 1
	typeApplicationCommand = 2
	typeMessageComponent   = 3
	typeAutocomplete       = 4
	typeModalSubmit        = 5
)

// Metadata keys set on events.
const (
	// MetaInteractionID is the interaction id (also the event's MessageID).
	MetaInteractionID = "discord_interaction_id"
	// MetaValues lists a select menu's selected values, in Discord's order.
	MetaValues = "discord_values"
	// MetaModalFields lists a modal's submitted fields as objects
	// {custom_id, value[, values]}, in submission order.
	MetaModalFields = "discord_modal_fields"
	// MetaModalCustomID is the custom_id of the submitted modal itself.
	MetaModalCustomID = "discord_modal_custom_id"
)

// Details reports facts about one conversion that are not part of its
// Result, for logging and metrics.
type Details struct {
	// TokenStripped is true when the body carried a top-level "token" key
	// (whatever its value), which was deleted before anything else was read.
	// A connector is supposed to strip it; seeing one means it did not. It
	// is false for a body that is not a JSON object at all.
	TokenStripped bool
}

// Convert converts one forwarded Discord interaction. It never panics and
// never blocks; the result is Handled with exactly one event, Dropped (PING,
// AUTOCOMPLETE) or Rejected (an unusable body), each with a one-line reason
// that never quotes the body.
//
// f.Platform is not checked: the host routes by platform, and a Discord body
// forwarded under another label converts the same way (its events still say
// platform "discord"). Only f.Body and f.Profile are read.
func Convert(f pluginapi.Forward) pluginapi.Result {
	res, _ := ConvertDetailed(f)
	return res
}

// ConvertDetailed is Convert that also reports Details.
//
// It converts on the typed path (typed.go), which decodes only the fields
// the rules read; for the rare body that path cannot decide, on the generic
// path (decode the whole body, then walk it). Both give the same result for
// every body.
func ConvertDetailed(f pluginapi.Forward) (pluginapi.Result, Details) {
	if res, d, decided := convertTyped(f); decided {
		return res, d
	}
	return convertGeneric(f)
}

// convertGeneric is the generic path: the whole body decoded into
// map[string]any, then walked.
func convertGeneric(f pluginapi.Forward) (pluginapi.Result, Details) {
	var d Details
	body, reason := parseBody(f.Body)
	if reason != "" {
		return pluginapi.Reject(reason), d
	}
	// The token goes first, before anything can copy it anywhere.
	if _, ok := body["token"]; ok {
		delete(body, "token")
		d.TokenStripped = true
	}
	return convertInteraction(body, f.Profile), d
}

// convertInteraction applies the rules of plugins/discord/README.md to a
// parsed body whose token is gone.
func convertInteraction(body map[string]any, profile string) pluginapi.Result {
	typ, typed := smallInt(body["type"])
	if !typed {
		typ = 0 // missing, non-numeric or not an integer: an unknown type
	}
	switch typ {
	case typePing:
		return pluginapi.Drop("PING interaction (type 1): nothing for the agent; the connector answers PINGs at its edge")
	case typeAutocomplete:
		return pluginapi.Drop("AUTOCOMPLETE interaction (type 4): nothing for the agent; autocomplete cannot be answered through the relay")
	}

	var data map[string]any
	if raw := body["data"]; truthy(raw) {
		data = object(raw)
		if data == nil && (typ == typeApplicationCommand || typ == typeMessageComponent || typ == typeModalSubmit) {
			return pluginapi.Reject(fmt.Sprintf("interaction data is a JSON %s, not an object (interaction type %d)", jsonKind(raw), typ))
		}
	}

	b := builder{ev: pluginapi.MessageEvent{MessageType: pluginapi.MessageTypeText}}
	b.ev.Source = source(body, profile)
	if id := truthyString(body["id"]); id != "" {
		b.ev.MessageID = id
		b.setMeta(MetaInteractionID, id)
	}
	switch typ {
	case typeApplicationCommand:
		b.command(data)
	case typeMessageComponent:
		b.component(data)
	case typeModalSubmit:
		b.modal(data)
	}
	// Any other type (missing, unknown, non-numeric) keeps the empty text
	// event of the reference (plugins/discord/README.md, "PING, AUTOCOMPLETE,
	// other types").

	b.ev.Metadata = b.meta
	b.ev.SessionKey = pluginapi.SessionKey(b.ev.Source)
	b.ev.EgressKind = pluginapi.EgressDiscordInteractionToken
	return pluginapi.Handle(b.ev)
}

// builder accumulates the one event of a conversion.
type builder struct {
	ev   pluginapi.MessageEvent
	meta map[string]any
}

// setMeta sets one metadata key, creating the map on first use.
func (b *builder) setMeta(key string, v any) {
	if b.meta == nil {
		b.meta = make(map[string]any, 4)
	}
	b.meta[key] = v
}

// addMedia appends one attachment to the parallel media lists.
func (b *builder) addMedia(url, contentType string) {
	b.ev.MediaURLs = append(b.ev.MediaURLs, url)
	b.ev.MediaTypes = append(b.ev.MediaTypes, contentType)
}

// attachment looks the attachment id up in data.resolved.attachments
// (plugins/discord/README.md, "Deliberate differences": attachments):
// a resolved attachment with a url adds a media entry (content_type, or ""
// when unknown), and the returned display text is its filename, falling back
// to the id when the attachment or its filename is missing.
func (b *builder) attachment(data map[string]any, id string) string {
	att := object(object(object(data["resolved"])["attachments"])[id])
	if att == nil {
		return id
	}
	if url := truthyString(att["url"]); url != "" {
		b.addMedia(url, truthyString(att["content_type"]))
	}
	if name := pyStrip(truthyString(att["filename"])); name != "" {
		return name
	}
	return id
}

// attachedMessageID is the id of the message a component (or a modal opened
// from one) was attached to, or "" (plugins/discord/README.md, "Identity and
// session key").
func attachedMessageID(body map[string]any) string {
	return truthyString(object(body["message"])["id"])
}

// source builds the SessionSource of plugins/discord/README.md, "Identity and
// session key": every field that feeds the session key or the connector's
// egress guard is wire-compatible with the reference.
func source(body map[string]any, profile string) pluginapi.SessionSource {
	src := pluginapi.SessionSource{
		Platform:                  Platform,
		ChatID:                    truthyString(body["channel_id"]),
		ChatType:                  pluginapi.ChatTypeDM,
		MessageID:                 attachedMessageID(body),
		Profile:                   profile,
		DeliveredViaUpstreamRelay: true,
	}
	guild := body["guild_id"]
	inGuild := truthy(guild)
	channel := object(body["channel"])
	switch {
	case inGuild && channel != nil && isNumber(channel["type"], 10, 11, 12):
		// Announcement (10), public (11; forum posts too) and private (12)
		// threads.
		src.ChatType = pluginapi.ChatTypeThread
		src.ThreadID = src.ChatID
		src.ParentChatID = truthyString(channel["parent_id"])
	case inGuild:
		src.ChatType = pluginapi.ChatTypeGroup
	}
	if inGuild {
		src.ScopeID = render(guild)
	}

	member := object(body["member"])
	var userRaw any
	if member != nil {
		userRaw = member["user"]
	}
	if !truthy(userRaw) {
		userRaw = body["user"]
	}
	user := object(userRaw) // a non-object user counts as empty
	src.UserID = truthyString(user["id"])
	if inGuild {
		// Guild: nick → global name → username. The plugin is stateless, so
		// a missing nick key has no remembered display name to fall back on.
		src.UserName = firstTruthy(member["nick"], user["global_name"], user["username"])
	} else {
		src.UserName = firstTruthy(user["global_name"], user["username"])
	}
	return src
}
