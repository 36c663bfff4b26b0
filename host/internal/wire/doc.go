// Package wire is the frame codec of the relay link, the gateway's side of
// it: newline-delimited JSON frames carried in WebSocket messages
// (docs/protocol.md, Framing and Frames).
//
//   - [Splitter] reassembles frames from WebSocket messages with a carry
//     buffer and skips lines over the frame limit;
//   - [DecodeFrame] decodes every connector→gateway frame leniently, the way
//     the reference gateway reads them, in one validating pass (scan.go)
//     with encoding/json as the slow path for anything whose reading is not
//     plain; fuzz targets check that both paths always agree;
//   - the Encode* functions write every gateway→connector frame;
//   - [Descriptor] and [OutboundResult] are the two payloads the transport's
//     callers see; package relay re-exports them under the same names.
//
// The package is internal: the transport (host/relay), its test connector
// (host/relay/relaytest), the dev connector and the load tool share it, and
// nothing outside relay-host depends on its shape.
package wire
