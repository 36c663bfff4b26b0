package relay_test

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/relayhost/relay-host/host/internal/wire"
	"github.com/relayhost/relay-host/host/relay"
	"github.com/relayhost/relay-host/pluginapi"
)

// An undecodable buffered delivery is settled as a deliberate drop even
// when the line is over the frame limit, skipped without being held: its
// bufferId is read from the envelope as it streams past (issue 15, Low 9).
func TestOversizeAndOverDeepBufferedFramesAreAcked(t *testing.T) {
	cfg := twoIdentities()
	cfg.MaxFrameBytes = 4 << 10
	hz := start(t, authed(), cfg)
	ctx := waitCtx(t)
	big := strings.Repeat("A", 3*cfg.MaxFrameBytes)
	lines := []string{
		// Over the limit, in one message, bufferId last (the connector's order).
		`{"type":"passthrough_forward","forward":{"platform":"discord","bodyB64":"` + big + `"},"bufferId":"over-1"}` + "\n",
		// Over the limit, bufferId first, then spread over three messages.
		`{"type":"inbound","bufferId":"over-2","event":{"text":"` + big[:cfg.MaxFrameBytes],
		big + big,
		`"}}` + "\n",
	}
	for _, l := range lines {
		if err := hz.srv.SendRaw(l); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"over-1", "over-2"} {
		if err := hz.srv.WaitAcked(ctx, id); err != nil {
			t.Fatalf("the oversize buffered frame %s was not acked: %v", id, err)
		}
	}
	if err := hz.srv.SendPassthrough(pluginapi.Forward{Platform: "discord", Path: "/after"}); err != nil {
		t.Fatal(err)
	}
	hz.h.waitForward(ctx, t, "the forward after the oversize ones", byPath("/after"))
	if got := hz.obs.Bad(); len(got) < 2 || got[0] != wire.BadFrameOversize || got[1] != wire.BadFrameOversize {
		t.Fatalf("bad frames %q, want two oversize first", got)
	}
	if hz.srv.Dials() != 1 {
		t.Fatalf("the link was re-dialed %d times", hz.srv.Dials()-1)
	}
}

// The same for a frame nested past encoding/json's depth limit.
func TestOverDeepBufferedFrameIsAcked(t *testing.T) {
	hz := start(t, authed(), twoIdentities())
	ctx := waitCtx(t)
	line := `{"type":"passthrough_forward","bufferId":"deep-1","forward":{"platform":"discord","x":` +
		strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}}` + "\n"
	if err := hz.srv.SendRaw(line); err != nil {
		t.Fatal(err)
	}
	if err := hz.srv.WaitAcked(ctx, "deep-1"); err != nil {
		t.Fatalf("the over-deep buffered frame was not acked: %v", err)
	}
	if got := hz.obs.Bad(); len(got) != 1 || got[0] != wire.BadFrameMalformedJSON {
		t.Fatalf("bad frames %q, want one malformed_json", got)
	}
	if len(hz.h.Forwards()) != 0 {
		t.Fatalf("the over-deep forward reached the handler")
	}
}

// Descriptors for platforms the gateway never announced are not kept
// (issue 15, Medium 3: 200 of 1 MB each kept 209 MB).
func TestUnannouncedDescriptorsAreIgnored(t *testing.T) {
	hz := start(t, authed(), twoIdentities())
	ctx := waitCtx(t)
	// start waits for the first descriptor only; the second announced
	// platform's arrives once its hello was read.
	hz.logs.waitFor(ctx, t, "relay descriptor: gen=1 platform=telegram")
	for _, p := range []string{"slack", "matrix", strings.Repeat("x", 300)} {
		b, err := json.Marshal(map[string]any{"type": "descriptor", "descriptor": relayDescriptor(p)})
		if err != nil {
			t.Fatal(err)
		}
		if err := hz.srv.SendRaw(string(b) + "\n"); err != nil {
			t.Fatal(err)
		}
	}
	// A frame after them, so that they have all been read.
	if err := hz.srv.SendPassthrough(pluginapi.Forward{Platform: "discord", Path: "/after"}); err != nil {
		t.Fatal(err)
	}
	hz.h.waitForward(ctx, t, "the forward after the descriptors", byPath("/after"))
	for _, p := range []string{"slack", "matrix", strings.Repeat("x", 300)} {
		if _, ok := hz.c.Descriptor(p); ok {
			t.Errorf("descriptor for the unannounced platform %.20q was kept", p)
		}
	}
	for _, p := range []string{"discord", "telegram"} {
		if _, ok := hz.c.Descriptor(p); !ok {
			t.Errorf("descriptor for the announced platform %s is missing", p)
		}
	}
}

func relayDescriptor(platform string) relay.Descriptor {
	return relay.Descriptor{ContractVersion: 1, Platform: platform, Label: platform, MaxMessageLength: 2000,
		MarkdownDialect: "plain", LenUnit: "chars"}
}

// Frames are logged at TRACE without a forward's body or any token-like
// field (issue 15, Low 13): a token the connector failed to strip must not
// be recoverable from the log.
func TestTraceLogRedactsBodiesAndTokens(t *testing.T) {
	hz := start(t, authed(), twoIdentities())
	ctx := waitCtx(t)
	const secretToken = "aW50ZXJhY3Rpb24tdG9rZW4tc2VjcmV0"
	body := `{"type":2,"token":"` + secretToken + `","data":{"name":"ask"}}`
	b64 := base64.StdEncoding.EncodeToString([]byte(body))
	if err := hz.srv.SendPassthrough(pluginapi.Forward{Platform: "discord", Path: "/traced", Body: []byte(body), BufferID: "pbuf-t"}); err != nil {
		t.Fatal(err)
	}
	if err := hz.srv.SendRaw(`{"type":"inbound","event":{"text":"hi","token":"` + secretToken + `","source":{"platform":"discord","chat_id":"c"}}}` + "\n"); err != nil {
		t.Fatal(err)
	}
	if r := hz.c.Outbound(ctx, map[string]any{"op": "send", "chat_id": "c", "content": "x", "metadata": map[string]any{"interaction_token": secretToken}}, "", ""); !r.Success {
		t.Fatalf("outbound = %+v", r)
	}
	hz.h.waitForward(ctx, t, "the traced forward", byPath("/traced"))
	hz.h.wait(ctx, t, "the inbound event", func() bool { return len(hz.h.Inbounds()) == 1 })
	logs := hz.logs.String()
	if !strings.Contains(logs, "/traced") || !strings.Contains(logs, "[TRACE]") {
		t.Fatalf("the frames were not traced at all; the check below cannot see them:\n%s", logs)
	}
	for _, secret := range []string{b64, b64[:40], secretToken} {
		if strings.Contains(logs, secret) {
			t.Fatalf("the log holds %q:\n%s", secret, logs)
		}
	}
	if !strings.Contains(logs, "[redacted") {
		t.Fatalf("no redaction placeholder in the log:\n%s", logs)
	}
}
