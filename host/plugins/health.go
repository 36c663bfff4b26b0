package plugins

import (
	"context"
	"sync"

	"github.com/relayhost/relay-host/pluginapi/launcher"
)

// Health is one plugin's answer to a health check.
type Health struct {
	// Status is the plugin's state when it was asked.
	Status
	// Err says why it is not healthy; nil when it is.
	Err error
}

// CheckHealth asks every running plugin whether it can do its work, all at
// once, each within launcher.HealthTimeout (or ctx's earlier deadline). A
// plugin that is not up is not healthy; one built before SDK 1.0 is healthy
// while it is up.
func (m *Manager) CheckHealth(ctx context.Context) []Health {
	sts := m.Statuses()
	m.mu.RLock()
	sups := make([]*Supervisor, len(sts))
	for i, st := range sts {
		if e := m.entries[st.Name]; e != nil {
			sups[i] = e.sup
		}
	}
	m.mu.RUnlock()
	ctx, cancel := context.WithTimeout(ctx, launcher.HealthTimeout)
	defer cancel()
	out := make([]Health, len(sts))
	var wg sync.WaitGroup
	for i, st := range sts {
		out[i].Status = st
		if sups[i] == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i].Err = sups[i].CheckHealth(ctx)
		}()
	}
	wg.Wait()
	return out
}
