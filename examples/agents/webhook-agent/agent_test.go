package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const testToken = "agent-api-token-for-tests"

// call is one request the agent made to the fake agent API.
type call struct {
	path string
	body map[string]any
}

// fakeAPI is relay-host's agent API on loopback: it checks the bearer,
// records every call and answers like relay-host does (a message id naming
// the request, a prompt id for prompts).
type fakeAPI struct {
	srv   *httptest.Server
	calls chan call
	mu    sync.Mutex
	n     int
}

func newFakeAPI(t *testing.T) *fakeAPI {
	f := &fakeAPI{calls: make(chan call, 100)}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+testToken {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"success":false,"error":"missing or wrong bearer token"}`)
			t.Errorf("%s without the token", r.URL.Path)
			return
		}
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			t.Errorf("%s: body not JSON: %v", r.URL.Path, err)
		}
		f.mu.Lock()
		f.n++
		n := f.n
		f.mu.Unlock()
		answer := map[string]any{"success": true, "message_id": fmt.Sprintf("m%d", n)}
		if body["op"] == "prompt" {
			answer["prompt_id"] = body["prompt_id"]
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(answer)
		f.calls <- call{r.URL.Path, body}
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// next returns the agent's next call, failing after a generous deadline.
func (f *fakeAPI) next(t *testing.T) call {
	t.Helper()
	select {
	case c := <-f.calls:
		return c
	case <-time.After(15 * time.Second):
		t.Fatal("the agent made no call within 15 s")
		return call{}
	}
}

// startAgent builds the agent and runs it as its own process against api,
// and returns the URL it takes events on.
func startAgent(t *testing.T, api string, step time.Duration) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "webhook-agent")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "-listen", "127.0.0.1:0", "-api", api, "-step", step.String())
	cmd.Env = append(os.Environ(), "RELAY_AGENT_API_TOKEN="+testToken)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("agent log:\n%s", stderr.String())
		}
	})
	line := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- l
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case l := <-line:
		_, rest, ok := strings.Cut(l, "events on ")
		url, _, _ := strings.Cut(rest, ",")
		if !ok || !strings.HasPrefix(url, "http://127.0.0.1:") {
			t.Fatalf("unexpected first line %q", l)
		}
		return url
	case <-time.After(30 * time.Second):
		t.Fatal("the agent did not start within 30 s")
		return ""
	}
}

// post sends one event as relay-host's webhook agent does.
func post(t *testing.T, url string, ev map[string]any) {
	t.Helper()
	b, _ := json.Marshal(ev)
	resp, err := http.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("agent answered %d", resp.StatusCode)
	}
}

// chatEvent is a Discord channel message with its destination.
func chatEvent(id, text string) map[string]any {
	return map[string]any{
		"event_id": id, "text": text, "message_type": "text", "message_id": "msg-" + id,
		"source":      map[string]any{"platform": "discord", "chat_id": "chan-1", "chat_type": "group", "user_id": "u1", "user_name": "Ada"},
		"session_key": "agent:main:discord:group:chan-1:u1",
		"destination": map[string]any{"max_message_length": 2000, "len_unit": "chars", "markdown_dialect": "discord",
			"supports_edit": true, "supports_threads": true, "supported_ops": []string{"send", "edit", "typing", "follow_up", "prompt", "react"}},
	}
}

func TestAgentEndToEnd(t *testing.T) {
	api := newFakeAPI(t)
	url := startAgent(t, api.srv.URL, time.Millisecond)

	t.Run("streams an answer: a send, then edits", func(t *testing.T) {
		post(t, url, chatEvent("discord:m1/0", "hello there"))
		c := api.next(t)
		if c.path != "/v1/actions" || c.body["op"] != "send" || c.body["chat_id"] != "chan-1" || c.body["reply_to"] != "msg-discord:m1/0" {
			t.Fatalf("first call %+v, want a send replying to the message", c)
		}
		msgID := "" // the fake answered m<N>; the edits must name it
		var last string
		for i := range 4 {
			e := api.next(t)
			if e.body["op"] != "edit" || e.body["chat_id"] != "chan-1" {
				t.Fatalf("call %d: %+v, want an edit", i+2, e)
			}
			if msgID == "" {
				msgID, _ = e.body["message_id"].(string)
			} else if e.body["message_id"] != msgID {
				t.Fatalf("edit %d names %v, earlier ones %s", i, e.body["message_id"], msgID)
			}
			content, _ := e.body["content"].(string)
			if len(content) <= len(strings.TrimSuffix(last, " …")) {
				t.Errorf("edit %d does not grow the message: %q after %q", i, content, last)
			}
			last = content
		}
		if !strings.HasPrefix(msgID, "m") || strings.HasSuffix(last, "…") || !strings.Contains(last, `"hello there"`) {
			t.Errorf("message %s, final content %q", msgID, last)
		}
	})

	t.Run("a redelivered event is not answered twice", func(t *testing.T) {
		post(t, url, chatEvent("discord:m1/0", "hello there"))
		post(t, url, chatEvent("discord:m2/0", "second"))
		if c := api.next(t); c.body["op"] != "send" || c.body["reply_to"] != "msg-discord:m2/0" {
			t.Fatalf("first call after a redelivery %+v, want the send for the new event", c)
		}
		for range 4 {
			api.next(t)
		}
	})

	t.Run("asks for approval, then acts on the button", func(t *testing.T) {
		post(t, url, chatEvent("discord:m3/0", "/deploy web"))
		c := api.next(t)
		opts, _ := c.body["options"].([]any)
		promptID, _ := c.body["prompt_id"].(string)
		if c.body["op"] != "prompt" || c.body["chat_id"] != "chan-1" || len(opts) != 2 || !strings.HasPrefix(promptID, "deploy.") ||
			opts[0].(map[string]any)["id"] != "approve" || opts[1].(map[string]any)["id"] != "deny" {
			t.Fatalf("call %+v, want a prompt with approve/deny", c)
		}
		press := chatEvent("discord:i9/0", "/approve")
		press["message_type"] = "command"
		press["prompt_response"] = map[string]any{"prompt_id": promptID, "option_id": "approve"}
		press["egress_kind"] = "discord.interaction_token"
		post(t, url, press)
		r := api.next(t)
		if r.path != "/v1/reply" || r.body["event_id"] != "discord:i9/0" || !strings.Contains(r.body["content"].(string), `Approved by Ada: running "deploy web"`) {
			t.Fatalf("call %+v, want a reply approving the deploy", r)
		}
	})

	t.Run("a chat that cannot edit gets one reply", func(t *testing.T) {
		ev := chatEvent("discord:i4/0", "/ask something")
		ev["egress_kind"] = "discord.interaction_token"
		post(t, url, ev)
		r := api.next(t)
		if r.path != "/v1/reply" || r.body["event_id"] != "discord:i4/0" {
			t.Fatalf("call %+v, want one reply", r)
		}
	})
}

func TestAgentStopsOnInterrupt(t *testing.T) {
	api := newFakeAPI(t)
	url := startAgent(t, api.srv.URL, time.Hour) // it would wait an hour between edits
	post(t, url, chatEvent("discord:m1/0", "a long question"))
	if c := api.next(t); c.body["op"] != "send" {
		t.Fatalf("call %+v", c)
	}
	post(t, url, map[string]any{"type": "interrupt", "session_key": "agent:main:discord:group:chan-1:u1", "reason": "stop"})
	c := api.next(t)
	if c.body["op"] != "edit" || !strings.HasSuffix(c.body["content"].(string), "(stopped)") {
		t.Fatalf("call %+v, want an edit marking the answer stopped", c)
	}
}

func TestFlags(t *testing.T) {
	env := func(string) string { return "" }
	if _, _, err := parseFlags(nil, env, io.Discard); err == nil || !strings.Contains(err.Error(), "RELAY_AGENT_API_TOKEN") {
		t.Errorf("no token: err %v", err)
	}
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte(" from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, tok, err := parseFlags([]string{"-token-file", file, "-api", "http://h:1"}, env, io.Discard)
	if err != nil || tok != "from-file" || c.api != "http://h:1" {
		t.Errorf("got %+v %q %v", c, tok, err)
	}
}
