package pluginapi

import "context"

// Plugin is what a plugin author implements: one method that handles a
// forward, and a description of the plugin. A plugin may also implement
// Configurer (settings and secrets), Egress (it sends the agent's actions
// to its platform), HealthChecker and Shutdowner; Serve advertises each to
// the host as a capability.
type Plugin interface {
	// Info describes the plugin. It is called once when the host starts the
	// plugin; it must be cheap and must not fail.
	Info() Info
	// HandleForward converts one forward. It is called concurrently from
	// many goroutines; it must honour ctx and must not keep the forward's
	// body after it returns. A panic is recovered by Serve and becomes a
	// Rejected result.
	HandleForward(ctx context.Context, f Forward) Result
}

// Info describes a plugin to the host.
type Info struct {
	// Name is the plugin's short name, e.g. "discord".
	Name string `json:"name"`
	// Version is the plugin's own version, e.g. "1.2.0".
	Version string `json:"version"`
	// Platforms are the forward platforms this plugin serves. Two plugins
	// may not claim one platform.
	Platforms []string `json:"platforms"`
	// Capabilities are optional feature flags; new features are negotiated
	// as capabilities, never by bumping the protocol version. Serve adds the
	// ones the SDK provides (the interfaces the plugin implements:
	// Configurer, Egress; and forward-batches, health, shutdown); a plugin
	// lists none of those itself.
	Capabilities []string `json:"capabilities,omitempty"`
	// Config declares the settings and secrets the plugin takes (with
	// Configurer); nil when it takes none.
	Config *ConfigSchema `json:"config,omitempty"`
	// SDKVersion is the SDK version the plugin was built with, as the host
	// learnt it; a plugin leaves it empty (Serve reports SDKVersion). ""
	// on the host's side means a plugin built before SDK 1.0.
	SDKVersion string `json:"sdk_version,omitempty"`
}

// HasCapability reports whether the plugin declared capability c.
func (i Info) HasCapability(c string) bool {
	for _, have := range i.Capabilities {
		if have == c {
			return true
		}
	}
	return false
}
