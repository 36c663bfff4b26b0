package plugins

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/relayhost/relay-host/pluginapi"
)

// A plugin's configuration file is DIR/<name>.json beside the plugin (or
// the file Config.PluginConfigs names for it):
//
//	{
//	  "settings": {"repos": ["octo-org/octo-repo"], "bot_login": "relay-bot"},
//	  "secrets":  {"webhook_secret": {"file": "/etc/relay-host/github-webhook-secret"}}
//	}
//
// "settings" is any JSON object, handed to the plugin as it is (and checked
// against the schema the plugin declares, if any). Each secret names a file
// (a relative path is relative to the configuration file's directory); the
// host reads it and hands its exact bytes to the plugin over the plugin
// link, never through the environment, and never logs them. A secret file
// must be a regular file readable by its owner only (chmod 600).
const (
	// ConfigFileSuffix is the suffix of a configuration file in the plugins
	// directory: <name>.json configures relay-plugin-<name>.
	ConfigFileSuffix = ".json"
	// MaxConfigFileBytes bounds a configuration file: settings are a few
	// lines; a megabyte is a mistake (a wrong file), not a configuration.
	MaxConfigFileBytes = 1 << 20
	// MaxSecretFileBytes bounds a secret file: keys and tokens are under a
	// few KiB (a PEM private key is about 3 KiB).
	MaxSecretFileBytes = 64 << 10
)

// ConfigError says a plugin's configuration file (or a secret file it
// names) cannot be used; Err names the bad key or file.
type ConfigError struct {
	// Plugin is the plugin's name.
	Plugin string
	// Path is the configuration file.
	Path string
	// Err says what is wrong.
	Err error
}

// Error states the facts.
func (e *ConfigError) Error() string {
	return fmt.Sprintf("plugin %s: configuration %s: %v", e.Plugin, e.Path, e.Err)
}

// Unwrap returns what is wrong.
func (e *ConfigError) Unwrap() error { return e.Err }

// configFile is the JSON form of a configuration file.
type configFile struct {
	Settings json.RawMessage      `json:"settings"`
	Secrets  map[string]secretRef `json:"secrets"`
}

// secretRef names a secret's file.
type secretRef struct {
	File string `json:"file"`
}

// loadedConfig is a configuration file read, with its secrets.
type loadedConfig struct {
	config pluginapi.Config
	// settings is the settings object decoded, for the schema check.
	settings map[string]any
	// secretFiles are the secret files read, for the watcher.
	secretFiles []string
}

// configPath returns the configuration file of plugin name: the one
// explicit names, else DIR/<name>.json; and whether that file must exist
// (an explicit one must).
func configPath(dir, name string, explicit map[string]string) (string, bool) {
	if p, ok := explicit[name]; ok {
		return p, true
	}
	return filepath.Join(dir, name+ConfigFileSuffix), false
}

// loadConfig reads plugin name's configuration file at path and its secret
// files. A missing file that need not exist is no configuration (nil, nil).
func loadConfig(name, path string, mustExist bool) (*loadedConfig, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) && !mustExist {
		return nil, nil
	}
	if err != nil {
		return nil, &ConfigError{Plugin: name, Path: path, Err: err}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxConfigFileBytes+1))
	if err != nil {
		return nil, &ConfigError{Plugin: name, Path: path, Err: err}
	}
	return parseConfig(name, path, data, readSecretFile)
}

// parseConfig parses the configuration file data of plugin name (read
// from path) and reads its secrets with readSecret.
func parseConfig(name, path string, data []byte, readSecret func(string) ([]byte, error)) (*loadedConfig, error) {
	cerr := func(format string, args ...any) error {
		return &ConfigError{Plugin: name, Path: path, Err: fmt.Errorf(format, args...)}
	}
	if len(data) > MaxConfigFileBytes {
		return nil, cerr("larger than %d bytes", MaxConfigFileBytes)
	}
	var cf configFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cf); err != nil {
		return nil, cerr("not a configuration object {\"settings\": {…}, \"secrets\": {\"NAME\": {\"file\": PATH}}}: %v", err)
	}
	if dec.More() {
		return nil, cerr("more than one JSON value")
	}
	lc := &loadedConfig{config: pluginapi.Config{Settings: json.RawMessage("{}"), Secrets: map[string][]byte{}}}
	if s := bytes.TrimSpace(cf.Settings); len(s) > 0 && !bytes.Equal(s, []byte("null")) {
		if err := json.Unmarshal(s, &lc.settings); err != nil || lc.settings == nil {
			return nil, cerr("\"settings\" must be a JSON object")
		}
		lc.config.Settings = json.RawMessage(s)
	}
	for _, secret := range slices.Sorted(maps.Keys(cf.Secrets)) {
		ref := cf.Secrets[secret]
		if ref.File == "" {
			return nil, cerr("secret %q: want {\"file\": PATH}", secret)
		}
		file := ref.File
		if !filepath.IsAbs(file) {
			file = filepath.Join(filepath.Dir(path), file)
		}
		b, err := readSecret(file)
		if err != nil {
			return nil, cerr("secret %q: %v", secret, err)
		}
		lc.config.Secrets[secret] = b
		lc.secretFiles = append(lc.secretFiles, file)
	}
	return lc, nil
}

// readSecretFile reads a secret file, refusing one that others may read.
func readSecretFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err // the error names the file and says why
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	switch {
	case !st.Mode().IsRegular():
		return nil, fmt.Errorf("%s is not a regular file", path)
	case st.Mode().Perm()&0o077 != 0:
		return nil, fmt.Errorf("%s is readable by group or others (mode %04o): chmod 600 it", path, st.Mode().Perm())
	case st.Size() > MaxSecretFileBytes:
		return nil, fmt.Errorf("%s is larger than %d bytes", path, MaxSecretFileBytes)
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxSecretFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(b) > MaxSecretFileBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, MaxSecretFileBytes)
	}
	return b, nil
}

// checkConfig checks a loaded configuration (nil: none) against the schema
// the plugin declared (nil: none). A plugin that declares a schema with a
// required key needs a configuration file.
func checkConfig(name, path string, lc *loadedConfig, schema *pluginapi.ConfigSchema) error {
	if schema == nil {
		return nil
	}
	var settings map[string]any
	var secrets []string
	if lc != nil {
		settings = lc.settings
		secrets = slices.Sorted(maps.Keys(lc.config.Secrets))
	}
	if err := schema.Check(settings, secrets); err != nil {
		if lc == nil {
			err = fmt.Errorf("the file does not exist: %w", err)
		}
		return &ConfigError{Plugin: name, Path: path, Err: err}
	}
	return nil
}
