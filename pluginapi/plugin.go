package pluginapi

import "context"

// Plugin is what a plugin author implements: one method that handles a
// forward, and a description of the plugin.
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
	// as capabilities, never by bumping the protocol version.
	Capabilities []string `json:"capabilities,omitempty"`
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
