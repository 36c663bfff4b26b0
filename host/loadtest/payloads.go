package loadtest

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// payloadFS holds copies of the Discord goldens of
// plugins/discord/convert/testdata/golden that the Discord plugin handles
// with exactly one event carrying text, so that with the echo agent every
// forward earns exactly one follow_up. A press on a prompt's button is not
// among them: its prompt is not this host's, so the host acks it without
// delivering it (docs/agents.md, Prompts). TestPayloadsMatchGoldens keeps
// the copies identical to the goldens.
//
//go:embed payloads/*.json
var payloadFS embed.FS

// Payload mixes accepted by Payloads.
const (
	// MixAll cycles through every embedded interaction: slash commands,
	// context-menu commands, buttons, selects and modals, 1–6 KiB each.
	MixAll = "all"
	// MixSlash cycles through the slash commands only.
	MixSlash = "slash"
)

// Payload is one Discord interaction body the load generator forwards.
type Payload struct {
	// Name is the golden's file name without ".json".
	Name string
	// Body is the exact interaction JSON.
	Body []byte
}

// Payloads returns the bodies of a mix (MixAll or MixSlash), sorted by name.
func Payloads(mix string) ([]Payload, error) {
	if mix != MixAll && mix != MixSlash {
		return nil, fmt.Errorf("payload mix %q: want %s or %s", mix, MixAll, MixSlash)
	}
	entries, err := fs.ReadDir(payloadFS, "payloads")
	if err != nil {
		return nil, fmt.Errorf("read embedded payloads: %w", err)
	}
	var out []Payload
	for _, e := range entries {
		name := strings.TrimSuffix(e.Name(), ".json")
		if mix == MixSlash && !strings.HasPrefix(name, "slash_") {
			continue
		}
		body, err := payloadFS.ReadFile(path.Join("payloads", e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read embedded payload %s: %w", e.Name(), err)
		}
		out = append(out, Payload{Name: name, Body: body})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
