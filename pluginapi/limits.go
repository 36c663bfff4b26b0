package pluginapi

import "time"

// ProtocolVersion is the plugin protocol version this SDK speaks. It is the
// key of go-plugin's VersionedPlugins on both sides. New features are added as
// capabilities (Info.Capabilities), not by bumping this number.
const ProtocolVersion = 1

// MaxBodyBytes is the largest forward body a plugin is given. A forward body
// reaches the host base64-encoded inside one relay WebSocket message, and the
// connector caps those at 1 MiB (wire-contract.md §1.4), so no legitimate
// body is larger; bigger ones are rejected with a clear reason.
const MaxBodyBytes = 1 << 20

// MaxMessageBytes is the gRPC message limit on both sides of the plugin
// link: a full body of MaxBodyBytes plus the events converted from it, with
// room to spare (gRPC's default receive limit of 4 MiB would be too tight for
// a large body whose text is copied into several events).
const MaxMessageBytes = 16 << 20

// DefaultStartTimeout bounds a plugin's handshake. Plugins start at boot and a
// healthy one is up in tens of milliseconds; a plugin that takes longer is
// broken, not slow.
const DefaultStartTimeout = 10 * time.Second

// parentPollInterval is how often a plugin checks that the host that started
// it is still alive, so a plugin never outlives a host killed with SIGKILL
// by more than this.
const parentPollInterval = 250 * time.Millisecond

// EnvLogLevel names the environment variable the host sets to tell a plugin
// its log level (trace, debug, info, warn, error).
const EnvLogLevel = "RELAY_PLUGIN_LOG_LEVEL"

// pluginName is the name of the one plugin kind in the go-plugin plugin set.
const pluginName = "forward"
