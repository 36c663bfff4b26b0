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
)

// callerFunc adapts a function to js.Caller.
type callerFunc func(ctx context.Context, endpoint string, body []byte) (int, map[string]any)

func (f callerFunc) Call(ctx context.Context, endpoint string, body []byte) (int, map[string]any) {
	return f(ctx, endpoint, body)
}

func request(t testing.TB, nc *nats.Conn, subject string, body string, header nats.Header) map[string]any {
	t.Helper()
	m, err := nc.RequestMsg(&nats.Msg{Subject: subject, Data: []byte(body), Header: header}, waitLimit)
	if err != nil {
		t.Fatalf("request %s: %v", subject, err)
	}
	var out map[string]any
	if err := json.Unmarshal(m.Data, &out); err != nil {
		t.Fatalf("answer %q is not JSON: %v", m.Data, err)
	}
	return out
}

func TestServeActionsAnswers(t *testing.T) {
	e := startServer(t, t.TempDir())
	nc := connect(t, e, "responder")
	worker := connect(t, e, "worker")
	var mu sync.Mutex
	var calls []string
	caller := callerFunc(func(_ context.Context, ep string, body []byte) (int, map[string]any) {
		mu.Lock()
		calls = append(calls, ep+" "+string(body))
		mu.Unlock()
		var req map[string]any
		json.Unmarshal(body, &req)
		switch req["case"] {
		case "connector failure":
			return 502, map[string]any{"success": false, "error": "rate limited", "code": "x", "status": 429}
		case "nil answer":
			return 204, nil
		}
		return 200, map[string]any{"success": true, "message_id": "m-1", "endpoint": ep}
	})
	stop, err := js.ServeActions(ctxFor(t), nc, "gw.1", caller)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()

	t.Run("not JSON is 400 without a call", func(t *testing.T) {
		got := request(t, worker, "relay.v1.actions.gw_1", `{"op":`, nil)
		want := map[string]any{"success": false, "error": "body is not JSON", "status": float64(400)}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("answer %v, want %v", got, want)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(calls) != 0 {
			t.Fatalf("caller called for a body that is not JSON: %q", calls)
		}
	})
	t.Run("status passed, each endpoint to its own", func(t *testing.T) {
		for subject, ep := range map[string]string{"relay.v1.actions.gw_1": "actions", "relay.v1.reply.gw_1": "reply"} {
			got := request(t, worker, subject, `{"op":"send"}`, nil)
			if got["status"] != float64(200) || got["success"] != true || got["message_id"] != "m-1" || got["endpoint"] != ep {
				t.Fatalf("%s answered %v", subject, got)
			}
		}
	})
	t.Run("a connector status is kept as connector_status", func(t *testing.T) {
		got := request(t, worker, "relay.v1.actions.gw_1", `{"case":"connector failure"}`, nil)
		if got["status"] != float64(502) || got["connector_status"] != float64(429) || got["code"] != "x" || got["error"] != "rate limited" {
			t.Fatalf("answer %v", got)
		}
	})
	t.Run("no answer object", func(t *testing.T) {
		got := request(t, worker, "relay.v1.reply.gw_1", `{"case":"nil answer"}`, nil)
		if len(got) != 1 || got["status"] != float64(204) {
			t.Fatalf("answer %v", got)
		}
	})
}

