// Package agentapi is the agent's side of relay-host: the actions an agent
// sends (messages, edits, typing, prompts with buttons, reactions, files,
// replies long after the event) and the signals relay-host sends for it
// while it works.
//
// Service is the transport-agnostic core: Call validates an action,
// enriches it with what relay-host remembers of its chat, gates it on what
// the destination's descriptor advertises, splits text that is too long,
// sends it through the connector link and answers the connector's result.
// NewHandler is its HTTP front end (the agent API of docs/agents.md); any
// other front end answers through Call too, so every transport has exactly
// the same semantics. Around, Admit, Remember and Reply are the hooks the
// host calls around each delivery.
package agentapi
