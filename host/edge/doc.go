// Package edge is the platform-facing HTTP edge of the dev connector: it
// plays the part the real connector plays at its public edge, on the same
// listener as the in-process connector (host/internal/devconnector).
//
// For Discord (POST /interactions/discord[/{botId}]) it verifies the Ed25519
// signature when a public key is configured, answers the interaction the way
// the platform needs within its 3-second budget (PONG, a deferred response,
// a deferred update, empty autocomplete choices), removes the top-level
// interaction token from the body, keeps the token in memory under the
// session key the Discord plugin will give the interaction's event (derived
// here from the few fields it is made of, session.go: a host package never
// imports a bundled plugin), and forwards the stripped request as a
// passthrough_forward. For Twilio (POST /twilio[/{botId}]) it answers an
// empty TwiML <Response/> and forwards the form as it came.
//
// Every forward goes through the connector's durable buffer
// (devconnector.Server.Enqueue): the buffer pushes it at once, with a
// bufferId, when the host is connected, and replays it on every later
// handshake until the host acknowledges it. So a forward is never lost while
// the host is away, the host settles every forward the same way, and a
// restart costs no interactions (docs/protocol.md, Buffered delivery).
//
// The edge answers the host's outbound requests as the connector would: a
// follow_up whose session key matches a vaulted interaction token succeeds,
// any other follow_up fails with "no interaction capability for this
// session"; every other op is carried out by the dev connector
// (devconnector.Server.Answer: "dev-msg-<n>" message ids, thread ids, chat
// info, failures for malformed actions and ops the platform's descriptor
// does not list). It also serves the connector's media plane (uploads and
// downloads under /relay/media, for the upgrade-token bearer only).
// Everything it does is reported as an Event (actions.go describes the
// actions and media requests), so `relay-host dev` can print the whole
// story. Tokens never appear in an event, a log line or an error: only a
// short fingerprint does.
package edge
