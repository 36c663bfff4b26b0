package plugins

// Hot reload: with Config.Watch, the Manager watches the plugins directory
// (fsnotify) and, for each file that changed and then stayed quiet for
// ReloadSettle:
//
//   - relay-plugin-<name>, new or replaced (written in place, or moved into
//     place): a regular, executable file whose hash differs from the running
//     process's is checked against the pin file, started and configured in
//     a new process, health-checked, and swapped in; forwards in flight
//     finish on the old process, which is then stopped. A file that is not
//     pinned, not executable, half-written (its hash matches no pin, or it
//     fails to start) or that fails to start is not taken, and the old
//     process keeps serving. Removing a file stops nothing.
//   - plugins.sha256: every plugin file is looked at again (a plugin refused
//     for its pin starts once it is pinned).
//   - <name>.json, a --plugin-config file or a secret file one names: the
//     configuration is read and checked again and handed to the running
//     plugin (Configure); a file that does not check out, or a
//     configuration the plugin refuses, is logged and the plugin keeps its
//     current one. A plugin refused at start is started again.

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/relayhost/relay-host/internal/pluginlink"
	"github.com/relayhost/relay-host/pluginapi/launcher"
)

// ReloadSettle is how long a changed file must stay quiet (no further
// event) before it is looked at: a copy or a build writes in bursts
// milliseconds apart, so a quarter of a second without a write means the
// writer is done (and a half-written file that slips through is refused by
// its pin or fails to start, leaving the old process serving).
const ReloadSettle = 250 * time.Millisecond

// watcher is the Manager's fsnotify loop.
type watcher struct {
	m       *Manager
	fw      *fsnotify.Watcher
	dir     string
	stop    chan struct{}
	stopped chan struct{}

	mu   sync.Mutex
	dirs map[string]bool // directories watched
	// owners maps a watched file outside the plugins directory (a
	// --plugin-config file, a secret file) to the plugins it configures.
	owners map[string][]string
}

// startWatcher watches the plugins directory and the configuration files
// named outside it.
func startWatcher(m *Manager) (*watcher, error) {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch plugins directory: %w", err)
	}
	dir, _ := filepath.Abs(m.cfg.Dir)
	w := &watcher{m: m, fw: fw, dir: dir, stop: make(chan struct{}), stopped: make(chan struct{}),
		dirs: map[string]bool{}, owners: map[string][]string{}}
	if err := w.watchDir(dir); err != nil {
		fw.Close()
		return nil, fmt.Errorf("watch plugins directory %s: %w", dir, err)
	}
	for name, path := range m.cfg.PluginConfigs {
		w.addFiles(name, path)
	}
	m.mu.RLock()
	for name := range m.entries {
		path, must := configPath(m.cfg.Dir, name, m.cfg.PluginConfigs)
		if lc, _ := loadConfig(name, path, must); lc != nil {
			w.addFiles(name, lc.secretFiles...)
		}
	}
	m.mu.RUnlock()
	m.watch = w // before the loop runs: a reload it starts reads it
	go w.loop()
	return w, nil
}

func (w *watcher) watchDir(dir string) error {
	if w.dirs[dir] {
		return nil
	}
	if err := w.fw.Add(dir); err != nil {
		return err
	}
	w.dirs[dir] = true
	return nil
}

// addFiles watches files that configure plugin name.
func (w *watcher) addFiles(name string, paths ...string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			continue
		}
		if !slices.Contains(w.owners[abs], name) {
			w.owners[abs] = append(w.owners[abs], name)
		}
		if err := w.watchDir(filepath.Dir(abs)); err != nil {
			w.m.cfg.Logger.Warn("cannot watch a configuration file for changes", "path", abs, "error", err)
		}
	}
}

// close stops the loop and waits for it (and a reload in progress).
func (w *watcher) close() {
	close(w.stop)
	<-w.stopped
	w.fw.Close()
}

