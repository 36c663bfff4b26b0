package jetstream

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Endpoints a Caller is asked for: the agent API's POST /v1/actions and
// POST /v1/reply.
const (
	EndpointActions = "actions"
	EndpointReply   = "reply"
)

// Responder settings.
const (
	// QueueGroup is the queue group of the actions and reply subscriptions:
	// several relay-host instances of one gateway id share the requests,
	// each answered by one of them.
	QueueGroup = "relay-host"
	// MaxConcurrentActions bounds the requests in progress at once. Each
	// holds a slot while the connector answers its outbound frame (a WAN
	// round trip, a few ms; up to the connector's 30 s outbound timeout),
	// so 64 slots sustain about 64 / 5 ms ≈ 12,800 actions/s on a healthy
	// link, above the agent API's 10,000/s target, while bounding memory to
	// 64 request bodies (≤ 1 MiB each, the NATS payload limit). A request
	// beyond it waits in the client's subscription buffer.
	MaxConcurrentActions = 64
	// DefaultCallTimeout is a backstop for one Caller.Call: well past the
	// connector's 30 s outbound timeout so that a split send of a few parts
	// finishes; the agent API core's own timeouts answer first.
	DefaultCallTimeout = 2 * time.Minute
	// DeliveryCountHeader is the header a worker may set on a request with
	// its event's JetStream delivery count (Nats-Num-Delivered of the
	// event); a value above 1 counts as a redelivery seen by the actions
	// path. The echo worker sets it.
	DeliveryCountHeader = "Relay-Delivery-Count"
	// SequenceHeader is the header a worker may set on a reply request
	// with its event's stream sequence (from the message's metadata): a
	// reply by event_id to an event the host no longer remembers (one
	// published before it restarted, or more than the agent API's event
	// memory ago: a long backlog) is then answered after the host read
	// the event back from the stream (WithRecall). The echo worker sets it.
	SequenceHeader = "Relay-Stream-Sequence"
	// recentReplies is how many event ids of successful replies the
	// responder remembers to notice a second reply to the same event (a
	// worker that replied and then failed to ack, so the event came back):
	// about 1 MiB, minutes of replies at hundreds a second.
	recentReplies = 16384
)

// Caller runs one agent API request: endpoint is EndpointActions or
// EndpointReply, body the request's JSON. It answers the HTTP status the
// agent API would and the answer object (the connector's outbound result,
// or an error object). It must honour ctx and be safe for concurrent use.
type Caller interface {
	Call(ctx context.Context, endpoint string, body []byte) (status int, answer map[string]any)
}

// ActionsOption configures ServeActions.
type ActionsOption func(*responder)

// WithActionsObserver sets the observer of served requests.
func WithActionsObserver(o Observer) ActionsOption { return func(r *responder) { r.obs = o } }

// WithActionsLogger sets the logger (a panicking Caller is logged there).
func WithActionsLogger(l hclog.Logger) ActionsOption { return func(r *responder) { r.log = l } }

// WithMaxConcurrent sets how many requests run at once (default
// MaxConcurrentActions).
func WithMaxConcurrent(n int) ActionsOption {
	return func(r *responder) {
		if n > 0 {
			r.slots = n
		}
	}
}

// WithRecall lets the responder answer a reply to an event the Caller does
// not know: when a reply request answered 404 carries SequenceHeader, the
// event stored at that sequence is read from the stream (it must be this
// gateway's, with the request's event_id), handed to remember (its JSON
// form), and the request is run again.
func WithRecall(js jetstream.JetStream, remember func(data []byte)) ActionsOption {
	return func(r *responder) { r.recallJS, r.remember = js, remember }
}

// WithCallTimeout sets the backstop for one Call (default
// DefaultCallTimeout).
func WithCallTimeout(d time.Duration) ActionsOption {
	return func(r *responder) {
		if d > 0 {
			r.timeout = d
		}
	}
}

