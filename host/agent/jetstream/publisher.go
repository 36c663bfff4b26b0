package jetstream

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// PublishTimeout bounds one publish, PubAck included, when the caller's
// context allows longer. A healthy stream answers in about a millisecond,
// and a cluster electing a new stream leader within a few seconds; past
// this the event is not handed off, the forward stays un-acked and the
// connector redelivers it. It is well inside the host's 10 s per-forward
// budget.
const PublishTimeout = 5 * time.Second

// publishRetryWait and publishRetryAttempts retry a publish that found no
// stream responder (JetStream answering "no responders" while a stream
// leader is being elected): 4 tries 250 ms apart cover a typical election.
const (
	publishRetryWait     = 250 * time.Millisecond
	publishRetryAttempts = 4
)

// Ack is JetStream's acknowledgement of one published event.
type Ack struct {
	// Stream and Sequence say where the event is stored.
	Stream   string
	Sequence uint64
	// Duplicate is true when the stream already held an event with this
	// event id within the duplicate window and did not store it again.
	Duplicate bool
}

// Lag is the state of the workers' consumer, read from its info.
type Lag struct {
	// Pending is how many events matching the consumer's filter were not
	// yet delivered to any worker.
	Pending uint64
	// AckPending is how many were delivered and are not yet acked.
	AckPending uint64
	// Redelivered is how many of the AckPending ones were delivered more
	// than once (a worker crashed, timed out or Nak'd them).
	Redelivered uint64
	// Waiting is how many pull requests workers have open: above 0 while
	// some worker is connected and idle; 0 with no worker (or all busy).
	// `relay-host dev` can start its in-process echo worker when it stays 0.
	Waiting int
}

// Unacked is the events in the stream not yet acked by the consumer:
// Pending + AckPending.
func (l Lag) Unacked() uint64 { return l.Pending + l.AckPending }

// Observer receives the JetStream agent's measurements. The host implements
// it with Prometheus; every method must be cheap and safe for concurrent
// use. NopObserver does nothing.
type Observer interface {
	// Published is called after each PubAck with the publish latency.
	Published(latency time.Duration, duplicate bool)
	// PublishFailed is called for each publish that got no PubAck.
	PublishFailed(latency time.Duration, err error)
	// ActionServed is called after each answered request on the actions
	// ("actions") or reply ("reply") subject.
	ActionServed(endpoint string, status int, latency time.Duration)
	// ActionRedelivered is called for a request that comes from a
	// redelivered event (see ServeActions for what can be seen).
	ActionRedelivered(endpoint string)
	// ConsumerLag is called by Publisher.Probe with the consumer's state;
	// ok is false when the consumer does not exist (no worker has created
	// it yet).
	ConsumerLag(consumer string, lag Lag, ok bool)
}

// NopObserver is an Observer that does nothing.
type NopObserver struct{}

// Published implements Observer.
func (NopObserver) Published(time.Duration, bool) {}

// PublishFailed implements Observer.
func (NopObserver) PublishFailed(time.Duration, error) {}

// ActionServed implements Observer.
func (NopObserver) ActionServed(string, int, time.Duration) {}

// ActionRedelivered implements Observer.
func (NopObserver) ActionRedelivered(string) {}

// ConsumerLag implements Observer.
func (NopObserver) ConsumerLag(string, Lag, bool) {}

// PublisherConfig configures NewPublisher.
type PublisherConfig struct {
	// GatewayID names this gateway in event subjects.
	GatewayID string
	// Timeout bounds one publish; default PublishTimeout.
	Timeout time.Duration
	// Consumer is the consumer whose lag Probe reads; default ConsumerName.
	Consumer string
	// Observer receives measurements; default NopObserver.
	Observer Observer
}

// Publisher publishes events to RELAY_EVENTS and keeps the readiness the
// host's /readyz reports. It is safe for concurrent use.
type Publisher struct {
	nc  *nats.Conn
	js  jetstream.JetStream
	cfg PublisherConfig

	mu      sync.Mutex
	lastErr error // last publish or probe failure, nil after a success
}

// NewPublisher returns a Publisher over nc. The stream must exist
// (EnsureStream) before the first Publish.
func NewPublisher(nc *nats.Conn, cfg PublisherConfig) (*Publisher, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = PublishTimeout
	}
	if cfg.Consumer == "" {
		cfg.Consumer = ConsumerName
	}
	if cfg.Observer == nil {
		cfg.Observer = NopObserver{}
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream context: %w", err)
	}
	return &Publisher{nc: nc, js: js, cfg: cfg}, nil
}

