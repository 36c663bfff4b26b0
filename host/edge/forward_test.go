package edge

import (
	"bytes"
	"strings"
	"testing"
)

// TestForwardRouteTakesAnyPlatform posts a GitHub webhook to the dev route:
// it reaches the host as it came (method, path with query, headers, body),
// answered at once with the buffer id.
func TestForwardRouteTakesAnyPlatform(t *testing.T) {
	e, log := startEdge(t, Config{})
	host := connectHost(t, e)
	body := []byte(`{"zen":"Keep it logically awesome.","hook_id":1}`)
	r := post(t, e.ForwardURL("github", "relay-bot", "/webhooks/github")+"?x=1", "application/json", body,
		map[string]string{"X-GitHub-Event": "ping", "X-Hub-Signature-256": "sha256=00", "Authorization": "Bearer no"})
	if r.status != 200 || r.ctype != "application/json" || !strings.Contains(r.body, `"forwarded":"`) {
		t.Fatalf("answer = %d %q %q", r.status, r.ctype, r.body)
	}
	f := host.next(t)
	if f.Platform != "github" || f.BotID != "relay-bot" || f.Method != "POST" || f.Path != "/webhooks/github?x=1" || !bytes.Equal(f.Body, body) {
		t.Fatalf("forward = %+v body %s", f, f.Body)
	}
	if v, _ := f.Header("x-github-event"); v != "ping" {
		t.Errorf("event header %q, want ping", v)
	}
	if v, _ := f.Header("x-hub-signature-256"); v != "sha256=00" {
		t.Errorf("signature header %q", v)
	}
	if _, ok := f.Header("authorization"); ok {
		t.Error("a credential header was forwarded")
	}
	if rec := waitFor[Received](t, log, nil); rec.Platform != "github" || rec.Path != "/webhooks/github?x=1" {
		t.Errorf("Received = %+v", rec)
	}
	if r := post(t, e.URL()+"/forward/github", "application/json", body, nil); r.status != 404 {
		t.Errorf("a route without bot id and path answered %d, want 404", r.status)
	}
}
