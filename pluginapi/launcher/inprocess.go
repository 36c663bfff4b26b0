package launcher

import (
	"context"
	"fmt"
	"net"

	"github.com/hashicorp/go-hclog"
	"github.com/relayhost/relay-host/internal/pluginlink"
	"github.com/relayhost/relay-host/pluginapi"
	pluginv1 "github.com/relayhost/relay-host/pluginapi/proto/relayplugin/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"
)

// inProcessBuffer is the in-memory connection buffer of an in-process
// plugin; it only affects how much is in flight before writers block.
const inProcessBuffer = 1 << 20

// ServeInProcess serves impl over a real gRPC connection inside this process
// (an in-memory listener), with the same server-side guarantees as
// pluginapi.Serve, and returns the host-side Remote for it plus a function
// that stops both ends. It is what plugintest.New uses; the host never runs
// plugins in-process. A nil logger discards the plugin's log.
func ServeInProcess(impl pluginapi.Plugin, logger hclog.Logger) (*Remote, func(), error) {
	srv, stop, err := pluginlink.NewServer(impl, logger)
	if err != nil {
		return nil, nil, fmt.Errorf("serve plugin in-process: %w", err)
	}
	return serveInProcess(srv, stop)
}

// serveInProcess is ServeInProcess for a prepared server; stopServer stops
// its workers. Tests pass wrapped servers and extra dial or server options.
func serveInProcess(ps pluginv1.PluginServer, stopServer func(), opts ...inProcessOption) (*Remote, func(), error) {
	var o inProcessOptions
	for _, opt := range opts {
		opt(&o)
	}
	lis := bufconn.Listen(inProcessBuffer)
	// WaitForHandlers: Stop returns once every stream handler has, so the
	// workers can be stopped with nothing left to run.
	srvOpts := append([]grpc.ServerOption{grpc.MaxRecvMsgSize(pluginapi.MaxMessageBytes),
		grpc.MaxSendMsgSize(pluginapi.MaxMessageBytes), grpc.WaitForHandlers(true),
		grpc.InitialWindowSize(pluginlink.WindowBytes), grpc.InitialConnWindowSize(pluginlink.WindowBytes)}, o.server...)
	srv := grpc.NewServer(srvOpts...)
	pluginv1.RegisterPluginServer(srv, ps)
	go func() { _ = srv.Serve(lis) }()
	dial := func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }
	dialOpts := append(grpcDialOptions(), grpc.WithContextDialer(dial), grpc.WithTransportCredentials(insecure.NewCredentials()))
	conn, err := grpc.NewClient("passthrough:///in-process", append(dialOpts, o.dial...)...)
	if err != nil {
		srv.Stop()
		stopServer()
		return nil, nil, fmt.Errorf("connect in-process plugin: %w", err)
	}
	remote := newRemote(pluginv1.NewPluginClient(conn))
	ctx, cancel := context.WithTimeout(context.Background(), pluginapi.DefaultStartTimeout)
	info, err := remote.Info(ctx)
	cancel()
	if err == nil {
		err = remote.open(info.HasCapability(pluginlink.CapabilityForwardBatches))
	}
	if err != nil {
		_ = conn.Close()
		srv.Stop()
		stopServer()
		return nil, nil, err
	}
	stop := func() {
		remote.Close()
		_ = conn.Close()
		srv.Stop()
		stopServer()
	}
	return remote, stop, nil
}

// inProcessOptions are extra gRPC options of an in-process link (tests).
type inProcessOptions struct {
	dial   []grpc.DialOption
	server []grpc.ServerOption
}

type inProcessOption func(*inProcessOptions)
