package agentapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

const testMediaMax = 4096

// fakeConnector is the connector's media plane on loopback: it checks the
// bearer and User-Agent of every request and records uploads.
type fakeConnector struct {
	srv     *httptest.Server
	minted  atomic.Int64 // bearers handed out
	mu      sync.Mutex
	uploads []upload
	bearers []string
}

type upload struct {
	contentType, filename, userAgent string
	body                             []byte
}

func (c *fakeConnector) bearer() string { return fmt.Sprintf("bearer-%d", c.minted.Add(1)) }

func newFakeConnector(t *testing.T, basePath string) *fakeConnector {
	t.Helper()
	c := &fakeConnector{}
	mux := http.NewServeMux()
	mux.HandleFunc(basePath+"/relay/media/", func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		c.bearers = append(c.bearers, r.Header.Get("Authorization"))
		c.mu.Unlock()
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer bearer-") || r.Header.Get("User-Agent") != "relay-host/test" {
			http.Error(w, "unauthorised", http.StatusUnauthorized)
			return
		}
		id := strings.TrimPrefix(r.URL.Path, basePath+"/relay/media/")
		switch id {
		case "redirect":
			http.Redirect(w, r, "http://elsewhere.example/x", http.StatusFound)
		case "huge":
			w.Header().Set("Content-Length", fmt.Sprint(testMediaMax+1))
			w.WriteHeader(200)
		case "stream":
			w.Header().Set("Content-Type", "application/octet-stream")
			w.WriteHeader(200)
			for range 3 { // chunked, no length: 3 × max/2 bytes
				_, _ = w.Write(bytes.Repeat([]byte("z"), testMediaMax/2))
				w.(http.Flusher).Flush()
			}
		case "broken":
			w.WriteHeader(500)
		case "missing":
			http.NotFound(w, r)
		default:
			w.Header().Set("Content-Type", "image/png")
			w.Header().Set("Content-Disposition", `inline; filename="`+id+`.png"`)
			_, _ = io.WriteString(w, "PNG:"+id)
		}
	})
	mux.HandleFunc("POST "+basePath+"/relay/media", func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer bearer-") {
			http.Error(w, "unauthorised", http.StatusUnauthorized)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		switch string(body) {
		case "too big for the connector":
			http.Error(w, "too large", http.StatusRequestEntityTooLarge)
			return
		case "connector fails":
			http.Error(w, "oops", 500)
			return
		}
		c.mu.Lock()
		c.uploads = append(c.uploads, upload{r.Header.Get("Content-Type"), r.Header.Get("X-Media-Filename"), r.Header.Get("User-Agent"), body})
		n := len(c.uploads)
		c.mu.Unlock()
		_ = json.NewEncoder(w).Encode(map[string]any{"id": fmt.Sprintf("up %d", n), "size": len(body)})
	})
	mux.HandleFunc("/relay/enroll", func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("the media proxy reached %s", r.URL.Path)
	})
	c.srv = httptest.NewServer(mux)
	t.Cleanup(c.srv.Close)
	return c
}

// mediaService is a Service whose media plane is the fake connector at
// base path basePath, behind an HTTP server.
func mediaService(t *testing.T, basePath string) (*fakeConnector, *httptest.Server, string) {
	t.Helper()
	conn := newFakeConnector(t, basePath)
	s := newService(t, newFakeLink(discordDesc()), func(c *Config) {
		c.ConnectorBase = conn.srv.URL + basePath + "/"
		c.Bearer = conn.bearer
		c.UserAgent = "relay-host/test"
	})
	s.media.max = testMediaMax
	return conn, apiServer(t, s, testToken), conn.srv.URL + basePath
}

