package pluginapi

import "context"

// SDKVersion is the version of this SDK. Serve reports it to the host,
// which shows it in `relay-host plugins list`; the changes of each version
// are in CHANGELOG.md.
const SDKVersion = "1.0.0"

// HealthChecker is implemented by a plugin that can tell whether it is able
// to do its work (its configuration is usable, a platform API it needs is
// reachable). The host asks for `relay-host plugins list --check` and for
// the detail of /readyz, with a deadline (the ctx). Without it, a plugin
// that answers is healthy.
type HealthChecker interface {
	CheckHealth(ctx context.Context) error
}

// Shutdowner is implemented by a plugin that has something to finish before
// its process ends (flush a queue, close a connection). The host calls
// Shutdown when it stops the plugin, after its last forward, with a
// deadline (the ctx); the process is killed when Shutdown returns or the
// deadline passes.
type Shutdowner interface {
	Shutdown(ctx context.Context) error
}
