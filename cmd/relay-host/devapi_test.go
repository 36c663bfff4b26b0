package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// TestDevPrintsAWorkingAgentAPICurlLine runs `relay-host dev`, takes the
// agent API curl line it prints, sends it as printed (address, token and
// body), and checks that the message reaches the demo chat through the
// embedded connector and is printed.
func TestDevPrintsAWorkingAgentAPICurlLine(t *testing.T) {
	t.Parallel()
	p := start(t, []string{"NO_COLOR=1", "RELAY_LOG_LEVEL=warn"}, "dev", "--addr", "127.0.0.1:0", "--agent-api", "127.0.0.1:0")
	ctx, cancel := context.WithTimeout(t.Context(), devTestWait)
	defer cancel()
	banner := regexp.MustCompile(`^Agent API +(http://127\.0\.0\.1:\d+) +token ([0-9a-f]{32})$`)
	curl := regexp.MustCompile(`^  curl -sS -w '\\n' (http://127\.0\.0\.1:\d+)/v1/actions -H 'Authorization: Bearer ([0-9a-f]+)' -d '(\{.*\})'$`)
	var lines []string
	next := func(what string, match func(string) bool) string {
		t.Helper()
		for {
			select {
			case line, ok := <-p.lines:
				if !ok {
					t.Fatalf("relay-host exited before %s; output:\n%s", what, strings.Join(lines, "\n"))
				}
				lines = append(lines, line)
				if match(line) {
					return line
				}
			case <-ctx.Done():
				t.Fatalf("no %s; output so far:\n%s", what, strings.Join(lines, "\n"))
			}
		}
	}
	b := banner.FindStringSubmatch(next("agent API banner line", banner.MatchString))
	c := curl.FindStringSubmatch(next("agent API curl line", curl.MatchString))
	if c[1] != b[1] || c[2] != b[2] {
		t.Fatalf("the curl line (%s, %s) does not match the banner (%s, %s)", c[1], c[2], b[1], b[2])
	}
	base, token, body := c[1], c[2], c[3]
	var action map[string]any
	if err := json.Unmarshal([]byte(body), &action); err != nil || action["chat_id"] != devDemoChat {
		t.Fatalf("the curl line's body %s (%v) does not send to the demo chat", body, err)
	}

	call := func(method, path, auth, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", auth)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		var m map[string]any
		_ = json.Unmarshal(data, &m)
		return resp.StatusCode, m
	}
	if status, m := call(http.MethodPost, "/v1/actions", "Bearer "+token, body); status != 200 || m["success"] != true || m["message_id"] != "dev-msg-1" {
		t.Fatalf("the printed curl line answered %d %v", status, m)
	}
	next("the send printed", func(l string) bool {
		return strings.Contains(l, "send to chat "+devDemoChat+" answered dev-msg-1: hello from curl")
	})
	if status, m := call(http.MethodGet, "/v1/status", "Bearer "+token, ""); status != 200 || m["ready"] != true {
		t.Errorf("GET /v1/status = %d %v", status, m)
	}
	if status, _ := call(http.MethodPost, "/v1/actions", "Bearer not-"+token, body); status != http.StatusUnauthorized {
		t.Errorf("a wrong token = %d, want 401", status)
	}

	p.signal(t, syscall.SIGINT)
	for range p.lines {
	}
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit %d after SIGINT", code)
	}
	if strings.Contains(p.stderr.String(), token) {
		t.Error("the token appears in the log (it belongs on standard output only)")
	}
}
