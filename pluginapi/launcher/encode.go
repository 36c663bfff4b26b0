package launcher

import (
	"fmt"
	"unicode/utf8"

	"github.com/relayhost/relay-host/pluginapi"
)

// maxForwardBytes bounds a forward's estimated encoded size (estimateSize). A
// forward reaches the host inside one relay frame, which relay-host takes up
// to 4 MiB and the reference gateway up to 1 MiB (docs/protocol.md, Framing),
// so no legitimate forward comes near it; it is half the gRPC message limit
// (pluginapi.MaxMessageBytes), so a forward under it always fits in one
// message, whatever the estimate misses. A larger forward would fail the
// send, and with it the whole stream.
const maxForwardBytes = pluginapi.MaxMessageBytes / 2

// checkForward says why f cannot be sent to a plugin, "" when it can. It
// runs before a forward joins the stream: a forward that protobuf would
// refuse to marshal (a string field that is not valid UTF-8) or that gRPC
// would refuse to send (over the message limit) fails the send of the whole
// batch, which breaks the stream and every forward in flight on it. Checked
// here, it is rejected alone. The reason names the field, never its value.
func checkForward(f pluginapi.Forward, size int) string {
	if size > maxForwardBytes {
		return fmt.Sprintf("forward is about %d bytes encoded, over the %d-byte limit", size, maxForwardBytes)
	}
	for _, s := range [...]struct{ name, value string }{
		{"platform", f.Platform}, {"botId", f.BotID}, {"method", f.Method}, {"path", f.Path},
		{"profile", f.Profile}, {"bufferId", f.BufferID},
	} {
		if !utf8.ValidString(s.value) {
			return "forward field " + s.name + " is not valid UTF-8"
		}
	}
	for i, h := range f.Headers {
		if !utf8.ValidString(h.Name) || !utf8.ValidString(h.Value) {
			return fmt.Sprintf("forward header %d is not valid UTF-8", i)
		}
	}
	return ""
}
