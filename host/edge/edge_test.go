package edge

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/relayhost/relay-host/host/relay"
	"github.com/relayhost/relay-host/internal/notify"
	"github.com/relayhost/relay-host/pluginapi"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testTimeout bounds every wait in a test; nothing here takes more than a
// fraction of it unless something is broken.
const testTimeout = 20 * time.Second

const (
	testGateway = "gw-test"
	testSecret  = "edge-test-secret"
)

var testIdentities = []relay.Identity{{Platform: "discord", BotID: "app-1"}, {Platform: "twilio", BotID: "num-1"}}

// eventLog collects an Edge's events for a test to wait on.
type eventLog struct {
	mu      sync.Mutex
	events  []Event
	changed notify.Signal
}

func newEventLog() *eventLog { return &eventLog{} }

func (l *eventLog) add(ev Event) {
	l.mu.Lock()
	l.events = append(l.events, ev)
	l.mu.Unlock()
	l.changed.Notify()
}

func (l *eventLog) all() []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Event(nil), l.events...)
}

// waitFor returns the first event matching match, waiting for it.
func waitFor[T Event](t *testing.T, l *eventLog, match func(T) bool) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	var found T
	err := l.changed.Wait(ctx, func() bool {
		for _, ev := range l.all() {
			if x, ok := ev.(T); ok && (match == nil || match(x)) {
				found = x
				return true
			}
		}
		return false
	})
	if err != nil {
		t.Fatalf("no %T event came (%v); events so far:\n%s", found, err, describe(l.all()))
	}
	return found
}

func count[T Event](l *eventLog) int {
	n := 0
	for _, ev := range l.all() {
		if _, ok := ev.(T); ok {
			n++
		}
	}
	return n
}

func describe(evs []Event) string {
	var b strings.Builder
	for _, ev := range evs {
		b.WriteString("  ")
		b.WriteString(ev.String())
		b.WriteByte('\n')
	}
	return b.String()
}

func startEdge(t *testing.T, cfg Config) (*Edge, *eventLog) {
	t.Helper()
	log := newEventLog()
	cfg.OnEvent = log.add
	cfg.GatewayID, cfg.Secret = testGateway, testSecret
	if cfg.Identities == nil {
		cfg.Identities = testIdentities
	}
	e, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e, log
}

// fakeHost is a real relay client whose handler only records forwards.
type fakeHost struct {
	client   *relay.Client
	forwards chan pluginapi.Forward
}

func (h *fakeHost) Passthrough(f pluginapi.Forward)            { h.forwards <- f }
func (h *fakeHost) Inbound(pluginapi.MessageEvent, string)     {}
func (h *fakeHost) InterruptInbound(sessionKey, chatID string) {}

func (h *fakeHost) next(t *testing.T) pluginapi.Forward {
	t.Helper()
	select {
	case f := <-h.forwards:
		return f
	case <-time.After(testTimeout):
		t.Fatal("no forward reached the host")
	}
	return pluginapi.Forward{}
}

// connectHost dials e as a host and waits for the handshake.
func connectHost(t *testing.T, e *Edge) *fakeHost {
	t.Helper()
	h := &fakeHost{forwards: make(chan pluginapi.Forward, 64)}
	c, err := relay.New(relay.Config{URL: e.URL(), GatewayID: testGateway, Secret: testSecret,
		Identities: testIdentities, Handler: h})
	if err != nil {
		t.Fatal(err)
	}
	h.client = c
	done := make(chan error, 1)
	go func() { done <- c.Run(context.Background()) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		_ = c.Close(ctx)
		<-done
	})
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	if err := c.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	return h
}

type response struct {
	status int
	ctype  string
	body   string
}

func post(t *testing.T, url, contentType string, body []byte, header map[string]string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header.Get("Content-Type"), string(b)}
}

func signed(key ed25519.PrivateKey, body []byte) map[string]string {
	return signedAt(key, body, time.Now())
}

// signedAt signs body as Discord would have at the time at.
func signedAt(key ed25519.PrivateKey, body []byte, at time.Time) map[string]string {
	ts := strconv.FormatInt(at.Unix(), 10)
	return map[string]string{HeaderTimestamp: ts, HeaderSignature: Sign(key, ts, body)}
}

const slashBody = `{"type":2,"id":"1001","token":"SECRET-TOKEN-1","application_id":"app-1",` +
	`"channel_id":"chan-1","guild_id":"guild-1","member":{"user":{"id":"user-1","username":"ada"}},` +
	`"data":{"name":"ask","options":[{"type":3,"name":"q","value":"why"}]}}`

// slashSession is the session key of slashBody (docs/protocol.md, Session
// keys).
const slashSession = "agent:main:discord:group:chan-1:user-1"

