// Package host is relay-host's runtime: it receives what the connector
// pushes down the link (package relay), runs each passthrough forward
// through the plugin for its platform (package plugins), hands the resulting
// events to the agent (package agent), acknowledges buffered deliveries once
// they are handed off, deduplicates replays, and sends the agent's replies
// back as outbound frames (a token-less follow_up for interaction events, a
// send for chat events).
package host
