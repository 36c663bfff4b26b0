// Command relay-plugin-twilio is the Twilio plugin for relay-host. For now it
// is a stub: it logs one line per forward and drops it, because turning
// Twilio webhooks into agent events is not implemented yet.
//
// It is also the smallest complete plugin, and the template for new ones: a
// type with two methods, and pluginapi.Serve in main. Build it with
// `go build -o bin/plugins/relay-plugin-twilio ./plugins/twilio`.
package main

import (
	"context"
	"net/url"

	"github.com/relayhost/relay-host/pluginapi"
)

// version is the plugin's version; `make` stamps it with -ldflags.
var version = "dev"

// twilio implements pluginapi.Plugin.
type twilio struct{}

// Info tells the host who we are and which forwards we serve.
func (twilio) Info() pluginapi.Info {
	return pluginapi.Info{Name: "twilio", Version: version, Platforms: []string{"twilio"}}
}

// HandleForward logs what arrived, without phone numbers or the message
// body, and drops it.
func (twilio) HandleForward(ctx context.Context, f pluginapi.Forward) pluginapi.Result {
	contentType, _ := f.Header("content-type")
	fields := []any{
		"platform", f.Platform, "method", f.Method, "path", f.Path,
		"content_type", contentType, "body_bytes", len(f.Body),
	}
	// Twilio posts application/x-www-form-urlencoded. The SIDs identify the
	// message or call without revealing anything about the people in it.
	if form, err := url.ParseQuery(string(f.Body)); err == nil {
		if sid := form.Get("MessageSid"); sid != "" {
			fields = append(fields, "message_sid", sid)
		}
		if sid := form.Get("CallSid"); sid != "" {
			fields = append(fields, "call_sid", sid)
		}
	}
	pluginapi.LoggerFrom(ctx).Info("twilio forward received; dropping it", fields...)
	return pluginapi.Drop("twilio conversion is not implemented yet: the forward was logged and dropped")
}

func main() { pluginapi.Serve(twilio{}) }
