// Package agent holds the agents relay-host hands events to: echo (dev and
// tests), stdout (JSON lines for a pipeline) and webhook (POST each event to
// your agent's HTTP endpoint). An agent takes an event and may answer with a
// reply and actions, which the host sends back to the platform through the
// agent API (host/agentapi).
package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"github.com/relayhost/relay-host/host/agentapi"
	"github.com/relayhost/relay-host/pluginapi"
)

// Event is what an agent receives: the MessageEvent JSON form
// (docs/events.md) plus the event's id and what its chat can take.
type Event struct {
	pluginapi.MessageEvent
	// EventID is stable across redeliveries of the same forward or inbound
	// event: "<bufferId>/<index>" for a buffered one, else
	// "<platform>:<message or interaction id>/<index>", index being the
	// event's position among the events of one forward. Agents dedupe on
	// it, and POST /v1/reply names the event by it.
	EventID string `json:"event_id"`
	// Destination is what the event's chat can take, from the connector's
	// descriptor of its platform; nil when the host runs without the agent
	// API.
	Destination *agentapi.Destination `json:"destination,omitempty"`
}

// Answer is an agent's answer to one event: a reply, actions, both or
// neither.
type Answer struct {
	// Reply is sent back the way POST /v1/reply sends it (a follow_up
	// through the event's egress capability, else a send to its chat,
	// split when long); "" for none.
	Reply string
	// Actions are agent API actions (POST /v1/actions bodies), run in
	// order after the event is settled and the reply is sent.
	Actions []json.RawMessage
}

// Agent takes events. Deliver returns once the agent has durably taken the
// event (the host then acknowledges a buffered forward), with its answer
// (the zero Answer for none). An error means the event was not taken: the
// forward is left un-acknowledged so the connector redelivers it. Deliver is
// called concurrently and must honour ctx (an interrupt cancels it).
type Agent interface {
	Deliver(ctx context.Context, ev Event) (Answer, error)
}

// Interrupter is an agent that wants to know when a session's turn is
// interrupted (the connector relayed an interrupt_inbound), besides having
// that session's deliveries cancelled. The host calls it best effort, with a
// bounded context, and only logs its error.
type Interrupter interface {
	Interrupt(ctx context.Context, sessionKey, chatID string) error
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
func (Echo) Deliver(_ context.Context, ev Event) (Answer, error) {
	if ev.Text == "" {
		return Answer{}, nil
	}
	return Answer{Reply: "echo: " + ev.Text}, nil
}

// Stdout writes each event as one JSON line (the Event JSON form: the
// MessageEvent with event_id and destination) and never replies.
type Stdout struct {
	mu sync.Mutex
	w  io.Writer
}

// NewStdout returns a Stdout agent writing to w.
func NewStdout(w io.Writer) *Stdout { return &Stdout{w: w} }

// Deliver implements Agent.
func (s *Stdout) Deliver(_ context.Context, ev Event) (Answer, error) {
	line, err := json.Marshal(ev)
	if err != nil {
		return Answer{}, fmt.Errorf("stdout agent: encode event: %w", err)
	}
	line = append(line, '\n')
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.w.Write(line); err != nil {
		return Answer{}, fmt.Errorf("stdout agent: write event: %w", err)
	}
	return Answer{}, nil
}
