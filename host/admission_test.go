package host

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relayhost/relay-host/host/agent"
	"github.com/relayhost/relay-host/host/metrics"
	"github.com/relayhost/relay-host/host/relay"
	"github.com/relayhost/relay-host/internal/notify"
	"github.com/relayhost/relay-host/pluginapi"
)

// waitTimeout bounds every wait of these tests; each ends as soon as its
// condition holds.
const waitTimeout = 20 * time.Second

func deadline(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// gatedAgent takes an event only when the test releases a call; it records
// how many calls are in it at once.
type gatedAgent struct {
	mu      sync.Mutex
	in, max int
	taken   int
	release chan struct{}
	changed notify.Signal
}

func newGatedAgent() *gatedAgent { return &gatedAgent{release: make(chan struct{}, 4096)} }

func (a *gatedAgent) Deliver(ctx context.Context, _ agent.Event) (agent.Answer, error) {
	a.mu.Lock()
	a.in++
	a.max = max(a.max, a.in)
	a.mu.Unlock()
	a.changed.Notify()
	defer func() {
		a.mu.Lock()
		a.in--
		a.taken++
		a.mu.Unlock()
		a.changed.Notify()
	}()
	select {
	case <-a.release:
		return agent.Answer{}, nil
	case <-ctx.Done():
		return agent.Answer{}, ctx.Err()
	}
}

func (a *gatedAgent) state() (in, max, taken int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.in, a.max, a.taken
}

// A hung webhook agent with 3,000 forwards made 3,000 concurrent POSTs
// (issue 15, High 2): the host holds at most MaxAgentCalls hand-offs at
// once, and the rest wait for a free call.
func TestAgentCallsAreBounded(t *testing.T) {
	const n = 300
	ag := newGatedAgent()
	h, l, _ := newHost(t, ag)
	for i := range n {
		h.Passthrough(fwd("hi", fmt.Sprintf("buf-%d", i)))
	}
	ctx := deadline(t)
	for {
		// Wait until the agent is full (or holds everything left), then
		// let all the calls in it finish.
		var in, taken int
		if err := ag.changed.Wait(ctx, func() bool {
			in, _, taken = ag.state()
			return in > 0 && (in >= MaxAgentCalls || in == n-taken)
		}); err != nil {
			t.Fatalf("waiting for agent calls: %v (%d taken)", err, taken)
		}
		for range in {
			ag.release <- struct{}{}
		}
		if err := ag.changed.Wait(ctx, func() bool { i, _, tk := ag.state(); return tk >= taken+in || i > in }); err != nil {
			t.Fatal(err)
		}
		if _, _, taken = ag.state(); taken == n {
			break
		}
	}
	if err := h.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if _, most, _ := ag.state(); most > MaxAgentCalls {
		t.Fatalf("%d agent calls at once, want at most %d", most, MaxAgentCalls)
	}
	if got := len(l.ackList()); got != n {
		t.Fatalf("%d of %d forwards acked", got, n)
	}
}

// platformPlugins serves "slow" (each forward waits until the test lets it
// through, then is dropped) and "discord" (at once: dropped, or with
// toAgent one event for the agent).
type platformPlugins struct {
	gate    chan struct{}
	toAgent bool

	mu     sync.Mutex
	inSlow int
	calls  map[string]int
}

func (p *platformPlugins) Platforms() []string { return []string{"discord", "slow"} }

func (p *platformPlugins) Dispatch(ctx context.Context, f pluginapi.Forward) (pluginapi.Result, error) {
	p.mu.Lock()
	p.calls[f.Platform]++
	if f.Platform == "slow" {
		p.inSlow++
	}
	p.mu.Unlock()
	if f.Platform == "slow" {
		select {
		case <-p.gate:
		case <-ctx.Done():
			return pluginapi.Result{}, ctx.Err()
		}
	}
	if p.toAgent {
		src := pluginapi.SessionSource{Platform: "discord", ChatID: "c", ChatType: "dm"}
		return pluginapi.Handle(pluginapi.MessageEvent{Text: "x", Source: src, SessionKey: pluginapi.SessionKey(src)}), nil
	}
	return pluginapi.Drop("done"), nil
}

func (p *platformPlugins) slowIn() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.inSlow
}