// loop collects events and handles each path once it has been quiet for
// the settle time. Reloads run one at a time, on this goroutine.
func (w *watcher) loop() {
	defer close(w.stopped)
	settle := w.m.cfg.reloadSettle
	pending := map[string]time.Time{}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-w.stop:
			timer.Stop()
			return
		case ev, ok := <-w.fw.Events:
			if !ok {
				return
			}
			if w.relevant(ev.Name) {
				pending[ev.Name] = time.Now()
				timer.Reset(settle)
			}
		case err, ok := <-w.fw.Errors:
			if !ok {
				return
			}
			w.m.cfg.Logger.Warn("plugins directory watch error", "error", err)
		case now := <-timer.C:
			next := time.Duration(0)
			for _, path := range slices.Sorted(maps.Keys(pending)) {
				quiet := now.Sub(pending[path])
				if quiet < settle {
					next = max(next, settle-quiet)
					continue
				}
				delete(pending, path)
				w.handle(path)
			}
			if len(pending) > 0 {
				timer.Reset(max(next, time.Millisecond))
			}
		}
	}
}

// relevant reports whether a changed path concerns the plugins.
func (w *watcher) relevant(path string) bool {
	if filepath.Dir(path) == w.dir {
		base := filepath.Base(path)
		if strings.HasPrefix(base, FilePrefix) || base == PinFileName || strings.HasSuffix(base, ConfigFileSuffix) {
			return true
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	_, ok := w.owners[path]
	return ok
}

// handle acts on one settled path.
func (w *watcher) handle(path string) {
	m := w.m
	if filepath.Dir(path) == w.dir {
		base := filepath.Base(path)
		switch {
		case strings.HasPrefix(base, FilePrefix):
			m.reloadPlugin(strings.TrimPrefix(base, FilePrefix))
			return
		case base == PinFileName:
			cands, _, err := Discover(m.cfg.Dir)
			if err != nil {
				m.cfg.Logger.Error("pin file changed but the plugins directory cannot be read", "error", err)
				return
			}
			for _, c := range cands {
				m.reloadPlugin(c.Name)
			}
			return
		case strings.HasSuffix(base, ConfigFileSuffix):
			name := strings.TrimSuffix(base, ConfigFileSuffix)
			if _, explicit := m.cfg.PluginConfigs[name]; !explicit {
				m.reconfigure(name)
			}
			// A file in the directory may also be named explicitly.
		}
	}
	w.mu.Lock()
	owners := slices.Clone(w.owners[path])
	w.mu.Unlock()
	for _, name := range owners {
		m.reconfigure(name)
	}
}

// candidateAt describes the plugin file at path, or says why it cannot be
// taken.
func candidateAt(name, path string) (Candidate, string) {
	st, err := os.Lstat(path)
	switch {
	case err != nil:
		return Candidate{}, "the file is gone (the running process, if any, keeps serving)"
	case st.Mode()&os.ModeSymlink != 0:
		return Candidate{}, "symlinks are not followed: copy the plugin binary into the directory"
	case !st.Mode().IsRegular():
		return Candidate{}, "not a regular file"
	case st.Mode().Perm()&0o111 == 0:
		return Candidate{}, "not executable (yet): chmod +x it"
	}
	sum, err := FileSHA256(path)
	if err != nil {
		return Candidate{}, err.Error()
	}
	return Candidate{Name: name, Path: path, SHA256: sum}, ""
}

// reloadPlugin takes the plugin file relay-plugin-<name> if it is new or
// changed: see the top of this file.
func (m *Manager) reloadPlugin(name string) {
	start := time.Now()
	log := m.cfg.Logger.With("plugin", name)
	path := filepath.Join(m.cfg.Dir, FilePrefix+name)
	m.mu.RLock()
	old, closed := m.entries[name], m.closed
	m.mu.RUnlock()
	if closed {
		return
	}
	cand, why := candidateAt(name, path)
	if why != "" {
		log.Info("plugin file changed but not taken", "path", path, "reason", why)
		m.reloaded(name, fmt.Errorf("not taken: %s", why))
		return
	}
	if old != nil && old.sup.cand.SHA256 == cand.SHA256 {
		return // the running process is this file
	}
	fail := func(err error) {
		if old != nil {
			log.Error("new plugin file not taken; the running process keeps serving", "path", path, "sha256", cand.SHA256, "error", err)
		} else {
			r := &Refusal{Candidate: cand, Platforms: []string{name}, Err: err}
			m.mu.Lock()
			if prev := m.refused[name]; prev != nil && len(prev.Platforms) > 0 {
				r.Platforms = prev.Platforms
			}
			m.refused[name] = r
			m.mu.Unlock()
			m.reportRefusal(r)
		}
		m.reloaded(name, err)
	}
	pins, err := ReadPins(m.cfg.Dir)
	if err != nil {
		fail(err)
		return
	}
	if err := pins.Check(cand); err != nil {
		fail(err)
		return
	}
	e, refusal := m.start(context.Background(), cand, pins != nil)
	if refusal != nil {
		fail(refusal.Err)
		return
	}
	hctx, cancel := context.WithTimeout(context.Background(), launcher.HealthTimeout)
	err = e.sup.CheckHealth(hctx)
	cancel()
	if err != nil {
		e.observer.retired.Store(true)
		e.sup.Close()
		fail(fmt.Errorf("health check of the new process: %w", err))
		return
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		e.sup.Close()
		return
	}
	for _, p := range e.sup.Info().Platforms {
		if other, ok := m.byPlatform[p]; ok && other != old {
			m.mu.Unlock()
			e.observer.retired.Store(true)
			e.sup.Close()
			fail(&PlatformConflictError{Platform: p, Paths: [2]string{other.sup.cand.Path, cand.Path}, Dir: m.cfg.Dir})
			return
		}
	}
	for p, x := range m.byPlatform {
		if x == old {
			delete(m.byPlatform, p)
		}
	}
	for _, p := range e.sup.Info().Platforms {
		m.byPlatform[p] = e
	}
	m.entries[name] = e
	delete(m.refused, name)
	if old != nil {
		old.observer.retired.Store(true)
		m.retiring.Add(1)
	}
	m.mu.Unlock()
	info := e.sup.Info()
	log.Info("plugin loaded from a new file: the new process serves from now on", "path", path, "sha256", cand.SHA256,
		"version", info.Version, "platforms", info.Platforms, "replaced", old != nil, "took", time.Since(start).Round(time.Millisecond))
	if old != nil {
		go func() {
			defer m.retiring.Done()
			old.inflight.Wait() // each call is bounded by its own deadline
			old.sup.Close()
			log.Info("replaced plugin process stopped after its last forward", "sha256", old.sup.cand.SHA256)
		}()
	}
	m.reloaded(name, nil)
}

// reconfigure reads plugin name's configuration again and hands it to the
// running plugin; a plugin refused at start is started again instead.
func (m *Manager) reconfigure(name string) {
	log := m.cfg.Logger.With("plugin", name)
	m.mu.RLock()
	e, refused, closed := m.entries[name], m.refused[name] != nil, m.closed
	m.mu.RUnlock()
	switch {
	case closed:
		return
	case e == nil && refused:
		m.reloadPlugin(name)
		return
	case e == nil:
		return
	}
	info := e.sup.Info()
	lc, err := m.loadChecked(name, info)
	if err != nil {
		log.Error("configuration change not applied; the plugin keeps its current configuration", "error", err)
		m.reloaded(name, err)
		return
	}
	c := configOf(lc, info)
	if c == nil {
		return
	}
	if !info.HasCapability(pluginlink.CapabilityConfigure) {
		err := fmt.Errorf("plugin %s takes no configuration (it does not implement pluginapi.Configurer)", name)
		log.Error("configuration file ignored", "error", err)
		m.reloaded(name, err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), launcher.ConfigureTimeout)
	err = e.sup.Reconfigure(ctx, *c)
	cancel()
	if err != nil {
		log.Warn("the plugin refused its new configuration and keeps its previous one", "error", err)
		m.reloaded(name, err)
		return
	}
	m.mu.Lock()
	m.configs[name] = c
	m.mu.Unlock()
	if m.watch != nil && lc != nil {
		m.watch.addFiles(name, lc.secretFiles...)
	}
	log.Info("plugin reconfigured", "secrets", len(c.Secrets))
	m.reloaded(name, nil)
}

// reloaded tells the test hook what a reload did.
func (m *Manager) reloaded(name string, err error) {
	if m.cfg.onReload != nil {
		m.cfg.onReload(name, err)
	}
}