type responder struct {
	ctx     context.Context
	caller  Caller
	obs     Observer
	log     hclog.Logger
	slots   int
	timeout time.Duration
	sem     chan struct{}
	stopped chan struct{}
	recent  *recentSet
	gateway string

	recallJS jetstream.JetStream // nil: no recall (WithRecall)
	remember func(data []byte)

	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// ServeActions answers NATS requests on ActionsSubject(gatewayID) (endpoint
// "actions") and ReplySubject(gatewayID) (endpoint "reply") through caller,
// in queue group QueueGroup, at most MaxConcurrentActions at once.
//
// The answer is the JSON object caller returned plus "status": the HTTP
// status; a "status" key of the answer itself (a connector result's) is
// kept as "connector_status". A body that is not JSON is answered
// {"success":false,"error":"body is not JSON","status":400} without
// calling caller. A message with no reply subject is run and not answered.
//
// Redeliveries: a NATS request carries no JetStream delivery metadata, so
// the responder counts (Observer.ActionRedelivered) what it can see: a
// request whose DeliveryCountHeader is above 1, and a reply to an event id
// that already got a successful reply recently. Redeliveries that never
// reach an action are in the consumer's own count (Lag.Redelivered).
//
// stop unsubscribes and waits for the requests in progress to be answered;
// cancelling ctx stops too, and cancels the calls in progress.
func ServeActions(ctx context.Context, nc *nats.Conn, gatewayID string, caller Caller, opts ...ActionsOption) (stop func(), err error) {
	r := &responder{
		ctx:     ctx,
		caller:  caller,
		obs:     NopObserver{},
		log:     hclog.NewNullLogger(),
		slots:   MaxConcurrentActions,
		timeout: DefaultCallTimeout,
		stopped: make(chan struct{}),
		recent:  newRecentSet(recentReplies),
		gateway: gatewayID,
	}
	for _, o := range opts {
		o(r)
	}
	r.sem = make(chan struct{}, r.slots)
	var subs []*nats.Subscription
	unsubscribe := func() {
		for _, s := range subs {
			s.Unsubscribe() //nolint:errcheck // a closed connection has no subscription left
		}
	}
	for _, ep := range []struct{ name, subject string }{
		{EndpointActions, ActionsSubject(gatewayID)},
		{EndpointReply, ReplySubject(gatewayID)},
	} {
		name := ep.name
		s, err := nc.QueueSubscribe(ep.subject, QueueGroup, func(m *nats.Msg) { r.dispatch(name, m) })
		if err != nil {
			unsubscribe()
			return nil, fmt.Errorf("subscribe %s: %w", ep.subject, err)
		}
		subs = append(subs, s)
	}
	// Make sure the server has the subscriptions before anyone is told the
	// responder is up.
	fctx, cancel := context.WithTimeout(ctx, DialTimeout) // a round trip to the server
	defer cancel()
	if err := nc.FlushWithContext(fctx); err != nil {
		unsubscribe()
		return nil, fmt.Errorf("subscribe actions: %w", err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			close(r.stopped)
			unsubscribe()
			r.mu.Lock()
			r.closed = true
			r.mu.Unlock()
			r.wg.Wait()
		})
	}
	go func() {
		select {
		case <-ctx.Done():
			stop()
		case <-r.stopped:
		}
	}()
	return stop, nil
}

// dispatch runs on the subscription's goroutine: it takes a slot (waiting
// while all are busy) and hands the request to a goroutine of its own.
func (r *responder) dispatch(endpoint string, m *nats.Msg) {
	select {
	case r.sem <- struct{}{}:
	case <-r.stopped:
		return
	case <-r.ctx.Done():
		return
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		<-r.sem
		return
	}
	r.wg.Add(1)
	r.mu.Unlock()
	go func() {
		defer func() { <-r.sem; r.wg.Done() }()
		r.serve(endpoint, m)
	}()
}

