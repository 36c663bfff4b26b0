package plugins

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/relayhost/relay-host/pluginapi"
)

// writeFile writes a file with mode, failing the test on error.
func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	must(t, os.WriteFile(path, []byte(content), mode))
	must(t, os.Chmod(path, mode))
}

// reloads collects the outcomes of a Manager's reloads (Config.onReload).
type reloads struct{ ch chan string }

func newReloads() *reloads { return &reloads{ch: make(chan string, 64)} }

func (r *reloads) hook(name string, err error) {
	msg := name + ": ok"
	if err != nil {
		msg = name + ": " + err.Error()
	}
	r.ch <- msg
}

// next waits (at most eventTimeout) for the next reload outcome.
func (r *reloads) next(t *testing.T) string {
	t.Helper()
	select {
	case s := <-r.ch:
		return s
	case <-time.After(eventTimeout):
		t.Fatal("no reload happened")
		return ""
	}
}

// openSDK opens a Manager on dir with a test log; extra adjusts the
// configuration.
func openSDK(t *testing.T, dir string, extra func(*Config)) (*Manager, error) {
	t.Helper()
	cfg := Config{Dir: dir, Logger: hclog.New(&hclog.LoggerOptions{Output: testLog{t}, Level: hclog.Debug}), reloadSettle: 50 * time.Millisecond}
	if extra != nil {
		extra(&cfg)
	}
	m, err := Open(context.Background(), cfg)
	if err == nil {
		t.Cleanup(m.Close)
	}
	return m, err
}

// text dispatches body to platform and returns the one event's text.
func text(t *testing.T, m *Manager, platform, body string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
	defer cancel()
	res, err := m.Dispatch(ctx, forward(platform, body))
	if err != nil {
		t.Fatalf("forward %q: %v", body, err)
	}
	if res.Disposition != pluginapi.Handled || len(res.Events) != 1 {
		t.Fatalf("forward %q: %+v", body, res)
	}
	return res.Events[0].Text
}

func TestConfigurationAndSecrets(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	install(t, dir, binaries.sdk1, "sdk")
	secret := filepath.Join(t.TempDir(), "token")
	writeFile(t, secret, "s3cr3t-token-value\n", 0o600)
	writeFile(t, filepath.Join(dir, "sdk.json"), `{"settings": {"greeting": "hello"}, "secrets": {"token": {"file": "`+secret+`"}}}`, 0o644)
	var log syncBuffer
	m, err := Open(context.Background(), Config{Dir: dir, Logger: hclog.New(&hclog.LoggerOptions{Output: ioMulti{testLog{t}, &log}, Level: hclog.Trace})})
	must(t, err)
	t.Cleanup(m.Close)
	if got := text(t, m, "sdk", "world"); got != "hello world (v1)" {
		t.Errorf("forward after Configure: %q", got)
	}
	if got := text(t, m, "sdk", "secret"); got != "token of 18 bytes" {
		t.Errorf("secret: %q", got)
	}
	m.Close()
	if strings.Contains(log.String(), "s3cr3t-token-value") {
		t.Error("the secret appears in the log")
	}
}

