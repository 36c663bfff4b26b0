// Package echoworker is a complete JetStream agent worker for relay-host:
// it takes events from the RELAY_EVENTS stream on the durable pull consumer
// "agents", answers each event that has text with "echo: <text>" through
// the host's reply subject, and acks the event only once the reply
// succeeded. Any number of workers, on any machines, share the consumer.
//
// It is the core of examples/agents/jetstream-echo and of `relay-host dev
// --agent jetstream`, and it is written only against the public contract of
// docs/agents.md, "Scale-out: the JetStream agent" (stream, subjects, request
// and answer forms), with
// nats.go and the standard library, as a worker in another language would be.
package echoworker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The public contract of docs/agents.md, "Scale-out: the JetStream agent".
const (
	// StreamName is the stream relay-host publishes events to.
	StreamName = "RELAY_EVENTS"
	// ConsumerName is the durable consumer all workers share.
	ConsumerName = "agents"
	// DeliveryCountHeader carries the event's delivery count on a reply
	// request, so the host can count redeliveries.
	DeliveryCountHeader = "Relay-Delivery-Count"
	// SequenceHeader carries the event's stream sequence on a reply
	// request, so the host can read back an event it no longer remembers
	// (published before it restarted, or long ago in a backlog).
	SequenceHeader = "Relay-Stream-Sequence"
)

// Worker defaults.
const (
	// DefaultAckWait is how long JetStream waits for an ack before it
	// redelivers an event to another worker. It must exceed the slowest
	// reply: the host waits up to 30 s for the connector's answer to a
	// reply, so 60 s leaves room; a crashed worker's events come back after
	// it.
	DefaultAckWait = 60 * time.Second
	// DefaultReplyTimeout bounds one reply request: past the host's 30 s
	// wait for the connector, well inside DefaultAckWait.
	DefaultReplyTimeout = 40 * time.Second
	// DefaultMaxAckPending bounds the events delivered and not yet acked
	// across all workers of the consumer: the most a crashed worker can
	// strand until AckWait, and the most replies in flight at the host at
	// once. 256 is 4 × the host's 64 concurrent actions, enough to keep it
	// busy with several workers, and small enough that a stalled group
	// holds back little.
	DefaultMaxAckPending = 256
	// DefaultConcurrency is how many events one worker handles at once.
	DefaultConcurrency = 16
	// DefaultNakDelay is how long a failed event waits before redelivery:
	// long enough for a link blip to pass, short for a chat.
	DefaultNakDelay = 5 * time.Second
	// setUpAttemptTimeout bounds one attempt to create the consumer: a
	// cluster creates a replicated consumer (a Raft group of its own) in
	// well under a second when healthy, seconds while electing leaders.
	setUpAttemptTimeout = 10 * time.Second
	// setUpRetryWait is the pause between attempts.
	setUpRetryWait = time.Second
	// pullExpiry is how long one pull request stays open on the server;
	// the server sends heartbeats at half of it, and two missed ones make
	// the worker ask again. A server that restarted (the host's embedded
	// one) or failed over forgets the open request, so this bounds how
	// long a worker sits idle afterwards: 5 s, against nats.go's 30 s,
	// for one small request every 5 s while there is nothing to do.
	pullExpiry = 5 * time.Second
)

// Config configures a Worker. Zero fields take the defaults above.
type Config struct {
	// GatewayID is the gateway whose events this worker takes.
	GatewayID     string
	AckWait       time.Duration
	ReplyTimeout  time.Duration
	MaxAckPending int
	Concurrency   int
	NakDelay      time.Duration
	// Logger receives one line per failure. Default: discard.
	Logger *slog.Logger
}

// Stats counts what a Worker did.
type Stats struct {
	// Acked events were replied to (or needed no reply) and acked.
	Acked uint64
	// Naked events failed their reply and were handed back for redelivery.
	Naked uint64
	// Termed events were not an event (not JSON) and were dropped for good.
	Termed uint64
}

// Worker takes events and echoes them. Create it with New; Run it.
type Worker struct {
	nc  *nats.Conn
	cfg Config

	acked, naked, termed atomic.Uint64

	// lost is closed when the connection the replies in flight were asked
	// on is lost, and replaced by a fresh channel (see watchConnection).
	mu   sync.Mutex
	lost chan struct{}
}