func TestDiscordAnswersEachInteractionType(t *testing.T) {
	e, log := startEdge(t, Config{})
	host := connectHost(t, e)
	cases := []struct {
		name    string
		body    string
		answer  string
		forward bool
	}{
		{"PING is answered PONG and never forwarded", `{"type":1,"id":"p1","token":"t"}`, `{"type":1}`, false},
		{"a command is deferred and forwarded", slashBody, `{"type":5}`, true},
		{"a component is a deferred update", `{"type":3,"id":"c1","token":"t","channel_id":"c","user":{"id":"u"},"data":{"custom_id":"b","component_type":2}}`, `{"type":6}`, true},
		{"autocomplete gets no choices and is forwarded for the plugin to drop", `{"type":4,"id":"a1","token":"t","data":{"name":"x"}}`, `{"type":8,"data":{"choices":[]}}`, true},
		{"a modal is deferred", `{"type":5,"id":"m1","token":"t","channel_id":"c","user":{"id":"u"},"data":{"custom_id":"m","components":[]}}`, `{"type":5}`, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pending := len(e.Connector().Pending())
			r := post(t, e.DiscordURL("app-1"), "application/json", []byte(c.body), nil)
			if r.status != 200 || r.body != c.answer || r.ctype != "application/json" {
				t.Fatalf("answer = %d %q %q, want 200 %q application/json", r.status, r.ctype, r.body, c.answer)
			}
			if !c.forward {
				if got := len(e.Connector().Pending()); got != pending {
					t.Fatalf("%d forwards buffered, want %d (nothing forwarded)", got, pending)
				}
				return
			}
			f := host.next(t)
			if f.Platform != "discord" || f.BotID != "app-1" || f.Method != "POST" || f.Path != "/interactions/discord/app-1" || f.BufferID == "" {
				t.Fatalf("forward = %+v", f)
			}
			if bytes.Contains(f.Body, []byte(`"token"`)) {
				t.Fatalf("forwarded body still has the token: %s", f.Body)
			}
			// The host may see the forward before the edge reports it.
			waitFor(t, log, func(x Forwarded) bool { return x.BufferID == f.BufferID })
		})
	}
	if n := count[Forwarded](log) + count[Buffered](log); n != 4 {
		t.Fatalf("%d forwards reported, want 4:\n%s", n, describe(log.all()))
	}
}

func TestDiscordSignatures(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	e, log := startEdge(t, Config{PublicKeys: []ed25519.PublicKey{pub}})
	host := connectHost(t, e)
	body := []byte(slashBody)

	t.Run("a valid signature is accepted", func(t *testing.T) {
		r := post(t, e.DiscordURL("app-1"), "application/json", body, signed(priv, body))
		if r.status != 200 || r.body != `{"type":5}` {
			t.Fatalf("answer = %d %q", r.status, r.body)
		}
		f := host.next(t)
		waitFor(t, log, func(x Forwarded) bool { return x.BufferID == f.BufferID })
		if rec := waitFor[Received](t, log, nil); !rec.Signed {
			t.Fatalf("Received.Signed = false for a signed request")
		}
	})
	bad := map[string]map[string]string{
		"signed by another key": signed(other, body),
		"no signature":          nil,
		"signature not hex":     {HeaderTimestamp: "1", HeaderSignature: "zz"},
		"no timestamp":          {HeaderSignature: signed(priv, body)[HeaderSignature]},
		"another timestamp":     {HeaderTimestamp: "1767225601", HeaderSignature: signed(priv, body)[HeaderSignature]},
	}
	for name, h := range bad {
		t.Run(name+" is refused 401", func(t *testing.T) {
			pending := len(e.Connector().Pending())
			r := post(t, e.DiscordURL("app-1"), "application/json", body, h)
			if r.status != http.StatusUnauthorized || r.body != "invalid request signature\n" {
				t.Fatalf("answer = %d %q, want 401 invalid request signature", r.status, r.body)
			}
			if got := len(e.Connector().Pending()); got != pending {
				t.Fatalf("a refused request was buffered")
			}
		})
	}
	t.Run("a tampered body is refused", func(t *testing.T) {
		r := post(t, e.DiscordURL("app-1"), "application/json", append([]byte(" "), body...), signed(priv, body))
		if r.status != http.StatusUnauthorized {
			t.Fatalf("answer = %d, want 401", r.status)
		}
	})
	if n := count[Forwarded](log) + count[Buffered](log); n != 1 {
		t.Fatalf("%d forwards, want only the signed one:\n%s", n, describe(log.all()))
	}
	if n := count[Refused](log); n != len(bad)+1 {
		t.Fatalf("%d refusals reported, want %d", n, len(bad)+1)
	}
}

