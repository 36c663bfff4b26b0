package control

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode/utf16"
)

func TestParseManifestAcceptsAndPassesOptionsVerbatim(t *testing.T) {
	in := `[
	  {"name": "ask", "description": "Ask the agent",
	   "options": [{"type": 3, "name": "q", "description": "Question", "required": false,
	                "choices": [{"name": "x", "value": 1.50}], "x-future": {"kept": [1e3]}}]},
	  {"name": "reset_all-2", "description": "` + strings.Repeat("a", 98) + `😀"},
	  {"description": "order of keys is free", "name": "z"}
	]`
	got, err := ParseManifest([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if err := json.Compact(&want, []byte(in)); err != nil {
		t.Fatal(err)
	}
	if string(got) != want.String() {
		t.Errorf("ParseManifest = %s\nwant %s", got, want.String())
	}
	if !bytes.Contains(got, []byte(`"value":1.50`)) || !bytes.Contains(got, []byte(`"x-future":{"kept":[1e3]}`)) {
		t.Errorf("options were not passed through verbatim: %s", got)
	}
	if got, err := ParseManifest([]byte(`[]`)); err != nil || string(got) != `[]` {
		t.Errorf("empty manifest: %s, %v", got, err)
	}
}

func TestParseManifestRefusals(t *testing.T) {
	many := make([]string, MaxManifestCommands+1)
	for i := range many {
		many[i] = fmt.Sprintf(`{"name":"c%d","description":"d"}`, i)
	}
	for _, tt := range []struct {
		name, in string
		index    int
		id, want string // id: the name the error must use, "" for the index
	}{
		{"not JSON", `[{"name":`, -1, "", "not valid JSON"},
		{"not an array", `{"name":"a","description":"b"}`, -1, "", "not a JSON array"},
		{"null", `null`, -1, "", "not a JSON array"},
		{"too many commands", "[" + strings.Join(many, ",") + "]", -1, "", "at most 100"},
		{"entry not an object", `[{"name":"a","description":"b"},"c"]`, 1, "", "not a JSON object"},
		{"upper-case name", `[{"name":"Ask","description":"b"}]`, 0, "Ask", "1 to 32 of a-z"},
		{"name with a space", `[{"name":"ask me","description":"b"}]`, 0, "ask me", "1 to 32 of a-z"},
		{"name of 33", `[{"name":"` + strings.Repeat("a", 33) + `","description":"b"}]`, 0, strings.Repeat("a", 33), "1 to 32"},
		{"empty name", `[{"name":"","description":"b"}]`, 0, "", "1 to 32"},
		{"name not a string", `[{"name":5,"description":"b"}]`, 0, "", "name must be a string"},
		{"name null", `[{"name":null,"description":"b"}]`, 0, "", "name must be a string"},
		{"no name", `[{"name":"a","description":"b"},{"description":"b"}]`, 1, "", "no name"},
		{"description of 101 units, an emoji counting 2", `[{"name":"a","description":"` + strings.Repeat("a", 99) + `😀"}]`, 0, "a", "101 UTF-16 code units"},
		{"description of 101 ASCII", `[{"name":"a","description":"` + strings.Repeat("d", 101) + `"}]`, 0, "a", "101 UTF-16"},
		{"empty description", `[{"name":"a","description":""}]`, 0, "a", "description is empty"},
		{"description not a string", `[{"name":"a","description":["b"]}]`, 0, "a", "description must be a string"},
		{"no description", `[{"name":"a"}]`, 0, "a", "no description"},
		{"options not an array", `[{"name":"a","description":"b","options":{"type":3}}]`, 0, "a", "options must be an array"},
		{"options null", `[{"name":"a","description":"b","options":null}]`, 0, "a", "options must be an array"},
		{"unknown key", `[{"name":"a","description":"b","type":1}]`, 0, "a", `unknown key "type"`},
		{"unknown key, no name", `[{"description":"b","nmae":"a"}]`, 0, "", `unknown key "nmae"`},
		{"key given twice", `[{"name":"a","description":"b","name":"c"}]`, 0, "", `key "name" given twice`},
		{"duplicate command", `[{"name":"a","description":"b"},{"name":"b","description":"b"},{"name":"a","description":"c"}]`, 2, "a", "already used by command 0"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseManifest([]byte(tt.in))
			var me *ManifestError
			if !errors.As(err, &me) || me.Index != tt.index || me.Name != tt.id || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %#v (%v)\nwant index %d name %q mentioning %q", err, err, tt.index, tt.id, tt.want)
			}
			switch {
			case tt.index < 0:
			case tt.id != "" && !strings.Contains(err.Error(), fmt.Sprintf("command %q", tt.id)):
				t.Errorf("message %q does not name the command %q", err, tt.id)
			case tt.id == "" && !strings.Contains(err.Error(), fmt.Sprintf("command %d:", tt.index)):
				t.Errorf("message %q does not name the entry by its index %d", err, tt.index)
			}
		})
	}
}

