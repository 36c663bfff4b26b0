package host

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/relayhost/relay-host/host/agent"
	"github.com/relayhost/relay-host/host/internal/wire"
	"github.com/relayhost/relay-host/host/metrics"
	"github.com/relayhost/relay-host/host/plugins"
	"github.com/relayhost/relay-host/host/relay"
	"github.com/relayhost/relay-host/pluginapi"
)

// fuzzPlugins serves discord (one event per forward, its text the body)
// and twilio (drops everything), like the bundled plugins; any other
// platform has no plugin.
type fuzzPlugins struct{}

func (fuzzPlugins) Platforms() []string { return []string{"discord", "twilio"} }

func (fuzzPlugins) Dispatch(_ context.Context, f pluginapi.Forward) (pluginapi.Result, error) {
	switch f.Platform {
	case "discord":
		if len(f.Body) == 0 {
			return pluginapi.Reject("empty body"), nil
		}
		src := pluginapi.SessionSource{Platform: "discord", ChatID: f.Path, ChatType: "group", UserID: f.BotID, Profile: f.Profile}
		return pluginapi.Handle(pluginapi.MessageEvent{Text: string(f.Body), Source: src, SessionKey: pluginapi.SessionKey(src),
			EgressKind: pluginapi.EgressDiscordInteractionToken}), nil
	case "twilio":
		return pluginapi.Drop("twilio is logged and dropped"), nil
	}
	return pluginapi.Result{}, fmt.Errorf("%w: %q", plugins.ErrNoPlugin, f.Platform)
}

// fuzzLink answers every request at once.
type fuzzLink struct{}

func (fuzzLink) Outbound(context.Context, any, string, string) relay.OutboundResult {
	return relay.OutboundResult{Success: true, MessageID: "m"}
}
func (fuzzLink) OutboundAsync(_ any, _, _ string, done func(relay.OutboundResult)) {
	if done != nil {
		done(relay.OutboundResult{Success: true, MessageID: "m"})
	}
}
func (fuzzLink) AckInbound(string) error { return nil }

// allowedLabels are the label values each metric may carry, by metric
// family and label name; "" allows any valid UTF-8 value.
var allowedLabels = map[string]map[string]map[string]bool{
	"relay_host_forwards_total": {
		"platform":    set("discord", "twilio", metrics.UnknownPlatform),
		"disposition": set("handled", "dropped", "rejected", "failed", "duplicate"),
	},
	"relay_host_forward_duration_seconds": {"platform": set("discord", "twilio", metrics.UnknownPlatform)},
	"relay_host_bad_frames_total": {"reason": set(wire.BadFrameMalformedJSON, wire.BadFrameEncoding, wire.BadFrameNotObject,
		wire.BadFrameOversize, wire.BadFrameDescriptor, wire.BadFrameInbound, wire.BadFramePassthrough, wire.BadFrameOutboundResult)},
	"relay_host_frames_in_total": {"type": set("descriptor", "inbound", "outbound_result", "interrupt_inbound",
		"going_idle_ack", "passthrough_forward", "unknown")},
	"relay_host_deliveries_not_started_total": {"reason": set(ShedPlatformBusy, ShedStalled, ShedStopping)},
	"relay_host_outbound_results_total": {"op": set("send", "follow_up", "other"),
		"result": set("success", "failure", "ambiguous", "declined")},
	"relay_host_connection_state": {"state": set("disconnected", "connecting", "connected", "dormant")},
}

func set(vs ...string) map[string]bool {
	m := map[string]bool{}
	for _, v := range vs {
		m[v] = true
	}
	return m
}

// feedHost plays the transport's part for data (one or more WebSocket
// messages' worth of frame lines): it splits and decodes each line and
// hands it to h and m the way package relay's reader does.
func feedHost(h *Host, m *metrics.Metrics, data []byte) {
	sp := wire.NewSplitter(1 << 12)
	sp.Feed(data, func(line []byte, err error) {
		var f wire.Frame
		if err == nil {
			f, err = wire.DecodeFrame(line)
		}
		if err != nil {
			var de *wire.DecodeError
			if !errors.As(err, &de) {
				panic(fmt.Sprintf("decode error %v is not a *DecodeError", err))
			}
			m.BadFrame(de.Kind)
			return
		}
		if !f.Type.Incoming() {
			m.FrameIn("unknown")
			return
		}
		switch f.Type {
		case wire.TypePassthroughForward:
			h.Passthrough(*f.Forward)
		case wire.TypeInbound:
			h.Inbound(f.Inbound.Event, f.Inbound.BufferID)
		case wire.TypeInterruptInbound:
			h.InterruptInbound(f.Interrupt.SessionKey, f.Interrupt.ChatID)
		}
		m.FrameIn(string(f.Type))
	})
}

