package host

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/relayhost/relay-host/host/agent"
	"github.com/relayhost/relay-host/host/relay"
	"github.com/relayhost/relay-host/host/relay/relaytest"
	"github.com/relayhost/relay-host/internal/notify"
)

// recordingLink is the real link, recording the result each outbound call
// returned to its caller, by the content it sent.
type recordingLink struct {
	*relay.Client
	mu      sync.Mutex
	results map[string]relay.OutboundResult // content → result
	// recorded is notified at each result recorded.
	recorded notify.Signal
}

// OutboundAsync records the result once the host's own callback has run
// (so that its log line is written).
func (l *recordingLink) OutboundAsync(action any, platform, botID string, done func(relay.OutboundResult)) {
	content, _ := action.(map[string]any)["content"].(string)
	l.Client.OutboundAsync(action, platform, botID, func(r relay.OutboundResult) {
		if done != nil {
			done(r)
		}
		l.mu.Lock()
		l.results[content] = r
		l.mu.Unlock()
		l.recorded.Notify()
	})
}

// waitResults waits until n results are recorded.
func (l *recordingLink) waitResults(ctx context.Context, n int) error {
	return l.recorded.Wait(ctx, func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return len(l.results) >= n
	})
}

func (l *recordingLink) Outbound(ctx context.Context, action any, platform, botID string) relay.OutboundResult {
	r := l.Client.Outbound(ctx, action, platform, botID)
	content, _ := action.(map[string]any)["content"].(string)
	l.mu.Lock()
	l.results[content] = r
	l.mu.Unlock()
	return r
}

// TestConcurrentRepliesEachGetTheirOwnResult sends two replies at once over
// the real transport to a test connector that answers each with something
// only that request carries, holding both answers until both requests are
// in: each reply must come back with its own result, and the host must
// report each session with its own message id.
func TestConcurrentRepliesEachGetTheirOwnResult(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	allIn := make(chan struct{})
	srv := relaytest.New(relaytest.Options{Outbound: func(o relaytest.OutboundFrame) relaytest.OutboundReply {
		content, _ := o.Action["content"].(string)
		return relaytest.OutboundReply{After: allIn,
			Result: map[string]any{"success": true, "message_id": "msg-for-" + content, "request_id": o.RequestID}}
	}})
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	var logs syncBuffer
	ids := []relay.Identity{{Platform: "discord", BotID: "bot1"}}
	h, err := New(Config{Identities: ids, Plugins: &fakePlugins{}, Agent: agent.Echo{},
		Logger: hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Debug, JSONFormat: true})})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Stop()
	client, err := relay.New(relay.Config{URL: srv.URL(), Identities: ids, Handler: h})
	if err != nil {
		t.Fatal(err)
	}
	link := &recordingLink{Client: client, results: map[string]relay.OutboundResult{}}
	h.Attach(link)
	runDone := make(chan error, 1)
	go func() { runDone <- client.Run(context.Background()) }()
	defer func() {
		if err := client.Close(ctx); err != nil {
			t.Error(err)
		}
		if err := receive(t, runDone); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	if err := srv.WaitHandshake(ctx, 1); err != nil {
		t.Fatal(err)
	}

	// Two forwards for two sessions (the fake plugin keys them by profile);
	// the echo agent replies to each with its own text.
	sessionOf := map[string]string{} // reply content → session key
	for _, profile := range []string{"alpha", "beta"} {
		f := fwd("ask "+profile, "")
		f.Profile = profile
		sessionOf["echo: ask "+profile] = "agent:" + profile + ":discord:group:chan:u1"
		if err := srv.SendPassthrough(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.WaitOutbounds(ctx, 2); err != nil {
		t.Fatal(err)
	}
	close(allIn) // both requests wait for their results at once
	settle(t, h)
	if err := link.waitResults(ctx, 2); err != nil {
		t.Fatalf("the replies' results: %v", err)
	}

	link.mu.Lock()
	defer link.mu.Unlock()
	for content := range sessionOf {
		if r, ok := link.results[content]; !ok || !r.Success || r.MessageID != "msg-for-"+content {
			t.Errorf("the reply %q got %+v, want its own result (message_id msg-for-%s)", content, r, content)
		}
	}
	reported := map[string]string{} // session key → message id, as the host logged them
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var entry struct {
			Message    string `json:"@message"`
			SessionKey string `json:"session_key"`
			MessageID  string `json:"message_id"`
		}
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if entry.Message == "reply delivered" {
			reported[entry.SessionKey] = entry.MessageID
		}
	}
	for content, key := range sessionOf {
		if reported[key] != "msg-for-"+content {
			t.Errorf("the host reported session %s delivered as %q, want msg-for-%s (all: %v)", key, reported[key], content, reported)
		}
	}
}

var _ Link = (*recordingLink)(nil)
