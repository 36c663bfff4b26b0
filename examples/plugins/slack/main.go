// Command relay-plugin-slack is an example relay-host plugin, written only
// against the public SDK (package pluginapi) exactly as a third party would.
// It turns Slack slash-command webhooks into agent events; see README.md for
// the decisions it makes and docs/plugin-authoring.md for a walk through it.
//
// Build it into relay-host's plugins directory:
//
//	go build -o bin/plugins/relay-plugin-slack ./examples/plugins/slack
package main

import (
	"context"

	"github.com/relayhost/relay-host/pluginapi"
)

// version is the plugin's version; stamp it with
// -ldflags "-X main.version=1.2.3".
var version = "dev"

// slack implements pluginapi.Plugin. It holds no state: HandleForward is
// called from many goroutines at once.
type slack struct{}

// Info tells the host who we are and which forwards we serve.
func (slack) Info() pluginapi.Info {
	return pluginapi.Info{Name: "slack", Version: version, Platforms: []string{platform}}
}

// HandleForward converts one forwarded Slack request (convert.go). The
// conversion takes microseconds and never blocks, so ctx needs no checks.
func (slack) HandleForward(ctx context.Context, f pluginapi.Forward) pluginapi.Result {
	res := convert(f)
	// Debug only, and never the body: it holds the user's text, and reasons
	// are written never to quote it or a credential.
	pluginapi.LoggerFrom(ctx).Debug("slack forward converted",
		"disposition", string(res.Disposition), "reason", res.Reason,
		"events", len(res.Events), "body_bytes", len(f.Body))
	return res
}

func main() { pluginapi.Serve(slack{}) }
