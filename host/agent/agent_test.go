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

	"github.com/relayhost/relay-host/host/agentapi"
	"github.com/relayhost/relay-host/pluginapi"
)

var event = Event{MessageEvent: pluginapi.MessageEvent{Text: "hi", MessageType: pluginapi.MessageTypeText,
	Source: pluginapi.SessionSource{Platform: "discord", ChatID: "c", ChatType: "dm"}, SessionKey: "agent:main:discord:dm:c"},
	EventID: "pbuf-1/0", Destination: &agentapi.Destination{MaxMessageLength: 2000, LenUnit: "chars", MarkdownDialect: "discord",
		SupportsEdit: true, SupportedOps: []string{"send", "edit"}}}

func TestEcho(t *testing.T) {
	if r, err := (Echo{}).Deliver(context.Background(), event); err != nil || r.Reply != "echo: hi" || r.Actions != nil {
		t.Errorf("Echo = %+v, %v", r, err)
	}
	if r, _ := (Echo{}).Deliver(context.Background(), Event{}); r.Reply != "" {
		t.Errorf("Echo of empty text = %q, want no reply", r.Reply)
	}
}

func TestEventJSONFormAddsEventIDAndDestination(t *testing.T) {
	b, err := json.Marshal(event)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	dst, _ := m["destination"].(map[string]any)
	if m["event_id"] != "pbuf-1/0" || m["text"] != "hi" || m["session_key"] != event.SessionKey || dst == nil ||
		dst["max_message_length"] != 2000.0 || dst["len_unit"] != "chars" || dst["markdown_dialect"] != "discord" ||
		dst["supports_edit"] != true || dst["supports_threads"] != false || len(dst["supported_ops"].([]any)) != 2 {
		t.Fatalf("event JSON = %s", b)
	}
	if src, _ := m["source"].(map[string]any); src["chat_id"] != "c" {
		t.Fatalf("the MessageEvent fields are not at the top level: %s", b)
	}
	b, _ = json.Marshal(Event{EventID: "x/0"})
	if strings.Contains(string(b), "destination") {
		t.Errorf("an event without a destination carries one: %s", b)
	}
}

func TestStdoutWritesOneJSONLinePerEvent(t *testing.T) {
	var buf bytes.Buffer
	s := NewStdout(&buf)
	for i := 0; i < 2; i++ {
		if r, err := s.Deliver(context.Background(), event); err != nil || r.Reply != "" || r.Actions != nil {
			t.Fatalf("Stdout = %+v, %v", r, err)
		}
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2:\n%s", len(lines), buf.String())
	}
	var got Event
	if err := json.Unmarshal([]byte(lines[0]), &got); err != nil || got.Text != "hi" || got.SessionKey != event.SessionKey ||
		got.EventID != event.EventID || got.Destination == nil || got.Destination.MaxMessageLength != 2000 {
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
		{"reply and actions", []int{200}, `{"reply":"r","actions":[{"op":"typing","chat_id":"c"}]}`, "r", "", 1},
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
				var ev Event
				if err := json.Unmarshal(data, &ev); err != nil || ev.Text != "hi" || ev.EventID != "pbuf-1/0" ||
					ev.Destination == nil || r.Header.Get("Content-Type") != "application/json" {
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
			answer, err := wh.Deliver(context.Background(), event)
			reply := answer.Reply
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

func TestDecodeAnswer(t *testing.T) {
	tests := []struct {
		name, body string
		reply      string
		actions    []string
	}{
		{"empty", ``, "", nil},
		{"reply only", `{"reply":"hi"}`, "hi", nil},
		{"actions only, in order", `{"actions":[{"op":"send","chat_id":"c","content":"a"}, {"op":"edit"}]}`, "",
			[]string{`{"op":"send","chat_id":"c","content":"a"}`, `{"op":"edit"}`}},
		{"both", `{"reply":"r","actions":[{"op":"typing","chat_id":"c"}]}`, "r", []string{`{"op":"typing","chat_id":"c"}`}},
		{"null actions", `{"reply":"r","actions":null}`, "r", nil},
		{"empty list", `{"actions":[]}`, "", []string{}},
		{"a lone action object is a list of one", `{"actions":{"op":"typing","chat_id":"c"}}`, "", []string{`{"op":"typing","chat_id":"c"}`}},
		{"a string in place of the list is one action the API refuses", `{"actions":"send"}`, "", []string{`"send"`}},
		{"reply not a string: no reply, actions kept", `{"reply":42,"actions":[{"op":"typing","chat_id":"c"}]}`, "", []string{`{"op":"typing","chat_id":"c"}`}},
		{"not JSON", `ok`, "", nil},
		{"not an object", `["reply"]`, "", nil},
		{"unknown keys ignored", `{"reply":"r","mood":"fine"}`, "r", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := decodeAnswer([]byte(tt.body))
			if a.Reply != tt.reply || len(a.Actions) != len(tt.actions) || (tt.actions == nil) != (a.Actions == nil) {
				t.Fatalf("decodeAnswer(%s) = %q, %d actions; want %q, %d", tt.body, a.Reply, len(a.Actions), tt.reply, len(tt.actions))
			}
			for i, want := range tt.actions {
				if string(a.Actions[i]) != want {
					t.Errorf("action %d = %s, want %s", i, a.Actions[i], want)
				}
			}
		})
	}
}

// FuzzDecodeAnswer checks that any body decodes without panicking into a
// reply and actions that are each valid JSON (what the agent API is given).
func FuzzDecodeAnswer(f *testing.F) {
	for _, s := range []string{``, `{"reply":"hi"}`, `{"actions":[{"op":"send"}]}`, `{"actions":{"op":"x"}}`, `{"actions":"x"}`,
		`{"reply":"r","actions":[1,"two",null,{"op":"edit"}]}`, `{"actions":[`, `{"reply":"\ud800"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		a := decodeAnswer(body)
		for i, raw := range a.Actions {
			if !json.Valid(raw) {
				t.Fatalf("action %d of %q is not valid JSON: %q", i, body, raw)
			}
		}
		if a.Reply != "" && !json.Valid(body) {
			t.Fatalf("a reply %q from a body that is not JSON: %q", a.Reply, body)
		}
	})
}

func TestWebhookInterruptNotice(t *testing.T) {
	got := make(chan map[string]any, 1)
	status := make(chan int, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil || r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("notice: %v %s %s", err, r.Method, r.Header.Get("Content-Type"))
		}
		got <- m
		w.WriteHeader(<-status)
	}))
	defer srv.Close()
	wh, _ := NewWebhook(srv.URL, "relay-host/test")
	var _ Interrupter = wh
	status <- 204
	if err := wh.Interrupt(context.Background(), "agent:main:discord:dm:c", "c"); err != nil {
		t.Fatal(err)
	}
	m := <-got
	if m["type"] != "interrupt" || m["session_key"] != "agent:main:discord:dm:c" || m["chat_id"] != "c" || m["reason"] != InterruptReason {
		t.Fatalf("notice = %v", m)
	}
	status <- 500
	if err := wh.Interrupt(context.Background(), "k", ""); err == nil || !strings.Contains(err.Error(), "500") {
		t.Fatalf("a 500 answer = %v, want an error naming it", err)
	}
	<-got
	if _, isIR := any(Echo{}).(Interrupter); isIR {
		t.Error("the echo agent claims to take interrupt notices")
	}
}
