package agentapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/relayhost/relay-host/host/relay"
)

const testToken = "tok-3f9a1c"

// apiServer serves s's handler on a loopback HTTP server.
func apiServer(t *testing.T, s *Service, token string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(NewHandler(s, []byte(token)))
	t.Cleanup(srv.Close)
	return srv
}

// do sends one request with the test token (auth "" sends none).
func do(t *testing.T, srv *httptest.Server, method, path, auth string, body io.Reader) (*http.Response, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var answer map[string]any
	if err := json.Unmarshal(raw, &answer); err != nil {
		t.Fatalf("%s %s: answer is not a JSON object: %q", method, path, raw)
	}
	resp.Body = io.NopCloser(bytes.NewReader(raw))
	return resp, answer
}

func TestHandlerAuth(t *testing.T) {
	link := newFakeLink(discordDesc())
	s := newService(t, link)
	srv := apiServer(t, s, testToken)
	body := `{"op":"send","chat_id":"c1","content":"hi"}`
	tests := []struct {
		name   string
		auth   string
		status int
	}{
		{"no Authorization header", "", 401},
		{"wrong token", "Bearer tok-3f9a1d", 401},
		{"token prefix", "Bearer tok-3f9a", 401},
		{"token with a suffix", "Bearer " + testToken + "x", 401},
		{"another scheme", "Basic " + testToken, 401},
		{"scheme only", "Bearer", 401},
		{"right token", "Bearer " + testToken, 200},
		{"scheme in lower case", "bearer " + testToken, 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(link.sentFrames())
			resp, answer := do(t, srv, "POST", "/v1/actions", tc.auth, strings.NewReader(body))
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %v", resp.StatusCode, tc.status, answer)
			}
			if tc.status != 401 {
				return
			}
			if len(link.sentFrames()) != before {
				t.Error("an unauthorised request was sent")
			}
			if raw, _ := io.ReadAll(resp.Body); bytes.Contains(raw, []byte(testToken)) {
				t.Errorf("the 401 answer reveals the token: %s", raw)
			}
			if resp.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
	t.Run("unknown paths are 401 too without the token", func(t *testing.T) {
		if resp, _ := do(t, srv, "GET", "/v1/nope", "", nil); resp.StatusCode != 401 {
			t.Errorf("status %d", resp.StatusCode)
		}
	})
	t.Run("an empty configured token refuses even an empty bearer", func(t *testing.T) {
		h := NewHandler(s, nil)
		req := httptest.NewRequest("GET", "/v1/status", nil)
		req.Header.Set("Authorization", "Bearer ")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 401 {
			t.Errorf("status %d", rec.Code)
		}
	})
	t.Run("an empty configured token refuses everything", func(t *testing.T) {
		srv := apiServer(t, s, "")
		for _, auth := range []string{"", "Bearer ", "Bearer x"} {
			if resp, _ := do(t, srv, "GET", "/v1/status", auth, nil); resp.StatusCode != 401 {
				t.Errorf("auth %q: status %d", auth, resp.StatusCode)
			}
		}
	})
}

func TestHandlerRoutesAndLimits(t *testing.T) {
	link := newFakeLink(discordDesc())
	s := newService(t, link)
	srv := apiServer(t, s, testToken)
	auth := "Bearer " + testToken
	big := `{"op":"send","chat_id":"c1","content":"` + strings.Repeat("x", MaxRequestBytes) + `"}`
	tests := []struct {
		name   string
		method string
		path   string
		body   io.Reader
		status int
		allow  string
		errHas string
	}{
		{"send over HTTP", "POST", "/v1/actions", strings.NewReader(`{"op":"send","chat_id":"c1","content":"hi"}`), 200, "", ""},
		{"malformed action", "POST", "/v1/actions", strings.NewReader(`{"op":`), 400, "", "not valid JSON"},
		{"edit with platform and bot_id overrides", "POST", "/v1/actions", strings.NewReader(`{"op":"edit","chat_id":"c","message_id":"m","content":"x","platform":"discord","bot_id":"b"}`), 200, "", ""},
		{"reply for an unknown event", "POST", "/v1/reply", strings.NewReader(`{"event_id":"e","content":"x"}`), 404, "", "unknown event_id"},
		{"interrupt", "POST", "/v1/interrupt", strings.NewReader(`{"session_key":"k"}`), 200, "", ""},
		{"status", "GET", "/v1/status", nil, 200, "", ""},
		{"unknown path", "GET", "/v1/nope", nil, 404, "", "no such endpoint"},
		{"actions with GET", "GET", "/v1/actions", nil, 405, "POST", "takes POST"},
		{"status with POST", "POST", "/v1/status", strings.NewReader("{}"), 405, "GET", ""},
		{"media with DELETE", "DELETE", "/v1/media", nil, 405, "GET, POST", ""},
		{"body over 1 MiB, length known", "POST", "/v1/actions", strings.NewReader(big), 413, "", "over the 1048576-byte limit"},
		{"body over 1 MiB, chunked", "POST", "/v1/actions", io.MultiReader(strings.NewReader(big)), 413, "", "over the 1048576-byte limit"},
		{"body of exactly 1 MiB is read", "POST", "/v1/reply", strings.NewReader(`{"event_id":"e","content":"` + strings.Repeat("y", MaxRequestBytes-31) + `"}`), 404, "", ""},
		{"media without a connector base", "GET", "/v1/media?url=x", nil, 503, "", "not configured"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, answer := do(t, srv, tc.method, tc.path, auth, tc.body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %v", resp.StatusCode, tc.status, answer)
			}
			if got := resp.Header.Get("Allow"); got != tc.allow {
				t.Errorf("Allow %q, want %q", got, tc.allow)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if tc.errHas != "" && !errContains(answer, tc.errHas) {
				t.Errorf("error %q, want %q in it", answer["error"], tc.errHas)
			}
		})
	}
}

func TestHandlerConcurrentCallersGetTheirOwnAnswers(t *testing.T) {
	link := newFakeLink(discordDesc())
	s := newService(t, link)
	srv := apiServer(t, s, testToken)
	const n = 32
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			content := fmt.Sprintf("caller %02d", i)
			req, _ := http.NewRequest("POST", srv.URL+"/v1/actions",
				strings.NewReader(fmt.Sprintf(`{"op":"send","chat_id":"c%d","content":%q}`, i, content)))
			req.Header.Set("Authorization", "Bearer "+testToken)
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			var answer map[string]any
			if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil {
				t.Error(err)
				return
			}
			if want := fmt.Sprintf("send:c%d:%s", i, firstRunes(content, 12)); answer["message_id"] != want {
				t.Errorf("caller %d got %v, want message_id %s", i, answer, want)
			}
		}()
	}
	wg.Wait()
	if got := len(link.sentFrames()); got != n {
		t.Errorf("%d frames, want %d", got, n)
	}
}

