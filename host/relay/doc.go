// Package relay is relay-host's end of the relay link: the WebSocket
// transport that dials out to the connector and speaks the newline-delimited
// JSON frame protocol of wire-contract.md.
//
// The package has three layers:
//
//   - pure helpers: [DialURL] (§1.2), the upgrade token ([MakeToken],
//     [MakeUpgradeToken], [VerifyToken], §3.1) and the reconnect ladder
//     ([BackoffDelay], [Jitter], §4.2);
//   - the frame codec: a carry-buffer line [Splitter], [DecodeFrame] for every
//     connector→gateway frame and the Encode* functions for every
//     gateway→connector frame (§1.5, §2);
//   - the [Client]: dial with a fresh bearer, one hello per identity, the
//     reader, outbound request/response correlation, keepalive, 4401
//     handling, reconnect with backoff, going_idle and a draining Close.
//
// # Using the Client
//
// The host builds a Client with [New], runs [Client.Run] in its own goroutine
// and waits for [Client.WaitReady]. Handler methods are called from the read
// goroutine and must hand work off without blocking (§1.6). A buffered
// delivery (a non-empty bufferId) is settled by the host calling
// [Client.AckInbound] once the work is durably handed off or deliberately
// dropped; the transport never acks a decodable delivery on its own.
//
// A clean shutdown is, in order:
//
//  1. [Client.GoIdle] with a short deadline (about 2 s): the connector flips
//     this instance to buffered-only delivery; the reader keeps serving, so
//     anything that lands in the flip window still arrives live.
//  2. Let in-flight work finish and ack what was handed off.
//  3. [Client.Close] with the remaining budget: it fails new outbound calls
//     fast, waits for in-flight outbound requests (bounded by its context),
//     closes the socket with 1000, fails what is left with
//     "relay send failed: relay transport closed" (ambiguous), and waits
//     for Run to return nil.
//
// Cancelling Run's context also stops the client, without the drain.
package relay
