package agent

import (
	"bytes"
	"encoding/json"
)

// decodeAnswer reads a webhook agent's 2xx body: {"reply": "…"} and/or
// {"actions": [ACTION, …]}. The event was taken whatever the body says, so
// nothing here fails: an empty or unreadable body, or a reply that is not a
// string, means no reply. Each element of "actions" is kept as sent, to be
// validated and run by the agent API exactly as POST /v1/actions would (a
// malformed one is refused there and logged); a lone action object in place
// of the list counts as a list of one, and any other value as one action
// the agent API refuses.
func decodeAnswer(data []byte) Answer {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return Answer{}
	}
	var body struct {
		Reply   json.RawMessage `json:"reply"`
		Actions json.RawMessage `json:"actions"`
	}
	if json.Unmarshal(data, &body) != nil {
		return Answer{}
	}
	var a Answer
	_ = json.Unmarshal(body.Reply, &a.Reply) // not a string: no reply
	actions := bytes.TrimSpace(body.Actions)
	switch {
	case len(actions) == 0 || bytes.Equal(actions, []byte("null")):
	case actions[0] == '[':
		_ = json.Unmarshal(actions, &a.Actions) // valid JSON: an array always decodes
	default:
		a.Actions = []json.RawMessage{actions}
	}
	return a
}
