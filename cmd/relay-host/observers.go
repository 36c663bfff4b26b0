package main

import (
	"github.com/relayhost/relay-host/host/metrics"
	"github.com/relayhost/relay-host/host/plugins"
)

// pluginMetrics records the plugin supervisors' lifecycle events
// (plugins.Observer) in the metrics; package metrics does not import package
// plugins, so that package host, which uses the metrics, does not either.
type pluginMetrics struct{ m *metrics.Metrics }

var _ plugins.Observer = pluginMetrics{}

// PluginState implements plugins.Observer.
func (p pluginMetrics) PluginState(name string, s plugins.State) {
	p.m.PluginUp(name, s == plugins.StateUp)
}

// PluginRestarted implements plugins.Observer.
func (p pluginMetrics) PluginRestarted(name string) { p.m.PluginRestarted(name) }