func TestDiscordBadRequests(t *testing.T) {
	e, log := startEdge(t, Config{})
	cases := []struct {
		name   string
		body   []byte
		status int
	}{
		{"not JSON", []byte("hello"), 400},
		{"a JSON array", []byte(`[1]`), 400},
		{"no type", []byte(`{"id":"1"}`), 400},
		{"an unknown type", []byte(`{"type":9}`), 400},
		{"too large", append([]byte(`{"type":2,"x":"`), bytes.Repeat([]byte("a"), MaxBodyBytes)...), 413},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if r := post(t, e.DiscordURL("app-1"), "application/json", c.body, nil); r.status != c.status {
				t.Fatalf("answer = %d %q, want %d", r.status, r.body, c.status)
			}
		})
	}
	t.Run("GET is not allowed", func(t *testing.T) {
		resp, err := http.Get(e.URL() + DiscordPath)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Fatalf("GET = %d, want 405", resp.StatusCode)
		}
	})
	if n := len(e.Connector().Pending()); n != 0 || count[Forwarded](log)+count[Buffered](log) != 0 {
		t.Fatalf("bad requests were forwarded: %d buffered", n)
	}
}

func TestForwardCarriesNoTokenAndKeepsTheRest(t *testing.T) {
	e, log := startEdge(t, Config{Profile: "ops"})
	host := connectHost(t, e)
	r := post(t, e.URL()+DiscordPath+"?profile=reviewer", "application/json", []byte(slashBody),
		map[string]string{"Authorization": "Bearer nope", "X-Custom": "kept", "Cookie": "a=b"})
	if r.status != 200 {
		t.Fatalf("answer = %d %q", r.status, r.body)
	}
	f := host.next(t)
	want := strings.Replace(slashBody, `"token":"SECRET-TOKEN-1",`, "", 1)
	if string(f.Body) != want {
		t.Fatalf("forwarded body\n got %s\nwant %s", f.Body, want)
	}
	if f.BotID != "app-1" || f.Profile != "reviewer" {
		t.Fatalf("botId %q profile %q, want the default identity app-1 and the ?profile= reviewer", f.BotID, f.Profile)
	}
	names := map[string]string{}
	for _, h := range f.Headers {
		if h.Name != strings.ToLower(h.Name) {
			t.Errorf("header name %q is not lower-case", h.Name)
		}
		names[h.Name] = h.Value
	}
	for _, gone := range []string{"authorization", "cookie"} {
		if _, ok := names[gone]; ok {
			t.Errorf("credential header %s was forwarded", gone)
		}
	}
	if names["x-custom"] != "kept" || names["content-type"] != "application/json" || names["host"] == "" {
		t.Errorf("headers = %v", f.Headers)
	}
	if names["content-length"] != "" && names["content-length"] != strconv.Itoa(len(f.Body)) {
		t.Errorf("content-length %s for a %d-byte body", names["content-length"], len(f.Body))
	}
	fw := waitFor[Forwarded](t, log, nil)
	wantSession := "agent:reviewer:discord:group:chan-1:user-1"
	if fw.Session != wantSession || fw.TokenID != fingerprint("SECRET-TOKEN-1") || fw.BufferID != f.BufferID {
		t.Fatalf("Forwarded = %+v, want session %s", fw, wantSession)
	}
	for _, ev := range log.all() {
		if strings.Contains(ev.String(), "SECRET-TOKEN-1") {
			t.Fatalf("an event shows the token: %s", ev)
		}
	}
}

func TestFollowUps(t *testing.T) {
	e, log := startEdge(t, Config{})
	host := connectHost(t, e)
	post(t, e.DiscordURL("app-1"), "application/json", []byte(slashBody), nil)
	host.next(t)
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	followUp := func(session, kind string) relay.OutboundResult {
		return host.client.Outbound(ctx, map[string]any{"op": "follow_up", "session_key": session,
			"kind": kind, "content": "echo: /ask why", "metadata": map[string]any{}}, "discord", "")
	}

	t.Run("a follow-up for the interaction's session succeeds", func(t *testing.T) {
		res := followUp(slashSession, pluginapi.EgressDiscordInteractionToken)
		if !res.Success || res.MessageID == "" {
			t.Fatalf("result = %+v", res)
		}
		fu := waitFor[FollowUp](t, log, nil)
		if !fu.Matched || fu.InteractionID != "1001" || fu.Content != "echo: /ask why" {
			t.Fatalf("FollowUp = %+v", fu)
		}
		if s := fu.String(); s != "for "+slashSession+" matched interaction 1001: echo: /ask why" {
			t.Fatalf("FollowUp.String() = %q", s)
		}
	})
	t.Run("a follow-up for another session fails", func(t *testing.T) {
		res := followUp("agent:main:discord:group:chan-1:someone-else", pluginapi.EgressDiscordInteractionToken)
		if res.Success || res.Error != "no interaction capability for this session" {
			t.Fatalf("result = %+v", res)
		}
		fu := waitFor[FollowUp](t, log, func(f FollowUp) bool { return !f.Matched })
		if !strings.Contains(fu.String(), "matched no interaction") {
			t.Fatalf("FollowUp.String() = %q", fu)
		}
	})
	t.Run("a follow-up of an unknown kind fails", func(t *testing.T) {
		if res := followUp(slashSession, "slack.response_url"); res.Success {
			t.Fatalf("result = %+v", res)
		}
	})
	t.Run("a send succeeds", func(t *testing.T) {
		res := host.client.Outbound(ctx, map[string]any{"op": "send", "chat_id": "c9", "content": "hi", "reply_to": nil, "metadata": map[string]any{}}, "", "")
		if !res.Success {
			t.Fatalf("result = %+v", res)
		}
		if s := waitFor[Sent](t, log, nil); s.ChatID != "c9" || s.Content != "hi" {
			t.Fatalf("Sent = %+v", s)
		}
	})
}

