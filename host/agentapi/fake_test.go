package agentapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relayhost/relay-host/host/internal/wire"
	"github.com/relayhost/relay-host/host/relay"
	"github.com/relayhost/relay-host/pluginapi"
)

// frame is one outbound frame the fake link received, decoded from the
// exact bytes relay.EncodeOutbound puts on the wire.
type frame struct {
	Action   map[string]any `json:"action"`
	Platform *string        `json:"platform"`
	BotID    *string        `json:"botId"`
}

func (f frame) op() string { return stringOf(f.Action["op"]) }

// fakeLink is a recording Link. By default every action succeeds with a
// message_id that echoes the op, the chat (or session) and the content, so a
// test sees which request an answer belongs to.
type fakeLink struct {
	mu         sync.Mutex
	ready      bool
	descs      map[string]relay.Descriptor
	def        string // platform of the default descriptor
	frames     []frame
	interrupts [][2]string
	// answer, when set, answers a frame instead of the default echo.
	answer func(f frame) relay.OutboundResult
	// sent receives every frame as it is recorded (buffered; never blocks).
	sent chan frame
}

func newFakeLink(descs ...relay.Descriptor) *fakeLink {
	l := &fakeLink{ready: true, descs: map[string]relay.Descriptor{}, sent: make(chan frame, 1024)}
	for i, d := range descs {
		l.descs[d.Platform] = d
		if i == 0 {
			l.def = d.Platform
		}
	}
	return l
}

func (l *fakeLink) Outbound(ctx context.Context, action any, platform, botID string) relay.OutboundResult {
	b, err := wire.EncodeOutbound("req", action, platform, botID)
	if err != nil {
		return relay.OutboundResult{Error: relay.ErrTextSendFailed + ": " + err.Error()}
	}
	var f frame
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&f); err != nil {
		panic(fmt.Sprintf("fake link: undecodable frame %s: %v", b, err))
	}
	l.mu.Lock()
	ready, answer := l.ready, l.answer
	if ready {
		l.frames = append(l.frames, f)
	}
	l.mu.Unlock()
	if !ready {
		return relay.OutboundResult{Error: relay.ErrTextNotConnected}
	}
	l.sent <- f
	if answer != nil {
		return answer(f)
	}
	return echo(f)
}

// echo is the default answer: success, with a message id naming the
// request.
func echo(f frame) relay.OutboundResult {
	id := fmt.Sprintf("%s:%s%s:%s", f.op(), stringOf(f.Action["chat_id"]), stringOf(f.Action["session_key"]),
		firstRunes(stringOf(f.Action["content"])+stringOf(f.Action["emoji"]), 12))
	return relay.OutboundResult{Success: true, MessageID: id, Raw: map[string]any{"success": true, "message_id": id}}
}

func firstRunes(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		r = r[:n]
	}
	return string(r)
}

// failWith is a connector answer of a definite failure.
func failWith(errText, code string) relay.OutboundResult {
	raw := map[string]any{"success": false, "error": errText}
	if code != "" {
		raw["code"] = code
	}
	return relay.OutboundResult{Error: errText, Code: code, Raw: raw}
}

func (l *fakeLink) Interrupt(sessionKey, reason string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.ready {
		return fmt.Errorf("send interrupt: %w", relay.ErrNotConnected)
	}
	l.interrupts = append(l.interrupts, [2]string{sessionKey, reason})
	return nil
}

func (l *fakeLink) Descriptor(platform string) (relay.Descriptor, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.ready {
		return relay.Descriptor{}, false
	}
	d, ok := l.descs[platform]
	return d, ok
}

func (l *fakeLink) DefaultDescriptor() (relay.Descriptor, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.ready || l.def == "" {
		return relay.Descriptor{}, false
	}
	return l.descs[l.def], true
}

func (l *fakeLink) Ready() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ready
}

func (l *fakeLink) State() relay.State {
	if l.Ready() {
		return relay.StateConnected
	}
	return relay.StateDisconnected
}

func (l *fakeLink) setReady(b bool) {
	l.mu.Lock()
	l.ready = b
	l.mu.Unlock()
}

func (l *fakeLink) setAnswer(fn func(f frame) relay.OutboundResult) {
	l.mu.Lock()
	l.answer = fn
	l.mu.Unlock()
}

// sentFrames returns a copy of the frames recorded so far.
func (l *fakeLink) sentFrames() []frame {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]frame(nil), l.frames...)
}

// wait returns the next frame sent, failing the test after a generous
// deadline.
func (l *fakeLink) wait(t *testing.T) frame {
	t.Helper()
	f, ok := l.tryWait(t)
	if !ok {
		t.FailNow()
	}
	return f
}

// tryWait is wait for goroutines other than the test's: it reports a
// timeout with Errorf and returns false.
func (l *fakeLink) tryWait(t *testing.T) (frame, bool) {
	t.Helper()
	select {
	case f := <-l.sent:
		return f, true
	case <-time.After(10 * time.Second):
		t.Errorf("no frame sent within 10 s; sent so far: %v", l.sentFrames())
		return frame{}, false
	}
}

// Descriptors used by the tests.
func discordDesc(ops ...string) relay.Descriptor {
	if ops == nil {
		ops = []string{"send", "edit", "typing", "follow_up", "react", "prompt", "send_media", "thread_create", "delete"}
	}
	return relay.Descriptor{ContractVersion: 1, Platform: "discord", Label: "Discord", MaxMessageLength: 2000,
		SupportsEdit: true, SupportsThreads: true, MarkdownDialect: "discord", LenUnit: UnitChars, SupportedOps: ops}
}

func telegramDesc() relay.Descriptor {
	return relay.Descriptor{ContractVersion: 1, Platform: "telegram", Label: "Telegram", MaxMessageLength: 4096,
		SupportsEdit: true, MarkdownDialect: "markdown_v2", LenUnit: UnitUTF16,
		SupportedOps: []string{"send", "edit", "typing", "react", "prompt"}}
}

var testIdentities = []relay.Identity{{Platform: "discord", BotID: "app1"}, {Platform: "telegram", BotID: ""}}

// newService returns a Service over link with the test identities; cfg
// edits the config first.
func newService(t *testing.T, link *fakeLink, cfg ...func(*Config)) *Service {
	t.Helper()
	c := Config{Link: link, Identities: testIdentities}
	for _, fn := range cfg {
		fn(&c)
	}
	s, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

// call runs an endpoint with a JSON body given as a Go value or a string.
func call(t *testing.T, s *Service, endpoint string, body any) (int, map[string]any) {
	t.Helper()
	var b []byte
	switch v := body.(type) {
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			t.Fatal(err)
		}
	}
	return s.Call(context.Background(), endpoint, b)
}

// discordEvent is a chat event from a Discord guild channel.
func discordEvent(chat, text string) pluginapi.MessageEvent {
	src := pluginapi.SessionSource{Platform: "discord", ChatID: chat, ChatType: pluginapi.ChatTypeGroup,
		UserID: "user-" + chat, ScopeID: "guild-" + chat}
	return pluginapi.MessageEvent{Text: text, MessageType: pluginapi.MessageTypeText, Source: src,
		MessageID: "msg-" + chat, SessionKey: pluginapi.SessionKey(src)}
}

// mustJSON renders v for failure messages.
func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// contains reports whether the error of an answer contains sub.
func errContains(answer map[string]any, sub string) bool {
	return strings.Contains(stringOf(answer["error"]), sub)
}

// The connector link of the product is a Link.
var _ Link = (*relay.Client)(nil)
