package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/relayhost/relay-host/host/agent"
)

// TestDevForwardRouteServesAnyPlatform posts a GitHub delivery to dev's
// route for any platform: it is forwarded as it came, converted by the
// GitHub plugin, answered by the echo agent, the reply posted to a fake
// GitHub by the plugin, and each step printed.
func TestDevForwardRouteServesAnyPlatform(t *testing.T) {
	t.Parallel()
	gh, apiURL := newFakeGitHubAPI(t)
	r := newDevRig(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	logger := hclog.New(&hclog.LoggerOptions{Name: "relay-host", Level: hclog.Warn, Output: r.out})
	go func() {
		done <- runGateway(ctx, gatewayConfig{connector: r.edge.URL(), gatewayID: testGatewayID, secret: testSecret,
			identities: devTestIdentities, pluginsDir: githubPlugins(t, apiURL, false), agent: agent.Echo{}, logger: logger, trace: r.log.step})
	}()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("gateway: %v", err)
			}
		case <-time.After(devTestWait):
			t.Error("gateway did not stop")
		}
	}()
	wctx, wcancel := context.WithTimeout(t.Context(), devTestWait)
	defer wcancel()
	if err := r.edge.Connector().WaitHandshake(wctx, 1); err != nil {
		t.Fatal(err)
	}
	body := githubSample(t, "issue_comment-created.json")
	status, _, answer := r.post(r.edge.ForwardURL("github", "relay-bot", "/webhooks/github"), "application/json", body,
		map[string]string{"X-GitHub-Event": "issue_comment", "X-Hub-Signature-256": githubSign(body)})
	if status != 200 || !strings.Contains(answer, `"forwarded"`) {
		t.Fatalf("dev answered %d %s", status, answer)
	}
	select {
	case <-gh.posted:
	case <-wctx.Done():
		t.Fatalf("no comment reached GitHub:\n%s", r.out.String())
	}
	if err := r.out.waitFor(wctx, "acked by the host", 1); err != nil {
		t.Fatal(err)
	}
	out := r.out.String()
	for _, want := range []string{"github request at /webhooks/github", "github plugin handled", "echo agent replied"} {
		if !strings.Contains(out, want) {
			t.Errorf("dev output lacks %q:\n%s", want, out)
		}
	}
}
