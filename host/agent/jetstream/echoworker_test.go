package jetstream_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	js "github.com/relayhost/relay-host/host/agent/jetstream"
	"github.com/relayhost/relay-host/host/agent/jetstream/echoworker"
)

// replyLog is a fake agent API core behind ServeActions: it records each
// reply it is asked for, and answers as the test tells it.
type replyLog struct {
	mu      sync.Mutex
	replies map[string][]string // event_id → contents, in call order
	answer  func(eventID string, call int) (int, map[string]any)
	changed chan struct{} // gets a value after each recorded call
}

func newReplyLog(answer func(eventID string, call int) (int, map[string]any)) *replyLog {
	return &replyLog{replies: map[string][]string{}, answer: answer, changed: make(chan struct{}, 1)}
}

func (l *replyLog) Call(_ context.Context, ep string, body []byte) (int, map[string]any) {
	var req struct {
		EventID string `json:"event_id"`
		Content string `json:"content"`
	}
	if ep != js.EndpointReply || json.Unmarshal(body, &req) != nil {
		return 400, map[string]any{"success": false, "error": "unexpected " + ep}
	}
	l.mu.Lock()
	l.replies[req.EventID] = append(l.replies[req.EventID], req.Content)
	call := len(l.replies[req.EventID])
	l.mu.Unlock()
	select {
	case l.changed <- struct{}{}:
	default:
	}
	return l.answer(req.EventID, call)
}

func (l *replyLog) calls(id string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.replies[id]...)
}

func ok() (int, map[string]any) { return 200, map[string]any{"success": true, "message_id": "m"} }

// pipeline is a gateway's JetStream side: server, stream, publisher and a
// responder answering through l.
func pipeline(t *testing.T, l js.Caller, obs js.Observer) (*js.Embedded, *js.Publisher) {
	t.Helper()
	e := startServer(t, t.TempDir())
	p, _ := newPublisher(t, e, nil)
	opts := []js.ActionsOption{}
	if obs != nil {
		opts = append(opts, js.WithActionsObserver(obs))
	}
	stop, err := js.ServeActions(context.Background(), connect(t, e, "responder"), "gw", l, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return e, p
}

func publishEvents(t *testing.T, p *js.Publisher, ids ...string) {
	t.Helper()
	for _, id := range ids {
		body := fmt.Sprintf(`{"event_id":%q,"text":"hello %s","source":{"platform":"discord"}}`, id, id)
		if _, err := p.Publish(ctxFor(t), id, "discord", []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
}

// runWorker runs a worker until the returned stop is called (also at the
// end of the test); stop waits for Run to return.
func runWorker(t *testing.T, nc *nats.Conn, cfg echoworker.Config) (*echoworker.Worker, func()) {
	t.Helper()
	w := echoworker.New(nc, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("worker Run: %v", err)
				}
			case <-time.After(waitLimit):
				t.Errorf("worker did not stop")
			}
		})
	}
	t.Cleanup(stop)
	return w, stop
}

// consumerSettled waits until the consumer has delivered and had acked
// every one of n events.
func consumerSettled(t *testing.T, e *js.Embedded, n uint64) {
	t.Helper()
	j := jsCtx(t, connect(t, e, "inspector"))
	eventually(t, fmt.Sprintf("all %d events acked", n), func() bool {
		c, err := j.Consumer(ctxFor(t), js.StreamName, js.ConsumerName)
		if err != nil {
			return false
		}
		i := c.CachedInfo()
		return i.NumPending == 0 && i.NumAckPending == 0 && i.AckFloor.Stream == n
	})
}

