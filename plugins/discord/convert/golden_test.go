package convert

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/relayhost/relay-host/pluginapi"
)

// update rewrites the golden want files and the fuzz seed corpus instead of
// comparing: go test ./plugins/discord/convert -update (or
// RELAY_UPDATE_GOLDENS=1). Review every changed want file by eye.
var update = flag.Bool("update", false, "rewrite testdata/golden/*.want.json and testdata/fuzz/FuzzConvert/golden_*")

const (
	goldenDir     = "testdata/golden"
	fuzzCorpusDir = "testdata/fuzz/FuzzConvert"
	// minGoldens is the least number of golden bodies the suite must hold.
	minGoldens = 30
)

func updating() bool { return *update || os.Getenv("RELAY_UPDATE_GOLDENS") == "1" }

// golden is one body under testdata/golden with its forward.
type golden struct {
	name    string
	forward pluginapi.Forward
}

// loadGoldens reads every testdata/golden/<name>.json body, with the forward
// fields of an optional <name>.forward.json sidecar (platform, botId, method,
// path, profile) over the defaults: platform discord, POST
// /interactions/discord, default profile.
func loadGoldens(tb testing.TB) []golden {
	tb.Helper()
	paths, err := filepath.Glob(filepath.Join(goldenDir, "*.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var out []golden
	for _, p := range paths {
		base := filepath.Base(p)
		if strings.HasSuffix(base, ".want.json") || strings.HasSuffix(base, ".forward.json") {
			continue
		}
		name := strings.TrimSuffix(base, ".json")
		body, err := os.ReadFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		f := pluginapi.Forward{Platform: "discord", Method: "POST", Path: "/interactions/discord"}
		side, err := os.ReadFile(filepath.Join(goldenDir, name+".forward.json"))
		switch {
		case err == nil:
			if err := json.Unmarshal(side, &f); err != nil {
				tb.Fatalf("%s.forward.json: %v", name, err)
			}
		case !os.IsNotExist(err):
			tb.Fatal(err)
		}
		f.Body = body
		out = append(out, golden{name: name, forward: f})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// resultJSON is the result as `relay-host convert` prints it.
func resultJSON(tb testing.TB, r pluginapi.Result) []byte {
	tb.Helper()
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		tb.Fatalf("marshal result: %v", err)
	}
	return append(b, '\n')
}

func TestGoldens(t *testing.T) {
	goldens := loadGoldens(t)
	if len(goldens) < minGoldens {
		t.Fatalf("found %d golden bodies in %s, want at least %d", len(goldens), goldenDir, minGoldens)
	}
	for _, g := range goldens {
		t.Run(g.name, func(t *testing.T) {
			res := Convert(g.forward)
			checkInvariants(t, g.forward.Body, res)
			got := resultJSON(t, res)
			wantPath := filepath.Join(goldenDir, g.name+".want.json")
			if updating() {
				if err := os.WriteFile(wantPath, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(wantPath)
			if err != nil {
				t.Fatalf("%v (run go test ./plugins/discord/convert -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s: result differs from %s\n--- want\n%s\n--- got\n%s", g.name, wantPath, want, got)
			}
		})
	}
	if updating() {
		writeSeedCorpus(t, goldens)
	}
}

// TestGoldenFilesPaired catches a want or forward file whose body is gone.
func TestGoldenFilesPaired(t *testing.T) {
	names := map[string]bool{}
	for _, g := range loadGoldens(t) {
		names[g.name] = true
	}
	paths, _ := filepath.Glob(filepath.Join(goldenDir, "*.json"))
	for _, p := range paths {
		base := filepath.Base(p)
		for _, suffix := range []string{".want.json", ".forward.json"} {
			if name, ok := strings.CutSuffix(base, suffix); ok && !names[name] {
				t.Errorf("%s has no body %s.json", base, name)
			}
		}
	}
}

// writeSeedCorpus writes every golden body to the checked-in fuzz corpus in
// the `go test fuzz v1` format, one file per golden.
func writeSeedCorpus(t *testing.T, goldens []golden) {
	t.Helper()
	if err := os.MkdirAll(fuzzCorpusDir, 0o755); err != nil {
		t.Fatal(err)
	}
	old, _ := filepath.Glob(filepath.Join(fuzzCorpusDir, "golden_*"))
	for _, p := range old {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	for _, g := range goldens {
		content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", g.forward.Body)
		if err := os.WriteFile(filepath.Join(fuzzCorpusDir, "golden_"+g.name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// checkInvariants asserts what must hold for every input: a valid
// disposition, events only when handled (and then exactly one), parallel
// media lists, a session key and the interaction-token egress on every event,
// no raw_message, and — the point of plugins/discord/README.md, "Token
// handling" — nothing that depends on a top-level token: the result must not
// change when the token's value does, and a string token of 8 or more bytes
// must not appear in the result's JSON unless the token-independent result
// contains it anyway (it is then part of the body's other content or of the
// output's own vocabulary).
func checkInvariants(t testing.TB, body []byte, res pluginapi.Result) {
	t.Helper()
	if !res.Disposition.Valid() {
		t.Fatalf("invalid disposition %q", res.Disposition)
	}
	if res.Events == nil {
		t.Fatalf("events is nil; want [] so the JSON form is a list")
	}
	switch res.Disposition {
	case pluginapi.Handled:
		if len(res.Events) != 1 {
			t.Fatalf("handled with %d events, want exactly 1", len(res.Events))
		}
		if res.Reason != "" {
			t.Fatalf("handled with a reason %q", res.Reason)
		}
	default:
		if len(res.Events) != 0 {
			t.Fatalf("%s with %d events, want none", res.Disposition, len(res.Events))
		}
		if res.Reason == "" || strings.ContainsAny(res.Reason, "\r\n") {
			t.Fatalf("%s needs a one-line reason, got %q", res.Disposition, res.Reason)
		}
	}
	for i, ev := range res.Events {
		if len(ev.MediaURLs) != len(ev.MediaTypes) {
			t.Fatalf("event %d: %d media_urls but %d media_types", i, len(ev.MediaURLs), len(ev.MediaTypes))
		}
		if ev.SessionKey == "" || (ev.Source.ChatID != "" && !strings.Contains(ev.SessionKey, ev.Source.ChatID)) {
			t.Fatalf("event %d: session key %q does not name chat %q", i, ev.SessionKey, ev.Source.ChatID)
		}
		if ev.SessionKey != pluginapi.SessionKey(ev.Source) {
			t.Fatalf("event %d: session key %q, want %q", i, ev.SessionKey, pluginapi.SessionKey(ev.Source))
		}
		if ev.EgressKind != pluginapi.EgressDiscordInteractionToken {
			t.Fatalf("event %d: egress kind %q", i, ev.EgressKind)
		}
		if ev.Source.Platform != Platform || !ev.Source.DeliveredViaUpstreamRelay {
			t.Fatalf("event %d: source platform %q, delivered_via_upstream_relay %v", i, ev.Source.Platform, ev.Source.DeliveredViaUpstreamRelay)
		}
		if _, ok := ev.Metadata["raw_message"]; ok {
			t.Fatalf("event %d carries raw_message", i)
		}
	}

	token, hasToken := topLevelToken(body)
	if !hasToken {
		return
	}
	got := resultJSON(t, res)
	other, ok := withOtherToken(body)
	if !ok {
		t.Fatalf("cannot rebuild a body that has a top-level token")
	}
	// The profile is not part of the body: compare like with like.
	plain := resultJSON(t, Convert(pluginapi.Forward{Body: body}))
	control := resultJSON(t, Convert(pluginapi.Forward{Body: other}))
	if !bytes.Equal(plain, control) {
		t.Fatalf("result depends on the token's value\n--- token as sent\n%s\n--- token replaced\n%s", plain, control)
	}
	if s, isString := token.(string); isString && len(s) >= 8 &&
		bytes.Contains(got, []byte(s)) && !bytes.Contains(control, []byte(s)) {
		t.Fatalf("token leaked into the result:\n%s", got)
	}
}

// topLevelToken returns the effective (last) top-level "token" value of a
// body that is a JSON object, decoded independently of the code under test.
func topLevelToken(body []byte) (any, bool) {
	var obj map[string]json.RawMessage
	if json.Unmarshal(body, &obj) != nil {
		return nil, false
	}
	raw, ok := obj["token"]
	if !ok {
		return nil, false
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return nil, false
	}
	return v, true
}

// otherToken replaces the token in withOtherToken; it shares no 8-byte run
// with any plausible input token.
const otherToken = "\u2603replaced-token\u2603"

// withOtherToken returns body with one more top-level "token" member (the
// last one wins, in Python and here) holding otherToken. body must be a JSON
// object with members.
func withOtherToken(body []byte) ([]byte, bool) {
	end := bytes.LastIndexByte(body, '}')
	if end < 0 {
		return nil, false
	}
	out := make([]byte, 0, len(body)+40)
	out = append(out, body[:end]...)
	out = append(out, `,"token":"`+otherToken+`"`...)
	out = append(out, body[end:]...)
	return out, true
}
