package host

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/relayhost/relay-host/host/agent"
	"github.com/relayhost/relay-host/host/relay"
	"github.com/relayhost/relay-host/pluginapi"
	"github.com/relayhost/relay-host/pluginapi/launcher"
)

// fakeLink records acks and outbound actions.
type fakeLink struct {
	mu       sync.Mutex
	acks     []string
	outbound []sent
	sentCh   chan sent
}

type sent struct {
	action   map[string]any
	platform string
}

func newFakeLink() *fakeLink { return &fakeLink{sentCh: make(chan sent, 16)} }

func (l *fakeLink) Outbound(_ context.Context, action any, platform, _ string) relay.OutboundResult {
	s := sent{action.(map[string]any), platform}
	l.mu.Lock()
	l.outbound = append(l.outbound, s)
	l.mu.Unlock()
	l.sentCh <- s
	return relay.OutboundResult{Success: true, MessageID: "m1"}
}

func (l *fakeLink) OutboundAsync(action any, platform, botID string, done func(relay.OutboundResult)) {
	res := l.Outbound(context.Background(), action, platform, botID)
	if done != nil {
		done(res)
	}
}

func (l *fakeLink) AckInbound(id string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.acks = append(l.acks, id)
	return nil
}

func (l *fakeLink) ackList() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.acks...)
}

// fakePlugins answers by body.
type fakePlugins struct {
	mu    sync.Mutex
	calls int
}

func (p *fakePlugins) Dispatch(_ context.Context, f pluginapi.Forward) (pluginapi.Result, error) {
	p.mu.Lock()
	p.calls++
	p.mu.Unlock()
	switch string(f.Body) {
	case "crash":
		return pluginapi.Result{}, fmt.Errorf("%w: killed", launcher.ErrPluginGone)
	case "ping":
		return pluginapi.Drop("PING is answered by the connector"), nil
	case "unknown-platform":
		return pluginapi.Result{}, fmt.Errorf("%w: %q", ErrNoPlugin, f.Platform)
	}
	src := pluginapi.SessionSource{Platform: "discord", ChatID: "chan", ChatType: "group", UserID: "u1", ScopeID: "g1", Profile: f.Profile}
	return pluginapi.Handle(pluginapi.MessageEvent{Text: string(f.Body), MessageType: pluginapi.MessageTypeCommand, Source: src,
		SessionKey: pluginapi.SessionKey(src), EgressKind: pluginapi.EgressDiscordInteractionToken}), nil
}

func (p *fakePlugins) callCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls
}

// gatedAgent takes events only when told to, to test interrupts and order.
type failingAgent struct{}

func (failingAgent) Deliver(context.Context, agent.Event) (agent.Answer, error) {
	return agent.Answer{}, errors.New("agent down")
}

func newHost(t *testing.T, ag agent.Agent) (*Host, *fakeLink, *fakePlugins) {
	t.Helper()
	p := &fakePlugins{}
	h, err := New(Config{Identities: []relay.Identity{{Platform: "discord", BotID: "bot1"}}, Plugins: p, Agent: ag})
	if err != nil {
		t.Fatal(err)
	}
	l := newFakeLink()
	h.Attach(l)
	t.Cleanup(h.Stop)
	return h, l, p
}

// testWait bounds every wait in these tests, so that a regression fails
// the test instead of hanging the package; a healthy wait takes
// microseconds of it.
const testWait = 30 * time.Second

func settle(t *testing.T, h *Host) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	if err := h.Wait(ctx); err != nil {
		t.Fatalf("deliveries still in progress after %s: %v", testWait, err)
	}
}

// receive returns the next value from ch, failing the test if none comes
// within testWait.
func receive[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(testWait):
		t.Fatalf("nothing received in %s", testWait)
		panic("unreachable")
	}
}

func fwd(body, bufferID string) pluginapi.Forward {
	return pluginapi.Forward{Platform: "discord", BotID: "bot1", Method: "POST", Path: "/interactions", Body: []byte(body), BufferID: bufferID}
}

func TestHandledForwardIsAckedAndRepliedAsFollowUp(t *testing.T) {
	h, l, _ := newHost(t, agent.Echo{})
	h.Passthrough(fwd("/ask hi", "pbuf-7"))
	settle(t, h)
	if got := l.ackList(); !reflect.DeepEqual(got, []string{"pbuf-7"}) {
		t.Errorf("acks = %v, want [pbuf-7]", got)
	}
	s := receive(t, l.sentCh)
	want := map[string]any{"op": "follow_up", "session_key": "agent:main:discord:group:chan:u1",
		"kind": "discord.interaction_token", "content": "echo: /ask hi", "metadata": map[string]any{}}
	if !reflect.DeepEqual(s.action, want) || s.platform != "discord" {
		t.Errorf("reply = %v on %q\nwant %v on discord", s.action, s.platform, want)
	}
}

