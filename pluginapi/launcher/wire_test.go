package launcher

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/relayhost/relay-host/internal/pluginlink"
	"github.com/relayhost/relay-host/pluginapi"
	pluginv1 "github.com/relayhost/relay-host/pluginapi/proto/relayplugin/v1"
)

// recorder is a plugin that reports each forward it receives and answers
// with a fixed result.
type recorder struct {
	got    chan pluginapi.Forward
	result pluginapi.Result
}

func (recorder) Info() pluginapi.Info {
	return pluginapi.Info{Name: "recorder", Version: "2.0.0", Platforms: []string{"discord", "x"}, Capabilities: []string{"c1"}}
}

func (r recorder) HandleForward(_ context.Context, f pluginapi.Forward) pluginapi.Result {
	r.got <- f
	return r.result
}

// TestWireRoundTrip sends a forward carrying every field through the
// host's conversion, gRPC and the plugin's conversion, and the plugin's
// result and Info back the same way: nothing may be lost or changed.
func TestWireRoundTrip(t *testing.T) {
	f := pluginapi.Forward{Platform: "discord", BotID: "b", Method: "POST", Path: "/i", Profile: "p", BufferID: "buf-1",
		Headers: []pluginapi.Header{{Name: "content-type", Value: "application/json"}, {Name: "x-dup", Value: "1"}, {Name: "x-dup", Value: "2"}},
		Body:    []byte{0, 1, 2, 0xff}}
	ev := pluginapi.MessageEvent{
		Text: "/ask hi", MessageType: pluginapi.MessageTypeCommand,
		Source: pluginapi.SessionSource{Platform: "discord", ChatID: "c", ChatName: "general", ChatType: "group", UserID: "u", UserName: "n",
			ThreadID: "t", ChatTopic: "topic", ScopeID: "g", ParentChatID: "pc", MessageID: "m", Profile: "p", DeliveredViaUpstreamRelay: true},
		MessageID: "i", ReplyToMessageID: "r", ReplyToText: "rt", ReplyToAuthorName: "ra",
		MediaURLs: []string{"https://x/a.png"}, MediaTypes: []string{"image/png"},
		PromptResponse: &pluginapi.PromptResponse{PromptID: "ab.12", OptionID: "once", PromptMessageID: "m", Label: "Once"},
		Metadata: map[string]any{
			"discord_interaction_id": "123456789012345678901",
			"discord_values":         []string{"a", "b"},
			"discord_modal_fields":   []any{map[string]any{"custom_id": "f", "value": "v"}},
			"n":                      json.Number("2.5"),
			"flag":                   true,
		},
		SessionKey: "agent:p:discord:group:c:u", EgressKind: pluginapi.EgressDiscordInteractionToken,
	}
	plug := recorder{got: make(chan pluginapi.Forward, 1), result: pluginapi.Handle(ev)}
	r := startInProcess(t, plug, false)

	info, err := r.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	wantInfo := plug.Info()
	wantInfo.Capabilities = append(wantInfo.Capabilities, pluginlink.CapabilityForwardBatches, pluginlink.CapabilityHealth, pluginlink.CapabilityShutdown)
	wantInfo.SDKVersion = pluginapi.SDKVersion
	if !reflect.DeepEqual(info, wantInfo) {
		t.Errorf("info round trip:\n got %+v\nwant %+v", info, wantInfo)
	}

	ctx, cancel := context.WithTimeout(context.Background(), streamTestTimeout)
	defer cancel()
	res, err := r.HandleForward(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	if got := <-plug.got; !reflect.DeepEqual(got, f) {
		t.Errorf("forward round trip:\n got %+v\nwant %+v", got, f)
	}
	gotJSON, _ := json.Marshal(res)
	wantJSON, _ := json.Marshal(pluginapi.Handle(ev))
	if string(gotJSON) != string(wantJSON) {
		t.Errorf("result round trip:\n got %s\nwant %s", gotJSON, wantJSON)
	}
}

func TestResultFromWireRejectsUnknownDisposition(t *testing.T) {
	for _, d := range []pluginv1.Disposition{pluginv1.Disposition_DISPOSITION_UNSPECIFIED, pluginv1.Disposition(42)} {
		if r := resultFromWire(&pluginv1.ForwardResponse{Id: 1, Disposition: d}, true); r.Disposition != pluginapi.Rejected || r.Reason == "" {
			t.Errorf("disposition %v: got %+v, want a rejection with a reason", d, r)
		}
	}
}

func TestEventFromWireDefaultsToText(t *testing.T) {
	if got, _ := eventFromWire(&pluginv1.MessageEvent{Text: "x"}); got.MessageType != pluginapi.MessageTypeText {
		t.Errorf("message type of an event without one = %q, want text", got.MessageType)
	}
}

// TestBatchLimitFitsTheMessageLimit checks the ratio pluginlink's
// MaxBatchBytes documents: a quarter of the gRPC message limit.
func TestBatchLimitFitsTheMessageLimit(t *testing.T) {
	if pluginlink.MaxBatchBytes != pluginapi.MaxMessageBytes/4 {
		t.Errorf("MaxBatchBytes = %d, want a quarter of MaxMessageBytes (%d)", pluginlink.MaxBatchBytes, pluginapi.MaxMessageBytes/4)
	}
}
