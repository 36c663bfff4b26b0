package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/relayhost/relay-host/host/relay/relaytest"
	"github.com/relayhost/relay-host/pluginapi"
)

const (
	testGatewayID = "gw-test-1"
	testSecret    = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
)

// connector starts an in-process connector that requires the test
// credentials.
func connector(t *testing.T, opts relaytest.Options) *relaytest.Server {
	t.Helper()
	opts.GatewayID = testGatewayID
	opts.Secrets = []string{testSecret}
	srv := relaytest.New(opts)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

func secretFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(path, []byte(testSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func golden(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("../../plugins/discord/convert/testdata/golden", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wantSessionKey reads the session key a golden's event must carry.
func wantSessionKey(t *testing.T, name string) string {
	t.Helper()
	var want struct {
		Events []struct {
			SessionKey string `json:"session_key"`
		} `json:"events"`
	}
	if err := json.Unmarshal(golden(t, strings.TrimSuffix(name, ".json")+".want.json"), &want); err != nil || len(want.Events) != 1 {
		t.Fatalf("golden %s: %v", name, err)
	}
	return want.Events[0].SessionKey
}

func discordForward(body []byte) pluginapi.Forward {
	return pluginapi.Forward{Platform: "discord", BotID: "bot-1", Method: "POST", Path: "/interactions/discord/bot-1",
		Headers: []pluginapi.Header{{Name: "content-type", Value: "application/json"}}, Body: body}
}

func runArgs(srv *relaytest.Server, secret, plugins string, extra ...string) []string {
	return append([]string{"run", "--connector", srv.URL(), "--gateway-id", testGatewayID, "--secret-file", secret,
		"--identity", "discord:bot-1", "--identity", "twilio:num-1", "--agent", "echo",
		"--plugins-dir", plugins, "--log-level", "debug"}, extra...)
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	client := &http.Client{Timeout: scenarioTimeout}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestRunServesForwardsEndToEnd(t *testing.T) {
	t.Parallel()
	srv := connector(t, relaytest.Options{})
	listen := freeAddr(t)
	p := start(t, nil, runArgs(srv, secretFile(t), pluginsDir(t, false), "--listen", listen)...)
	ctx := testCtx(t)
	if _, err := srv.WaitFrame(ctx, func(f relaytest.Frame) bool { return f.Type == "hello" && f.Platform == "twilio" }); err != nil {
		t.Fatal(err)
	}
	hellos := srv.Hellos()
	if len(hellos) != 2 || hellos[0].Platform != "discord" || hellos[0].BotID != "bot-1" || hellos[1].Platform != "twilio" || hellos[1].BotID != "num-1" {
		t.Fatalf("hellos = %+v, want discord:bot-1 then twilio:num-1", hellos)
	}
	if auth := srv.Authorizations(); len(auth) == 0 || strings.Contains(p.stderr.String(), strings.TrimPrefix(auth[0], "Bearer ")) {
		t.Fatalf("no bearer sent, or the token appears in the log")
	}

	// A live slash command: converted by the real Discord plugin, echoed,
	// answered with a token-less follow_up naming the session.
	const slash = "slash_command_docs_cardsearch.json"
	if err := srv.SendPassthrough(discordForward(golden(t, slash))); err != nil {
		t.Fatal(err)
	}
	if err := srv.WaitOutbounds(ctx, 1); err != nil {
		t.Fatal(err)
	}
	out := srv.Outbounds()[0]
	if out.Op() != "follow_up" || out.Platform != "discord" || out.BotID != "bot-1" ||
		out.Action["session_key"] != wantSessionKey(t, slash) || out.Action["kind"] != "discord.interaction_token" ||
		!strings.HasPrefix(out.Action["content"].(string), "echo: /") {
		t.Fatalf("follow-up = %+v", out)
	}
	if _, hasToken := out.Action["token"]; hasToken {
		t.Fatal("the follow_up carries a token")
	}

	// A buffered button press: acked once handed off, then followed up.
	const button = "button_docs_click_one.json"
	id := srv.Enqueue(discordForward(golden(t, button)))
	if err := srv.WaitAcked(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := srv.WaitOutbounds(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if got := srv.Outbounds()[1].Action["session_key"]; got != wantSessionKey(t, button) {
		t.Errorf("buffered follow-up session = %v, want %s", got, wantSessionKey(t, button))
	}

	// A buffered Twilio SMS: the stub drops it, which settles it.
	sms := srv.Enqueue(pluginapi.Forward{Platform: "twilio", BotID: "num-1", Method: "POST", Path: "/twilio/sms",
		Headers: []pluginapi.Header{{Name: "content-type", Value: "application/x-www-form-urlencoded"}},
		Body:    []byte("MessageSid=SM1&From=%2B15551234567&Body=hello+there")})
	if err := srv.WaitAcked(ctx, sms); err != nil {
		t.Fatal(err)
	}
	if err := p.stderr.waitFor(ctx, "forward dropped", 1); err != nil {
		t.Fatal(err)
	}

	code, body := get(t, "http://"+listen+"/readyz")
	if code != 200 || !strings.Contains(body, `"ready":true`) {
		t.Errorf("/readyz = %d %s, want 200 ready", code, body)
	}
	if code, _ := get(t, "http://"+listen+"/healthz"); code != 200 {
		t.Errorf("/healthz = %d", code)
	}
	_, metrics := get(t, "http://"+listen+"/metrics")
	for _, want := range []string{
		`relay_host_forwards_total{disposition="handled",platform="discord"} 2`,
		`relay_host_forwards_total{disposition="dropped",platform="twilio"} 1`,
		`relay_host_connection_state{state="connected"} 1`,
		`relay_host_plugin_up{plugin="discord"} 1`,
		`relay_host_acks_total 2`,
		`relay_host_outbound_results_total{op="follow_up",result="success"} 2`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	for _, secret := range []string{testSecret, "Hello there", "hello+there"} {
		if strings.Contains(p.stderr.String(), secret) {
			t.Errorf("the log contains %q", secret)
		}
	}

	// SIGTERM: going_idle, clean exit 0, no plugin left behind.
	plugins := children(p.cmd.Process.Pid)
	if len(plugins) != 2 {
		t.Fatalf("relay-host has %d child processes, want its 2 plugins", len(plugins))
	}
	p.signal(t, syscall.SIGTERM)
	if _, err := srv.WaitFrame(ctx, func(f relaytest.Frame) bool { return f.Type == "going_idle" }); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t); code != 0 {
		t.Errorf("exit code after SIGTERM = %d, want 0", code)
	}
	awaitGone(t, plugins)
}

func TestRunReplayOfSettledForwardIsAckedAgainNotRerun(t *testing.T) {
	t.Parallel()
	srv := connector(t, relaytest.Options{})
	listen := freeAddr(t)
	p := start(t, nil, runArgs(srv, secretFile(t), pluginsDir(t, false), "--listen", listen)...)
	ctx := testCtx(t)
	f := discordForward(golden(t, "slash_command_docs_cardsearch.json"))
	id := srv.Enqueue(f)
	if err := srv.WaitAcked(ctx, id); err != nil {
		t.Fatal(err)
	}
	// The connector replays it (its ack was lost, say).
	f.BufferID = id
	if err := srv.SendPassthrough(f); err != nil {
		t.Fatal(err)
	}
	acks := 0
	if _, err := srv.WaitFrame(ctx, func(fr relaytest.Frame) bool {
		if fr.Type == "inbound_ack" && fr.BufferID == id {
			acks++
		}
		return acks == 2
	}); err != nil {
		t.Fatal(err)
	}
	_, metrics := get(t, "http://"+listen+"/metrics")
	for _, want := range []string{"relay_host_replays_deduplicated_total 1", "relay_host_agent_duration_seconds_count 1"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q: the replay was re-run", want)
		}
	}
	p.signal(t, syscall.SIGINT)
	if code := p.wait(t); code != 0 {
		t.Errorf("exit code after SIGINT = %d, want 0", code)
	}
}

func TestRunForwardNotAckedWhenPluginDiesThenRedelivered(t *testing.T) {
	t.Parallel()
	srv := connector(t, relaytest.Options{})
	p := start(t, nil, runArgs(srv, secretFile(t), pluginsDir(t, true))...)
	ctx := testCtx(t)
	if err := srv.WaitHandshake(ctx, 1); err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(t.TempDir(), "crashed-once")
	id := srv.Enqueue(pluginapi.Forward{Platform: "test", Method: "POST", Path: "/test", Body: []byte("exit-once"), Profile: marker})
	if err := p.stderr.waitFor(ctx, "forward failed; left un-acknowledged", 1); err != nil {
		t.Fatal(err)
	}
	if pending := srv.Pending(); len(pending) != 1 || pending[0] != id {
		t.Fatalf("pending = %v, want the crashed forward %s un-acked", pending, id)
	}
	// The connector drops the link; on the next connection it replays the
	// un-acked forward, which the restarted plugin now serves.
	if err := srv.CloseConn(1011, "test drop"); err != nil {
		t.Fatal(err)
	}
	if err := srv.WaitAcked(ctx, id); err != nil {
		t.Fatal(err)
	}
	if len(srv.Hellos()) < 4 {
		t.Errorf("hellos = %d, want them re-sent after the reconnect", len(srv.Hellos()))
	}
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t); code != 0 {
		t.Errorf("exit code = %d", code)
	}
}

func TestRunExitsWithCode3WhenCredentialRevoked(t *testing.T) {
	t.Parallel()
	srv := connector(t, relaytest.Options{Plan: relaytest.Plan{CloseAfterDescriptor: true, CloseCode: 4401, CloseReason: "unauthorized"}})
	p := start(t, nil, runArgs(srv, secretFile(t), pluginsDir(t, false))...)
	if code := p.wait(t); code != exitRevoked {
		t.Fatalf("exit code = %d, want %d", code, exitRevoked)
	}
	if srv.Dials() != 2 {
		t.Errorf("dials = %d, want 2 (one fresh-token retry, then revoked)", srv.Dials())
	}
	if !strings.Contains(p.stderr.String(), "revoked") {
		t.Errorf("stderr does not say the credential was revoked:\n%s", p.stderr.String())
	}
}

func TestRunExpiredTokenIsNeverTerminal(t *testing.T) {
	t.Parallel()
	srv := connector(t, relaytest.Options{})
	srv.PlanNext(relaytest.Plan{CloseAfterDescriptor: true, CloseCode: 4401, CloseReason: "expired"},
		relaytest.Plan{CloseAfterDescriptor: true, CloseCode: 4401, CloseReason: "expired"})
	p := start(t, nil, runArgs(srv, secretFile(t), pluginsDir(t, false))...)
	if err := srv.WaitHandshake(testCtx(t), 3); err != nil {
		t.Fatal(err)
	}
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t); code != 0 {
		t.Errorf("exit code = %d, want 0: expired must never revoke", code)
	}
}

func TestRunConfigurationErrors(t *testing.T) {
	t.Parallel()
	srv := connector(t, relaytest.Options{})
	secret := secretFile(t)
	plugins := pluginsDir(t, false)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	tests := []struct {
		name string
		env  []string
		args []string
		code int
		want string
	}{
		{"no connector", nil, []string{"run", "--identity", "discord:1"}, exitUsage, "--connector is required"},
		{"no identity", nil, []string{"run", "--connector", srv.URL()}, exitUsage, "--identity"},
		{"bad identity", nil, []string{"run", "--connector", srv.URL(), "--identity", "Discord Bot"}, exitFailure, "--identity: identity \"Discord Bot\": want PLATFORM:BOT_ID"},
		{"bad identity in dev", nil, []string{"dev", "--addr", "127.0.0.1:0", "--identity", "Discord Bot"}, exitFailure, "--identity: identity \"Discord Bot\": want PLATFORM:BOT_ID"},
		{"gateway id without secret", nil, []string{"run", "--connector", srv.URL(), "--identity", "discord:1", "--gateway-id", "gw"}, exitFailure, "no secret"},
		{"missing secret file", nil, []string{"run", "--connector", srv.URL(), "--identity", "discord:1", "--gateway-id", "gw", "--secret-file", "/nonexistent/secret"}, exitFailure, "--secret-file"},
		{"webhook without url", nil, runArgs(srv, secret, plugins, "--agent", "webhook"), exitFailure, "--agent-url"},
		{"unknown agent", nil, runArgs(srv, secret, plugins, "--agent", "gpt"), exitFailure, "want echo, stdout, webhook or jetstream"},
		{"missing plugins dir", nil, runArgs(srv, secret, "/nonexistent/plugins"), exitFailure, "does not exist"},
		{"listen address taken", nil, runArgs(srv, secret, plugins, "--listen", busy.Addr().String()), exitFailure, "--listen"},
		{"bad log level", nil, runArgs(srv, secret, plugins, "--log-level", "loud"), exitFailure, "--log-level"},
		{"identities from the environment", []string{"RELAY_IDENTITIES=Bad Value"}, []string{"run", "--connector", srv.URL()}, exitFailure, "$RELAY_IDENTITIES: identity \"Bad Value\": want PLATFORM:BOT_ID"},
		{"identities from the environment in dev", []string{"RELAY_IDENTITIES=Bad Value"}, []string{"dev", "--addr", "127.0.0.1:0"}, exitFailure, "$RELAY_IDENTITIES: identity \"Bad Value\": want PLATFORM:BOT_ID"},
		{"webhook with a bad url", nil, runArgs(srv, secret, plugins, "--agent", "webhook", "--agent-url", "localhost:8000/events"), exitFailure, "is not an absolute http:// or https:// URL: pass the agent's endpoint with --agent-url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := start(t, tt.env, tt.args...)
			code := p.wait(t)
			if code != tt.code || !strings.Contains(p.stderr.String(), tt.want) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit %d mentioning %q", code, p.stderr.String(), tt.code, tt.want)
			}
			if strings.Contains(p.stderr.String(), testSecret) {
				t.Error("the secret appears in the error output")
			}
		})
	}
}
