package pluginapi

// This file converts between the Go domain types of this package and the
// generated protobuf types of proto/relayplugin/v1, in the plugin's
// directions: a forward in, a result and the plugin's Info out. The host's
// directions are in package launcher (wire.go); its tests check that the
// two round-trip.

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	pluginv1 "github.com/relayhost/relay-host/pluginapi/proto/relayplugin/v1"
	"google.golang.org/protobuf/types/known/structpb"
)

// forwardFromWire converts a forward the host sent.
func forwardFromWire(w *pluginv1.Forward) Forward {
	if w == nil {
		return Forward{}
	}
	f := Forward{
		Platform: w.GetPlatform(),
		BotID:    w.GetBotId(),
		Method:   w.GetMethod(),
		Path:     w.GetPath(),
		Body:     w.GetBody(),
		Profile:  w.GetProfile(),
		BufferID: w.GetBufferId(),
		ID:       w.GetForwardId(),
	}
	if hs := w.GetHeaders(); len(hs) > 0 {
		f.Headers = make([]Header, len(hs))
		for i, h := range hs {
			f.Headers[i] = Header{Name: h.GetName(), Value: h.GetValue()}
		}
	}
	return f
}

// dispositionToWire converts a disposition; an invalid one becomes
// DISPOSITION_UNSPECIFIED, which the host reports as a rejection.
func dispositionToWire(d Disposition) pluginv1.Disposition {
	switch d {
	case Handled:
		return pluginv1.Disposition_DISPOSITION_HANDLED
	case Dropped:
		return pluginv1.Disposition_DISPOSITION_DROPPED
	case Rejected:
		return pluginv1.Disposition_DISPOSITION_REJECTED
	}
	return pluginv1.Disposition_DISPOSITION_UNSPECIFIED
}

// wireEncoding says how results are encoded for the host at the other end.
type wireEncoding struct {
	// metadataJSON: event metadata goes in metadata_json (the host listed
	// pluginlink.HostCapabilityMetadataJSON), not as a Struct.
	metadataJSON bool
}

// result converts a result for the wire. It fails when an event's
// metadata holds a value that is not a JSON value, or when a string is not
// valid UTF-8 (protobuf would refuse to marshal it, and the failure would
// break the whole stream rather than this one result).
func (enc wireEncoding) result(id uint64, r Result) (*pluginv1.ForwardResponse, error) {
	if err := checkUTF8(r); err != nil {
		return nil, err
	}
	w := &pluginv1.ForwardResponse{
		Id:          id,
		Disposition: dispositionToWire(r.Disposition),
		Reason:      r.Reason,
	}
	if len(r.Events) > 0 {
		w.Events = make([]*pluginv1.MessageEvent, len(r.Events))
		for i := range r.Events {
			ev, err := enc.event(&r.Events[i])
			if err != nil {
				return nil, fmt.Errorf("event %d: %w", i, err)
			}
			w.Events[i] = ev
		}
	}
	return w, nil
}

// event converts one event; it fails on metadata that is not a JSON
// value. Metadata that encoding/json cannot encode (a NaN, a value of no
// JSON type) takes the Struct path, which reports what is wrong with it.
func (enc wireEncoding) event(e *MessageEvent) (*pluginv1.MessageEvent, error) {
	w := &pluginv1.MessageEvent{
		Text:              e.Text,
		MessageType:       string(e.MessageType),
		Source:            sourceToWire(e.Source),
		MessageId:         e.MessageID,
		ReplyToMessageId:  e.ReplyToMessageID,
		ReplyToText:       e.ReplyToText,
		ReplyToAuthorName: e.ReplyToAuthorName,
		MediaUrls:         e.MediaURLs,
		MediaTypes:        e.MediaTypes,
		SessionKey:        e.SessionKey,
		EgressKind:        e.EgressKind,
	}
	if p := e.PromptResponse; p != nil {
		w.PromptResponse = &pluginv1.PromptResponse{
			PromptId: p.PromptID, OptionId: p.OptionID,
			PromptMessageId: p.PromptMessageID, Label: p.Label,
		}
	}
	if len(e.Metadata) > 0 && enc.metadataJSON {
		if b, err := json.Marshal(e.Metadata); err == nil {
			w.MetadataJson = b
			return w, nil
		}
	}
	if len(e.Metadata) > 0 {
		fields := make(map[string]*structpb.Value, len(e.Metadata))
		for k, v := range e.Metadata {
			pv, err := valueToWire(v)
			if err != nil {
				return nil, fmt.Errorf("metadata %q: %w", k, err)
			}
			fields[k] = pv
		}
		w.Metadata = &structpb.Struct{Fields: fields}
	}
	return w, nil
}

// sourceToWire converts an event's source.
func sourceToWire(s SessionSource) *pluginv1.SessionSource {
	return &pluginv1.SessionSource{
		Platform: s.Platform, ChatId: s.ChatID, ChatName: s.ChatName, ChatType: s.ChatType,
		UserId: s.UserID, UserName: s.UserName, ThreadId: s.ThreadID, ChatTopic: s.ChatTopic,
		ScopeId: s.ScopeID, ParentChatId: s.ParentChatID, MessageId: s.MessageID,
		Profile: s.Profile, DeliveredViaUpstreamRelay: s.DeliveredViaUpstreamRelay,
	}
}

