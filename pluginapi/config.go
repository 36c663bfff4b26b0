package pluginapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Configurer is implemented by a plugin that takes settings and secrets.
// Serve then advertises the "configure" capability, and the host calls
// Configure once before the plugin's first forward, and again whenever the
// plugin's configuration file (or a secret file it names) changes.
//
// Configure may run while forwards and actions are in flight: keep the
// configuration behind an atomic.Pointer (or a mutex) and swap it whole.
// Return an error to refuse a configuration: the host logs the error (keep
// secrets out of it), keeps the process, and the plugin must go on with its
// previous configuration. A refusal of the first configuration keeps the
// plugin from serving.
type Configurer interface {
	Configure(ctx context.Context, c Config) error
}

// Config is one configuration of a plugin: the settings object of its
// configuration file and the contents of the secret files the file names
// (the host reads them; a plugin never reads the host's files itself).
type Config struct {
	// Settings is the settings object as JSON ("{}" when there are none).
	Settings json.RawMessage
	// Secrets maps a secret's name to the exact bytes of its file.
	Secrets map[string][]byte
	// Generation counts the configurations the host sent this process,
	// from 1.
	Generation uint64
}

// Decode decodes the settings into v (a pointer to a struct with json
// tags). A key v has no field for is an error naming it, so a typo in the
// configuration file is caught rather than ignored.
func (c Config) Decode(v any) error {
	raw := c.Settings
	if len(bytes.TrimSpace(raw)) == 0 {
		raw = json.RawMessage("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("settings: %w", err)
	}
	return nil
}

// Secret returns the secret name as text, with trailing line breaks and
// spaces removed (a secret file usually ends with a newline), and whether
// it was given.
func (c Config) Secret(name string) (string, bool) {
	b, ok := c.Secrets[name]
	if !ok {
		return "", false
	}
	return strings.TrimRight(string(b), "\r\n\t "), true
}

// ConfigSchema declares the settings and secrets a plugin takes. The host
// checks a plugin's configuration file against it when the plugin starts
// (and on every change), and refuses a file with a key the schema does not
// list, a missing required key or a value of the wrong type, naming the
// key, before the plugin sees it.
type ConfigSchema struct {
	// Settings are the keys of the settings object.
	Settings []SettingSpec `json:"settings,omitempty"`
	// Secrets are the secrets the plugin takes.
	Secrets []SecretSpec `json:"secrets,omitempty"`
}

// SettingType is the JSON type of a setting.
type SettingType string

// Setting types.
const (
	SettingString  SettingType = "string"
	SettingNumber  SettingType = "number"
	SettingBool    SettingType = "bool"
	SettingStrings SettingType = "strings" // a list of strings
	SettingAny     SettingType = "any"     // any JSON value
)

// SettingSpec is one key of the settings object.
type SettingSpec struct {
	// Name is the key.
	Name string `json:"name"`
	// Type is the value's JSON type; "" is SettingAny.
	Type SettingType `json:"type,omitempty"`
	// Required makes a configuration without the key invalid.
	Required bool `json:"required,omitempty"`
	// Description says what the setting does (shown by the host).
	Description string `json:"description,omitempty"`
}

// SecretSpec is one secret a plugin takes.
type SecretSpec struct {
	// Name is the secret's name in the configuration file.
	Name string `json:"name"`
	// Required makes a configuration without the secret invalid.
	Required bool `json:"required,omitempty"`
	// Description says what the secret is.
	Description string `json:"description,omitempty"`
}

// Check checks a settings object and the names of the secrets given
// against the schema: every key must be declared and of its type, every
// required setting and secret present. The error names the first bad key.
func (s ConfigSchema) Check(settings map[string]any, secrets []string) error {
	specs := make(map[string]SettingSpec, len(s.Settings))
	for _, sp := range s.Settings {
		specs[sp.Name] = sp
	}
	for _, k := range sortedKeys(settings) {
		sp, ok := specs[k]
		if !ok {
			return fmt.Errorf("settings: unknown key %q (this plugin takes: %s)", k, s.settingNames())
		}
		if !sp.Type.matches(settings[k]) {
			return fmt.Errorf("settings: key %q must be %s", k, sp.Type.describe())
		}
	}
	for _, sp := range s.Settings {
		if _, ok := settings[sp.Name]; sp.Required && !ok {
			return fmt.Errorf("settings: required key %q is missing", sp.Name)
		}
	}
	declared := make(map[string]bool, len(s.Secrets))
	for _, sp := range s.Secrets {
		declared[sp.Name] = true
	}
	given := make(map[string]bool, len(secrets))
	for _, name := range secrets {
		if !declared[name] {
			return fmt.Errorf("secrets: unknown secret %q (this plugin takes: %s)", name, s.secretNames())
		}
		given[name] = true
	}
	for _, sp := range s.Secrets {
		if sp.Required && !given[sp.Name] {
			return fmt.Errorf("secrets: required secret %q is missing", sp.Name)
		}
	}
	return nil
}

func (s ConfigSchema) settingNames() string {
	names := make([]string, len(s.Settings))
	for i, sp := range s.Settings {
		names[i] = sp.Name
	}
	return orNoneList(names)
}

func (s ConfigSchema) secretNames() string {
	names := make([]string, len(s.Secrets))
	for i, sp := range s.Secrets {
		names[i] = sp.Name
	}
	return orNoneList(names)
}

func orNoneList(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// matches reports whether v (decoded by encoding/json) has the type.
func (t SettingType) matches(v any) bool {
	switch t {
	case SettingString:
		_, ok := v.(string)
		return ok
	case SettingNumber:
		switch v.(type) {
		case float64, json.Number:
			return true
		}
		return false
	case SettingBool:
		_, ok := v.(bool)
		return ok
	case SettingStrings:
		list, ok := v.([]any)
		if !ok {
			return false
		}
		for _, item := range list {
			if _, ok := item.(string); !ok {
				return false
			}
		}
		return true
	}
	return true
}

func (t SettingType) describe() string {
	switch t {
	case SettingString:
		return "a string"
	case SettingNumber:
		return "a number"
	case SettingBool:
		return "true or false"
	case SettingStrings:
		return "a list of strings"
	}
	return "a JSON value"
}

func sortedKeys(m map[string]any) []string { return slices.Sorted(maps.Keys(m)) }
