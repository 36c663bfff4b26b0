package agentapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strings"
)

// Outbound ops relay-host knows (docs/protocol.md, Outbound actions). Any
// other op is refused unless Config.AllowUnknownOps is set.
const (
	OpSend         = "send"
	OpEdit         = "edit"
	OpTyping       = "typing"
	OpGetChatInfo  = "get_chat_info"
	OpFollowUp     = "follow_up"
	OpSendMedia    = "send_media"
	OpPrompt       = "prompt"
	OpReact        = "react"
	OpThreadCreate = "thread_create"
	OpThreadRename = "thread_rename"
	OpDraft        = "draft"
	OpDelete       = "delete"
	OpTaskCard     = "task_card"
	OpTaskCardStop = "task_card_stop"
)

// Media kinds a send_media action may name.
var mediaKinds = []string{"image", "voice", "audio", "video", "document"}

// promptIDPattern is the alphabet and length the connector's prompt codec
// accepts for prompt and option ids (it packs both into one button id).
var promptIDPattern = regexp.MustCompile(`^[A-Za-z0-9_.\-]{1,32}$`)

// fieldKind says what a field of an action must hold.
type fieldKind int

const (
	kindID        fieldKind = iota // a non-empty string
	kindText                       // any string, empty included
	kindTextOrNil                  // a string or null
	kindObject                     // a JSON object
	kindBool                       // true or false
	kindInt                        // an integer
	kindPositive                   // a number above zero
	kindArray                      // a JSON array
	kindOptions                    // prompt options: [{id, label, style?}, …]
	kindMediaKind                  // one of mediaKinds
	kindPromptID                   // a string of promptIDPattern
	kindFallback                   // the string "text"
	kindURL                        // an absolute http(s) URL
)

// field is one rule of an op: a field name, what it holds, and whether the
// action must carry it.
type field struct {
	name     string
	kind     fieldKind
	required bool
}

func req(name string, k fieldKind) field { return field{name: name, kind: k, required: true} }
func opt(name string, k fieldKind) field { return field{name: name, kind: k} }

// opFields are the fields relay-host checks for each known op; fields not
// listed are passed through untouched. Every op may carry metadata (an
// object) and the top-level platform / bot_id overrides.
var opFields = map[string][]field{
	OpSend:         {req("chat_id", kindID), req("content", kindText), opt("reply_to", kindTextOrNil)},
	OpEdit:         {req("chat_id", kindID), req("message_id", kindID), req("content", kindText)},
	OpTyping:       {req("chat_id", kindID), opt("content", kindText)},
	OpGetChatInfo:  {req("chat_id", kindID)},
	OpFollowUp:     {req("session_key", kindID), req("kind", kindID), req("content", kindText)},
	OpSendMedia:    {req("chat_id", kindID), req("media_kind", kindMediaKind), req("source_url", kindURL), opt("content", kindText), opt("filename", kindText), opt("reply_to", kindTextOrNil), opt("fallback", kindFallback)},
	OpPrompt:       {req("chat_id", kindID), req("content", kindText), req("options", kindOptions), opt("prompt_id", kindPromptID), opt("prompt_kind", kindID), opt("timeout_s", kindPositive), opt("reply_to", kindTextOrNil)},
	OpReact:        {req("chat_id", kindID), req("message_id", kindID), req("emoji", kindID), opt("remove", kindBool)},
	OpThreadCreate: {req("chat_id", kindID), req("thread_name", kindID), opt("message_id", kindID)},
	OpThreadRename: {req("chat_id", kindID), req("message_id", kindID), req("thread_name", kindID), opt("only_if_current_name", kindText)},
	OpDraft:        {req("chat_id", kindID), req("draft_id", kindInt), req("content", kindText), req("final", kindBool)},
	OpDelete:       {req("chat_id", kindID), req("message_id", kindID)},
	OpTaskCard:     {req("chat_id", kindID), req("card_id", kindID), opt("chunks", kindArray)},
	OpTaskCardStop: {req("chat_id", kindID), req("card_id", kindID)},
}

// unknownOpFields are checked on an op relay-host does not know, when those
// are allowed: enough to enrich and tag it.
var unknownOpFields = []field{opt("chat_id", kindID)}

