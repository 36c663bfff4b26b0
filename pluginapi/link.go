package pluginapi

// This file is the go-plugin glue of the plugin end, and the hand-over of
// the gRPC service to package launcher for in-process links.

import (
	"fmt"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/relayhost/relay-host/internal/pluginlink"
	pluginv1 "github.com/relayhost/relay-host/pluginapi/proto/relayplugin/v1"
	"google.golang.org/grpc"
)

// pluginSets is the VersionedPlugins map Serve hands go-plugin: the one
// plugin kind, served by gs.
func pluginSets(gs *grpcServer) map[int]plugin.PluginSet {
	return pluginlink.PluginSets(ProtocolVersion, &pluginlink.GRPCPlugin{
		Register: func(s *grpc.Server) { pluginv1.RegisterPluginServer(s, gs) },
	})
}

// init gives package launcher (through pluginlink) the gRPC service for
// in-process links, which this package must not export.
func init() {
	pluginlink.RegisterServer(func(impl any, logger hclog.Logger) (pluginv1.PluginServer, func(), error) {
		p, ok := impl.(Plugin)
		if !ok {
			return nil, nil, fmt.Errorf("pluginapi: %T does not implement Plugin", impl)
		}
		if logger == nil {
			logger = hclog.NewNullLogger()
		}
		gs := newGRPCServer(p, logger)
		return gs, gs.close, nil
	})
}
