package edge

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/relayhost/relay-host/host/relay"
)

func TestActionsAreAnsweredAndReported(t *testing.T) {
	e, log := startEdge(t, Config{})
	host := connectHost(t, e)
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	md := map[string]any{}
	tests := []struct {
		action   map[string]any
		platform string
		want     string
		success  bool
	}{
		{map[string]any{"op": "edit", "chat_id": "c1", "message_id": "dev-msg-3", "content": "Counting: 1 2", "metadata": md}, "discord",
			"edit of dev-msg-3 in chat c1: Counting: 1 2 → ok", true},
		{map[string]any{"op": "typing", "chat_id": "c1", "metadata": md}, "discord", "typing in chat c1 → ok", true},
		{map[string]any{"op": "react", "chat_id": "c1", "message_id": "m9", "emoji": "👀", "remove": true, "metadata": md}, "discord",
			"react of m9 in chat c1: 👀 removed → ok", true},
		{map[string]any{"op": "prompt", "chat_id": "c1", "prompt_id": "abc123.0011aabb", "content": "Deploy?", "prompt_kind": "approval",
			"options": []any{map[string]any{"id": "approve", "label": "Approve"}, map[string]any{"id": "deny", "label": "Deny"}}, "metadata": md}, "discord",
			`prompt abc123.0011aabb in chat c1: "Deploy?" [approve: Approve] [deny: Deny] → dev-msg-1`, true},
		{map[string]any{"op": "thread_create", "chat_id": "c1", "thread_name": "ideas", "metadata": md}, "discord",
			`thread_create in chat c1: "ideas" → dev-msg-thread-1`, true},
		{map[string]any{"op": "edit", "chat_id": "+1555", "message_id": "x", "content": "y", "metadata": md}, "twilio",
			`edit of x in chat +1555: y → failed: "edit" is not supported by this connector`, false},
	}
	for i, tt := range tests {
		res := host.client.Outbound(ctx, tt.action, tt.platform, "")
		if res.Success != tt.success {
			t.Errorf("%s: result %+v", tt.action["op"], res)
		}
		// The connector reports an action before it answers it.
		var all []Outbound
		for _, ev := range log.all() {
			if o, ok := ev.(Outbound); ok {
				all = append(all, o)
			}
		}
		if len(all) != i+1 {
			t.Fatalf("%d actions reported after %d sent", len(all), i+1)
		}
		if got := all[i]; got.String() != tt.want {
			t.Errorf("event %d = %q\n want %q", i, got.String(), tt.want)
		}
	}
	var prompt Outbound
	for _, ev := range log.all() {
		if o, ok := ev.(Outbound); ok && o.Op == "prompt" {
			prompt = o
		}
	}
	if prompt.PromptID != "abc123.0011aabb" || len(prompt.Options) != 2 || prompt.NewID != "dev-msg-1" ||
		PromptButtonID(prompt.PromptID, prompt.Options[0].ID) != "hp1:abc123.0011aabb:approve" {
		t.Fatalf("prompt event = %+v", prompt)
	}
}

func TestLongContentIsShownWithItsLength(t *testing.T) {
	long := strings.Repeat("a", 300)
	if s := (Sent{ChatID: "c", Content: long, MessageID: "m"}).String(); !strings.HasSuffix(s, "… (300 chars)") {
		t.Fatalf("Sent = %q", s)
	}
	if s := (Sent{ChatID: "c", Content: "short", MessageID: "m"}).String(); strings.Contains(s, "chars") {
		t.Fatalf("Sent = %q", s)
	}
}

func TestMediaPlaneIsReported(t *testing.T) {
	e, log := startEdge(t, Config{})
	tok := relay.MakeUpgradeToken(testGateway, testSecret, time.Now())
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, e.URL()+"/relay/media", bytes.NewReader([]byte("hello")))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set("X-Media-Filename", "hi.txt")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var up struct{ ID string }
	if resp.StatusCode != 200 || json.Unmarshal(b, &up) != nil || up.ID == "" {
		t.Fatalf("upload = %d %s", resp.StatusCode, b)
	}
	m := waitFor(t, log, func(m Media) bool { return m.Upload })
	if m.String() != `upload of "hi.txt" (5 bytes, text/plain) → `+up.ID {
		t.Fatalf("Media = %q", m)
	}
	req, _ = http.NewRequestWithContext(t.Context(), http.MethodGet, e.URL()+"/relay/media/"+up.ID, nil)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	m = waitFor(t, log, func(m Media) bool { return !m.Upload })
	if resp.StatusCode != 401 || m.String() != "download of "+up.ID+" refused 401: unauthorized" {
		t.Fatalf("download without the bearer = %d, %q", resp.StatusCode, m)
	}
	for _, ev := range log.all() {
		if strings.Contains(ev.String(), tok) {
			t.Fatal("an event shows the bearer")
		}
	}
}