// TestForwardIDInPluginLog checks that the plugin's log line about a
// forward carries the id the host gave it.
func TestForwardIDInPluginLog(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	install(t, dir, binaries.sdk1, "sdk")
	writeFile(t, filepath.Join(dir, "sdk.json"), `{"settings": {"greeting": "hi"}}`, 0o644)
	log := syncBuffer{want: "forward seen", seen: make(chan struct{})}
	m := openLogged(t, dir, nil, &log)
	f := forward("sdk", "x")
	f.ID, f.BufferID = "fwd-77", "buf-9"
	if _, err := m.Dispatch(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	select {
	case <-log.seen:
	case <-time.After(eventTimeout):
		t.Fatal("the plugin's line was not relayed")
	}
	for _, line := range strings.Split(log.String(), "\n") {
		if strings.Contains(line, "forward seen") {
			if !strings.Contains(line, "forward_id=fwd-77") || !strings.Contains(line, "buffer_id=buf-9") {
				t.Errorf("plugin log line lacks the forward's ids: %s", line)
			}
			return
		}
	}
}

// TestBadConfigurationRefusesThePlugin covers the configuration faults: each
// refuses the plugin at start, naming what is wrong, and a strict start
// (RequireAll) fails.
func TestBadConfigurationRefusesThePlugin(t *testing.T) {
	t.Parallel()
	secretDir := t.TempDir()
	good := filepath.Join(secretDir, "good")
	writeFile(t, good, "x", 0o600)
	open := filepath.Join(secretDir, "open")
	writeFile(t, open, "x", 0o644)
	for _, tt := range []struct {
		name, file string
		want       string
	}{
		{"malformed", `{"settings": {"greeting": "hi"`, "not a configuration object"},
		{"unknown top-level key", `{"settings": {"greeting": "hi"}, "secret": {}}`, `unknown field "secret"`},
		{"unknown setting", `{"settings": {"greeting": "hi", "greting": "x"}}`, `unknown key "greting"`},
		{"wrong type", `{"settings": {"greeting": 3}}`, `key "greeting" must be a string`},
		{"missing required", `{"settings": {}}`, `required key "greeting" is missing`},
		{"unknown secret", `{"settings": {"greeting": "hi"}, "secrets": {"tokn": {"file": "` + good + `"}}}`, `unknown secret "tokn"`},
		{"missing secret file", `{"settings": {"greeting": "hi"}, "secrets": {"token": {"file": "` + filepath.Join(secretDir, "absent") + `"}}}`, "no such file"},
		{"world-readable secret", `{"settings": {"greeting": "hi"}, "secrets": {"token": {"file": "` + open + `"}}}`, "readable by group or others"},
		{"plugin refuses", `{"settings": {"greeting": "hi", "refuse": true}}`, "refusing this configuration as told"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			install(t, dir, binaries.sdk1, "sdk")
			install(t, dir, binaries.beta, "beta")
			writeFile(t, filepath.Join(dir, "sdk.json"), tt.file, 0o644)
			m, err := openSDK(t, dir, nil)
			if err != nil {
				t.Fatalf("Open: %v (beta should serve)", err)
			}
			rs := m.Refusals()
			if len(rs) != 1 || rs[0].Name != "sdk" || !strings.Contains(rs[0].Err.Error(), tt.want) {
				t.Fatalf("refusals %+v, want sdk refused with %q", rs, tt.want)
			}
			if _, err := m.Dispatch(context.Background(), forward("sdk", "x")); !errors.Is(err, ErrPluginRefused) {
				t.Errorf("forward for the refused plugin's platform: err = %v, want ErrPluginRefused (left un-acked)", err)
			}
			if got := text(t, m, "beta", "still served"); got != "still served" {
				t.Errorf("beta answered %q", got)
			}
			if _, err := openSDK(t, dir, func(c *Config) { c.RequireAll = true }); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("strict Open: err = %v, want it to fail with %q", err, tt.want)
			}
		})
	}
}

func TestExplicitConfigFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	install(t, dir, binaries.sdk1, "sdk")
	path := filepath.Join(t.TempDir(), "elsewhere.json")
	writeFile(t, path, `{"settings": {"greeting": "from elsewhere"}}`, 0o644)
	m, err := openSDK(t, dir, func(c *Config) { c.PluginConfigs = map[string]string{"sdk": path} })
	must(t, err)
	if got := text(t, m, "sdk", "x"); got != "from elsewhere x (v1)" {
		t.Errorf("got %q", got)
	}
}