func TestLoadManifest(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "commands.json")
	if err := os.WriteFile(path, []byte("[\n  {\"name\": \"ask\", \"description\": \"Ask\"}\n]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := LoadManifest(path)
	if err != nil || string(m) != `[{"name":"ask","description":"Ask"}]` {
		t.Fatalf("LoadManifest = %s, %v", m, err)
	}
	if err := os.WriteFile(path, []byte(`[{"name":"Ask","description":"Ask"}]`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = LoadManifest(path)
	var me *ManifestError
	if !errors.As(err, &me) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), `command "Ask"`) {
		t.Errorf("err = %v", err)
	}
	if _, err := LoadManifest(filepath.Join(dir, "absent.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// manifestNameRule restates the name rule for the fuzz oracle.
var manifestNameRule = regexp.MustCompile(`^[a-z0-9_-]{1,32}$`)

// FuzzLoadManifest checks that the manifest validator never panics, that
// every error is a ManifestError, and that whatever it accepts is a compact
// JSON array whose entries all pass the rules (checked independently here).
func FuzzLoadManifest(f *testing.F) {
	f.Add([]byte(`[{"name":"ask","description":"Ask","options":[{"type":3,"name":"q","description":"Q"}]}]`))
	f.Add([]byte(`[{"name":"a","description":"` + strings.Repeat("a", 98) + `😀"}]`))
	f.Add([]byte(`[{"name":"a","description":"b","name":"c"}]`))
	f.Add([]byte(`[{"name":"a","description":"\ud83d\ude00\ud800"}]`))
	f.Add([]byte(` [ ] `))
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := ParseManifest(data)
		if err != nil {
			var me *ManifestError
			if !errors.As(err, &me) {
				t.Fatalf("error %v is not a ManifestError", err)
			}
			return
		}
		var compact bytes.Buffer
		if json.Compact(&compact, out) != nil || compact.String() != string(out) {
			t.Fatalf("accepted output is not compact JSON: %s", out)
		}
		var entries []map[string]json.RawMessage
		if err := json.Unmarshal(out, &entries); err != nil || entries == nil {
			t.Fatalf("accepted output is not an array of objects: %s (%v)", out, err)
		}
		if len(entries) > MaxManifestCommands {
			t.Fatalf("accepted %d commands", len(entries))
		}
		names := map[string]bool{}
		for i, e := range entries {
			var name, desc string
			if json.Unmarshal(e["name"], &name) != nil || !manifestNameRule.MatchString(name) || names[name] {
				t.Fatalf("entry %d: accepted name %s", i, e["name"])
			}
			names[name] = true
			if json.Unmarshal(e["description"], &desc) != nil {
				t.Fatalf("entry %d: accepted description %s", i, e["description"])
			}
			if n := len(utf16.Encode([]rune(desc))); n < 1 || n > MaxManifestDescriptionUnits {
				t.Fatalf("entry %d: accepted a description of %d UTF-16 units", i, n)
			}
			for k, v := range e {
				switch k {
				case "name", "description":
				case "options":
					var opts []json.RawMessage
					if json.Unmarshal(v, &opts) != nil || opts == nil {
						t.Fatalf("entry %d: accepted options %s", i, v)
					}
				default:
					t.Fatalf("entry %d: accepted key %q", i, k)
				}
			}
		}
	})
}
