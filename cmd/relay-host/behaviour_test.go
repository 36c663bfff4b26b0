package main

import (
	"debug/buildinfo"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/relayhost/relay-host/host/relay/relaytest"
	"github.com/relayhost/relay-host/pluginapi"
)

// readiness is the /readyz body.
type readiness struct {
	Ready     bool   `json:"ready"`
	Connector string `json:"connector"`
	Plugins   []struct {
		Name     string `json:"name"`
		State    string `json:"state"`
		Restarts int    `json:"restarts"`
	} `json:"plugins"`
	Dormant bool     `json:"dormant"`
	Reasons []string `json:"reasons"`
}

// readyz gets and decodes /readyz.
func readyz(t *testing.T, listen string) (int, readiness) {
	t.Helper()
	code, body := get(t, "http://"+listen+"/readyz")
	var r readiness
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("/readyz body %q: %v", body, err)
	}
	return code, r
}

// TestChildBinariesAreBuiltWithTheRaceDetectorWhenTheTestsAre checks what
// TestMain built: under -race, relay-host and every plugin it starts carry
// the race detector too; without it, none does.
func TestChildBinariesAreBuiltWithTheRaceDetectorWhenTheTestsAre(t *testing.T) {
	t.Parallel()
	paths := []string{bins.relayHost, bins.testPlugin}
	entries, err := os.ReadDir(bins.plugins)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		paths = append(paths, filepath.Join(bins.plugins, e.Name()))
	}
	for _, path := range paths {
		info, err := buildinfo.ReadFile(path)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		race := false
		for _, s := range info.Settings {
			race = race || (s.Key == "-race" && s.Value == "true")
		}
		if race != raceEnabled {
			t.Errorf("%s built with -race=%v, want %v (the tests' own)", filepath.Base(path), race, raceEnabled)
		}
	}
}

// TestChildrenGetNoRelayVariablesFromTheRunner sets RELAY_* variables in
// the test process, as a developer's shell might: no child the tests start
// may see them, only the ones the test gives it.
func TestChildrenGetNoRelayVariablesFromTheRunner(t *testing.T) {
	t.Setenv("RELAY_IDENTITIES", "Not An Identity")
	t.Setenv("RELAY_AGENT", "gpt")
	t.Setenv("RELAY_PLUGINS_DIR", "/nonexistent/from-the-runner")
	args := []string{"run", "--connector", "http://127.0.0.1:1", "--identity", "discord:1"}

	r := relayHost(t, "", append(args, "--plugins-dir", "/nonexistent/from-the-flag")...)
	if r.code != exitFailure || !strings.Contains(r.stderr, "/nonexistent/from-the-flag does not exist") {
		t.Errorf("run to completion: exit %d, stderr:\n%s\nwant exit 1 about the flag's plugins directory: the runner's RELAY_* leaked in", r.code, r.stderr)
	}
	p := start(t, []string{"RELAY_PLUGINS_DIR=/nonexistent/from-the-test"}, args...)
	if code := p.wait(t); code != exitFailure || !strings.Contains(p.stderr.String(), "/nonexistent/from-the-test does not exist") {
		t.Errorf("started: exit %d, stderr:\n%s\nwant exit 1 about the test's RELAY_PLUGINS_DIR: the runner's RELAY_* leaked in", code, p.stderr.String())
	}
}

// TestRunConnectorDownAtBoot starts relay-host while nothing listens at the
// connector's address: it keeps retrying, /readyz says 503 meanwhile, and
// it connects once the connector comes up.
func TestRunConnectorDownAtBoot(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	srv := relaytest.New(relaytest.Options{Addr: addr, GatewayID: testGatewayID, Secrets: []string{testSecret}})
	t.Cleanup(srv.Close)
	listen := freeAddr(t)
	p := start(t, nil, "run", "--connector", "http://"+addr, "--gateway-id", testGatewayID, "--secret-file", secretFile(t),
		"--identity", "discord:bot-1", "--identity", "twilio:num-1", "--agent", "echo",
		"--plugins-dir", pluginsDir(t, false), "--log-level", "debug", "--listen", listen)
	ctx := testCtx(t)
	// Two failed dials: it does not give up after the first.
	p.waitLog(t, "relay disconnected", 2)
	if code, r := readyz(t, listen); code != http.StatusServiceUnavailable || r.Ready || r.Connector == "connected" {
		t.Errorf("/readyz with the connector down = %d %+v, want 503, not ready", code, r)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	if err := srv.WaitHandshake(ctx, 1); err != nil {
		t.Fatal(err)
	}
	// Acked: the link is up and past its first descriptor, hence ready.
	id := srv.Enqueue(discordForward(golden(t, "button_docs_click_one.json")))
	if err := srv.WaitAcked(ctx, id); err != nil {
		t.Fatal(err)
	}
	if code, r := readyz(t, listen); code != http.StatusOK || !r.Ready || r.Connector != "connected" {
		t.Errorf("/readyz once connected = %d %+v, want 200 ready", code, r)
	}
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t); code != 0 {
		t.Errorf("exit code = %d, want 0", code)
	}
}

