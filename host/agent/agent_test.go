package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/relayhost/relay-host/pluginapi"
)

var event = pluginapi.MessageEvent{Text: "hi", MessageType: pluginapi.MessageTypeText,
	Source: pluginapi.SessionSource{Platform: "discord", ChatID: "c", ChatType: "dm"}, SessionKey: "agent:main:discord:dm:c"}

func TestEcho(t *testing.T) {
	if r, err := (Echo{}).Deliver(context.Background(), event); err != nil || r != "echo: hi" {
		t.Errorf("Echo = %q, %v", r, err)
	}
	if r, _ := (Echo{}).Deliver(context.Background(), pluginapi.MessageEvent{}); r != "" {
		t.Errorf("Echo of empty text = %q, want no reply", r)
	}
}

func TestStdoutWritesOneJSONLinePerEvent(t *testing.T) {
	var buf bytes.Buffer
	s := NewStdout(&buf)
	for i := 0; i < 2; i++ {
		if r, err := s.Deliver(context.Background(), event); err != nil || r != "" {
			t.Fatalf("Stdout = %q, %v", r, err)
		}
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2:\n%s", len(lines), buf.String())
	}
	var got pluginapi.MessageEvent
	if err := json.Unmarshal([]byte(lines[0]), &got); err != nil || got.Text != "hi" || got.SessionKey != event.SessionKey {
		t.Errorf("line = %s (%v)", lines[0], err)
	}
}

func TestWebhook(t *testing.T) {
	tests := []struct {
		name      string
		answers   []int
		body      string
		wantReply string
		wantErr   string
		wantCalls int32
	}{
		{"reply", []int{200}, `{"reply":"hello"}`, "hello", "", 1},
		{"handed off without reply", []int{202}, ``, "", "", 1},
		{"non-JSON body still counts as taken", []int{200}, `ok`, "", "", 1},
		{"5xx is retried", []int{503, 502, 200}, `{"reply":"late"}`, "late", "", 3},
		{"5xx every time fails", []int{500, 500, 500, 500}, ``, "", "500", 4},
		{"4xx is not retried", []int{400}, ``, "", "refused", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := calls.Add(1)
				data, _ := io.ReadAll(r.Body)
				var ev pluginapi.MessageEvent
				if err := json.Unmarshal(data, &ev); err != nil || ev.Text != "hi" || r.Header.Get("Content-Type") != "application/json" {
					t.Errorf("agent got %s (%v)", data, err)
				}
				w.WriteHeader(tt.answers[n-1])
				io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			wh, err := NewWebhook(srv.URL, "relay-host/test")
			if err != nil {
				t.Fatal(err)
			}
			reply, err := wh.Deliver(context.Background(), event)
			if reply != tt.wantReply || (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("Deliver = %q, %v; want %q, error containing %q", reply, err, tt.wantReply, tt.wantErr)
			}
			if calls.Load() != tt.wantCalls {
				t.Errorf("agent called %d times, want %d", calls.Load(), tt.wantCalls)
			}
		})
	}
}

func TestWebhookHonoursCancellation(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }))
	defer srv.Close()
	wh, _ := NewWebhook(srv.URL, "t")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := wh.Deliver(ctx, event); err == nil {
		t.Fatal("Deliver with a cancelled context succeeded")
	}
}

func TestNewWebhookRejectsBadURL(t *testing.T) {
	for _, u := range []string{"", "localhost:8080", "ftp://x/y", "http://"} {
		if _, err := NewWebhook(u, "t"); err == nil {
			t.Errorf("NewWebhook(%q) succeeded", u)
		}
	}
}