// feed calls Passthrough for each forward on a goroutine of its own, like
// the transport's reader, and fails the test when the reader is held for
// longer than waitTimeout.
func feed(t *testing.T, h *Host, fs []pluginapi.Forward) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, f := range fs {
			h.Passthrough(f)
		}
	}()
	select {
	case <-done:
	case <-time.After(waitTimeout):
		t.Fatalf("the reader was held for %s", waitTimeout)
	}
}

// A slow plugin cannot hold up another platform (issue 15, High 2: a
// 2 s/forward plugin with 2,000 forwards queued delayed Discord by 9.86 s):
// its forwards fill its own window, then park, and past its share of the
// bytes, while Discord is in use, fail at once instead of holding the
// reader; Discord's forwards go straight through.
func TestSlowPlatformDoesNotHoldUpAnother(t *testing.T) {
	p := &platformPlugins{gate: make(chan struct{}), calls: map[string]int{}}
	m := metrics.New()
	h, err := New(Config{Identities: []relay.Identity{{Platform: "discord"}}, Plugins: p, Agent: newGatedAgent(), Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	l := newFakeLink()
	h.Attach(l)
	t.Cleanup(h.Stop)
	ctx := deadline(t)

	discord := func(id string) pluginapi.Forward {
		return pluginapi.Forward{Platform: "discord", Body: []byte("x"), BufferID: id}
	}
	feed(t, h, []pluginapi.Forward{discord("d-0")}) // Discord is in use
	body := []byte(strings.Repeat("s", 4<<10))
	var slow []pluginapi.Forward
	for i := range 2000 {
		slow = append(slow, pluginapi.Forward{Platform: "slow", Body: body, BufferID: fmt.Sprintf("s-%d", i)})
	}
	feed(t, h, slow)
	feed(t, h, []pluginapi.Forward{discord("d-1"), discord("d-2")})
	waitAcked(ctx, t, l, "d-0", "d-1", "d-2")

	count, bytes := h.adm.inFlight()
	if bytes > PlatformShare+MaxInFlightBytes/8 {
		t.Errorf("%d bytes held (%d deliveries) with the slow platform over its share", bytes, count)
	}
	if got := p.slowIn(); got != PlatformWindow {
		t.Errorf("%d slow forwards in the plugin, want its window of %d", got, PlatformWindow)
	}
	close(p.gate) // the slow plugin recovers: what was parked is served
	if err := h.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	acked := map[string]bool{}
	for _, id := range l.ackList() {
		acked[id] = true
	}
	served, failed := 0, 0
	for _, f := range slow {
		if acked[f.BufferID] {
			served++
		} else {
			failed++
		}
	}
	if served == 0 || failed == 0 || served+failed != len(slow) {
		t.Errorf("slow forwards: %d served, %d failed un-acked; want some of each", served, failed)
	}
	if got := shedCount(t, m, ShedPlatformBusy); got != failed {
		t.Errorf("deliveries_not_started_total{reason=%q} = %d, want %d", ShedPlatformBusy, got, failed)
	}
}

// waitAcked waits until every one of ids has been acked.
func waitAcked(ctx context.Context, t *testing.T, l *fakeLink, ids ...string) {
	t.Helper()
	for {
		acked := map[string]bool{}
		for _, id := range l.ackList() {
			acked[id] = true
		}
		missing := 0
		for _, id := range ids {
			if !acked[id] {
				missing++
			}
		}
		if missing == 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d of %v not acked: %v", missing, ids, ctx.Err())
		case <-time.After(time.Millisecond):
		}
	}
}

func shedCount(t *testing.T, m *metrics.Metrics, reason string) int {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "relay_host_deliveries_not_started_total" {
			continue
		}
		for _, metric := range mf.GetMetric() {
			for _, lp := range metric.GetLabel() {
				if lp.GetName() == "reason" && lp.GetValue() == reason {
					return int(metric.GetCounter().GetValue())
				}
			}
		}
	}
	return 0
}

