package pluginapi

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestWireRoundTrip(t *testing.T) {
	f := Forward{Platform: "discord", BotID: "b", Method: "POST", Path: "/i", Profile: "p", BufferID: "buf-1",
		Headers: []Header{{"content-type", "application/json"}, {"x-dup", "1"}, {"x-dup", "2"}},
		Body:    []byte{0, 1, 2, 0xff}}
	if got := forwardFromWire(forwardToWire(f)); !reflect.DeepEqual(got, f) {
		t.Errorf("forward round trip:\n got %+v\nwant %+v", got, f)
	}
	ev := MessageEvent{
		Text: "/ask hi", MessageType: MessageTypeCommand,
		Source: SessionSource{Platform: "discord", ChatID: "c", ChatType: "group", UserID: "u", UserName: "n",
			ScopeID: "g", MessageID: "m", Profile: "p", DeliveredViaUpstreamRelay: true},
		MessageID: "i", ReplyToMessageID: "r", ReplyToText: "rt", ReplyToAuthorName: "ra",
		MediaURLs: []string{"https://x/a.png"}, MediaTypes: []string{"image/png"},
		PromptResponse: &PromptResponse{PromptID: "ab.12", OptionID: "once", PromptMessageID: "m"},
		Metadata: map[string]any{
			"discord_interaction_id": "123456789012345678901",
			"discord_values":         []string{"a", "b"},
			"discord_modal_fields":   []any{map[string]any{"custom_id": "f", "value": "v"}},
			"n":                      json.Number("2.5"),
			"flag":                   true,
		},
		SessionKey: "agent:p:discord:group:c:u", EgressKind: EgressDiscordInteractionToken,
	}
	w, err := resultToWire(7, Handle(ev))
	if err != nil {
		t.Fatal(err)
	}
	if w.GetId() != 7 {
		t.Errorf("id = %d, want 7", w.GetId())
	}
	got := resultFromWire(w)
	gotJSON, _ := json.Marshal(got)
	wantJSON, _ := json.Marshal(Handle(ev))
	if string(gotJSON) != string(wantJSON) {
		t.Errorf("result round trip:\n got %s\nwant %s", gotJSON, wantJSON)
	}
}

func TestResultFromWireRejectsUnknownDisposition(t *testing.T) {
	w, _ := resultToWire(1, Result{Disposition: "bogus"})
	if r := resultFromWire(w); r.Disposition != Rejected || r.Reason == "" {
		t.Errorf("got %+v, want a rejection with a reason", r)
	}
}

func TestValueToWireRejectsNonJSON(t *testing.T) {
	if _, err := valueToWire(make(chan int)); err == nil {
		t.Error("valueToWire(chan) succeeded, want an error")
	}
}

func TestResultToWireRefusesInvalidUTF8(t *testing.T) {
	bad := string([]byte{0xff, 'x'})
	for name, r := range map[string]Result{
		"reason":   Drop(bad),
		"text":     Handle(MessageEvent{Text: bad}),
		"source":   Handle(MessageEvent{Source: SessionSource{UserName: bad}}),
		"metadata": Handle(MessageEvent{Metadata: map[string]any{"k": []any{bad}}}),
	} {
		if _, err := resultToWire(1, r); err == nil {
			t.Errorf("%s: invalid UTF-8 accepted", name)
		}
	}
}
