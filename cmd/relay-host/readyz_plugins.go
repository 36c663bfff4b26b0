package main

import (
	"context"
	"fmt"

	"github.com/relayhost/relay-host/host/plugins"
)

// readyPlugin is one plugin in the /readyz body.
type readyPlugin struct {
	Name     string `json:"name"`
	State    string `json:"state"`
	Restarts int    `json:"restarts"`
	// Health is "ok" or why the plugin's health check failed.
	Health string `json:"health,omitempty"`
	// SDK is the pluginapi version it was built with ("" before 1.0).
	SDK string `json:"sdk_version,omitempty"`
}

// pluginReadiness reports every plugin for /readyz: the running ones with
// their health check, and the degraded conditions: refused plugins (named
// with their platforms) and unhealthy ones. The host stays ready while it
// serves the other platforms; "degraded" says it does not serve them all.
func pluginReadiness(ctx context.Context, mgr *plugins.Manager) (list []readyPlugin, reasons []string) {
	list = []readyPlugin{}
	for _, h := range mgr.CheckHealth(ctx) {
		p := readyPlugin{Name: h.Name, State: string(h.State), Restarts: h.Restarts, Health: "ok", SDK: h.Info.SDKVersion}
		if h.Err != nil {
			p.Health = h.Err.Error()
			reasons = append(reasons, fmt.Sprintf("plugin %s is unhealthy: %v", h.Name, h.Err))
		}
		list = append(list, p)
	}
	for _, r := range mgr.Refusals() {
		list = append(list, readyPlugin{Name: r.Name, State: "refused", Health: r.Err.Error()})
		reasons = append(reasons, fmt.Sprintf("plugin %s (platforms %v) is refused: %v", r.Name, r.Platforms, r.Err))
	}
	return list, reasons
}