// TestNoSecretsInLogs runs requests that succeed and fail, with a wrong
// token too, and checks the logs (at every level) never hold the token or
// the message content.
func TestNoSecretsInLogs(t *testing.T) {
	var logs bytes.Buffer
	var mu sync.Mutex
	logger := hclog.New(&hclog.LoggerOptions{Level: hclog.Trace, Output: &lockedWriter{w: &logs, mu: &mu}})
	link := newFakeLink(discordDesc())
	s := newService(t, link, func(c *Config) { c.Logger = logger; c.Reactions, c.Typing = true, true })
	srv := apiServer(t, s, testToken)
	const secret = "SECRET-MESSAGE-BODY"
	s.Remember(discordEvent("c1", secret), "e1", "app1")
	auth := "Bearer " + testToken
	do(t, srv, "POST", "/v1/actions", "Bearer wrong-"+testToken, strings.NewReader(`{}`))
	do(t, srv, "POST", "/v1/actions", auth, strings.NewReader(`{"op":"send","chat_id":"c1","content":"`+secret+`"}`))
	link.setAnswer(func(frame) relay.OutboundResult { return failWith("refused", "") })
	do(t, srv, "POST", "/v1/reply", auth, strings.NewReader(`{"event_id":"e1","content":"`+secret+`"}`))
	do(t, srv, "POST", "/v1/actions", auth, strings.NewReader(promptBody))
	s.Admit(t.Context(), answerEvent(s.prompts.nonce+".00000000", secret))
	mu.Lock()
	defer mu.Unlock()
	if logs.Len() == 0 {
		t.Fatal("nothing logged: the test checks nothing")
	}
	for _, bad := range []string{testToken, secret} {
		if strings.Contains(logs.String(), bad) {
			t.Errorf("the logs hold %q:\n%s", bad, logs.String())
		}
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
