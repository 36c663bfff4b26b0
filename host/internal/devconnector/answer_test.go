package devconnector

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relayhost/relay-host/host/internal/wire"
	"github.com/relayhost/relay-host/host/relay"
)

func TestDefaultDescriptors(t *testing.T) {
	tests := []struct {
		platform, unit, dialect string
		max                     int
		edit, threads           bool
		ops                     []string
	}{
		{"discord", "chars", "discord", 2000, true, true, FullOps()},
		{"twilio", "utf16", "plain", 1600, false, false, []string{"send", "send_media", "get_chat_info"}},
		{"telegram", "chars", "plain", wire.DefaultMaxMessageLength, true, false, FullOps()},
	}
	for _, tt := range tests {
		d := DefaultDescriptor(tt.platform)
		if d.LenUnit != tt.unit || d.MarkdownDialect != tt.dialect || d.MaxMessageLength != tt.max || d.SupportsEdit != tt.edit ||
			d.SupportsThreads != tt.threads || !slices.Equal(d.SupportedOps, tt.ops) || d.SupportsDraftStreaming {
			t.Errorf("descriptor of %s = %+v", tt.platform, d)
		}
		b, _ := json.Marshal(d)
		if _, err := wire.ParseDescriptor(b); err != nil {
			t.Errorf("descriptor of %s does not parse: %v", tt.platform, err)
		}
	}
	for _, op := range []string{"send", "edit", "typing", "follow_up", "get_chat_info", "send_media", "prompt", "react",
		"thread_create", "thread_rename", "delete"} {
		if !slices.Contains(FullOps(), op) {
			t.Errorf("the full op set lacks %s", op)
		}
	}
}