// commonFields may appear on every action.
var commonFields = []field{opt("metadata", kindObject), opt("platform", kindID), opt("bot_id", kindText)}

// BadRequestError is a request relay-host refuses before sending anything:
// malformed JSON, a missing or mistyped field, an unknown op. Its message
// names the field. It is answered with HTTP 400.
type BadRequestError struct {
	// Msg says what is wrong, naming the field.
	Msg string
}

// Error returns the message.
func (e *BadRequestError) Error() string { return e.Msg }

func badRequest(format string, args ...any) error {
	return &BadRequestError{Msg: fmt.Sprintf(format, args...)}
}

// action is one validated agent action: its op, the object to send as the
// outbound action (the top-level platform and bot_id removed), and those
// overrides.
type action struct {
	op       string
	fields   map[string]any
	platform string
	botID    string
}

// parseObject decodes a request body that must be one JSON object of valid
// Unicode text, numbers kept as json.Number.
func parseObject(body []byte) (map[string]any, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, badRequest("body is empty: want a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, badRequest("body is not valid JSON: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, badRequest("body is not valid JSON: data after the object")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, badRequest("body must be a JSON object, not %s", jsonKind(v))
	}
	if where, bad := findBadText(body); bad {
		return nil, badRequest("%s: invalid UTF-8 (or a lone UTF-16 surrogate escape)", where)
	}
	return obj, nil
}

// parseAction validates one action body (see opFields). Unknown ops are
// refused unless allowUnknown.
func parseAction(body []byte, allowUnknown bool) (*action, error) {
	obj, err := parseObject(body)
	if err != nil {
		return nil, err
	}
	opv, ok := obj["op"]
	if !ok {
		return nil, badRequest("op is required")
	}
	op, ok := opv.(string)
	if !ok {
		return nil, badRequest("op must be a string, not %s", jsonKind(opv))
	}
	if op == "" {
		return nil, badRequest("op is required")
	}
	rules, known := opFields[op]
	if !known {
		if !allowUnknown {
			return nil, badRequest("op: unknown op %q (relay-host knows %s; unknown ops are sent only with --allow-unknown-ops)", op, strings.Join(knownOps(), ", "))
		}
		rules = unknownOpFields
	}
	for _, f := range append(rules[:len(rules):len(rules)], commonFields...) {
		if err := checkField(op, obj, f); err != nil {
			return nil, err
		}
	}
	a := &action{op: op, fields: obj}
	if p, ok := obj["platform"].(string); ok {
		a.platform = p
	}
	if b, ok := obj["bot_id"].(string); ok {
		a.botID = b
	}
	delete(obj, "platform")
	delete(obj, "bot_id")
	normalise(a)
	return a, nil
}

// normalise gives an action its wire shape: every chat-addressed action but
// get_chat_info carries a metadata object, a follow_up too, and a send
// always carries reply_to (null when absent).
func normalise(a *action) {
	_, chat := a.fields["chat_id"]
	if (chat && a.op != OpGetChatInfo) || a.op == OpFollowUp {
		if _, ok := a.fields["metadata"].(map[string]any); !ok {
			a.fields["metadata"] = map[string]any{}
		}
	}
	if a.op == OpSend {
		if _, ok := a.fields["reply_to"]; !ok {
			a.fields["reply_to"] = nil
		}
	}
}

func knownOps() []string {
	return []string{OpSend, OpEdit, OpTyping, OpGetChatInfo, OpFollowUp, OpSendMedia, OpPrompt,
		OpReact, OpThreadCreate, OpThreadRename, OpDraft, OpDelete, OpTaskCard, OpTaskCardStop}
}

// checkField checks one field rule on an action object.
func checkField(op string, obj map[string]any, f field) error {
	v, present := obj[f.name]
	if !present {
		if f.required {
			return badRequest("%s: %s is required", op, f.name)
		}
		return nil
	}
	return checkValue(op, f.name, v, f.kind)
}

