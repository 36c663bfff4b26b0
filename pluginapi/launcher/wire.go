package launcher

// This file converts between the Go domain types of package pluginapi and
// the generated protobuf types of pluginapi/proto/relayplugin/v1, in the
// host's directions: a forward out, a result and the plugin's Info in. The
// plugin's directions are in pluginapi (wire.go); wire_test.go checks that
// the two round-trip.

import (
	"fmt"

	"github.com/relayhost/relay-host/pluginapi"
	pluginv1 "github.com/relayhost/relay-host/pluginapi/proto/relayplugin/v1"
)

// forwardToWire converts a forward for the plugin.
func forwardToWire(f pluginapi.Forward) *pluginv1.Forward {
	w := &pluginv1.Forward{
		Platform:  f.Platform,
		BotId:     f.BotID,
		Method:    f.Method,
		Path:      f.Path,
		Body:      f.Body,
		Profile:   f.Profile,
		BufferId:  f.BufferID,
		ForwardId: f.ID,
	}
	if len(f.Headers) > 0 {
		// One allocation for the headers, not one each.
		slab := make([]pluginv1.Header, len(f.Headers))
		w.Headers = make([]*pluginv1.Header, len(f.Headers))
		for i, h := range f.Headers {
			slab[i].Name, slab[i].Value = h.Name, h.Value
			w.Headers[i] = &slab[i]
		}
	}
	return w
}

// infoFromWire converts the plugin's description of itself.
func infoFromWire(w *pluginv1.InfoResponse) pluginapi.Info {
	return pluginapi.Info{
		Name: w.GetName(), Version: w.GetVersion(),
		Platforms: w.GetPlatforms(), Capabilities: w.GetCapabilities(),
		SDKVersion: w.GetSdkVersion(), Config: schemaFromWire(w.GetConfigSchema()),
	}
}

// dispositionFromWire converts a disposition; "" for one that is not valid.
func dispositionFromWire(d pluginv1.Disposition) pluginapi.Disposition {
	switch d {
	case pluginv1.Disposition_DISPOSITION_HANDLED:
		return pluginapi.Handled
	case pluginv1.Disposition_DISPOSITION_DROPPED:
		return pluginapi.Dropped
	case pluginv1.Disposition_DISPOSITION_REJECTED:
		return pluginapi.Rejected
	}
	return ""
}

// resultFromWire converts a plugin's response; an unknown disposition is a
// protocol error, and a result over the caps is refused: both are reported
// as a rejection.
func resultFromWire(w *pluginv1.ForwardResponse, measure bool) pluginapi.Result {
	d := dispositionFromWire(w.GetDisposition())
	if d == "" {
		return pluginapi.Reject(fmt.Sprintf("plugin returned no valid disposition (%v)", w.GetDisposition()))
	}
	if reason := checkResultCaps(w, measure); reason != "" {
		return pluginapi.Reject(reason)
	}
	r := pluginapi.Result{Disposition: d, Reason: w.GetReason(), Events: make([]pluginapi.MessageEvent, len(w.GetEvents()))}
	for i, ev := range w.GetEvents() {
		var err error
		if r.Events[i], err = eventFromWire(ev); err != nil {
			return pluginapi.Rejectf("event %d: %v", i, err)
		}
	}
	return r
}

// eventFromWire converts one event; a missing message type is text. It
// fails only on metadata_json that is not a JSON object.
func eventFromWire(w *pluginv1.MessageEvent) (pluginapi.MessageEvent, error) {
	e := pluginapi.MessageEvent{
		Text:              w.GetText(),
		MessageType:       pluginapi.MessageType(w.GetMessageType()),
		Source:            sourceFromWire(w.GetSource()),
		MessageID:         w.GetMessageId(),
		ReplyToMessageID:  w.GetReplyToMessageId(),
		ReplyToText:       w.GetReplyToText(),
		ReplyToAuthorName: w.GetReplyToAuthorName(),
		MediaURLs:         w.GetMediaUrls(),
		MediaTypes:        w.GetMediaTypes(),
		SessionKey:        w.GetSessionKey(),
		EgressKind:        w.GetEgressKind(),
	}
	if e.MessageType == "" {
		e.MessageType = pluginapi.MessageTypeText
	}
	if p := w.GetPromptResponse(); p != nil {
		e.PromptResponse = &pluginapi.PromptResponse{
			PromptID: p.GetPromptId(), OptionID: p.GetOptionId(),
			PromptMessageID: p.GetPromptMessageId(), Label: p.GetLabel(),
		}
	}
	if raw := w.GetMetadataJson(); len(raw) > 0 {
		md, err := metadataFromJSON(raw)
		if err != nil {
			return e, err
		}
		e.Metadata = md
	} else if m := w.GetMetadata(); m != nil && len(m.GetFields()) > 0 {
		e.Metadata = make(map[string]any, len(m.GetFields()))
		for k, v := range m.GetFields() {
			e.Metadata[k] = v.AsInterface()
		}
	}
	return e, nil
}

// sourceFromWire converts an event's source.
func sourceFromWire(w *pluginv1.SessionSource) pluginapi.SessionSource {
	return pluginapi.SessionSource{
		Platform: w.GetPlatform(), ChatID: w.GetChatId(), ChatName: w.GetChatName(),
		ChatType: w.GetChatType(), UserID: w.GetUserId(), UserName: w.GetUserName(),
		ThreadID: w.GetThreadId(), ChatTopic: w.GetChatTopic(), ScopeID: w.GetScopeId(),
		ParentChatID: w.GetParentChatId(), MessageID: w.GetMessageId(),
		Profile: w.GetProfile(), DeliveredViaUpstreamRelay: w.GetDeliveredViaUpstreamRelay(),
	}
}
