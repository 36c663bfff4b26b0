// Package agent holds the agents relay-host hands events to: echo (dev and
// tests), stdout (JSON lines for a pipeline) and webhook (POST each event to
// your agent's HTTP endpoint). An agent takes an event and may answer with a
// reply, which the host sends back to the platform.
package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"github.com/relayhost/relay-host/pluginapi"
)

// Agent takes events. Deliver returns once the agent has durably taken the
// event (the host then acknowledges a buffered forward), with the reply to
// send back, or "" for none. An error means the event was not taken: the
// forward is left un-acknowledged so the connector redelivers it. Deliver is
// called concurrently and must honour ctx (an interrupt cancels it).
type Agent interface {
	Deliver(ctx context.Context, ev pluginapi.MessageEvent) (reply string, err error)
}

// Names of the built-in agents, as accepted by --agent.
const (
	NameEcho    = "echo"
	NameStdout  = "stdout"
	NameWebhook = "webhook"
)

// Echo replies "echo: <text>" to every event with non-empty text.
type Echo struct{}

// Deliver implements Agent.
func (Echo) Deliver(_ context.Context, ev pluginapi.MessageEvent) (string, error) {
	if ev.Text == "" {
		return "", nil
	}
	return "echo: " + ev.Text, nil
}

// Stdout writes each event as one JSON line (the MessageEvent JSON form) and
// never replies.
type Stdout struct {
	mu sync.Mutex
	w  io.Writer
}

// NewStdout returns a Stdout agent writing to w.
func NewStdout(w io.Writer) *Stdout { return &Stdout{w: w} }

// Deliver implements Agent.
func (s *Stdout) Deliver(_ context.Context, ev pluginapi.MessageEvent) (string, error) {
	line, err := json.Marshal(ev)
	if err != nil {
		return "", fmt.Errorf("stdout agent: encode event: %w", err)
	}
	line = append(line, '\n')
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.w.Write(line); err != nil {
		return "", fmt.Errorf("stdout agent: write event: %w", err)
	}
	return "", nil
}
