package relay

import "strings"

// DialURL normalises a configured connector URL into the WebSocket dial
// target, exactly as docs/protocol.md (Dial URL) describes: trim whitespace,
// rewrite a literal "https://" to "wss://" or "http://" to "ws://"
// (case-sensitive, nothing else is rewritten), strip every trailing "/", and
// append "/relay" unless the result already ends with it. It is idempotent.
// Query strings are not handled: "https://h/?a=b" becomes "wss://h/?a=b/relay".
func DialURL(configured string) string {
	raw := strings.TrimSpace(configured)
	if rest, ok := strings.CutPrefix(raw, "https://"); ok {
		raw = "wss://" + rest
	} else if rest, ok := strings.CutPrefix(raw, "http://"); ok {
		raw = "ws://" + rest
	}
	raw = strings.TrimRight(raw, "/")
	if !strings.HasSuffix(raw, "/relay") {
		raw += "/relay"
	}
	return raw
}
