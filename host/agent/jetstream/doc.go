// Package jetstream is the scale-out agent of relay-host: events go to a NATS
// JetStream stream that any number of agent workers share with durable,
// at-least-once delivery, and the workers' actions come back as NATS
// requests. docs/agents.md, "Scale-out: the JetStream agent", is the
// operator's and worker author's guide; this package is the library the
// host and the CLI wire together:
//
//   - [StartEmbedded] runs an in-process nats-server with JetStream on
//     loopback (token auth, file storage under the data dir) for a
//     single-machine setup; [Connect] dials it, or an existing cluster.
//   - [EnsureStream] creates the RELAY_EVENTS stream, or checks an existing
//     one covers this gateway.
//   - [Publisher] publishes each event to its subject with its event id as
//     Nats-Msg-Id and waits for the PubAck: the host acks a buffered forward
//     to the connector only once every event of it has one.
//   - [ServeActions] answers workers' requests on the actions and reply
//     subjects through a [Caller] (the agent API core); [WithRecall] reads
//     an event the Caller forgot back from the stream ([EventAt]), and
//     [RecentEvents] re-learns the stream's recent events at start.
//   - [Agent] is the host's agent: Deliver publishes an event and returns
//     once it has its PubAck.
//
// Subpackage echoworker is a complete worker (the core of
// examples/agents/jetstream-echo); it depends only on nats.go.
package jetstream
