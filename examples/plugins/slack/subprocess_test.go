package main

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/relayhost/relay-host/pluginapi"
	"github.com/relayhost/relay-host/pluginapi/plugintest"
)

// TestAsASubprocess builds the plugin binary and drives it exactly as
// relay-host does: go-plugin handshake, gRPC with AutoMTLS, the plugin
// environment allowlist. It also shows what a crash looks like to the host.
func TestAsASubprocess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts the plugin binary")
	}
	h := plugintest.Start(t, plugintest.Build(t, "."))
	if info := h.Info(); info.Name != "slack" || !slices.Equal(info.Platforms, []string{"slack"}) {
		t.Fatalf("Info() = %+v, want name slack serving platform slack", info)
	}

	res := h.Body(t, "slack", sample(t, "weather.txt"))
	if res.Disposition != pluginapi.Handled || len(res.Events) != 1 {
		t.Fatalf("weather.txt: got %s with %d events (%q), want handled with 1 event", res.Disposition, len(res.Events), res.Reason)
	}
	if got, want := res.Events[0].SessionKey, "agent:main:slack:group:C2147483705:U2147483697"; got != want {
		t.Errorf("session key %q, want %q", got, want)
	}
	if got := res.Events[0].Metadata["slack_enterprise_name"]; got != "Globular Construct Inc" {
		t.Errorf("metadata survives the wire: slack_enterprise_name = %v", got)
	}
	if res := h.Body(t, "slack", sample(t, "ssl-check.txt")); res.Disposition != pluginapi.Dropped {
		t.Errorf("ssl-check.txt: got %s (%q), want dropped", res.Disposition, res.Reason)
	}

	// A crashed plugin gives no result, only an error: the host leaves the
	// forward un-acked and the connector redelivers it.
	if err := h.Kill(); err != nil {
		t.Fatalf("kill plugin: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := h.Forward(ctx, pluginapi.Forward{Platform: "slack", Body: sample(t, "weather.txt")})
	if !errors.Is(err, plugintest.ErrPluginGone) {
		t.Fatalf("forward to a killed plugin: err = %v, want plugintest.ErrPluginGone", err)
	}
}