// JetStream is the JetStream context the publisher uses (for EnsureStream).
func (p *Publisher) JetStream() jetstream.JetStream { return p.js }

// Publish stores one event: payload (the event's JSON form) goes to
// EventSubject(gateway, platform) with header Nats-Msg-Id: eventID, and
// Publish returns once JetStream acknowledged it. A replay of an event id
// within the duplicate window is acknowledged as Duplicate and not stored
// again. An error means the event is not known to be stored: the caller
// must not ack its forward. The wait is bounded by ctx and by the
// configured timeout.
func (p *Publisher) Publish(ctx context.Context, eventID, platform string, payload []byte) (Ack, error) {
	if eventID == "" {
		return Ack{}, errors.New("publish event: empty event id")
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	msg := &nats.Msg{
		Subject: EventSubject(p.cfg.GatewayID, platform),
		Header:  nats.Header{jetstream.MsgIDHeader: []string{eventID}},
		Data:    payload,
	}
	start := time.Now()
	pa, err := p.js.PublishMsg(ctx, msg,
		jetstream.WithExpectStream(StreamName),
		jetstream.WithRetryWait(publishRetryWait),
		jetstream.WithRetryAttempts(publishRetryAttempts))
	took := time.Since(start)
	if err != nil {
		err = fmt.Errorf("jetstream publish to %s: %w", msg.Subject, err)
		if parent.Err() == nil { // the caller giving up says nothing about JetStream
			p.setErr(err)
		}
		p.cfg.Observer.PublishFailed(took, err)
		return Ack{}, err
	}
	p.setErr(nil)
	p.cfg.Observer.Published(took, pa.Duplicate)
	return Ack{Stream: pa.Stream, Sequence: pa.Sequence, Duplicate: pa.Duplicate}, nil
}

func (p *Publisher) setErr(err error) {
	p.mu.Lock()
	p.lastErr = err
	p.mu.Unlock()
}

// Ready reports whether events can be handed off now, for /readyz, without
// a network call: the connection must be up and the last publish (or
// probe) must have succeeded. The reason starts with "jetstream: ".
func (p *Publisher) Ready() (bool, string) {
	switch st := p.nc.Status(); st {
	case nats.CONNECTED:
	case nats.RECONNECTING, nats.CONNECTING:
		return false, "jetstream: reconnecting to nats"
	default:
		return false, "jetstream: nats connection " + st.String()
	}
	p.mu.Lock()
	err := p.lastErr
	p.mu.Unlock()
	if err != nil {
		return false, "jetstream: last publish failed: " + err.Error()
	}
	return true, "jetstream: ok"
}

// Probe asks JetStream for the stream (refreshing readiness: a reachable
// stream clears a past publish failure) and reads the consumer's lag for
// the observer: two small requests to the JetStream API. The host runs it
// every few seconds (RunProbe) or from its metrics scrape.
func (p *Publisher) Probe(ctx context.Context) (Lag, bool, error) {
	if _, err := p.js.Stream(ctx, StreamName); err != nil {
		err = fmt.Errorf("stream %s: %w", StreamName, err)
		p.setErr(err)
		return Lag{}, false, err
	}
	p.setErr(nil)
	c, err := p.js.Consumer(ctx, StreamName, p.cfg.Consumer)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		p.cfg.Observer.ConsumerLag(p.cfg.Consumer, Lag{}, false)
		return Lag{}, false, nil
	}
	if err != nil {
		return Lag{}, false, fmt.Errorf("consumer %s: %w", p.cfg.Consumer, err)
	}
	info := c.CachedInfo() // fetched by js.Consumer just now
	lag := Lag{
		Pending:     info.NumPending,
		AckPending:  uint64(max(info.NumAckPending, 0)),
		Redelivered: uint64(max(info.NumRedelivered, 0)),
		Waiting:     info.NumWaiting,
	}
	p.cfg.Observer.ConsumerLag(p.cfg.Consumer, lag, true)
	return lag, true, nil
}

// ProbeInterval is how often RunProbe probes by default: readiness recovers
// within this after JetStream comes back with no event published, and the
// lag gauge is this fresh.
const ProbeInterval = 5 * time.Second

// RunProbe calls Probe every interval (ProbeInterval when 0) until ctx
// ends, each bounded by the interval.
func (p *Publisher) RunProbe(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = ProbeInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, interval)
		p.Probe(pctx) //nolint:errcheck // the outcome is in Ready and the observer
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