// TestRunReadyzIs503WhileAPluginIsDown crashes a plugin whose executable
// can no longer be started: /readyz must say 503 and name the plugin's
// state while the connector link is fine.
func TestRunReadyzIs503WhileAPluginIsDown(t *testing.T) {
	t.Parallel()
	srv := connector(t, relaytest.Options{})
	plugins := pluginsDir(t, true)
	listen := freeAddr(t)
	p := start(t, nil, runArgs(srv, secretFile(t), plugins, "--listen", listen)...)
	// Logged once the link has its first descriptor, hence ready.
	p.waitLog(t, "relay connected", 1)
	if code, r := readyz(t, listen); code != http.StatusOK || !r.Ready {
		t.Fatalf("/readyz before the crash = %d %+v, want 200 ready", code, r)
	}
	// Its restarts will fail: the executable is no longer executable.
	if err := os.Chmod(filepath.Join(plugins, "relay-plugin-test"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := srv.SendPassthrough(pluginapi.Forward{Platform: "test", Method: "POST", Path: "/test", Body: []byte("exit")}); err != nil {
		t.Fatal(err)
	}
	// The supervisor logs this once it has marked the plugin down (go-plugin
	// says "plugin exited" earlier, on its own).
	p.waitLog(t, "plugin exited; in-flight forwards fail", 1)
	code, r := readyz(t, listen)
	var testState string
	for _, pl := range r.Plugins {
		if pl.Name == "test" {
			testState = pl.State
		}
	}
	if code != http.StatusServiceUnavailable || r.Ready || r.Connector != "connected" || (testState != "down" && testState != "unhealthy") {
		t.Errorf("/readyz with a plugin down = %d %+v, want 503, not ready, connected, plugin test down or unhealthy", code, r)
	}
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t); code != 0 {
		t.Errorf("exit code = %d, want 0", code)
	}
}

// shutdownBound is how long `run` may take to exit after SIGTERM while an
// agent hangs. gateway.go's shutdown budgets add up to 9 s, under the 10 s
// systemd and container runtimes give before SIGKILL; the rest is room for
// a loaded machine. An agent turn that is never cancelled would hold the
// process for the webhook's 30 s per attempt, four attempts.
const shutdownBound = 25 * time.Second

// TestRunShutdownWithASlowAgent sends SIGTERM while the webhook agent sits
// on a buffered delivery: relay-host must exit within its budget, cleanly,
// and leave that delivery un-acknowledged for redelivery.
func TestRunShutdownWithASlowAgent(t *testing.T) {
	t.Parallel()
	srv := connector(t, relaytest.Options{})
	arrived := make(chan struct{}, 1)
	release := make(chan struct{})
	ag := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case arrived <- struct{}{}:
		default:
		}
		select { // a slow agent: it answers when the test ends, or never
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(ag.Close)
	t.Cleanup(func() { close(release) }) // runs first: lets ag.Close return
	p := start(t, nil, runArgs(srv, secretFile(t), pluginsDir(t, false), "--agent", "webhook", "--agent-url", ag.URL, "--log-level", "info")...)
	ctx := testCtx(t)
	if err := srv.WaitHandshake(ctx, 1); err != nil {
		t.Fatal(err)
	}
	id := srv.Enqueue(discordForward(golden(t, "button_docs_click_one.json")))
	select {
	case <-arrived:
	case <-p.done:
		t.Fatalf("relay-host exited (code %d) before the event reached the agent", p.code)
	case <-ctx.Done():
		t.Fatal("the event never reached the agent")
	}
	p.signal(t, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(shutdownBound):
		t.Fatalf("relay-host did not exit within %s of SIGTERM while its agent hung", shutdownBound)
	}
	if p.code != 0 {
		t.Errorf("exit code = %d, want 0", p.code)
	}
	if !slices.Contains(srv.Pending(), id) || slices.Contains(srv.Acks(), id) {
		t.Errorf("pending %v, acks %v: the delivery the agent never took must stay un-acknowledged", srv.Pending(), srv.Acks())
	}
	if !strings.Contains(p.stderr.String(), "left un-acknowledged") {
		t.Errorf("the log does not say the delivery was left un-acknowledged:\n%s", p.stderr.String())
	}
}

// TestRunLogFormatJSON runs a forward through relay-host with --log-format
// json at debug level: every line it writes to standard error, its plugins'
// included, must be one JSON object with the hclog keys.
func TestRunLogFormatJSON(t *testing.T) {
	t.Parallel()
	srv := connector(t, relaytest.Options{})
	p := start(t, nil, runArgs(srv, secretFile(t), pluginsDir(t, false), "--log-format", "json")...)
	ctx := testCtx(t)
	if err := srv.WaitHandshake(ctx, 1); err != nil {
		t.Fatal(err)
	}
	id := srv.Enqueue(discordForward(golden(t, "slash_command_docs_cardsearch.json")))
	if err := srv.WaitAcked(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := srv.WaitOutbounds(ctx, 1); err != nil {
		t.Fatal(err)
	}
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t); code != 0 {
		t.Errorf("exit code = %d, want 0", code)
	}
	lines := strings.Split(strings.TrimRight(p.stderr.String(), "\n"), "\n")
	modules := map[string]bool{}
	for _, line := range lines {
		var entry map[string]any
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Errorf("stderr line is not JSON (%v): %s", err, line)
			continue
		}
		for _, key := range []string{"@level", "@message", "@timestamp", "@module"} {
			if _, ok := entry[key]; !ok {
				t.Errorf("stderr line lacks %s: %s", key, line)
			}
		}
		if m, ok := entry["@module"].(string); ok {
			modules[m] = true
		}
	}
	// The host's own loggers and a plugin's relayed lines are all there.
	for _, m := range []string{"relay-host", "relay-host.host", "relay-host.relay"} {
		if !modules[m] {
			t.Errorf("no line from logger %s among %d lines (modules: %v)", m, len(lines), modules)
		}
	}
	plugin := false
	for m := range modules {
		plugin = plugin || strings.Contains(m, "discord")
	}
	if !plugin {
		t.Errorf("no line from the discord plugin among %d lines (modules: %v)", len(lines), modules)
	}
}

