package edge

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Event is one thing the edge did, reported to Config.OnEvent. The concrete
// types are Received, Refused, Answered, Forwarded, Buffered, Acked,
// HostConnected, HostIdle, FollowUp, Sent, Outbound and Media. String gives
// a one-line description for a terminal; no event ever carries a token.
type Event interface {
	fmt.Stringer
	isEvent()
}

// Received is a platform request the edge accepted (its signature, when
// required, checked out and its body is usable). It is followed by Answered.
type Received struct {
	// Platform is "discord" or "twilio".
	Platform string
	// BotID is the identity the request was addressed to.
	BotID string
	// Path is the request path.
	Path string
	// Type is the Discord interaction type (1–5); 0 for Twilio.
	Type int
	// ID is the platform's id for the request: the Discord interaction id,
	// or the Twilio MessageSid (CallSid for a call); "" when there is none.
	ID string
	// Bytes is the body size as received.
	Bytes int
	// Signed is true when an Ed25519 signature was checked and valid.
	Signed bool
}

// Refused is a request the edge turned away without forwarding anything.
type Refused struct {
	// Platform is "discord" or "twilio".
	Platform string
	// Path is the request path.
	Path string
	// Status is the HTTP status answered (401, 400, 413).
	Status int
	// Reason is the one-line reason sent in the response body.
	Reason string
}

// Answered is the edge's response to an accepted platform request: what the
// platform sees within its deadline, before the host has done anything.
type Answered struct {
	// Platform is "discord" or "twilio".
	Platform string
	// ID is the request's id, as in Received.
	ID string
	// Status is the HTTP status (200).
	Status int
	// Body is the response body, e.g. {"type":5}.
	Body string
	// Meaning names the response, e.g. "deferred channel message".
	Meaning string
}

// Delivery describes one forward handed to the connector's buffer; it is
// the content of Forwarded and Buffered.
type Delivery struct {
	// Platform, BotID and Path are the forward's.
	Platform, BotID, Path string
	// ID is the request's id, as in Received.
	ID string
	// Profile is the forward's profile ("" for the default).
	Profile string
	// BufferID is the id the forward carries until the host acks it.
	BufferID string
	// Session is the session key the interaction token was vaulted under;
	// "" when nothing was vaulted.
	Session string
	// TokenID is a fingerprint of the vaulted token (never the token):
	// "sha256:" and the first 8 hex digits of its SHA-256.
	TokenID string
	// NotVaulted says why a Discord interaction's token was not vaulted
	// ("" when it was, and for other platforms).
	NotVaulted string
}

func (d Delivery) vaultText() string {
	switch {
	case d.Session != "":
		return fmt.Sprintf("token %s vaulted for %s", d.TokenID, d.Session)
	case d.NotVaulted != "":
		return "no token vaulted: " + d.NotVaulted
	}
	return ""
}

// Forwarded is a forward pushed to the connected host at once.
type Forwarded struct{ Delivery }

// Buffered is a forward kept in the connector's buffer because no host is
// connected (or it is going idle); it is replayed when the host connects.
type Buffered struct{ Delivery }

// Acked is an inbound_ack from the host: the forward with BufferID was
// handed off (or deliberately dropped) and leaves the buffer.
type Acked struct {
	// BufferID is the acknowledged forward.
	BufferID string
	// Repeat is true when this bufferId had been acked before (the host
	// acks a replay of a delivery it already settled, without re-running it).
	Repeat bool
}

// HostConnected is a hello from the host on connection number Conn (one
// per fronted identity); the connector answers it with a descriptor.
type HostConnected struct {
	// Conn is the 1-based number of the connection.
	Conn int
	// Platform and BotID are the identity the hello announced.
	Platform, BotID string
	// First is true for the first hello of the connection.
	First bool
	// Replaying lists the buffered forwards the connector replays on this
	// connection; it is set on the first hello of a connection only.
	Replaying []string
}

// HostIdle is a going_idle from the host: from now on forwards are
// buffered until it connects again.
type HostIdle struct {
	// Conn is the 1-based number of the connection.
	Conn int
}

// FollowUp is an outbound follow_up from the host and how the edge
// answered it.
type FollowUp struct {
	// Session is the action's session_key.
	Session string
	// Kind is the action's kind, e.g. "discord.interaction_token".
	Kind string
	// Content is the reply text.
	Content string
	// Matched is true when a vaulted interaction token was found for
	// Session; the follow-up then succeeded.
	Matched bool
	// Repeat is true when that interaction had been followed up before
	// (a token serves every follow-up within its lifetime).
	Repeat bool
	// InteractionID is the matched interaction's id.
	InteractionID string
	// TokenID is the matched token's fingerprint.
	TokenID string
	// MessageID is the message id answered on success.
	MessageID string
	// Error is the error answered on failure.
	Error string
}

// Sent is an outbound send from the host and how the connector answered it.
type Sent struct {
	// ChatID is the target chat.
	ChatID string
	// Content is the text.
	Content string
	// MessageID is the message id answered ("" on failure).
	MessageID string
	// Error is the failure answered ("" on success).
	Error string
}

