package relay_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relayhost/relay-host/host/internal/wire"
	"github.com/relayhost/relay-host/host/relay"
	"github.com/relayhost/relay-host/host/relay/relaytest"
	"github.com/relayhost/relay-host/internal/notify"
	"github.com/relayhost/relay-host/pluginapi"
)

const (
	testGatewayID = "gw-test"
	testSecret    = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
)

var manifest = json.RawMessage(`[{"name":"ask","description":"Ask the agent","options":[{"type":3,"name":"prompt","description":"What","required":true}]}]`)

func authed() relaytest.Options {
	return relaytest.Options{GatewayID: testGatewayID, Secrets: []string{testSecret}}
}

func twoIdentities() relay.Config {
	return relay.Config{
		GatewayID: testGatewayID, Secret: testSecret,
		Identities:      []relay.Identity{{Platform: "discord", BotID: "123"}, {Platform: "telegram", BotID: "456"}},
		CommandManifest: manifest,
	}
}

func TestNewValidatesConfig(t *testing.T) {
	h := &handler{}
	cases := []struct {
		name string
		cfg  relay.Config
		want string
	}{
		{"handler required", relay.Config{URL: "http://127.0.0.1:1"}, "Handler"},
		{"URL without scheme", relay.Config{URL: "connector.example", Handler: h}, "connector URL"},
		{"empty platform", relay.Config{URL: "http://h", Handler: h, Identities: []relay.Identity{{BotID: "1"}}}, "no platform"},
		{"duplicate platform", relay.Config{URL: "http://h", Handler: h, Identities: []relay.Identity{{Platform: "discord"}, {Platform: "discord"}}}, "twice"},
		{"manifest not an array", relay.Config{URL: "http://h", Handler: h, CommandManifest: json.RawMessage(`{"name":"x"}`)}, "CommandManifest"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := relay.New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New error = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestHelloPerIdentityAndDescriptors(t *testing.T) {
	hz := start(t, authed(), twoIdentities())
	ctx := waitCtx(t)
	if _, err := hz.srv.WaitFrame(ctx, func(f relaytest.Frame) bool { return f.Type == "hello" && f.Platform == "telegram" }); err != nil {
		t.Fatal(err)
	}
	hellos := hz.srv.Hellos()
	if len(hellos) != 2 || hellos[0].Platform != "discord" || hellos[0].BotID != "123" ||
		hellos[1].Platform != "telegram" || hellos[1].BotID != "456" {
		t.Fatalf("hellos = %+v, want discord/123 then telegram/456", hellos)
	}
	if string(hellos[0].CommandManifest) != string(manifest) {
		t.Fatalf("discord hello manifest = %s, want %s", hellos[0].CommandManifest, manifest)
	}
	if hellos[1].CommandManifest != nil {
		t.Fatalf("command_manifest must ride only on the discord hello; telegram got %s", hellos[1].CommandManifest)
	}
	for _, f := range hz.srv.Frames() {
		if !f.OwnMessage || f.Binary {
			t.Fatalf("frame %s was not sent as one text message with its newline", f.Raw)
		}
	}
	if hz.srv.AuthFailures() != 0 {
		t.Fatalf("the connector refused the bearer")
	}
	if auth := hz.srv.Authorizations(); len(auth) != 1 || !strings.HasPrefix(auth[0], "Bearer ") {
		t.Fatalf("Authorization headers = %q, want one bearer", auth)
	}
	// One descriptor per platform; the first is the default.
	hz.obs.wait(ctx, t, "two descriptors", func() bool {
		return hz.obs.count(func() int { return hz.obs.in["descriptor"] }) == 2
	})
	d, ok := hz.c.Descriptor("telegram")
	if !ok || d.Platform != "telegram" || d.MaxMessageLength != wire.DefaultMaxMessageLength {
		t.Fatalf("telegram descriptor = %+v, %v", d, ok)
	}
	def, ok := hz.c.DefaultDescriptor()
	if !ok || def.Platform != "discord" || def.MaxMessageLength != 2000 {
		t.Fatalf("default descriptor = %+v, %v; want the first one (discord)", def, ok)
	}
	if !hz.c.Ready() || hz.c.State() != relay.StateConnected {
		t.Fatalf("Ready = %v, State = %v", hz.c.Ready(), hz.c.State())
	}
	if s := hz.logs.String(); strings.Contains(s, testSecret) || strings.Contains(s, strings.TrimPrefix(hz.srv.Authorizations()[0], "Bearer ")) {
		t.Fatalf("the secret or the token appears in the logs")
	}
}

func TestDefaultIdentityIsRelay(t *testing.T) {
	hz := start(t, relaytest.Options{}, relay.Config{})
	f, err := hz.srv.WaitFrame(waitCtx(t), func(f relaytest.Frame) bool { return f.Type == "hello" })
	if err != nil {
		t.Fatal(err)
	}
	if string(f.Raw) != `{"type":"hello","platform":"relay","botId":""}` {
		t.Fatalf("hello = %s", f.Raw)
	}
}

func TestNoAuthorizationWithoutCredentials(t *testing.T) {
	hz := start(t, relaytest.Options{}, relay.Config{GatewayID: testGatewayID}) // no secret
	if auth := hz.srv.Authorizations(); len(auth) != 1 || auth[0] != "" {
		t.Fatalf("Authorization = %q, want none when the secret is unset", auth)
	}
}

func TestFreshTokenOnEveryDial(t *testing.T) {
	var tick atomic.Int64
	base := time.Now()
	cfg := twoIdentities()
	cfg.Now = func() time.Time { return base.Add(time.Duration(tick.Add(1)) * time.Second) }
	hz := start(t, authed(), cfg)
	ctx := waitCtx(t)
	if err := hz.srv.CloseConn(1011, "restart"); err != nil {
		t.Fatal(err)
	}
	if err := hz.srv.WaitHandshake(ctx, 2); err != nil {
		t.Fatal(err)
	}
	auth := hz.srv.Authorizations()
	if len(auth) != 2 || auth[0] == auth[1] || auth[0] == "" {
		t.Fatalf("tokens of the two dials must both be present and differ")
	}
}

func TestHelloResentAfterReconnect(t *testing.T) {
	hz := start(t, authed(), twoIdentities())
	ctx := waitCtx(t)
	if err := hz.srv.CloseConn(1011, "connector restart"); err != nil {
		t.Fatal(err)
	}
	if _, err := hz.srv.WaitFrame(ctx, func(f relaytest.Frame) bool { return f.Conn == 2 && f.Platform == "telegram" }); err != nil {
		t.Fatal(err)
	}
	var conn2 []string
	for _, f := range hz.srv.Hellos() {
		if f.Conn == 2 {
			conn2 = append(conn2, f.Platform)
		}
	}
	if !reflect.DeepEqual(conn2, []string{"discord", "telegram"}) {
		t.Fatalf("hellos on the new connection = %q", conn2)
	}
	if err := hz.srv.WaitHandshake(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if err := hz.c.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	hz.obs.wait(ctx, t, "a reconnect", func() bool { return hz.obs.count(func() int { return hz.obs.reconnects }) == 1 })
}

func TestReconnectPaths(t *testing.T) {
	cases := []struct {
		name string
		plan relaytest.Plan
		log  string
	}{
		{"connector accepts then closes at once", relaytest.Plan{CloseAtAccept: true, CloseCode: 1011, CloseReason: "overloaded"}, "overloaded"},
		{"connector never sends a descriptor", relaytest.Plan{NoDescriptor: true}, "no descriptor in time"},
		{"connector drops right after the descriptor", relaytest.Plan{CloseAfterDescriptor: true, CloseCode: 1011}, "close_code=1011"},
		{"connector sends only a malformed descriptor", relaytest.Plan{NoDescriptor: true, MalformedDescriptor: true}, "bad_descriptor"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srvOpts := authed()
			hz := newHarness(t, srvOpts, relay.Config{GatewayID: testGatewayID, Secret: testSecret, HandshakeTimeout: 300 * time.Millisecond})
			hz.srv.PlanNext(tc.plan, tc.plan)
			hz.run()
			ctx := waitCtx(t)
			if err := hz.srv.WaitHandshake(ctx, 3); err != nil {
				t.Fatal(err)
			}
			if err := hz.c.WaitReady(ctx); err != nil {
				t.Fatal(err)
			}
			if n := hz.srv.Dials(); n != 3 {
				t.Fatalf("dials = %d, want 3", n)
			}
			hz.logs.waitFor(ctx, t, tc.log)
			if !strings.Contains(hz.logs.String(), "relay disconnected") {
				t.Fatalf("no disconnect log line")
			}
		})
	}
}

func TestMalformedDescriptorSkipped(t *testing.T) {
	opts := authed()
	opts.MalformedDescriptor = true
	hz := start(t, opts, twoIdentities())
	ctx := waitCtx(t)
	hz.obs.wait(ctx, t, "both bad descriptors", func() bool { return len(hz.obs.Bad()) == 2 })
	if bad := hz.obs.Bad(); !reflect.DeepEqual(bad, []string{wire.BadFrameDescriptor, wire.BadFrameDescriptor}) {
		t.Fatalf("bad frames = %q", bad)
	}
	if d, ok := hz.c.DefaultDescriptor(); !ok || d.Label != "Discord" {
		t.Fatalf("default descriptor = %+v, %v; the malformed one must be skipped", d, ok)
	}
	if hz.srv.Dials() != 1 {
		t.Fatalf("a malformed descriptor must not cost the connection")
	}
	hz.logs.waitFor(ctx, t, "descriptor missing required keys")
}

func TestAuth4401(t *testing.T) {
	unauthorized := relaytest.Plan{CloseAfterDescriptor: true, CloseCode: relay.UnauthorizedCloseCode, CloseReason: "unauthorized"}
	expired := relaytest.Plan{CloseAfterDescriptor: true, CloseCode: relay.UnauthorizedCloseCode, CloseReason: "expired"}
	refusedAtHello := relaytest.Plan{CloseAtAccept: true, CloseCode: relay.UnauthorizedCloseCode, CloseReason: "unauthorized"}

	t.Run("4401 expired is never terminal: 3 dials", func(t *testing.T) {
		hz := newHarness(t, authed(), twoIdentities())
		hz.srv.PlanNext(expired, expired)
		hz.run()
		ctx := waitCtx(t)
		if err := hz.srv.WaitHandshake(ctx, 3); err != nil {
			t.Fatal(err)
		}
		if err := hz.c.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
		if n := hz.srv.Dials(); n != 3 {
			t.Fatalf("dials = %d, want 3", n)
		}
	})
	t.Run("4401 once then success: exactly 2 dials, the second at once", func(t *testing.T) {
		// A backoff of a minute would time the test out: the fresh-token
		// re-dial must bypass it.
		cfg := twoIdentities()
		cfg.BackoffBase, cfg.BackoffMax = time.Minute, time.Minute
		hz := newHarness(t, authed(), cfg)
		hz.srv.PlanNext(unauthorized)
		hz.run()
		ctx := waitCtx(t)
		if err := hz.srv.WaitHandshake(ctx, 2); err != nil {
			t.Fatal(err)
		}
		if err := hz.c.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
		if n := hz.srv.Dials(); n != 2 {
			t.Fatalf("dials = %d, want 2", n)
		}
		hz.logs.waitFor(ctx, t, "re-dialing once now with a fresh token")
	})
	t.Run("4401 on every dial: revoked after exactly 2 dials", func(t *testing.T) {
		opts := authed()
		opts.Plan = unauthorized
		hz := newHarness(t, opts, twoIdentities()).run()
		ctx := waitCtx(t)
		if err := hz.waitRun(ctx); !errors.Is(err, relay.ErrRevoked) {
			t.Fatalf("Run = %v, want ErrRevoked", err)
		}
		if n := hz.srv.Dials(); n != 2 {
			t.Fatalf("dials = %d, want 2", n)
		}
		if err := hz.c.WaitReady(ctx); !errors.Is(err, relay.ErrRevoked) {
			t.Fatalf("WaitReady after revocation = %v, want ErrRevoked", err)
		}
		if r := hz.c.Outbound(ctx, map[string]any{"op": "typing"}, "", ""); r.Success || r.Ambiguous {
			t.Fatalf("Outbound after revocation = %+v, want a fast definite failure", r)
		}
	})
	t.Run("fresh token refused at hello: revoked after 2 dials", func(t *testing.T) {
		hz := newHarness(t, authed(), twoIdentities())
		hz.srv.PlanNext(unauthorized, refusedAtHello)
		hz.run()
		if err := hz.waitRun(waitCtx(t)); !errors.Is(err, relay.ErrRevoked) || hz.srv.Dials() != 2 {
			t.Fatalf("Run = %v after %d dials, want ErrRevoked after 2", err, hz.srv.Dials())
		}
	})
	t.Run("expired on the fresh-token dial is not a revocation", func(t *testing.T) {
		hz := newHarness(t, authed(), twoIdentities())
		hz.srv.PlanNext(unauthorized, expired)
		hz.run()
		ctx := waitCtx(t)
		if err := hz.srv.WaitHandshake(ctx, 3); err != nil {
			t.Fatal(err)
		}
		if err := hz.c.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("4401 before any handshake is retryable", func(t *testing.T) {
		cfg := twoIdentities()
		cfg.Secret = "not-the-secret"
		hz := newHarness(t, authed(), cfg).run()
		ctx := waitCtx(t)
		if err := hz.srv.WaitConns(ctx, 4); err != nil {
			t.Fatal(err)
		}
		if hz.srv.AuthFailures() < 4 {
			t.Fatalf("auth failures = %d", hz.srv.AuthFailures())
		}
		if err := hz.stop(); err != nil {
			t.Fatalf("Run = %v, want nil: a 4401 before any descriptor never revokes", err)
		}
	})
}

func TestOutboundRoundTrip(t *testing.T) {
	opts := authed()
	opts.Outbound = func(o relaytest.OutboundFrame) relaytest.OutboundReply {
		switch o.Op() {
		case "edit":
			return relaytest.OutboundReply{Result: map[string]any{"success": false, "code": "egress_declined", "error": "discord egress declined: target is not an approved destination for this connection"}}
		case "send":
			return relaytest.OutboundReply{Result: map[string]any{"success": true, "message_id": "m-9", "thread_id": "t-1"}}
		}
		return relaytest.OutboundReply{}
	}
	hz := start(t, opts, twoIdentities())
	ctx := waitCtx(t)

	r := hz.c.Outbound(ctx, map[string]any{"op": "send", "chat_id": "c1", "content": "hi", "reply_to": nil, "metadata": map[string]any{}}, "telegram", "")
	if !r.Success || r.MessageID != "m-9" || r.Raw["thread_id"] != "t-1" || r.Ambiguous {
		t.Fatalf("send result = %+v", r)
	}
	r = hz.c.Outbound(ctx, map[string]any{"op": "edit"}, "", "")
	if r.Success || !r.EgressDeclined() || r.Ambiguous {
		t.Fatalf("edit result = %+v, want a definite egress decline", r)
	}
	type followUp struct {
		Op         string         `json:"op"`
		SessionKey string         `json:"session_key"`
		Kind       string         `json:"kind"`
		Content    string         `json:"content"`
		Metadata   map[string]any `json:"metadata"`
	}
	r = hz.c.Outbound(ctx, followUp{Op: "follow_up", SessionKey: "agent:main:discord:group:c:u", Kind: pluginapi.EgressDiscordInteractionToken, Content: "done"}, "discord", "")
	if !r.Success || r.MessageID != "m-3" {
		t.Fatalf("follow_up result = %+v", r)
	}
	obs := hz.srv.Outbounds()
	if len(obs) != 3 {
		t.Fatalf("connector saw %d outbound frames, want 3", len(obs))
	}
	hexID := regexp.MustCompile(`^[0-9a-f]{32}$`)
	for _, o := range obs {
		if !hexID.MatchString(o.RequestID) {
			t.Fatalf("requestId %q is not 32 lowercase hex", o.RequestID)
		}
	}
	if obs[0].Platform != "telegram" || obs[0].BotID != "456" || obs[0].Action["reply_to"] != nil || obs[0].Action["content"] != "hi" {
		t.Fatalf("tagged send = %+v, want platform telegram with its botId 456", obs[0])
	}
	if obs[1].Platform != "" || obs[1].BotID != "" {
		t.Fatalf("untagged edit carries platform/botId: %+v", obs[1])
	}
	if obs[2].Platform != "discord" || obs[2].BotID != "123" || obs[2].Op() != "follow_up" || obs[2].Action["kind"] != "discord.interaction_token" {
		t.Fatalf("follow_up frame = %+v", obs[2])
	}
	if r := hz.c.Outbound(ctx, []string{"not", "an", "object"}, "", ""); r.Success || r.Ambiguous || !strings.Contains(r.Error, "relay send failed") {
		t.Fatalf("non-object action = %+v", r)
	}
}

func TestOutboundUnknownRequestIDIgnored(t *testing.T) {
	hz := start(t, authed(), twoIdentities())
	ctx := waitCtx(t)
	if err := hz.srv.SendRaw(`{"type":"outbound_result","requestId":"0123456789abcdef0123456789abcdef","result":{"success":true}}` + "\n"); err != nil {
		t.Fatal(err)
	}
	r := hz.c.Outbound(ctx, map[string]any{"op": "typing", "chat_id": "c"}, "", "")
	if !r.Success {
		t.Fatalf("round trip after an unknown requestId = %+v", r)
	}
	// A duplicate of a settled result is ignored too.
	id := hz.srv.Outbounds()[0].RequestID
	if err := hz.srv.SendRaw(`{"type":"outbound_result","requestId":"` + id + `","result":{"success":false}}` + "\n"); err != nil {
		t.Fatal(err)
	}
	if r := hz.c.Outbound(ctx, map[string]any{"op": "typing"}, "", ""); !r.Success || r.MessageID != "m-2" {
		t.Fatalf("round trip after a duplicate result = %+v", r)
	}
	if hz.srv.Dials() != 1 {
		t.Fatalf("the link was lost")
	}
}

func TestOutboundTimeoutIsAmbiguous(t *testing.T) {
	opts := authed()
	opts.Outbound = func(relaytest.OutboundFrame) relaytest.OutboundReply { return relaytest.OutboundReply{Never: true} }
	cfg := twoIdentities()
	cfg.OutboundTimeout = 100 * time.Millisecond
	hz := start(t, opts, cfg)
	r := hz.c.Outbound(waitCtx(t), map[string]any{"op": "send"}, "", "")
	if r.Success || !r.Ambiguous || r.Error != relay.ErrTextTimedOut {
		t.Fatalf("result = %+v, want an ambiguous timeout", r)
	}
}

func TestOutboundConnectionLostFailsPromptly(t *testing.T) {
	opts := authed()
	opts.Outbound = func(relaytest.OutboundFrame) relaytest.OutboundReply { return relaytest.OutboundReply{Never: true} }
	cfg := twoIdentities()
	cfg.OutboundTimeout = time.Hour // only the connection loss can end the wait in time
	hz := start(t, opts, cfg)
	ctx := waitCtx(t)
	res := make(chan relay.OutboundResult, 1)
	go func() { res <- hz.c.Outbound(ctx, map[string]any{"op": "send"}, "", "") }()
	if err := hz.srv.WaitOutbounds(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := hz.srv.CloseConn(1011, "crash"); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-res:
		if r.Success || !r.Ambiguous || r.Error != relay.ErrTextConnectionLost {
			t.Fatalf("result = %+v, want an ambiguous connection-lost failure", r)
		}
	case <-ctx.Done():
		t.Fatal("Outbound still waiting after the connection dropped")
	}
}

func TestOutboundFailsFast(t *testing.T) {
	hz := newHarness(t, authed(), twoIdentities()) // not running: no socket
	ctx := waitCtx(t)
	r := hz.c.Outbound(ctx, map[string]any{"op": "send"}, "", "")
	if r.Success || r.Ambiguous || r.Error != relay.ErrTextNotConnected {
		t.Fatalf("before Run: %+v, want a definite not-connected failure", r)
	}
	if err := hz.c.AckInbound("buf-1"); !errors.Is(err, relay.ErrNotConnected) {
		t.Fatalf("AckInbound before Run = %v", err)
	}
	if err := hz.c.Interrupt("k", ""); !errors.Is(err, relay.ErrNotConnected) {
		t.Fatalf("Interrupt before Run = %v", err)
	}
	if hz.c.GoIdle(ctx) {
		t.Fatalf("GoIdle before Run = true")
	}
	if err := hz.c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	r = hz.c.Outbound(ctx, map[string]any{"op": "send"}, "", "")
	if r.Success || r.Ambiguous || r.Error != relay.ErrTextClosed {
		t.Fatalf("after Close: %+v, want a definite closed failure", r)
	}
	if err := hz.c.WaitReady(ctx); !errors.Is(err, relay.ErrClosed) {
		t.Fatalf("WaitReady after Close = %v", err)
	}
	if err := hz.c.Run(ctx); err != nil {
		t.Fatalf("Run after Close = %v, want nil at once", err)
	}
}

func TestWaitReadyNeedsADeadline(t *testing.T) {
	hz := start(t, authed(), twoIdentities())
	if err := hz.c.WaitReady(context.Background()); !errors.Is(err, notify.ErrNoDeadline) {
		t.Fatalf("WaitReady without a deadline = %v, want ErrNoDeadline even when ready", err)
	}
	if err := hz.c.WaitReady(waitCtx(t)); err != nil {
		t.Fatalf("WaitReady with a deadline on a ready client = %v", err)
	}
}

func TestInterruptBothWays(t *testing.T) {
	hz := start(t, authed(), twoIdentities())
	ctx := waitCtx(t)
	if err := hz.c.Interrupt("agent:main:discord:group:chanA:userX", ""); err != nil {
		t.Fatal(err)
	}
	if err := hz.c.Interrupt("agent:main:discord:group:chanB:userY", "stop"); err != nil {
		t.Fatal(err)
	}
	f, err := hz.srv.WaitFrame(ctx, func(f relaytest.Frame) bool {
		return f.Type == "interrupt" && f.SessionKey == "agent:main:discord:group:chanA:userX"
	})
	if err != nil {
		t.Fatal(err)
	}
	if f.Reason != nil || !strings.Contains(string(f.Raw), `"reason":null`) {
		t.Fatalf("interrupt without a reason = %s, want reason:null", f.Raw)
	}
	f, _ = hz.srv.WaitFrame(ctx, func(f relaytest.Frame) bool { return f.Type == "interrupt" && f.Reason != nil })
	if *f.Reason != "stop" {
		t.Fatalf("reason = %q", *f.Reason)
	}
	if err := hz.srv.SendInterruptInbound("agent:main:discord:group:chanA:userX", "chanA"); err != nil {
		t.Fatal(err)
	}
	hz.h.wait(ctx, t, "interrupt_inbound", func() bool {
		hz.h.mu.Lock()
		defer hz.h.mu.Unlock()
		return len(hz.h.interrupts) == 1 && hz.h.interrupts[0] == [2]string{"agent:main:discord:group:chanA:userX", "chanA"}
	})
}

func TestGoIdle(t *testing.T) {
	t.Run("acked", func(t *testing.T) {
		hz := start(t, authed(), twoIdentities())
		ctx := waitCtx(t)
		if !hz.c.GoIdle(ctx) {
			t.Fatalf("GoIdle = false, want the ack")
		}
		if _, err := hz.srv.WaitFrame(ctx, func(f relaytest.Frame) bool {
			return f.Type == "going_idle" && string(f.Raw) == `{"type":"going_idle"}`
		}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("no ack: the reader keeps serving, then it gives up", func(t *testing.T) {
		opts := authed()
		opts.NeverAckIdle = true
		hz := start(t, opts, twoIdentities())
		ctx := waitCtx(t)
		idleCtx, cancelIdle := context.WithCancel(ctx)
		done := make(chan bool, 1)
		go func() { done <- hz.c.GoIdle(idleCtx) }()
		if _, err := hz.srv.WaitFrame(ctx, func(f relaytest.Frame) bool { return f.Type == "going_idle" }); err != nil {
			t.Fatal(err)
		}
		// A delivery that lands in the flip window still arrives live.
		if err := hz.srv.SendPassthrough(pluginapi.Forward{Platform: "discord", Path: "/in-flip-window"}); err != nil {
			t.Fatal(err)
		}
		hz.h.waitForward(ctx, t, "forward during going_idle", byPath("/in-flip-window"))
		cancelIdle()
		if <-done {
			t.Fatalf("GoIdle = true without an ack")
		}
	})
	t.Run("no ack within GoingIdleTimeout", func(t *testing.T) {
		opts := authed()
		opts.NeverAckIdle = true
		cfg := twoIdentities()
		cfg.GoingIdleTimeout = 50 * time.Millisecond
		hz := start(t, opts, cfg)
		if hz.c.GoIdle(waitCtx(t)) {
			t.Fatalf("GoIdle = true without an ack")
		}
	})
}

func TestInboundDeliveredAndAcked(t *testing.T) {
	hz := start(t, authed(), twoIdentities())
	ctx := waitCtx(t)
	ev := map[string]any{"text": "hi", "message_type": "text", "message_id": "m1",
		"source": map[string]any{"platform": "telegram", "chat_id": "42", "chat_type": "dm", "user_id": "u1", "user_name": "ann"}}
	if err := hz.srv.SendInbound(ev, ""); err != nil {
		t.Fatal(err)
	}
	if err := hz.srv.SendInbound(ev, "buf-42"); err != nil {
		t.Fatal(err)
	}
	hz.h.wait(ctx, t, "two inbound events", func() bool { return len(hz.h.Inbounds()) == 2 })
	in := hz.h.Inbounds()
	if in[0].bufferID != "" || in[1].bufferID != "buf-42" {
		t.Fatalf("bufferIds = %q, %q", in[0].bufferID, in[1].bufferID)
	}
	got := in[0].ev
	if got.Text != "hi" || got.Source.Platform != "telegram" || got.Source.UserName != "ann" || got.SessionKey != "agent:main:telegram:dm:42" ||
		!got.Source.DeliveredViaUpstreamRelay {
		t.Fatalf("event = %+v", got)
	}
	if err := hz.c.AckInbound("buf-42"); err != nil {
		t.Fatal(err)
	}
	if err := hz.srv.WaitAcked(ctx, "buf-42"); err != nil {
		t.Fatal(err)
	}
	if acks := hz.srv.Acks(); !reflect.DeepEqual(acks, []string{"buf-42"}) {
		t.Fatalf("acks = %q; the transport must never ack on its own", acks)
	}
}

func TestBufferedReplay(t *testing.T) {
	t.Run("acked once, not redelivered", func(t *testing.T) {
		hz := newHarness(t, authed(), twoIdentities())
		hz.h.onForward = func(f pluginapi.Forward) {
			if f.BufferID != "" {
				go func() { _ = hz.c.AckInbound(f.BufferID) }() // after "durable handoff"
			}
		}
		id := hz.srv.Enqueue(pluginapi.Forward{Platform: "discord", Path: "/buffered", Body: []byte(`{"type":2}`)})
		hz.run()
		ctx := waitCtx(t)
		got := hz.h.waitForward(ctx, t, "the buffered forward", byPath("/buffered"))
		if got.BufferID != id || string(got.Body) != `{"type":2}` {
			t.Fatalf("replayed forward = %+v", got)
		}
		if err := hz.srv.WaitAcked(ctx, id); err != nil {
			t.Fatal(err)
		}
		if p := hz.srv.Pending(); len(p) != 0 {
			t.Fatalf("pending after ack = %q", p)
		}
		if err := hz.srv.CloseConn(1012, "restart"); err != nil {
			t.Fatal(err)
		}
		if err := hz.srv.WaitHandshake(ctx, 2); err != nil {
			t.Fatal(err)
		}
		if err := hz.srv.SendPassthrough(pluginapi.Forward{Platform: "discord", Path: "/marker"}); err != nil {
			t.Fatal(err)
		}
		hz.h.waitForward(ctx, t, "the marker", byPath("/marker"))
		var paths []string
		for _, f := range hz.h.Forwards() {
			paths = append(paths, f.Path)
		}
		if !reflect.DeepEqual(paths, []string{"/buffered", "/marker"}) {
			t.Fatalf("deliveries = %q, want the buffered forward once", paths)
		}
		if acks := hz.srv.Acks(); !reflect.DeepEqual(acks, []string{id}) {
			t.Fatalf("acks = %q, want exactly [%s]", acks, id)
		}
	})
	t.Run("unacked items are redelivered in order on the next connection", func(t *testing.T) {
		hz := start(t, authed(), twoIdentities())
		ctx := waitCtx(t)
		a := hz.srv.Enqueue(pluginapi.Forward{Platform: "discord", Path: "/a"})
		b := hz.srv.Enqueue(pluginapi.Forward{Platform: "discord", Path: "/b"})
		hz.h.waitForward(ctx, t, "b live", byPath("/b"))
		if err := hz.c.AckInbound(a); err != nil {
			t.Fatal(err)
		}
		if err := hz.srv.WaitAcked(ctx, a); err != nil {
			t.Fatal(err)
		}
		if err := hz.srv.CloseConn(1011, "crash"); err != nil {
			t.Fatal(err)
		}
		hz.h.wait(ctx, t, "b redelivered", func() bool {
			n := 0
			for _, f := range hz.h.Forwards() {
				if f.Path == "/b" {
					n++
				}
			}
			return n == 2
		})
		fw := hz.h.Forwards()
		if last := fw[len(fw)-1]; last.BufferID != b {
			t.Fatalf("redelivered bufferId = %q, want %q", last.BufferID, b)
		}
		if err := hz.c.AckInbound(b); err != nil {
			t.Fatal(err)
		}
		if err := hz.srv.WaitAcked(ctx, b); err != nil {
			t.Fatal(err)
		}
		if p := hz.srv.Pending(); len(p) != 0 {
			t.Fatalf("pending = %q", p)
		}
	})
}

func TestReaderNeverBlockedByHandlerCallingOutbound(t *testing.T) {
	release := make(chan struct{})
	opts := authed()
	opts.Outbound = func(relaytest.OutboundFrame) relaytest.OutboundReply {
		return relaytest.OutboundReply{After: release}
	}
	hz := newHarness(t, opts, twoIdentities())
	results := make(chan relay.OutboundResult, 1)
	ctx := waitCtx(t)
	hz.h.onForward = func(f pluginapi.Forward) {
		if f.Path == "/first" {
			// The handler replies through the same socket, from its own goroutine.
			go func() {
				results <- hz.c.Outbound(ctx, map[string]any{"op": "follow_up", "session_key": "k", "kind": "discord.interaction_token", "content": "hi", "metadata": map[string]any{}}, "discord", "")
			}()
		}
	}
	hz.run()
	if err := hz.c.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if err := hz.srv.SendPassthrough(pluginapi.Forward{Platform: "discord", Path: "/first"}); err != nil {
		t.Fatal(err)
	}
	if err := hz.srv.WaitOutbounds(ctx, 1); err != nil {
		t.Fatal(err)
	}
	// The follow_up is still unanswered; the reader must keep going.
	if err := hz.srv.SendPassthrough(pluginapi.Forward{Platform: "discord", Path: "/second"}); err != nil {
		t.Fatal(err)
	}
	hz.h.waitForward(ctx, t, "the second forward while the first one's outbound is pending", byPath("/second"))
	select {
	case r := <-results:
		t.Fatalf("outbound finished before the connector answered: %+v", r)
	default:
	}
	close(release)
	if r := <-results; !r.Success {
		t.Fatalf("follow_up = %+v", r)
	}
}

func TestBadInputKeepsTheLink(t *testing.T) {
	cfg := twoIdentities()
	cfg.MaxFrameBytes = 1024
	hz := start(t, authed(), cfg)
	ctx := waitCtx(t)
	hz.h.onForward = func(f pluginapi.Forward) {
		if f.Platform == "panic" {
			panic("handler bug")
		}
	}
	send := func(s string) {
		t.Helper()
		if err := hz.srv.SendRaw(s); err != nil {
			t.Fatal(err)
		}
	}
	fwd := func(path string) string {
		return `{"type":"passthrough_forward","forward":{"platform":"discord","path":"` + path + `"}}`
	}
	send("{not json}\n")
	send("[1,2,3]\n")
	send(`"just a string"` + "\n")
	send(`{"type":"passthrough_forward","forward":[1]}` + "\n")
	send(`{"type":"inbound","event":"x"}` + "\n")
	send(`{"type":"inbound","event":{"source":[1]}}` + "\n")
	send(`{"type":"descriptor","descriptor":{"platform":"x"}}` + "\n")
	send(`{"type":"descriptor","descriptor":5}` + "\n")
	send(`{"type":"outbound_result","result":{}}` + "\n")
	send(`{"type":"passthrough_forward","forward":{"platform":"discord","path":"/lenient","bodyB64":"!!!not base64!!!","headers":[["a","b"],["c"],"d",["e","f","g"]]}}` + "\n")
	send(`{"type":"brain_rpc_request","request_id":"r1"}` + "\n")
	send(`{"type":"hello","platform":"discord","botId":"1"}` + "\n")
	send("\n  \n\t\n")
	send(fwd("/"+strings.Repeat("x", 2000)) + "\n") // over MaxFrameBytes
	if err := hz.srv.SendBinary([]byte(fwd("/binary") + "\n")); err != nil {
		t.Fatal(err)
	}
	send(`{"type":"passthrough_fo`)
	send(`rward","forward":{"platform":"discord",`)
	send(`"path":"/split"}}` + "\n" + fwd("/same-message-1") + "\n" + fwd("/same-message-2") + "\n")
	send(`{"type":"passthrough_forward","forward":{"platform":"panic","path":"/panics"}}` + "\n")
	send(`{"type":"passthrough_forward","forward":"not-an-object","bufferId":"poison-1"}` + "\n")
	if err := hz.srv.SendPassthrough(pluginapi.Forward{Platform: "discord", Path: "/last"}); err != nil {
		t.Fatal(err)
	}
	hz.h.waitForward(ctx, t, "the last forward", byPath("/last"))

	var paths []string
	var lenient pluginapi.Forward
	for _, f := range hz.h.Forwards() {
		paths = append(paths, f.Path)
		if f.Path == "/lenient" {
			lenient = f
		}
	}
	want := []string{"/lenient", "/binary", "/split", "/same-message-1", "/same-message-2", "/panics", "/last"}
	if !reflect.DeepEqual(paths, want) {
		t.Fatalf("delivered %q\nwant      %q", paths, want)
	}
	if len(lenient.Body) != 0 || !reflect.DeepEqual(lenient.Headers, []pluginapi.Header{{Name: "a", Value: "b"}}) {
		t.Fatalf("lenient forward = %+v", lenient)
	}
	wantBad := []string{wire.BadFrameMalformedJSON, wire.BadFrameNotObject, wire.BadFrameNotObject, wire.BadFramePassthrough,
		wire.BadFrameInbound, wire.BadFrameInbound, wire.BadFrameDescriptor, wire.BadFrameDescriptor,
		wire.BadFrameOutboundResult, wire.BadFrameOversize, wire.BadFramePassthrough}
	if bad := hz.obs.Bad(); !reflect.DeepEqual(bad, wantBad) {
		t.Fatalf("bad frames %q\nwant       %q", bad, wantBad)
	}
	if n := hz.obs.count(func() int { return hz.obs.in["unknown"] }); n != 2 {
		t.Fatalf("ignored frames = %d, want 2 (unknown type and echoed hello)", n)
	}
	// The undecodable buffered delivery is settled so it cannot block the drain.
	if err := hz.srv.WaitAcked(ctx, "poison-1"); err != nil {
		t.Fatal(err)
	}
	if hz.srv.Dials() != 1 || !hz.c.Ready() {
		t.Fatalf("the link did not survive the bad input")
	}
	if r := hz.c.Outbound(ctx, map[string]any{"op": "typing"}, "", ""); !r.Success {
		t.Fatalf("outbound after bad input = %+v", r)
	}
	hz.logs.waitFor(ctx, t, "handler panicked")
	// Frame text is logged at TRACE only. Each marker below occurs only
	// inside a frame sent above: it must show up at TRACE, so that the
	// check can see it, and nowhere else. A forward's body and the text of
	// a line that is not JSON are never logged, at any level.
	markers := []string{"just a string", "not-an-object", "/same-message-1"}
	never := []string{"!!!not base64!!!", "not json"}
	var trace string
	for _, entry := range logEntries(hz.logs.String()) {
		for _, m := range never {
			if strings.Contains(entry, m) {
				t.Fatalf("frame text %q logged: %s", m, entry)
			}
		}
		if strings.Contains(entry, "[TRACE]") {
			trace += entry
			continue
		}
		for _, m := range markers {
			if strings.Contains(entry, m) {
				t.Fatalf("frame text %q logged above TRACE: %s", m, entry)
			}
		}
	}
	for _, m := range markers {
		if !strings.Contains(trace, m) {
			t.Fatalf("frame text %q is not in the TRACE log: the check above cannot see it", m)
		}
	}
}

// logEntries splits hclog output into entries: each starts with its
// timestamp, and a value that holds a newline continues it on the lines
// that follow.
func logEntries(logs string) []string {
	var out []string
	for _, line := range strings.SplitAfter(logs, "\n") {
		if len(out) == 0 || (line != "" && line[0] >= '0' && line[0] <= '9') {
			out = append(out, line)
			continue
		}
		out[len(out)-1] += line
	}
	return out
}

func TestKeepaliveDetectsDeadLink(t *testing.T) {
	cfg := twoIdentities()
	cfg.PingInterval, cfg.PingTimeout = 50*time.Millisecond, 100*time.Millisecond
	hz := newHarness(t, authed(), cfg)
	hz.srv.PlanNext(relaytest.Plan{StallAfterDescriptor: true})
	hz.run()
	ctx := waitCtx(t)
	if err := hz.srv.WaitHandshake(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if err := hz.c.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	hz.logs.waitFor(ctx, t, "keepalive: no pong within 100ms")
}

func TestRunStopsOnCancelWithClose1000(t *testing.T) {
	hz := start(t, authed(), twoIdentities())
	if err := hz.stop(); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	info, err := hz.srv.WaitClosed(waitCtx(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	if info.Code != 1000 {
		t.Fatalf("close = %+v, want 1000", info)
	}
	if hz.c.Ready() || hz.c.State() != relay.StateDisconnected {
		t.Fatalf("after Run returned: Ready %v, State %v", hz.c.Ready(), hz.c.State())
	}
	if err := hz.c.WaitReady(waitCtx(t)); !errors.Is(err, relay.ErrClosed) {
		t.Fatalf("WaitReady = %v, want ErrClosed", err)
	}
	states := hz.obs.count(func() int { return len(hz.obs.states) })
	if states != 3 {
		t.Fatalf("state changes = %d (%v), want connecting, connected, disconnected", states, hz.obs.states)
	}
}

func TestCloseDrainsInFlightOutbound(t *testing.T) {
	release := make(chan struct{})
	opts := authed()
	opts.Outbound = func(o relaytest.OutboundFrame) relaytest.OutboundReply {
		if o.Op() == "slow" {
			return relaytest.OutboundReply{After: release}
		}
		return relaytest.OutboundReply{}
	}
	hz := start(t, opts, twoIdentities())
	ctx := waitCtx(t)
	res := make(chan relay.OutboundResult, 1)
	go func() { res <- hz.c.Outbound(ctx, map[string]any{"op": "slow"}, "", "") }()
	if err := hz.srv.WaitOutbounds(ctx, 1); err != nil {
		t.Fatal(err)
	}
	closed := make(chan error, 1)
	go func() { closed <- hz.c.Close(ctx) }()
	hz.logs.waitFor(ctx, t, "waiting for in-flight outbound requests")
	// While draining: new requests fail fast, acks still go out.
	if r := hz.c.Outbound(ctx, map[string]any{"op": "send"}, "", ""); r.Error != relay.ErrTextClosed || r.Ambiguous {
		t.Fatalf("outbound while closing = %+v", r)
	}
	if err := hz.c.AckInbound("buf-late"); err != nil {
		t.Fatalf("ack while closing: %v", err)
	}
	close(release)
	if r := <-res; !r.Success {
		t.Fatalf("the in-flight request was not drained: %+v", r)
	}
	if err := <-closed; err != nil {
		t.Fatalf("Close = %v", err)
	}
	if err := hz.waitRun(ctx); err != nil {
		t.Fatalf("Run = %v, want nil after Close", err)
	}
	if info, err := hz.srv.WaitClosed(ctx, 1); err != nil || info.Code != 1000 {
		t.Fatalf("close = %+v (%v), want 1000", info, err)
	}
	if err := hz.srv.WaitAcked(ctx, "buf-late"); err != nil {
		t.Fatal(err)
	}
}

func TestCloseFailsWhatTheBudgetDoesNotCover(t *testing.T) {
	opts := authed()
	opts.Outbound = func(relaytest.OutboundFrame) relaytest.OutboundReply { return relaytest.OutboundReply{Never: true} }
	cfg := twoIdentities()
	cfg.OutboundTimeout = time.Hour
	hz := start(t, opts, cfg)
	ctx := waitCtx(t)
	res := make(chan relay.OutboundResult, 1)
	go func() { res <- hz.c.Outbound(ctx, map[string]any{"op": "send"}, "", "") }()
	if err := hz.srv.WaitOutbounds(ctx, 1); err != nil {
		t.Fatal(err)
	}
	budget, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if err := hz.c.Close(budget); err != nil {
		t.Fatalf("Close = %v; the socket close after a spent drain budget is bounded on its own", err)
	}
	r := <-res
	if r.Success || !r.Ambiguous || r.Error != relay.ErrTextSendFailed+": "+relay.ErrTextClosed {
		t.Fatalf("result = %+v, want the ambiguous closed failure", r)
	}
	if err := hz.waitRun(ctx); err != nil {
		t.Fatalf("Run = %v", err)
	}
}

// TestConcurrentOutbound has n requests in flight at once (the connector
// holds every answer until all n arrived) and checks that each caller gets
// the answer to its own request: the connector echoes each request's
// content and requestId in its result.
func TestConcurrentOutbound(t *testing.T) {
	const n = 64
	allIn := make(chan struct{})
	opts := authed()
	opts.Outbound = func(o relaytest.OutboundFrame) relaytest.OutboundReply {
		content, _ := o.Action["content"].(string)
		return relaytest.OutboundReply{After: allIn,
			Result: map[string]any{"success": true, "message_id": "echo-" + content, "request_id": o.RequestID}}
	}
	hz := start(t, opts, twoIdentities())
	ctx := waitCtx(t)
	type answer struct {
		i int
		r relay.OutboundResult
	}
	answers := make(chan answer, n)
	for i := range n {
		go func() {
			answers <- answer{i, hz.c.Outbound(ctx, map[string]any{"op": "send", "content": fmt.Sprint(i)}, "discord", "")}
		}()
	}
	if err := hz.srv.WaitOutbounds(ctx, n); err != nil {
		t.Fatal(err)
	}
	requestOf := map[string]string{} // content → the requestId the connector saw it under
	for _, o := range hz.srv.Outbounds() {
		content, _ := o.Action["content"].(string)
		requestOf[content] = o.RequestID
	}
	close(allIn)
	for range n {
		a := <-answers // each Outbound is bounded by ctx
		want := fmt.Sprint(a.i)
		if r := a.r; !r.Success || r.MessageID != "echo-"+want || r.Raw["request_id"] != requestOf[want] {
			t.Fatalf("request %d got %+v; want the answer to its own request: message_id echo-%s, request_id %s", a.i, r, want, requestOf[want])
		}
	}
	var ids []string
	for _, o := range hz.srv.Outbounds() {
		ids = append(ids, o.RequestID)
	}
	slices.Sort(ids)
	if len(slices.Compact(ids)) != n {
		t.Fatalf("requestIds are not unique")
	}
	for _, f := range hz.srv.Frames() {
		if !f.OwnMessage {
			t.Fatalf("concurrent writers interleaved a message: %q", f.Raw)
		}
	}
}