// TestIsolation refuses one plugin for its pin and checks the other serves,
// and that a strict start fails.
func TestIsolation(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	install(t, dir, binaries.alpha, "alpha")
	install(t, dir, binaries.beta, "beta")
	cands, _, _ := Discover(dir)
	must(t, WritePins(dir, cands))
	replace(t, filepath.Join(dir, FilePrefix+"alpha"), binaries.alphaDup, 0o755)
	m, err := openSDK(t, dir, nil)
	must(t, err)
	rs := m.Refusals()
	if pe := (*PinError)(nil); len(rs) != 1 || rs[0].Name != "alpha" || !errors.As(rs[0].Err, &pe) {
		t.Fatalf("refusals %+v, want alpha refused for its pin", rs)
	}
	if _, err := m.Dispatch(context.Background(), forward("alpha", "x")); !errors.Is(err, ErrPluginRefused) || errors.Is(err, ErrNoPlugin) {
		t.Errorf("forward for alpha: err = %v, want ErrPluginRefused", err)
	}
	if got := text(t, m, "beta", "b"); got != "b" {
		t.Errorf("beta answered %q", got)
	}
	if _, err := openSDK(t, dir, func(c *Config) { c.RequireAll = true }); err == nil {
		t.Error("strict Open succeeded with a refused plugin")
	}
}

func TestEgressAndHealth(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	install(t, dir, binaries.sdk1, "sdk")
	install(t, dir, binaries.beta, "beta")
	writeFile(t, filepath.Join(dir, "sdk.json"), `{"settings": {"greeting": "hi"}}`, 0o644)
	m, err := openSDK(t, dir, nil)
	must(t, err)
	if !m.EgressPlatform("sdk") || m.EgressPlatform("beta") || m.EgressPlatform("nope") {
		t.Errorf("egress platforms: sdk %v beta %v nope %v", m.EgressPlatform("sdk"), m.EgressPlatform("beta"), m.EgressPlatform("nope"))
	}
	res := m.HandleAction(context.Background(), "sdk", "bot", map[string]any{"op": "send", "chat_id": "c9", "content": "hello"})
	if !res.Success || res.MessageID != "send:c9:1" {
		t.Errorf("action: %+v", res)
	}
	if res := m.HandleAction(context.Background(), "beta", "", map[string]any{"op": "send"}); res.Success || res.Code != pluginapi.CodePluginFailed {
		t.Errorf("action for a plugin without egress: %+v", res)
	}
	// A hung action is bounded by its deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if res := m.HandleAction(ctx, "sdk", "", map[string]any{"op": "send", "content": "hang"}); res.Success {
		t.Errorf("hung action: %+v", res)
	}
	for _, h := range m.CheckHealth(context.Background()) {
		if h.Err != nil {
			t.Errorf("%s unhealthy: %v", h.Name, h.Err)
		}
	}
}

// TestReconfigure changes the configuration file while the plugin runs: a
// good change is taken, a bad one or one the plugin refuses is not, and
// the plugin keeps its current settings.
func TestReconfigure(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	install(t, dir, binaries.sdk1, "sdk")
	conf := filepath.Join(dir, "sdk.json")
	writeFile(t, conf, `{"settings": {"greeting": "one"}}`, 0o644)
	rl := newReloads()
	m, err := openSDK(t, dir, func(c *Config) { c.Watch, c.onReload = true, rl.hook })
	must(t, err)
	pid := m.Statuses()[0].PID
	for _, step := range []struct {
		file, outcome, greeting string
	}{
		{`{"settings": {"greeting": "two"}}`, "sdk: ok", "two"},
		{`{"settings": {"greeting": "three"`, "not a configuration object", "two"},
		{`{"settings": {"greeting": "four", "refuse": true}}`, "refusing this configuration as told", "two"},
		{`{"settings": {"greeting": "five", "unhealthy": true}}`, "sdk: ok", "five"},
	} {
		writeFile(t, conf, step.file, 0o644)
		if got := rl.next(t); !strings.Contains(got, step.outcome) {
			t.Fatalf("after writing %s: reload %q, want %q", step.file, got, step.outcome)
		}
		if got := text(t, m, "sdk", "x"); got != step.greeting+" x (v1)" {
			t.Fatalf("after writing %s: %q, want greeting %q", step.file, got, step.greeting)
		}
	}
	h := m.CheckHealth(context.Background())
	if len(h) != 1 || h[0].Err == nil || !strings.Contains(h[0].Err.Error(), "told to be unhealthy") {
		t.Errorf("health %+v, want the plugin's reason", h)
	}
	if st := m.Statuses()[0]; st.PID != pid {
		t.Errorf("the plugin was restarted (pid %d → %d); reconfiguration must not restart it", pid, st.PID)
	}
}