func TestFollowUpCarriesTheNamedProfile(t *testing.T) {
	h, l, _ := newHost(t, agent.Echo{})
	f := fwd("hi", "")
	f.Profile = "reviewer"
	h.Passthrough(f)
	settle(t, h)
	s := receive(t, l.sentCh)
	if s.action["session_key"] != "agent:reviewer:discord:group:chan:u1" || !reflect.DeepEqual(s.action["metadata"], map[string]any{"profile": "reviewer"}) {
		t.Errorf("reply = %v", s.action)
	}
}

func TestLiveForwardIsNeverAcked(t *testing.T) {
	h, l, _ := newHost(t, agent.Echo{})
	h.Passthrough(fwd("hi", ""))
	settle(t, h)
	if got := l.ackList(); len(got) != 0 {
		t.Errorf("acks = %v for a live forward, want none", got)
	}
}

func TestReplayedSettledForwardIsAckedAgainNotRerun(t *testing.T) {
	h, l, p := newHost(t, agent.Echo{})
	h.Passthrough(fwd("hi", "buf-1"))
	settle(t, h)
	receive(t, l.sentCh)
	h.Passthrough(fwd("hi", "buf-1"))
	settle(t, h)
	if got := l.ackList(); !reflect.DeepEqual(got, []string{"buf-1", "buf-1"}) {
		t.Errorf("acks = %v, want buf-1 twice", got)
	}
	if p.callCount() != 1 {
		t.Errorf("plugin ran %d times, want once", p.callCount())
	}
	if n := len(l.sentCh); n != 0 {
		t.Errorf("%d extra replies for a replay", n)
	}
}

func TestFailedForwardIsNotAckedAndRunsAgainOnRedelivery(t *testing.T) {
	h, l, p := newHost(t, agent.Echo{})
	h.Passthrough(fwd("crash", "buf-2"))
	settle(t, h)
	if got := l.ackList(); len(got) != 0 {
		t.Fatalf("acks = %v after a plugin crash, want none", got)
	}
	h.Passthrough(fwd("crash", "buf-2"))
	settle(t, h)
	if p.callCount() != 2 {
		t.Errorf("plugin ran %d times, want a redelivery to run again", p.callCount())
	}
}

func TestAgentFailureLeavesForwardUnacked(t *testing.T) {
	h, l, _ := newHost(t, failingAgent{})
	h.Passthrough(fwd("hi", "buf-3"))
	settle(t, h)
	if got := l.ackList(); len(got) != 0 {
		t.Errorf("acks = %v after the agent failed, want none", got)
	}
}

func TestDeliberateDropsAreAcked(t *testing.T) {
	h, l, _ := newHost(t, agent.Echo{})
	h.Passthrough(fwd("ping", "buf-4"))
	f := fwd("unknown-platform", "buf-5")
	f.Platform = "twilio"
	h.Passthrough(f)
	settle(t, h)
	got := l.ackList()
	if len(got) != 2 {
		t.Errorf("acks = %v, want buf-4 and buf-5 (dropped forwards are settled)", got)
	}
}

func TestInboundEventRepliesWithSend(t *testing.T) {
	h, l, _ := newHost(t, agent.Echo{})
	ev := pluginapi.MessageEvent{Text: "hello", Source: pluginapi.SessionSource{Platform: "discord", ChatID: "c9", ChatType: "group", UserID: "u", ScopeID: "g"}}
	ev.SessionKey = pluginapi.SessionKey(ev.Source)
	h.Inbound(ev, "buf-9")
	settle(t, h)
	s := receive(t, l.sentCh)
	want := map[string]any{"op": "send", "chat_id": "c9", "content": "echo: hello", "reply_to": nil,
		"metadata": map[string]any{"scope_id": "g", "user_id": "u"}}
	if !reflect.DeepEqual(s.action, want) || s.platform != "discord" {
		t.Errorf("reply = %v on %q, want %v", s.action, s.platform, want)
	}
	if got := l.ackList(); !reflect.DeepEqual(got, []string{"buf-9"}) {
		t.Errorf("acks = %v", got)
	}
}

// blockingAgent blocks until its turn is cancelled, reporting both ends;
// each turn's context is announced on started, so a test can look at it.
type blockingAgent struct {
	started chan startedTurn
	ended   chan string
}

