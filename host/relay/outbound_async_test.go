package relay_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/relayhost/relay-host/host/relay"
	"github.com/relayhost/relay-host/host/relay/relaytest"
)

// asyncResult collects OutboundAsync's one callback.
func asyncResult() (func(relay.OutboundResult), chan relay.OutboundResult) {
	ch := make(chan relay.OutboundResult, 2) // room for a (wrong) second call
	return func(r relay.OutboundResult) { ch <- r }, ch
}

func awaitResult(ctx context.Context, t *testing.T, ch chan relay.OutboundResult) relay.OutboundResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-ctx.Done():
		t.Fatal("OutboundAsync never called back")
		return relay.OutboundResult{}
	}
}

// OutboundAsync answers through its callback exactly once, with what
// Outbound would have returned: the connector's result, a timeout, a lost
// connection; and without a callback it sends untracked.
func TestOutboundAsync(t *testing.T) {
	release := make(chan struct{})
	opts := authed()
	opts.Outbound = func(of relaytest.OutboundFrame) relaytest.OutboundReply {
		switch of.Action["chat_id"] {
		case "never":
			return relaytest.OutboundReply{Never: true}
		case "later":
			return relaytest.OutboundReply{After: release}
		}
		return relaytest.OutboundReply{Result: map[string]any{"success": true, "message_id": "m-async"}}
	}
	cfg := twoIdentities()
	cfg.OutboundTimeout = time.Hour // only the connector or the connection loss answers
	hz := start(t, opts, cfg)
	ctx := waitCtx(t)

	done, ch := asyncResult()
	hz.c.OutboundAsync(map[string]any{"op": "send", "chat_id": "now"}, "discord", "", done)
	if r := awaitResult(ctx, t, ch); !r.Success || r.MessageID != "m-async" {
		t.Fatalf("result = %+v", r)
	}
	if got := hz.srv.Outbounds()[0]; got.Platform != "discord" || got.BotID != "123" {
		t.Fatalf("sent as %s/%s, want discord with the identity's botId", got.Platform, got.BotID)
	}

	// Untracked: sent, its result ignored.
	hz.c.OutboundAsync(map[string]any{"op": "send", "chat_id": "blind"}, "", "", nil)
	if err := hz.srv.WaitOutbounds(ctx, 2); err != nil {
		t.Fatal(err)
	}

	// Thousands waiting at once cost no goroutine each; a lost connection
	// answers all of them.
	const n = 2000
	results := make(chan relay.OutboundResult, n)
	for range n {
		hz.c.OutboundAsync(map[string]any{"op": "send", "chat_id": "later"}, "", "", func(r relay.OutboundResult) { results <- r })
	}
	if err := hz.srv.WaitOutbounds(ctx, 2+n); err != nil {
		t.Fatal(err)
	}
	if err := hz.srv.CloseConn(1011, "crash"); err != nil {
		t.Fatal(err)
	}
	for range n {
		if r := awaitResult(ctx, t, results); r.Success || !r.Ambiguous || r.Error != relay.ErrTextConnectionLost {
			t.Fatalf("result = %+v, want an ambiguous connection-lost failure", r)
		}
	}
	close(release)
	select {
	case r := <-ch:
		t.Fatalf("a second callback: %+v", r)
	default:
	}

	// Without a socket it fails at once, definitely.
	if err := hz.c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	done, ch = asyncResult()
	hz.c.OutboundAsync(map[string]any{"op": "send"}, "", "", done)
	if r := awaitResult(ctx, t, ch); r.Success || r.Ambiguous || r.Error != relay.ErrTextClosed {
		t.Fatalf("after Close: %+v, want a definite closed failure", r)
	}
}

func TestOutboundAsyncTimeoutIsAmbiguous(t *testing.T) {
	opts := authed()
	opts.Outbound = func(relaytest.OutboundFrame) relaytest.OutboundReply { return relaytest.OutboundReply{Never: true} }
	cfg := twoIdentities()
	cfg.OutboundTimeout = 100 * time.Millisecond
	hz := start(t, opts, cfg)
	done, ch := asyncResult()
	hz.c.OutboundAsync(map[string]any{"op": "send"}, "", "", done)
	if r := awaitResult(waitCtx(t), t, ch); r.Success || !r.Ambiguous || r.Error != relay.ErrTextTimedOut {
		t.Fatalf("result = %+v, want an ambiguous timeout", r)
	}
}

// A storm of malformed frames costs a few log lines a second, not one per
// frame (issue 15, Medium 3: 4,000 frames wrote 262 MB of log).
func TestMalformedFrameLogIsRateLimited(t *testing.T) {
	hz := start(t, authed(), twoIdentities())
	ctx := waitCtx(t)
	const n = 1000
	if err := hz.srv.SendRaw(strings.Repeat(`{"type":"passthrough_forward","forward":[1]}`+"\n", n)); err != nil {
		t.Fatal(err)
	}
	hz.obs.wait(ctx, t, "the bad frames", func() bool { return len(hz.obs.Bad()) == n })
	lines := strings.Count(hz.logs.String(), "relay skipping malformed frame")
	if lines > 20 {
		t.Fatalf("%d log lines for %d malformed frames, want a burst of about ten", lines, n)
	}
	if lines == 0 {
		t.Fatalf("no log line at all for %d malformed frames", n)
	}
}
