// Package control is relay-host's client of the connector's control plane:
// the plain HTTP endpoints beside the /relay WebSocket. It enrolls a
// self-hosted gateway (POST /relay/enroll), self-provisions a hosted one
// (POST /relay/provision, once per fronted platform), declares relevance
// policies (POST /relay/policy), and holds what those produce: the
// credentials file that enroll writes and run reads, the caller identity
// that proves the tenant (a token file or an OAuth2 client-credentials
// grant), and the validated command manifest sent on the discord hello.
//
// Everything here returns typed errors carrying the facts (endpoint, status,
// path, problem); cmd/relay-host turns them into advice. No error, log line
// or String form ever carries a connector secret, a caller identity token,
// a client secret or an enrollment token. The wire forms are described in
// docs/protocol.md (Control plane) and docs/operating.md (Enrolling).
package control