// infoToWire converts the plugin's Info, adding the capabilities Serve
// provides (extra) that the plugin did not list itself, the SDK version
// and the configuration schema.
func infoToWire(info Info, extra ...string) *pluginv1.InfoResponse {
	caps := append([]string(nil), info.Capabilities...)
	for _, c := range extra {
		if !info.HasCapability(c) {
			caps = append(caps, c)
		}
	}
	return &pluginv1.InfoResponse{Name: info.Name, Version: info.Version, Platforms: info.Platforms, Capabilities: caps,
		SdkVersion: SDKVersion, ConfigSchema: schemaToWire(info.Config)}
}

// valueToWire converts a JSON value (as produced by encoding/json, including
// json.Number, or plain Go scalars, slices and maps) to a protobuf Value.
// Numbers travel as doubles: metadata that needs exact large integers (ids)
// should carry them as strings.
func valueToWire(v any) (*structpb.Value, error) {
	switch x := v.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil {
			return nil, fmt.Errorf("number %q: %w", string(x), err)
		}
		return structpb.NewNumberValue(f), nil
	case []string:
		vals := make([]*structpb.Value, len(x))
		for i, s := range x {
			vals[i] = structpb.NewStringValue(s)
		}
		return structpb.NewListValue(&structpb.ListValue{Values: vals}), nil
	case []any:
		vals := make([]*structpb.Value, len(x))
		for i, item := range x {
			pv, err := valueToWire(item)
			if err != nil {
				return nil, err
			}
			vals[i] = pv
		}
		return structpb.NewListValue(&structpb.ListValue{Values: vals}), nil
	case []map[string]any:
		return valueToWire(anySlice(x))
	case map[string]any:
		fields := make(map[string]*structpb.Value, len(x))
		for k, item := range x {
			pv, err := valueToWire(item)
			if err != nil {
				return nil, err
			}
			fields[k] = pv
		}
		return structpb.NewStructValue(&structpb.Struct{Fields: fields}), nil
	case map[string]string:
		fields := make(map[string]*structpb.Value, len(x))
		for k, s := range x {
			fields[k] = structpb.NewStringValue(s)
		}
		return structpb.NewStructValue(&structpb.Struct{Fields: fields}), nil
	}
	pv, err := structpb.NewValue(v)
	if err != nil {
		return nil, fmt.Errorf("not a JSON value (%T): %w", v, err)
	}
	return pv, nil
}

// checkUTF8 reports the first string of a result that is not valid UTF-8.
// It runs on every result, so it only formats a field's name on failure.
func checkUTF8(r Result) error {
	if !utf8.ValidString(r.Reason) {
		return errors.New("reason is not valid UTF-8")
	}
	for i := range r.Events {
		e := &r.Events[i]
		s := &e.Source
		for _, f := range [...]struct{ name, v string }{
			{"text", e.Text}, {"message_type", string(e.MessageType)}, {"message_id", e.MessageID},
			{"reply_to_message_id", e.ReplyToMessageID}, {"reply_to_text", e.ReplyToText},
			{"reply_to_author_name", e.ReplyToAuthorName}, {"session_key", e.SessionKey}, {"egress_kind", e.EgressKind},
			{"source.platform", s.Platform}, {"source.chat_id", s.ChatID}, {"source.chat_name", s.ChatName},
			{"source.chat_type", s.ChatType}, {"source.user_id", s.UserID}, {"source.user_name", s.UserName},
			{"source.thread_id", s.ThreadID}, {"source.chat_topic", s.ChatTopic}, {"source.scope_id", s.ScopeID},
			{"source.parent_chat_id", s.ParentChatID}, {"source.message_id", s.MessageID}, {"source.profile", s.Profile},
		} {
			if !utf8.ValidString(f.v) {
				return fmt.Errorf("event %d %s is not valid UTF-8", i, f.name)
			}
		}
		for j, u := range e.MediaURLs {
			if !utf8.ValidString(u) {
				return fmt.Errorf("event %d media_urls[%d] is not valid UTF-8", i, j)
			}
		}
		for j, t := range e.MediaTypes {
			if !utf8.ValidString(t) {
				return fmt.Errorf("event %d media_types[%d] is not valid UTF-8", i, j)
			}
		}
		if p := e.PromptResponse; p != nil {
			for _, v := range [...]string{p.PromptID, p.OptionID, p.PromptMessageID, p.Label} {
				if !utf8.ValidString(v) {
					return fmt.Errorf("event %d prompt_response is not valid UTF-8", i)
				}
			}
		}
		for k, v := range e.Metadata {
			if !utf8.ValidString(k) {
				return fmt.Errorf("event %d metadata key is not valid UTF-8", i)
			}
			if err := checkValueUTF8(v); err != nil {
				return fmt.Errorf("event %d metadata %q: %w", i, k, err)
			}
		}
	}
	return nil
}

func checkValueUTF8(v any) error {
	switch x := v.(type) {
	case string:
		if !utf8.ValidString(x) {
			return fmt.Errorf("string is not valid UTF-8")
		}
	case []string:
		for _, s := range x {
			if !utf8.ValidString(s) {
				return fmt.Errorf("string is not valid UTF-8")
			}
		}
	case []any:
		for _, item := range x {
			if err := checkValueUTF8(item); err != nil {
				return err
			}
		}
	case []map[string]any:
		return checkValueUTF8(anySlice(x))
	case map[string]any:
		for k, item := range x {
			if !utf8.ValidString(k) {
				return fmt.Errorf("key is not valid UTF-8")
			}
			if err := checkValueUTF8(item); err != nil {
				return err
			}
		}
	case map[string]string:
		for k, s := range x {
			if !utf8.ValidString(k) || !utf8.ValidString(s) {
				return fmt.Errorf("string is not valid UTF-8")
			}
		}
	}
	return nil
}

// anySlice converts a typed slice to []any.
func anySlice[T any](xs []T) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}
