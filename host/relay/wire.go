package relay

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/relayhost/relay-host/pluginapi"
)

// rawKind returns the first byte of a raw JSON value ('{', '[', '"', 't',
// 'f', 'n', a digit or '-'), or 0 when the value is absent.
func rawKind(r json.RawMessage) byte {
	r = bytes.TrimSpace(r)
	if len(r) == 0 {
		return 0
	}
	return r[0]
}

// rawAbsent reports whether a field is missing or null.
func rawAbsent(r json.RawMessage) bool {
	k := rawKind(r)
	return k == 0 || k == 'n'
}

// rawPlainString returns the value of a JSON string, or "" for anything
// else.
func rawPlainString(r json.RawMessage) string {
	if rawKind(r) != '"' {
		return ""
	}
	r = bytes.TrimSpace(r)
	// Fast path: no escapes and plain ASCII is the common case.
	inner := r[1 : len(r)-1]
	simple := true
	for _, c := range inner {
		if c == '\\' || c < 0x20 || c >= 0x80 {
			simple = false
			break
		}
	}
	if simple {
		return string(inner)
	}
	var s string
	if err := json.Unmarshal(r, &s); err != nil {
		return ""
	}
	return s
}

// rawString is the "string form" of a field: a string's value, "" for a
// missing or null field, and the JSON text of anything else (numbers keep
// their digits, so a numeric chat id still works).
func rawString(r json.RawMessage) string {
	switch rawKind(r) {
	case 0, 'n':
		return ""
	case '"':
		return rawPlainString(r)
	}
	return string(bytes.TrimSpace(r))
}

// rawID is the string form of an identifier field (bufferId, requestId):
// strings and numbers only; anything else is "".
func rawID(r json.RawMessage) string {
	switch k := rawKind(r); {
	case k == '"':
		return rawPlainString(r)
	case k == '-' || (k >= '0' && k <= '9'):
		return string(bytes.TrimSpace(r))
	}
	return ""
}

// rawTruthy is Python truthiness of a JSON value, which is how the reference
// reads boolean-ish fields it stores unvalidated.
func rawTruthy(r json.RawMessage) bool {
	r = bytes.TrimSpace(r)
	switch rawKind(r) {
	case 0, 'n', 'f':
		return false
	case 't':
		return true
	case '"':
		return rawPlainString(r) != ""
	case '[':
		var a []json.RawMessage
		return json.Unmarshal(r, &a) == nil && len(a) > 0
	case '{':
		var m map[string]json.RawMessage
		return json.Unmarshal(r, &m) == nil && len(m) > 0
	}
	f, err := strconv.ParseFloat(string(r), 64)
	return err == nil && f != 0
}

// rawInt converts a number, a numeric string or a boolean the way Python's
// int() does; ok is false for anything else.
func rawInt(r json.RawMessage) (n int64, ok bool) {
	r = bytes.TrimSpace(r)
	switch k := rawKind(r); {
	case k == 't':
		return 1, true
	case k == 'f':
		return 0, true
	case k == '"':
		s := strings.ReplaceAll(strings.TrimSpace(rawPlainString(r)), "_", "")
		v, err := strconv.ParseInt(s, 10, 64)
		return v, err == nil
	case k == '-' || (k >= '0' && k <= '9'):
		if v, err := strconv.ParseInt(string(r), 10, 64); err == nil {
			return v, true
		}
		f, err := strconv.ParseFloat(string(r), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f > math.MaxInt64 || f < math.MinInt64 {
			return 0, false
		}
		return int64(f), true // int() truncates toward zero
	}
	return 0, false
}

// rawObject decodes an object-valued field into dst. A missing or null field
// leaves dst untouched and reports true (treated as {}); any other non-object
// reports false.
func rawObject(r json.RawMessage, dst any) bool {
	switch rawKind(r) {
	case 0, 'n':
		return true
	case '{':
		return json.Unmarshal(r, dst) == nil
	}
	return false
}

// rawArray returns the elements of an array-valued field (subslices of r),
// or nil for anything else. r must be valid JSON, as every value cut from a
// decoded frame is.
func rawArray(r json.RawMessage) []json.RawMessage {
	var out []json.RawMessage
	if !eachElem(r, func(e []byte) { out = append(out, e) }) {
		return nil
	}
	return out
}

// eachElem calls fn with each element of the JSON array b, trimmed, and
// reports whether b is an array. b must be valid JSON: this only tracks
// nesting and strings, it does not validate.
func eachElem(b []byte, fn func(elem []byte)) bool {
	b = bytes.TrimSpace(b)
	if len(b) < 2 || b[0] != '[' {
		return false
	}
	depth, start := 0, -1
	inStr, esc := false, false
	for i := 1; i < len(b)-1; i++ {
		c := b[i]
		if inStr {
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			}
			continue
		}
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		case ',':
			if depth == 0 {
				fn(bytes.TrimSpace(b[start:i]))
				start = -1
				continue
			}
		case '"':
			inStr = true
		case '[', '{':
			depth++
		case ']', '}':
			depth--
		}
		if start < 0 {
			start = i
		}
	}
	if start >= 0 {
		fn(bytes.TrimSpace(b[start : len(b)-1]))
	}
	return true
}

