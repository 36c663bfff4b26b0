package wire

import (
	"encoding/json"
	"errors"
	"regexp"
	"strings"

	"github.com/relayhost/relay-host/pluginapi"
)

// wireEvent and wireSource are the inbound.event wire form
// (docs/protocol.md, Inbound events).
type wireEvent struct {
	Text             json.RawMessage `json:"text"`
	MessageType      json.RawMessage `json:"message_type"`
	MessageID        json.RawMessage `json:"message_id"`
	ReplyToMessageID json.RawMessage `json:"reply_to_message_id"`
	ReplyTo          json.RawMessage `json:"reply_to"`
	MediaURLs        json.RawMessage `json:"media_urls"`
	Media            json.RawMessage `json:"media"`
	Context          json.RawMessage `json:"context"`
	PromptResponse   json.RawMessage `json:"prompt_response"`
	Source           json.RawMessage `json:"source"`
}

type wireSource struct {
	Platform              json.RawMessage `json:"platform"`
	ChatID                json.RawMessage `json:"chat_id"`
	ChatType              json.RawMessage `json:"chat_type"`
	ChatName              json.RawMessage `json:"chat_name"`
	ChatTopic             json.RawMessage `json:"chat_topic"`
	UserID                json.RawMessage `json:"user_id"`
	UserDisplayName       json.RawMessage `json:"user_display_name"`
	UserName              json.RawMessage `json:"user_name"`
	UserHandle            json.RawMessage `json:"user_handle"`
	ThreadID              json.RawMessage `json:"thread_id"`
	ParentChatID          json.RawMessage `json:"parent_chat_id"`
	MessageID             json.RawMessage `json:"message_id"`
	UserIDAlt             json.RawMessage `json:"user_id_alt"`
	ChatIDAlt             json.RawMessage `json:"chat_id_alt"`
	ScopeID               json.RawMessage `json:"scope_id"`
	GuildID               json.RawMessage `json:"guild_id"`
	Profile               json.RawMessage `json:"profile"`
	AutoThreadCreated     json.RawMessage `json:"auto_thread_created"`
	AutoThreadInitialName json.RawMessage `json:"auto_thread_initial_name"`
	ProspectiveThreadID   json.RawMessage `json:"prospective_thread_id"`
}

// RelayPlatform is the source platform given to inbound events whose
// platform is missing or not a plausible platform name (docs/protocol.md,
// Inbound events: unknown values fall back to "relay").
const RelayPlatform = "relay"

// platformName matches what we accept as a platform name. The reference
// gateway checks an enum of built-in and plugin platforms; relay-host is
// platform-agnostic (plugins add platforms), so any lower-case token is kept
// and only garbage falls back to RelayPlatform.
var platformName = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)

var (
	errForwardNotObject = errors.New("forward is not an object")
	errEventNotObject   = errors.New("event is not an object")
	errSourceNotObject  = errors.New("event.source is not an object")
)

