package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relayhost/relay-host/host/relay"
	"github.com/relayhost/relay-host/host/relay/relaytest"
)

// bearers records the media bearers a connector route saw, and tells
// whether each was the gateway's upgrade token.
type bearers struct {
	mu   sync.Mutex
	seen []string
}

// check answers whether the request carries a valid upgrade token.
func (b *bearers) check(r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	b.mu.Lock()
	b.seen = append(b.seen, tok)
	b.mu.Unlock()
	payload, valid := relay.VerifyToken(tok, []string{testSecret}, time.Now())
	return ok && valid && payload == testGatewayID
}

// TestAgentAPIMediaBothWays uploads a file through the agent API and sends
// it, downloads a connector-hosted file, and checks the refusals: a URL
// that is not the connector's media plane (no open proxy), and files over
// 25 MiB, declared (413) or streamed (the transfer is cut).
func TestAgentAPIMediaBothWays(t *testing.T) {
	t.Parallel()
	r := startAPIRig(t, rigOptions{})
	const over = 26 << 20
	var b bearers
	r.srv.HandleFunc("GET /relay/media/huge-declared", func(w http.ResponseWriter, req *http.Request) {
		if !b.check(req) {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(over))
		_, _ = w.Write(make([]byte, over))
	})
	r.srv.HandleFunc("GET /relay/media/huge-streamed", func(w http.ResponseWriter, req *http.Request) {
		if !b.check(req) {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "video/mp4")
		chunk := make([]byte, 1<<20)
		for range over >> 20 {
			if _, err := w.Write(chunk); err != nil {
				return
			}
			_ = http.NewResponseController(w).Flush()
		}
	})

	// Upload, then send it.
	png := make([]byte, 300<<10)
	_, _ = rand.Read(png)
	status, up, _ := r.do(http.MethodPost, "/v1/media", "", png, map[string]string{"Content-Type": "image/png", "X-Media-Filename": "chart.png"})
	id, _ := up["id"].(string)
	if status != 200 || up["size"] != float64(len(png)) || up["url"] != r.srv.MediaURL(id) {
		t.Fatalf("upload = %d %v", status, up)
	}
	if ct, name, data, ok := r.srv.Media(id); !ok || ct != "image/png" || name != "chart.png" || !bytes.Equal(data, png) {
		t.Fatalf("the connector holds %q %q %d bytes (%v)", ct, name, len(data), ok)
	}
	body, _ := json.Marshal(map[string]any{"op": "send_media", "chat_id": "chat-m", "media_kind": "image", "source_url": up["url"], "content": "This week"})
	if status, m := r.post("/v1/actions", string(body)); status != 200 || m["success"] != true {
		t.Fatalf("send_media of the upload = %d %v", status, m)
	}
	if o, _ := r.waitOutbound(0, "send_media", func(o relaytest.OutboundFrame) bool { return o.Op() == "send_media" }); o.Action["source_url"] != up["url"] {
		t.Fatalf("send_media frame = %+v", o)
	}

	// Download a file the connector hosts.
	pdf := []byte("%PDF-1.7 a report")
	hosted, err := r.srv.PutMedia("application/pdf", "report.pdf", pdf)
	if err != nil {
		t.Fatal(err)
	}
	get := func(raw string) (int, []byte, http.Header, error) {
		req, _ := http.NewRequestWithContext(testCtx(t), http.MethodGet, r.api+"/v1/media?url="+url.QueryEscape(raw), nil)
		req.Header.Set("Authorization", "Bearer "+r.token)
		resp, err := r.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		r.mu.Lock()
		if !strings.HasPrefix(resp.Header.Get("Content-Type"), "video/") && !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/pdf") {
			r.answers = append(r.answers, string(data))
		}
		r.mu.Unlock()
		return resp.StatusCode, data, resp.Header, err
	}
	status, data, h, err := get(r.srv.MediaURL(hosted))
	if err != nil || status != 200 || !bytes.Equal(data, pdf) || h.Get("Content-Type") != "application/pdf" {
		t.Fatalf("download = %d %q %v (%v)", status, data, h, err)
	}
	if status, _, _, _ := get(r.srv.MediaURL("expired-or-never")); status != http.StatusNotFound {
		t.Errorf("download of an unknown file = %d, want 404", status)
	}

	// Not connector-hosted: 400, and nothing fetched.
	for _, raw := range []string{
		"https://cdn.example.com/relay/media/" + hosted,
		r.srv.URL() + "/elsewhere/" + hosted,
		r.srv.URL() + "/relay/media/../relay",
		strings.Replace(r.srv.URL(), "127.0.0.1", "localhost", 1) + "/relay/media/" + hosted,
	} {
		if status, data, _, _ := get(raw); status != http.StatusBadRequest || !strings.Contains(string(data), "not a connector-hosted media URL") {
			t.Errorf("download of %s = %d %s, want 400", raw, status, data)
		}
	}

	// Over 25 MiB: refused when declared, cut when streamed.
	if status, data, _, _ := get(r.srv.URL() + "/relay/media/huge-declared"); status != http.StatusRequestEntityTooLarge {
		t.Errorf("a declared 26 MiB file = %d %.100s, want 413", status, data)
	}
	status, data, _, err = get(r.srv.URL() + "/relay/media/huge-streamed")
	if status != 200 || err == nil || len(data) > 25<<20 {
		t.Errorf("a streamed 26 MiB file = %d, %d bytes, error %v; want the transfer cut at 25 MiB", status, len(data), err)
	}
	if status, m, _ := r.do(http.MethodPost, "/v1/media", "", make([]byte, 25<<20+1), map[string]string{"Content-Type": "video/mp4"}); status != http.StatusRequestEntityTooLarge {
		t.Errorf("an upload over 25 MiB = %d %v, want 413", status, m)
	}
	b.mu.Lock()
	seen := append([]string(nil), b.seen...)
	b.mu.Unlock()
	if len(seen) < 2 {
		t.Fatalf("the connector saw %d media requests with a bearer, want the two large ones", len(seen))
	}
	log := r.p.stderr.String()
	r.mu.Lock()
	answers := strings.Join(r.answers, "\n")
	r.mu.Unlock()
	for _, tok := range seen {
		if tok != "" && (strings.Contains(log, tok) || strings.Contains(answers, tok)) {
			t.Error("a media bearer appears in the log or an answer")
		}
	}
}
