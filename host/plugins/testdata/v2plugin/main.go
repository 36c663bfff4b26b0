// Command v2plugin is a plugin built for a future protocol version 2, to
// test that the host refuses it with a clear message.
package main

import (
	"context"

	"github.com/hashicorp/go-plugin"
	"github.com/relayhost/relay-host/internal/pluginlink"
	"google.golang.org/grpc"
)

type v2 struct{ plugin.NetRPCUnsupportedPlugin }

func (v2) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error { return nil }
func (v2) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, nil
}

func main() {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  pluginlink.HandshakeConfig(2),
		VersionedPlugins: map[int]plugin.PluginSet{2: {pluginlink.PluginName: v2{}}},
	})
}