// startedTurn is one turn a blockingAgent holds.
type startedTurn struct {
	sessionKey string
	ctx        context.Context
}

func (a blockingAgent) Deliver(ctx context.Context, ev agent.Event) (agent.Answer, error) {
	a.started <- startedTurn{ev.SessionKey, ctx}
	<-ctx.Done()
	a.ended <- ev.SessionKey
	return agent.Answer{}, ctx.Err()
}

func TestInterruptCancelsOnlyThatSession(t *testing.T) {
	ag := blockingAgent{started: make(chan startedTurn, 2), ended: make(chan string, 2)}
	h, l, _ := newHost(t, ag)
	other := pluginapi.MessageEvent{Text: "x", Source: pluginapi.SessionSource{Platform: "discord", ChatID: "other", ChatType: "dm"}}
	other.SessionKey = pluginapi.SessionKey(other.Source)
	h.Passthrough(fwd("long turn", "buf-10"))
	h.Inbound(other, "")
	turns := map[string]context.Context{}
	for range 2 {
		st := receive(t, ag.started)
		turns[st.sessionKey] = st.ctx
	}
	const target = "agent:main:discord:group:chan:u1"
	if turns[target] == nil || turns[other.SessionKey] == nil {
		t.Fatalf("turns started for %v, want %s and %s", turns, target, other.SessionKey)
	}
	h.InterruptInbound(target, "chan")
	// InterruptInbound cancels synchronously: once it has returned, the
	// target's context is done and the sibling's must not be.
	if turns[target].Err() == nil {
		t.Errorf("the interrupted session's turn was not cancelled")
	}
	if err := turns[other.SessionKey].Err(); err != nil {
		t.Fatalf("the interrupt cancelled a sibling session's turn too (%v)", err)
	}
	if got := receive(t, ag.ended); got != target {
		t.Fatalf("the interrupt ended %q, want %q", got, target)
	}
	h.Stop() // ends the sibling
	settle(t, h)
	if got := receive(t, ag.ended); got != other.SessionKey {
		t.Errorf("Stop ended %q, want the sibling %q", got, other.SessionKey)
	}
	if got := l.ackList(); len(got) != 0 {
		t.Errorf("acks = %v; an interrupted (cancelled) turn must stay retryable", got)
	}
}

// TestInterruptCancelsEveryTurnOfTheSession: several turns of one session
// run at once; an interrupt cancels each of them, and a turn that ended
// before it is no longer reached.
func TestInterruptCancelsEveryTurnOfTheSession(t *testing.T) {
	ag := blockingAgent{started: make(chan startedTurn, 4), ended: make(chan string, 4)}
	h, _, _ := newHost(t, ag)
	ev := pluginapi.MessageEvent{Text: "x", Source: pluginapi.SessionSource{Platform: "discord", ChatID: "busy", ChatType: "dm"}}
	ev.SessionKey = pluginapi.SessionKey(ev.Source)
	other := pluginapi.MessageEvent{Text: "y", Source: pluginapi.SessionSource{Platform: "discord", ChatID: "calm", ChatType: "dm"}}
	other.SessionKey = pluginapi.SessionKey(other.Source)
	for range 3 {
		h.Inbound(ev, "")
	}
	h.Inbound(other, "")
	var busy []context.Context
	var calm context.Context
	for range 4 {
		st := receive(t, ag.started)
		if st.sessionKey == ev.SessionKey {
			busy = append(busy, st.ctx)
		} else {
			calm = st.ctx
		}
	}
	if len(busy) != 3 || calm == nil {
		t.Fatalf("started %d turns of %s and %v of %s; want 3 and 1", len(busy), ev.SessionKey, calm != nil, other.SessionKey)
	}
	h.InterruptInbound(ev.SessionKey, "busy")
	for i, ctx := range busy {
		if ctx.Err() == nil {
			t.Errorf("turn %d of the interrupted session was not cancelled", i)
		}
	}
	if calm.Err() != nil {
		t.Fatal("the interrupt cancelled the other session's turn")
	}
	for range 3 {
		if got := receive(t, ag.ended); got != ev.SessionKey {
			t.Fatalf("ended %q, want %q", got, ev.SessionKey)
		}
	}
	h.InterruptInbound(other.SessionKey, "calm")
	if got := receive(t, ag.ended); got != other.SessionKey {
		t.Fatalf("ended %q, want %q", got, other.SessionKey)
	}
	h.Stop()
	settle(t, h)
}
