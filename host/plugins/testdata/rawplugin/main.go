// Command rawplugin is a plugin built without the SDK's guarantees: it
// serves the plugin protocol directly, so it can send results the SDK
// would refuse. For the host's own checks on what a plugin returns. The
// body chooses the result: "many-events" (200,000 events), "big-result"
// (one 9 MiB event: over pluginapi.MaxResultBytes, under the gRPC message
// limit), or anything else, which it echoes back as one event.
package main

import (
	"context"
	"strings"

	"github.com/hashicorp/go-plugin"
	"github.com/relayhost/relay-host/internal/pluginlink"
	"github.com/relayhost/relay-host/pluginapi"
	pluginv1 "github.com/relayhost/relay-host/pluginapi/proto/relayplugin/v1"
	"google.golang.org/grpc"
)

type rawServer struct {
	pluginv1.UnimplementedPluginServer
}

func (rawServer) Info(context.Context, *pluginv1.InfoRequest) (*pluginv1.InfoResponse, error) {
	return &pluginv1.InfoResponse{Name: "raw", Version: "0.0.1", Platforms: []string{"raw"},
		Capabilities: []string{pluginlink.CapabilityForwardBatches}}, nil
}

func respond(req *pluginv1.ForwardRequest) *pluginv1.ForwardResponse {
	resp := &pluginv1.ForwardResponse{Id: req.GetId(), Disposition: pluginv1.Disposition_DISPOSITION_HANDLED}
	switch body := string(req.GetForward().GetBody()); body {
	case "many-events":
		resp.Events = make([]*pluginv1.MessageEvent, 200_000)
		for i := range resp.Events {
			resp.Events[i] = &pluginv1.MessageEvent{Text: "e"}
		}
	case "big-result":
		resp.Events = []*pluginv1.MessageEvent{{Text: strings.Repeat("x", 9<<20)}}
	default:
		resp.Events = []*pluginv1.MessageEvent{{Text: body}}
	}
	return resp
}

func (rawServer) HandleBatches(stream pluginv1.Plugin_HandleBatchesServer) error {
	for {
		batch, err := stream.Recv()
		if err != nil {
			return nil
		}
		out := &pluginv1.ForwardResponseBatch{}
		for _, req := range batch.GetRequests() {
			out.Responses = append(out.Responses, respond(req))
		}
		if err := stream.Send(out); err != nil {
			return err
		}
	}
}

func main() {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: pluginlink.HandshakeConfig(pluginapi.ProtocolVersion),
		VersionedPlugins: pluginlink.PluginSets(pluginapi.ProtocolVersion, &pluginlink.GRPCPlugin{
			Register: func(s *grpc.Server) { pluginv1.RegisterPluginServer(s, rawServer{}) },
		}),
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			return grpc.NewServer(append(opts, grpc.MaxRecvMsgSize(pluginapi.MaxMessageBytes), grpc.MaxSendMsgSize(pluginapi.MaxMessageBytes))...)
		},
	})
}
