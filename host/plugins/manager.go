package plugins

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/relayhost/relay-host/pluginapi"
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

// ErrNoPlugin is returned by Dispatch for a platform no plugin serves.
var ErrNoPlugin = errors.New("no plugin serves this platform")

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
	// restart is the supervisors' restart policy; zero means the default
	// (tests shorten it).
	restart restartPolicy
}

// Manager starts every plugin in a directory, supervises them and
// dispatches forwards by platform. It is safe for concurrent use.
type Manager struct {
	cfg        Config
	sups       []*Supervisor
	byPlatform map[string]*Supervisor
	slots      map[*Supervisor]chan struct{} // each plugin's window
	closeOnce  sync.Once
}

// Open discovers the plugins in cfg.Dir, checks them against the pin file,
// starts them all (in parallel) and maps platforms to plugins. Any failure
// stops the plugins already started and is returned: a directory that does
// not exist (*DirError) or holds no plugin (*NoPluginsError), refused pins
// (each a *PinError), a plugin that fails to start (launcher's
// *HandshakeError, *ProtocolError, …), two plugins claiming one platform
// (*PlatformConflictError).
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
	pins, err := ReadPins(cfg.Dir)
	if err != nil {
		return nil, err
	}
	var refused errorList
	for _, c := range cands {
		if err := pins.Check(c); err != nil {
			refused = append(refused, err)
		}
	}
	if len(refused) > 0 {
		return nil, refused
	}

	m := &Manager{cfg: cfg, byPlatform: map[string]*Supervisor{}, slots: map[*Supervisor]chan struct{}{}}
	sups := make([]*Supervisor, len(cands))
	errs := make([]error, len(cands))
	var wg sync.WaitGroup
	for i, c := range cands {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sups[i], errs[i] = StartSupervisor(ctx, c, SupervisorConfig{
				Logger: cfg.Logger, LogLevel: cfg.LogLevel, Pinned: pins != nil, Observer: cfg.Observer,
				restart: cfg.restart,
			})
		}()
	}
	wg.Wait()
	for _, s := range sups {
		if s != nil {
			m.sups = append(m.sups, s)
			m.slots[s] = make(chan struct{}, cfg.MaxInFlight)
		}
	}
	if err := errors.Join(errs...); err != nil {
		m.Close()
		return nil, err
	}
	for _, s := range m.sups {
		for _, p := range s.Info().Platforms {
			if other, dup := m.byPlatform[p]; dup {
				m.Close()
				return nil, &PlatformConflictError{Platform: p, Paths: [2]string{other.cand.Path, s.cand.Path}, Dir: cfg.Dir}
			}
			m.byPlatform[p] = s
		}
	}
	return m, nil
}

// Platforms returns the platforms the plugins serve, sorted.
func (m *Manager) Platforms() []string {
	out := make([]string, 0, len(m.byPlatform))
	for p := range m.byPlatform {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// Statuses returns a snapshot of every plugin, sorted by name.
func (m *Manager) Statuses() []Status {
	out := make([]Status, len(m.sups))
	for i, s := range m.sups {
		out[i] = s.Status()
	}
	return out
}

// Healthy reports whether every plugin is up.
func (m *Manager) Healthy() bool {
	for _, s := range m.sups {
		if s.Status().State != StateUp {
			return false
		}
	}
	return true
}

// Serves reports whether a plugin serves platform.
func (m *Manager) Serves(platform string) bool {
	_, ok := m.byPlatform[platform]
	return ok
}

// Dispatch runs a forward through the plugin for its platform, within that
// plugin's concurrency bound and the per-forward deadline. The error is non-nil when
// no result was produced (no plugin for the platform, the plugin died or
// timed out, ctx ended); the forward must then not be acknowledged.
func (m *Manager) Dispatch(ctx context.Context, f pluginapi.Forward) (pluginapi.Result, error) {
	s, ok := m.byPlatform[f.Platform]
	if !ok {
		return pluginapi.Result{}, fmt.Errorf("%w: %q (installed plugins serve: %s)", ErrNoPlugin, f.Platform, strings.Join(m.Platforms(), ", "))
	}
	ctx, cancel := context.WithTimeout(ctx, m.cfg.ForwardTimeout)
	defer cancel()
	slots := m.slots[s]
	select {
	case slots <- struct{}{}:
	case <-ctx.Done():
		return pluginapi.Result{}, fmt.Errorf("waiting for a dispatch slot: %w", ctx.Err())
	}
	defer func() { <-slots }()
	return s.Handle(ctx, f)
}

// Close kills every plugin process and waits for them to be gone. It is
// safe to call more than once.
func (m *Manager) Close() {
	m.closeOnce.Do(func() {
		var wg sync.WaitGroup
		for _, s := range m.sups {
			wg.Add(1)
			go func() { defer wg.Done(); s.Close() }()
		}
		wg.Wait()
	})
}
