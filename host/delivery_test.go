package host

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relayhost/relay-host/host/agent"
	"github.com/relayhost/relay-host/host/agentapi"
	"github.com/relayhost/relay-host/host/metrics"
	"github.com/relayhost/relay-host/host/relay"
	"github.com/relayhost/relay-host/pluginapi"
)

func TestEventIDs(t *testing.T) {
	ev := pluginapi.MessageEvent{MessageID: "1300", Source: pluginapi.SessionSource{Platform: "discord", ChatID: "c"}}
	noID := pluginapi.MessageEvent{Text: "hi", Source: pluginapi.SessionSource{Platform: "telegram", ChatID: "c"}}
	buffered := fwd("x", "pbuf-3")
	live := fwd("x", "")
	tests := []struct {
		name, got, want string
	}{
		{"buffered forward: bufferId and index", forwardEventID(buffered, 2, ev), "pbuf-3/2"},
		{"live forward: platform and message id", forwardEventID(live, 0, ev), "discord:1300/0"},
		{"live forward without ids: a digest", forwardEventID(live, 1, noID), forwardEventID(fwd("x", ""), 1, noID)},
		{"buffered inbound", inboundEventID("buf-9", ev), "buf-9/0"},
		{"live inbound", inboundEventID("", ev), "discord:1300/0"},
		{"live inbound without ids: a digest", inboundEventID("", noID), inboundEventID("", noID)},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, tt.got, tt.want)
		}
	}
	d1 := forwardEventID(live, 0, noID)
	if !strings.HasPrefix(d1, "discord:sha256-") || !strings.HasSuffix(d1, "/0") || len(d1) != len("discord:sha256-")+16+2 {
		t.Errorf("digest id = %q", d1)
	}
	if other := forwardEventID(fwd("y", ""), 0, noID); other == d1 {
		t.Errorf("two different live forwards got the same id %q", d1)
	}
	if d := inboundEventID("", noID); !strings.HasPrefix(d, "telegram:sha256-") || d == inboundEventID("", pluginapi.MessageEvent{Text: "other", Source: noID.Source}) {
		t.Errorf("inbound digest id = %q", d)
	}
}

// call is one call the fake agent API saw.
type call struct {
	what    string // remember, admit, around, reply, action
	eventID string
	detail  string
}

// fakeAPI records the host's calls, in order, with the acks the link saw
// interleaved.
type fakeAPI struct {
	mu     sync.Mutex
	calls  []call
	admit  bool
	link   *fakeLink
	status int // answer status for replies and actions (200 when 0)
}

func (a *fakeAPI) record(c call) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.link != nil {
		for _, id := range a.link.ackList() {
			c.detail += " after-ack:" + id
		}
	}
	a.calls = append(a.calls, c)
}

func (a *fakeAPI) list() []call {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]call(nil), a.calls...)
}

func (a *fakeAPI) Remember(ev pluginapi.MessageEvent, eventID, botID string) {
	a.record(call{"remember", eventID, botID})
}

func (a *fakeAPI) Admit(_ context.Context, ev pluginapi.MessageEvent) bool {
	a.record(call{"admit", "", ev.Text})
	return a.admit
}

func (a *fakeAPI) Around(ctx context.Context, ev pluginapi.MessageEvent, deliver func(context.Context) error) error {
	a.record(call{"around", "", ev.Text})
	return deliver(ctx)
}

func (a *fakeAPI) Destination(platform string) agentapi.Destination {
	return agentapi.Destination{MaxMessageLength: 2000, LenUnit: "chars", MarkdownDialect: platform, SupportedOps: []string{"send"}}
}

func (a *fakeAPI) answerStatus() int {
	if a.status == 0 {
		return 200
	}
	return a.status
}

func (a *fakeAPI) Reply(_ context.Context, ev pluginapi.MessageEvent, text string) (int, map[string]any) {
	a.record(call{"reply", "", text})
	if a.answerStatus() != 200 {
		return a.answerStatus(), map[string]any{"success": false, "error": "refused"}
	}
	return 200, map[string]any{"success": true, "parts": []any{map[string]any{}, map[string]any{}}}
}

