package pluginapi

import (
	"context"
	"fmt"
	"net"

	"github.com/hashicorp/go-hclog"
	pluginv1 "github.com/relayhost/relay-host/pluginapi/proto/relayplugin/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"
)

// inProcessBuffer is the in-memory connection buffer of an in-process
// plugin; it only affects how much is in flight before writers block.
const inProcessBuffer = 1 << 20

// ServeInProcess serves impl over a real gRPC connection inside this process
// (an in-memory listener), with the same server-side guarantees as Serve, and
// returns the host-side Remote for it plus a function that stops both ends.
// It is what plugintest.New uses; the host never runs plugins in-process.
func ServeInProcess(impl Plugin, logger hclog.Logger) (*Remote, func(), error) {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	return serveInProcess(newGRPCServer(impl, logger))
}

// serveInProcess is ServeInProcess for a prepared server (compatibility
// tests pass a legacy one).
func serveInProcess(gs *grpcServer) (*Remote, func(), error) {
	lis := bufconn.Listen(inProcessBuffer)
	// WaitForHandlers: Stop returns once every stream handler has, so the
	// workers can be stopped with nothing left to run.
	srv := grpc.NewServer(grpc.MaxRecvMsgSize(MaxMessageBytes), grpc.MaxSendMsgSize(MaxMessageBytes), grpc.WaitForHandlers(true))
	pluginv1.RegisterPluginServer(srv, gs)
	go func() { _ = srv.Serve(lis) }()
	dial := func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }
	opts := append(grpcDialOptions(), grpc.WithContextDialer(dial), grpc.WithTransportCredentials(insecure.NewCredentials()))
	conn, err := grpc.NewClient("passthrough:///in-process", opts...)
	if err != nil {
		srv.Stop()
		return nil, nil, fmt.Errorf("connect in-process plugin: %w", err)
	}
	remote := newRemote(pluginv1.NewPluginClient(conn))
	ctx, cancel := context.WithTimeout(context.Background(), DefaultStartTimeout)
	info, err := remote.Info(ctx)
	cancel()
	if err == nil {
		err = remote.open(info.HasCapability(CapabilityForwardBatches))
	}
	if err != nil {
		_ = conn.Close()
		srv.Stop()
		gs.workers.close()
		return nil, nil, err
	}
	stop := func() {
		remote.Close()
		_ = conn.Close()
		srv.Stop()
		gs.workers.close()
	}
	return remote, stop, nil
}
