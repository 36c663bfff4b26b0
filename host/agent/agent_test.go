package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

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

// countingTransport counts the HTTP attempts a Webhook makes.
type countingTransport struct {
	next     http.RoundTripper
	attempts atomic.Int32
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.attempts.Add(1)
	return c.next.RoundTrip(r)
}

// TestWebhookStopsRetryingWhenCancelledMidRetry cancels the turn while its
// first attempt is being answered with a retryable 503: Deliver must end
// with context.Canceled at once, without waiting out its backoff or
// attempting again.
func TestWebhookStopsRetryingWhenCancelledMidRetry(t *testing.T) {
	// The bound on the whole test; it is not what ends Deliver.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cancel() // an interrupt arrives while the agent answers
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	wh, err := NewWebhook(srv.URL, "t")
	if err != nil {
		t.Fatal(err)
	}
	// A backoff longer than the test's bound: a Deliver that waits it out
	// instead of noticing the cancellation fails the test below.
	wh.backoff = time.Hour
	rt := &countingTransport{next: srv.Client().Transport}
	wh.client.Transport = rt
	done := make(chan error, 1)
	go func() {
		_, err := wh.Deliver(ctx, event)
		done <- err
	}()
	select {
	case err = <-done:
	case <-time.After(time.Minute):
		t.Fatal("Deliver did not return after its context was cancelled: it is waiting out the backoff")
	}
	if !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), "webhook agent: ") {
		t.Errorf("Deliver error = %v, want context.Canceled prefixed \"webhook agent: \"", err)
	}
	if n := rt.attempts.Load(); n != 1 {
		t.Errorf("%d attempts, want 1: a cancelled turn is not retried", n)
	}
}

func TestNewWebhookRejectsBadURL(t *testing.T) {
	for _, u := range []string{"", "localhost:8080", "ftp://x/y", "http://"} {
		_, err := NewWebhook(u, "t")
		var ue *URLError
		if !errors.As(err, &ue) || ue.URL != u {
			t.Errorf("NewWebhook(%q) error = %v, want a *URLError naming the URL", u, err)
			continue
		}
		if msg := err.Error(); !strings.HasPrefix(msg, "webhook agent: ") || strings.Contains(msg, "--") {
			t.Errorf("NewWebhook(%q) error = %q: want the facts prefixed \"webhook agent: \", no CLI flag", u, msg)
		}
	}
}

// failingWriter fails every write.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestStdoutWriteErrorIsPrefixed(t *testing.T) {
	_, err := NewStdout(failingWriter{}).Deliver(context.Background(), event)
	if err == nil || !strings.HasPrefix(err.Error(), "stdout agent: ") {
		t.Errorf("Deliver error = %v, want one prefixed \"stdout agent: \"", err)
	}
}