func (r *responder) serve(endpoint string, m *nats.Msg) {
	start := time.Now()
	var status int
	var answer map[string]any
	if !json.Valid(m.Data) {
		status, answer = 400, map[string]any{"success": false, "error": "body is not JSON"}
	} else {
		id := ""
		if endpoint == EndpointReply {
			id = eventIDOf(m.Data)
		}
		r.noticeRedelivery(endpoint, m, id)
		status, answer = r.call(endpoint, m.Data)
		if id != "" && status == http.StatusNotFound && r.recall(m, id) {
			status, answer = r.call(endpoint, m.Data)
		}
		if id != "" && status == http.StatusOK {
			r.recent.add(id)
		}
	}
	// Counted before the answer leaves, so whoever saw the answer sees it
	// counted.
	r.obs.ActionServed(endpoint, status, time.Since(start))
	if m.Reply != "" {
		if err := m.Respond(encodeAnswer(status, answer)); err != nil {
			r.log.Warn("answer nats request", "endpoint", endpoint, "error", err)
		}
	}
}

// call runs the caller under the timeout backstop; a panic becomes a 500.
func (r *responder) call(endpoint string, body []byte) (status int, answer map[string]any) {
	ctx, cancel := context.WithTimeout(r.ctx, r.timeout)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			r.log.Error("agent API call panicked", "endpoint", endpoint, "panic", fmt.Sprint(p))
			status, answer = 500, map[string]any{"success": false, "error": "internal error"}
		}
	}()
	return r.caller.Call(ctx, endpoint, body)
}

// recallTimeout bounds reading one event back from the stream: a round
// trip to the stream's leader.
const recallTimeout = 5 * time.Second

// recall reads the event a reply request names (id) back from the stream
// at the sequence the request carries, and has the Caller's side remember
// it. It reports whether it did.
func (r *responder) recall(m *nats.Msg, id string) bool {
	if r.recallJS == nil {
		return false
	}
	seq, err := strconv.ParseUint(m.Header.Get(SequenceHeader), 10, 64)
	if err != nil || seq == 0 {
		return false
	}
	ctx, cancel := context.WithTimeout(r.ctx, recallTimeout)
	defer cancel()
	data, err := EventAt(ctx, r.recallJS, r.gateway, seq, id)
	if err != nil {
		r.log.Debug("reply to an unknown event: not recalled from the stream", "event_id", id, "sequence", seq, "error", err)
		return false
	}
	r.remember(data)
	return true
}

// noticeRedelivery reports a request that comes from a redelivered event.
// id is the event_id of a reply ("" otherwise).
func (r *responder) noticeRedelivery(endpoint string, m *nats.Msg, id string) {
	if n, err := strconv.Atoi(m.Header.Get(DeliveryCountHeader)); err == nil && n > 1 {
		r.obs.ActionRedelivered(endpoint)
		return
	}
	if id != "" && r.recent.has(id) {
		r.obs.ActionRedelivered(endpoint)
	}
}

// eventIDOf returns the "event_id" of a reply body, or "".
func eventIDOf(body []byte) string {
	var v struct {
		EventID string `json:"event_id"`
	}
	if json.Unmarshal(body, &v) != nil {
		return ""
	}
	return v.EventID
}

// encodeAnswer is answer plus "status"; answer's own "status" becomes
// "connector_status". answer is not modified.
func encodeAnswer(status int, answer map[string]any) []byte {
	out := make(map[string]any, len(answer)+1)
	for k, v := range answer {
		out[k] = v
	}
	if cs, ok := out["status"]; ok {
		out["connector_status"] = cs
	}
	out["status"] = status
	b, err := json.Marshal(out)
	if err != nil {
		b, _ = json.Marshal(map[string]any{
			"success": false, "error": "encode answer: " + err.Error(), "status": 500,
		})
	}
	return b
}

// recentSet remembers the last n strings added.
type recentSet struct {
	mu   sync.Mutex
	ring []string
	next int
	set  map[string]struct{}
}

func newRecentSet(n int) *recentSet {
	return &recentSet{ring: make([]string, n), set: make(map[string]struct{}, n)}
}

func (s *recentSet) add(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.set[id]; ok {
		return
	}
	if old := s.ring[s.next]; old != "" {
		delete(s.set, old)
	}
	s.ring[s.next] = id
	s.set[id] = struct{}{}
	s.next = (s.next + 1) % len(s.ring)
}

func (s *recentSet) has(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.set[id]
	return ok
}
