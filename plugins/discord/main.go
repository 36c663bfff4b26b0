// Command relay-plugin-discord is the Discord plugin for relay-host: it turns
// Discord interactions (slash commands, context menus, buttons, selects,
// modals) forwarded by the connector into agent events. The conversion rules
// live in package convert and are documented in README.md.
package main

import (
	"context"

	"github.com/relayhost/relay-host/pluginapi"
	"github.com/relayhost/relay-host/plugins/discord/convert"
)

// version is the plugin's version; `make` stamps it with -ldflags.
var version = "dev"

// discord implements pluginapi.Plugin.
type discord struct{}

// Info tells the host who we are and which forwards we serve.
func (discord) Info() pluginapi.Info {
	return pluginapi.Info{Name: "discord", Version: version, Platforms: []string{"discord"}}
}

// HandleForward converts one interaction. The conversion never keeps or
// emits the interaction token.
func (discord) HandleForward(ctx context.Context, f pluginapi.Forward) pluginapi.Result {
	res := convert.Convert(f)
	if res.Disposition == pluginapi.Rejected {
		pluginapi.LoggerFrom(ctx).Warn("discord forward rejected", "path", f.Path, "reason", res.Reason)
	}
	return res
}

func main() { pluginapi.Serve(discord{}) }
