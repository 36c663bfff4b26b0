package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relayhost/relay-host/pluginapi"
)

// fakeGitHub is GitHub's REST API on loopback: it records each comment
// posted and answers with status (201 by default).
type fakeGitHub struct {
	*httptest.Server
	mu       sync.Mutex
	comments []postedComment
	status   int
	hold     chan struct{} // when set, requests wait for it
}

type postedComment struct {
	Path, Auth, Accept, APIVersion, Body string
}

func newFakeGitHub(t *testing.T) *fakeGitHub {
	t.Helper()
	g := &fakeGitHub{status: http.StatusCreated}
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		status, hold := g.status, g.hold
		g.mu.Unlock()
		if hold != nil {
			select {
			case <-hold:
			case <-r.Context().Done():
				return
			}
		}
		var body struct {
			Body string `json:"body"`
		}
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &body)
		if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/comments") {
			http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
			return
		}
		g.mu.Lock()
		g.comments = append(g.comments, postedComment{r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("Accept"), r.Header.Get("X-GitHub-Api-Version"), body.Body})
		n := len(g.comments)
		g.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		if status == http.StatusCreated {
			_ = json.NewEncoder(w).Encode(map[string]any{"id": 1000 + n, "html_url": "https://github.com/x#issuecomment-" + string(rune('0'+n))})
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"message": "Server Error\nwith detail"})
	}))
	t.Cleanup(g.Close)
	return g
}

func (g *fakeGitHub) posted() []postedComment {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]postedComment(nil), g.comments...)
}

func TestEgressPostsComments(t *testing.T) {
	gh := newFakeGitHub(t)
	h := configured(t, map[string]any{"repos": []string{"Codertocat/Hello-World"}, "api_base_url": gh.URL + "/api/v3/"}, nil)
	ctx := context.Background()

	// The reply to a converted event: a follow_up naming its session.
	comment := sample(t, "issue_comment-created.json")
	res, err := h.Forward(ctx, delivery("issue_comment", comment, sign(testSecret, comment)))
	if err != nil || len(res.Events) != 1 {
		t.Fatalf("convert: %+v %v", res, err)
	}
	ev := res.Events[0]
	ar := h.Action(ctx, platform, "relay-bot", map[string]any{"op": "follow_up", "session_key": ev.SessionKey, "kind": ev.EgressKind, "content": "echo: fixed"})
	if !ar.Success || ar.MessageID != "1001" || ar.Extra["url"] == nil {
		t.Fatalf("follow_up: %+v", ar)
	}
	// A send to the chat.
	if ar := h.Action(ctx, platform, "", map[string]any{"op": "send", "chat_id": ev.Source.ChatID, "content": "second"}); !ar.Success || ar.MessageID != "1002" {
		t.Fatalf("send: %+v", ar)
	}
	got := gh.posted()
	want := postedComment{"/api/v3/repos/Codertocat/Hello-World/issues/1/comments", "Bearer ghp_test", "application/vnd.github+json", "2022-11-28", "echo: fixed"}
	if len(got) != 2 || got[0] != want || got[1].Body != "second" {
		t.Fatalf("GitHub got %+v, want first %+v", got, want)
	}
	// Typing is answered without a call.
	if ar := h.Action(ctx, platform, "", map[string]any{"op": "typing", "chat_id": ev.Source.ChatID}); !ar.Success || len(gh.posted()) != 2 {
		t.Errorf("typing: %+v", ar)
	}
}

func TestEgressFailures(t *testing.T) {
	gh := newFakeGitHub(t)
	h := configured(t, map[string]any{"repos": []string{"Codertocat/Hello-World"}, "api_base_url": gh.URL}, nil)
	ctx := context.Background()
	send := func(chat string) map[string]any {
		return map[string]any{"op": "send", "chat_id": chat, "content": "x"}
	}
	for name, tt := range map[string]struct {
		action map[string]any
		code   string
	}{
		"unsupported op":  {map[string]any{"op": "react", "chat_id": "Codertocat/Hello-World#1", "emoji": "+1"}, pluginapi.CodeUnsupportedOp},
		"bad chat":        {send("not-a-chat"), "bad_request"},
		"not allowlisted": {send("octo-org/other#1"), "egress_declined"},
		"empty content":   {map[string]any{"op": "send", "chat_id": "Codertocat/Hello-World#1"}, "bad_request"},
		"foreign session": {map[string]any{"op": "follow_up", "session_key": "agent:main:discord:group:c:u", "content": "x"}, "bad_request"},
	} {
		if ar := h.Action(ctx, platform, "", tt.action); ar.Success || ar.Code != tt.code {
			t.Errorf("%s: %+v, want code %s", name, ar, tt.code)
		}
	}
	gh.mu.Lock()
	gh.status = http.StatusBadGateway
	gh.mu.Unlock()
	if ar := h.Action(ctx, platform, "", send("Codertocat/Hello-World#1")); ar.Success || ar.Code != "unavailable" || !strings.Contains(ar.Error, "502") || strings.Contains(ar.Error, "\n") {
		t.Errorf("GitHub 502: %+v", ar)
	}
	gh.mu.Lock()
	gh.status = http.StatusUnauthorized
	gh.mu.Unlock()
	if ar := h.Action(ctx, platform, "", send("Codertocat/Hello-World#1")); ar.Success || ar.Code != "unauthorized" {
		t.Errorf("GitHub 401: %+v", ar)
	}
	// A GitHub that does not answer: the host's deadline ends the call.
	gh.mu.Lock()
	gh.status, gh.hold = http.StatusCreated, make(chan struct{})
	gh.mu.Unlock()
	defer close(gh.hold)
	dctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if ar := h.Action(dctx, platform, "", send("Codertocat/Hello-World#1")); ar.Success || ar.Extra["ambiguous"] != true {
		t.Errorf("hung GitHub: %+v", ar)
	}
	// Without a token nothing is posted.
	noToken := configured(t, map[string]any{"api_base_url": gh.URL}, map[string]string{"webhook_secret": testSecret})
	if ar := noToken.Action(ctx, platform, "", send("Codertocat/Hello-World#1")); ar.Success || ar.Code != "not_configured" {
		t.Errorf("no token: %+v", ar)
	}
	if err := noToken.CheckHealth(ctx); err == nil || !strings.Contains(err.Error(), "api_token") {
		t.Errorf("health without a token: %v", err)
	}
}
