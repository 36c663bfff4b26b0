package pluginapi

import "fmt"

// Disposition says what a plugin did with a forward.
type Disposition string

const (
	// Handled means the forward was understood; its events (possibly none)
	// go to the agent.
	Handled Disposition = "handled"
	// Dropped means the forward was understood and deliberately ignored
	// (for example a Discord PING, or a platform not converted yet). The
	// host settles it: a buffered forward is acknowledged.
	Dropped Disposition = "dropped"
	// Rejected means the forward is not usable input (bad JSON, wrong shape,
	// too large, a plugin panic). The host settles it like a drop and logs
	// the reason.
	Rejected Disposition = "rejected"
)

// Valid reports whether d is one of the three dispositions.
func (d Disposition) Valid() bool {
	return d == Handled || d == Dropped || d == Rejected
}

// Result is a plugin's answer to one forward.
type Result struct {
	// Disposition says what happened.
	Disposition Disposition `json:"disposition"`
	// Reason explains a drop or a rejection in one line; it must never
	// contain a credential or a message body.
	Reason string `json:"reason,omitempty"`
	// Events are the messages for the agent (only with Handled).
	Events []MessageEvent `json:"events"`
}

// Handle returns a Handled result carrying events.
func Handle(events ...MessageEvent) Result {
	if events == nil {
		events = []MessageEvent{}
	}
	return Result{Disposition: Handled, Events: events}
}

// Drop returns a Dropped result with a reason.
func Drop(reason string) Result {
	return Result{Disposition: Dropped, Reason: reason, Events: []MessageEvent{}}
}

// Reject returns a Rejected result with a reason.
func Reject(reason string) Result {
	return Result{Disposition: Rejected, Reason: reason, Events: []MessageEvent{}}
}

// Rejectf returns a Rejected result with a formatted reason.
func Rejectf(format string, args ...any) Result {
	return Reject(fmt.Sprintf(format, args...))
}

// Dropf returns a Dropped result with a formatted reason.
func Dropf(format string, args ...any) Result {
	return Drop(fmt.Sprintf(format, args...))
}
