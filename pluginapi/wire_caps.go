package pluginapi

// This file converts the messages of the SDK 1.0 RPCs, in the plugin's
// directions: the configuration schema and action results out.

import (
	"fmt"
	"unicode/utf8"

	pluginv1 "github.com/relayhost/relay-host/pluginapi/proto/relayplugin/v1"
	"google.golang.org/protobuf/types/known/structpb"
)

// schemaToWire converts a configuration schema; nil stays nil.
func schemaToWire(s *ConfigSchema) *pluginv1.ConfigSchema {
	if s == nil {
		return nil
	}
	w := &pluginv1.ConfigSchema{}
	for _, sp := range s.Settings {
		w.Settings = append(w.Settings, &pluginv1.SettingSpec{Name: sp.Name, Type: string(sp.Type), Required: sp.Required, Description: sp.Description})
	}
	for _, sp := range s.Secrets {
		w.Secrets = append(w.Secrets, &pluginv1.SecretSpec{Name: sp.Name, Required: sp.Required, Description: sp.Description})
	}
	return w
}

// reservedResultKeys are the keys of an action result that have fields of
// their own; Extra cannot set them.
var reservedResultKeys = [...]string{"success", "message_id", "error", "code"}

// actionResultToWire converts an action result; it fails on a string that
// is not valid UTF-8 or an Extra value that is not a JSON value.
func actionResultToWire(r ActionResult) (*pluginv1.ActionResponse, error) {
	for _, f := range [...]struct{ name, v string }{{"message_id", r.MessageID}, {"error", r.Error}, {"code", r.Code}} {
		if !utf8.ValidString(f.v) {
			return nil, fmt.Errorf("%s is not valid UTF-8", f.name)
		}
	}
	w := &pluginv1.ActionResponse{Success: r.Success, MessageId: r.MessageID, Error: r.Error, Code: r.Code}
	if len(r.Extra) == 0 {
		return w, nil
	}
	fields := make(map[string]*structpb.Value, len(r.Extra))
	for k, v := range r.Extra {
		if isReservedResultKey(k) {
			continue
		}
		if !utf8.ValidString(k) {
			return nil, fmt.Errorf("extra key is not valid UTF-8")
		}
		if err := checkValueUTF8(v); err != nil {
			return nil, fmt.Errorf("extra %q: %w", k, err)
		}
		pv, err := valueToWire(v)
		if err != nil {
			return nil, fmt.Errorf("extra %q: %w", k, err)
		}
		fields[k] = pv
	}
	w.Extra = &structpb.Struct{Fields: fields}
	return w, nil
}

func isReservedResultKey(k string) bool {
	for _, r := range reservedResultKeys {
		if k == r {
			return true
		}
	}
	return false
}