// dropIn puts a new plugin file in place the way a deploy does: written
// beside it, then renamed over it.
func dropIn(t *testing.T, dir, name string, data []byte, mode os.FileMode) {
	t.Helper()
	tmp := filepath.Join(dir, ".tmp-"+name)
	must(t, os.WriteFile(tmp, data, mode))
	must(t, os.Rename(tmp, filepath.Join(dir, FilePrefix+name)))
}

// TestHotReloadFaults drops in replacements that must not be taken: not
// pinned, crashing at start, half-written; the old process keeps serving
// through all of them, and a good pinned file is then taken.
func TestHotReloadFaults(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	install(t, dir, binaries.sdk1, "sdk")
	writeFile(t, filepath.Join(dir, "sdk.json"), `{"settings": {"greeting": "hi"}}`, 0o644)
	cands, _, _ := Discover(dir)
	must(t, WritePins(dir, cands))
	rl := newReloads()
	m, err := openSDK(t, dir, func(c *Config) { c.Watch, c.onReload = true, rl.hook })
	must(t, err)
	v2, err := os.ReadFile(binaries.sdk2)
	must(t, err)
	path := filepath.Join(dir, FilePrefix+"sdk")

	// Not pinned.
	dropIn(t, dir, "sdk", v2, 0o755)
	if got := rl.next(t); !strings.Contains(got, "not listed in plugins.sha256") && !strings.Contains(got, "refused") {
		t.Fatalf("unpinned drop-in: %q", got)
	}
	if got := text(t, m, "sdk", "x"); got != "hi x (v1)" {
		t.Fatalf("after an unpinned drop-in: %q, want the old process", got)
	}
	// Crashes on start (pinned, so only the start can fail).
	crasher := []byte("#!/bin/sh\nexit 1\n")
	pinTo(t, dir, "sdk", crasher)
	dropIn(t, dir, "sdk", crasher, 0o755)
	for got := rl.next(t); !strings.Contains(got, "exited") && !strings.Contains(got, "handshake"); got = rl.next(t) {
		if got == "sdk: ok" {
			t.Fatalf("a crashing binary was taken")
		}
	}
	if got := text(t, m, "sdk", "x"); got != "hi x (v1)" {
		t.Fatalf("after a crashing drop-in: %q, want the old process", got)
	}
	// Half-written: the first half of the pinned v2, then the rest after
	// the settle time. The half is refused by its hash; the whole is taken.
	pinTo(t, dir, "sdk", v2)
	for got := rl.next(t); got == "sdk: ok"; got = rl.next(t) {
		t.Fatalf("pinning alone took a file: %q", got)
	}
	f, err := os.OpenFile(path+".part", os.O_CREATE|os.O_WRONLY, 0o755)
	must(t, err)
	_, err = f.Write(v2[:len(v2)/2])
	must(t, err)
	must(t, os.Rename(path+".part", path)) // a copy in progress, in place
	if got := rl.next(t); got == "sdk: ok" {
		t.Fatal("a half-written file was taken")
	}
	if got := text(t, m, "sdk", "x"); got != "hi x (v1)" {
		t.Fatalf("while half-written: %q, want the old process", got)
	}
	_, err = f.Write(v2[len(v2)/2:])
	must(t, err)
	must(t, f.Close())
	for got := rl.next(t); got != "sdk: ok"; got = rl.next(t) {
		t.Logf("reload: %s", got)
	}
	if got := text(t, m, "sdk", "x"); got != "hi x (v2)" {
		t.Fatalf("after the copy completed: %q, want v2", got)
	}
}

// pinTo pins plugin name to the hash of data (as `plugins pin --hash`).
func pinTo(t *testing.T, dir, name string, data []byte) {
	t.Helper()
	pins, err := ReadPins(dir)
	must(t, err)
	if pins == nil {
		pins = Pins{}
	}
	pins[FilePrefix+name] = sha256Hex(data)
	must(t, WritePinMap(dir, pins))
}

