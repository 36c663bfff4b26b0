package plugins

// This file holds the Supervisor's SDK 1.0 calls: Configure, HandleAction
// and CheckHealth, each on the plugin's current process.

import (
	"context"
	"fmt"

	"github.com/relayhost/relay-host/pluginapi"
	"github.com/relayhost/relay-host/pluginapi/launcher"
)

// process returns the plugin's process once it is up, waiting (bounded by
// ctx) while it restarts.
func (s *Supervisor) process(ctx context.Context) (*launcher.Process, error) {
	for {
		s.mu.Lock()
		proc, up, state := s.proc, s.up, s.state
		s.mu.Unlock()
		if state == StateStopped {
			return nil, fmt.Errorf("plugin %s is stopped", s.cand.Name)
		}
		select {
		case <-up:
		case <-ctx.Done():
			return nil, fmt.Errorf("plugin %s is %s: %w", s.cand.Name, state, ctx.Err())
		}
		if state == StateUp {
			return proc, nil
		}
	}
}

// Reconfigure hands the running plugin a new configuration. A refusal is a
// *launcher.ConfigureError; the plugin keeps its previous configuration.
func (s *Supervisor) Reconfigure(ctx context.Context, c pluginapi.Config) error {
	proc, err := s.process(ctx)
	if err != nil {
		return err
	}
	return proc.Remote.Configure(ctx, c)
}

// HandleAction sends an agent action to the plugin (egress capability).
func (s *Supervisor) HandleAction(ctx context.Context, platform, botID string, action map[string]any) launcher.ActionResult {
	proc, err := s.process(ctx)
	if err != nil {
		return launcher.ActionResult{Error: err.Error(), Code: pluginapi.CodePluginFailed,
			Raw: map[string]any{"success": false, "error": err.Error(), "code": pluginapi.CodePluginFailed}}
	}
	return proc.Remote.HandleAction(ctx, platform, botID, action)
}

// CheckHealth asks the plugin whether it can do its work; a plugin that is
// not up is not healthy.
func (s *Supervisor) CheckHealth(ctx context.Context) error {
	s.mu.Lock()
	proc, state := s.proc, s.state
	s.mu.Unlock()
	if state != StateUp || proc == nil {
		return fmt.Errorf("plugin %s is %s", s.cand.Name, state)
	}
	return proc.Remote.CheckHealth(ctx)
}
