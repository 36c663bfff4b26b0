package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/relayhost/relay-host/pluginapi"
)

// Canary credentials appended to every fuzzed form: whatever else the body
// holds, they must never reach the result.
const (
	canaryToken       = "canaryTOKENq7Zx3"
	canaryResponseURL = "https://hooks.slack.com/commands/T0/1/canaryURLq7Zx3"
)

// FuzzConvert checks the conversion's invariants on arbitrary bodies and
// content types: a valid disposition, a reason exactly when not handled,
// one well-formed event when handled, only valid UTF-8 (the result crosses
// the plugin boundary as protobuf strings), and no credential in the result.
func FuzzConvert(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.*"))
	if err != nil {
		f.Fatal(err)
	}
	for _, path := range files {
		if filepath.Base(path) == "README.md" {
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, "application/x-www-form-urlencoded")
	}
	f.Add([]byte("command=%2Fa&channel_id=D1&user_id=U1&text=%E2%9C%93"), "")
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		if bytes.Contains(body, []byte("canary")) {
			t.Skip()
		}
		var headers []pluginapi.Header
		if contentType != "" {
			headers = []pluginapi.Header{{Name: "content-type", Value: contentType}}
		}
		checkResult(t, convert(pluginapi.Forward{Platform: "slack", Headers: headers, Body: body}))

		withCreds := append(bytes.Clone(body), "&token="+canaryToken+"&response_url="+canaryResponseURL...)
		res := convert(pluginapi.Forward{Platform: "slack", Headers: headers, Body: withCreds})
		checkResult(t, res)
		out, err := json.Marshal(res)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(out), "canary") {
			t.Fatalf("a credential reached the result: %s", out)
		}
	})
}

// checkResult fails the test unless res is well-formed.
func checkResult(t *testing.T, res pluginapi.Result) {
	t.Helper()
	if !res.Disposition.Valid() {
		t.Fatalf("invalid disposition %q", res.Disposition)
	}
	if !utf8.ValidString(res.Reason) {
		t.Fatalf("reason is not UTF-8: %q", res.Reason)
	}
	if res.Disposition != pluginapi.Handled {
		if res.Reason == "" || len(res.Events) != 0 {
			t.Fatalf("%s with reason %q and %d events", res.Disposition, res.Reason, len(res.Events))
		}
		return
	}
	if len(res.Events) != 1 {
		t.Fatalf("handled with %d events, want 1", len(res.Events))
	}
	ev := res.Events[0]
	s := ev.Source
	for _, v := range []string{ev.Text, ev.MessageID, ev.SessionKey, s.ChatID, s.ChatName, s.UserID, s.UserName, s.ScopeID} {
		if !utf8.ValidString(v) {
			t.Fatalf("event field is not UTF-8: %q", v)
		}
	}
	for k, v := range ev.Metadata {
		if str, ok := v.(string); ok && !utf8.ValidString(str) {
			t.Fatalf("metadata %s is not UTF-8: %q", k, str)
		}
	}
	if !strings.HasPrefix(ev.Text, "/") || ev.SessionKey != pluginapi.SessionKey(s) || s.ChatID == "" || s.UserID == "" {
		t.Fatalf("malformed event: %+v", ev)
	}
}