func TestAnswerEveryOp(t *testing.T) {
	s := start(t, Options{Answers: true, MessageIDPrefix: "dev-msg-"})
	hosted, err := s.PutMedia("image/png", "a.png", []byte("png"))
	if err != nil {
		t.Fatal(err)
	}
	frame := func(platform string, kv ...any) OutboundFrame {
		a := map[string]any{}
		for i := 0; i < len(kv); i += 2 {
			a[kv[i].(string)] = kv[i+1]
		}
		return OutboundFrame{Platform: platform, Action: a}
	}
	tests := []struct {
		name string
		of   OutboundFrame
		want map[string]any
	}{
		{"send", frame("discord", "op", "send", "chat_id", "c", "content", "hi"), map[string]any{"success": true, "message_id": "dev-msg-1"}},
		{"follow_up", frame("discord", "op", "follow_up", "session_key", "k", "kind", "discord.interaction_token", "content", "x"),
			map[string]any{"success": true, "message_id": "dev-msg-2"}},
		{"prompt", frame("discord", "op", "prompt", "chat_id", "c", "prompt_id", "ab.cd", "content", "?"), map[string]any{"success": true, "message_id": "dev-msg-3"}},
		{"edit keeps the message id", frame("discord", "op", "edit", "chat_id", "c", "message_id", "dev-msg-1", "content", "y"),
			map[string]any{"success": true, "message_id": "dev-msg-1"}},
		{"thread_create", frame("discord", "op", "thread_create", "chat_id", "c", "thread_name", "t"), map[string]any{"success": true, "thread_id": "dev-msg-thread-1"}},
		{"get_chat_info", frame("", "op", "get_chat_info", "chat_id", "c"), map[string]any{"success": true, "name": "c", "type": "group"}},
		{"get_chat_info of an SMS chat", frame("twilio", "op", "get_chat_info", "chat_id", "+1555"), map[string]any{"success": true, "name": "+1555", "type": "dm"}},
		{"typing", frame("discord", "op", "typing", "chat_id", "c"), map[string]any{"success": true}},
		{"react", frame("discord", "op", "react", "chat_id", "c", "message_id", "m", "emoji", "👀"), map[string]any{"success": true}},
		{"thread_rename", frame("discord", "op", "thread_rename", "chat_id", "c", "message_id", "t", "thread_name", "n"), map[string]any{"success": true}},
		{"delete", frame("discord", "op", "delete", "chat_id", "c", "message_id", "m"), map[string]any{"success": true}},
		{"send_media of a hosted file", frame("discord", "op", "send_media", "chat_id", "c", "media_kind", "image", "source_url", s.MediaURL(hosted)),
			map[string]any{"success": true, "message_id": "dev-msg-4"}},
		{"send_media of a public URL", frame("discord", "op", "send_media", "chat_id", "c", "media_kind", "image", "source_url", "https://cdn.example/a.png"),
			map[string]any{"success": true, "message_id": "dev-msg-5"}},
		{"send_media of a file it does not host", frame("discord", "op", "send_media", "chat_id", "c", "media_kind", "image", "source_url", s.MediaURL("nope")),
			map[string]any{"success": false, "error": "send_media: source_url names no file this connector hosts (expired or never uploaded)"}},
		{"send without chat_id", frame("discord", "op", "send", "content", "x"), map[string]any{"success": false, "error": "send: chat_id is required"}},
		{"an op the platform does not take", frame("twilio", "op", "edit", "chat_id", "c", "message_id", "m"),
			map[string]any{"success": false, "error": `"edit" is not supported by this connector`, "code": "unsupported_op"}},
		{"an unknown op", frame("discord", "op", "teleport"), map[string]any{"success": false, "error": `"teleport" is not supported by this connector`, "code": "unsupported_op"}},
	}
	for _, tt := range tests {
		if got := s.Answer(tt.of); fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestAnswersOverTheLink(t *testing.T) {
	s := start(t, Options{Answers: true})
	g := dial(t, s)
	g.send(`{"type":"hello","platform":"discord","botId":"1"}`)
	g.next()
	g.send(`{"type":"outbound","requestId":"r1","action":{"op":"thread_create","chat_id":"c","thread_name":"x"},"platform":"discord"}`)
	if f := g.next(); f.Result == nil || f.Result.RequestID != "r1" || f.Result.Result.Raw["thread_id"] != "m-thread-1" {
		t.Fatalf("thread_create answered %+v", f.Result)
	}
	// Without Answers, every request is a success with m-<n>.
	plain := start(t, Options{})
	g = dial(t, plain)
	g.send(`{"type":"hello","platform":"discord","botId":"1"}`)
	g.next()
	g.send(`{"type":"outbound","requestId":"r1","action":{"op":"teleport"}}`)
	if f := g.next(); !f.Result.Result.Success || f.Result.Result.MessageID != "m-1" {
		t.Fatalf("plain answer = %+v", f.Result)
	}
}

const mediaSecret = "media-secret"

func mediaRequest(t *testing.T, method, url, token string, body io.Reader, header map[string]string) (int, []byte, http.Header) {
	t.Helper()
	req, err := http.NewRequestWithContext(deadline(t), method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

func TestMediaPlane(t *testing.T) {
	var mu sync.Mutex
	var seen []MediaRequest
	s := start(t, Options{GatewayID: "gw", Secrets: []string{mediaSecret}, OnMedia: func(r MediaRequest) {
		mu.Lock()
		seen = append(seen, r)
		mu.Unlock()
	}})
	// A 64 KiB cap stands in for the 25 MiB one: the same code, without
	// pushing 25 MiB through the race detector.
	const testCap = 64 << 10
	s.media.max = testCap
	tok := relay.MakeUpgradeToken("gw", mediaSecret, time.Now())
	png := bytes.Repeat([]byte{0x89, 'P', 'N', 'G'}, 1000)
	up := s.URL() + MediaPath
	hdr := map[string]string{"Content-Type": "image/png", "X-Media-Filename": "chart.png"}

	for name, bad := range map[string]string{"no bearer": "", "wrong secret": relay.MakeUpgradeToken("gw", "other", time.Now()),
		"wrong gateway": relay.MakeUpgradeToken("gw2", mediaSecret, time.Now())} {
		if st, _, _ := mediaRequest(t, http.MethodPost, up, bad, bytes.NewReader(png), hdr); st != http.StatusUnauthorized {
			t.Errorf("upload with %s: %d, want 401", name, st)
		}
	}
	st, body, _ := mediaRequest(t, http.MethodPost, up, tok, bytes.NewReader(png), hdr)
	var got struct {
		ID   string `json:"id"`
		Size int    `json:"size"`
	}
	if err := json.Unmarshal(body, &got); st != 200 || err != nil || got.ID == "" || got.Size != len(png) {
		t.Fatalf("upload = %d %s", st, body)
	}
	if st, _, _ := mediaRequest(t, http.MethodGet, s.MediaURL(got.ID), "", nil, nil); st != http.StatusUnauthorized {
		t.Errorf("download without bearer: %d, want 401", st)
	}
	st, data, h := mediaRequest(t, http.MethodGet, s.MediaURL(got.ID), tok, nil, nil)
	if st != 200 || !bytes.Equal(data, png) || h.Get("Content-Type") != "image/png" || !strings.Contains(h.Get("Content-Disposition"), "chart.png") {
		t.Fatalf("download = %d, %d bytes, %v", st, len(data), h)
	}
	if st, _, _ := mediaRequest(t, http.MethodGet, s.MediaURL("unknown"), tok, nil, nil); st != http.StatusNotFound {
		t.Errorf("download of an unknown id: %d, want 404", st)
	}
	big := bytes.NewReader(make([]byte, testCap+1))
	if st, _, _ := mediaRequest(t, http.MethodPost, up, tok, big, hdr); st != http.StatusRequestEntityTooLarge {
		t.Errorf("upload over the cap: %d, want 413", st)
	}
	if st, _, _ := mediaRequest(t, http.MethodPost, up, tok, io.MultiReader(bytes.NewReader(make([]byte, testCap)), strings.NewReader("x")),
		map[string]string{"Transfer-Encoding": "chunked"}); st != http.StatusRequestEntityTooLarge {
		t.Errorf("chunked upload over the cap: %d, want 413", st)
	}
	long := map[string]string{"X-Media-Filename": strings.Repeat("é", MaxMediaFilename+1)}
	if st, _, _ := mediaRequest(t, http.MethodPost, up, tok, strings.NewReader("x"), long); st != http.StatusBadRequest {
		t.Errorf("a filename over %d characters: %d, want 400", MaxMediaFilename, st)
	}
	if st, _, _ := mediaRequest(t, http.MethodPost, up, tok, strings.NewReader(""), nil); st != http.StatusBadRequest {
		t.Errorf("an empty upload: %d, want 400", st)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) < 3 || !seen[3].Upload || seen[3].Status != 200 || seen[3].ID != got.ID || seen[3].Filename != "chart.png" {
		t.Fatalf("media requests reported = %+v", seen)
	}
	for _, r := range seen {
		if strings.Contains(fmt.Sprint(r), tok) {
			t.Fatal("a reported media request carries the bearer")
		}
	}
}

func TestMediaStoreIsBounded(t *testing.T) {
	m := newMediaStore()
	var ids []string
	for range MediaStoreFiles + 3 {
		ids = append(ids, m.put(mediaFile{data: []byte("x")}))
	}
	if len(m.files) != MediaStoreFiles || m.has(ids[0]) || m.has(ids[2]) || !m.has(ids[3]) || !m.has(ids[len(ids)-1]) {
		t.Fatalf("count bound: %d files kept", len(m.files))
	}
	for range 3 {
		m.put(mediaFile{data: make([]byte, MaxMediaBytes)})
	}
	if m.bytes > MediaStoreBytes || len(m.files) != 2 {
		t.Fatalf("byte bound: %d bytes in %d files, want at most %d", m.bytes, len(m.files), MediaStoreBytes)
	}
	if m.max != MaxMediaBytes {
		t.Fatalf("the store's cap is %d, want the connector's %d", m.max, MaxMediaBytes)
	}
	if _, err := (&Server{media: m}).PutMedia("x", "y", make([]byte, MaxMediaBytes+1)); err == nil {
		t.Fatal("PutMedia over the cap succeeded")
	}
}
