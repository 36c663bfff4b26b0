package plugintest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/relayhost/relay-host/pluginapi"
)

func goodEvent() pluginapi.MessageEvent {
	src := pluginapi.SessionSource{Platform: "p", ChatType: pluginapi.ChatTypeGroup, ChatID: "c", UserID: "u", DeliveredViaUpstreamRelay: true}
	return pluginapi.MessageEvent{Text: "hi", MessageType: pluginapi.MessageTypeText, Source: src, SessionKey: pluginapi.SessionKey(src)}
}

func TestProblems(t *testing.T) {
	f := pluginapi.Forward{Headers: []pluginapi.Header{{Name: "x-hub-signature-256", Value: "sha256=deadbeefcafe0123"}, {Name: "content-type", Value: "application/json"}}}
	if p := Problems(pluginapi.Handle(goodEvent()), f); len(p) != 0 {
		t.Fatalf("a good result has problems: %v", p)
	}
	for name, tt := range map[string]struct {
		mutate func(*pluginapi.MessageEvent)
		want   string
	}{
		"session key": {func(e *pluginapi.MessageEvent) { e.SessionKey = "agent:main:p:group:c" }, "session key"},
		"not relayed": {func(e *pluginapi.MessageEvent) {
			e.Source.DeliveredViaUpstreamRelay = false
			e.SessionKey = pluginapi.SessionKey(e.Source)
		}, "delivered_via_upstream_relay"},
		"bad UTF-8":          {func(e *pluginapi.MessageEvent) { e.Metadata = map[string]any{"k": []any{string([]byte{0xff})}} }, "metadata.k[0] is not valid UTF-8"},
		"header echoed":      {func(e *pluginapi.MessageEvent) { e.Text = "sig sha256=deadbeefcafe0123" }, "carries the value of header x-hub-signature-256"},
		"benign header kept": {func(e *pluginapi.MessageEvent) { e.Text = "application/json" }, ""},
	} {
		ev := goodEvent()
		tt.mutate(&ev)
		p := strings.Join(Problems(pluginapi.Handle(ev), f), "\n")
		if tt.want == "" && p != "" || !strings.Contains(p, tt.want) {
			t.Errorf("%s: problems %q, want %q", name, p, tt.want)
		}
	}
	r := pluginapi.Drop("x")
	r.Events = []pluginapi.MessageEvent{goodEvent()}
	if p := Problems(r); len(p) != 1 || !strings.Contains(p[0], "only handled results carry events") {
		t.Errorf("dropped with events: %v", p)
	}
}

func TestRequestFromFileAndGolden(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "req.http")
	if err := os.WriteFile(path, []byte("POST /hook HTTP/1.1\r\nHost: x\r\nX-Event: ping\r\nContent-Length: 2\r\n\r\n{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	f := RequestFromFile(t, "p", path)
	if v, _ := f.Header("x-event"); v != "ping" || f.Path != "/hook" || string(f.Body) != "{}" {
		t.Errorf("forward %+v", f)
	}
	golden := filepath.Join(dir, "golden.json")
	t.Setenv(EnvUpdateGolden, "1")
	Golden(t, golden, pluginapi.Drop("why"))
	t.Setenv(EnvUpdateGolden, "")
	Golden(t, golden, pluginapi.Drop("why"))
	ft := &fakeTB{TB: t}
	Golden(ft, golden, pluginapi.Drop("other"))
	if !ft.failed {
		t.Error("Golden accepted a different result")
	}
}

// fakeTB records a failure instead of failing the test.
type fakeTB struct {
	testing.TB
	failed bool
}

func (f *fakeTB) Errorf(string, ...any) { f.failed = true }
func (f *fakeTB) Helper()               {}