// Two workers on the one consumer share 100 events: each takes some,
// together all, each event replied once with its own text and acked.
func TestEchoWorkersShareEvents(t *testing.T) {
	const events = 100
	const concurrency = 4
	// Hold the first replies until more are in flight than one worker can
	// have: only then are both workers provably taking events.
	gate := make(chan struct{})
	var gateOnce sync.Once
	var mu sync.Mutex
	inflight := 0
	var l *replyLog
	l = newReplyLog(func(string, int) (int, map[string]any) {
		mu.Lock()
		inflight++
		if inflight > concurrency {
			gateOnce.Do(func() { close(gate) })
		}
		mu.Unlock()
		select {
		case <-gate:
		case <-time.After(waitLimit):
			return 503, map[string]any{"success": false, "error": "gate never opened"}
		}
		return ok()
	})
	e, p := pipeline(t, l, nil)
	var ids []string
	for i := range events {
		ids = append(ids, fmt.Sprintf("fwd-%d/0", i))
	}
	publishEvents(t, p, ids...)
	cfg := echoworker.Config{GatewayID: "gw", Concurrency: concurrency}
	a, stopA := runWorker(t, connect(t, e, "worker-a"), cfg)
	b, stopB := runWorker(t, connect(t, e, "worker-b"), cfg)
	consumerSettled(t, e, events)
	stopA()
	stopB()
	sa, sb := a.Stats(), b.Stats()
	t.Logf("worker a acked %d, worker b acked %d", sa.Acked, sb.Acked)
	if sa.Acked == 0 || sb.Acked == 0 || sa.Acked+sb.Acked != events {
		t.Fatalf("acked a=%d b=%d, want both some and %d together", sa.Acked, sb.Acked, events)
	}
	if sa.Naked+sb.Naked+sa.Termed+sb.Termed != 0 {
		t.Fatalf("failures: a %+v b %+v", sa, sb)
	}
	for _, id := range ids {
		if got := l.calls(id); len(got) != 1 || got[0] != "echo: hello "+id {
			t.Errorf("event %s replies %q, want one \"echo: hello %s\"", id, got, id)
		}
	}
}

