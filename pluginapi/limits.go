package pluginapi

import "time"

// ProtocolVersion is the plugin protocol version this SDK speaks, checked in
// the handshake with the host. New features are added as capabilities
// (Info.Capabilities), not by bumping this number.
const ProtocolVersion = 1

// MaxBodyBytes is the largest forward body a plugin is given. A forward body
// reaches the host base64-encoded inside one relay frame. The protocol asks a
// gateway to accept messages of at least 1 MiB, the reference gateway's own
// limit, and does not publish the connector's cap (docs/protocol.md,
// Framing), so a larger body would not reach the reference gateway either;
// bigger ones are rejected with a clear reason before HandleForward runs.
const MaxBodyBytes = 1 << 20

// MaxMessageBytes is the gRPC message limit on both sides of the plugin
// link: a full body of MaxBodyBytes plus the events converted from it, with
// room to spare (gRPC's default receive limit of 4 MiB would be too tight for
// a large body whose text is copied into several events). Keep a forward's
// events well under it.
const MaxMessageBytes = 16 << 20

// DefaultStartTimeout bounds a plugin's handshake. Plugins start at boot and a
// healthy one is up in tens of milliseconds; a plugin that takes longer is
// broken, not slow. Do no slow work before calling Serve.
const DefaultStartTimeout = 10 * time.Second

// EnvLogLevel names the environment variable the host sets to tell a plugin
// its log level (trace, debug, info, warn, error); Serve applies it to the
// logger LoggerFrom returns.
const EnvLogLevel = "RELAY_PLUGIN_LOG_LEVEL"

// parentPollInterval is how often a plugin checks that the host that started
// it is still alive, so a plugin never outlives a host killed with SIGKILL
// by more than this.
const parentPollInterval = 250 * time.Millisecond

// The plugin's workers (see server.go).
const (
	// maxWorkers bounds the forwards a plugin runs at once; more wait in
	// order. A conversion is CPU work of some microseconds, so a handful of
	// workers per core keeps the cores busy; 64 also leaves room for
	// plugins that wait on I/O.
	maxWorkers = 64
	// workQueue is how many forwards may wait for a worker: the host's
	// dispatch window (plugins.DefaultMaxInFlight) several times over, so
	// the stream's reader does not stall behind busy workers.
	workQueue = 1024
)
