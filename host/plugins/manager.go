package plugins

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/relayhost/relay-host/host/internal/hosterr"
	"github.com/relayhost/relay-host/internal/pluginlink"
	"github.com/relayhost/relay-host/pluginapi"
	"github.com/relayhost/relay-host/pluginapi/launcher"
)

// Dispatch defaults.
const (
	// DefaultMaxInFlight bounds the forwards in flight in each plugin: each
	// has its own window, so a slow plugin cannot take the slots of
	// another. It is the pipelining window of the plugin streams:
	// docs/performance.md measured a stream reaching its throughput at 64
	// in flight; a few times that keeps both cores busy without queueing
	// unboundedly.
	DefaultMaxInFlight = 256
	// DefaultForwardTimeout bounds one forward's trip through its plugin,
	// including waiting for a restarting plugin. A conversion takes
	// microseconds; this only catches a hung or crash-looping plugin. The
	// connector already answered the platform, so there is no user-facing
	// deadline to meet, only a buffered forward to leave un-acked.
	DefaultForwardTimeout = 10 * time.Second
)

// ErrNoPlugin is returned (wrapped) by Dispatch for a platform no plugin
// serves. It is the same value as host.ErrNoPlugin, which the host checks
// without importing this package.
var ErrNoPlugin = hosterr.ErrNoPlugin

// Config configures a Manager.
type Config struct {
	// Dir is the plugins directory.
	Dir string
	// Logger is the host logger.
	Logger hclog.Logger
	// LogLevel is passed to plugin processes; "" means the logger's level.
	LogLevel string
	// MaxInFlight bounds concurrent forwards per plugin; 0 means
	// DefaultMaxInFlight.
	MaxInFlight int
	// ForwardTimeout bounds one forward; 0 means DefaultForwardTimeout.
	ForwardTimeout time.Duration
	// Observer receives plugin lifecycle events; nil means none.
	Observer Observer
	// PluginConfigs maps a plugin's name to its configuration file, in
	// place of DIR/<name>.json (config.go describes the format).
	PluginConfigs map[string]string
	// RequireAll makes any refused plugin (pin mismatch, failed start, bad
	// configuration) fail Open, as before failure isolation. Without it a
	// refused plugin is reported (Refusals) and the others serve.
	RequireAll bool
	// Watch turns on hot reload: the Manager watches the plugins directory
	// (and the configuration and secret files) and takes a new or replaced
	// plugin, and a changed configuration, without a restart (reload.go).
	Watch bool
	// User, when set, is the account plugins run as (the host must run as
	// root; Linux only).
	User *launcher.User
	// restart is the supervisors' restart policy; zero means the default
	// (tests shorten it).
	restart restartPolicy
	// reloadSettle overrides ReloadSettle (tests).
	reloadSettle time.Duration
	// onReload, when set, is told the outcome of each reload and
	// reconfiguration (tests).
	onReload func(name string, err error)
}

// entry is one running plugin: its supervisor and the calls in flight on
// it, which a hot reload lets finish before it stops the process.
type entry struct {
	sup      *Supervisor
	inflight sync.WaitGroup
	observer *retirable
	slots    chan struct{} // the plugin's window: Config.MaxInFlight calls at once
}

// Manager starts every plugin in a directory, supervises them and
// dispatches forwards by platform. It is safe for concurrent use.
type Manager struct {
	cfg       Config
	seq       atomic.Uint64 // forward ids
	closeOnce sync.Once
	watch     *watcher // nil without Config.Watch

	mu         sync.RWMutex
	entries    map[string]*entry // by plugin name
	byPlatform map[string]*entry
	refused    map[string]*Refusal          // by plugin name
	configs    map[string]*pluginapi.Config // accepted configuration, by plugin name
	retiring   sync.WaitGroup               // replaced plugins finishing their calls
	closed     bool
}