// Concurrent requests each get their own answer, and no more than the
// configured number run at once.
func TestServeActionsConcurrentOwnAnswers(t *testing.T) {
	e := startServer(t, t.TempDir())
	nc := connect(t, e, "responder")
	const slots = 4
	const requests = 40
	var mu sync.Mutex
	running, peak := 0, 0
	release := make(chan struct{})
	full := make(chan struct{})
	caller := callerFunc(func(ctx context.Context, _ string, body []byte) (int, map[string]any) {
		mu.Lock()
		running++
		peak = max(peak, running)
		if running == slots {
			select {
			case <-full:
			default:
				close(full)
			}
		}
		mu.Unlock()
		select {
		case <-release:
		case <-ctx.Done():
		}
		mu.Lock()
		running--
		mu.Unlock()
		var req struct{ N int }
		json.Unmarshal(body, &req)
		return 200, map[string]any{"success": true, "n": req.N * 10}
	})
	stop, err := js.ServeActions(ctxFor(t), nc, "gw", caller, js.WithMaxConcurrent(slots))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	worker := connect(t, e, "worker")
	var wg sync.WaitGroup
	errs := make(chan error, requests)
	for i := range requests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, err := worker.Request("relay.v1.actions.gw", []byte(fmt.Sprintf(`{"n":%d}`, i)), waitLimit)
			if err != nil {
				errs <- err
				return
			}
			var a struct {
				N      int
				Status int
			}
			if err := json.Unmarshal(m.Data, &a); err != nil || a.N != i*10 || a.Status != 200 {
				errs <- fmt.Errorf("request %d got %s", i, m.Data)
			}
		}()
	}
	select {
	case <-full:
	case <-time.After(waitLimit):
		t.Fatal("the slots never filled")
	}
	// A bounded look for a call beyond the bound (the other requests are
	// all sent by now or soon): none may start while the slots are full.
	deadline := time.Now().Add(200 * time.Millisecond)
	for time.Now().Before(deadline) {
		mu.Lock()
		over := running > slots
		mu.Unlock()
		if over {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if peak != slots {
		t.Fatalf("%d calls ran at once, want at most and at least %d", peak, slots)
	}
}

func TestServeActionsCountsRedeliveries(t *testing.T) {
	e := startServer(t, t.TempDir())
	nc := connect(t, e, "responder")
	obs := &recorder{}
	caller := callerFunc(func(context.Context, string, []byte) (int, map[string]any) {
		return 200, map[string]any{"success": true}
	})
	stop, err := js.ServeActions(ctxFor(t), nc, "gw", caller, js.WithActionsObserver(obs))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	w := connect(t, e, "worker")
	reply := `{"event_id":"b/0","content":"x"}`
	for i, r := range []struct {
		subject, body, count string
	}{
		{"relay.v1.reply.gw", reply, "1"},                             // first: not a redelivery
		{"relay.v1.reply.gw", `{"event_id":"b/1","content":"x"}`, ""}, // another event
		{"relay.v1.reply.gw", reply, ""},                              // the same event again, no header
		{"relay.v1.actions.gw", `{"op":"typing"}`, "3"},               // the header says redelivered
		{"relay.v1.actions.gw", `{"op":"typing"}`, "junk"},
	} {
		h := nats.Header{}
		if r.count != "" {
			h.Set(js.DeliveryCountHeader, r.count)
		}
		request(t, w, r.subject, r.body, h)
		// Counted before the answer left: whoever saw it sees the count.
		obs.mu.Lock()
		served := len(obs.served)
		obs.mu.Unlock()
		if served != i+1 {
			t.Fatalf("after answer %d the observer has %d served", i+1, served)
		}
	}
	stop()
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if fmt.Sprint(obs.redelivered) != "[reply actions]" {
		t.Fatalf("redeliveries seen %v, want [reply actions]", obs.redelivered)
	}
	if fmt.Sprint(obs.served) != "[reply 200 reply 200 reply 200 actions 200 actions 200]" {
		t.Fatalf("served %v", obs.served)
	}
}

// stop waits for requests in progress to be answered; a panicking caller
// answers 500 and leaves the responder serving.
func TestServeActionsStopAndPanic(t *testing.T) {
	e := startServer(t, t.TempDir())
	nc := connect(t, e, "responder")
	entered := make(chan struct{})
	release := make(chan struct{})
	caller := callerFunc(func(_ context.Context, _ string, body []byte) (int, map[string]any) {
		if string(body) == `"panic"` {
			panic("boom")
		}
		close(entered)
		<-release
		return 200, map[string]any{"success": true}
	})
	stop, err := js.ServeActions(ctxFor(t), nc, "gw", caller)
	if err != nil {
		t.Fatal(err)
	}
	w := connect(t, e, "worker")
	if got := request(t, w, "relay.v1.actions.gw", `"panic"`, nil); got["status"] != float64(500) || got["success"] != false {
		t.Fatalf("panicking caller answered %v", got)
	}
	answered := make(chan map[string]any, 1)
	go func() {
		m, err := w.Request("relay.v1.actions.gw", []byte(`{}`), waitLimit)
		if err != nil {
			answered <- map[string]any{"error": err.Error()}
			return
		}
		var a map[string]any
		json.Unmarshal(m.Data, &a)
		answered <- a
	}()
	<-entered
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	select {
	case <-stopped:
		t.Fatal("stop returned with a request in progress")
	case <-time.After(50 * time.Millisecond): // a bounded look for a wrong early return, not synchronisation
	}
	close(release)
	select {
	case <-stopped:
	case <-time.After(waitLimit):
		t.Fatal("stop did not return")
	}
	if a := <-answered; a["status"] != float64(200) {
		t.Fatalf("the request in progress got %v", a)
	}
	if _, err := w.Request("relay.v1.actions.gw", []byte(`{}`), 200*time.Millisecond); err == nil {
		t.Fatal("answered after stop")
	}
}

// Two relay-host instances of one gateway share the requests: each request
// is run once, by one of them.
func TestServeActionsQueueGroupSharesRequests(t *testing.T) {
	e := startServer(t, t.TempDir())
	var mu sync.Mutex
	calls := map[string]int{}
	byInstance := map[string]int{}
	for _, name := range []string{"host-1", "host-2"} {
		caller := callerFunc(func(_ context.Context, _ string, body []byte) (int, map[string]any) {
			mu.Lock()
			calls[string(body)]++
			byInstance[name]++
			mu.Unlock()
			return 200, map[string]any{"success": true}
		})
		stop, err := js.ServeActions(ctxFor(t), connect(t, e, name), "gw", caller)
		if err != nil {
			t.Fatal(err)
		}
		defer stop()
	}
	w := connect(t, e, "worker")
	const requests = 50
	for i := range requests {
		request(t, w, "relay.v1.actions.gw", fmt.Sprintf(`{"n":%d}`, i), nil)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != requests {
		t.Fatalf("%d distinct requests run, want %d", len(calls), requests)
	}
	for body, n := range calls {
		if n != 1 {
			t.Fatalf("request %s run %d times", body, n)
		}
	}
	t.Logf("requests per instance: %v", byInstance)
}

// blockingObserver holds ActionServed until released.
type blockingObserver struct {
	js.NopObserver
	entered, release chan struct{}
}

func (o *blockingObserver) ActionServed(string, int, time.Duration) {
	close(o.entered)
	<-o.release
}

// A request is counted before its answer leaves: a worker (or a test) that
// has the answer finds it in the metrics.
func TestServeActionsCountsBeforeAnswering(t *testing.T) {
	e := startServer(t, t.TempDir())
	obs := &blockingObserver{entered: make(chan struct{}), release: make(chan struct{})}
	caller := callerFunc(func(context.Context, string, []byte) (int, map[string]any) { return 200, nil })
	stop, err := js.ServeActions(ctxFor(t), connect(t, e, "responder"), "gw", caller, js.WithActionsObserver(obs))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	var once sync.Once
	release := func() { once.Do(func() { close(obs.release) }) }
	defer release() // before stop, which waits for the held observer
	answered := make(chan error, 1)
	go func() {
		_, err := connect(t, e, "worker").Request("relay.v1.actions.gw", []byte(`{}`), waitLimit)
		answered <- err
	}()
	<-obs.entered
	select {
	case err := <-answered:
		t.Fatalf("answered (%v) before the observer returned", err)
	case <-time.After(100 * time.Millisecond): // a bounded look for an early answer
	}
	release()
	if err := <-answered; err != nil {
		t.Fatal(err)
	}
}

// A reply to an event the caller does not know is answered once the event,
// read back from the stream at the sequence the worker names, was handed to
// the remember function; a sequence holding another event, another
// gateway's event, or no sequence at all leaves the 404.
func TestServeActionsRecallsAnEventFromTheStream(t *testing.T) {
	e := startServer(t, t.TempDir())
	nc := connect(t, e, "responder")
	worker := connect(t, e, "worker")
	p, j := newPublisher(t, e, nil)
	other, err := js.NewPublisher(nc, js.PublisherConfig{GatewayID: "other"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxFor(t)
	for _, ev := range []struct {
		pub *js.Publisher
		id  string
	}{{p, "ev-1/0"}, {other, "ev-other/0"}, {p, "ev-2/0"}} { // sequences 1, 2, 3
		if _, err := ev.pub.Publish(ctx, ev.id, "discord", []byte(fmt.Sprintf(`{"event_id":%q,"text":"hi"}`, ev.id))); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	known := map[string]bool{}
	var remembered []string
	caller := callerFunc(func(_ context.Context, _ string, body []byte) (int, map[string]any) {
		var req struct {
			EventID string `json:"event_id"`
		}
		json.Unmarshal(body, &req)
		mu.Lock()
		defer mu.Unlock()
		if !known[req.EventID] {
			return 404, map[string]any{"success": false, "error": "unknown event_id"}
		}
		return 200, map[string]any{"success": true}
	})
	remember := func(data []byte) {
		var ev struct {
			EventID string `json:"event_id"`
		}
		json.Unmarshal(data, &ev)
		mu.Lock()
		defer mu.Unlock()
		known[ev.EventID] = true
		remembered = append(remembered, ev.EventID)
	}
	stop, err := js.ServeActions(ctx, nc, "gw", caller, js.WithRecall(j, remember))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	seq := func(n string) nats.Header { return nats.Header{js.SequenceHeader: []string{n}} }
	for _, tc := range []struct {
		name   string
		body   string
		header nats.Header
		want   float64
	}{
		{"no sequence", `{"event_id":"ev-1/0","content":"x"}`, nil, 404},
		{"a sequence holding another event", `{"event_id":"ev-1/0","content":"x"}`, seq("3"), 404},
		{"another gateway's event", `{"event_id":"ev-other/0","content":"x"}`, seq("2"), 404},
		{"a sequence past the end", `{"event_id":"ev-1/0","content":"x"}`, seq("99"), 404},
		{"the event's sequence", `{"event_id":"ev-1/0","content":"x"}`, seq("1"), 200},
		{"now remembered", `{"event_id":"ev-1/0","content":"x"}`, nil, 200},
	} {
		if got := request(t, worker, "relay.v1.reply.gw", tc.body, tc.header); got["status"] != tc.want {
			t.Errorf("%s: answer %v, want status %v", tc.name, got, tc.want)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(remembered) != "[ev-1/0]" {
		t.Fatalf("remembered %v, want only ev-1/0", remembered)
	}
}
