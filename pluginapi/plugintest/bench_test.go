package plugintest_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/relayhost/relay-host/pluginapi"
	"github.com/relayhost/relay-host/pluginapi/launcher"
)

// benchBody is a Discord slash-command interaction of about 1.3 KiB, the
// typical forward body.
var benchBody = []byte(`{"app_permissions":"2248473465835073","application_id":"1234567890123456789","authorizing_integration_owners":{"0":"987654321098765432"},` +
	`"channel":{"flags":0,"guild_id":"987654321098765432","id":"1122334455667788990","last_message_id":"1122334455667788999","name":"general","nsfw":false,"parent_id":"1122334455667788000","permissions":"2251799813685247","position":0,"rate_limit_per_user":0,"topic":null,"type":0},` +
	`"channel_id":"1122334455667788990","context":0,"data":{"id":"1230000000000000001","name":"ask","options":[{"name":"prompt","type":3,"value":"What is the weather like in Lisbon this weekend?"}],"type":1},` +
	`"entitlement_sku_ids":[],"entitlements":[],"guild":{"features":[],"id":"987654321098765432","locale":"en-US"},"guild_id":"987654321098765432","guild_locale":"en-US","id":"1300000000000000001","locale":"en-GB",` +
	`"member":{"avatar":null,"deaf":false,"flags":0,"joined_at":"2024-01-01T00:00:00.000000+00:00","mute":false,"nick":null,"pending":false,"permissions":"2251799813685247","roles":["1111111111111111111"],` +
	`"user":{"avatar":"a1b2c3d4e5f6","discriminator":"0","global_name":"Alice","id":"5555555555555555555","public_flags":0,"username":"alice"}},"type":2,"version":1}`)

func benchForward() pluginapi.Forward {
	return pluginapi.Forward{Platform: "bench", BotID: "1234567890123456789", Method: "POST", Path: "/interactions/discord/1234567890123456789",
		Headers: []pluginapi.Header{{Name: "content-type", Value: "application/json"}, {Name: "user-agent", Value: "Discord-Interactions/1.0"}},
		Body:    benchBody, BufferID: "pbuf-1"}
}

// benchImpl answers like testdata/benchplugin, in-process.
type benchImpl struct{}

func (benchImpl) Info() pluginapi.Info {
	return pluginapi.Info{Name: "bench", Version: "0.0.1", Platforms: []string{"bench"}}
}

func (benchImpl) HandleForward(_ context.Context, f pluginapi.Forward) pluginapi.Result {
	src := pluginapi.SessionSource{Platform: "discord", ChatID: "1122334455667788990", ChatType: "group",
		UserID: "5555555555555555555", UserName: "Alice", ScopeID: "987654321098765432", Profile: f.Profile}
	return pluginapi.Handle(pluginapi.MessageEvent{Text: "/ask prompt: What is the weather like in Lisbon this weekend?",
		MessageType: pluginapi.MessageTypeCommand, Source: src, MessageID: "1300000000000000001",
		SessionKey: pluginapi.SessionKey(src), EgressKind: pluginapi.EgressDiscordInteractionToken})
}

// benchPlugin is the benchmark plugin binary, built once per test binary.
var benchPlugin struct {
	once sync.Once
	path string
	err  error
}

func benchPluginPath(b *testing.B) string {
	benchPlugin.once.Do(func() {
		dir, err := os.MkdirTemp("", "plugintest-bench")
		if err != nil {
			benchPlugin.err = err
			return
		}
		benchPlugin.path = filepath.Join(dir, "relay-plugin-bench")
		cmd := exec.Command("go", "build", "-o", benchPlugin.path, "./testdata/benchplugin")
		cmd.Stderr = os.Stderr
		benchPlugin.err = cmd.Run()
	})
	if benchPlugin.err != nil {
		b.Fatalf("build the benchmark plugin: %v", benchPlugin.err)
	}
	return benchPlugin.path
}

// startQuiet starts the benchmark plugin without a logger (plugintest's
// harness logs to the test log, which a benchmark would print).
func startQuiet(b *testing.B, link string) *launcher.Remote {
	if link == "in-process" {
		remote, stop, err := launcher.ServeInProcess(benchImpl{}, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(stop)
		return remote
	}
	proc, err := launcher.Launch(context.Background(), launcher.LaunchConfig{
		Path: benchPluginPath(b), Env: launcher.PluginEnv("error")})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(proc.Kill)
	return proc.Remote
}

// BenchmarkHandleForward measures the plugin hop: Remote.HandleForward to a
// plugin that answers at once, over the in-memory gRPC link of plugintest.New
// and over the real subprocess link (go-plugin, gRPC, AutoMTLS), one forward
// at a time (latency) and with 64 in flight (throughput).
func BenchmarkHandleForward(b *testing.B) {
	for _, link := range []string{"in-process", "subprocess"} {
		for _, inFlight := range []int{1, 64} {
			name := link + "/serial"
			if inFlight > 1 {
				name = link + "/pipelined-64"
			}
			b.Run(name, func(b *testing.B) {
				h := startQuiet(b, link)
				ctx := context.Background()
				f := benchForward()
				b.ReportAllocs()
				b.ResetTimer()
				if inFlight == 1 {
					for b.Loop() {
						if res, err := h.HandleForward(ctx, f); err != nil || res.Disposition != pluginapi.Handled {
							b.Fatalf("%+v, %v", res, err)
						}
					}
				} else {
					b.SetParallelism(inFlight / max(1, runtimeProcs()))
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							if res, err := h.HandleForward(ctx, f); err != nil || res.Disposition != pluginapi.Handled {
								b.Errorf("%+v, %v", res, err)
								return
							}
						}
					})
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "forwards/s")
			})
		}
	}
}

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }
