// Command relay-plugin-github is an example relay-host plugin that makes
// GitHub a whole platform with a plugin alone, written only against the
// public SDK (package pluginapi) as a third party would:
//
//   - it takes configuration and secrets (Configurer): the webhook secret
//     every delivery's X-Hub-Signature-256 is checked against, a repository
//     allowlist, the bot login whose own comments are ignored, an API token
//     and base URL;
//   - it turns issue_comment and issues webhooks into agent events;
//   - it owns GitHub's egress (Egress): the agent's reply, and any send to an
//     issue's chat, becomes an issue comment posted through the GitHub REST
//     API;
//   - it reports whether it is configured (HealthChecker).
//
// See README.md for the configuration file and the decisions it makes.
// Build it reproducibly (-trimpath) into relay-host's plugins directory:
//
//	go build -trimpath -o bin/plugins/relay-plugin-github ./examples/plugins/github
package main

import "github.com/relayhost/relay-host/pluginapi"

// version is the plugin's version; stamp it with
// -ldflags "-X main.version=1.2.3".
var version = "dev"

func main() { pluginapi.Serve(newPlugin()) }
