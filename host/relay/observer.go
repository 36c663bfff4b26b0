package relay

// State is the connection state the Client reports to its Observer and logs.
type State int

// Connection states.
const (
	// StateDisconnected means no socket: before the first dial, between
	// dials, and after Run returned.
	StateDisconnected State = iota
	// StateConnecting means a dial or handshake is in progress.
	StateConnecting
	// StateConnected means the upgrade succeeded and the first descriptor of
	// this connection arrived (the handshake is done).
	StateConnected
	// StateDormant means the link went dormant (Config.DormantAfter): the
	// connector acknowledged going_idle, the socket is closed, and nothing
	// is dialed until a wake.
	StateDormant
)

// String returns the state's name.
func (s State) String() string {
	switch s {
	case StateDisconnected:
		return "disconnected"
	case StateConnecting:
		return "connecting"
	case StateConnected:
		return "connected"
	case StateDormant:
		return "dormant"
	}
	return "unknown"
}

// Observer receives hooks for metrics. Methods are called from the Client's
// goroutines (Run, the reader, writers); they must be safe for concurrent
// use and must not block.
type Observer interface {
	// State reports a connection state change.
	State(s State)
	// FrameIn counts one decoded incoming frame by type, once it has been
	// handled; types the gateway does not handle are reported as "unknown"
	// so label cardinality stays bounded.
	FrameIn(typ string)
	// FrameOut counts one frame written, by type.
	FrameOut(typ string)
	// Reconnect counts one re-dial (every dial after the first).
	Reconnect()
	// BadFrame counts one skipped frame by reason, one of a small fixed set
	// safe as a metric label: malformed_json, invalid_utf8, not_object,
	// oversize, bad_descriptor, bad_inbound, bad_passthrough,
	// bad_outbound_result.
	BadFrame(reason string)
}

// nopObserver is used when Config.Observer is nil.
type nopObserver struct{}

func (nopObserver) State(State)     {}
func (nopObserver) FrameIn(string)  {}
func (nopObserver) FrameOut(string) {}
func (nopObserver) Reconnect()      {}
func (nopObserver) BadFrame(string) {}