// An event whose reply fails is handed back (Nak) and replied to later; the
// host sees the second reply as a redelivery.
func TestEchoWorkerNakRedelivers(t *testing.T) {
	l := newReplyLog(func(id string, call int) (int, map[string]any) {
		if id == "bad/0" && call == 1 {
			return 503, map[string]any{"success": false, "error": "relay transport not connected"}
		}
		return ok()
	})
	obs := &recorder{}
	e, p := pipeline(t, l, obs)
	publishEvents(t, p, "bad/0", "good/0")
	w, stop := runWorker(t, connect(t, e, "worker"), echoworker.Config{GatewayID: "gw", NakDelay: 50 * time.Millisecond})
	consumerSettled(t, e, 2)
	stop()
	if st := w.Stats(); st.Acked != 2 || st.Naked != 1 {
		t.Fatalf("stats %+v, want 2 acked and 1 nak", st)
	}
	if got := l.calls("bad/0"); len(got) != 2 || got[1] != "echo: hello bad/0" {
		t.Fatalf("failed event replies %q, want two", got)
	}
	if got := l.calls("good/0"); len(got) != 1 {
		t.Fatalf("good event replies %q, want one", got)
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if fmt.Sprint(obs.redelivered) != "[reply]" {
		t.Fatalf("redeliveries seen by the actions path %v, want [reply]", obs.redelivered)
	}
}

// A worker that dies in the middle of an event (its connection gone, no ack,
// no nak) loses nothing: after AckWait the event goes to another worker.
func TestEchoWorkerKilledMidEventRedelivered(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	l := newReplyLog(func(id string, call int) (int, map[string]any) {
		if call == 1 {
			close(entered)
			<-release // the first worker is killed meanwhile; this answer goes nowhere
		}
		return ok()
	})
	e, p := pipeline(t, l, nil)
	defer close(release)
	cfg := echoworker.Config{GatewayID: "gw", AckWait: time.Second}
	ncA := connect(t, e, "worker-a")
	a, stopA := runWorker(t, ncA, cfg)
	publishEvents(t, p, "k/0")
	select {
	case <-entered:
	case <-time.After(waitLimit):
		t.Fatal("worker a never replied")
	}
	ncA.Close() // killed: nothing more leaves it
	stopA()
	b, stopB := runWorker(t, connect(t, e, "worker-b"), cfg)
	consumerSettled(t, e, 1)
	stopB()
	if sa, sb := a.Stats(), b.Stats(); sa.Acked != 0 || sb.Acked != 1 {
		t.Fatalf("acked: killed worker %d, other worker %d; want 0 and 1", sa.Acked, sb.Acked)
	}
	if got := l.calls("k/0"); len(got) != 2 {
		t.Fatalf("replies %q, want the killed worker's and the other's", got)
	}
}

// An event that is not JSON is dropped for good (Term), not redelivered
// forever; an event without text is acked with no reply.
func TestEchoWorkerPoisonAndEmpty(t *testing.T) {
	l := newReplyLog(func(string, int) (int, map[string]any) { return ok() })
	e, p := pipeline(t, l, nil)
	ctx := ctxFor(t)
	if _, err := p.Publish(ctx, "poison/0", "discord", []byte(`not json`)); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Publish(ctx, "empty/0", "discord", []byte(`{"event_id":"empty/0","text":""}`)); err != nil {
		t.Fatal(err)
	}
	w, stop := runWorker(t, connect(t, e, "worker"), echoworker.Config{GatewayID: "gw"})
	consumerSettled(t, e, 2)
	// An idle worker keeps a pull request open: the host can tell a worker
	// is there.
	eventually(t, "an idle worker's pull request seen", func() bool {
		lag, ok, err := p.Probe(ctxFor(t))
		return err == nil && ok && lag.Waiting > 0 && lag.Unacked() == 0
	})
	stop()
	if st := w.Stats(); st.Termed != 1 || st.Acked != 1 || st.Naked != 0 {
		t.Fatalf("stats %+v, want 1 termed and 1 acked", st)
	}
	if got := l.calls("empty/0"); len(got) != 0 {
		t.Fatalf("an event without text was replied to: %q", got)
	}
}

func TestEchoWorkerNeedsTheStream(t *testing.T) {
	e := startServer(t, t.TempDir())
	err := echoworker.New(connect(t, e, "worker"), echoworker.Config{GatewayID: "gw"}).Run(ctxFor(t))
	if err == nil {
		t.Fatal("Run without the stream succeeded")
	}
}

// A worker told to stop sees a reply it already asked for through and acks
// its event: the user never gets the same reply twice.
func TestEchoWorkerStopFinishesReplyInProgress(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	l := newReplyLog(func(string, int) (int, map[string]any) {
		close(entered)
		<-release
		return ok()
	})
	e, p := pipeline(t, l, nil)
	var once sync.Once
	releaseReply := func() { once.Do(func() { close(release) }) }
	defer releaseReply() // on a failure too: the responder's stop waits for the held reply
	w, stop := runWorker(t, connect(t, e, "worker"), echoworker.Config{GatewayID: "gw"})
	publishEvents(t, p, "s/0")
	select {
	case <-entered:
	case <-time.After(waitLimit):
		t.Fatal("no reply asked for")
	}
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	select {
	case <-stopped:
		t.Fatal("Run returned with a reply in progress")
	case <-time.After(100 * time.Millisecond): // a bounded look for an early return
	}
	releaseReply()
	select {
	case <-stopped:
	case <-time.After(waitLimit):
		t.Fatal("Run did not return")
	}
	if st := w.Stats(); st.Acked != 1 || st.Naked != 0 {
		t.Fatalf("stats %+v, want the event acked", st)
	}
	consumerSettled(t, e, 1)
	if got := l.calls("s/0"); len(got) != 1 {
		t.Fatalf("replies %q, want one", got)
	}
}

// The worker names its event's stream sequence on each reply: a host that
// does not remember the event (it restarted) reads it back from the stream
// and answers, and the event is acked on the first delivery.
func TestEchoWorkerReplyNamesTheStreamSequence(t *testing.T) {
	var mu sync.Mutex
	known := map[string]bool{}
	l := newReplyLog(func(id string, _ int) (int, map[string]any) {
		mu.Lock()
		defer mu.Unlock()
		if !known[id] {
			return 404, map[string]any{"success": false, "error": "unknown event_id " + id}
		}
		return ok()
	})
	e := startServer(t, t.TempDir())
	p, j := newPublisher(t, e, nil)
	remember := func(data []byte) {
		var ev struct {
			EventID string `json:"event_id"`
		}
		json.Unmarshal(data, &ev)
		mu.Lock()
		known[ev.EventID] = true
		mu.Unlock()
	}
	stop, err := js.ServeActions(context.Background(), connect(t, e, "responder"), "gw", l, js.WithRecall(j, remember))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	publishEvents(t, p, "old-1/0", "old-2/0")
	w, stopW := runWorker(t, connect(t, e, "worker"), echoworker.Config{GatewayID: "gw"})
	consumerSettled(t, e, 2)
	stopW()
	if st := w.Stats(); st.Acked != 2 || st.Naked != 0 {
		t.Fatalf("stats %+v, want both acked at the first delivery", st)
	}
	for _, id := range []string{"old-1/0", "old-2/0"} {
		if got := l.calls(id); len(got) != 2 {
			t.Errorf("event %s: caller asked %d times, want 2 (unknown, then recalled)", id, len(got))
		}
	}
}
