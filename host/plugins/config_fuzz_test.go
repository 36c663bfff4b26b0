package plugins

import (
	"errors"
	"testing"

	"github.com/relayhost/relay-host/pluginapi"
)

// FuzzParseConfig feeds arbitrary configuration files to the parser and
// the schema check: no panic, every failure a *ConfigError, and a parsed
// configuration always hands the plugin a JSON object and only the
// secrets the file names.
func FuzzParseConfig(f *testing.F) {
	for _, seed := range []string{
		`{"settings": {"greeting": "hi", "n": 1, "l": ["a"]}, "secrets": {"token": {"file": "t"}}}`,
		`{"settings": null}`, `{}`, `{"secrets": {"x": {}}}`, `[1]`, `{"settings": {"a": 1}} {}`,
	} {
		f.Add([]byte(seed))
	}
	schema := &pluginapi.ConfigSchema{
		Settings: []pluginapi.SettingSpec{{Name: "greeting", Type: pluginapi.SettingString}, {Name: "n", Type: pluginapi.SettingNumber},
			{Name: "l", Type: pluginapi.SettingStrings}},
		Secrets: []pluginapi.SecretSpec{{Name: "token"}},
	}
	secret := func(string) ([]byte, error) { return []byte("s3cr3t"), nil }
	f.Fuzz(func(t *testing.T, data []byte) {
		lc, err := parseConfig("p", "p.json", data, secret)
		if err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("error %T %v is not a *ConfigError", err, err)
			}
			return
		}
		if len(lc.config.Settings) == 0 || lc.config.Settings[0] != '{' {
			t.Fatalf("settings %q are not an object", lc.config.Settings)
		}
		if err := checkConfig("p", "p.json", lc, schema); err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("check error %T is not a *ConfigError", err)
			}
		}
	})
}

func TestParseConfigRefusesMoreThanOneValue(t *testing.T) {
	t.Parallel()
	_, err := parseConfig("p", "p.json", []byte(`{"settings": {}} {"settings": {"x": 1}}`), nil)
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Err.Error() != "more than one JSON value" {
		t.Errorf("two objects: %v, want a *ConfigError saying more than one JSON value", err)
	}
}
