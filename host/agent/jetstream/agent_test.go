package jetstream_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/relayhost/relay-host/host/agent"
	js "github.com/relayhost/relay-host/host/agent/jetstream"
	"github.com/relayhost/relay-host/host/agentapi"
	"github.com/relayhost/relay-host/pluginapi"
)

func testEvent(id, text string) agent.Event {
	return agent.Event{
		MessageEvent: pluginapi.MessageEvent{Text: text, MessageType: "text", SessionKey: "agent:main:discord:group:c:u",
			Source: pluginapi.SessionSource{Platform: "discord", ChatID: "c", ChatType: "group", UserID: "u"}},
		EventID:     id,
		Destination: &agentapi.Destination{},
	}
}

// Deliver stores the event's JSON form (what the webhook agent POSTs) under
// its event id, answers nothing, and a second delivery of the same id is
// taken without storing it again.
func TestAgentDeliverStoresTheEventOnce(t *testing.T) {
	e := startServer(t, t.TempDir())
	obs := &recorder{}
	p, j := newPublisher(t, e, obs)
	a := js.NewAgent(p, testLogger(t))
	ev := testEvent("pbuf-7/0", "hello")
	ctx := ctxFor(t)
	for range 2 {
		ans, err := a.Deliver(ctx, ev)
		if err != nil || ans.Reply != "" || len(ans.Actions) != 0 {
			t.Fatalf("Deliver = %+v, %v; want no answer and no error", ans, err)
		}
	}
	s, err := j.Stream(ctx, js.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	if n := s.CachedInfo().State.Msgs; n != 1 {
		t.Fatalf("stream holds %d events, want 1", n)
	}
	m, err := s.GetMsg(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(ev)
	if m.Subject != "relay.v1.events.gw.discord" || m.Header.Get(jetstream.MsgIDHeader) != "pbuf-7/0" || string(m.Data) != string(want) {
		t.Fatalf("stored %s %v %s, want the event's JSON form %s under its id", m.Subject, m.Header, m.Data, want)
	}
	if ok, why := a.Ready(); !ok || why != "jetstream: ok" {
		t.Fatalf("Ready() = %v, %q", ok, why)
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if obs.published != 2 || obs.duplicates != 1 {
		t.Fatalf("observer: %d published, %d duplicates; want 2 and 1", obs.published, obs.duplicates)
	}
}

// With the server gone, a delivery waits for the reconnection no longer
// than the publish timeout, and once the connection has been down past
// UnavailableGrace every delivery fails at once with ErrUnavailable; the
// agent reports itself not ready.
func TestAgentFailsFastWhileNATSIsDown(t *testing.T) {
	e := startServer(t, t.TempDir())
	nc := connect(t, e, "publisher")
	if _, err := js.EnsureStream(ctxFor(t), jsCtx(t, nc), js.StreamConfig{GatewayID: "gw"}); err != nil {
		t.Fatal(err)
	}
	obs := &recorder{}
	const timeout = 300 * time.Millisecond
	p, err := js.NewPublisher(nc, js.PublisherConfig{GatewayID: "gw", Timeout: timeout, Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	a := js.NewAgent(p, nil)
	shutdown(t, e)
	ctx := ctxFor(t)
	start := time.Now()
	if _, err := a.Deliver(ctx, testEvent("a/0", "x")); err == nil {
		t.Fatal("delivered with the server down")
	}
	if took := time.Since(start); took > waitLimit {
		t.Fatalf("the first delivery took %s", took)
	}
	if ok, why := a.Ready(); ok {
		t.Fatalf("Ready() = true with the server down (%q)", why)
	}
	// Past the grace, deliveries fail at once.
	deadline := time.Now().Add(waitLimit)
	for {
		start = time.Now()
		_, err = a.Deliver(ctx, testEvent(fmt.Sprintf("b-%d/0", time.Now().UnixNano()), "x"))
		if errors.Is(err, js.ErrUnavailable) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still not failing fast after %s: %v", waitLimit, err)
		}
	}
	if took := time.Since(start); took >= timeout {
		t.Fatalf("a delivery past the grace took %s, want it to fail at once", took)
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if len(obs.failures) < 2 || !errors.Is(obs.failures[len(obs.failures)-1], js.ErrUnavailable) {
		t.Fatalf("observer failures %v, want the fast failure counted", obs.failures)
	}
}

// RecentEvents reads this gateway's events among the stream's last
// messages, oldest first, and no other gateway's.
func TestRecentEvents(t *testing.T) {
	e := startServer(t, t.TempDir())
	nc := connect(t, e, "publisher")
	j := jsCtx(t, nc)
	ctx := ctxFor(t)
	if n, err := js.RecentEvents(ctx, j, "gw", 100, func(string, []byte) {}); err == nil || n != 0 {
		t.Fatalf("RecentEvents without the stream = %d, %v; want an error", n, err)
	}
	if _, err := js.EnsureStream(ctx, j, js.StreamConfig{GatewayID: "gw"}); err != nil {
		t.Fatal(err)
	}
	read := func(max int) []string {
		var ids []string
		n, err := js.RecentEvents(ctx, j, "gw", max, func(id string, data []byte) {
			var v struct {
				EventID string `json:"event_id"`
			}
			if json.Unmarshal(data, &v) != nil || v.EventID != id {
				t.Errorf("event %s: data %s", id, data)
			}
			ids = append(ids, id)
		})
		if err != nil || n != len(ids) {
			t.Fatalf("RecentEvents(%d) = %d, %v", max, n, err)
		}
		return ids
	}
	if got := read(100); len(got) != 0 {
		t.Fatalf("empty stream: %v", got)
	}
	mine, other := newPublisherFor(t, nc, "gw"), newPublisherFor(t, nc, "other")
	// Stream sequences: 1 gw-0, 2 other-0, 3 gw-1, 4 other-1, …
	for i := range 6 {
		for _, p := range []struct {
			pub *js.Publisher
			gw  string
		}{{mine, "gw"}, {other, "other"}} {
			id := fmt.Sprintf("%s-%d/0", p.gw, i)
			if _, err := p.pub.Publish(ctx, id, "discord", []byte(fmt.Sprintf(`{"event_id":%q}`, id))); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got := fmt.Sprint(read(100)); got != "[gw-0/0 gw-1/0 gw-2/0 gw-3/0 gw-4/0 gw-5/0]" {
		t.Fatalf("RecentEvents(100) = %s", got)
	}
	if got := fmt.Sprint(read(5)); got != "[gw-4/0 gw-5/0]" { // among sequences 8–12
		t.Fatalf("RecentEvents(5) = %s", got)
	}
	if got := read(0); len(got) != 0 {
		t.Fatalf("RecentEvents(0) = %v", got)
	}
}

func newPublisherFor(t *testing.T, nc *nats.Conn, gw string) *js.Publisher {
	t.Helper()
	p, err := js.NewPublisher(nc, js.PublisherConfig{GatewayID: gw})
	if err != nil {
		t.Fatal(err)
	}
	return p
}