// When the bytes bound is full and nothing progresses, the reader waits for
// room: the WebSocket's flow control then holds the connector back. Nothing
// admitted is lost: once the plugin moves again everything is served.
func TestReaderWaitsAtTheBytesBound(t *testing.T) {
	p := &platformPlugins{gate: make(chan struct{}), calls: map[string]int{}}
	h, err := New(Config{Identities: []relay.Identity{{Platform: "slow"}}, Plugins: p, Agent: newGatedAgent()})
	if err != nil {
		t.Fatal(err)
	}
	l := newFakeLink()
	h.Attach(l)
	t.Cleanup(h.Stop)
	ctx := deadline(t)
	body := []byte(strings.Repeat("b", 256<<10))
	fit := MaxInFlightBytes / (len(body) + parkedOverhead + 32)
	var fs []pluginapi.Forward
	for i := range fit + 10 {
		fs = append(fs, pluginapi.Forward{Platform: "slow", Body: body, BufferID: fmt.Sprintf("b-%d", i)})
	}
	returned := make(chan int, len(fs))
	go func() {
		for i, f := range fs {
			h.Passthrough(f)
			returned <- i
		}
	}()
	// The reader comes to wait at the bound.
	if err := h.adm.changed.Wait(ctx, func() bool {
		h.adm.mu.Lock()
		defer h.adm.mu.Unlock()
		return h.adm.waiting > 0
	}); err != nil {
		t.Fatal(err)
	}
	if _, bytes := h.adm.inFlight(); bytes > MaxInFlightBytes {
		t.Fatalf("%d bytes admitted, over %d", bytes, MaxInFlightBytes)
	}
	if n := len(returned); n >= len(fs) {
		t.Fatalf("all %d forwards admitted past the bound", n)
	}
	close(p.gate)
	ids := make([]string, len(fs))
	for i, f := range fs {
		ids[i] = f.BufferID
	}
	waitAcked(ctx, t, l, ids...)
}

// When the host is stuck on something only the reader can deliver (here an
// agent that never answers, like one waiting for an outbound_result behind
// the unread frames), the reader waits at most AdmitStallAfter, then fails
// new forwards at once, un-acked, so that it reads on.
func TestStuckHostFailsNewForwardsInsteadOfHoldingTheReader(t *testing.T) {
	ag := newGatedAgent()
	m := metrics.New()
	h, err := New(Config{Identities: []relay.Identity{{Platform: "discord"}}, Plugins: &platformPlugins{calls: map[string]int{}, toAgent: true},
		Agent: ag, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	l := newFakeLink()
	h.Attach(l)
	t.Cleanup(h.Stop)
	body := []byte(strings.Repeat("b", 256<<10))
	fit := MaxInFlightBytes / (len(body) + parkedOverhead + 32)
	var fs []pluginapi.Forward
	for i := range fit + 5 {
		fs = append(fs, pluginapi.Forward{Platform: "discord", Body: body, BufferID: fmt.Sprintf("k-%d", i)})
	}
	start := time.Now()
	feed(t, h, fs)
	if took := time.Since(start); took < AdmitStallAfter {
		t.Errorf("the reader was released after %s, before AdmitStallAfter (%s): it did not wait for room", took, AdmitStallAfter)
	}
	if got := shedCount(t, m, ShedStalled); got < 1 || got > 5 {
		t.Errorf("deliveries_not_started_total{reason=%q} = %d, want the 1–5 forwards past the bound", ShedStalled, got)
	}
	if got := len(l.ackList()); got != 0 {
		t.Errorf("%d forwards acked while the agent never took one", got)
	}
}
