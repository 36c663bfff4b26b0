package pluginapi_test

import (
	"context"
	"strings"
	"unicode/utf8"

	"github.com/relayhost/relay-host/pluginapi"
)

// hello is a whole plugin: it serves the made-up platform "hello", whose
// requests are plain text, and turns each into one text event.
type hello struct{}

// Info tells the host who the plugin is and which forwards it serves.
func (hello) Info() pluginapi.Info {
	return pluginapi.Info{Name: "hello", Version: "0.1.0", Platforms: []string{"hello"}}
}

// HandleForward converts one forward. It runs concurrently and must honour
// ctx; it never keeps f.Body.
func (hello) HandleForward(ctx context.Context, f pluginapi.Forward) pluginapi.Result {
	text := strings.TrimSpace(string(f.Body))
	switch {
	case text == "":
		return pluginapi.Drop("empty body: nothing to say")
	case !utf8.ValidString(text):
		return pluginapi.Reject("body is not UTF-8 text")
	}
	src := pluginapi.SessionSource{
		Platform: "hello", ChatID: "lobby", ChatType: pluginapi.ChatTypeGroup,
		UserID: "visitor", Profile: f.Profile, DeliveredViaUpstreamRelay: true,
	}
	pluginapi.LoggerFrom(ctx).Debug("hello forward", "body_bytes", len(f.Body))
	return pluginapi.Handle(pluginapi.MessageEvent{
		Text: text, MessageType: pluginapi.MessageTypeText,
		Source: src, SessionKey: pluginapi.SessionKey(src),
	})
}

// Serve is the whole of a plugin's main function. It takes over the process
// (relay-host starts it and talks to it over go-plugin), so this example is
// compiled but not run here; package plugintest's example runs a plugin.
func ExampleServe() {
	pluginapi.Serve(hello{})
}
