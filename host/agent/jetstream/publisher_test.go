package jetstream_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	js "github.com/relayhost/relay-host/host/agent/jetstream"
)

// recorder is an Observer that keeps what it was told.
type recorder struct {
	mu          sync.Mutex
	published   int
	duplicates  int
	failures    []error
	served      []string // "endpoint status"
	redelivered []string
	lag         js.Lag
	lagOK       bool
	lagCalls    int
}

func (r *recorder) Published(_ time.Duration, dup bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.published++
	if dup {
		r.duplicates++
	}
}

func (r *recorder) PublishFailed(_ time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failures = append(r.failures, err)
}

func (r *recorder) ActionServed(ep string, status int, _ time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.served = append(r.served, ep+" "+itoa(status))
}

func (r *recorder) ActionRedelivered(ep string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.redelivered = append(r.redelivered, ep)
}

func (r *recorder) ConsumerLag(_ string, lag js.Lag, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lag, r.lagOK = lag, ok
	r.lagCalls++
}

func itoa(n int) string { return strconv.Itoa(n) }

func newPublisher(t testing.TB, e *js.Embedded, obs js.Observer) (*js.Publisher, jetstream.JetStream) {
	t.Helper()
	nc := connect(t, e, "publisher")
	j := jsCtx(t, nc)
	if _, err := js.EnsureStream(ctxFor(t), j, js.StreamConfig{GatewayID: "gw"}); err != nil {
		t.Fatal(err)
	}
	p, err := js.NewPublisher(nc, js.PublisherConfig{GatewayID: "gw", Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	return p, j
}

func TestPublishSameEventIDStoredOnce(t *testing.T) {
	e := startServer(t, t.TempDir())
	obs := &recorder{}
	p, j := newPublisher(t, e, obs)
	ctx := ctxFor(t)
	first, err := p.Publish(ctx, "buf-1/0", "discord", []byte(`{"event_id":"buf-1/0","text":"hi"}`))
	if err != nil || first.Duplicate || first.Stream != js.StreamName || first.Sequence != 1 {
		t.Fatalf("first publish = %+v, %v", first, err)
	}
	second, err := p.Publish(ctx, "buf-1/0", "discord", []byte(`{"event_id":"buf-1/0","text":"hi"}`))
	if err != nil || !second.Duplicate || second.Sequence != 1 {
		t.Fatalf("replayed publish = %+v, %v; want a duplicate of sequence 1", second, err)
	}
	other, err := p.Publish(ctx, "buf-1/1", "discord", []byte(`{}`))
	if err != nil || other.Duplicate || other.Sequence != 2 {
		t.Fatalf("next event = %+v, %v", other, err)
	}
	s, _ := j.Stream(ctx, js.StreamName)
	if n := s.CachedInfo().State.Msgs; n != 2 {
		t.Fatalf("stream holds %d events, want 2", n)
	}
	m, err := s.GetMsg(ctx, 1)
	if err != nil || m.Subject != "relay.v1.events.gw.discord" || m.Header.Get("Nats-Msg-Id") != "buf-1/0" || string(m.Data) != `{"event_id":"buf-1/0","text":"hi"}` {
		t.Fatalf("stored event: %+v, %v", m, err)
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if obs.published != 3 || obs.duplicates != 1 || len(obs.failures) != 0 {
		t.Fatalf("observer: published %d, duplicates %d, failures %v", obs.published, obs.duplicates, obs.failures)
	}
	if ok, reason := p.Ready(); !ok {
		t.Fatalf("Ready() = false, %q", reason)
	}
}

func TestPublishRefusesEmptyEventID(t *testing.T) {
	e := startServer(t, t.TempDir())
	p, _ := newPublisher(t, e, nil)
	if _, err := p.Publish(ctxFor(t), "", "discord", []byte(`{}`)); err == nil {
		t.Fatal("published an event with no id: it could never be deduplicated")
	}
}

// With JetStream gone, a publish fails within the publisher's bound (the
// forward stays un-acked) and the publisher reports not ready.
func TestPublishFailsFastWhenJetStreamIsGone(t *testing.T) {
	e := startServer(t, t.TempDir())
	obs := &recorder{}
	nc := connect(t, e, "publisher")
	if _, err := js.EnsureStream(ctxFor(t), jsCtx(t, nc), js.StreamConfig{GatewayID: "gw"}); err != nil {
		t.Fatal(err)
	}
	const bound = time.Second
	p, err := js.NewPublisher(nc, js.PublisherConfig{GatewayID: "gw", Observer: obs, Timeout: bound})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxFor(t)
	if _, err := p.Publish(ctx, "a/0", "discord", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	shutdown(t, e)
	start := time.Now()
	_, err = p.Publish(ctx, "a/1", "discord", []byte(`{}`))
	took := time.Since(start)
	if err == nil {
		t.Fatal("publish succeeded with the server stopped")
	}
	if took > bound+waitLimit/4 {
		t.Fatalf("publish failed after %s, want about %s", took, bound)
	}
	if ok, reason := p.Ready(); ok || !strings.HasPrefix(reason, "jetstream: ") {
		t.Fatalf("Ready() = %v, %q; want not ready with a jetstream reason", ok, reason)
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if len(obs.failures) != 1 {
		t.Fatalf("observer saw %d failures, want 1", len(obs.failures))
	}
}

// A caller giving up is not a JetStream failure: readiness stays.
func TestPublishCancelledByCallerKeepsReady(t *testing.T) {
	e := startServer(t, t.TempDir())
	p, _ := newPublisher(t, e, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.Publish(ctx, "a/0", "discord", []byte(`{}`)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Publish(cancelled) = %v", err)
	}
	if ok, reason := p.Ready(); !ok {
		t.Fatalf("Ready() = false, %q after a caller's cancel", reason)
	}
}

func TestProbeReadsConsumerLag(t *testing.T) {
	e := startServer(t, t.TempDir())
	obs := &recorder{}
	p, j := newPublisher(t, e, obs)
	ctx := ctxFor(t)
	if _, ok, err := p.Probe(ctx); err != nil || ok {
		t.Fatalf("Probe with no consumer = ok %v, %v; want not ok, no error", ok, err)
	}
	for i := range 5 {
		if _, err := p.Publish(ctx, "b/"+itoa(i), "discord", []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
	c, err := j.CreateOrUpdateConsumer(ctx, js.StreamName, jetstream.ConsumerConfig{
		Durable: js.ConsumerName, AckPolicy: jetstream.AckExplicitPolicy, FilterSubject: "relay.v1.events.gw.>",
	})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := c.Fetch(2, jetstream.FetchMaxWait(waitLimit))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for m := range batch.Messages() {
		n++
		if n == 1 {
			if err := m.DoubleAck(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n != 2 {
		t.Fatalf("fetched %d, want 2", n)
	}
	lag, ok, err := p.Probe(ctx)
	if err != nil || !ok {
		t.Fatalf("Probe = ok %v, %v", ok, err)
	}
	// 5 events: 1 acked, 1 delivered and not acked, 3 not delivered.
	if lag.Pending != 3 || lag.AckPending != 1 || lag.Unacked() != 4 {
		t.Fatalf("lag = %+v, want pending 3, ack pending 1", lag)
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if !obs.lagOK || obs.lag != lag {
		t.Fatalf("observer lag = %+v (ok %v), want %+v", obs.lag, obs.lagOK, lag)
	}
}

// With the connection up but no stream to take events, a publish fails and
// the publisher is not ready; a probe that finds the stream again makes it
// ready.
func TestPublishWithoutStreamNotReady(t *testing.T) {
	e := startServer(t, t.TempDir())
	p, j := newPublisher(t, e, nil)
	ctx := ctxFor(t)
	if err := j.DeleteStream(ctx, js.StreamName); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Publish(ctx, "x/0", "discord", []byte(`{}`)); err == nil {
		t.Fatal("published with no stream")
	}
	ok, reason := p.Ready()
	if ok || !strings.HasPrefix(reason, "jetstream: last publish failed") {
		t.Fatalf("Ready() = %v, %q", ok, reason)
	}
	if _, _, err := p.Probe(ctx); err == nil {
		t.Fatal("Probe found a deleted stream")
	}
	if _, err := js.EnsureStream(ctx, j, js.StreamConfig{GatewayID: "gw"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.Probe(ctx); err != nil {
		t.Fatalf("Probe: %v", err)
	}
	if ok, reason := p.Ready(); !ok {
		t.Fatalf("Ready() = false, %q after the stream came back", reason)
	}
}
