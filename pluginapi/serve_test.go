package pluginapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/relayhost/relay-host/internal/pluginlink"
	pluginv1 "github.com/relayhost/relay-host/pluginapi/proto/relayplugin/v1"
	"google.golang.org/grpc"
)

// serveTestTimeout bounds every wait of these tests; each step takes
// milliseconds.
const serveTestTimeout = 30 * time.Second

// deadlinePlugin answers each forward with one event saying the deadline
// its context carries ("none" without one).
type deadlinePlugin struct{}

func (deadlinePlugin) Info() Info {
	return Info{Name: "deadline", Version: "1.0.0", Platforms: []string{"test"}, Capabilities: []string{"x"}}
}

func (deadlinePlugin) HandleForward(ctx context.Context, f Forward) Result {
	text := "none"
	if dl, ok := ctx.Deadline(); ok {
		text = dl.UTC().Format(time.RFC3339Nano)
	}
	return Handle(MessageEvent{Text: text})
}

// env is an environment for serve.
func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestServeInfo(t *testing.T) {
	for _, arg := range []string{"info", "--info"} {
		var stdout, stderr bytes.Buffer
		if err := serve(deadlinePlugin{}, serveConfig{}, []string{"relay-plugin-deadline", arg}, env(nil), &stdout, &stderr); err != nil {
			t.Fatalf("serve %s: %v", arg, err)
		}
		var got Info
		if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
			t.Fatalf("serve %s printed %q: %v", arg, stdout.String(), err)
		}
		if got.Name != "deadline" || got.Version != "1.0.0" || len(got.Platforms) != 1 || got.Platforms[0] != "test" || !got.HasCapability("x") {
			t.Errorf("serve %s printed %+v", arg, got)
		}
		if stderr.Len() != 0 {
			t.Errorf("serve %s wrote to stderr: %q", arg, stderr.String())
		}
	}
}

func TestServeRunByHand(t *testing.T) {
	for name, vars := range map[string]map[string]string{
		"no cookie":    nil,
		"wrong cookie": {pluginlink.MagicCookieKey: "something else"},
	} {
		t.Run(name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := serve(deadlinePlugin{}, serveConfig{}, []string{"bin/relay-plugin-deadline"}, env(vars), &stdout, &stderr)
			if !errors.Is(err, errRunByHand) {
				t.Fatalf("serve without the magic cookie: err = %v, want errRunByHand", err)
			}
			for _, want := range []string{
				"bin/relay-plugin-deadline is a relay-host plugin (protocol 1): relay-host starts it, it is not run by hand.",
				"relay-host plugins list",
				"relay-host convert --platform test FILE",
			} {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("message %q lacks %q", stderr.String(), want)
				}
			}
			if stdout.Len() != 0 {
				t.Errorf("wrote to stdout: %q", stdout.String())
			}
		})
	}
}

// serveInTest runs serve in go-plugin's test mode and returns a raw gRPC
// client of the plugin; the plugin stops when the test ends.
func serveInTest(t *testing.T, impl Plugin) pluginv1.PluginClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	reattach := make(chan *plugin.ReattachConfig, 1)
	closed := make(chan struct{})
	served := make(chan error, 1)
	var stderr bytes.Buffer
	go func() {
		served <- serve(impl, serveConfig{test: &plugin.ServeTestConfig{Context: ctx, ReattachConfigCh: reattach, CloseCh: closed}},
			[]string{"relay-plugin-test"}, env(map[string]string{pluginlink.MagicCookieKey: pluginlink.MagicCookieValue, EnvLogLevel: "error"}),
			&bytes.Buffer{}, &stderr)
	}()
	var rc *plugin.ReattachConfig
	select {
	case rc = <-reattach:
	case err := <-served:
		cancel()
		t.Fatalf("serve returned before serving: %v (stderr %q)", err, stderr.String())
	case <-time.After(serveTestTimeout):
		cancel()
		t.Fatal("serve did not start")
	}
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig: pluginlink.HandshakeConfig(ProtocolVersion),
		// A reattaching client takes Plugins, not VersionedPlugins.
		Plugins: pluginlink.PluginSets(ProtocolVersion, &pluginlink.GRPCPlugin{
			Connect: func(c *grpc.ClientConn) any { return pluginv1.NewPluginClient(c) },
		})[ProtocolVersion],
		Reattach:         rc,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Logger:           hclog.NewNullLogger(),
	})
	t.Cleanup(func() {
		client.Kill()
		cancel()
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
			<-closed // closed before serve returns
		case <-time.After(serveTestTimeout):
			t.Error("serve did not stop")
		}
	})
	rpc, err := client.Client()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := rpc.Dispense(pluginlink.PluginName)
	if err != nil {
		t.Fatal(err)
	}
	return raw.(pluginv1.PluginClient)
}

// TestServeBatchesAndDeadlines drives what serve serves over go-plugin, as
// the host does: the plugin's Info (with the capability Serve adds), and a
// batch of forwards whose deadlines reach HandleForward's context.
func TestServeBatchesAndDeadlines(t *testing.T) {
	c := serveInTest(t, deadlinePlugin{})
	// Bounded by a timer, not a deadline: gRPC would pass a deadline on to
	// the stream's context, as the host's own stream (which has none) does
	// not.
	ctx, cancel := context.WithCancel(context.Background())
	defer time.AfterFunc(serveTestTimeout, cancel).Stop()
	defer cancel()
	info, err := c.Info(ctx, &pluginv1.InfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if info.GetName() != "deadline" || strings.Join(info.GetCapabilities(), ",") != "x,forward-batches,health,shutdown" || info.GetSdkVersion() != SDKVersion {
		t.Errorf("info = %v, want name deadline, capabilities x,forward-batches,health,shutdown, sdk %s", info, SDKVersion)
	}
	stream, err := c.HandleBatches(ctx)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Date(2031, 5, 6, 7, 8, 9, 123456789, time.UTC)
	if err := stream.Send(&pluginv1.ForwardBatch{Requests: []*pluginv1.ForwardRequest{
		{Id: 1, Forward: &pluginv1.Forward{Platform: "test"}, DeadlineUnixNano: deadline.UnixNano()},
		{Id: 2, Forward: &pluginv1.Forward{Platform: "test"}},
	}}); err != nil {
		t.Fatal(err)
	}
	got := map[uint64]string{}
	for len(got) < 2 {
		batch, err := stream.Recv()
		if err != nil {
			t.Fatalf("receive results: %v", err)
		}
		for _, r := range batch.GetResponses() {
			if r.GetDisposition() != pluginv1.Disposition_DISPOSITION_HANDLED || len(r.GetEvents()) != 1 {
				t.Fatalf("result %d = %v, want handled with one event", r.GetId(), r)
			}
			got[r.GetId()] = r.GetEvents()[0].GetText()
		}
	}
	if want := deadline.Format(time.RFC3339Nano); got[1] != want {
		t.Errorf("forward with a deadline: the plugin saw %q, want %q", got[1], want)
	}
	if got[2] != "none" {
		t.Errorf("forward without a deadline: the plugin saw %q, want none", got[2])
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
}