func (a *fakeAPI) Call(_ context.Context, endpoint string, body []byte) (int, map[string]any) {
	a.record(call{"action", "", endpoint + " " + string(body)})
	if a.answerStatus() != 200 {
		return a.answerStatus(), map[string]any{"success": false, "error": "refused"}
	}
	return 200, map[string]any{"success": true}
}

// scriptedAgent answers every event with the same answer and keeps the
// events it was given.
type scriptedAgent struct {
	answer agent.Answer
	mu     sync.Mutex
	got    []agent.Event
}

func (s *scriptedAgent) Deliver(_ context.Context, ev agent.Event) (agent.Answer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, ev)
	return s.answer, nil
}

func (s *scriptedAgent) events() []agent.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]agent.Event(nil), s.got...)
}

func newAPIHost(t *testing.T, ag agent.Agent, api *fakeAPI, m *metrics.Metrics) (*Host, *fakeLink, *[]Step) {
	t.Helper()
	var mu sync.Mutex
	var steps []Step
	h, err := New(Config{Identities: []relay.Identity{{Platform: "discord", BotID: "bot1"}}, Plugins: &fakePlugins{}, Agent: ag,
		Metrics: m, Trace: func(s Step) { mu.Lock(); steps = append(steps, s); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	l := newFakeLink()
	api.link = l
	h.UseAgentAPI(api)
	h.Attach(l)
	t.Cleanup(h.Stop)
	return h, l, &steps
}

func TestDeliveryGoesThroughTheAgentAPI(t *testing.T) {
	api := &fakeAPI{admit: true}
	ag := &scriptedAgent{answer: agent.Answer{Reply: "the reply", Actions: []json.RawMessage{
		json.RawMessage(`{"op":"send","chat_id":"c","content":"first"}`), json.RawMessage(`{"op":"edit","chat_id":"c","message_id":"m","content":"second"}`)}}}
	m := metrics.New()
	h, l, steps := newAPIHost(t, ag, api, m)
	h.Passthrough(fwd("/ask hi", "pbuf-7"))
	settle(t, h)

	got := api.list()
	want := []call{
		{"remember", "pbuf-7/0", "bot1"},
		{"admit", "", "/ask hi"},
		{"around", "", "/ask hi"},
		{"reply", "", "the reply after-ack:pbuf-7"},
		{"action", "", `actions {"op":"send","chat_id":"c","content":"first"} after-ack:pbuf-7`},
		{"action", "", `actions {"op":"edit","chat_id":"c","message_id":"m","content":"second"} after-ack:pbuf-7`},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("calls =\n%v\nwant\n%v", got, want)
	}
	if n := len(l.sentCh); n != 0 {
		t.Errorf("%d frames sent around the agent API", n)
	}
	evs := ag.events()
	if len(evs) != 1 || evs[0].EventID != "pbuf-7/0" || evs[0].Destination == nil || evs[0].Destination.MarkdownDialect != "discord" {
		t.Fatalf("agent got %+v", evs)
	}
	if v := counter(t, m, "relay_host_answer_actions_total", map[string]string{"op": "send", "status": "200"}); v != 1 {
		t.Errorf("answer_actions_total{op=send,status=200} = %v, want 1", v)
	}
	var answer *Step
	for i := range *steps {
		if (*steps)[i].Stage == StageAnswer {
			answer = &(*steps)[i]
		}
	}
	if answer == nil || answer.Parts != 2 || answer.Status != 200 || len(answer.ActionOutcomes) != 2 ||
		answer.ActionOutcomes[1].Op != "edit" || answer.EventID != "pbuf-7/0" {
		t.Fatalf("answer step = %+v", answer)
	}
}

func TestFailedAnswerActionsAreLoggedAndCountedNotRetried(t *testing.T) {
	api := &fakeAPI{admit: true, status: 409}
	ag := &scriptedAgent{answer: agent.Answer{Actions: []json.RawMessage{json.RawMessage(`{"op":"react","chat_id":"c"}`)}}}
	m := metrics.New()
	h, l, _ := newAPIHost(t, ag, api, m)
	h.Passthrough(fwd("x", "pbuf-8"))
	settle(t, h)
	if got := l.ackList(); !reflect.DeepEqual(got, []string{"pbuf-8"}) {
		t.Fatalf("acks = %v: a failed action must not unsettle the event", got)
	}
	if n := len(api.list()); n != 4 {
		t.Fatalf("calls = %v, want remember, admit, around and one action (no retry)", api.list())
	}
	if v := counter(t, m, "relay_host_answer_actions_total", map[string]string{"op": "react", "status": "409"}); v != 1 {
		t.Errorf("answer_actions_total{op=react,status=409} = %v, want 1", v)
	}
}

func TestSwallowedEventIsAckedButNeverDelivered(t *testing.T) {
	api := &fakeAPI{admit: false}
	ag := &scriptedAgent{answer: agent.Answer{Reply: "never"}}
	h, l, steps := newAPIHost(t, ag, api, nil)
	h.Passthrough(fwd("/approve", "pbuf-9"))
	ev := pluginapi.MessageEvent{Text: "/deny", Source: pluginapi.SessionSource{Platform: "discord", ChatID: "c"}}
	h.Inbound(ev, "buf-10")
	settle(t, h)
	if len(ag.events()) != 0 {
		t.Fatalf("the agent got swallowed events: %+v", ag.events())
	}
	acks := l.ackList()
	if len(acks) != 2 {
		t.Fatalf("acks = %v, want both swallowed events settled", acks)
	}
	for _, c := range api.list() {
		if c.what == "reply" || c.what == "around" || c.what == "action" {
			t.Errorf("unexpected call %v for a swallowed event", c)
		}
	}
	n := 0
	for _, s := range *steps {
		if s.Stage == StageAgent && s.Swallowed {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d swallowed steps traced, want 2", n)
	}
}

func TestInboundEventIsRememberedWithTheIdentitysBot(t *testing.T) {
	api := &fakeAPI{admit: true}
	h, _, _ := newAPIHost(t, &scriptedAgent{}, api, nil)
	h.Inbound(pluginapi.MessageEvent{MessageID: "77", Source: pluginapi.SessionSource{Platform: "discord", ChatID: "c"}}, "")
	settle(t, h)
	if c := api.list()[0]; c != (call{"remember", "discord:77/0", "bot1"}) {
		t.Fatalf("first call = %v", c)
	}
}

// interruptAgent blocks until cancelled and takes interrupt notices.
type interruptAgent struct {
	blockingAgent
	notices chan [2]string
}

func (a interruptAgent) Interrupt(_ context.Context, sessionKey, chatID string) error {
	a.notices <- [2]string{sessionKey, chatID}
	return nil
}

func TestInterruptTellsTheAgent(t *testing.T) {
	ag := interruptAgent{blockingAgent{started: make(chan startedTurn, 1), ended: make(chan string, 1)}, make(chan [2]string, 1)}
	h, _, _ := newHost(t, ag)
	h.Passthrough(fwd("long", ""))
	<-ag.started
	h.InterruptInbound("agent:main:discord:group:chan:u1", "chan")
	select {
	case n := <-ag.notices:
		if n != [2]string{"agent:main:discord:group:chan:u1", "chan"} {
			t.Fatalf("notice = %v", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the agent was not told of the interrupt")
	}
	<-ag.ended
	settle(t, h)
}

func TestAnswerWithoutAgentAPI(t *testing.T) {
	ag := &scriptedAgent{answer: agent.Answer{Reply: "r", Actions: []json.RawMessage{json.RawMessage(`{"op":"typing"}`)}}}
	h, l, _ := newHost(t, ag)
	h.Passthrough(fwd("x", ""))
	settle(t, h)
	if n := len(l.sentCh); n != 1 {
		t.Fatalf("%d frames, want only the reply (actions need the agent API)", n)
	}
	if ev := ag.events()[0]; ev.Destination != nil || ev.EventID == "" {
		t.Errorf("event without the agent API = %+v", ev)
	}
}

// counter reads one sample of a counter vector.
func counter(t *testing.T, m *metrics.Metrics, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, mt := range mf.GetMetric() {
			for _, lp := range mt.GetLabel() {
				if labels[lp.GetName()] != lp.GetValue() {
					continue next
				}
			}
			return mt.GetCounter().GetValue()
		}
	}
	return 0
}
