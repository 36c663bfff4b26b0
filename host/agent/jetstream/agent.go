package jetstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats.go"

	"github.com/relayhost/relay-host/host/agent"
)

// Name is the --agent name of the JetStream agent.
const Name = "jetstream"

// UnavailableGrace is how long the agent keeps publishing into a lost NATS
// connection before it fails deliveries at once. Within it, a publish waits
// (up to PublishTimeout) for the client to reconnect, so a cluster node
// restarting or a leader election costs no un-acked forward; past it NATS is
// down for real, and each delivery fails fast instead of holding its
// forward for PublishTimeout: the forward stays un-acked and the connector
// keeps it. Two reconnect rounds (ReconnectWait plus its jitter) fit in it.
const UnavailableGrace = 2*ReconnectWait + 2*ReconnectJitter

// ErrUnavailable is the cause of a delivery refused because NATS has been
// unreachable for longer than UnavailableGrace.
var ErrUnavailable = errors.New("jetstream unavailable")

// Agent is the JetStream agent: Deliver publishes the event's JSON form
// (the MessageEvent with event_id and destination, the same object the
// webhook agent POSTs) to its subject with header Nats-Msg-Id: <event_id>
// and returns once JetStream acknowledged it. It never answers: workers
// reply through the actions and reply subjects (ServeActions). The host
// acks a buffered forward only after every event of it was delivered, so a
// forward is acked only once all its events are in the stream.
type Agent struct {
	pub *Publisher
	nc  *nats.Conn
	log hclog.Logger
	now func() time.Time

	mu        sync.Mutex
	downSince time.Time // first Deliver that found the connection down; zero while up
}

var _ agent.Agent = (*Agent)(nil)

// NewAgent returns the agent publishing through pub. log (nil: discard)
// gets one DEBUG line per event handed off, naming its id and stream
// sequence, never its content.
func NewAgent(pub *Publisher, log hclog.Logger) *Agent {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &Agent{pub: pub, nc: pub.nc, log: log, now: time.Now}
}

// Deliver implements agent.Agent. An error means the event is not known to
// be stored, and the host leaves its forward un-acked.
func (a *Agent) Deliver(ctx context.Context, ev agent.Event) (agent.Answer, error) {
	if err := a.available(); err != nil {
		a.pub.cfg.Observer.PublishFailed(0, err)
		return agent.Answer{}, err
	}
	payload, err := json.Marshal(ev)
	if err != nil {
		return agent.Answer{}, fmt.Errorf("encode event %s: %w", ev.EventID, err)
	}
	ack, err := a.pub.Publish(ctx, ev.EventID, ev.Source.Platform, payload)
	if err != nil {
		return agent.Answer{}, err
	}
	a.log.Debug("event handed off to jetstream", "event_id", ev.EventID, "stream", ack.Stream,
		"sequence", ack.Sequence, "duplicate", ack.Duplicate)
	return agent.Answer{}, nil
}

// available fails fast once the connection has been down for longer than
// UnavailableGrace (as seen by deliveries: the first one to find it down
// starts the clock, the first to find it up stops it).
func (a *Agent) available() error {
	st := a.nc.Status()
	a.mu.Lock()
	defer a.mu.Unlock()
	if st == nats.CONNECTED {
		a.downSince = time.Time{}
		return nil
	}
	now := a.now()
	if a.downSince.IsZero() {
		a.downSince = now
	}
	if st == nats.CLOSED || now.Sub(a.downSince) > UnavailableGrace {
		return fmt.Errorf("%w: nats connection %s for %s", ErrUnavailable, st, now.Sub(a.downSince).Round(time.Millisecond))
	}
	return nil
}

// Ready reports whether events can be handed off now (Publisher.Ready):
// /readyz shows the reason, which starts with "jetstream: ".
func (a *Agent) Ready() (bool, string) { return a.pub.Ready() }