// decodeEvent decodes an inbound.event (docs/protocol.md, Inbound events)
// into a MessageEvent with DeliveredViaUpstreamRelay set and SessionKey
// derived from the source. A missing or null event or source is treated
// as {}.
func decodeEvent(r json.RawMessage) (pluginapi.MessageEvent, error) {
	var w wireEvent
	if !rawObject(r, &w) {
		return pluginapi.MessageEvent{}, errEventNotObject
	}
	var ws wireSource
	if !rawObject(w.Source, &ws) {
		return pluginapi.MessageEvent{}, errSourceNotObject
	}
	meta := map[string]any{}
	src := pluginapi.SessionSource{
		Platform:                  RelayPlatform,
		ChatID:                    rawString(ws.ChatID),
		ChatType:                  rawPlainString(ws.ChatType),
		ChatName:                  rawString(ws.ChatName),
		ChatTopic:                 rawString(ws.ChatTopic),
		UserID:                    rawString(ws.UserID),
		ThreadID:                  rawString(ws.ThreadID),
		ParentChatID:              rawString(ws.ParentChatID),
		MessageID:                 rawString(ws.MessageID),
		ScopeID:                   rawString(ws.ScopeID),
		Profile:                   rawPlainString(ws.Profile),
		DeliveredViaUpstreamRelay: true, // stamped locally, never read from the wire
	}
	if p := strings.ToLower(strings.TrimSpace(rawPlainString(ws.Platform))); platformName.MatchString(p) {
		src.Platform = p
	}
	if src.ChatType == "" {
		src.ChatType = pluginapi.ChatTypeDM
	}
	if src.ScopeID == "" {
		src.ScopeID = rawString(ws.GuildID) // older connectors sent guild_id
	}
	for _, name := range []json.RawMessage{ws.UserDisplayName, ws.UserName, ws.UserHandle} {
		if s := rawString(name); s != "" {
			src.UserName = s
			break
		}
	}
	putString(meta, "user_id_alt", ws.UserIDAlt)
	putString(meta, "chat_id_alt", ws.ChatIDAlt)
	putString(meta, "auto_thread_initial_name", ws.AutoThreadInitialName)
	putString(meta, "prospective_thread_id", ws.ProspectiveThreadID)
	if rawTruthy(ws.AutoThreadCreated) {
		meta["auto_thread_created"] = true
	}

	ev := pluginapi.MessageEvent{
		Text:             rawString(w.Text),
		MessageType:      pluginapi.ParseMessageType(rawPlainString(w.MessageType)),
		Source:           src,
		MessageID:        rawString(w.MessageID),
		ReplyToMessageID: rawString(w.ReplyToMessageID),
	}
	var replyTo struct {
		Text   json.RawMessage `json:"text"`
		Author json.RawMessage `json:"author"`
		IsOwn  json.RawMessage `json:"is_own"`
	}
	if rawKind(w.ReplyTo) == '{' && json.Unmarshal(w.ReplyTo, &replyTo) == nil {
		ev.ReplyToText = rawString(replyTo.Text)
		ev.ReplyToAuthorName = rawString(replyTo.Author)
		if rawTruthy(replyTo.IsOwn) {
			meta["reply_to_is_own"] = true
		}
	}
	ev.MediaURLs, ev.MediaTypes = decodeMedia(w.MediaURLs, w.Media)
	if ctx := renderContext(w.Context); ctx != "" {
		meta["channel_context"] = ctx
	}
	if rawKind(w.PromptResponse) == '{' {
		var pr struct {
			PromptID        json.RawMessage `json:"prompt_id"`
			OptionID        json.RawMessage `json:"option_id"`
			Label           json.RawMessage `json:"label"`
			PromptMessageID json.RawMessage `json:"prompt_message_id"`
		}
		if json.Unmarshal(w.PromptResponse, &pr) == nil {
			ev.PromptResponse = &pluginapi.PromptResponse{
				PromptID:        rawString(pr.PromptID),
				OptionID:        rawString(pr.OptionID),
				Label:           rawString(pr.Label),
				PromptMessageID: rawString(pr.PromptMessageID),
			}
		}
	}
	if len(meta) > 0 {
		ev.Metadata = meta
	}
	ev.SessionKey = pluginapi.SessionKey(src)
	return ev, nil
}

func putString(meta map[string]any, key string, r json.RawMessage) {
	if s := rawString(r); s != "" {
		meta[key] = s
	}
}

// decodeMedia returns media_urls (string entries only) and, parallel to it,
// each URL's MIME type looked up by URL (never by position) in media[]; ""
// when unknown (docs/protocol.md, Inbound events).
func decodeMedia(urlsRaw, mediaRaw json.RawMessage) (urls, types []string) {
	for _, u := range rawArray(urlsRaw) {
		if rawKind(u) == '"' {
			urls = append(urls, rawPlainString(u))
		}
	}
	if len(urls) == 0 {
		return nil, nil
	}
	mime := map[string]string{}
	for _, m := range rawArray(mediaRaw) {
		var item struct {
			URL  json.RawMessage `json:"url"`
			Mime json.RawMessage `json:"mime"`
		}
		if rawKind(m) != '{' || json.Unmarshal(m, &item) != nil {
			continue
		}
		if u := rawPlainString(item.URL); u != "" {
			mime[u] = rawString(item.Mime)
		}
	}
	types = make([]string, len(urls))
	for i, u := range urls {
		types[i] = mime[u]
	}
	return urls, types
}

// renderContext flattens the read-only channel history (the event's context;
// docs/protocol.md, Inbound events) into the "[Recent channel messages]"
// block the reference gateway builds, or "" when there is nothing usable.
func renderContext(r json.RawMessage) string {
	var lines []string
	for _, item := range rawArray(r) {
		var c struct {
			Text   json.RawMessage `json:"text"`
			Source json.RawMessage `json:"source"`
		}
		if rawKind(item) != '{' || json.Unmarshal(item, &c) != nil {
			continue
		}
		text := rawString(c.Text)
		if text == "" {
			continue
		}
		var s struct {
			UserName json.RawMessage `json:"user_name"`
			UserID   json.RawMessage `json:"user_id"`
		}
		author := ""
		if rawKind(c.Source) == '{' && json.Unmarshal(c.Source, &s) == nil {
			if author = rawString(s.UserName); author == "" {
				author = rawString(s.UserID)
			}
		}
		if author != "" {
			text = author + ": " + text
		}
		lines = append(lines, text)
	}
	if len(lines) == 0 {
		return ""
	}
	return "[Recent channel messages]\n" + strings.Join(lines, "\n")
}
