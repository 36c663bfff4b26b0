package host

import (
	"context"
	"testing"

	"github.com/relayhost/relay-host/host/agent"
	"github.com/relayhost/relay-host/host/agentapi"
	"github.com/relayhost/relay-host/host/internal/wire"
	"github.com/relayhost/relay-host/host/relay"
	"github.com/relayhost/relay-host/pluginapi"
)

// nopLink takes acks and replies and does nothing with them.
type nopLink struct{}

func (nopLink) Outbound(context.Context, any, string, string) relay.OutboundResult {
	return relay.OutboundResult{Success: true}
}
func (nopLink) OutboundAsync(_ any, _, _ string, done func(relay.OutboundResult)) {
	if done != nil {
		done(relay.OutboundResult{Success: true})
	}
}
func (nopLink) AckInbound(string) error { return nil }

// BenchmarkForward measures the host's own work for one buffered forward
// (admission, ledger, dispatch call, agent hand-off, ack, reply), with a plugin that
// answers at once, the echo agent and a link that does nothing: what is
// left is the host's overhead per forward.
func BenchmarkForward(b *testing.B) {
	h, err := New(Config{Identities: []relay.Identity{{Platform: "discord", BotID: "bot1"}}, Plugins: &fakePlugins{}, Agent: agent.Echo{}})
	if err != nil {
		b.Fatal(err)
	}
	h.Attach(nopLink{})
	defer h.Stop()
	h.adm.start = func(run func()) { run() } // each forward on the benchmark's goroutine
	f := pluginapi.Forward{Platform: "discord", BotID: "bot1", Method: "POST", Path: "/interactions", Body: []byte("/ask hi")}
	ids := make([]string, b.N)
	for i := range ids {
		ids[i] = "pbuf-" + string(rune('a'+i%26)) + string(rune(i))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		f.BufferID = ids[i]
		h.adm.admit(f.Platform, forwardBytes(f), func(t *ticket) { h.forward(f, t) })
	}
}

// BenchmarkReplyEncode measures building and encoding one follow_up reply,
// as the transport puts it on the wire.
func BenchmarkReplyEncode(b *testing.B) {
	src := pluginapi.SessionSource{Platform: "discord", ChatID: "1122334455667788990", ChatType: "group", UserID: "5555555555555555555", ScopeID: "987654321098765432"}
	ev := pluginapi.MessageEvent{Text: "/ask hi", Source: src, SessionKey: pluginapi.SessionKey(src), EgressKind: pluginapi.EgressDiscordInteractionToken}
	b.ReportAllocs()
	for b.Loop() {
		action, platform := replyAction(ev, "echo: /ask hi")
		if _, err := wire.EncodeOutbound("0123456789abcdef0123456789abcdef", action, platform, "bot1"); err != nil {
			b.Fatal(err)
		}
	}
}

// apiLink is nopLink as the agent API sees it: always ready, with the
// Discord descriptor of the dev connector.
type apiLink struct{ nopLink }

func (apiLink) Interrupt(string, string) error { return nil }
func (apiLink) Descriptor(string) (relay.Descriptor, bool) {
	return relay.Descriptor{Platform: "discord", MaxMessageLength: 2000, LenUnit: "chars", MarkdownDialect: "discord",
		SupportsEdit: true, SupportsThreads: true, SupportedOps: []string{"send", "edit", "typing", "follow_up", "get_chat_info",
			"send_media", "prompt", "react", "thread_create", "thread_rename", "delete"}}, true
}
func (l apiLink) DefaultDescriptor() (relay.Descriptor, bool) { return l.Descriptor("discord") }
func (apiLink) Ready() bool                                   { return true }
func (apiLink) State() relay.State                            { return relay.StateConnected }

// BenchmarkForwardThroughAgentAPI is BenchmarkForward with the agent API
// in the path, as relay-host runs (typing and reactions on): the event's
// chat remembered, its admission and destination, the signals around the
// delivery (none for an interaction), the reply through Service.Reply.
// The difference to BenchmarkForward is the agent API's cost per forward.
func BenchmarkForwardThroughAgentAPI(b *testing.B) {
	h, err := New(Config{Identities: []relay.Identity{{Platform: "discord", BotID: "bot1"}}, Plugins: &fakePlugins{}, Agent: agent.Echo{}})
	if err != nil {
		b.Fatal(err)
	}
	svc, err := agentapi.New(agentapi.Config{Link: apiLink{}, Identities: []relay.Identity{{Platform: "discord", BotID: "bot1"}},
		Typing: true, Reactions: true})
	if err != nil {
		b.Fatal(err)
	}
	h.UseAgentAPI(svc)
	h.Attach(nopLink{})
	defer h.Stop()
	h.adm.start = func(run func()) { run() } // each forward on the benchmark's goroutine
	f := pluginapi.Forward{Platform: "discord", BotID: "bot1", Method: "POST", Path: "/interactions", Body: []byte("/ask hi")}
	ids := make([]string, b.N)
	for i := range ids {
		ids[i] = "pbuf-" + string(rune('a'+i%26)) + string(rune(i))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		f.BufferID = ids[i]
		h.adm.admit(f.Platform, forwardBytes(f), func(t *ticket) { h.forward(f, t) })
	}
}
