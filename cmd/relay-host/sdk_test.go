package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/relayhost/relay-host/host/relay/relaytest"
	"github.com/relayhost/relay-host/pluginapi"
)

// githubSecret is the test webhook secret (GitHub's signature example).
const githubSecret = "It's a Secret to Everybody"

// githubSample is a documented GitHub delivery body from the example
// plugin's testdata.
func githubSample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("../../examples/plugins/github/testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func githubSign(body []byte) string {
	mac := hmac.New(sha256.New, []byte(githubSecret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// fakeGitHubAPI records the issue comments posted to it.
type fakeGitHubAPI struct {
	mu       sync.Mutex
	comments []string // "path body"
	posted   chan struct{}
}

func newFakeGitHubAPI(t *testing.T) (*fakeGitHubAPI, string) {
	t.Helper()
	g := &fakeGitHubAPI{posted: make(chan struct{}, 16)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Body string `json:"body"`
		}
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &body)
		g.mu.Lock()
		g.comments = append(g.comments, r.URL.Path+" "+r.Header.Get("Authorization")+" "+body.Body)
		g.mu.Unlock()
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"id": 77, "html_url": "https://github.com/c#77"}`)
		g.posted <- struct{}{}
	}))
	t.Cleanup(srv.Close)
	return g, srv.URL
}

// githubPlugins makes a plugins dir with the bundled plugins, the GitHub
// plugin configured against apiURL, and (with broken) a plugin that cannot
// start.
func githubPlugins(t *testing.T, apiURL string, broken bool) string {
	t.Helper()
	dir := pluginsDir(t, false)
	copyFile(t, bins.github, filepath.Join(dir, "relay-plugin-github"))
	secrets := t.TempDir()
	for name, v := range map[string]string{"hook": githubSecret + "\n", "token": "ghp_cli"} {
		if err := os.WriteFile(filepath.Join(secrets, name), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	conf := `{"settings": {"api_base_url": "` + apiURL + `", "bot_login": "relay-bot"},
	  "secrets": {"webhook_secret": {"file": "` + filepath.Join(secrets, "hook") + `"}, "api_token": {"file": "` + filepath.Join(secrets, "token") + `"}}}`
	if err := os.WriteFile(filepath.Join(dir, "github.json"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if broken {
		if err := os.WriteFile(filepath.Join(dir, "relay-plugin-broken"), []byte("#!/bin/sh\nexit 1\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestGitHubThroughThePluginAlone runs relay-host with the GitHub example
// plugin: a signed delivery forwarded by the connector becomes an event,
// the echo agent's reply goes out through the plugin (not the connector)
// as an issue comment on a fake GitHub; a plugin that cannot start is
// refused without stopping the others, and /readyz says degraded.
func TestGitHubThroughThePluginAlone(t *testing.T) {
	t.Parallel()
	gh, apiURL := newFakeGitHubAPI(t)
	srv := connector(t, relaytest.Options{})
	listen := freeAddr(t)
	p := start(t, nil, runArgs(srv, secretFile(t), githubPlugins(t, apiURL, true), "--listen", listen)...)
	ctx := testCtx(t)
	if err := p.stderr.waitFor(ctx, "PLUGIN REFUSED", 1); err != nil {
		t.Fatalf("the broken plugin was not reported: %v\n%s", err, p.stderr.String())
	}
	if _, err := srv.WaitFrame(ctx, func(f relaytest.Frame) bool { return f.Type == "hello" && f.Platform == "twilio" }); err != nil {
		t.Fatal(err)
	}
	body := githubSample(t, "issue_comment-created.json")
	id := srv.Enqueue(pluginapi.Forward{Platform: "github", BotID: "relay-bot", Method: "POST", Path: "/webhooks/github",
		Headers: []pluginapi.Header{{Name: "content-type", Value: "application/json"}, {Name: "x-github-event", Value: "issue_comment"},
			{Name: "x-hub-signature-256", Value: githubSign(body)}}, Body: body})
	if err := srv.WaitAcked(ctx, id); err != nil {
		t.Fatal(err)
	}
	select {
	case <-gh.posted:
	case <-ctx.Done():
		t.Fatalf("no comment reached GitHub:\n%s", p.stderr.String())
	}
	gh.mu.Lock()
	got := gh.comments
	gh.mu.Unlock()
	want := "/repos/Codertocat/Hello-World/issues/1/comments Bearer ghp_cli echo: You are totally right! I'll get this fixed right away."
	if len(got) != 1 || got[0] != want {
		t.Errorf("GitHub got %q, want %q", got, want)
	}
	if n := len(srv.Outbounds()); n != 0 {
		t.Errorf("the connector got %d outbound frames; GitHub's egress is the plugin's", n)
	}
	// A forward for the refused plugin's platform is left un-acked…
	broken := srv.Enqueue(pluginapi.Forward{Platform: "broken", Method: "POST", Path: "/x", Body: []byte("x")})
	if err := p.stderr.waitFor(ctx, "was refused", 1); err != nil {
		t.Fatal(err)
	}
	// …while Discord is served.
	const slash = "slash_command_docs_cardsearch.json"
	did := srv.Enqueue(discordForward(golden(t, slash)))
	if err := srv.WaitAcked(ctx, did); err != nil {
		t.Fatal(err)
	}
	for _, a := range srv.Acks() {
		if a == broken {
			t.Error("the forward for the refused plugin's platform was acked")
		}
	}
	if !slices.Contains(srv.Pending(), broken) {
		t.Errorf("the connector no longer keeps the refused platform's forward: pending %v", srv.Pending())
	}
	code, ready := get(t, "http://"+listen+"/readyz")
	if code != 200 || !strings.Contains(ready, `"degraded":true`) || !strings.Contains(ready, "plugin broken") || !strings.Contains(ready, `"sdk_version":"1.0.0"`) {
		t.Errorf("/readyz = %d %s, want 200, degraded, naming plugin broken", code, ready)
	}
	p.signal(t, 2)
	if code := p.wait(t); code != 0 {
		t.Errorf("exit %d", code)
	}
}

// TestRequireAllPlugins restores the strict start: a refused plugin fails
// it, naming the plugin.
func TestRequireAllPlugins(t *testing.T) {
	t.Parallel()
	_, apiURL := newFakeGitHubAPI(t)
	srv := connector(t, relaytest.Options{})
	r := relayHost(t, "", runArgs(srv, secretFile(t), githubPlugins(t, apiURL, true), "--require-all-plugins")...)
	if r.code != exitFailure || !strings.Contains(r.stderr, "relay-plugin-broken") {
		t.Errorf("exit %d, stderr %s", r.code, r.stderr)
	}
}

func TestPinOneAndByHash(t *testing.T) {
	t.Parallel()
	dir := pluginsDir(t, true)
	if r := relayHost(t, "", "plugins", "pin", "discord", "--plugins-dir", dir); r.code != 0 || !strings.Contains(r.stdout, "relay-plugin-discord") || strings.Contains(r.stdout, "relay-plugin-twilio") {
		t.Fatalf("pin discord: %d %s %s", r.code, r.stdout, r.stderr)
	}
	const published = "ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12"
	if r := relayHost(t, "", "plugins", "pin", "--hash", "github="+published, "--plugins-dir", dir); r.code != 0 {
		t.Fatalf("pin --hash: %d %s", r.code, r.stderr)
	}
	pins, err := os.ReadFile(filepath.Join(dir, "plugins.sha256"))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^[0-9a-f]{64}  relay-plugin-discord$`).Match(pins) || !strings.Contains(string(pins), published+"  relay-plugin-github") || strings.Contains(string(pins), "twilio") {
		t.Errorf("pin file:\n%s", pins)
	}
	if r := relayHost(t, "", "plugins", "pin", "nosuch", "--plugins-dir", dir); r.code != exitFailure || !strings.Contains(r.stderr, "--hash nosuch=SHA256") {
		t.Errorf("pin of a missing plugin: %d %s", r.code, r.stderr)
	}
	if r := relayHost(t, "", "plugins", "pin", "--hash", "x=zz", "--plugins-dir", dir); r.code != exitUsage {
		t.Errorf("bad hash: exit %d", r.code)
	}
}

