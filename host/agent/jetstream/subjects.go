package jetstream

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// Names of the stream and subjects, as docs/agents.md ("Scale-out: the
// JetStream agent") gives them to
// worker authors. They are a contract: workers in any language hard-code them.
const (
	// StreamName is the one stream every gateway's events go to.
	StreamName = "RELAY_EVENTS"
	// StreamSubjects is the subject filter RELAY_EVENTS is created with:
	// every gateway's events, so several gateways can share one stream on a
	// cluster.
	StreamSubjects = "relay.v1.events.>"
	// ConsumerName is the durable pull consumer the workers share; the host
	// reads its lag from it and never creates it.
	ConsumerName = "agents"

	eventsPrefix  = "relay.v1.events."
	actionsPrefix = "relay.v1.actions."
	replyPrefix   = "relay.v1.reply."
)

// MaxSubjectTokenLen caps one token made by [SubjectToken]. Gateway ids and
// platform names are short words in practice ("gw-myhost", "discord"); the
// cap only keeps a hostile or accidental long id from making subjects that
// crowd the server's protocol line limit (4 KiB by default, shared with the
// reply subject and the headers' size). A longer input is cut and ends in a
// hash of the whole input, so two long ids stay distinct.
const MaxSubjectTokenLen = 128

// subjectHashLen is how many hex digits of the input's SHA-256 end a cut
// token: 64 bits, so distinct long ids do not collide by accident.
const subjectHashLen = 16

// SubjectToken turns s into one NATS subject token: every character outside
// [A-Za-z0-9_-] (a dot, a wildcard, a space, any non-ASCII letter, each byte
// of invalid UTF-8) becomes '_'; an empty s becomes "_"; a result longer than
// MaxSubjectTokenLen is cut and ends in '-' and a hash of s. It is
// idempotent: a token it made comes back unchanged.
func SubjectToken(s string) string {
	if s == "" {
		return "_"
	}
	clean := true
	for _, r := range s {
		if !tokenRune(r) {
			clean = false
			break
		}
	}
	if clean && len(s) <= MaxSubjectTokenLen {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if tokenRune(r) {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	out := b.String()
	if len(out) <= MaxSubjectTokenLen {
		return out
	}
	sum := sha256.Sum256([]byte(s))
	return out[:MaxSubjectTokenLen-subjectHashLen-1] + "-" + hex.EncodeToString(sum[:])[:subjectHashLen]
}

func tokenRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-'
}

// EventSubject is the subject an event of platform for gatewayID is
// published to: relay.v1.events.<gateway_id>.<platform>.
func EventSubject(gatewayID, platform string) string {
	return eventsPrefix + SubjectToken(gatewayID) + "." + SubjectToken(platform)
}

// GatewayEventsFilter matches every event subject of gatewayID:
// relay.v1.events.<gateway_id>.* (the filter a worker's consumer uses, with
// ">" in place of "*").
func GatewayEventsFilter(gatewayID string) string {
	return eventsPrefix + SubjectToken(gatewayID) + ".*"
}

// ActionsSubject is where the host answers a worker's actions (the
// semantics of POST /v1/actions): relay.v1.actions.<gateway_id>.
func ActionsSubject(gatewayID string) string {
	return actionsPrefix + SubjectToken(gatewayID)
}

// ReplySubject is where the host answers a worker's replies (the semantics
// of POST /v1/reply): relay.v1.reply.<gateway_id>.
func ReplySubject(gatewayID string) string {
	return replyPrefix + SubjectToken(gatewayID)
}
