package plugins

import (
	"errors"
	"maps"
	"slices"
	"sync/atomic"
)

// ErrPluginRefused is the error (wrapped) of a forward for a platform whose
// plugin was refused (at start, or a hot-reloaded file that could not
// start with no older process to keep serving). Unlike ErrNoPlugin, the
// forward is not settled: the connector keeps it until the plugin is fixed.
var ErrPluginRefused = errors.New("the plugin for this platform was refused")

// Refusal is a plugin that is not running because it was refused: its pin
// did not match, it failed to start or to take its configuration.
type Refusal struct {
	Candidate
	// Platforms are the platforms the plugin claims: those it named in its
	// Info when it got that far, else its name (relay-plugin-<name>
	// usually serves platform <name>). Their forwards are left un-acked.
	Platforms []string
	// Err says why it was refused.
	Err error
}

// Refusals returns the refused plugins, sorted by name.
func (m *Manager) Refusals() []Refusal {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]Refusal, 0, len(m.refused))
	for _, name := range slices.Sorted(maps.Keys(m.refused)) {
		out = append(out, *m.refused[name])
	}
	return out
}

// refusalFor returns the refusal of the plugin that claims platform, if
// any. m.mu must be held.
func (m *Manager) refusalFor(platform string) *Refusal {
	for _, r := range m.refused {
		if slices.Contains(r.Platforms, platform) {
			return r
		}
	}
	return nil
}

// reportRefusal logs a refusal loudly: the operator must act on it.
func (m *Manager) reportRefusal(r *Refusal) {
	m.cfg.Logger.Error("PLUGIN REFUSED: it does not run; forwards for its platforms are left un-acknowledged, so the connector keeps them until it is fixed; every other platform is served",
		"plugin", r.Name, "path", r.Path, "platforms", r.Platforms, "error", r.Err)
}

// retirable passes lifecycle events on until it is retired: a plugin
// replaced by a hot reload then stops without its stop being reported
// over its successor's state.
type retirable struct {
	inner   Observer
	retired atomic.Bool
}

// PluginState implements Observer.
func (r *retirable) PluginState(name string, s State) {
	if r.inner != nil && !r.retired.Load() {
		r.inner.PluginState(name, s)
	}
}

// PluginRestarted implements Observer.
func (r *retirable) PluginRestarted(name string) {
	if r.inner != nil && !r.retired.Load() {
		r.inner.PluginRestarted(name)
	}
}
