package edge

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/relayhost/relay-host/pluginapi"
)

// This file derives the session key of a Discord interaction, the key the
// connector vaults the interaction token under: the Discord plugin binds
// its event to pluginapi.SessionKey of the event's source, and a follow-up
// names that key. The edge reads only the fields the key is made of, with
// the plugin's reading of them (plugins/discord/README.md, Identity and session key):
// Python truthiness, numbers exactly as written, the last of duplicate
// keys. TestSessionKeyMatchesThePlugin checks the result against the
// plugin on every golden interaction, and FuzzSessionFor on any input; the
// edge never imports the plugin.

// discordMaxDepth is the deepest JSON nesting the Discord plugin converts
// (plugins/discord/convert.MaxDepth, the top-level object counting as 1);
// the plugin rejects a deeper body, so it gets no event and no session.
const discordMaxDepth = 32

// utf8BOM is the UTF-8 byte order mark the plugin refuses at the start of a
// body (Python's json.loads does).
var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// Discord channel types that are threads: announcement (10), public (11;
// forum posts too) and private (12).
const (
	channelAnnouncementThread = 10
	channelPublicThread       = 11
	channelPrivateThread      = 12
)

// sessionFor returns the session key the Discord plugin gives the event it
// converts from an interaction body forwarded with profile; "" and the
// reason when the plugin converts it to no event.
func sessionFor(body []byte, profile string) (key, why string) {
	if len(body) == 0 || bytes.HasPrefix(body, utf8BOM) || !utf8.Valid(body) || !json.Valid(body) {
		return "", "the plugin rejects the body: not a JSON interaction"
	}
	if jsonDepth(body) > discordMaxDepth {
		return "", "the plugin rejects the body: it nests deeper than " + strconv.Itoa(discordMaxDepth) + " levels"
	}
	var in map[string]json.RawMessage
	if json.Unmarshal(body, &in) != nil || in == nil {
		return "", "the plugin rejects the body: not a JSON object"
	}
	typ, _ := smallInt(value(in["type"]))
	switch typ {
	case TypePing, TypeAutocomplete:
		return "", "the plugin drops interaction type " + strconv.FormatInt(typ, 10) + ": it converts to no event"
	case TypeApplicationCommand, TypeMessageComponent, TypeModalSubmit:
		if data := value(in["data"]); truthy(data) && object(data) == nil {
			return "", "the plugin rejects the interaction: its data is not an object"
		}
	}
	return pluginapi.SessionKey(discordSource(in, profile)), ""
}

// discordSource is the part of the plugin's event source that makes the
// session key.
func discordSource(in map[string]json.RawMessage, profile string) pluginapi.SessionSource {
	src := pluginapi.SessionSource{
		Platform: PlatformDiscord,
		ChatID:   truthyString(value(in["channel_id"])),
		ChatType: pluginapi.ChatTypeDM,
		Profile:  profile,
	}
	inGuild := truthy(value(in["guild_id"]))
	channel := object(value(in["channel"]))
	switch {
	case inGuild && channel != nil && isNumber(channel["type"], channelAnnouncementThread, channelPublicThread, channelPrivateThread):
		src.ChatType = pluginapi.ChatTypeThread
		src.ThreadID = src.ChatID
	case inGuild:
		src.ChatType = pluginapi.ChatTypeGroup
	}
	// The user is member.user in a guild, the top-level user elsewhere (and
	// whenever member.user is missing or empty).
	var user any
	if member := object(value(in["member"])); member != nil {
		user = member["user"]
	}
	if !truthy(user) {
		user = value(in["user"])
	}
	src.UserID = truthyString(object(user)["id"])
	return src
}

// jsonDepth returns the deepest nesting of objects and arrays in the valid
// JSON text b (a top-level object is 1).
func jsonDepth(b []byte) int {
	depth, deepest := 0, 0
	inString, escaped := false, false
	for _, c := range b {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
			deepest = max(deepest, depth)
		case c == '}' || c == ']':
			depth--
		}
	}
	return deepest
}

// value decodes one raw JSON value the way the plugin holds it: objects as
// map[string]any, numbers as json.Number; nil when absent.
func value(r json.RawMessage) any {
	if len(r) == 0 {
		return nil
	}
	d := json.NewDecoder(bytes.NewReader(r))
	d.UseNumber()
	var v any
	if d.Decode(&v) != nil {
		return nil // unreachable: r was cut from a valid body
	}
	return v
}

// object returns v as a JSON object, or nil when it is anything else.
func object(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// truthy is Python truthiness of a decoded JSON value: null, false, 0 (in
// any spelling), "", [] and {} are false, everything else is true.
func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case string:
		return x != ""
	case json.Number:
		s := string(x)
		if !strings.ContainsAny(s, ".eE") {
			return strings.ContainsAny(s, "123456789") // an integer: exact
		}
		f, _ := strconv.ParseFloat(s, 64) // overflow yields ±Inf, which is truthy
		return f != 0
	case []any:
		return len(x) > 0
	case map[string]any:
		return len(x) > 0
	}
	return true
}

// truthyString is Python's `str(x) if x else ""` as the plugin renders it:
// strings unchanged, numbers exactly as written, booleans true/false, and
// arrays and objects as compact JSON with sorted keys.
func truthyString(v any) string {
	if !truthy(v) {
		return ""
	}
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return string(x)
	case bool:
		return "true" // a false one is not truthy
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if enc.Encode(v) != nil {
		return "" // unreachable for decoded JSON
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

// maxSmallInt bounds smallInt: every number compared against is tiny, and
// a bound below 2^53 keeps the float path exact.
const maxSmallInt = 1 << 31

// smallInt returns the integer a JSON number is numerically equal to, when
// it is one of modest size ("2", "2.0" and "2e0" all give 2); anything that
// is not a number gives ok=false.
func smallInt(v any) (n int64, ok bool) {
	num, isNum := v.(json.Number)
	if !isNum {
		return 0, false
	}
	s := string(num)
	if !strings.ContainsAny(s, ".eE") {
		i, err := strconv.ParseInt(s, 10, 64)
		if err != nil || i > maxSmallInt || i < -maxSmallInt {
			return 0, false
		}
		return i, true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != math.Trunc(f) || f > maxSmallInt || f < -maxSmallInt {
		return 0, false
	}
	return int64(f), true
}

// isNumber reports whether v is a JSON number numerically equal to one of
// want.
func isNumber(v any, want ...int64) bool {
	n, ok := smallInt(v)
	if !ok {
		return false
	}
	for _, w := range want {
		if n == w {
			return true
		}
	}
	return false
}
