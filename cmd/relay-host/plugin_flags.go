package main

import (
	"fmt"
	"strings"

	"github.com/relayhost/relay-host/host/plugins"
)

// pluginFlags are the plugin flags of run and dev: configuration files and
// how strict the start is.
type pluginFlags struct {
	configs    pluginConfigFlag
	requireAll bool
}

// add defines --plugin-config and --require-all-plugins with their
// environment twins.
func (pf *pluginFlags) add(fs *flagSet) error {
	fs.envNames["plugin-config"] = "RELAY_PLUGIN_CONFIG"
	if v := fs.env.getenv("RELAY_PLUGIN_CONFIG"); v != "" {
		if err := pf.configs.Set(v); err != nil {
			return fmt.Errorf("$RELAY_PLUGIN_CONFIG: %w", err)
		}
	}
	fs.Var(&pf.configs, "plugin-config", "NAME=PATH: the configuration file of plugin NAME, in place of <plugins-dir>/NAME.json; repeatable (or comma-separated)")
	return boolFlag(fs, &pf.requireAll, "require-all-plugins", "RELAY_REQUIRE_ALL_PLUGINS",
		"fail the start when any plugin is refused (pin mismatch, failed start, bad configuration) instead of serving the other platforms")
}

// config is the plugins.Config part these flags set; run and dev watch the
// plugins directory (hot reload).
func (pf *pluginFlags) config(cfg plugins.Config) plugins.Config {
	cfg.PluginConfigs = pf.configs.m
	cfg.RequireAll = pf.requireAll
	cfg.Watch = true
	return cfg
}

// pluginConfigFlag collects repeated --plugin-config NAME=PATH values.
type pluginConfigFlag struct{ m map[string]string }

func (f *pluginConfigFlag) String() string {
	parts := make([]string, 0, len(f.m))
	for name, path := range f.m {
		parts = append(parts, name+"="+path)
	}
	return strings.Join(parts, ",")
}

func (f *pluginConfigFlag) Set(v string) error {
	for _, item := range strings.Split(v, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, path, ok := strings.Cut(item, "=")
		if !ok || name == "" || path == "" || strings.ContainsAny(name, "/ ") {
			return fmt.Errorf("plugin config %q: want NAME=PATH, e.g. github=/etc/relay-host/github.json", item)
		}
		if f.m == nil {
			f.m = map[string]string{}
		}
		if _, dup := f.m[name]; dup {
			return fmt.Errorf("plugin config %q: plugin %s given twice", item, name)
		}
		f.m[name] = path
	}
	return nil
}