// Open discovers the plugins in cfg.Dir, checks them against the pin file,
// starts them all (in parallel), configures them and maps platforms to
// plugins. It fails for a directory that does not exist (*DirError) or
// holds no plugin (*NoPluginsError), a directory or pin file others could
// change (a *launcher.PermissionError, CheckPermissions), a malformed pin
// file, two plugins claiming one platform (*PlatformConflictError), or when
// no plugin could start. A plugin that is refused (a *PinError, a
// *launcher.PermissionError, launcher's *HandshakeError or *ProtocolError,
// a *ConfigError or *launcher.ConfigureError) is logged at error level and
// reported by Refusals; with cfg.RequireAll it fails Open instead.
func Open(ctx context.Context, cfg Config) (*Manager, error) {
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.LogLevel == "" {
		cfg.LogLevel = cfg.Logger.GetLevel().String()
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = DefaultMaxInFlight
	}
	if cfg.ForwardTimeout <= 0 {
		cfg.ForwardTimeout = DefaultForwardTimeout
	}
	if cfg.reloadSettle <= 0 {
		cfg.reloadSettle = ReloadSettle
	}
	cands, skipped, err := Discover(cfg.Dir)
	if err != nil {
		return nil, err
	}
	for _, s := range skipped {
		cfg.Logger.Warn("skipping file in plugins directory", "path", s.Path, "reason", s.Reason)
	}
	if len(cands) == 0 {
		return nil, &NoPluginsError{Dir: cfg.Dir}
	}
	if err := CheckPermissions(cfg.Dir, cands); err != nil {
		return nil, err
	}
	pins, err := ReadPins(cfg.Dir)
	if err != nil {
		return nil, err
	}
	for name := range cfg.PluginConfigs {
		if !slices.ContainsFunc(cands, func(c Candidate) bool { return c.Name == name }) {
			cfg.Logger.Warn("a plugin configuration names a plugin that is not installed", "plugin", name, "path", cfg.PluginConfigs[name])
		}
	}

	m := &Manager{cfg: cfg, entries: map[string]*entry{},
		byPlatform: map[string]*entry{}, refused: map[string]*Refusal{}, configs: map[string]*pluginapi.Config{}}
	started := make([]*entry, len(cands))
	refusals := make([]*Refusal, len(cands))
	var wg sync.WaitGroup
	for i, c := range cands {
		if err := pins.Check(c); err != nil {
			refusals[i] = &Refusal{Candidate: c, Platforms: []string{c.Name}, Err: err}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			started[i], refusals[i] = m.start(ctx, c, pins != nil)
		}()
	}
	wg.Wait()
	var strict errorList
	for i, c := range cands {
		if r := refusals[i]; r != nil {
			strict = append(strict, r.Err)
			m.refused[c.Name] = r
		}
		if e := started[i]; e != nil {
			m.entries[c.Name] = e
		}
	}
	for _, name := range slices.Sorted(maps.Keys(m.entries)) {
		e := m.entries[name]
		for _, p := range e.sup.Info().Platforms {
			if other, dup := m.byPlatform[p]; dup {
				m.Close()
				return nil, &PlatformConflictError{Platform: p, Paths: [2]string{other.sup.cand.Path, e.sup.cand.Path}, Dir: cfg.Dir}
			}
			m.byPlatform[p] = e
		}
	}
	if len(strict) > 0 && (cfg.RequireAll || len(m.entries) == 0) {
		m.Close()
		return nil, strict
	}
	for _, r := range m.refused {
		m.reportRefusal(r)
	}
	if cfg.Watch {
		if _, err := startWatcher(m); err != nil {
			m.Close()
			return nil, err
		}
	}
	return m, nil
}

// start starts and configures one plugin. On failure it returns the
// refusal: the platforms the plugin claimed when it got as far as saying
// (else its name, the usual platform of relay-plugin-<name>) and why.
func (m *Manager) start(ctx context.Context, c Candidate, pinned bool) (*entry, *Refusal) {
	obs := &retirable{inner: m.cfg.Observer}
	var platforms []string
	var loaded *loadedConfig
	first := true
	configure := func(info pluginapi.Info) (*pluginapi.Config, error) {
		if !first { // a restart: the configuration the plugin last accepted
			m.mu.RLock()
			defer m.mu.RUnlock()
			return m.configs[c.Name], nil
		}
		first, platforms = false, info.Platforms
		lc, err := m.loadChecked(c.Name, info)
		if err != nil {
			return nil, err
		}
		loaded = lc
		return configOf(lc, info), nil
	}
	sup, err := StartSupervisor(ctx, c, SupervisorConfig{
		Logger: m.cfg.Logger, LogLevel: m.cfg.LogLevel, Pinned: pinned, Observer: obs,
		User: m.cfg.User, Configure: configure, restart: m.cfg.restart,
	})
	if err != nil {
		if len(platforms) == 0 {
			platforms = []string{c.Name}
		}
		return nil, &Refusal{Candidate: c, Platforms: platforms, Err: err}
	}
	m.mu.Lock()
	if cfg := configOf(loaded, sup.Info()); cfg != nil {
		m.configs[c.Name] = cfg
	} else {
		delete(m.configs, c.Name)
	}
	m.mu.Unlock()
	if m.watch != nil && loaded != nil {
		m.watch.addFiles(c.Name, loaded.secretFiles...)
	}
	return &entry{sup: sup, observer: obs, slots: make(chan struct{}, m.cfg.MaxInFlight)}, nil
}