func TestMediaDownload(t *testing.T) {
	conn, srv, base := mediaService(t, "")
	get := func(u string) (*http.Response, []byte, error) {
		req, _ := http.NewRequest("GET", srv.URL+"/v1/media?url="+url.QueryEscape(u), nil)
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := srv.Client().Do(req)
		if err != nil {
			return nil, nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp, b, err
	}
	t.Run("a connector-hosted file is streamed with the bearer", func(t *testing.T) {
		resp, body, err := get(base + "/relay/media/abc")
		if err != nil || resp.StatusCode != 200 || string(body) != "PNG:abc" {
			t.Fatalf("status %v body %q err %v", resp.StatusCode, body, err)
		}
		if resp.Header.Get("Content-Type") != "image/png" || resp.Header.Get("Content-Disposition") != `inline; filename="abc.png"` {
			t.Errorf("headers %v", resp.Header)
		}
		// Each fetch mints a fresh bearer.
		if _, _, err := get(base + "/relay/media/def"); err != nil {
			t.Fatal(err)
		}
		conn.mu.Lock()
		defer conn.mu.Unlock()
		if len(conn.bearers) != 2 || conn.bearers[0] == conn.bearers[1] {
			t.Errorf("bearers %v: want a fresh one per request", conn.bearers)
		}
	})
	t.Run("the default port matches an explicit one", func(t *testing.T) {
		p := newFakeConnector(t, "")
		s := newService(t, newFakeLink(discordDesc()), func(c *Config) {
			c.ConnectorBase = "https://connector.example"
			c.Bearer = p.bearer
		})
		if _, ok := s.media.hosted("https://connector.example:443/relay/media/x"); !ok {
			t.Error(":443 refused for an https base without a port")
		}
		if _, ok := s.media.hosted("http://connector.example/relay/media/x"); ok {
			t.Error("http accepted for an https base")
		}
	})
	tests := []struct {
		name   string
		url    string
		status int
		errHas string
	}{
		{"missing url", "", 400, "url is required"},
		{"another host", "http://example.com/relay/media/abc", 400, "not a connector-hosted media URL"},
		{"another host name for the same server", strings.Replace(base, "127.0.0.1", "localhost", 1) + "/relay/media/abc", 400, ""},
		{"another port", strings.Replace(base, "127.0.0.1:", "127.0.0.1:1", 1) + "/relay/media/abc", 400, ""},
		{"another scheme", strings.Replace(base, "http://", "https://", 1) + "/relay/media/abc", 400, ""},
		{"the connector's other paths", base + "/relay/enroll", 400, ""},
		{"the media root itself", base + "/relay/media/", 400, ""},
		{"dot segments", base + "/relay/media/../enroll", 400, ""},
		{"escaped dot segments", base + "/relay/media/%2e%2e/enroll", 400, ""},
		{"escaped slashes and dots", base + "/relay/media/a%2F..%2F..%2Fenroll", 400, ""},
		{"user info", strings.Replace(base, "http://", "http://user:pw@", 1) + "/relay/media/abc", 400, ""},
		{"not absolute", "/relay/media/abc", 400, ""},
		{"not a URL", "http://[::1", 400, ""},
		{"redirects are not followed", base + "/relay/media/redirect", 502, "redirects are not followed"},
		{"expired re-host", base + "/relay/media/missing", 404, "expire"},
		{"connector error", base + "/relay/media/broken", 502, "answered 500"},
		{"declared over the cap", base + "/relay/media/huge", 413, "over the 4096-byte cap"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body, err := get(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			var answer map[string]any
			if err := json.Unmarshal(body, &answer); err != nil || answer["success"] != false {
				t.Fatalf("answer %q", body)
			}
			if tc.errHas != "" && !errContains(answer, tc.errHas) {
				t.Errorf("error %q, want %q in it", answer["error"], tc.errHas)
			}
		})
	}
	t.Run("a transfer over the cap is cut", func(t *testing.T) {
		resp, body, err := get(base + "/relay/media/stream")
		if err == nil {
			t.Fatalf("status %d, %d bytes, no error: want the transfer cut", resp.StatusCode, len(body))
		}
	})
}

func TestMediaUnderABasePath(t *testing.T) {
	_, srv, base := mediaService(t, "/tenant")
	for u, want := range map[string]int{
		base + "/relay/media/abc":                                200,
		strings.TrimSuffix(base, "/tenant") + "/relay/media/abc": 400,
	} {
		req, _ := http.NewRequest("GET", srv.URL+"/v1/media?url="+url.QueryEscape(u), nil)
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s: status %d, want %d: %s", u, resp.StatusCode, want, body)
		}
	}
}

func TestMediaUpload(t *testing.T) {
	conn, srv, base := mediaService(t, "")
	post := func(body io.Reader, header map[string]string) (*http.Response, map[string]any) {
		req, _ := http.NewRequest("POST", srv.URL+"/v1/media", body)
		req.Header.Set("Authorization", "Bearer "+testToken)
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var answer map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil {
			t.Fatalf("answer not JSON: %v", err)
		}
		return resp, answer
	}
	t.Run("the body is streamed to the connector", func(t *testing.T) {
		resp, answer := post(strings.NewReader("GIF89a…"), map[string]string{"Content-Type": "image/gif", "X-Media-Filename": "cat.gif"})
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %v", resp.StatusCode, answer)
		}
		if answer["id"] != "up 1" || answer["size"] != float64(len("GIF89a…")) || answer["url"] != base+"/relay/media/up%201" {
			t.Errorf("answer %v", answer)
		}
		conn.mu.Lock()
		defer conn.mu.Unlock()
		u := conn.uploads[0]
		if u.contentType != "image/gif" || u.filename != "cat.gif" || u.userAgent != "relay-host/test" || string(u.body) != "GIF89a…" {
			t.Errorf("upload %+v", u)
		}
	})
	t.Run("no content type: octet-stream", func(t *testing.T) {
		if resp, answer := post(io.MultiReader(strings.NewReader("raw")), nil); resp.StatusCode != 200 {
			t.Fatalf("status %d: %v", resp.StatusCode, answer)
		}
		conn.mu.Lock()
		defer conn.mu.Unlock()
		if got := conn.uploads[len(conn.uploads)-1].contentType; got != "application/octet-stream" {
			t.Errorf("content type %q", got)
		}
	})
	tests := []struct {
		name   string
		body   io.Reader
		header map[string]string
		status int
		errHas string
	}{
		{"over the cap, length known", bytes.NewReader(make([]byte, testMediaMax+1)), nil, 413, "over the 4096-byte media cap"},
		{"over the cap, chunked", io.MultiReader(bytes.NewReader(make([]byte, testMediaMax+1))), nil, 413, "over the 4096-byte media cap"},
		{"empty body", strings.NewReader(""), nil, 400, "body is empty"},
		{"file name of 256 characters", strings.NewReader("x"), map[string]string{"X-Media-Filename": strings.Repeat("é", 256)}, 400, "at most 255 characters, got 256"},
		{"the connector refuses the size", strings.NewReader("too big for the connector"), nil, 413, "too large"},
		{"the connector fails", strings.NewReader("connector fails"), nil, 502, "answered 500"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, answer := post(tc.body, tc.header)
			if resp.StatusCode != tc.status || !errContains(answer, tc.errHas) {
				t.Fatalf("status %d answer %v, want %d with %q", resp.StatusCode, answer, tc.status, tc.errHas)
			}
		})
	}
	t.Run("a file name of 255 characters is fine", func(t *testing.T) {
		if resp, answer := post(strings.NewReader("x"), map[string]string{"X-Media-Filename": strings.Repeat("é", 255)}); resp.StatusCode != 200 {
			t.Fatalf("status %d: %v", resp.StatusCode, answer)
		}
	})
}