// lenientString is a string-typed field decoded in its "string form" (see
// rawString): it accepts any JSON value and never fails.
type lenientString string

// UnmarshalJSON implements json.Unmarshaler.
func (s *lenientString) UnmarshalJSON(b []byte) error {
	*s = lenientString(rawString(b))
	return nil
}

// plainString accepts any JSON value and keeps only a string's value.
type plainString string

// UnmarshalJSON implements json.Unmarshaler.
func (s *plainString) UnmarshalJSON(b []byte) error {
	*s = plainString(rawPlainString(b))
	return nil
}

// headerList decodes forward.headers: only 2-element arrays are kept, both
// sides in string form, in arrival order; anything else is dropped.
type headerList []pluginapi.Header

// UnmarshalJSON implements json.Unmarshaler. encoding/json hands it a
// value it has already validated.
func (h *headerList) UnmarshalJSON(b []byte) error {
	var out []pluginapi.Header
	eachElem(b, func(entry []byte) {
		var pair [2][]byte
		n := 0
		eachElem(entry, func(e []byte) {
			if n < 2 {
				pair[n] = e
			}
			n++
		})
		if n != 2 {
			return // not a 2-element array: dropped, as the reference does
		}
		out = append(out, pluginapi.Header{Name: rawString(pair[0]), Value: rawString(pair[1])})
	})
	*h = out
	return nil
}

// bodyB64 decodes forward.bodyB64 (see decodeBodyB64); a non-string value is
// an empty body.
type bodyB64 []byte

// UnmarshalJSON implements json.Unmarshaler.
func (p *bodyB64) UnmarshalJSON(b []byte) error {
	if rawKind(b) != '"' {
		*p = []byte{}
		return nil
	}
	b = bytes.TrimSpace(b)
	inner := b[1 : len(b)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		// Common case: decode straight from the JSON bytes.
		dst := make([]byte, base64.StdEncoding.DecodedLen(len(inner)))
		if n, err := base64.StdEncoding.Decode(dst, inner); err == nil {
			*p = dst[:n]
			return nil
		}
	}
	*p = decodeBodyB64(rawPlainString(b))
	return nil
}

// wireForward is the forward object of a passthrough_forward frame, decoded
// leniently in the same pass as the envelope.
type wireForward struct {
	Platform lenientString `json:"platform"`
	BotID    lenientString `json:"botId"`
	Method   lenientString `json:"method"`
	Path     lenientString `json:"path"`
	Headers  headerList    `json:"headers"`
	BodyB64  bodyB64       `json:"bodyB64"`
	Profile  plainString   `json:"profile"`
}

// forward converts the decoded wire form; a nil w (missing or null forward)
// is treated as {}.
func (w *wireForward) forward() pluginapi.Forward {
	if w == nil {
		return pluginapi.Forward{Body: []byte{}}
	}
	f := pluginapi.Forward{
		Platform: string(w.Platform),
		BotID:    string(w.BotID),
		Method:   string(w.Method),
		Path:     string(w.Path),
		Headers:  []pluginapi.Header(w.Headers),
		Body:     []byte(w.BodyB64),
		Profile:  string(w.Profile),
	}
	if f.Body == nil {
		f.Body = []byte{}
	}
	return f
}

// wireEvent and wireSource are the inbound.event wire form (§2.5).
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
// platform is missing or not a plausible platform name (§2.5: unknown
// values fall back to "relay").
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

// decodeEvent decodes an inbound.event (§2.5) into a MessageEvent with
// DeliveredViaUpstreamRelay set and SessionKey derived from the source. A
// missing or null event or source is treated as {}.
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
		src.ScopeID = rawString(ws.GuildID) // [JUNE] connectors sent guild_id
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
// when unknown (§2.5).
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

// renderContext flattens the read-only channel history (§2.5 context) into
// the "[Recent channel messages]" block the reference gateway builds, or ""
// when there is nothing usable.
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
