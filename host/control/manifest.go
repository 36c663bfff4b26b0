package control

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"unicode/utf16"
)

// MaxManifestCommands is Discord's limit on global chat-input commands per
// application; the connector registers the manifest as exactly those.
const MaxManifestCommands = 100

// MaxManifestDescriptionUnits is Discord's limit on a command description,
// counted in UTF-16 code units (as JavaScript counts string length).
const MaxManifestDescriptionUnits = 100

// MaxManifestBytes caps the compact manifest. It rides inside the discord
// hello, one WebSocket message. The connector's own cap on a message is not
// published; 1 MiB is the least the protocol asks a gateway to accept
// (docs/protocol.md, Framing). Half of that leaves the rest of the hello well
// clear of 1 MiB and is still far above 100 commands of real size.
const MaxManifestBytes = 512 << 10

// MaxManifestFileBytes caps the manifest file as read: room for a
// pretty-printed MaxManifestBytes manifest.
const MaxManifestFileBytes = 4 << 20

// manifestName is Discord's rule for chat-input command names as the
// connector enforces it.
var manifestName = regexp.MustCompile(`^[a-z0-9_-]{1,32}$`)

// ManifestError is a command manifest that is refused.
type ManifestError struct {
	Index   int    // 0-based entry index; -1 for the manifest as a whole
	Name    string // the entry's name when it has a usable one
	Problem string
}

// Error describes the failure.
func (e *ManifestError) Error() string {
	switch {
	case e.Index < 0:
		return "command manifest: " + e.Problem
	case e.Name != "":
		return fmt.Sprintf("command manifest: command %q: %s", e.Name, e.Problem)
	}
	return fmt.Sprintf("command manifest: command %d: %s", e.Index, e.Problem)
}

// LoadManifest reads and validates the command manifest at path (see
// ParseManifest) and returns it as a compact JSON array, ready to send as
// the discord hello's command_manifest. File errors are FileErrors;
// content errors are FileErrors wrapping the ManifestError.
func LoadManifest(path string) (json.RawMessage, error) {
	data, err := readLimited("command manifest", path, MaxManifestFileBytes)
	if err != nil {
		return nil, err
	}
	m, err := ParseManifest(data)
	if err != nil {
		return nil, &FileError{What: "command manifest", Path: path, Problem: err.Error(), Err: err}
	}
	return m, nil
}

// ParseManifest validates a command manifest, a JSON array of
// {"name","description","options"?} objects, and returns it compacted,
// values untouched. Every entry must be an object with only those keys,
// each given once; name a string matching [a-z0-9_-]{1,32} and unique in
// the manifest; description a non-empty string of at most 100 UTF-16 code
// units; options, when present, an array (its rows are passed through
// verbatim). At most MaxManifestCommands entries. An invalid entry is a
// ManifestError naming it by its name, or by its 0-based index when it has
// no usable name.
func ParseManifest(data []byte) (json.RawMessage, error) {
	elems, problem := arrayElements(data)
	if problem != "" {
		return nil, &ManifestError{Index: -1, Problem: problem}
	}
	if len(elems) > MaxManifestCommands {
		return nil, &ManifestError{Index: -1, Problem: fmt.Sprintf("%d commands; Discord takes at most %d", len(elems), MaxManifestCommands)}
	}
	seen := map[string]int{}
	for i, raw := range elems {
		name, err := checkCommand(i, raw)
		if err != nil {
			return nil, err
		}
		if first, dup := seen[name]; dup {
			return nil, &ManifestError{Index: i, Name: name, Problem: fmt.Sprintf("name already used by command %d", first)}
		}
		seen[name] = i
	}
	var out bytes.Buffer
	if err := json.Compact(&out, data); err != nil {
		return nil, &ManifestError{Index: -1, Problem: "not valid JSON"}
	}
	if out.Len() > MaxManifestBytes {
		return nil, &ManifestError{Index: -1, Problem: fmt.Sprintf("%d bytes compacted; at most %d fit in the hello", out.Len(), MaxManifestBytes)}
	}
	return json.RawMessage(out.Bytes()), nil
}

// checkCommand validates one manifest entry and returns its name.
func checkCommand(i int, raw json.RawMessage) (string, error) {
	members, err := objectMembers(raw)
	if err != nil {
		return "", &ManifestError{Index: i, Problem: err.Error()}
	}
	// The name identifies the entry in errors when it is a non-empty
	// string, valid or not.
	var name string
	for _, m := range members {
		if m.key == "name" {
			if json.Unmarshal(m.value, &name) != nil {
				name = ""
			}
		}
	}
	id := clip(name)
	bad := func(problem string) error { return &ManifestError{Index: i, Name: id, Problem: problem} }
	var hasName, hasDescription bool
	for _, m := range members {
		switch m.key {
		case "name":
			var s string
			if isNull(m.value) || json.Unmarshal(m.value, &s) != nil {
				return "", bad("name must be a string")
			}
			if !manifestName.MatchString(s) {
				return "", bad("name must be 1 to 32 of a-z, 0-9, _ and -")
			}
			hasName = true
		case "description":
			var s string
			if isNull(m.value) || json.Unmarshal(m.value, &s) != nil {
				return "", bad("description must be a string")
			}
			units := utf16Len(s)
			if units == 0 {
				return "", bad("description is empty")
			}
			if units > MaxManifestDescriptionUnits {
				return "", bad(fmt.Sprintf("description is %d UTF-16 code units long; at most %d", units, MaxManifestDescriptionUnits))
			}
			hasDescription = true
		case "options":
			v := bytes.TrimSpace(m.value)
			if len(v) == 0 || v[0] != '[' {
				return "", bad("options must be an array")
			}
		default:
			return "", bad(fmt.Sprintf("unknown key %q (want name, description, options)", clip(m.key)))
		}
	}
	switch {
	case !hasName:
		return "", bad("no name")
	case !hasDescription:
		return "", bad("no description")
	}
	return name, nil
}

// utf16Len is the length of s in UTF-16 code units: a rune above U+FFFF
// (an emoji, say) counts two.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		if l := utf16.RuneLen(r); l > 0 {
			n += l
		} else {
			n++
		}
	}
	return n
}
