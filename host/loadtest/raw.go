package loadtest

import (
	"context"
	"fmt"

	"github.com/relayhost/relay-host/host/relay"
	"github.com/relayhost/relay-host/pluginapi"
)

// RawPeer is the raw baseline of the performance targets
// (docs/performance.md): relay-host's own transport
// (dial, authentication, handshake, frame splitting, JSON and base64
// decoding) with a handler that acks each forward as soon as it is decoded.
// No plugin, no agent, no follow-up: what remains is the cost of the
// WebSocket link itself, measured by the same tool in the same run.
type RawPeer struct {
	client *relay.Client
	cancel context.CancelFunc
	done   chan error
}

// rawHandler acks every buffered forward on the read goroutine.
type rawHandler struct{ client *relay.Client }

func (h *rawHandler) Inbound(pluginapi.MessageEvent, string) {}
func (h *rawHandler) InterruptInbound(string, string)        {}
func (h *rawHandler) Passthrough(f pluginapi.Forward) {
	if f.BufferID != "" {
		_ = h.client.AckInbound(f.BufferID) // a failed ack shows up as a stalled phase
	}
}

// StartRawPeer dials the connector at url as gatewayID (fronting
// discord:botID) and waits for the handshake, at most readyTimeout.
func StartRawPeer(ctx context.Context, url, gatewayID, secret, botID string) (*RawPeer, error) {
	h := &rawHandler{}
	client, err := relay.New(relay.Config{
		URL: url, GatewayID: gatewayID, Secret: secret,
		Identities: []relay.Identity{{Platform: "discord", BotID: botID}},
		Handler:    h,
	})
	if err != nil {
		return nil, fmt.Errorf("raw peer: %w", err)
	}
	h.client = client
	rctx, cancel := context.WithCancel(context.Background())
	p := &RawPeer{client: client, cancel: cancel, done: make(chan error, 1)}
	go func() { p.done <- client.Run(rctx) }()
	wctx, cancelWait := context.WithTimeout(ctx, readyTimeout)
	defer cancelWait()
	if err := client.WaitReady(wctx); err != nil {
		p.Close()
		return nil, fmt.Errorf("raw peer handshake: %w", err)
	}
	return p, nil
}

// EnvRawPeer, set to the connector's URL (with the secret in RELAY_SECRET),
// makes `relay-host bench` serve as the raw peer instead (ServeRawPeer):
// Bench runs it so as a child process.
const EnvRawPeer = "RELAY_BENCH_RAW_PEER"

// ServeRawPeer runs a raw peer against the connector at url until ctx ends.
func ServeRawPeer(ctx context.Context, url, secret string) error {
	p, err := StartRawPeer(ctx, url, benchGatewayID, secret, benchBotID)
	if err != nil {
		return err
	}
	<-ctx.Done()
	p.Close()
	return nil
}

// Close disconnects the raw peer and waits for its transport to stop.
func (p *RawPeer) Close() {
	_ = p.client.Close(context.Background())
	p.cancel()
	<-p.done
}