func TestTwilioWebhook(t *testing.T) {
	e, log := startEdge(t, Config{})
	host := connectHost(t, e)
	body := []byte("MessageSid=SM123&From=%2B15555550100&To=%2B15555550199&Body=hi")
	r := post(t, e.URL()+TwilioPath, "application/x-www-form-urlencoded", body, nil)
	if r.status != 200 || r.ctype != "text/xml" || r.body != TwiML {
		t.Fatalf("answer = %d %q %q, want 200 text/xml %s", r.status, r.ctype, r.body, TwiML)
	}
	f := host.next(t)
	if f.Platform != "twilio" || f.BotID != "num-1" || f.Path != "/twilio" || !bytes.Equal(f.Body, body) {
		t.Fatalf("forward = %+v body %s", f, f.Body)
	}
	if rec := waitFor[Received](t, log, nil); rec.ID != "SM123" {
		t.Fatalf("Received = %+v", rec)
	}
	if r := post(t, e.TwilioURL("num-2"), "application/x-www-form-urlencoded", []byte("a=%zz"), nil); r.status != 400 {
		t.Fatalf("a malformed form answered %d, want 400", r.status)
	}
}

func TestForwardsWaitInTheBufferUntilAHostConnects(t *testing.T) {
	e, log := startEdge(t, Config{})
	r := post(t, e.DiscordURL("app-1"), "application/json", []byte(slashBody), nil)
	if r.status != 200 || r.body != `{"type":5}` {
		t.Fatalf("with no host the edge answered %d %q, want the deferred response", r.status, r.body)
	}
	b := waitFor[Buffered](t, log, nil)
	if p := e.Connector().Pending(); len(p) != 1 || p[0] != b.BufferID {
		t.Fatalf("pending = %v, want [%s]", p, b.BufferID)
	}
	host := connectHost(t, e)
	f := host.next(t)
	if f.BufferID != b.BufferID {
		t.Fatalf("replayed with bufferId %q, want %q", f.BufferID, b.BufferID)
	}
	if hc := waitFor[HostConnected](t, log, func(h HostConnected) bool { return len(h.Replaying) > 0 }); hc.Replaying[0] != b.BufferID {
		t.Fatalf("HostConnected = %+v", hc)
	}
	if err := host.client.AckInbound(f.BufferID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, log, func(a Acked) bool { return a.BufferID == b.BufferID && !a.Repeat })
	if p := e.Connector().Pending(); len(p) != 0 { // the buffer is trimmed before the ack is reported
		t.Fatalf("pending after the ack = %v", p)
	}
	post(t, e.DiscordURL("app-1"), "application/json", []byte(slashBody), nil)
	if fw := waitFor[Forwarded](t, log, nil); fw.BufferID == b.BufferID {
		t.Fatal("a new forward reused the bufferId")
	}
	host.next(t)
}

func TestIndexNamesTheEndpoints(t *testing.T) {
	e, _ := startEdge(t, Config{})
	resp, err := http.Get(e.URL() + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(b), DiscordPath) || !strings.Contains(string(b), TwilioPath) {
		t.Fatalf("GET / = %d %s", resp.StatusCode, b)
	}
}

func TestParsePublicKey(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	hexKey := " " + strings.ToUpper(hex.EncodeToString(pub))
	if k, err := ParsePublicKey(hexKey); err != nil || !k.Equal(pub) {
		t.Fatalf("ParsePublicKey(%s) = %x, %v", hexKey, k, err)
	}
	for _, bad := range []string{"", "abc", strings.Repeat("zz", 32), strings.Repeat("00", 31)} {
		if _, err := ParsePublicKey(bad); err == nil {
			t.Errorf("ParsePublicKey(%q) accepted", bad)
		}
	}
}