// TestHotReloadUnderLoad replaces a plugin while forwards arrive at 500/s:
// none may fail, and the new process must serve soon after the file is in
// place. It logs the time from the rename to the first forward answered by
// the new version (the number docs/performance.md reports).
func TestHotReloadUnderLoad(t *testing.T) {
	t.Parallel()
	const rate = 500 // forwards per second
	dir := t.TempDir()
	install(t, dir, binaries.sdk1, "sdk")
	writeFile(t, filepath.Join(dir, "sdk.json"), `{"settings": {"greeting": "hi"}}`, 0o644)
	rl := newReloads()
	// The product's settle time: the number this test reports is the one
	// an operator sees.
	m, err := openSDK(t, dir, func(c *Config) { c.Watch, c.onReload, c.reloadSettle = true, rl.hook, ReloadSettle })
	must(t, err)
	v2, err := os.ReadFile(binaries.sdk2)
	must(t, err)

	var sent, failed, onV2 atomic.Int64
	var firstV2 atomic.Int64 // unix nanos of the first v2 answer
	stop := make(chan struct{})
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / rate)
	defer tick.Stop()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			wg.Add(1)
			sent.Add(1)
			go func() {
				defer wg.Done()
				res, err := m.Dispatch(context.Background(), forward("sdk", fmt.Sprint(i)))
				switch {
				case err != nil || len(res.Events) != 1:
					failed.Add(1)
					t.Errorf("forward %d lost during the swap: %+v, %v", i, res, err)
				case strings.HasSuffix(res.Events[0].Text, "(v2)"):
					onV2.Add(1)
					firstV2.CompareAndSwap(0, time.Now().UnixNano())
				}
			}()
		}
	}()
	time.Sleep(500 * time.Millisecond) // load before the swap: the point of the test, not synchronisation
	placed := time.Now()
	dropIn(t, dir, "sdk", v2, 0o755)
	if got := rl.next(t); got != "sdk: ok" {
		t.Fatalf("reload: %s", got)
	}
	deadline := time.Now().Add(eventTimeout)
	for onV2.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond) // polling a counter the load goroutines bump; bounded above
	}
	time.Sleep(500 * time.Millisecond) // load after the swap
	close(stop)
	wg.Wait()
	if onV2.Load() == 0 {
		t.Fatal("no forward reached the new version")
	}
	took := time.Unix(0, firstV2.Load()).Sub(placed)
	t.Logf("hot reload under %d forwards/s: %d forwards sent, %d lost, new version serving %s after the file was in place (settle %s)",
		rate, sent.Load(), failed.Load(), took.Round(time.Millisecond), m.cfg.reloadSettle)
}

// TestHotReloadUnhealthyReplacement drops in a replacement that starts but
// fails its health check: it is not swapped in, and the old process keeps
// serving.
func TestHotReloadUnhealthyReplacement(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	install(t, dir, binaries.sdk1, "sdk")
	// Unhealthy by configuration: the running v1 is not asked at start, the
	// v2 dropped in is asked before it is swapped in.
	writeFile(t, filepath.Join(dir, "sdk.json"), `{"settings": {"greeting": "hi", "unhealthy": true}}`, 0o644)
	rl := newReloads()
	m, err := openSDK(t, dir, func(c *Config) { c.Watch, c.onReload = true, rl.hook })
	must(t, err)
	v2, err := os.ReadFile(binaries.sdk2)
	must(t, err)
	dropIn(t, dir, "sdk", v2, 0o755)
	if got := rl.next(t); !strings.Contains(got, "told to be unhealthy") {
		t.Fatalf("reload of an unhealthy replacement: %q", got)
	}
	if got := text(t, m, "sdk", "x"); got != "hi x (v1)" {
		t.Fatalf("after an unhealthy drop-in: %q, want the old process", got)
	}
	if n := len(m.Statuses()); n != 1 {
		t.Errorf("%d plugins running, want 1", n)
	}
}