// loadChecked reads plugin name's configuration file and checks it against
// the schema in info.
func (m *Manager) loadChecked(name string, info pluginapi.Info) (*loadedConfig, error) {
	path, must := configPath(m.cfg.Dir, name, m.cfg.PluginConfigs)
	lc, err := loadConfig(name, path, must)
	if err != nil {
		return nil, err
	}
	if err := checkConfig(name, path, lc, info.Config); err != nil {
		return nil, err
	}
	return lc, nil
}

// configOf is the configuration to send a plugin: the loaded one, or an
// empty one for a plugin that takes configuration but has no file (so that
// Configure always comes before the first forward); nil for a plugin that
// takes none and has no file.
func configOf(lc *loadedConfig, info pluginapi.Info) *pluginapi.Config {
	if lc != nil {
		c := lc.config
		return &c
	}
	if info.HasCapability(pluginlink.CapabilityConfigure) {
		return &pluginapi.Config{Settings: json.RawMessage("{}"), Secrets: map[string][]byte{}}
	}
	return nil
}

// Platforms returns the platforms the running plugins serve, sorted.
func (m *Manager) Platforms() []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return slices.Sorted(maps.Keys(m.byPlatform))
}

// Statuses returns a snapshot of every running plugin, sorted by name.
func (m *Manager) Statuses() []Status {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]Status, 0, len(m.entries))
	for _, name := range slices.Sorted(maps.Keys(m.entries)) {
		out = append(out, m.entries[name].sup.Status())
	}
	return out
}

// Healthy reports whether every running plugin is up (refused plugins are
// reported by Refusals, not here).
func (m *Manager) Healthy() bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	for _, e := range m.entries {
		if e.sup.Status().State != StateUp {
			return false
		}
	}
	return true
}

// Serves reports whether a running plugin serves platform.
func (m *Manager) Serves(platform string) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	_, ok := m.byPlatform[platform]
	return ok
}

// acquire returns the entry serving platform with one more call counted in
// flight on it (release with e.inflight.Done), or the refusal of the
// plugin that would have served it.
func (m *Manager) acquire(platform string) (*entry, *Refusal) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if e, ok := m.byPlatform[platform]; ok {
		e.inflight.Add(1)
		return e, nil
	}
	return nil, m.refusalFor(platform)
}

// Dispatch runs a forward through the plugin for its platform, within that
// plugin's concurrency bound (its own window: a slow plugin cannot hold
// the slots of another) and the per-forward deadline. The error is non-nil when
// no result was produced (no plugin for the platform, ErrPluginRefused
// when its plugin was refused, the plugin died or timed out, ctx ended);
// the forward must then not be acknowledged (except for ErrNoPlugin, which
// the host settles as a deliberate drop). A forward without an id gets one
// (Forward.ID), which the plugin's log lines about it carry.
func (m *Manager) Dispatch(ctx context.Context, f pluginapi.Forward) (pluginapi.Result, error) {
	e, refusal := m.acquire(f.Platform)
	if e == nil {
		if refusal != nil {
			return pluginapi.Result{}, fmt.Errorf("%w: plugin %s, which serves %q, was refused: %v", ErrPluginRefused, refusal.Name, f.Platform, refusal.Err)
		}
		return pluginapi.Result{}, fmt.Errorf("%w: %q (installed plugins serve: %s)", ErrNoPlugin, f.Platform, strings.Join(m.Platforms(), ", "))
	}
	defer e.inflight.Done()
	if f.ID == "" {
		f.ID = strconv.FormatUint(m.seq.Add(1), 10)
	}
	ctx, cancel := context.WithTimeout(ctx, m.cfg.ForwardTimeout)
	defer cancel()
	select {
	case e.slots <- struct{}{}:
	case <-ctx.Done():
		return pluginapi.Result{}, fmt.Errorf("waiting for a dispatch slot: %w", ctx.Err())
	}
	defer func() { <-e.slots }()
	return e.sup.Handle(ctx, f)
}

// Close stops every plugin (asking each to shut down first) and waits for
// them to be gone. It is safe to call more than once.
func (m *Manager) Close() {
	m.closeOnce.Do(func() {
		if m.watch != nil {
			m.watch.close()
		}
		m.mu.Lock()
		m.closed = true
		entries := slices.Collect(maps.Values(m.entries))
		m.mu.Unlock()
		m.retiring.Wait()
		var wg sync.WaitGroup
		for _, e := range entries {
			wg.Add(1)
			go func() { defer wg.Done(); e.sup.Close() }()
		}
		wg.Wait()
	})
}
