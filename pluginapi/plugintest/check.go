package plugintest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/relayhost/relay-host/internal/rawrequest"
	"github.com/relayhost/relay-host/pluginapi"
)

// minEchoedHeaderValue is the shortest header value Check looks for in
// events: signatures, tokens and delivery ids are longer, while short
// values ("1", "close") occur in text by chance.
const minEchoedHeaderValue = 12

// credentialLike reports whether a header value looks like a credential or
// an id (long enough, with a digit in it) rather than a plain word such as
// an event name ("issue_comment"), which a plugin may well copy.
func credentialLike(v string) bool {
	return len(v) >= minEchoedHeaderValue && strings.ContainsAny(v, "0123456789")
}

// benignHeaders are headers whose values may appear in events (they are
// about the request's form, not its sender's credentials).
var benignHeaders = map[string]bool{
	"host": true, "content-type": true, "content-length": true, "accept": true,
	"accept-encoding": true, "user-agent": true, "connection": true,
}

// Check fails the test when a result breaks an invariant every plugin
// must keep, so a table test can run it on every case:
//
//   - the disposition is valid; only a handled result carries events;
//   - every event's session key is pluginapi.SessionKey of its source
//     (the connector binds follow-ups to it);
//   - every event's source is marked DeliveredViaUpstreamRelay;
//   - every string (reason, text, source, metadata) is valid UTF-8;
//   - no event carries a header value of the forward that looks like a
//     credential or an id (12 characters or more, with a digit: a
//     signature, a token, a delivery id) when the forward is given.
func Check(tb testing.TB, res pluginapi.Result, from ...pluginapi.Forward) {
	tb.Helper()
	for _, problem := range Problems(res, from...) {
		tb.Error(problem)
	}
}

// Problems returns what Check would report, one line per broken
// invariant.
func Problems(res pluginapi.Result, from ...pluginapi.Forward) []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	if !res.Disposition.Valid() {
		add("disposition %q is not handled, dropped or rejected", res.Disposition)
	}
	if res.Disposition != pluginapi.Handled && len(res.Events) > 0 {
		add("a %s result carries %d events (only handled results carry events)", res.Disposition, len(res.Events))
	}
	if !utf8.ValidString(res.Reason) {
		add("reason is not valid UTF-8")
	}
	for i, ev := range res.Events {
		if want := pluginapi.SessionKey(ev.Source); ev.SessionKey != want {
			add("event %d: session key %q, want pluginapi.SessionKey(source) = %q", i, ev.SessionKey, want)
		}
		if !ev.Source.DeliveredViaUpstreamRelay {
			add("event %d: source.delivered_via_upstream_relay is false (every relayed event sets it)", i)
		}
		strs := eventStrings(ev)
		for name, s := range strs {
			if !utf8.ValidString(s) {
				add("event %d: %s is not valid UTF-8", i, name)
			}
		}
		for _, f := range from {
			for _, h := range f.Headers {
				if !credentialLike(h.Value) || benignHeaders[strings.ToLower(h.Name)] {
					continue
				}
				for name, s := range strs {
					if strings.Contains(s, h.Value) {
						add("event %d: %s carries the value of header %s", i, name, h.Name)
					}
				}
			}
		}
	}
	return out
}

// eventStrings lists an event's strings by field name, metadata included.
func eventStrings(ev pluginapi.MessageEvent) map[string]string {
	s := ev.Source
	m := map[string]string{
		"text": ev.Text, "message_type": string(ev.MessageType), "message_id": ev.MessageID,
		"reply_to_message_id": ev.ReplyToMessageID, "reply_to_text": ev.ReplyToText,
		"reply_to_author_name": ev.ReplyToAuthorName, "session_key": ev.SessionKey, "egress_kind": ev.EgressKind,
		"source.platform": s.Platform, "source.chat_id": s.ChatID, "source.chat_name": s.ChatName,
		"source.chat_type": s.ChatType, "source.user_id": s.UserID, "source.user_name": s.UserName,
		"source.thread_id": s.ThreadID, "source.chat_topic": s.ChatTopic, "source.scope_id": s.ScopeID,
		"source.parent_chat_id": s.ParentChatID, "source.message_id": s.MessageID, "source.profile": s.Profile,
	}
	for i, u := range ev.MediaURLs {
		m[fmt.Sprintf("media_urls[%d]", i)] = u
	}
	for i, u := range ev.MediaTypes {
		m[fmt.Sprintf("media_types[%d]", i)] = u
	}
	if p := ev.PromptResponse; p != nil {
		m["prompt_response.prompt_id"], m["prompt_response.option_id"] = p.PromptID, p.OptionID
		m["prompt_response.prompt_message_id"], m["prompt_response.label"] = p.PromptMessageID, p.Label
	}
	for k, v := range ev.Metadata {
		collect(m, "metadata."+k, v)
	}
	return m
}

// collect adds the strings of a metadata value to m.
func collect(m map[string]string, name string, v any) {
	switch x := v.(type) {
	case string:
		m[name] = x
	case []string:
		for i, s := range x {
			m[fmt.Sprintf("%s[%d]", name, i)] = s
		}
	case []any:
		for i, item := range x {
			collect(m, fmt.Sprintf("%s[%d]", name, i), item)
		}
	case map[string]any:
		for k, item := range x {
			collect(m, name+"."+k, item)
		}
	case map[string]string:
		for k, s := range x {
			m[name+"."+k] = s
		}
	}
}

// RequestFromFile reads a recorded raw HTTP request (request line,
// headers, a blank line, the body; e.g. saved from `curl --trace-ascii`
// or a proxy) and returns it as a forward for platform, exactly as
// `relay-host convert --request` and the connector would forward it:
// header names lower-cased, credentials (authorization, cookie) left out.
func RequestFromFile(tb testing.TB, platform, path string) pluginapi.Forward {
	tb.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("recorded request: %v", err)
	}
	f, err := rawrequest.Parse(platform, raw)
	if err != nil {
		tb.Fatalf("recorded request %s: %v", path, err)
	}
	return f
}

// EnvUpdateGolden names the environment variable that makes Golden write
// its files instead of comparing: RELAY_UPDATE_GOLDEN=1 go test ./...
const EnvUpdateGolden = "RELAY_UPDATE_GOLDEN"

// Golden compares got, as indented JSON (the form `relay-host convert`
// prints), with the file at path, failing the test with both on a
// difference. With RELAY_UPDATE_GOLDEN=1 in the environment it writes the
// file instead (review the diff before committing it).
func Golden(tb testing.TB, path string, got any) {
	tb.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(got); err != nil {
		tb.Fatalf("golden %s: encode: %v", path, err)
	}
	if os.Getenv(EnvUpdateGolden) == "1" {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			tb.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("golden %s: %v (run with %s=1 to write it)", path, err, EnvUpdateGolden)
	}
	if !bytes.Equal(bytes.TrimSpace(want), bytes.TrimSpace(buf.Bytes())) {
		tb.Errorf("%s differs (run with %s=1 to update it)\n got:\n%s\nwant:\n%s", path, EnvUpdateGolden, buf.Bytes(), want)
	}
}
