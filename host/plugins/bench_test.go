package plugins

import (
	"context"
	"strings"
	"testing"

	"github.com/relayhost/relay-host/pluginapi"
)

// BenchmarkDispatch measures Manager.Dispatch over a real plugin process (the
// test plugin, which answers each forward at once with one event): the
// dispatch bound, the per-forward deadline, the supervisor and the plugin
// hop (go-plugin, gRPC, AutoMTLS, batches). serial is one forward at a
// time; pipelined keeps 64 in flight, as the host does under load.
func BenchmarkDispatch(b *testing.B) {
	dir := b.TempDir()
	install(b, dir, binaries.alpha, "alpha")
	m, err := Open(context.Background(), Config{Dir: dir})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	f := pluginapi.Forward{Platform: "alpha", Method: "POST", Path: "/alpha",
		Headers: []pluginapi.Header{{Name: "content-type", Value: "application/json"}},
		Body:    []byte(strings.Repeat("x", 1500))}
	ctx := context.Background()
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := m.Dispatch(ctx, f); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "forwards/s")
	})
	b.Run("pipelined-64", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(32) // × GOMAXPROCS 2
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := m.Dispatch(ctx, f); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "forwards/s")
	})
}
