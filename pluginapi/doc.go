// Package pluginapi is the public SDK for relay-host plugins.
//
// A plugin turns one forwarded platform request (a [Forward]: the exact body a
// platform such as Discord or Twilio posted to the connector, with its headers)
// into zero or more [MessageEvent]s for the agent, and says what it did with a
// [Disposition]. Plugins run out of process; the host talks to them over
// go-plugin (gRPC). A plugin author implements [Plugin] and calls [Serve] from
// main:
//
//	type echo struct{}
//
//	func (echo) Info() pluginapi.Info { return pluginapi.Info{Name: "echo", Version: "0.1.0", Platforms: []string{"echo"}} }
//
//	func (echo) HandleForward(ctx context.Context, f pluginapi.Forward) pluginapi.Result {
//		return pluginapi.Drop("nothing to do")
//	}
//
//	func main() { pluginapi.Serve(echo{}) }
//
// Everything a plugin relies on is in this package: the Go types
// (forward.go, event.go, result.go), the session-key rule (sessionkey.go),
// the limits (limits.go) and Serve. Package plugintest runs a plugin
// in-process or as a real subprocess so it can be tested without a
// connector. The wire schema is proto/relayplugin/v1/plugin.proto; wire.go
// converts it to and from the Go types on the plugin's side, and package
// launcher (the host's side: starting plugins and talking to them) on the
// host's. Generated types never appear in this package's API.
package pluginapi
