// Package pluginlink holds what both ends of the plugin link must agree on
// and what neither end's public package should show: the go-plugin
// handshake and plugin set, the capability names, the batch limits, and
// the hand-over of the plugin-side gRPC service to the host side for
// in-process links.
//
// The plugin end (package pluginapi: Serve and the gRPC server) and the
// host end (package pluginapi/launcher: Launch, Remote, ServeInProcess)
// both import this package; it imports neither, so there is no cycle.
package pluginlink

import (
	"context"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// The go-plugin handshake. The magic cookie only guards against running a
// plugin by hand; it is not a security feature.
const (
	MagicCookieKey   = "RELAY_HOST_PLUGIN"
	MagicCookieValue = "relay-host-plugin-v1-0b8f5c1e"
)

// PluginName is the name of the one plugin kind in the go-plugin plugin
// set.
const PluginName = "forward"

// HandshakeConfig is the go-plugin handshake of the host and every plugin,
// for protocol version (pluginapi.ProtocolVersion; tests pass others).
func HandshakeConfig(version int) plugin.HandshakeConfig {
	return plugin.HandshakeConfig{
		ProtocolVersion:  uint(version),
		MagicCookieKey:   MagicCookieKey,
		MagicCookieValue: MagicCookieValue,
	}
}

// GRPCPlugin is the go-plugin glue of both ends. The plugin end sets
// Register, which registers the plugin's gRPC service; the host end sets
// Connect, which wraps the connection in the host's client.
type GRPCPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	// Register registers the gRPC service (plugin end).
	Register func(*grpc.Server)
	// Connect returns the host's client for a connection (host end).
	Connect func(*grpc.ClientConn) any
}

var _ plugin.GRPCPlugin = (*GRPCPlugin)(nil)

// GRPCServer implements plugin.GRPCPlugin.
func (p *GRPCPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	p.Register(s)
	return nil
}

// GRPCClient implements plugin.GRPCPlugin.
func (p *GRPCPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return p.Connect(c), nil
}

// PluginSets is the VersionedPlugins map of either end: p under PluginName
// for protocol version.
func PluginSets(version int, p *GRPCPlugin) map[int]plugin.PluginSet {
	return map[int]plugin.PluginSet{version: {PluginName: p}}
}
