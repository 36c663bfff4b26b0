package launcher

import (
	"os"

	"github.com/relayhost/relay-host/pluginapi"
)

// inheritedEnv is the allowlist of host environment variables a plugin
// process may see. Everything else, in particular RELAY_SECRET and any other
// credential in the host's environment, never reaches a plugin.
var inheritedEnv = [...]string{"PATH", "HOME", "TMPDIR", "TZ", "LANG", "LC_ALL", "SSL_CERT_FILE", "SSL_CERT_DIR"}

// PluginEnv returns the environment a plugin process is started with: the
// allowlisted host variables that are set, plus the plugin log level
// (pluginapi.EnvLogLevel).
func PluginEnv(logLevel string) []string {
	env := make([]string, 0, len(inheritedEnv)+1)
	for _, k := range inheritedEnv {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return append(env, pluginapi.EnvLogLevel+"="+logLevel)
}
