package edge

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Discord interaction types (receiving-and-responding#interaction-object-interaction-type).
const (
	TypePing               = 1
	TypeApplicationCommand = 2
	TypeMessageComponent   = 3
	TypeAutocomplete       = 4
	TypeModalSubmit        = 5
)

// Discord's signature headers (security-and-authorization: the request is
// signed over timestamp + raw body with the application's Ed25519 key).
const (
	HeaderSignature = "X-Signature-Ed25519"
	HeaderTimestamp = "X-Signature-Timestamp"
)

// ack is the edge's immediate answer to one interaction type.
type ack struct {
	body    string
	meaning string
}

// ackFor returns the interaction response the connector answers at its edge
// for an interaction type (docs/protocol.md, passthrough_forward): PONG for
// PING; a deferred response for commands and modals (Discord shows
// "thinking…" and the follow-up replaces it); a deferred update for
// components (no visible change); no choices for autocomplete, which nothing
// behind the relay can answer in time.
func ackFor(typ int) (ack, bool) {
	switch typ {
	case TypePing:
		return ack{`{"type":1}`, "PONG"}, true
	case TypeApplicationCommand, TypeModalSubmit:
		return ack{`{"type":5}`, "DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE"}, true
	case TypeMessageComponent:
		return ack{`{"type":6}`, "DEFERRED_UPDATE_MESSAGE"}, true
	case TypeAutocomplete:
		return ack{`{"type":8,"data":{"choices":[]}}`, "APPLICATION_COMMAND_AUTOCOMPLETE_RESULT, no choices"}, true
	}
	return ack{}, false
}

// ParsePublicKey parses a Discord application public key given as hex.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("public key: want %d hex characters (the PUBLIC KEY on the application's General Information page in the Discord developer portal)", 2*ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}

// Sign returns the hex X-Signature-Ed25519 value Discord would send for body
// at timestamp, signed with key (tests and the demo sign their requests).
func Sign(key ed25519.PrivateKey, timestamp string, body []byte) string {
	return hex.EncodeToString(ed25519.Sign(key, signedMessage(timestamp, body)))
}

func signedMessage(timestamp string, body []byte) []byte {
	msg := make([]byte, 0, len(timestamp)+len(body))
	return append(append(msg, timestamp...), body...)
}

// verifySignature reports whether sigHex is a valid signature of
// timestamp+body by any of keys.
func verifySignature(keys []ed25519.PublicKey, sigHex, timestamp string, body []byte) bool {
	sig, err := hex.DecodeString(sigHex)
	if err != nil || len(sig) != ed25519.SignatureSize || timestamp == "" {
		return false
	}
	msg := signedMessage(timestamp, body)
	for _, k := range keys {
		if ed25519.Verify(k, msg, sig) {
			return true
		}
	}
	return false
}

// interaction is what the edge reads of an interaction body.
type interaction struct {
	typ int
	id  string
}

// parseInteraction checks that body is a JSON object with an integer type,
// and reads its type and id. Errors never quote the body.
func parseInteraction(body []byte) (interaction, error) {
	if !utf8.Valid(body) {
		return interaction{}, errors.New("body is not valid UTF-8")
	}
	if t := bytes.TrimLeft(body, " \t\r\n"); len(t) == 0 || t[0] != '{' || !json.Valid(body) {
		return interaction{}, errors.New("body is not a JSON object")
	}
	var head struct {
		Type json.RawMessage `json:"type"`
		ID   json.RawMessage `json:"id"`
	}
	if err := json.Unmarshal(body, &head); err != nil {
		return interaction{}, errors.New("body is not a JSON object")
	}
	// json.Number would also take a quoted number; Discord sends a bare one.
	var n json.Number
	if len(head.Type) == 0 || (head.Type[0] != '-' && (head.Type[0] < '0' || head.Type[0] > '9')) || json.Unmarshal(head.Type, &n) != nil {
		return interaction{}, errors.New("interaction type is missing or not a number")
	}
	typ, err := n.Int64()
	if err != nil {
		return interaction{}, errors.New("interaction type is not an integer")
	}
	in := interaction{typ: int(typ)}
	if typ != int64(in.typ) {
		return interaction{}, errors.New("interaction type is out of range")
	}
	var s string
	switch {
	case json.Unmarshal(head.ID, &s) == nil:
		in.id = s
	case len(head.ID) > 0 && head.ID[0] >= '0' && head.ID[0] <= '9':
		in.id = string(head.ID) // a snowflake sent as a JSON number
	}
	return in, nil
}

// stripToken removes every top-level "token" member from a JSON object,
// leaving every other byte as it was (member order, spacing, number
// spelling, escapes). It returns the new body and the token (the last one
// when repeated; "" when absent or not a string). body must already be a
// valid JSON object.
func stripToken(body []byte) (out []byte, token string, found bool, err error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	t, err := dec.Token()
	if err != nil {
		return nil, "", false, fmt.Errorf("read body: %w", err)
	}
	if d, ok := t.(json.Delim); !ok || d != '{' {
		return nil, "", false, errors.New("body is not a JSON object")
	}
	type member struct {
		start, end int // key start, value end
		drop       bool
	}
	var members []member
	prev := int(dec.InputOffset()) // just past '{'
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return nil, "", false, fmt.Errorf("read body: %w", err)
		}
		key, _ := k.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, "", false, fmt.Errorf("read body: %w", err)
		}
		// Between the previous value and this key there is only
		// whitespace and one comma: the key starts at the first quote.
		start := prev + bytes.IndexByte(body[prev:], '"')
		end := int(dec.InputOffset())
		m := member{start: start, end: end}
		if key == "token" {
			m.drop, found = true, true
			var s string
			if json.Unmarshal(raw, &s) == nil {
				token = s
			} else {
				token = ""
			}
		}
		members = append(members, m)
		prev = end
	}
	if !found {
		return body, "", false, nil
	}
	// Rebuild: the text before the first member, each kept member with the
	// separator that preceded it in the original (none for the first one
	// kept), then everything after the last member.
	out = make([]byte, 0, len(body))
	out = append(out, body[:members[0].start]...)
	kept := 0
	for i, m := range members {
		if m.drop {
			continue
		}
		if kept > 0 {
			out = append(out, body[members[i-1].end:m.start]...)
		}
		out = append(out, body[m.start:m.end]...)
		kept++
	}
	out = append(out, body[members[len(members)-1].end:]...)
	return out, token, true, nil
}
