package edge

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/relayhost/relay-host/pluginapi"
	"github.com/relayhost/relay-host/plugins/discord/convert"
)

// A test may import the bundled plugin; the edge itself never does.

// goldenDir holds the Discord plugin's golden interactions.
const goldenDir = "../../plugins/discord/convert/testdata/golden"

// minGoldens is the least number of goldens the checks below must see: the
// plugin's own suite requires 30.
const minGoldens = 30

// minVaulted is the least number of goldens whose token the edge must
// vault: 28 of them carry a token and convert to an event today; fewer
// means the check stopped seeing them.
const minVaulted = 25

// golden is one golden interaction with the forward it is converted from.
type golden struct {
	name    string
	forward pluginapi.Forward
}

// loadGoldens reads every golden body with the forward fields of its
// optional <name>.forward.json sidecar, as the plugin's golden test does.
func loadGoldens(tb testing.TB) []golden {
	tb.Helper()
	paths, err := filepath.Glob(filepath.Join(goldenDir, "*.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var out []golden
	for _, p := range paths {
		name := strings.TrimSuffix(filepath.Base(p), ".json")
		if strings.HasSuffix(name, ".want") || strings.HasSuffix(name, ".forward") {
			continue
		}
		body, err := os.ReadFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		f := pluginapi.Forward{Platform: PlatformDiscord, Method: "POST", Path: DiscordPath}
		if side, err := os.ReadFile(filepath.Join(goldenDir, name+".forward.json")); err == nil {
			if err := json.Unmarshal(side, &f); err != nil {
				tb.Fatalf("%s.forward.json: %v", name, err)
			}
		} else if !os.IsNotExist(err) {
			tb.Fatal(err)
		}
		f.Body = body
		out = append(out, golden{name: name, forward: f})
	}
	if len(out) < minGoldens {
		tb.Fatalf("%d goldens in %s, want at least %d", len(out), goldenDir, minGoldens)
	}
	return out
}

// pluginSession is the session key of the plugin's event for f, or "" when
// it converts f to no event.
func pluginSession(f pluginapi.Forward) string {
	res := convert.Convert(f)
	if res.Disposition != pluginapi.Handled || len(res.Events) == 0 {
		return ""
	}
	return res.Events[0].SessionKey
}

// checkSession fails when sessionFor and the plugin disagree on body.
func checkSession(t *testing.T, body []byte, profile string) {
	t.Helper()
	want := pluginSession(pluginapi.Forward{Platform: PlatformDiscord, Body: body, Profile: profile})
	got, why := sessionFor(body, profile)
	if got != want {
		t.Fatalf("sessionFor = %q (%s), the plugin's event has %q; profile %q, body %.300q", got, why, want, profile, body)
	}
	if (got == "") != (why != "") {
		t.Fatalf("sessionFor(%q) = %q with reason %q: a reason goes with no key, and only then", body, got, why)
	}
}

func TestSessionKeyMatchesThePlugin(t *testing.T) {
	if discordMaxDepth != convert.MaxDepth {
		t.Fatalf("discordMaxDepth = %d, the plugin's MaxDepth = %d", discordMaxDepth, convert.MaxDepth)
	}
	keyed := 0
	for _, g := range loadGoldens(t) {
		t.Run(g.name, func(t *testing.T) {
			checkSession(t, g.forward.Body, g.forward.Profile)
			// The edge computes the key on the body it forwards: the token
			// is gone by then.
			if stripped, _, _, err := stripToken(g.forward.Body); err == nil {
				checkSession(t, stripped, g.forward.Profile)
			}
		})
		if pluginSession(g.forward) != "" {
			keyed++
		}
	}
	if keyed < minGoldens {
		t.Fatalf("only %d goldens convert to an event; the check saw too few keys", keyed)
	}
}

// TestVaultKeyIsThePluginSessionForEveryGolden posts every golden to a
// running edge and checks the session its token is vaulted under: the
// plugin's session key when the body carries a token and the plugin makes
// an event of it, and no vaulting otherwise.
func TestVaultKeyIsThePluginSessionForEveryGolden(t *testing.T) {
	e, log := startEdge(t, Config{})
	seen := map[string]bool{}
	vaulted := 0
	for _, g := range loadGoldens(t) {
		u := e.DiscordURL("app-1")
		if g.forward.Profile != "" {
			u += "?profile=" + url.QueryEscape(g.forward.Profile)
		}
		r := post(t, u, "application/json", g.forward.Body, nil)
		if r.status != 200 || r.body == `{"type":1}` {
			continue // refused, or a PING answered at the edge: nothing forwarded
		}
		d := waitFor(t, log, func(b Buffered) bool { return !seen[b.BufferID] }).Delivery
		seen[d.BufferID] = true
		_, token, _, err := stripToken(g.forward.Body)
		if err != nil {
			t.Fatalf("%s was forwarded but is not an object: %v", g.name, err)
		}
		want := ""
		if token != "" {
			want = pluginSession(g.forward)
		}
		if d.Session != want || (want == "") != (d.NotVaulted != "") {
			t.Errorf("%s: vaulted under %q (not vaulted: %q), want %q", g.name, d.Session, d.NotVaulted, want)
		}
		if want != "" {
			vaulted++
		}
	}
	if vaulted < minVaulted || e.Vaulted() != vaulted {
		t.Fatalf("%d goldens vaulted a token (the vault holds %d); want at least %d", vaulted, e.Vaulted(), minVaulted)
	}
}

func FuzzSessionFor(f *testing.F) {
	for _, g := range loadGoldens(f) {
		f.Add(g.forward.Body, g.forward.Profile)
	}
	f.Fuzz(func(t *testing.T, body []byte, profile string) {
		checkSession(t, body, profile)
	})
}
