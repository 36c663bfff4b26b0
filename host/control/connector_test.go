package control

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"testing"
	"time"
)

// testTimeout bounds every wait in these tests; a healthy exchange takes
// milliseconds of it.
const testTimeout = 30 * time.Second

// hangTimeout is the Client.Timeout of the tests that make the server
// hang: short, since the test waits for it to run out, and long enough
// that a loaded machine still completes a healthy exchange well inside it.
const hangTimeout = 300 * time.Millisecond

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// recorded is one request the fake connector saw.
type recorded struct {
	method, path string
	header       http.Header
	body         []byte
}

// keys returns the top-level keys of the body, sorted.
func (r recorded) keys(t *testing.T) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("request body %q is not a JSON object: %v", r.body, err)
	}
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// reply is one scripted answer.
type reply struct {
	status   int
	body     string
	header   map[string]string
	hang     bool // block until the client goes away
	platform string
}

// fakeConnector is a loopback HTTP server that records every request and
// answers from a script: by platform for provision (reply.platform), else
// in order (the last reply repeats).
type fakeConnector struct {
	*httptest.Server
	mu       sync.Mutex
	requests []recorded
	replies  []reply
}

func newFakeConnector(t *testing.T, replies ...reply) *fakeConnector {
	t.Helper()
	f := &fakeConnector{replies: replies}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeConnector) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	n := len(f.requests)
	f.requests = append(f.requests, recorded{method: r.Method, path: r.URL.Path, header: r.Header.Clone(), body: body})
	rep := reply{status: 500, body: `{"error":"no scripted reply"}`}
	var platform struct {
		Platform string `json:"platform"`
	}
	_ = json.Unmarshal(body, &platform)
	matched := false
	for _, c := range f.replies {
		if c.platform != "" && c.platform == platform.Platform {
			rep, matched = c, true
			break
		}
	}
	if !matched && len(f.replies) > 0 {
		rep = f.replies[min(n, len(f.replies)-1)]
	}
	f.mu.Unlock()
	if rep.hang {
		<-r.Context().Done()
		return
	}
	for k, v := range rep.header {
		w.Header().Set(k, v)
	}
	if rep.status == 0 {
		rep.status = 200
	}
	w.WriteHeader(rep.status)
	io.WriteString(w, rep.body)
}

// seen returns the requests so far.
func (f *fakeConnector) seen() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.requests...)
}

// staticToken is a TokenSource with a fixed token that counts its calls.
type staticToken struct {
	mu    sync.Mutex
	token string
	err   error
	calls int
}

func (s *staticToken) Token(context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	return s.token, s.err
}

// callerToken is the caller identity token the tests use.
const callerToken = "caller-identity-token-9f8e"

// testSecret is the connector secret the fake hands out; no error text may
// contain it.
const testSecret = "s3cr3t-0123456789abcdef0123456789abcdef"

// newTestClient returns a Client for f with a static caller token.
func newTestClient(t *testing.T, f *fakeConnector) (*Client, *staticToken) {
	t.Helper()
	tok := &staticToken{token: callerToken}
	c, err := NewClient(f.URL+"/", tok, "relay-host/test")
	if err != nil {
		t.Fatal(err)
	}
	return c, tok
}