// checkLabels fails unless every label value in m's registry is valid
// UTF-8 and one allowedLabels admits.
func checkLabels(t *testing.T, m *metrics.Metrics) {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		for _, metric := range mf.GetMetric() {
			for _, lp := range metric.GetLabel() {
				v := lp.GetValue()
				if !utf8.ValidString(v) {
					t.Fatalf("%s{%s=%q}: not valid UTF-8", mf.GetName(), lp.GetName(), v)
				}
				if allowed := allowedLabels[mf.GetName()][lp.GetName()]; allowed != nil && !allowed[v] {
					t.Fatalf("%s{%s=%.60q}: not an allowed value", mf.GetName(), lp.GetName(), v)
				}
			}
		}
	}
}

func fuzzForward(platform, body string, extra string) string {
	return `{"type":"passthrough_forward","forward":{"platform":` + platform + `,"botId":"b","method":"POST","path":"/i","headers":[["a","b"]],"bodyB64":"` +
		base64.StdEncoding.EncodeToString([]byte(body)) + `"` + extra + `},"bufferId":"pbuf-1"}` + "\n"
}

// FuzzHostFrames drives whole frames through the host as the transport
// hands them over: splitter, decoder, the host's admission and dispatch (to
// plugins that serve discord and twilio like the bundled ones), the echo
// agent, acks and replies, with a real metrics registry. Whatever the
// frames, nothing panics (a panic in a delivery goroutine would end the
// process) and every metric label is valid UTF-8 from its allowed set
// (issue 15, High 0).
func FuzzHostFrames(f *testing.F) {
	for _, s := range []string{
		fuzzForward(`"discord"`, `{"type":2}`, ""),
		fuzzForward(`"twilio"`, "From=%2B1&Body=hi", ""),
		fuzzForward(`"slack"`, "x", ""),
		fuzzForward(`["discord","`+"\xff"+`"]`, "x", ""),
		fuzzForward(`"discord"`, "x", `,"path":["`+"\xff"+`"]`),
		fuzzForward(`"discord"`, "x", `,"headers":[["x",{"a":"`+"\xff"+`"}]]`),
		fuzzForward(`"discord"`, "x", `,"method":{"a":1}`),
		fuzzForward(`"`+strings.Repeat("d", 300)+`"`, "x", ""),
		fuzzForward(`"disc\u006frd"`, "caf\xc3\xa9", ""),
		`{"type":"inbound","event":{"text":"hi","source":{"platform":"discord","chat_id":"c"}},"bufferId":"buf-1"}` + "\n",
		`{"type":"inbound","event":{"text":"hi","source":{"platform":"` + strings.Repeat("p", 70) + `","chat_id":"\xff"}}}` + "\n",
		`{"type":"interrupt_inbound","session_key":"k","chat_id":"c"}` + "\n" + `{"type":"going_idle_ack"}` + "\n{bad\n[1]\n",
		`{"type":"hello"}` + "\n" + `{"type":"passthrough_forward","forward":"x","bufferId":"p"}` + "\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m := metrics.New()
		m.AllowPlatforms("discord", "twilio")
		h, err := New(Config{Identities: []relay.Identity{{Platform: "discord", BotID: "b"}}, Plugins: fuzzPlugins{},
			Agent: agent.Echo{}, Metrics: m})
		if err != nil {
			t.Fatal(err)
		}
		h.Attach(fuzzLink{})
		feedHost(h, m, data)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.Wait(ctx); err != nil {
			t.Fatalf("deliveries did not finish: %v", err)
		}
		h.Stop()
		checkLabels(t, m)
	})
}