// New returns a worker over nc (connected with the credentials the host's
// NATS requires).
func New(nc *nats.Conn, cfg Config) *Worker {
	if cfg.AckWait <= 0 {
		cfg.AckWait = DefaultAckWait
	}
	if cfg.ReplyTimeout <= 0 {
		cfg.ReplyTimeout = DefaultReplyTimeout
	}
	if cfg.MaxAckPending <= 0 {
		cfg.MaxAckPending = DefaultMaxAckPending
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.NakDelay <= 0 {
		cfg.NakDelay = DefaultNakDelay
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Worker{nc: nc, cfg: cfg, lost: make(chan struct{})}
}

// Stats returns the counts so far.
func (w *Worker) Stats() Stats {
	return Stats{Acked: w.acked.Load(), Naked: w.naked.Load(), Termed: w.termed.Load()}
}

// subjectToken is the host's rule for a gateway id in a subject: every
// character outside [A-Za-z0-9_-] becomes '_' (ids longer than 128
// characters are shortened by the host: use a shorter id).
func subjectToken(s string) string {
	if s == "" {
		return "_"
	}
	b := make([]rune, 0, len(s))
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' {
			b = append(b, r)
		} else {
			b = append(b, '_')
		}
	}
	return string(b)
}

// EventsFilter is the consumer's filter: relay.v1.events.<gateway_id>.>.
func EventsFilter(gatewayID string) string {
	return "relay.v1.events." + subjectToken(gatewayID) + ".>"
}

// ReplySubject is where replies go: relay.v1.reply.<gateway_id>.
func ReplySubject(gatewayID string) string { return "relay.v1.reply." + subjectToken(gatewayID) }

// ConsumerConfig is the durable consumer the worker creates (or updates) on
// the stream. Every worker of a gateway uses the same one.
func (w *Worker) ConsumerConfig() jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       ConsumerName,
		Description:   "relay-host agent workers",
		FilterSubject: EventsFilter(w.cfg.GatewayID),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       w.cfg.AckWait,
		MaxAckPending: w.cfg.MaxAckPending,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
}

// Run takes events until ctx ends. It returns nil after ctx ended, or an
// error when the consumer cannot be set up (a cluster that does not answer
// in time is asked again until ctx ends; a missing stream is an error). On the way out, replies already
// asked for are waited for (up to ReplyTimeout) and their events acked, so
// no user gets a reply twice; events taken but not started are handed back
// (Nak) so another worker takes them at once.
func (w *Worker) Run(ctx context.Context) error {
	js, err := jetstream.New(w.nc)
	if err != nil {
		return fmt.Errorf("jetstream context: %w", err)
	}
	cons, err := w.setUp(ctx, js)
	if err != nil {
		return err
	}
	if cons == nil {
		return nil // ctx ended while setting up
	}
	stopWatch := w.watchConnection()
	defer stopWatch()
	sem := make(chan struct{}, w.cfg.Concurrency)
	var wg sync.WaitGroup
	// Each worker buffers at most 2 × its concurrency, so one worker does
	// not take the whole MaxAckPending window while its siblings idle.
	cc, err := cons.Consume(func(m jetstream.Msg) {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			m.Nak() //nolint:errcheck // best effort: AckWait redelivers it anyway
			return
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			w.handle(ctx, m)
		}()
	}, jetstream.PullMaxMessages(2*w.cfg.Concurrency), jetstream.PullExpiry(pullExpiry),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			if !errors.Is(err, jetstream.ErrNoHeartbeat) || ctx.Err() == nil {
				w.cfg.Logger.Debug("consume", "error", err)
			}
		}))
	if err != nil {
		return fmt.Errorf("consume %s: %w", ConsumerName, err)
	}
	<-ctx.Done()
	cc.Stop()
	<-cc.Closed()
	wg.Wait()
	return nil
}

// setUp creates (or updates) the consumer. A cluster that does not answer
// in time (electing a leader, under load) is asked again every
// setUpRetryWait; any other failure, such as a missing stream, is returned.
// It returns a nil consumer and no error when ctx ends first.
func (w *Worker) setUp(ctx context.Context, js jetstream.JetStream) (jetstream.Consumer, error) {
	for {
		actx, cancel := context.WithTimeout(ctx, setUpAttemptTimeout)
		cons, err := js.CreateOrUpdateConsumer(actx, StreamName, w.ConsumerConfig())
		cancel()
		switch {
		case err == nil:
			return cons, nil
		case ctx.Err() != nil:
			return nil, nil
		case !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, nats.ErrNoResponders):
			return nil, fmt.Errorf("create consumer %s on stream %s: %w", ConsumerName, StreamName, err)
		}
		w.cfg.Logger.Warn("consumer not set up yet; retrying", "consumer", ConsumerName, "error", err)
		t := time.NewTimer(setUpRetryWait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, nil
		case <-t.C:
		}
	}
}

