package relay_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relayhost/relay-host/host/relay"
	"github.com/relayhost/relay-host/host/relay/relaytest"
	"github.com/relayhost/relay-host/pluginapi"
)

// countingHandler signals when it has seen n forwards.
type countingHandler struct {
	n, target atomic.Int64
	done      chan struct{}
}

func (h *countingHandler) Inbound(pluginapi.MessageEvent, string) {}
func (h *countingHandler) InterruptInbound(string, string)        {}
func (h *countingHandler) Passthrough(pluginapi.Forward) {
	if h.n.Add(1) == h.target.Load() {
		close(h.done)
	}
}

// BenchmarkPassthroughLoopback measures forwards per second over a real
// loopback WebSocket: relaytest writes each forward as its own message, the
// client reads, splits, decodes and hands it to a handler that only counts.
func BenchmarkPassthroughLoopback(b *testing.B) {
	srv := relaytest.New(relaytest.Options{})
	if err := srv.Start(); err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	h := &countingHandler{done: make(chan struct{})}
	h.target.Store(-1)
	c, err := relay.New(relay.Config{URL: srv.URL(), Handler: h})
	if err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	runErr := make(chan error, 1)
	go func() { runErr <- c.Run(ctx) }()
	defer func() { _ = c.Close(ctx); <-runErr }()
	rctx, cancel := context.WithTimeout(ctx, waitTimeout)
	defer cancel()
	if err := c.WaitReady(rctx); err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"type":2,"id":"1300000000000000001","application_id":"1234567890123456789","channel_id":"1122334455667788990","guild_id":"987654321098765432","data":{"id":"1230000000000000001","name":"ask","options":[{"name":"prompt","type":3,"value":"What is the weather like in Lisbon this weekend?"}],"type":1},"member":{"user":{"id":"5555555555555555555","username":"alice","global_name":"Alice"}},"token":"stripped","version":1}`)
	f := pluginapi.Forward{Platform: "discord", BotID: "1234567890123456789", Method: "POST", Path: "/interactions/discord/1234567890123456789",
		Headers: []pluginapi.Header{{Name: "content-type", Value: "application/json"}, {Name: "user-agent", Value: "Discord-Interactions/1.0"}}, Body: body}
	h.target.Store(int64(b.N))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := srv.SendPassthrough(f); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-h.done:
	case <-time.After(waitTimeout + time.Duration(b.N)*time.Millisecond):
		b.Fatalf("the client delivered %d of %d forwards", h.n.Load(), b.N)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "forwards/s")
}
