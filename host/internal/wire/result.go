package wire

import (
	"bytes"
	"encoding/json"
	"strings"
)

// EgressDeclinedCode is the outbound_result code that marks an authorization
// refusal by the connector's egress guard (docs/protocol.md, Outbound
// results).
const EgressDeclinedCode = "egress_declined"

// OutboundResult is the outcome of one outbound request: the connector's
// answer, decoded from an outbound_result frame, or a local failure the
// transport reports the same way (relay.Client.Outbound never returns an
// error: every failure is a result with Success false).
type OutboundResult struct {
	// Success is the connector's success flag (false for every local failure).
	Success bool
	// MessageID is the platform message id, when the connector returned one.
	MessageID string
	// Error says why it failed.
	Error string
	// Code is the connector's machine-readable failure code, e.g.
	// EgressDeclinedCode.
	Code string
	// Ambiguous means the frame reached the wire but no answer came back (a
	// timeout, a lost connection, a shutdown): the connector may have applied
	// it. Callers must not treat it as a definite rejection.
	Ambiguous bool
	// Raw is the connector's result object as received (nil for local
	// failures); numbers are json.Number. It holds chat_info, thread_id,
	// auto_thread_name and any other key.
	Raw map[string]any
}

// EgressDeclined reports whether the connector refused the destination: the
// code is EgressDeclinedCode, or, for connectors that send no code, the error
// text contains "egress declined:" in any case (docs/protocol.md, Outbound
// results).
func (r OutboundResult) EgressDeclined() bool {
	return r.Code == EgressDeclinedCode ||
		strings.Contains(strings.ToLower(r.Error), "egress declined:")
}

// parseResult reads an outbound_result.result object. A missing, null or
// empty result is a failure, as in the reference; a result that is not an
// object is reported as an ambiguous failure, because the connector did
// answer but we cannot tell what it did.
func parseResult(r json.RawMessage) OutboundResult {
	switch rawKind(r) {
	case 0, 'n':
		return OutboundResult{Error: "relay outbound_result carried no result", Raw: map[string]any{}}
	case '{':
	default:
		return OutboundResult{Error: "relay outbound_result carried a non-object result", Ambiguous: true}
	}
	if res, ok := scanResult(r); ok {
		return res
	}
	return decodeResult(r)
}

// decodeResult is parseResult's slow path: encoding/json, which decides
// every object the fast path (scanResult) leaves to it. r must be one
// JSON object.
func decodeResult(r json.RawMessage) OutboundResult {
	raw := map[string]any{}
	dec := json.NewDecoder(bytes.NewReader(r))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return OutboundResult{Error: "relay outbound_result carried a non-object result", Ambiguous: true}
	}
	var w struct {
		Success   json.RawMessage `json:"success"`
		MessageID json.RawMessage `json:"message_id"`
		Error     json.RawMessage `json:"error"`
		Code      json.RawMessage `json:"code"`
	}
	_ = json.Unmarshal(r, &w) // valid object: cannot fail on RawMessage fields
	return OutboundResult{
		Success:   rawTruthy(w.Success),
		MessageID: rawString(w.MessageID),
		Error:     rawString(w.Error),
		Code:      rawString(w.Code),
		Raw:       raw,
	}
}
