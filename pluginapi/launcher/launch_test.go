package launcher

import (
	"bytes"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/relayhost/relay-host/pluginapi"
)

func TestPluginEnvIsAllowlisted(t *testing.T) {
	t.Setenv("RELAY_SECRET", "s3cr3t-value")
	t.Setenv("SOME_HOST_VAR", "x")
	t.Setenv("TZ", "Europe/Lisbon")
	env := strings.Join(PluginEnv("warn"), "\n")
	for _, banned := range []string{"s3cr3t-value", "RELAY_SECRET", "SOME_HOST_VAR"} {
		if strings.Contains(env, banned) {
			t.Errorf("plugin environment contains %q:\n%s", banned, env)
		}
	}
	for _, want := range []string{"TZ=Europe/Lisbon", pluginapi.EnvLogLevel + "=warn"} {
		if !strings.Contains(env, want) {
			t.Errorf("plugin environment lacks %q:\n%s", want, env)
		}
	}
}

// TestExitLoggerDowngradesAnOrderlyStop checks the line go-plugin logs when
// a plugin exits with an error status: an error for a crash, info once the
// host stopped the plugin. (host/plugins tests it with a real process.)
func TestExitLoggerDowngradesAnOrderlyStop(t *testing.T) {
	for _, tt := range []struct {
		stopping bool
		want     string
	}{{false, "[ERROR]"}, {true, "[INFO]"}} {
		var buf bytes.Buffer
		var stopping atomic.Bool
		stopping.Store(tt.stopping)
		l := exitLogger{Logger: hclog.New(&hclog.LoggerOptions{Output: &buf, Level: hclog.Debug}), stopping: &stopping}
		l.Error(goPluginExitMessage, "error", "signal: terminated")
		l.Error("something else")
		lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
		if len(lines) != 2 || !strings.Contains(lines[0], tt.want) || !strings.Contains(lines[0], goPluginExitMessage) || !strings.Contains(lines[1], "[ERROR] something else") {
			t.Errorf("stopping=%v: logged\n%s\nwant the exit at %s and other errors unchanged", tt.stopping, buf.String(), tt.want)
		}
	}
}
