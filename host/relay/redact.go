package relay

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// redactedKeys are the frame keys whose values never reach a log, at any
// level: a forward's body (bodyB64, the platform's request, which may hold a
// token the connector failed to strip) and anything named like a
// credential. Matching is on the lower-cased key, by substring.
var redactedKeys = []string{"bodyb64", "token", "secret", "password", "authorization"}

// redactFrame renders one frame for a TRACE log line: the frame with the
// value of every redacted key (at any depth) replaced by a placeholder
// giving its size, clipped to traceClip bytes. A line that is not JSON is
// shown only by its size: its bytes could be anything.
func redactFrame(line []byte) string {
	d := json.NewDecoder(bytes.NewReader(line))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return fmt.Sprintf("[undecodable frame of %d bytes]", len(line))
	}
	b, err := json.Marshal(redactValue(v))
	if err != nil {
		return fmt.Sprintf("[frame of %d bytes]", len(line))
	}
	return clip(b)
}

// redactValue walks a decoded frame, replacing redacted values.
func redactValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if redactedKey(k) {
				x[k] = placeholder(e)
			} else {
				x[k] = redactValue(e)
			}
		}
	case []any:
		for i, e := range x {
			x[i] = redactValue(e)
		}
	}
	return v
}

func redactedKey(k string) bool {
	k = strings.ToLower(k)
	for _, r := range redactedKeys {
		if strings.Contains(k, r) {
			return true
		}
	}
	return false
}

// placeholder stands for a redacted value.
func placeholder(v any) string {
	if s, ok := v.(string); ok {
		return fmt.Sprintf("[redacted: %d bytes]", len(s))
	}
	return "[redacted]"
}
