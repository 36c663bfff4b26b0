// Package host is relay-host's runtime: it receives what the connector
// pushes down the link (package relay), runs each passthrough forward
// through the plugin for its platform (package plugins), hands the resulting
// events to the agent (package agent), acknowledges buffered deliveries once
// they are handed off, deduplicates replays, and sends the agent's replies
// back as outbound frames (a token-less follow_up for interaction events, a
// send for chat events).
//
// Everything it holds is bounded (admission.go: deliveries running and
// parked, per platform, in bytes; agent calls; replies awaiting results;
// the replay ledger): when the bounds are full the reader waits and the
// connector is held back, and a platform that would hold up the others, or a
// host stuck on something only the reader can deliver, has its new forwards
// fail un-acked instead (docs/operating.md, Limits and isolation).
package host
