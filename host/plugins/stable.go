package plugins

import "github.com/relayhost/relay-host/pluginapi/launcher"

// A plugin that crashed unhealthyAfter times in a row, or was restarted
// because it wedged, stays unhealthy after its restart: it serves forwards,
// but reports StateUnhealthy (so /readyz says 503 and plugin_up 0) until it
// has stayed up for stableAfter. Without this, a crash-looping plugin looks
// up between crashes (the readiness probe saw it up in two polls of three).

// unhealthyLocked reports whether the plugin is in an unhealthy run: too
// many consecutive crashes, or a wedge. s.mu must be held.
func (s *Supervisor) unhealthyLocked() bool {
	return s.crashes >= s.cfg.restart.unhealthyAfter || s.wedged
}

// servingStateLocked is the state of proc, which has just come up:
// StateUp, or StateUnhealthy until it has been up for stableAfter, when
// markStable reports it up. s.mu must be held.
func (s *Supervisor) servingStateLocked(proc *launcher.Process) State {
	s.cancelStableLocked()
	if !s.unhealthyLocked() {
		return StateUp
	}
	s.stopStable = s.cfg.restart.afterFunc(s.cfg.restart.stableAfter, func() { s.markStable(proc) })
	return StateUnhealthy
}

// markStable reports proc up once it has served for stableAfter since it
// came up; its crash run is over.
func (s *Supervisor) markStable(proc *launcher.Process) {
	s.mu.Lock()
	if s.proc != proc || !s.serving || s.state != StateUnhealthy ||
		s.cfg.restart.now().Sub(s.upSince) < s.cfg.restart.stableAfter {
		s.mu.Unlock()
		return
	}
	s.state, s.crashes, s.wedged, s.stopStable = StateUp, 0, false, nil
	s.mu.Unlock()
	s.cfg.Observer.PluginState(s.cand.Name, StateUp)
	s.logger.Info("plugin stable again: reported up", "pid", proc.PID, "up_for", s.cfg.restart.stableAfter)
}

// cancelStableLocked cancels a pending markStable. s.mu must be held.
func (s *Supervisor) cancelStableLocked() {
	if s.stopStable != nil {
		s.stopStable()
		s.stopStable = nil
	}
}