// watchConnection gives up the replies in flight whenever the connection is
// lost: their answers may never come (the host that had them may be the
// process that went away: relay-host's embedded server dies with it), and
// waiting out ReplyTimeout would hold the worker's slots for that long. A
// reply given up is handed back (Nak, or redelivered after the ack wait),
// so the user may get it twice: at-least-once, as always. It returns what
// stops watching.
func (w *Worker) watchConnection() (stop func()) {
	ch := w.nc.StatusChanged(nats.DISCONNECTED, nats.RECONNECTING, nats.CLOSED)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range ch { // closed by RemoveStatusListener
			w.mu.Lock()
			close(w.lost)
			w.lost = make(chan struct{})
			w.mu.Unlock()
		}
	}()
	return func() {
		w.nc.RemoveStatusListener(ch)
		<-done
	}
}

// connectionLost returns the channel closed when the current connection is
// lost.
func (w *Worker) connectionLost() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lost
}

// event is the part of the event JSON the echo worker reads.
type event struct {
	EventID string `json:"event_id"`
	Text    string `json:"text"`
}

// answer is the part of the host's answer the worker reads.
type answer struct {
	Success bool   `json:"success"`
	Status  int    `json:"status"`
	Error   string `json:"error"`
}

func (w *Worker) handle(ctx context.Context, m jetstream.Msg) {
	var ev event
	if err := json.Unmarshal(m.Data(), &ev); err != nil || ev.EventID == "" {
		w.cfg.Logger.Warn("not an event, dropped", "subject", m.Subject())
		m.Term() //nolint:errcheck // redelivery could not help
		w.termed.Add(1)
		return
	}
	if ev.Text == "" {
		w.ack(m)
		return
	}
	if ctx.Err() != nil {
		m.Nak() //nolint:errcheck // stopping before the reply: let another worker take it now
		w.naked.Add(1)
		return
	}
	delivered, seq := uint64(1), uint64(0)
	if md, err := m.Metadata(); err == nil {
		delivered, seq = md.NumDelivered, md.Sequence.Stream
	}
	// Once asked for, a reply is seen through even when Run is stopping:
	// abandoning it could send the user the same reply twice.
	if err := w.reply(context.WithoutCancel(ctx), ev, delivered, seq); err != nil {
		m.NakWithDelay(w.cfg.NakDelay) //nolint:errcheck // AckWait redelivers it anyway
		w.naked.Add(1)
		w.cfg.Logger.Warn("reply failed, event handed back", "event_id", ev.EventID, "error", err)
		return
	}
	w.ack(m)
}

func (w *Worker) ack(m jetstream.Msg) {
	if err := m.Ack(); err != nil {
		w.cfg.Logger.Warn("ack", "error", err)
		return
	}
	w.acked.Add(1)
}

// reply asks the host to reply "echo: <text>" to the event.
func (w *Worker) reply(ctx context.Context, ev event, delivered, seq uint64) error {
	body, err := json.Marshal(map[string]string{"event_id": ev.EventID, "content": "echo: " + ev.Text})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, w.cfg.ReplyTimeout)
	defer cancel()
	lost := w.connectionLost()
	go func() {
		select {
		case <-lost:
			cancel()
		case <-ctx.Done(): // answered, timed out, or cancel at return
		}
	}()
	req := &nats.Msg{
		Subject: ReplySubject(w.cfg.GatewayID),
		Header: nats.Header{DeliveryCountHeader: []string{strconv.FormatUint(delivered, 10)},
			SequenceHeader: []string{strconv.FormatUint(seq, 10)}},
		Data: body,
	}
	resp, err := w.nc.RequestMsgWithContext(ctx, req)
	if err != nil {
		select {
		case <-lost:
			return fmt.Errorf("reply request: connection lost while waiting for the answer: %w", err)
		default:
		}
		return fmt.Errorf("reply request: %w", err)
	}
	var a answer
	if err := json.Unmarshal(resp.Data, &a); err != nil {
		return fmt.Errorf("reply answer is not JSON: %w", err)
	}
	if !a.Success {
		return fmt.Errorf("reply answered status %d: %s", a.Status, a.Error)
	}
	return nil
}
