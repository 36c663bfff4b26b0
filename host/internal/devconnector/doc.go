// Package devconnector is an in-process relay connector on loopback: the
// connector's side of the relay link, spoken the way the real connector
// speaks it (docs/protocol.md). `relay-host dev` runs it behind its
// platform edge (host/edge), the load tool borrows its frame helpers, and
// the test connector of package relaytest is built on it.
//
// A Server serves the WebSocket at RelayPath (an upgrade on any other path
// is refused with 400), verifies the upgrade bearer and refuses a bad one by
// accepting and closing 4401 "unauthorized", answers each hello with a
// descriptor (DefaultDescriptor: realistic Discord and Twilio profiles, the
// full op set), answers outbound requests (with Options.Answers, as Answer
// carries each op out: message and thread ids, chat info, failures for
// malformed actions), acks going_idle, and keeps a durable buffer that it
// replays on every handshake and trims only on inbound_ack. Once it acked
// going_idle it calls the gateway's wake URL (SetWake) when a delivery is
// buffered, until the next handshake. It hosts the media plane: POST
// /relay/media uploads and GET /relay/media/{id} downloads, both for the
// upgrade-token bearer only, in a store bounded by MediaStoreFiles and
// MediaStoreBytes (media.go). Extra HTTP routes share the listener
// (HandleFunc), which is how the dev mode serves its platform webhooks next
// to RelayPath.
//
// It keeps no history: what it receives is reported to Options.OnFrame and
// Hooks as it arrives, and only the buffer, the connection count and which
// connections completed a handshake are kept. Hooks also let a test
// connector misbehave at the points where a real connector can go wrong;
// dev mode uses none of them.
package devconnector