func checkValue(op, name string, v any, k fieldKind) error {
	str, isStr := v.(string)
	switch k {
	case kindID:
		if !isStr {
			return badRequest("%s: %s must be a string, not %s", op, name, jsonKind(v))
		}
		if str == "" {
			return badRequest("%s: %s is required (it is empty)", op, name)
		}
	case kindText:
		if !isStr {
			return badRequest("%s: %s must be a string, not %s", op, name, jsonKind(v))
		}
	case kindTextOrNil:
		if v != nil && !isStr {
			return badRequest("%s: %s must be a string or null, not %s", op, name, jsonKind(v))
		}
	case kindObject:
		if _, ok := v.(map[string]any); !ok {
			return badRequest("%s: %s must be an object, not %s", op, name, jsonKind(v))
		}
	case kindBool:
		if _, ok := v.(bool); !ok {
			return badRequest("%s: %s must be true or false, not %s", op, name, jsonKind(v))
		}
	case kindInt:
		n, ok := v.(json.Number)
		if !ok {
			return badRequest("%s: %s must be an integer, not %s", op, name, jsonKind(v))
		}
		if _, err := n.Int64(); err != nil {
			return badRequest("%s: %s must be an integer, not %s", op, name, n)
		}
	case kindPositive:
		n, ok := v.(json.Number)
		if !ok {
			return badRequest("%s: %s must be a number, not %s", op, name, jsonKind(v))
		}
		if f, err := n.Float64(); err != nil || !(f > 0) {
			return badRequest("%s: %s must be above zero, not %s", op, name, n)
		}
	case kindArray:
		if _, ok := v.([]any); !ok {
			return badRequest("%s: %s must be an array, not %s", op, name, jsonKind(v))
		}
	case kindMediaKind:
		if !isStr {
			return badRequest("%s: %s must be a string, not %s", op, name, jsonKind(v))
		}
		for _, m := range mediaKinds {
			if str == m {
				return nil
			}
		}
		return badRequest("%s: %s must be one of %s, not %q", op, name, strings.Join(mediaKinds, ", "), str)
	case kindPromptID:
		if !isStr {
			return badRequest("%s: %s must be a string, not %s", op, name, jsonKind(v))
		}
		if !promptIDPattern.MatchString(str) {
			return badRequest("%s: %s must be 1 to 32 of A-Z a-z 0-9 _ . - (the connector packs it into a button id), not %q", op, name, str)
		}
	case kindFallback:
		if !isStr || str != "text" {
			return badRequest(`%s: %s must be "text" (the only fallback), not %s`, op, name, jsonValueText(v))
		}
	case kindOptions:
		return checkOptions(op, name, v)
	case kindURL:
		if !isStr {
			return badRequest("%s: %s must be a string, not %s", op, name, jsonKind(v))
		}
		u, err := url.Parse(str)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return badRequest("%s: %s must be an absolute http(s) URL", op, name)
		}
	}
	return nil
}

// checkOptions checks prompt options: a non-empty array of objects, each
// with an id of promptIDPattern, a non-empty label and an optional style.
func checkOptions(op, name string, v any) error {
	list, ok := v.([]any)
	if !ok {
		return badRequest("%s: %s must be an array of {id, label}, not %s", op, name, jsonKind(v))
	}
	if len(list) == 0 {
		return badRequest("%s: %s must hold at least one option", op, name)
	}
	for i, o := range list {
		at := fmt.Sprintf("%s[%d]", name, i)
		obj, ok := o.(map[string]any)
		if !ok {
			return badRequest("%s: %s must be an object {id, label}, not %s", op, at, jsonKind(o))
		}
		for _, f := range []field{req("id", kindPromptID), req("label", kindID), opt("style", kindText)} {
			v, present := obj[f.name]
			if !present {
				if f.required {
					return badRequest("%s: %s.%s is required", op, at, f.name)
				}
				continue
			}
			if err := checkValue(op, at+"."+f.name, v, f.kind); err != nil {
				return err
			}
		}
	}
	return nil
}

// jsonKind names the JSON type of a decoded value, for error messages.
func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number, float64:
		return "a number"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// jsonValueText renders a short form of a decoded value for an error
// message (never a long string: it may be message content).
func jsonValueText(v any) string {
	if s, ok := v.(string); ok {
		if len(s) > 32 {
			return "a longer string"
		}
		return fmt.Sprintf("%q", s)
	}
	return jsonKind(v)
}
