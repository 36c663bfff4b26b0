// Package loadtest measures relay-host the way its performance targets
// (docs/performance.md) are stated:
// a purpose-built connector on loopback pushes buffered passthrough forwards
// (Discord goldens) at a real `relay-host run` child with its bundled
// plugins and the echo agent, and times each forward from its write to the
// inbound_ack that settles it; the same connector measures a raw baseline
// peer (the transport alone, acking each forward once decoded) in the same
// run. Memory comes from /proc. `relay-host bench` is its command line.
package loadtest