func (Received) isEvent()      {}
func (Refused) isEvent()       {}
func (Answered) isEvent()      {}
func (Forwarded) isEvent()     {}
func (Buffered) isEvent()      {}
func (Acked) isEvent()         {}
func (HostConnected) isEvent() {}
func (HostIdle) isEvent()      {}
func (FollowUp) isEvent()      {}
func (Sent) isEvent()          {}
func (Outbound) isEvent()      {}
func (Media) isEvent()         {}

// String describes the request on one line.
func (r Received) String() string {
	sig := "unsigned"
	if r.Signed {
		sig = "signature verified"
	}
	switch r.Platform {
	case PlatformDiscord:
		return fmt.Sprintf("discord %s %s at %s (%d bytes, %s)", InteractionTypeName(r.Type), orNone(r.ID), r.Path, r.Bytes, sig)
	case PlatformTwilio:
		return fmt.Sprintf("twilio webhook %s at %s (%d bytes)", orNone(r.ID), r.Path, r.Bytes)
	}
	return fmt.Sprintf("%s request at %s (%d bytes)", r.Platform, r.Path, r.Bytes)
}

// String describes the refusal on one line.
func (r Refused) String() string {
	return fmt.Sprintf("%d %s (%s at %s): nothing forwarded", r.Status, r.Reason, r.Platform, r.Path)
}

// String describes the answer on one line.
func (a Answered) String() string {
	return fmt.Sprintf("%d %s (%s)", a.Status, a.Body, a.Meaning)
}

// String describes the forward on one line.
func (f Forwarded) String() string {
	s := f.BufferID + " pushed to the host"
	if v := f.vaultText(); v != "" {
		s += "; " + v
	}
	return s
}

// String describes the buffered forward on one line.
func (b Buffered) String() string {
	s := b.BufferID + " buffered: no host connected, replayed when it connects"
	if v := b.vaultText(); v != "" {
		s += "; " + v
	}
	return s
}

// String describes the ack on one line.
func (a Acked) String() string {
	if a.Repeat {
		return a.BufferID + " acked again (a replay of a delivery the host had already settled)"
	}
	return a.BufferID + " acked by the host: handed off, removed from the buffer"
}

// String describes the hello on one line.
func (h HostConnected) String() string {
	if !h.First {
		return fmt.Sprintf("host also fronts %s:%s (hello on link %d)", h.Platform, h.BotID, h.Conn)
	}
	s := fmt.Sprintf("host connected (link %d): hello %s:%s", h.Conn, h.Platform, h.BotID)
	if n := len(h.Replaying); n > 0 {
		s += fmt.Sprintf("; replaying %d buffered forward%s: %s", n, plural(n), strings.Join(h.Replaying, ", "))
	}
	return s
}

// String describes the going_idle on one line.
func (h HostIdle) String() string {
	return fmt.Sprintf("host going idle (link %d): new forwards are buffered until it connects again", h.Conn)
}

// String describes the follow-up and its answer on one line.
func (f FollowUp) String() string {
	if !f.Matched {
		return fmt.Sprintf("for %s matched no interaction: answered %q: %s", f.Session, f.Error, OneLine(f.Content))
	}
	again := ""
	if f.Repeat {
		again = " (again)"
	}
	return fmt.Sprintf("for %s matched interaction %s%s: %s", f.Session, f.InteractionID, again, lengthNote(f.Content))
}

// String describes the send on one line.
func (s Sent) String() string {
	if s.Error != "" {
		return fmt.Sprintf("send to chat %s failed: %s", s.ChatID, s.Error)
	}
	return fmt.Sprintf("send to chat %s answered %s: %s", s.ChatID, s.MessageID, lengthNote(s.Content))
}

// InteractionTypeName names a Discord interaction type.
func InteractionTypeName(t int) string {
	switch t {
	case TypePing:
		return "PING"
	case TypeApplicationCommand:
		return "APPLICATION_COMMAND"
	case TypeMessageComponent:
		return "MESSAGE_COMPONENT"
	case TypeAutocomplete:
		return "APPLICATION_COMMAND_AUTOCOMPLETE"
	case TypeModalSubmit:
		return "MODAL_SUBMIT"
	}
	return fmt.Sprintf("type %d", t)
}

// maxLineRunes is how much of a text OneLine keeps: enough for any demo
// reply, short enough that one event stays one terminal line or two.
const maxLineRunes = 160

// OneLine renders s on one line for a terminal: line breaks become "⏎" and
// anything past maxLineRunes runes is cut with "…".
func OneLine(s string) string {
	s = strings.NewReplacer("\r\n", "⏎", "\n", "⏎", "\r", "⏎").Replace(s)
	if utf8.RuneCountInString(s) <= maxLineRunes {
		return s
	}
	r := []rune(s)
	return string(r[:maxLineRunes]) + "…"
}

func orNone(s string) string {
	if s == "" {
		return "(no id)"
	}
	return s
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
