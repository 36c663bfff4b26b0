// Command benchplugin is the plugin of the plugin-hop benchmarks: it answers
// every forward at once with one fixed event shaped like a converted Discord
// slash command, so a benchmark measures the hop and not a conversion.
package main

import (
	"context"

	"github.com/relayhost/relay-host/pluginapi"
)

type benchPlugin struct{}

func (benchPlugin) Info() pluginapi.Info {
	return pluginapi.Info{Name: "bench", Version: "0.0.1", Platforms: []string{"bench"}}
}

func (benchPlugin) HandleForward(_ context.Context, f pluginapi.Forward) pluginapi.Result {
	return pluginapi.Handle(event(f))
}

// event is the event every forward becomes.
func event(f pluginapi.Forward) pluginapi.MessageEvent {
	src := pluginapi.SessionSource{Platform: "discord", ChatID: "1122334455667788990", ChatType: "group",
		UserID: "5555555555555555555", UserName: "Alice", ScopeID: "987654321098765432", Profile: f.Profile}
	return pluginapi.MessageEvent{Text: "/ask prompt: What is the weather like in Lisbon this weekend?",
		MessageType: pluginapi.MessageTypeCommand, Source: src, MessageID: "1300000000000000001",
		SessionKey: pluginapi.SessionKey(src), EgressKind: pluginapi.EgressDiscordInteractionToken}
}

func main() { pluginapi.Serve(benchPlugin{}) }