// TestRunStdoutAgentEndToEnd runs buffered interactions through the real
// plugin to the stdout agent: one JSON line per event on standard output,
// with every field of the golden's event, nothing else there, no reply, and
// each delivery acknowledged.
func TestRunStdoutAgentEndToEnd(t *testing.T) {
	t.Parallel()
	srv := connector(t, relaytest.Options{})
	p := start(t, nil, runArgs(srv, secretFile(t), pluginsDir(t, false), "--agent", "stdout")...)
	ctx := testCtx(t)
	if err := srv.WaitHandshake(ctx, 1); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"slash_command_docs_cardsearch", "button_docs_click_one"} {
		id := srv.Enqueue(discordForward(golden(t, name+".json")))
		var line string
		select {
		case l, ok := <-p.lines:
			if !ok {
				t.Fatalf("%s: relay-host closed its standard output (exited?) before writing the event", name)
			}
			line = l
		case <-ctx.Done():
			t.Fatalf("%s: no line on standard output", name)
		}
		var got map[string]any
		if err := json.Unmarshal([]byte(line), &got); err != nil {
			t.Fatalf("%s: standard output line is not JSON (%v): %s", name, err, line)
		}
		var want struct {
			Events []map[string]any `json:"events"`
		}
		if err := json.Unmarshal(golden(t, name+".want.json"), &want); err != nil || len(want.Events) != 1 {
			t.Fatalf("golden %s: %v", name, err)
		}
		for k, v := range want.Events[0] {
			if !reflect.DeepEqual(got[k], v) {
				t.Errorf("%s: event field %s = %v, want %v (the golden's)", name, k, got[k], v)
			}
		}
		if err := srv.WaitAcked(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t); code != 0 {
		t.Errorf("exit code = %d, want 0", code)
	}
	for line := range p.lines { // closed once the process has exited
		t.Errorf("unexpected standard output line: %s", line)
	}
	if n := len(srv.Outbounds()); n != 0 {
		t.Errorf("%d outbound requests: the stdout agent never replies", n)
	}
}

// TestRunForwardForAPlatformWithoutPluginIsDroppedAndAcked fronts a
// platform no plugin serves: its buffered forward is a deliberate drop,
// settled and acknowledged, not left for redelivery.
func TestRunForwardForAPlatformWithoutPluginIsDroppedAndAcked(t *testing.T) {
	t.Parallel()
	srv := connector(t, relaytest.Options{})
	p := start(t, nil, runArgs(srv, secretFile(t), pluginsDir(t, false), "--identity", "slack:T1")...)
	ctx := testCtx(t)
	if _, err := srv.WaitFrame(ctx, func(f relaytest.Frame) bool { return f.Type == "hello" && f.Platform == "slack" }); err != nil {
		t.Fatal(err)
	}
	id := srv.Enqueue(pluginapi.Forward{Platform: "slack", BotID: "T1", Method: "POST", Path: "/slack/events", Body: []byte(`{}`)})
	const dropped, failed = "forward dropped (no plugin for its platform)", "forward failed"
	if err := p.stderr.changed.Wait(ctx, func() bool {
		out := p.stderr.String()
		return strings.Contains(out, dropped) || strings.Contains(out, failed)
	}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p.stderr.String(), dropped) {
		t.Fatalf("the forward was not dropped as having no plugin")
	}
	if err := srv.WaitAcked(ctx, id); err != nil {
		t.Fatal(err)
	}
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t); code != 0 {
		t.Errorf("exit code = %d, want 0", code)
	}
}