func TestListCheck(t *testing.T) {
	t.Parallel()
	_, apiURL := newFakeGitHubAPI(t)
	dir := githubPlugins(t, apiURL, false)
	r := relayHost(t, "", "plugins", "list", "--check", "--plugins-dir", dir)
	if r.code != 0 || !regexp.MustCompile(`(?m)^github\s+dev\s+1\.0\.0\s+github\s+up\s+ok$`).MatchString(r.stdout) {
		t.Fatalf("list --check: %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if r := relayHost(t, "", "plugins", "list", "--plugins-dir", dir); r.code != 0 || !strings.Contains(r.stdout, "SDK") || !strings.Contains(r.stdout, "1.0.0") {
		t.Errorf("list: %d\n%s", r.code, r.stdout)
	}
	// Without its token the plugin takes events but cannot reply: unhealthy.
	conf := `{"settings": {}, "secrets": {"webhook_secret": {"file": "hook"}}}`
	if err := os.WriteFile(filepath.Join(dir, "hook"), []byte("s"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "github.json"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	r = relayHost(t, "", "plugins", "list", "--check", "--plugins-dir", dir)
	if r.code != exitFailure || !strings.Contains(r.stdout, "UNHEALTHY") || !strings.Contains(r.stderr, "api_token") {
		t.Errorf("list --check of an unhealthy plugin: %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	// A world-readable secret refuses the plugin, naming the file.
	if err := os.Chmod(filepath.Join(dir, "hook"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = relayHost(t, "", "plugins", "list", "--check", "--plugins-dir", dir)
	if r.code != exitFailure || !strings.Contains(r.stderr, "readable by group or others") {
		t.Errorf("list --check with an open secret: %d\n%s", r.code, r.stderr)
	}
}

func TestConvertHeadersAndRecordedRequest(t *testing.T) {
	t.Parallel()
	_, apiURL := newFakeGitHubAPI(t)
	dir := githubPlugins(t, apiURL, false)
	body := githubSample(t, "issue_comment-created.json")
	file := filepath.Join(t.TempDir(), "body.json")
	if err := os.WriteFile(file, body, 0o644); err != nil {
		t.Fatal(err)
	}
	r := relayHost(t, "", "convert", "--platform", "github", "--plugins-dir", dir,
		"--header", "X-GitHub-Event: issue_comment", "--header", "X-Hub-Signature-256: "+githubSign(body), file)
	if r.code != 0 || !strings.Contains(r.stdout, `"disposition": "handled"`) || !strings.Contains(r.stdout, `"chat_id": "Codertocat/Hello-World#1"`) {
		t.Fatalf("convert --header: %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r = relayHost(t, "", "convert", "--platform", "github", "--plugins-dir", dir, "--request", "../../examples/plugins/github/testdata/issue_comment-created.http")
	if r.code != 0 || !strings.Contains(r.stdout, `"disposition": "handled"`) {
		t.Fatalf("convert --request: %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r = relayHost(t, "", "convert", "--platform", "github", "--plugins-dir", dir, "--header", "X-GitHub-Event: issue_comment", file)
	if r.code != 0 || !strings.Contains(r.stdout, `"disposition": "rejected"`) {
		t.Errorf("unsigned: %d\n%s", r.code, r.stdout)
	}
	if r := relayHost(t, "", "convert", "--platform", "github", "--plugins-dir", dir, "--header", "no colon", file); r.code != exitUsage {
		t.Errorf("bad header: exit %d", r.code)
	}
}

func TestPluginsNew(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "relay-plugin-acme")
	r := relayHost(t, "", "plugins", "new", "acme", "--dir", dir, "--module", "example.com/acme")
	if r.code != 0 || !strings.Contains(r.stdout, "go mod tidy") || !strings.Contains(r.stdout, "development build") {
		t.Fatalf("plugins new: %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	mod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil || !strings.Contains(string(mod), "module example.com/acme") {
		t.Fatalf("go.mod: %s %v", mod, err)
	}
	if r := relayHost(t, "", "plugins", "new", "acme", "--dir", dir); r.code != exitFailure || !strings.Contains(r.stderr, "not empty") {
		t.Errorf("plugins new into a non-empty dir: %d %s", r.code, r.stderr)
	}
	if r := relayHost(t, "", "plugins", "new"); r.code != exitUsage {
		t.Errorf("plugins new without a name: %d", r.code)
	}
}
